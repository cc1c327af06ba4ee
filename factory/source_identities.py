"""Sources beyond a dataset's own images.

DiVE's identity expansion: the people of an RGB-only dataset (DiVE: Market-1501 identities with
at least 12 images) join a visible-infrared dataset's adaptation as one extra RGB camera, learn
their identity tokens beside its cameras, get generated images in the VI dataset's infrared
codes, and train as extra classes (their real RGB images + the synthetic IR ones).

Their pids move up by SOURCE_PID_OFFSET, so they never collide with the VI dataset's; the extra
camera is numbered SOURCE_CAMERA (0: no dataset numbers a camera 0), so with codes by camera its
code is "rgb0".

Generated images as sources (DLCR x DiVE): a DLCR job's `source_generated` names another job's
`generated` table, whose kept images DLCR changes the clothes of.
"""

import polars as pl

from factory.table_io import read_table

SOURCE_PID_OFFSET = 1_000_000
SOURCE_CAMERA = 0


def is_source_pid(pid: int) -> bool:
    return pid >= SOURCE_PID_OFFSET


def source_rows(path, *, min_images: int, identities: int | None = None) -> pl.DataFrame:
    """The training RGB images of the source identities, pids moved up, camera SOURCE_CAMERA:
    every identity with at least `min_images` of them, the first `identities` by pid (all when
    null). Raises, naming the table, when none qualifies."""
    table = pl.from_arrow(read_table(path, "images"))
    rows = table.filter(pl.col("role") == "train", pl.col("modality") == "rgb",
                        pl.col("pid") >= 0, pl.col("origin") == "real")
    counts = rows.group_by("pid").len().filter(pl.col("len") >= min_images).sort("pid")
    if identities is not None:
        counts = counts.head(identities)
    if counts.is_empty():
        raise ValueError(f"{path}: no identity has {min_images} or more RGB training images "
                         f"to add (DiVE's source identities)")
    return (rows.filter(pl.col("pid").is_in(counts["pid"].implode()))
            .with_columns(pl.col("pid") + SOURCE_PID_OFFSET,
                          pl.lit(SOURCE_CAMERA, pl.Int32).alias("camera"))
            .sort("image_id"))


def check_below_sources(pids: pl.Series, source: str) -> None:
    """A VI dataset's pids must stay below the source identities'."""
    if pids.len() and pids.max() >= SOURCE_PID_OFFSET:
        raise ValueError(f"{source}: pid {pids.max()} is not below {SOURCE_PID_OFFSET}, where "
                         "source identities start")


def generated_sources(config) -> pl.DataFrame:
    """The written images of a job's `source_generated` table (only those its `source_scores`
    kept, when given), sorted by image id; raises, naming the table, when none is left."""
    generated = pl.from_arrow(read_table(config.source_generated, "generated")).filter(
        pl.col("error").is_null())
    if config.source_scores is not None:
        kept = pl.from_arrow(read_table(config.source_scores, "scores")).filter(pl.col("kept"))
        generated = generated.join(kept.select("image_id"), on="image_id", how="semi")
    if generated.is_empty():
        raise ValueError(f"{config.source_generated}: no written (and kept) image to use as a "
                         "source")
    return generated.sort("image_id")
