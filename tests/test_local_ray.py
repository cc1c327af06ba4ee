"""A local Ray started by the factory (`factory.local_ray`) listens on 127.0.0.1 only, with
Ray 2.60's token auth: clients with the token are served, clients with another are refused.

The Ray runs in a driver process of its own (the test session has its own Ray), in a private
temporary folder, so that it meets no other Ray of this machine.
"""

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).parent.parent
RAY = str(Path(sys.executable).parent / "ray")
# The driver: starts its Ray as the stages do, runs a task, reports, and stays up until its
# standard input closes.
DRIVER = """
import json, os, sys
import psutil, ray
from factory.local_ray import init_ray
init_ray(num_cpus=1, log_to_driver=False, _temp_dir=sys.argv[1])
ray.get(ray.remote(lambda: None).remote())  # a worker process, listening too
processes = [psutil.Process(), *psutil.Process().children(recursive=True)]
listening = sorted({(c.laddr.ip, c.laddr.port) for p in processes
                    for c in p.net_connections("inet") if c.status == psutil.CONN_LISTEN})
print(json.dumps({"listening": listening, "nodes": [n["NodeManagerAddress"] for n in ray.nodes()],
                  "dashboard": ray._private.worker._global_node.address_info["webui_url"],
                  "gcs": ray._private.worker._global_node.address_info["gcs_address"],
                  "auth_mode": os.environ.get("RAY_AUTH_MODE")}), flush=True)
sys.stdin.read()
"""


@pytest.fixture
def local_ray():
    """What the driver reports, and the environment its clients need."""
    with tempfile.TemporaryDirectory(prefix="rf-lr-") as temp_dir:  # short: socket paths
        env = {key: value for key, value in os.environ.items()
               if key not in ("RAY_ADDRESS", "RAY_AUTH_MODE", "RAY_AUTH_TOKEN")}
        env |= {"FACTORY_RAY_NODE_IP": ""}
        driver = subprocess.Popen([sys.executable, "-c", DRIVER, temp_dir], cwd=REPO, env=env,
                                  text=True, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        try:
            line = driver.stdout.readline()
            assert line, f"the driver exited with {driver.wait()}"
            yield json.loads(line), env | {"RAY_AUTH_MODE": "token"}
        finally:
            driver.stdin.close()
            driver.wait(timeout=60)


def test_local_ray_listens_on_loopback_with_token_auth(local_ray):
    report, env = local_ray
    assert report["nodes"] == ["127.0.0.1"]
    assert report["listening"]
    assert {ip for ip, _ in report["listening"]} <= {"127.0.0.1", "::ffff:127.0.0.1"}, \
        report["listening"]
    assert report["auth_mode"] == "token"  # Ray 2.60's default for a local Ray, not turned off

    # A client with the token (Ray's default file) is served, one with another is turned away:
    # over HTTP (the dashboard's state API) and over gRPC (a driver joining the GCS, which,
    # joining at 127.0.0.1, needs Ray's single-machine switch as the processes the command
    # starts inherit it).
    nodes = [RAY, "list", "nodes", "--format", "json", "--address",
             f"http://{report['dashboard']}"]
    driver = [sys.executable, "-c", f"import ray; ray.init(address={report['gcs']!r}); print("
              "'task on', ray.get(ray.remote(ray.util.get_node_ip_address).remote()))"]
    env |= {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
    wrong = env | {"RAY_AUTH_TOKEN": "not-the-token"}
    listed = run(nodes, env)
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert [node["node_ip"] for node in json.loads(listed.stdout)] == ["127.0.0.1"]
    joined = run(driver, env)
    assert joined.returncode == 0 and "task on 127.0.0.1" in joined.stdout, joined.stderr
    refused = run(nodes, wrong)
    assert refused.returncode != 0
    assert "Invalid authentication token" in refused.stdout + refused.stderr, refused.stderr
    assert turned_away(driver, wrong)


def run(command: list[str], env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(command, env=env, cwd=REPO, capture_output=True, text=True, timeout=120)


def turned_away(command: list[str], env: dict) -> bool:
    """Whether the GCS refuses the driver's token (the driver would retry for a minute: it is
    stopped at the first refusal)."""
    driver = subprocess.Popen(command, env=env, cwd=REPO, stderr=subprocess.PIPE, text=True,
                              stdout=subprocess.DEVNULL)
    try:
        return any("InvalidAuthToken" in line for line in driver.stderr)
    finally:
        driver.kill()
        driver.wait()
