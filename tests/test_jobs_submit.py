"""The jobs under `ray job submit`, against a real local head with token auth, as on a cluster.

Ray 2.60: `ray start` turns token auth on when RAY_AUTH_MODE=token (or when a token already
exists); it never creates the token itself, so the cluster's token is made first and handed to
every Ray process and client through RAY_AUTH_TOKEN_PATH. The head runs with `--block` in a
process group of its own; SIGTERM makes it stop every process it started.
"""

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

REPO = Path(__file__).parent.parent
BIN = Path(sys.executable).parent  # the venv: its `python` runs the jobs, its `ray` the CLI
RAY = str(BIN / "ray")


@dataclass
class Head:
    address: str  # the dashboard's HTTP address, which `ray job submit` talks to
    env: dict  # the environment a client of this cluster needs (token auth)
    temp_dir: Path  # Ray's session files
    token: str

    def job_info(self, submission_id: str) -> dict:
        request = urllib.request.Request(f"{self.address}/api/jobs/{submission_id}",
                                         headers={"Authorization": f"Bearer {self.token}"})
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.load(response)

    def ray(self, *args: str, env: dict | None = None, timeout: int = 120):
        return subprocess.run([RAY, *args], env=env or self.env, cwd=REPO, capture_output=True,
                              text=True, timeout=timeout)


def free_ports(count: int) -> list[int]:
    with ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]


def wait_for_job_server(address: str, token: str, head: subprocess.Popen, log: Path) -> None:
    request = urllib.request.Request(f"{address}/api/jobs/",
                                     headers={"Authorization": f"Bearer {token}"})
    deadline = time.time() + 120
    while time.time() < deadline:
        if head.poll() is not None:
            raise RuntimeError(f"ray start exited with {head.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(1)
    raise TimeoutError(f"no job server at {address} after 120 s:\n{log.read_text()}")


def processes_under(temp_dir: Path) -> list[psutil.Process]:
    """Processes of this head: every Ray process names its session folder on its command line."""
    found = []
    for process in psutil.process_iter(["cmdline"]):
        if any(str(temp_dir) in part for part in process.info["cmdline"] or ()):
            found.append(process)
    return found


def stop_head(head: subprocess.Popen, temp_dir: Path) -> list[psutil.Process]:
    """SIGTERM to `ray start --block` (it stops its processes); returns any that outlived it."""
    head.send_signal(signal.SIGTERM)
    try:
        head.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(head.pid, signal.SIGKILL)
        head.wait(timeout=30)
    _, alive = psutil.wait_procs(processes_under(temp_dir), timeout=30)
    for process in alive:  # ours: their command lines name our private session folder
        process.kill()
    return alive


@pytest.fixture
def ray_head():
    """A head of our own: 2 CPUs, 127.0.0.1, free ports, token auth, private session folder."""
    # A short folder of its own: Ray's socket paths must fit in 107 bytes, and it must not meet
    # the session of any other Ray on the machine.
    temp_dir = Path(tempfile.mkdtemp(prefix="rf-ray-"))
    token = secrets.token_hex(32)
    (temp_dir / "auth_token").write_text(token)
    env = {key: value for key, value in os.environ.items()
           if key not in ("RAY_ADDRESS", "RAY_AUTH_TOKEN")}
    env |= {"PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "RAY_AUTH_MODE": "token",
            "RAY_AUTH_TOKEN_PATH": str(temp_dir / "auth_token"), "HF_HUB_OFFLINE": "1",
            # SIGTERM would first drain the node for 30 s (for Serve); nothing here needs it.
            "RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S": "0"}
    gcs, dashboard, client, agent, agent_grpc, metrics, runtime_env = free_ports(7)
    command = [RAY, "start", "--head", "--block", "--node-ip-address", "127.0.0.1",
               "--port", str(gcs), "--dashboard-host", "127.0.0.1",
               "--dashboard-port", str(dashboard), "--ray-client-server-port", str(client),
               "--dashboard-agent-listen-port", str(agent),
               "--dashboard-agent-grpc-port", str(agent_grpc),
               "--metrics-export-port", str(metrics), "--runtime-env-agent-port", str(runtime_env),
               "--num-cpus", "2", "--object-store-memory", str(300 * 2**20),
               "--temp-dir", str(temp_dir), "--disable-usage-stats"]
    log = temp_dir / "head.log"
    with log.open("w") as out:
        head = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    address = f"http://127.0.0.1:{dashboard}"
    try:
        wait_for_job_server(address, token, head, log)
        yield Head(address, env, temp_dir, token)
    finally:
        outlived = stop_head(head, temp_dir)
        shutil.rmtree(temp_dir, ignore_errors=True)
    assert not outlived, f"Ray processes outlived their head: {outlived}"


def test_smoke_training_under_ray_job_submit(ray_head, toy_market, tmp_path):
    config = tmp_path / "train.yaml"
    config.write_text(f"images: {toy_market}\nmodel: bot\nprotocol: market1501\n"
                      f"storage_path: {tmp_path / 'runs'}\nname: submitted\n")
    # Token auth is on: a client with the wrong token is turned away, and so is one without
    # RAY_AUTH_MODE=token (the Ray 2.60 client then sends no token at all).
    wrong_token = ray_head.env | {"RAY_AUTH_TOKEN": "not-the-token"}
    no_mode = {key: value for key, value in ray_head.env.items() if key != "RAY_AUTH_MODE"}
    for env, answer in ((wrong_token, "Invalid authentication token"),
                        (no_mode, "Missing authentication token")):
        refused = ray_head.ray("job", "list", "--address", ray_head.address, env=env)
        assert refused.returncode != 0 and answer in refused.stdout + refused.stderr

    # As the README says: from the repository root, the repository as working dir.
    submit = ray_head.ray("job", "submit", "--address", ray_head.address,
                          "--submission-id", "smoke-train", "--working-dir", ".", "--",
                          "python", "jobs/train.py", str(config), "--smoke", "--set", "epochs=1",
                          timeout=600)
    assert submit.returncode == 0, submit.stdout[-4000:] + submit.stderr[-4000:]
    assert ray_head.job_info("smoke-train")["status"] == "SUCCEEDED"

    run = tmp_path / "runs" / "submitted"
    report = run / "report.md"
    assert f"report: {report}" in submit.stdout
    assert "# Training run `submitted`" in report.read_text()
    checkpoints = sorted(p for p in run.glob("checkpoint_*") if p.is_dir())
    assert checkpoints and (checkpoints[-1] / "history.json").is_file()
    assert (run / "curves.png").stat().st_size > 0

    # Jobs import `factory` from the uploaded copy of the repository (first on PYTHONPATH, before
    # the editable install), and the upload leaves out the heavy folders.
    where = ray_head.ray("job", "submit", "--address", ray_head.address, "--working-dir", ".",
                         "--", "python", "-c", "import factory; print(factory.__file__)")
    assert where.returncode == 0, where.stdout[-4000:] + where.stderr[-4000:]
    [printed] = [line for line in where.stdout.splitlines() if line.endswith("__init__.py")]
    package = Path(printed).parent.parent
    assert package.parent.name == "working_dir_files"
    assert package.is_relative_to(ray_head.temp_dir.resolve())
    assert (package / "jobs" / "train.py").is_file() and (package / "schemas").is_dir()
    for ignored in (".venv", "out", "runs", ".git"):
        assert not (package / ignored).exists(), f"{ignored} was uploaded"
