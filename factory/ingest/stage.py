"""The ingest stage: a dataset on disk -> a validated `images` Parquet table, and its summary."""

from pathlib import Path

import polars as pl
import pyarrow as pa

from factory.ingest.datasets import read_dataset
from factory.table_io import write_table


def ingest(dataset: str, root: str | Path, out: str | Path, *, progress: bool = True,
           verify: bool = True) -> pa.Table:
    """Read `dataset` at `root` and write its `images` table to `out` (atomically). Every image
    is decoded (in parallel), so a truncated file fails here, named, instead of in training;
    `verify=False` reads only headers."""
    table = read_dataset(dataset, root, progress=progress, verify=verify)
    return write_table(table, out, "images")


def summarize(images: pa.Table) -> pl.DataFrame:
    """Counts per split, role and modality: ids, images, cameras and outfits."""
    frame = pl.from_arrow(images)
    return (
        frame.group_by("dataset", "split", "role", "modality")
        .agg(
            pl.col("pid").n_unique().alias("ids"),
            pl.len().alias("images"),
            pl.col("camera").n_unique().alias("cameras"),
            pl.col("outfit").drop_nulls().n_unique().alias("outfits"),
        )
        .sort("dataset", "split", "role", "modality")
    )
