"""DLCR's actor class on the real inpainting path (smoke toy SD): an outfit change keeps every
pixel outside the clothes mask byte-equal to its source, PNG and JPEG sources alike."""

import io

import numpy as np
import polars as pl
import pytest
from generation_inputs import toy_job
from PIL import Image

from factory.generate.dlcr import DlcrInpainter
from factory.generate.image_stages import decode_sources, encode, from_pixels
from factory.parsing.parser import GroundTruthMasks
from factory.plan.stage import read_tasks, run_plan
from factory.table_io import read_table, write_table

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
TASKS = 4


@pytest.fixture(scope="module")
def dlcr_tasks(toy_images, toy_sd, tmp_path_factory):
    """A DLCR job with the default image format on toy LTCC, every other training image of its
    first identity re-saved as JPEG; (config, a few planned tasks)."""
    folder = tmp_path_factory.mktemp("dlcr-lossless")
    config = toy_job("dlcr", toy_images("ltcc"), toy_sd, folder,
                     plan={"max_identities": 1, "dlcr": {"targets_per_image": 1}})
    images = pl.from_arrow(read_table(config.images, "images"))
    train = images.filter(pl.col("split") == "train")
    first = train.filter(pl.col("pid") == train["pid"].min())
    moved = {}
    for row in first.gather_every(2).iter_rows(named=True):
        moved[row["path"]] = str(folder / f"{row['image_id']}.jpg")
        Image.open(row["path"]).convert("RGB").save(moved[row["path"]], "JPEG", quality=80)
    write_table(images.with_columns(pl.col("path").replace(moved)).to_arrow(),
                folder / "images.parquet", "images")
    config = config.model_copy(update={"images": folder / "images.parquet"})
    run_plan(config)
    tasks = read_tasks(config).sort("source_path")
    formats = {Image.open(path).format for path in tasks["source_path"]}
    assert formats == {"JPEG", "PNG"}, formats
    # A JPEG source and a PNG one at least among the tasks run.
    picked = pl.concat([tasks.filter(pl.col("source_path").str.ends_with(".jpg")).head(TASKS // 2),
                        tasks.filter(pl.col("source_path").str.ends_with(".png")).head(TASKS // 2)])
    return config, picked


def _outfit_changes(config, tasks: pl.DataFrame) -> list[tuple[dict, bytes]]:
    """The tasks through the stages' own steps: decode, the actor, encode as the sink does."""
    output = DlcrInpainter(config)(decode_sources(tasks.to_arrow())).to_pylist()
    assert [row["error"] for row in output] == [None] * tasks.height
    images = [encode(from_pixels(row["pixels"]), config.image_format,
                     config.generate.jpeg_quality) for row in output]
    return list(zip(tasks.iter_rows(named=True), images, strict=True))


def _identity_pixels(config, task: dict, image: bytes):
    """(decoded outfit change, decoded source, clothes mask) of one task."""
    source = np.asarray(Image.open(task["source_path"]).convert("RGB"))
    made = np.asarray(Image.open(io.BytesIO(image)).convert("RGB"))
    mask = GroundTruthMasks(config.masks)([Image.fromarray(source)],
                                          [task["source_image_id"]])[0]
    assert made.shape == source.shape and 0 < mask.sum() < mask.size
    return made, source, mask


def test_identity_pixels_are_byte_equal_to_the_source(dlcr_tasks):
    config, tasks = dlcr_tasks
    assert config.generate.image_format is None and config.image_format == "png"
    for task, image in _outfit_changes(config, tasks):
        assert image.startswith(PNG_SIGNATURE)
        made, source, mask = _identity_pixels(config, task, image)
        np.testing.assert_array_equal(made[~mask], source[~mask])  # identity pixels, exactly
        assert (made[mask] != source[mask]).any()  # the clothes did change


def test_jpeg_output_would_not_keep_them(dlcr_tasks):
    """The control: the same tasks written as JPEG change pixels outside the mask."""
    config, tasks = dlcr_tasks
    lossy = config.model_copy(update={"generate": config.generate.model_copy(
        update={"image_format": "jpg"})})
    changed = []
    for task, image in _outfit_changes(lossy, tasks):
        assert not image.startswith(PNG_SIGNATURE)
        made, source, mask = _identity_pixels(lossy, task, image)
        changed.append(bool((made[~mask] != source[~mask]).any()))
    assert any(changed)
