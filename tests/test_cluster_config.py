"""cluster.yaml (Ray cluster launcher, AWS) and deploy/kuberay-rayjob.yaml (KubeRay RayJob) are
well-formed, ask for what the factory needs, and name only files that exist."""

import copy
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

import jsonschema
import pytest
import ray
import yaml
from ray.autoscaler._private.util import prepare_config, validate_config

REPO = Path(__file__).parent.parent
RAY_IMAGE = re.compile(r"^rayproject/ray:(?P<version>[\d.]+)-py(?P<python>\d+)(?P<platform>-\S+)?$")


@pytest.fixture(scope="module")
def cluster() -> dict:
    return yaml.safe_load((REPO / "cluster.yaml").read_text())


@pytest.fixture(scope="module")
def manifests() -> dict[str, dict]:
    documents = yaml.safe_load_all((REPO / "deploy" / "kuberay-rayjob.yaml").read_text())
    return {document["kind"]: document for document in documents}


@pytest.fixture(scope="module")
def pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def check_image(image: str, *, gpu: bool) -> None:
    """A Ray image of the installed Ray version and the project's Python; CUDA where asked."""
    found = RAY_IMAGE.match(image)
    assert found, f"{image}: not a rayproject/ray:<version>-py<python>[-platform] image"
    assert found["version"] == ray.__version__, f"{image}: Ray {ray.__version__} is installed"
    assert found["python"] == f"{sys.version_info.major}{sys.version_info.minor}", image
    is_cuda = found["platform"] is not None and re.fullmatch(r"-(gpu|cu\d+)", found["platform"])
    assert bool(is_cuda) == gpu, f"{image}: {'needs' if gpu else 'needs no'} CUDA"


def test_cluster_yaml_passes_the_launchers_own_checks(cluster):
    # What `ray up` does before it touches AWS: merge the provider's defaults, then check the
    # result against ray/autoscaler/ray-schema.json.
    prepared = prepare_config(copy.deepcopy(cluster))
    validate_config(prepared)
    assert cluster["cluster_name"] and cluster["provider"]["type"] == "aws"
    assert cluster["provider"]["region"]
    broken = copy.deepcopy(cluster)
    broken["setup_comands"] = broken.pop("setup_commands")
    with pytest.raises(jsonschema.ValidationError, match="setup_comands"):
        validate_config(prepare_config(broken))


def test_cluster_yaml_has_a_cpu_head_and_autoscaling_gpu_workers(cluster):
    node_types = cluster["available_node_types"]
    head = node_types[cluster["head_node_type"]]
    for name, node_type in node_types.items():
        for key in ("resources", "node_config", "min_workers", "max_workers"):
            assert key in node_type, f"node type {name!r} lacks {key!r}"
        assert node_type["node_config"]["InstanceType"]
        assert 0 <= node_type["min_workers"] <= node_type["max_workers"]
    assert head["resources"].get("GPU", 0) == 0 and head["max_workers"] == 0
    gpu_workers = [node_type for name, node_type in node_types.items()
                   if node_type is not head and node_type["resources"].get("GPU", 0) >= 1]
    assert gpu_workers and all(t["max_workers"] <= cluster["max_workers"] for t in gpu_workers)
    assert any(t["max_workers"] > t["min_workers"] for t in gpu_workers), "no room to scale"
    check_image(cluster["docker"]["head_image"], gpu=False)
    check_image(cluster["docker"]["worker_image"], gpu=True)


def test_cluster_yaml_installs_this_package_with_vllm_and_turns_on_token_auth(cluster, pyproject):
    assert "vllm" in pyproject["project"]["optional-dependencies"]
    mounted = cluster["file_mounts"]
    [package_dir] = [remote for remote, local in mounted.items() if local == "."]
    package = package_dir.replace("~", "$HOME", 1) + "[vllm]"
    assert any(re.search(r"\bpip install\b", command) and package in command
               for command in cluster["setup_commands"]), f"no setup command installs {package}"
    for filter_file in cluster["rsync_filter"]:
        assert (REPO / filter_file).is_file(), filter_file
    assert "--env RAY_AUTH_MODE=token" in cluster["docker"]["run_options"]
    assert mounted["~/.ray/auth_token"] == "~/.ray/auth_token"


def test_rayjob_has_the_keys_kuberay_requires(manifests):
    job = manifests["RayJob"]
    assert job["apiVersion"] == "ray.io/v1" and job["metadata"]["name"]
    spec = job["spec"]
    assert spec["entrypoint"] and spec["shutdownAfterJobFinishes"] is True
    cluster = spec["rayClusterSpec"]
    assert cluster["rayVersion"] == ray.__version__
    assert cluster["authOptions"] == {"mode": "token"}
    head = cluster["headGroupSpec"]
    assert "rayStartParams" in head
    [head_container] = head["template"]["spec"]["containers"]
    check_image(head_container["image"], gpu=False)
    assert "nvidia.com/gpu" not in head_container["resources"]["limits"]
    gpu_groups = []
    for group in cluster["workerGroupSpecs"]:
        assert group["groupName"] and "rayStartParams" in group
        assert 0 <= group["minReplicas"] <= group["replicas"] <= group["maxReplicas"]
        for container in group["template"]["spec"]["containers"]:
            if int(container["resources"]["limits"].get("nvidia.com/gpu", 0)) >= 1:
                check_image(container["image"], gpu=True)
                gpu_groups.append(group)
    assert gpu_groups, "no worker group asks for nvidia.com/gpu"


def test_rayjob_volumes_and_runtime_env_fit_together(manifests):
    spec = manifests["RayJob"]["spec"]
    runtime_env = yaml.safe_load(spec["runtimeEnvYAML"])
    assert runtime_env["working_dir"].endswith(".zip")
    assert any(re.match(r"reid-factory\[vllm\] @ https://\S+\.zip$", requirement)
               for requirement in runtime_env["pip"])
    claim = manifests["PersistentVolumeClaim"]
    assert "ReadWriteMany" in claim["spec"]["accessModes"]
    cluster = spec["rayClusterSpec"]
    pods = [cluster["headGroupSpec"]["template"]["spec"]] + [
        group["template"]["spec"] for group in cluster["workerGroupSpecs"]]
    for pod in pods:
        volumes = {volume["name"]: volume for volume in pod["volumes"]}
        for container in pod["containers"]:
            for mount in container["volumeMounts"]:
                volume = volumes[mount["name"]]
                assert volume["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]


def test_the_rayjob_entrypoint_names_files_that_exist_and_flags_it_takes(manifests):
    python, script, *args = shlex.split(manifests["RayJob"]["spec"]["entrypoint"])
    assert python == "python"
    named = [script, *(arg for arg in args if arg.endswith((".py", ".yaml", ".yml")))]
    missing = [path for path in named if not (REPO / path).is_file()]
    assert not missing, f"the RayJob entrypoint names files missing from the repository: {missing}"
    help_text = subprocess.run([sys.executable, script, "--help"], cwd=REPO, capture_output=True,
                               text=True, check=True).stdout
    for flag in (arg for arg in args if arg.startswith("--")):
        assert flag in help_text, f"{script} does not take {flag}"


def test_readme_cluster_section_names_files_that_exist():
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Running on a cluster", 1)[1].split("\n## ", 1)[0]
    named = set(re.findall(r"(?:jobs|deploy)/[\w/.-]+\.(?:py|yaml)|cluster\.yaml", section))
    assert "cluster.yaml" in named and "deploy/kuberay-rayjob.yaml" in named
    missing = sorted(path for path in named if not (REPO / path).is_file())
    assert not missing, f"README's cluster section names missing files: {missing}"
