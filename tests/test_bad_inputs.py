"""The bad-input catalogue: every kind of broken input a user can hand the factory.

Each case builds one broken input, runs the entry point that consumes it, and checks that the
error names the input at fault and that nothing half-written is left behind.
"""

import io
import re
from pathlib import Path

import numpy as np
import pytest
from dataset_trees import market_tree, sysu_tree, write_image
from PIL import Image

from factory.image_files import ImageFileError, load_rgb
from factory.ingest.datasets import DatasetError
from factory.ingest.stage import ingest
from schemas.config_base import ConfigError, load_config
from schemas.configs import TrainConfig

MARKET_IMAGE = "bounding_box_train/0002_c1s1_000451_01.jpg"


def noisy_image_bytes(suffix: str) -> bytes:
    """A photo-like image (noise compresses badly, so a cut really truncates pixel data)."""
    pixels = np.random.default_rng(0).integers(0, 255, (64, 32, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG" if suffix == ".jpg" else "PNG")
    return buffer.getvalue()


def market_with(tmp_path: Path, relative: str, content: bytes) -> Path:
    """A valid Market-1501 tree whose `relative` file holds `content`; returns that file."""
    market_tree(tmp_path / "data")
    path = tmp_path / "data" / relative
    path.write_bytes(content)
    return path


def truncated(suffix: str):
    def make(tmp_path):
        whole = noisy_image_bytes(suffix)
        relative = MARKET_IMAGE.replace(".jpg", suffix)
        return market_with(tmp_path, relative, whole[: len(whole) // 2])
    return make


# name -> (make the broken tree and return the culprit, ingest with verify?, words in the error)
INGEST_CASES = {
    "truncated jpeg": (truncated(".jpg"), True, "unreadable image"),
    "truncated png": (truncated(".png"), True, "unreadable image"),
    "zero-byte file": (lambda tmp: market_with(tmp, MARKET_IMAGE, b""), False, "unreadable"),
    "not an image": (lambda tmp: market_with(tmp, MARKET_IMAGE, b"<html>"), False, "unreadable"),
    "name that does not parse": (
        lambda tmp: market_with(tmp, "bounding_box_train/person_2.jpg",
                                noisy_image_bytes(".jpg")), False, "pattern"),
}


@pytest.mark.parametrize("case", sorted(INGEST_CASES))
def test_broken_image_files_are_named_and_nothing_is_written(tmp_path, case):
    make, verify, words = INGEST_CASES[case]
    culprit = make(tmp_path)
    out = tmp_path / "tables" / "images.parquet"
    with pytest.raises(DatasetError, match=re.escape(culprit.name)) as caught:
        ingest("market1501", tmp_path / "data", out, progress=False, verify=verify)
    assert words in str(caught.value)
    assert not out.parent.exists() or list(out.parent.iterdir()) == []


def test_wrong_layout_names_the_missing_folder(tmp_path):
    sysu_tree(tmp_path)  # a SYSU-MM01 tree read as Market-1501
    with pytest.raises(DatasetError, match="bounding_box_train: missing folder"):
        ingest("market1501", tmp_path, tmp_path / "images.parquet", progress=False)


def test_id_list_naming_a_missing_person(tmp_path):
    tree = sysu_tree(tmp_path)
    tree.lines("exp/test_id.txt", ["4,5,99"])
    with pytest.raises(DatasetError, match=r"test_id\.txt.*person 99"):
        ingest("sysu_mm01", tmp_path, tmp_path / "images.parquet", progress=False)


@pytest.mark.parametrize("suffix", [".jpg", ".png"])
def test_truncated_image_met_during_training_is_named(tmp_path, suffix):
    whole = noisy_image_bytes(suffix)
    path = tmp_path / f"cut{suffix}"
    path.write_bytes(whole[: len(whole) // 2])
    with Image.open(path) as image:  # the header alone looks fine
        assert image.size == (32, 64)
    with pytest.raises(ImageFileError, match=re.escape(str(path))):
        load_rgb(path)


@pytest.mark.parametrize("text, words", [
    ("images: i.parquet\nepoch: 3\n", ["epoch", "Extra inputs"]),
    ("images: i.parquet\nepochs: many\n", ["epochs", "'many'"]),
    ("images: i.parquet\nlr: -1\n", ["lr", "-1"]),
    ("images: i.parquet\nmodel: resnet\n", ["model", "'resnet'"]),
    ("epochs: 3\n", ["images", "Field required"]),
    ("- a list\n", ["expected a mapping"]),
    ("epochs: [1\n", ["not valid YAML"]),
])
def test_bad_configs_name_file_field_and_value(tmp_path, text, words):
    path = tmp_path / "train.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_config(TrainConfig, path)
    assert str(path) in str(caught.value)
    for word in words:
        assert word in str(caught.value)


def test_model_path_that_does_not_exist(tmp_path):
    from factory.diffusion.loader import load_pipeline

    missing = tmp_path / "no-such-model"
    with pytest.raises((FileNotFoundError, ValueError), match=re.escape(str(missing))):
        load_pipeline("text2img", missing)


@pytest.mark.parametrize("content", [None, "{not json", '{"format": "someone-else"}'])
def test_reid_checkpoint_that_is_missing_or_foreign(tmp_path, content):
    from factory.reid.checkpoint import load_checkpoint

    if content is not None:
        (tmp_path / "config.json").write_text(content)
    with pytest.raises((FileNotFoundError, ValueError), match=re.escape(str(tmp_path))):
        load_checkpoint(tmp_path)


def python_sources() -> list[Path]:
    root = Path(__file__).resolve().parents[1]
    return [path for folder in ("factory", "jobs", "bench", "schemas")
            for path in (root / folder).rglob("*.py")]


def call_text(text: str, start: int) -> str:
    """The source of the call whose opening parenthesis is at or after `start`."""
    depth, index = 0, text.index("(", start)
    for end in range(index, len(text)):
        depth += {"(": 1, ")": -1}.get(text[end], 0)
        if depth == 0:
            return text[start:end + 1]
    raise AssertionError("unbalanced parentheses")


def test_checkpoints_load_only_through_safe_loaders():
    """torch.load always with weights_only=True; pickle never (safetensors elsewhere)."""
    for path in python_sources():
        text = path.read_text()
        for found in re.finditer(r"torch\.load\(", text):
            call = call_text(text, found.start())
            assert "weights_only=True" in call, f"{path}: {call}"
        assert "import pickle" not in text, path


def test_servers_bind_to_localhost_only():
    for path in python_sources():
        assert "0.0.0.0" not in path.read_text(), f"{path} binds a server to every interface"


def test_image_written_before_a_failure_survives(tmp_path):
    """A good file already present is not touched by a failed ingest into the same path."""
    market_tree(tmp_path / "data")
    out = tmp_path / "images.parquet"
    ingest("market1501", tmp_path / "data", out, progress=False)
    before = out.read_bytes()
    write_image(tmp_path / "data" / "bounding_box_train/x.jpg")
    with pytest.raises(DatasetError):
        ingest("market1501", tmp_path / "data", out, progress=False)
    assert out.read_bytes() == before
