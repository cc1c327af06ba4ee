"""The job entry points run as plain scripts (as `ray job submit -- python jobs/x.py` runs them)."""

import subprocess
import sys
from pathlib import Path

import pytest

JOBS = Path(__file__).parent.parent / "jobs"


@pytest.mark.parametrize("job", ["train", "tune"])
def test_job_help_and_bad_config(job, tmp_path):
    script = str(JOBS / f"{job}.py")
    help_text = subprocess.run([sys.executable, script, "--help"], capture_output=True,
                               text=True, check=True).stdout
    assert "--smoke" in help_text and "--set" in help_text
    bad = tmp_path / "bad.yaml"
    bad.write_text("images: 3\nepochs: -1\n" if job == "train" else "samples: 0\n")
    result = subprocess.run([sys.executable, script, str(bad)], capture_output=True, text=True)
    assert result.returncode == 2 and str(bad) in result.stderr


def test_shipped_configs_are_valid():
    from schemas.configs import SweepConfig, TrainConfig, load_config

    load_config(TrainConfig, JOBS / "configs" / "train_market_toy.yaml")
    load_config(SweepConfig, JOBS / "configs" / "sweep_market_toy.yaml")
