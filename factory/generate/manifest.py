"""The output folder of generate and filter: sharded images and per-block table parts.

    <out>/images/<method>/<task_id[:2]>/<task_id>.<jpg|png>   at most ~1/256 of the images each
    <out>/generated/part-<digest>.parquet   `generated` rows of written images, one file per block
    <out>/failed/part-<digest>.parquet      `generated` rows of failed tasks, with their `error`
    <out>/scores/part-<digest>.parquet      `scores` rows (filter stage)
    <out>/.staging/                         images being written (renamed into place when whole)

Commit protocol: a block's images are written first (temp name, then rename), then its part file
(temp name, then rename). In a bucket (`out` an `s3://` or `gs://` URI) each image and part file
is put as one whole object, images first, so the part file, put last, commits its block the same
way, with no staging folder. A task is committed once its row is in a part file; a crash before
that leaves an image without a row, which the next run overwrites (its path is fixed by the task
id) or `remove_orphans` deletes. A retried block lands under the same file name when its rows are
the same; if Ray regroups rows on a retry, `deduplicate_parts` drops the second copy, and
readers keep one row per key in any case. A part folder is a valid table for `pq.read_table`.
Anything else in these folders is a leftover (`leftovers`: one rule for generate, which clears
them, and audit, which reports them); `uncommit` takes tasks back so a re-run makes them again.
"""

import hashlib
import os
import time
import uuid
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset
from ray.data import Datasink

from factory.generate.image_stages import encode, from_pixels
from factory.ingest.datasets.records import image_id
from factory.storage import ObjectPath, filesystem_and_path, rmtree, storage_path
from factory.table_io import write_table
from schemas.tables import schema_for

IMAGES_DIR = "images"
GENERATED_DIR = "generated"
FAILED_DIR = "failed"
SCORES_DIR = "scores"
STAGING_DIR = ".staging"
FILTER_SUMMARY = "filter_summary.json"
PART_GLOB = "part-*.parquet"


def image_path(out: Path, method: str, task_id: str, image_format: str) -> Path:
    """Where a task's image goes: sharded by the first two hex digits of its id."""
    return out / IMAGES_DIR / method / task_id[:2] / f"{task_id}.{image_format}"


def part_files(folder: Path) -> list[str]:
    return sorted(str(path) for path in storage_path(folder).glob(PART_GLOB))


def read_parts(folder: Path, table: str, key: str, *, columns: list[str] | None = None,
               ) -> pa.Table:
    """The rows of a part folder, one per `key` (the first file's), with `table`'s types."""
    schema = schema_for(table)
    paths = part_files(folder)
    if not paths:
        empty = schema.empty_table()
        return empty.select(columns) if columns else empty
    wanted = None if columns is None else list(dict.fromkeys([key, *columns]))
    rows = _dataset(paths, schema=schema).to_table(columns=wanted)
    first = pl.from_arrow(rows.column(key)).is_first_distinct()
    rows = rows if first.all() else rows.filter(first.to_arrow())
    return rows.select(columns) if columns else rows


def _dataset(paths: list[str], schema: pa.Schema | None = None) -> pyarrow.dataset.Dataset:
    """Parquet files local or in one bucket as one pyarrow dataset."""
    filesystem, _ = filesystem_and_path(storage_path(paths[0]))
    if filesystem is not None:
        paths = [storage_path(path).fs_path for path in paths]
    return pyarrow.dataset.dataset(paths, schema=schema, format="parquet", filesystem=filesystem)


def part_name(keys: list[str]) -> str:
    """A file name fixed by the rows it holds, so a retried block overwrites its own file."""
    digest = hashlib.blake2b("\n".join(sorted(keys)).encode(), digest_size=12)
    return f"part-{digest.hexdigest()}.parquet"


def write_part(folder: Path, rows: list[dict], table: str, key: str) -> Path:
    """Write rows as one validated part file of `table` (temp name, then rename)."""
    path = storage_path(folder) / part_name([row[key] for row in rows])
    write_table(pa.Table.from_pylist(rows, schema=schema_for(table)), path, table)
    return path


def deduplicate_parts(folder: Path, table: str, key: str) -> int:
    """Rewrite the part files holding a key that an earlier file already holds, without those
    rows, so the folder has one row per key. Returns the number of rows dropped."""
    paths = part_files(folder)
    if not paths:
        return 0
    keys = pl.scan_parquet(paths, include_file_paths="file").select(key, "file").collect()
    repeated = keys.filter(~pl.col(key).is_first_distinct())
    for file, group in repeated.group_by("file"):
        rows = _dataset([file[0]]).to_table()
        keep = pl.from_arrow(rows.column(key)).is_in(group[key].implode()).not_()
        if keep.any():
            write_table(rows.filter(keep.to_arrow()), storage_path(file[0]), table)
        else:
            storage_path(file[0]).unlink()
    return repeated.height


