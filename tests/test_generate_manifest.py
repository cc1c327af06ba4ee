"""The generate stage's output folder: part files, duplicates, orphans, leftovers, the sink."""

import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from factory.generate.manifest import (
    FAILED_DIR,
    GENERATED_DIR,
    IMAGES_DIR,
    STAGING_DIR,
    ManifestSink,
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


def output_rows(task_ids, *, failed=()):
    """Rows as a method class returns them (OUTPUT_SCHEMA)."""
    rows = [{"task_id": task, "method": "dive", "pid": 1, "modality": "rgb", "outfit": None,
             "seed": n, "prompt": "p", "model_fingerprint": "m", "adapter_fingerprint": None,
             "timings": [("generate", 0.1)], "parents": [],
             "image": None if task in failed else f"jpeg-{task}".encode(),
             "error": "generated image is all black" if task in failed else None}
            for n, task in enumerate(task_ids)]
    return pa.Table.from_pylist(rows, schema=OUTPUT_SCHEMA)


@pytest.fixture
def written(tmp_path):
    sink = ManifestSink(tmp_path, "jpg", rows_per_file=2)
    sink.on_write_start()
    sink.write([output_rows(["aa01", "ab02"]), output_rows(["ff03"], failed={"ff03"})], None)
    sink.write([output_rows(["ab04"])], None)
    return tmp_path


def test_sink_writes_sharded_images_then_parts(written):
    assert image_path(written, "dive", "ab02", "jpg") == written / "images/dive/ab/ab02.jpg"
    assert (written / "images/dive/ab/ab02.jpg").read_bytes() == b"jpeg-ab02"
    assert not (written / "images/dive/ff").exists()
    rows = read_manifest(written).to_pylist()
    assert sorted(row["task_id"] for row in rows) == ["aa01", "ab02", "ab04"]
    assert all(row["path"].endswith(f"{row['task_id']}.jpg") for row in rows)
    failed = read_manifest(written, failed=True).to_pylist()
    assert [(row["task_id"], row["path"], row["error"]) for row in failed] == \
        [("ff03", None, "generated image is all black")]
    assert sorted(committed_task_ids(written)["task_id"]) == ["aa01", "ab02", "ab04", "ff03"]
    assert len(part_files(written / GENERATED_DIR)) == 2


def test_images_and_parts_are_readable_by_others(tmp_path):
    """Under the usual umask 022 the sink's images and manifest parts are 0644, as `open()`
    makes files (tables and reports: tests/test_bad_inputs.py)."""
    old = os.umask(0o022)
    try:
        sink = ManifestSink(tmp_path, "jpg", rows_per_file=2)
        sink.on_write_start()
        sink.write([output_rows(["aa01"])], None)
    finally:
        os.umask(old)
    files = [image_path(tmp_path, "dive", "aa01", "jpg"), *part_files(tmp_path / GENERATED_DIR)]
    assert len(files) == 2
    assert {oct(os.stat(path).st_mode & 0o777) for path in files} == {oct(0o644)}


def test_a_rewritten_block_keeps_its_file_name(written):
    before = part_files(written / GENERATED_DIR)
    ManifestSink(written, "jpg", 2).write([output_rows(["ab04"])], None)
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
