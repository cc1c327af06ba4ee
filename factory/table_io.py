"""Read and write contract tables as Parquet, validated, never half-written."""

import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from factory.atomic import atomic_path
from schemas import validate


def write_table(table: pa.Table, path: str | os.PathLike, name: str) -> pa.Table:
    """Validate `table` as table `name` and write it to `path` atomically (temp file, then rename).

    A crash or a bad table leaves any earlier file at `path` as it was.
    """
    table = validate(table, name, source=str(path))
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)
    return table


def read_table(path: str | os.PathLike, name: str) -> pa.Table:
    """Read a Parquet file and check it against the contract of table `name`."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such table file")
    try:
        table = pq.read_table(path)
    except pa.ArrowException as exc:  # not Parquet, truncated, or a folder of something else
        raise ValueError(f"{path}: not a readable Parquet table ({exc})") from None
    return validate(table, name, source=str(path))