def committed_task_ids(out: Path) -> pl.DataFrame:
    """One `task_id` column: every task with a committed row, written or failed (polars reads
    the one column of thousands of part files in parallel)."""
    paths = part_files(out / GENERATED_DIR) + part_files(out / FAILED_DIR)
    if not paths:
        return pl.DataFrame(schema={"task_id": pl.String})
    return pl.scan_parquet(paths).select("task_id").unique().collect()


def read_manifest(out: Path, *, failed: bool = False) -> pa.Table:
    """The committed `generated` rows of written images (or of failed tasks), one per task."""
    return read_parts(out / (FAILED_DIR if failed else GENERATED_DIR), "generated", "task_id")


def actor_busy_share(out: Path) -> float | None:
    """The share of their time the generator actors spent on batches, over every committed row
    (the `actor_busy` and `actor_idle` timings); None before any row has them."""
    paths = part_files(out / GENERATED_DIR) + part_files(out / FAILED_DIR)
    if not paths:
        return None
    timings = _dataset(paths).to_table(columns=["timings"]).column("timings")
    pairs = pa.list_(pa.struct([timings.type.key_field, timings.type.item_field]))
    entries = pc.list_flatten(timings.cast(pairs))  # a map's own keys ignore slicing
    steps = pl.from_arrow(entries).struct.unnest().group_by("key").agg(pl.col("value").sum())
    seconds = dict(zip(steps["key"], steps["value"], strict=True))
    whole = seconds.get("actor_busy", 0.0) + seconds.get("actor_idle", 0.0)
    return seconds["actor_busy"] / whole if whole else None


def output_folders(out: Path) -> list[Path]:
    """What generate and filter wrote in `out` (what starting a job over deletes)."""
    names = (IMAGES_DIR, GENERATED_DIR, FAILED_DIR, SCORES_DIR, STAGING_DIR, FILTER_SUMMARY)
    out = storage_path(out)
    return [out / name for name in names if (out / name).exists()]


def leftovers(out: Path) -> list[Path]:
    """What is no part of an output folder, by the one rule generate clears and audit reports:
    every entry of `.staging/`, temporary files (`*.tmp`) in `out` and the folders the stages
    own, and strays there (a `.DS_Store`, a file a person dropped): in the part folders anything
    but `part-*.parquet` files, under `images/` anything but `<method>/<shard>/<task_id>.<ext>`
    files. Whatever else lives in `out` (a smoke job's models) is left alone."""
    out = storage_path(out)
    found = [path for path in out.glob("*.tmp") if path.is_file()]
    staging = out / STAGING_DIR
    if staging.is_dir():
        found += sorted(staging.iterdir())
    for folder in (GENERATED_DIR, FAILED_DIR, SCORES_DIR):
        if (out / folder).is_dir():
            found += sorted(path for path in (out / folder).iterdir()
                            if not (path.is_file() and path.match(PART_GLOB)))
    images = out / IMAGES_DIR
    if isinstance(images, ObjectPath):  # files only: a bucket has no empty folders
        return found + [path for path in images.rglob("*") if path.is_file() and not
                        _image_file(str(path.relative_to(images)))]
    for parent, folders, files in os.walk(images) if images.is_dir() else ():
        depth = len(Path(parent).relative_to(images).parts)  # 0 images/, 1 method, 2 shard
        for name in files:
            if depth != 2 or name.startswith(".") or name.endswith(".tmp"):
                found.append(Path(parent) / name)
        if depth == 2:
            found += sorted(Path(parent) / name for name in folders)
            folders.clear()
    return found


def _image_file(relative: str) -> bool:
    """Whether a path under `images/` is where an image belongs: `<method>/<shard>/<name>`."""
    parts = relative.split("/")
    return len(parts) == 3 and not parts[2].startswith(".") and not parts[2].endswith(".tmp")


def clear_leftovers(out: Path) -> int:
    """Delete `leftovers(out)`: what a killed run leaves half-done and strays. Run only while no
    job writes to `out`. Returns the number of entries removed."""
    found = leftovers(out)
    for path in found:
        if path.is_dir() and not path.is_symlink():
            rmtree(path)
        else:
            path.unlink(missing_ok=True)
    return len(found)


def uncommit(out: Path, task_ids: list[str]) -> int:
    """Take the committed rows of `task_ids` out of `generated/` and `failed/` (and their images'
    scores out of `scores/`) and delete their images, so the next `generate` makes them again.
    Returns the number of rows taken out."""
    task_ids = pl.Series(task_ids, dtype=pl.String)
    rows = pl.from_arrow(read_manifest(out)).filter(pl.col("task_id").is_in(task_ids.implode()))
    for path in rows["path"].drop_nulls():
        storage_path(path).unlink(missing_ok=True)
    out = storage_path(out)
    removed = sum(_drop_rows(out / folder, "generated", "task_id", task_ids)
                  for folder in (GENERATED_DIR, FAILED_DIR))
    _drop_rows(out / SCORES_DIR, "scores", "image_id", rows["image_id"])
    return removed


