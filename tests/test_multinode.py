"""A real multi-node Ray cluster (issue 17, part 4): a head and two worker nodes started with
`ray start` (`tests/ray_nodes.py`), each with its own session folder, CPUs and address, one with
an `accelerator` resource standing for a GPU; the smoke generation job submitted with `ray job
submit`; the worker node running a generator actor killed mid-generation, as a lost machine. The
job, or its re-submission, must end with exactly one committed image per task (`factory audit`'s
checks). The result goes to bench/results/multinode_kill.json.

The head has no CPUs, so every task and actor runs on the worker nodes. The nodes share nothing
but the session's S3 server (`tests/s3_server.py`): every path of the job is in a bucket
(`job_root`: the toy world, its tables, the toy SD, the scorer's run, prompts, tasks, manifests and
images), every node's environment points its S3 clients at the server (the AWS_* variables of
`cluster_env`), and each node has a temporary folder and a `local_copy` cache of its own.
"""

import json
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from ray_nodes import (
    RAY,
    REPO,
    RayNode,
    cluster_env,
    job_info,
    start_head,
    start_node,
    wait_for_job_server,
)

from bench.torture.kills import wait_until
from factory.generate.audit import audit_run
from factory.generate.manifest import committed_task_ids, read_manifest
from factory.methods import METHODS
from factory.storage import ObjectPath, storage_path

METHOD = "diffusion_reid"
GENERATOR_CLASS = METHODS[METHOD].generator.rpartition(":")[2]
WORKERS = {"gpu-node": ("127.0.0.3", {"accelerator": 1}), "cpu-node": ("127.0.0.4", {})}
# Enough tasks and steps, in small blocks, that generation takes a while and commits as it goes;
# one actor per worker node.
JOB_OVERRIDES = ["plan.max_identities=4", "plan.diffusion_reid.images_per_identity=12",
                 "plan.recipe.steps=24", "generate.actors=2", "generate.batch_size=2",
                 "generate.manifest_rows=2"]
RESULT = REPO / "bench" / "results" / "multinode_kill.json"
DONE = ("SUCCEEDED", "FAILED", "STOPPED")


@dataclass
class Cluster:
    address: str  # the head's dashboard, which `ray job submit` and the state API talk to
    env: dict  # a client's: token auth, RAY_ADDRESS the dashboard
    token: str
    nodes: dict[str, RayNode]

    def ray(self, *args: str, timeout: int = 120) -> subprocess.CompletedProcess:
        return subprocess.run([RAY, *args], env=self.env, cwd=REPO, capture_output=True,
                              text=True, timeout=timeout)

    def listed(self, kind: str, *filters: str) -> list[dict]:
        """`ray list <kind>` as rows (none when the state API has nothing to say)."""
        answer = self.ray("list", kind, "--format", "json", "--detail", *filters)
        return json.loads(answer.stdout) if answer.stdout.startswith("[") else []

    def logs(self, submission_id: str) -> str:
        status = job_info(self.address, self.token, submission_id)["status"]
        logs = self.ray("job", "logs", submission_id).stdout
        return f"{submission_id}: {status}\n{logs[-4000:]}"

    def finish(self, submission_id: str, timeout: float = 900) -> str:
        """Wait for the job to end; its final status."""
        status = {}

        def ended() -> bool:
            status["now"] = job_info(self.address, self.token, submission_id)["status"]
            return status["now"] in DONE

        wait_until(ended, timeout, step=2)
        return status["now"]


@pytest.fixture
def job_root(bucket) -> ObjectPath:
    """Where the job reads and writes: a bucket, the one place that every node sees."""
    return storage_path(bucket) / "job"


def node_env(env: dict, folder: Path) -> dict:
    """A node's environment: the cluster's, with a temporary folder and `local_copy` cache of its
    own (its Ray workers inherit them), so nothing passes between nodes on the local disk."""
    (folder / "tmp").mkdir(parents=True)
    return env | {"TMPDIR": str(folder / "tmp"), "FACTORY_LOCAL_COPIES": str(folder / "copies")}


