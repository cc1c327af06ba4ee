"""Read and write contract tables as Parquet, validated, never half-written."""

import os

import pyarrow as pa
import pyarrow.parquet as pq

from factory.atomic import atomic_path
from factory.storage import ObjectPath, filesystem_and_path, storage_path
from schemas import validate


def write_table(table: pa.Table, path: str | os.PathLike | ObjectPath, name: str) -> pa.Table:
    """Validate `table` as table `name` and write it to `path` (local or in a bucket) atomically
    (temp file, then rename; one whole object in a bucket).

    A crash or a bad table leaves any earlier file at `path` as it was.
    """
    table = validate(table, name, source=str(path))
    with atomic_path(storage_path(path)) as tmp:
        pq.write_table(table, tmp)
    return table


def read_table(path: str | os.PathLike | ObjectPath, name: str) -> pa.Table:
    """Read a Parquet file (or a folder of part files), local or in a bucket, and check it
    against the contract of table `name`."""
    path = storage_path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such table file")
    filesystem, within = filesystem_and_path(path)
    try:
        table = pq.read_table(within, filesystem=filesystem)
    except pa.ArrowException as exc:  # not Parquet, truncated, or a folder of something else
        raise ValueError(f"{path}: not a readable Parquet table ({exc})") from None
    return validate(table, name, source=str(path))
