"""Ray nodes of a test's own, started as on a cluster (`ray start --block`): on 127.0.0.1, with
free ports, a private session folder each and token auth; stopped or killed through the
processes they started, never with `ray stop`, which would stop every Ray of this machine.

Ray 2.60's `ray start` turns token auth on when RAY_AUTH_MODE=token but never makes the token
itself: the test makes it and hands it to every node and client through RAY_AUTH_TOKEN_PATH.
Each node runs with `--block` in a session of its own: SIGTERM makes it stop every process it
started, SIGKILL of the session kills it as a lost machine would die.
"""

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import psutil

from bench.torture.kills import kill_session

REPO = Path(__file__).parent.parent
BIN = Path(sys.executable).parent  # the venv: its `python` runs the jobs, its `ray` the CLI
RAY = str(BIN / "ray")
OBJECT_STORE_BYTES = 300 * 2**20
# A head alone listens on 127.0.0.1 only, with Ray's single-machine switch off (as
# factory/local_ray.py starts a local Ray). Such a Ray takes no worker nodes, and Ray turns
# 127.0.0.1 into the machine's routable address otherwise: the nodes of a cluster take loopback
# addresses of their own, as if on machines of their own (Ray then listens on every interface,
# behind the token).
ALONE = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
HEAD_IP = "127.0.0.2"


def free_ports(count: int) -> list[int]:
    with ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]


def cluster_env(root: Path) -> tuple[dict, str]:
    """(the environment of every node and client of a cluster under `root`, its token): this
    process's, so the AWS_* variables that point S3 clients at the test server too."""
    token = secrets.token_hex(32)
    (root / "auth_token").write_text(token)
    env = {key: value for key, value in os.environ.items()
           if key not in ("RAY_ADDRESS", "RAY_AUTH_TOKEN")}
    env |= {"PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "RAY_AUTH_MODE": "token",
            "RAY_AUTH_TOKEN_PATH": str(root / "auth_token"), "HF_HUB_OFFLINE": "1",
            # SIGTERM would first drain the node for 30 s (for Serve); nothing here needs it.
            "RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S": "0"}
    return env, token


@dataclass
class RayNode:
    name: str
    process: subprocess.Popen  # `ray start --block`, in a session of its own
    temp_dir: Path  # its session folder's parent, named on every one of its processes' lines
    log: Path

    def stop(self) -> list[psutil.Process]:
        """SIGTERM (the node stops its processes); returns any that outlived it, killed."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            kill_session(self.process)
        _, alive = psutil.wait_procs(processes_under(self.temp_dir), timeout=30)
        for process in alive:  # ours: their command lines name our private session folder
            process.kill()
        return alive

    def kill(self) -> None:
        """SIGKILL every process of the node's session, as if its machine died."""
        kill_session(self.process)


def start_node(name: str, node_ip: str, temp_dir: Path, env: dict, *options: str,
               num_cpus: int = 1) -> RayNode:
    """`ray start --block` of a head (`options` with --head) or worker (--address) node named
    `name` on `node_ip`, its session folder under `temp_dir`, on free ports."""
    agent, agent_grpc, metrics, runtime_env = free_ports(4)
    temp_dir.mkdir(parents=True, exist_ok=True)
    command = [RAY, "start", "--block", *options, "--node-name", name,
               "--node-ip-address", node_ip,
               "--num-cpus", str(num_cpus), "--object-store-memory", str(OBJECT_STORE_BYTES),
               "--dashboard-agent-listen-port", str(agent),
               "--dashboard-agent-grpc-port", str(agent_grpc),
               "--metrics-export-port", str(metrics), "--runtime-env-agent-port", str(runtime_env),
               "--temp-dir", str(temp_dir), "--disable-usage-stats"]
    log = temp_dir / f"{name}.log"
    with log.open("w") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    return RayNode(name, process, temp_dir, log)


def start_head(temp_dir: Path, env: dict, *, num_cpus: int,
               alone: bool = False) -> tuple[RayNode, str, str]:
    """(the head node, its GCS address, its dashboard's HTTP address, which `ray job submit`
    and the state API talk to): on 127.0.0.1 when `alone` (no worker nodes), else HEAD_IP."""
    gcs, dashboard, client = free_ports(3)
    node_ip = "127.0.0.1" if alone else HEAD_IP
    head = start_node("head", node_ip, temp_dir, env | (ALONE if alone else {}), "--head",
                      "--port", str(gcs), "--dashboard-host", node_ip,
                      "--dashboard-port", str(dashboard), "--ray-client-server-port", str(client),
                      num_cpus=num_cpus)
    return head, f"{node_ip}:{gcs}", f"http://{node_ip}:{dashboard}"


def wait_for_job_server(address: str, token: str, head: RayNode) -> None:
    request = urllib.request.Request(f"{address}/api/jobs/",
                                     headers={"Authorization": f"Bearer {token}"})
    deadline = time.time() + 120
    while time.time() < deadline:
        if head.process.poll() is not None:
            raise RuntimeError(f"ray start exited with {head.process.returncode}:\n"
                               f"{head.log.read_text()}")
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(1)
    raise TimeoutError(f"no job server at {address} after 120 s:\n{head.log.read_text()}")


def job_info(address: str, token: str, submission_id: str) -> dict:
    request = urllib.request.Request(f"{address}/api/jobs/{submission_id}",
                                     headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def processes_under(temp_dir: Path) -> list[psutil.Process]:
    """Processes of a node: every Ray process names its session folder on its command line."""
    found = []
    for process in psutil.process_iter(["cmdline"]):
        if any(str(temp_dir) in part for part in process.info["cmdline"] or ()):
            found.append(process)
    return found