@pytest.fixture
def cluster():
    root = Path(tempfile.mkdtemp(prefix="rf-mn-"))  # short: Ray's socket paths
    env, token = cluster_env(root)
    head, gcs, address = start_head(root / "head", node_env(env, root / "head"), num_cpus=0)
    nodes = {"head": head}
    try:
        wait_for_job_server(address, token, head)
        for name, (node_ip, resources) in WORKERS.items():
            nodes[name] = start_node(name, node_ip, root / name, node_env(env, root / name),
                                     "--address", gcs,
                                     "--resources", json.dumps(resources), num_cpus=2)
        cluster = Cluster(address, env | {"RAY_ADDRESS": address}, token, nodes)
        assert wait_until(lambda: len(cluster.listed("nodes", "--filter", "state=ALIVE")) == 3,
                          120, step=2), [node.log.read_text()[-2000:] for node in nodes.values()]
        yield cluster
    finally:
        outlived = [process for node in reversed(nodes.values()) for process in node.stop()]
        shutil.rmtree(root, ignore_errors=True)
    assert not outlived, f"Ray processes outlived their nodes: {outlived}"


def submit(cluster: Cluster, submission_id: str, job_root: ObjectPath) -> None:
    """The smoke generation job (no filter), as the README submits jobs; returns at once."""
    command = ["job", "submit", "--no-wait", "--submission-id", submission_id,
               "--working-dir", ".", "--", "python", "jobs/generate.py", "--smoke",
               "--out", str(job_root), METHODS[METHOD].toy_config,
               "--stages", "describe", "plan", "generate"]
    for override in JOB_OVERRIDES:
        command += ["--set", override]
    submitted = cluster.ray(*command)
    assert submitted.returncode == 0, submitted.stdout[-3000:] + submitted.stderr[-3000:]


def generating_worker(cluster: Cluster) -> str | None:
    """A worker node running a generator actor now, by name."""
    names = {node["node_id"]: node["node_name"] for node in cluster.listed("nodes")}
    for actor in cluster.listed("actors", "--filter", "state=ALIVE"):
        name = names.get(actor.get("node_id"))
        if GENERATOR_CLASS in actor.get("class_name", "") and name in WORKERS:
            return name
    return None


@pytest.mark.slow
def test_killing_a_worker_node_mid_generation_loses_and_repeats_nothing(cluster, job_root):
    out = job_root / "generation" / METHOD
    started = time.monotonic()
    submit(cluster, "generate-1", job_root)
    victim = {}

    def generating() -> bool:
        committed = committed_task_ids(out).height if (out / "tasks.parquet").exists() else 0
        victim["node"] = generating_worker(cluster) if committed else None
        victim["committed"] = committed
        return victim["node"] is not None or cluster.finish("generate-1", 0) in DONE

    assert wait_until(generating, 600, step=1), "no generator actor committed anything"
    assert victim["node"], cluster.logs("generate-1")
    cluster.nodes[victim["node"]].kill()
    killed_at = time.monotonic()
    assert wait_until(lambda: len(cluster.listed("nodes", "--filter", "state=ALIVE")) == 2, 120,
                      step=2), "Ray did not see the node die"
    status = cluster.finish("generate-1")
    if status != "SUCCEEDED":  # what a lost node may cost: a re-run, which resumes
        submit(cluster, "generate-2", job_root)
        assert cluster.finish("generate-2") == "SUCCEEDED", cluster.logs("generate-2")

    audit = audit_run(out)
    result = {"nodes": len(cluster.nodes), "job_root": str(job_root),
              "killed_node": victim["node"],
              "committed_when_killed": victim["committed"], "nodes_alive_after_kill": 2,
              "status_after_kill": status,
              "resubmitted": status != "SUCCEEDED", "tasks": audit.planned,
              "committed": audit.committed, "image_files": audit.image_files,
              "duplicate_rows": audit.generated + audit.failed - audit.committed,
              "failed_rows": audit.failed, "problems": audit.problems,
              "seconds_to_kill": round(killed_at - started, 1),
              "seconds": round(time.monotonic() - started, 1),
              "host_load_1m": round(os.getloadavg()[0], 1)}  # this machine is shared
    RESULT.write_text(json.dumps(result, indent=2) + "\n")
    assert audit.ok, audit.problems
    assert audit.planned == audit.committed == audit.generated == audit.image_files
    assert result["duplicate_rows"] == 0 and audit.failed == 0
    assert all(path.startswith(f"{out}/images/")
               for path in read_manifest(out).column("path").to_pylist())
