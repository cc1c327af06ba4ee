"""Ray Train end to end on a real local Ray: train, checkpoint, report, resume."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from factory.laptop.presets import smoke_preset
from factory.ray_training import HISTORY
from factory.reid.checkpoint import checkpoint_class_pids, load_checkpoint, load_checkpoint_config
from factory.train.run import train
from factory.train.trainer import resolved
from schemas.configs import ConfigError, TrainConfig

SMOKE = smoke_preset("train") | {"protocol": "market1501"}  # two epochs


def checkpoints(run: Path) -> list[Path]:
    return sorted(p for p in run.glob("checkpoint_*") if p.is_dir())


def history_of(checkpoint: Path) -> list[dict]:
    return json.loads((checkpoint / HISTORY).read_text())


def test_train_report_and_resume(ray_cluster, toy_market, tmp_path):
    config = TrainConfig(images=toy_market, storage_path=tmp_path, name="run", **SMOKE)
    checkpoint, report = train(config)
    assert checkpoint == tmp_path / "run" / "model"  # a stable path: the last checkpoint's model
    assert sorted(p.name for p in checkpoint.iterdir()) == [
        "config.json", "history.json", "model.safetensors"]
    first = history_of(checkpoint)
    assert [row["epoch"] for row in first] == [1, 2]
    assert 0.0 <= first[-1]["mAP"] <= 1.0 and "standard/rank1" in first[-1]
    model = load_checkpoint(checkpoint)
    assert load_checkpoint_config(checkpoint)["config"]["name"] == "run"
    assert model.num_classes == 8 and checkpoint_class_pids(checkpoint) == list(range(1, 9))
    assert (report.parent / "curves.png").stat().st_size > 0 and "mAP" in report.read_text()
    # Same storage path and name, more epochs: resumes after epoch 2 instead of starting over.
    checkpoint, _ = train(config.model_copy(update={"epochs": 3}))
    resumed = history_of(checkpoint)
    assert [row["epoch"] for row in resumed] == [1, 2, 3] and resumed[:2] == first


@pytest.mark.slow
def test_a_killed_job_resumes_from_its_last_checkpoint(toy_market, tmp_path):
    config = tmp_path / "train.yaml"
    config.write_text(f"images: {toy_market}\nstorage_path: {tmp_path}\nname: killed\n"
                      f"epochs: 6\nmax_steps_per_epoch: 3\n")
    factory = Path(sys.executable).parent / "factory"
    command = [str(factory), "train", str(config), "--smoke", "--set", "epochs=6",
               "--set", "max_steps_per_epoch=3"]
    # A Ray of its own (not the test session's), killed with the job.
    env = os.environ | {"RAY_ADDRESS": "local"}
    job = subprocess.Popen(command, start_new_session=True, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, env=env)
    deadline = time.time() + 300
    while not checkpoints(tmp_path / "killed") and time.time() < deadline:
        time.sleep(1)
    os.killpg(job.pid, signal.SIGKILL)
    job.wait()
    done_before = len(history_of(checkpoints(tmp_path / "killed")[-1]))
    assert 1 <= done_before < 6
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    assert [row["epoch"] for row in history_of(checkpoints(tmp_path / "killed")[-1])] == \
        list(range(1, 7))


def test_relative_and_missing_inputs(toy_market, tmp_path, monkeypatch):
    monkeypatch.chdir(toy_market.parent)
    config = resolved(TrainConfig(images=toy_market.name, storage_path="runs"))
    assert config.images == toy_market and config.storage_path == toy_market.parent / "runs"
    with pytest.raises(ConfigError, match="field 'scores'.*nothing.parquet"):
        resolved(TrainConfig(images=toy_market, scores=tmp_path / "nothing.parquet"))
