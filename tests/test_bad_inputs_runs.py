"""The bad-input catalogue, part two: state a re-run would reuse (`tests/test_bad_inputs.py` holds
part one, the broken files and values).

A training run re-run under its name with a changed config must be refused before any work,
listing each changed field, and leave everything the first run wrote as it was; `--restart`
starts it over; checkpoints of an interrupted attempt are pruned after the resume. A corrupt
image fails a training run at once, naming it, and is a failed row of the filter.
"""

import re
import shutil
from pathlib import Path

import pytest
from test_filter_stage import fake_generated

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


def test_a_corrupt_image_met_in_training_fails_the_run_at_once_naming_it(ray_cluster, toy_market,
                                                                        tmp_path, capsys):
    """A deterministic worker error is not retried into the same error; the first line is the
    worker's, naming the image (not Ray Train's wrapper and its traceback)."""
    import polars as pl

    from factory.table_io import read_table, write_table

    images = pl.from_arrow(read_table(toy_market, "images"))
    copies = images.with_columns(path=pl.Series([  # ids are unique, file names need not be
        str(shutil.copy(path, tmp_path / f"{image_id}{Path(path).suffix}"))
        for image_id, path in zip(images["image_id"], images["path"], strict=True)]))
    write_table(copies.to_arrow(), tmp_path / "images.parquet", "images")
    culprits = [Path(path) for path in copies.filter(pl.col("role") == "train")["path"]]
    for culprit in culprits:  # every one, so the smoke run's few batches surely meet one
        culprit.write_bytes(culprit.read_bytes()[: culprit.stat().st_size // 2])
    config = tmp_path / "train.yaml"
    config.write_text(f"images: {tmp_path / 'images.parquet'}\nstorage_path: {tmp_path}\n"
                      f"name: corrupt\nprotocol: market1501\n")
    code = main(["train", str(config), "--smoke"])
    stderr = capsys.readouterr().err
    first_line = next(line for line in stderr.splitlines() if line.startswith("factory train"))
    assert code == 2 and "unreadable image" in first_line
    assert any(first_line.startswith(f"factory train: error: {path}: ") for path in culprits)
    assert "Traceback" not in stderr
    assert not run_checkpoints(tmp_path / "corrupt")


@pytest.mark.parametrize("damage", ["truncated", "missing"])
def test_a_corrupt_generated_image_is_a_failed_filter_row(ray_cluster, toy_images, toy_sd,
                                                          toy_scorer, tmp_path, damage):
    """The filter scores every other image and records the bad one with its error, never kept."""
    import polars as pl

    from factory.filter.stage import run_filter
    from factory.generate.manifest import SCORES_DIR, read_manifest, read_parts

    config = fake_generated(toy_images("market1501"), tmp_path, toy_sd)
    config = config.model_copy(update={"scorer": toy_scorer})
    generated = pl.from_arrow(read_manifest(tmp_path))
    culprit = Path(generated["path"][3])
    before = {path: path.read_bytes() for path in tmp_path.rglob("*") if path.is_file()
              and path != culprit}
    if damage == "missing":
        culprit.unlink()
    else:
        culprit.write_bytes(culprit.read_bytes()[: culprit.stat().st_size // 2])
    summary = run_filter(config)
    scores = pl.from_arrow(read_parts(tmp_path / SCORES_DIR, "scores", "image_id"))
    failed = scores.filter(pl.col("error").is_not_null())
    assert failed["image_id"].to_list() == [generated["image_id"][3]]
    assert str(culprit) in failed["error"][0] and not failed["kept"][0]
    assert scores.height == generated.height and summary["methods"]["dive"]["failed"] == 1
    assert scores.filter(pl.col("error").is_null())["similarity"].is_not_null().all()
    assert all(path.read_bytes() == data for path, data in before.items())


def test_filter_refuses_to_score_on_with_other_settings(ray_cluster, toy_images, toy_sd,
                                                        toy_scorer, tmp_path):
    """Scores made under one scorer and thresholds are not extended under others (their `kept`
    flags would mix two verdicts); `restart` scores everything again."""
    from factory.filter.stage import SUMMARY_FILE, run_filter
    from factory.generate.manifest import SCORES_DIR
    from schemas.config_base import ConfigError

    config = fake_generated(toy_images("market1501"), tmp_path, toy_sd)
    config = config.model_copy(update={"scorer": toy_scorer})
    run_filter(config)
    before = snapshot(tmp_path / SCORES_DIR) | {SUMMARY_FILE: (tmp_path / SUMMARY_FILE).stat()
                                                .st_mtime_ns}
    stricter = config.model_copy(update={"filter": config.filter.model_copy(
        update={"min_confidence": 0.9})})
    with pytest.raises(ConfigError, match=re.escape(str(tmp_path / SUMMARY_FILE)) +
                       r".*min_confidence: 0\.5 -> 0\.9.*--restart"):
        run_filter(stricter)
    assert snapshot(tmp_path / SCORES_DIR) | {SUMMARY_FILE: (tmp_path / SUMMARY_FILE).stat()
                                              .st_mtime_ns} == before
    assert run_filter(stricter, restart=True)["scored_now"] == 10
