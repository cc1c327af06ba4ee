"""Dataset readers: each turns a dataset's own on-disk layout into the `images` table."""

from pathlib import Path

import pyarrow as pa

from factory.datasets import market1501
from factory.datasets.records import DatasetError, images_table, require_dir

DATASETS = {
    "market1501": market1501.read,
}


def read_dataset(name: str, root: str | Path, *, progress: bool = False) -> pa.Table:
    """The `images` table of dataset `name` stored at `root`."""
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; valid datasets: {', '.join(sorted(DATASETS))}")
    root = require_dir(Path(root).resolve())
    return images_table(DATASETS[name](root), dataset=name, progress=progress)


__all__ = ["DATASETS", "DatasetError", "read_dataset"]
