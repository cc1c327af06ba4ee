"""The bad-input catalogue, part two: state a re-run would reuse (`tests/test_bad_inputs.py` holds
part one, the broken files and values).

A training run re-run under its name with a changed config must be refused before any work,
listing each changed field, and leave everything the first run wrote as it was; `--restart`
starts it over; checkpoints of an interrupted attempt are pruned after the resume.
"""

import shutil
from pathlib import Path

import pytest

from factory.cli import main
from factory.laptop.presets import smoke_preset
from factory.ray_training import run_checkpoints
from factory.run_record import RUN_RECORD

pytestmark = pytest.mark.slow  # each module trains a tiny run on Ray first


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file under `folder`: (size, mtime in ns), to show nothing was rewritten."""
    return {str(path.relative_to(folder)): (path.stat().st_size, path.stat().st_mtime_ns)
            for path in sorted(folder.rglob("*")) if path.is_file()}


@pytest.fixture(scope="module")
def finished_run(ray_cluster, toy_market, tmp_path_factory):
    """A finished smoke run (`factory train --smoke`) and its YAML config."""
    folder = tmp_path_factory.mktemp("runs")
    config = folder / "train.yaml"
    config.write_text(f"images: {toy_market}\nstorage_path: {folder}\nname: first\n"
                      f"protocol: market1501\n")
    assert main(["train", str(config), "--smoke"]) == 0
    return config, folder / "first"


# --set of a re-run -> the record line that must name it
CHANGED = {
    "learning rate": ("lr=0.01", "lr: 0.00035 -> 0.01"),
    "model": ("model=cal", 'model: "bot" -> "cal"'),
    "backbone": ("arch=resnet18", 'arch: "resnet10" -> "resnet18"'),
    "synthetic data added": ("synthetic=x.parquet", "synthetic: null -> "),
    "real images dropped": ("train_splits=[train, val]", 'train_splits: ["train"] -> '),
    "image size": ("height=128", "height: 64 -> 128"),
    "batch identities": ("p=8", "p: 4 -> 8"),
    "seed": ("seed=1", "seed: 0 -> 1"),
    "milestones": ("milestones=[1]", "milestones: [40, 70] -> [1]"),
    "two fields at once": ("lr=0.01", "lr: 0.00035 -> 0.01"),
}


@pytest.mark.parametrize("case", sorted(CHANGED))
def test_a_rerun_with_a_changed_config_is_refused(finished_run, capsys, case):
    config, run = finished_run
    pair, words = CHANGED[case]
    before = snapshot(run)
    extra = ["--set", "seed=1"] if case == "two fields at once" else []
    if pair.startswith("synthetic="):  # an input that exists, so the record is what refuses
        pair = f"synthetic={shutil.copy(run.parent / 'train.yaml', run.parent / 'x.parquet')}"
    code = main(["train", str(config), "--smoke", "--set", pair, *extra])
    first_line = capsys.readouterr().err.splitlines()[0]
    assert code == 2
    assert str(run / RUN_RECORD) in first_line and words in first_line and "--restart" in first_line
    if extra:
        assert "seed: 0 -> 1" in first_line
    assert snapshot(run) == before


def test_the_same_config_or_more_epochs_resumes(finished_run, capsys):
    config, run = finished_run
    assert main(["train", str(config), "--smoke", "--set", "workers=1"]) == 0
    assert "checkpoint: " in capsys.readouterr().out


def test_restart_starts_the_run_over_and_prunes_what_an_attempt_left(finished_run, tmp_path):
    config, run = finished_run
    stale = run / "checkpoint_2000-01-01_00-00-00.000000"  # an interrupted attempt's leftover
    shutil.copytree(run_checkpoints(run)[-1], stale)
    code = main(["train", str(config), "--smoke", "--set", "epochs=3"])
    assert code == 0 and not stale.exists()
    assert len(run_checkpoints(run)) == smoke_preset("train").get("keep_checkpoints", 2)
    assert main(["train", str(config), "--smoke", "--set", "lr=0.01", "--restart"]) == 0
    assert '"lr": 0.01' in (run / RUN_RECORD).read_text()
    assert main(["train", str(config), "--smoke", "--set", "lr=0.01"]) == 0  # resumes now
