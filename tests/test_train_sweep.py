"""Ray Tune ASHA sweeps over Ray Train runs: results table, plot, and restore."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest
import yaml

from factory.laptop.presets import smoke_preset
from factory.train.run import sweep
from factory.train.sweep import search_space
from schemas.configs import SweepConfig

TRAIN = smoke_preset("train") | {"protocol": "market1501", "eval_every": 5}  # after the last


def sweep_config(images, folder, **changes) -> SweepConfig:
    return SweepConfig.model_validate({"train": TRAIN | {"images": str(images)}, "samples": 2,
                                       "storage_path": str(folder), "name": "sweep"} | changes)


def test_search_space_covers_the_swept_fields(toy_market, tmp_path):
    config = sweep_config(toy_market, tmp_path, synthetic_ratio=[0.5, 1.0],
                          filter_threshold=[0.3, 0.6])
    assert set(search_space(config)) == {"lr", "weight_decay", "synthetic_ratio",
                                         "filter_threshold"}
    with pytest.raises(ValueError, match="protocol"):
        sweep_config(toy_market, tmp_path, train=TRAIN | {"images": "x", "protocol": None})


def _live_placement_groups() -> set[str]:
    from ray.util import placement_group_table

    return {key for key, group in placement_group_table().items() if group["state"] == "CREATED"}


def test_sweep_reports_and_restores(ray_cluster, toy_market, tmp_path):
    config = sweep_config(toy_market, tmp_path)
    live = _live_placement_groups()
    report = sweep(config)
    assert _live_placement_groups() == live  # no trial's workers keep their CPUs
    table = pl.read_csv(report.parent / "results.csv")
    assert table.height == 2 and set(table["epochs"].to_list()) <= {1, 2}
    assert table["best_mAP"].drop_nulls().len() == 2
    assert (report.parent / "sweep.png").stat().st_size > 0
    # Running the same sweep again restores it (Tuner.restore) instead of starting new trials.
    again = pl.read_csv(sweep(config).parent / "results.csv")
    assert sorted(again["trial"].to_list()) == sorted(table["trial"].to_list())


@pytest.mark.slow
def test_an_interrupted_sweep_resumes(toy_market, tmp_path):
    config = sweep_config(toy_market, tmp_path, train=TRAIN | {"images": str(toy_market),
                                                               "epochs": 3}, samples=3)
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(config.model_dump(mode="json")))
    command = [str(Path(sys.executable).parent / "factory"), "tune", str(path)]
    # A Ray of its own (not the test session's), killed with the job.
    env = os.environ | {"RAY_ADDRESS": "local"}
    job = subprocess.Popen(command, start_new_session=True, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, env=env)
    deadline = time.time() + 300
    while not list(tmp_path.glob("sweep/*/train/*/checkpoint_2*")) and time.time() < deadline:
        time.sleep(1)
    os.killpg(job.pid, signal.SIGKILL)
    job.wait()
    assert not (tmp_path / "sweep" / "results.csv").exists()
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=900)
    assert result.returncode == 0, result.stderr[-2000:]
    table = pl.read_csv(tmp_path / "sweep" / "results.csv")
    assert table.height == 3 and table["error"].fill_null("").eq("").all()