def _drop_rows(folder: Path, table: str, key: str, keys: pl.Series) -> int:
    """Rewrite each part file of `folder` without the rows whose `key` is in `keys`."""
    dropped = 0
    for file in part_files(folder):
        rows = _dataset([file]).to_table()
        keep = pl.from_arrow(rows.column(key)).is_in(keys.implode()).not_()
        dropped += int((~keep).sum())
        if keep.all():
            continue
        if keep.any():
            write_table(rows.filter(keep.to_arrow()), storage_path(file), table)
        else:
            storage_path(file).unlink()
    return dropped


def remove_orphans(out: Path, method: str) -> int:
    """Delete images of `method` that no committed row names (left by a run killed between an
    image and its manifest, or planned by an older config). Goes shard by shard, the committed
    ids in polars, so memory stays flat at millions of images. Returns the number removed."""
    out = storage_path(out)
    root = out / IMAGES_DIR / method
    paths = part_files(out / GENERATED_DIR)
    if not root.is_dir():
        return 0
    committed = pl.DataFrame(schema={"task_id": pl.String}) if not paths else \
        pl.scan_parquet(paths).select("task_id").collect()
    shards = committed.with_columns(shard=pl.col("task_id").str.slice(0, 2)).partition_by(
        "shard", as_dict=True, include_key=False)
    removed = 0
    for shard in root.iterdir():
        if not shard.is_dir():  # a stray (`leftovers`), not a shard
            continue
        files = pl.DataFrame({"name": [entry.name for entry in shard.iterdir()]},
                             schema={"name": pl.String})
        files = files.with_columns(task_id=pl.col("name").str.split(".").list.first())
        known = shards.get((shard.name,), committed.clear())
        for name in files.join(known, on="task_id", how="anti")["name"]:
            (shard / name).unlink()
            removed += 1
    return removed


class PartSink(Datasink):
    """Ray Data sink writing each write task's rows as one part file of `table` in `folder`."""

    def __init__(self, folder: Path, table: str, key: str, rows_per_file: int):
        self.folder, self.table, self.key = storage_path(folder), table, key
        self.rows_per_file = rows_per_file

    @property
    def min_rows_per_write(self) -> int:
        return self.rows_per_file

    def write(self, blocks, ctx) -> int:
        rows = [row for block in blocks for row in block.to_pylist()]
        if rows:
            write_part(self.folder, rows, self.table, self.key)
        return len(rows)


class ManifestSink(PartSink):
    """Sink of a method's output: each block's images first (encoded here, on a CPU, from the
    actors' pixels), then its `generated` parts (written images) and `failed` parts (tasks that
    made no image, with the reason)."""

    def __init__(self, out: Path, image_format: str, rows_per_file: int, *, jpeg_quality: int):
        super().__init__(storage_path(out) / GENERATED_DIR, "generated", "task_id",
                         rows_per_file)
        self.out, self.image_format = storage_path(out), image_format
        self.jpeg_quality = jpeg_quality

    def on_write_start(self, schema=None) -> None:
        if not isinstance(self.out, ObjectPath):
            (self.out / STAGING_DIR).mkdir(parents=True, exist_ok=True)

    def write(self, blocks, ctx) -> int:
        written, failed = [], []
        for block in blocks:
            images = block.column("pixels").to_pylist()
            for row, pixels in zip(block.drop_columns(["pixels"]).to_pylist(), images,
                                   strict=True):
                path = image_path(self.out, row["method"], row["task_id"], self.image_format)
                relative = path.relative_to(self.out).as_posix()
                row["image_id"] = image_id(f"synthetic/{row['method']}", relative)
                row["path"] = None if pixels is None else self._write_image(path, row, pixels)
                (written if pixels is not None else failed).append(row)
        for folder, rows in ((GENERATED_DIR, written), (FAILED_DIR, failed)):
            if rows:
                write_part(self.out / folder, rows, "generated", "task_id")
        return len(written) + len(failed)

    def _write_image(self, path: Path, row: dict, pixels: dict) -> str:
        start = time.perf_counter()
        data = encode(from_pixels(pixels), self.image_format, self.jpeg_quality)
        row["timings"] = [*row["timings"], ("encode", time.perf_counter() - start)]
        if isinstance(path, ObjectPath):  # one whole object
            path.write_bytes(data)
            return str(path)
        staged = self.out / STAGING_DIR / f"{path.name}.{uuid.uuid4().hex}.tmp"
        staged.write_bytes(data)
        path.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staged, path)
        return str(path)
