"""The jobs under `ray job submit`, against a real local head with token auth, as on a cluster
(the head: `tests/ray_nodes.py`)."""

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from ray_nodes import RAY, REPO, cluster_env, job_info, start_head, wait_for_job_server


@dataclass
class Head:
    address: str  # the dashboard's HTTP address, which `ray job submit` talks to
    env: dict  # the environment a client of this cluster needs (token auth)
    temp_dir: Path  # Ray's session files
    token: str

    def job_info(self, submission_id: str) -> dict:
        return job_info(self.address, self.token, submission_id)

    def ray(self, *args: str, env: dict | None = None, timeout: int = 120):
        return subprocess.run([RAY, *args], env=env or self.env, cwd=REPO, capture_output=True,
                              text=True, timeout=timeout)


@pytest.fixture
def ray_head():
    """A head of our own: 2 CPUs, 127.0.0.1, free ports, token auth, private session folder."""
    # A short folder of its own: Ray's socket paths must fit in 107 bytes, and it must not meet
    # the session of any other Ray on the machine.
    temp_dir = Path(tempfile.mkdtemp(prefix="rf-ray-"))
    env, token = cluster_env(temp_dir)
    head, _, address = start_head(temp_dir, env, num_cpus=2, alone=True)
    try:
        wait_for_job_server(address, token, head)
        yield Head(address, env, temp_dir, token)
    finally:
        outlived = head.stop()
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
