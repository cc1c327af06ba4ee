"""The generate stage's output folder: part files, duplicates, orphans, leftovers, the sink."""

import os

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from factory.generate.image_stages import to_pixels
from factory.generate.manifest import (
    FAILED_DIR,
    GENERATED_DIR,
    IMAGES_DIR,
    STAGING_DIR,
    ManifestSink,
    actor_busy_share,
    clear_leftovers,
    committed_task_ids,
    deduplicate_parts,
    image_path,
    part_files,
    read_manifest,
    read_parts,
    remove_orphans,
    write_part,
)
from factory.generate.task_batch import OUTPUT_SCHEMA


def pixels_of(task_id: str) -> np.ndarray:
    """A flat colour of its own for each task's image."""
    return np.full((16, 8, 3), int(task_id[2:]) * 40, dtype=np.uint8)


def output_rows(task_ids, *, failed=()):
    """Rows as a method class returns them (OUTPUT_SCHEMA): 0.3 s busy and 0.1 s idle each."""
    rows = [{"task_id": task, "method": "dive", "pid": 1, "modality": "rgb", "outfit": None,
             "seed": n, "prompt": "p", "model_fingerprint": "m", "adapter_fingerprint": None,
             "timings": [("generate", 0.2), ("actor_busy", 0.3), ("actor_idle", 0.1)],
             "parents": [], "pixels": None if task in failed else to_pixels(pixels_of(task)),
             "error": "generated image is all black" if task in failed else None}
            for n, task in enumerate(task_ids)]
    return pa.Table.from_pylist(rows, schema=OUTPUT_SCHEMA)


def make_sink(out):
    return ManifestSink(out, "jpg", rows_per_file=2, jpeg_quality=95)


@pytest.fixture
def written(tmp_path):
    sink = make_sink(tmp_path)
    sink.on_write_start()
    sink.write([output_rows(["aa01", "ab02"]), output_rows(["ff03"], failed={"ff03"})], None)
    sink.write([output_rows(["ab04"])], None)
    return tmp_path


def test_sink_writes_sharded_images_then_parts(written):
    assert image_path(written, "dive", "ab02", "jpg") == written / "images/dive/ab/ab02.jpg"
    with Image.open(written / "images/dive/ab/ab02.jpg") as image:  # encoded by the sink
        assert image.format == "JPEG"
        assert np.abs(np.asarray(image).astype(int) - pixels_of("ab02")).max() <= 2
    assert not (written / "images/dive/ff").exists()
    rows = read_manifest(written).to_pylist()
    assert sorted(row["task_id"] for row in rows) == ["aa01", "ab02", "ab04"]
    assert all(dict(row["timings"])["encode"] > 0 for row in rows)
    assert all(row["path"].endswith(f"{row['task_id']}.jpg") for row in rows)
    failed = read_manifest(written, failed=True).to_pylist()
    assert [(row["task_id"], row["path"], row["error"]) for row in failed] == \
        [("ff03", None, "generated image is all black")]
    assert sorted(committed_task_ids(written)["task_id"]) == ["aa01", "ab02", "ab04", "ff03"]
    assert len(part_files(written / GENERATED_DIR)) == 2


def test_actor_busy_share_from_the_timings(written, tmp_path_factory):
    assert actor_busy_share(written) == pytest.approx(0.3 / (0.3 + 0.1))  # failed rows too
    assert actor_busy_share(tmp_path_factory.mktemp("empty")) is None


def test_images_and_parts_are_readable_by_others(tmp_path):
    """Under the usual umask 022 the sink's images and manifest parts are 0644, as `open()`
    makes files (tables and reports: tests/test_bad_inputs.py)."""
    old = os.umask(0o022)
    try:
        sink = make_sink(tmp_path)
        sink.on_write_start()
        sink.write([output_rows(["aa01"])], None)
    finally:
        os.umask(old)
    files = [image_path(tmp_path, "dive", "aa01", "jpg"), *part_files(tmp_path / GENERATED_DIR)]
    assert len(files) == 2
    assert {oct(os.stat(path).st_mode & 0o777) for path in files} == {oct(0o644)}


def test_a_rewritten_block_keeps_its_file_name(written):
    before = part_files(written / GENERATED_DIR)
    make_sink(written).write([output_rows(["ab04"])], None)
    assert part_files(written / GENERATED_DIR) == before


def test_duplicates_are_read_once_and_removed(written):
    rows = read_manifest(written).to_pylist()
    write_part(written / GENERATED_DIR, [rows[0], rows[2]], "generated", "task_id")  # regrouped
    assert read_parts(written / GENERATED_DIR, "generated", "task_id").num_rows == 3
    assert deduplicate_parts(written / GENERATED_DIR, "generated", "task_id") == 2
    folder = written / GENERATED_DIR
    assert sum(pq.read_table(p).num_rows for p in part_files(folder)) == 3


def test_orphans_and_leftovers_are_cleaned(written):
    orphan = image_path(written, "dive", "cd99", "jpg")
    orphan.parent.mkdir(parents=True)
    orphan.write_bytes(b"no row names me")
    (written / STAGING_DIR / "ab05.jpg.123.tmp").write_bytes(b"half")
    (written / FAILED_DIR / ".part-x.parquet.abc.tmp").write_bytes(b"half")
    assert remove_orphans(written, "dive") == 1 and not orphan.exists()
    assert clear_leftovers(written) == 2
    images = sorted(p.name for p in (written / IMAGES_DIR).rglob("*.jpg"))
    assert images == ["aa01.jpg", "ab02.jpg", "ab04.jpg"]
