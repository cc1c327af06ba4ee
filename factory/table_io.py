"""Read and write contract tables as Parquet, validated, never half-written."""

import os
import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from schemas import validate


def write_table(table: pa.Table, path: str | os.PathLike, name: str) -> pa.Table:
    """Validate `table` as table `name` and write it to `path` atomically (temp file, then rename).

    A crash or a bad table leaves any earlier file at `path` as it was.
    """
    path = Path(path)
    table = validate(table, name, source=str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        pq.write_table(table, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return table


def read_table(path: str | os.PathLike, name: str) -> pa.Table:
    """Read a Parquet file and check it against the contract of table `name`."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such table file")
    return validate(pq.read_table(path), name, source=str(path))
