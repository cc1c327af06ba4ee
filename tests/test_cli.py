"""The `factory` console script, run as a user runs it: a real subprocess."""

import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

FACTORY = shutil.which("factory", path=str(Path(sys.executable).parent))


def factory(*args, check=True):
    result = subprocess.run([FACTORY, *map(str, args)], capture_output=True, text=True,
                            timeout=300)
    if check and result.returncode != 0:
        raise AssertionError(f"factory {args} failed:\n{result.stdout}\n{result.stderr}")
    return result


def test_help_lists_every_command_and_stage():
    out = factory("--help").stdout
    for command in ("ingest", "toy", "demo", "validate", "schemas"):
        assert command in out
    for stage in ("describe", "adapt", "plan", "generate", "filter", "train/tune", "evaluate"):
        assert stage in out


def test_render_ingest_validate(tmp_path):
    root = tmp_path / "market"
    factory("toy", "render", "--layout", "market1501", "--seed", 1, "--out", root,
            "--train-ids", 3, "--test-ids", 3, "--workers", 1)
    out = tmp_path / "images.parquet"
    result = factory("ingest", "market1501", root, "--out", out)
    assert "wrote" in result.stdout and pq.read_metadata(out).num_rows > 0
    assert "valid 'images' table" in factory("validate", "images", out).stdout


def test_bad_input_exits_2_naming_the_problem(tmp_path):
    (tmp_path / "query").mkdir()
    result = factory("ingest", "market1501", tmp_path, "--out", tmp_path / "x.parquet",
                     check=False)
    assert result.returncode == 2
    assert "bounding_box_train" in result.stderr and "missing folder" in result.stderr
    assert not (tmp_path / "x.parquet").exists()
    bad = tmp_path / "bad.yaml"
    bad.write_text("train_identities: 0\n")
    result = factory("toy", "render", "--config", bad, "--out", tmp_path / "w", check=False)
    assert result.returncode == 2 and "train_identities" in result.stderr


def test_unknown_dataset_lists_the_valid_ones():
    result = factory("ingest", "market", "x", "--out", "y", check=False)
    assert result.returncode == 2 and "market1501" in result.stderr


@pytest.mark.parametrize("argv", [["toy", "render", "--help"], ["ingest", "--help"]])
def test_sub_command_help(argv):
    assert "usage: factory" in factory(*argv).stdout
