"""Small generation jobs on the toy world with the smoke toy SD, for tests and bench scripts.

`toy_world_images` renders a toy world in a dataset layout and ingests it (its `images` table);
`toy_job` turns that table into a generation job: prompts from the toy world's own descriptions
(the describe stage's `attributes` backend, no LLM) and a tiny recipe for the smoke toy SD;
`images_in_bucket` copies a toy world into a bucket, its table's paths made URIs.
"""

from pathlib import Path

import polars as pl

from factory.describe.stage import run_describe
from factory.ingest.stage import ingest
from factory.laptop.toy_sd.build import toy_sd_path
from factory.laptop.toyworld.layouts import render_layout
from factory.laptop.toyworld.writer import world_root, world_tables
from factory.methods import METHODS
from factory.storage import ObjectPath, storage_path, upload
from factory.table_io import read_table, write_table
from schemas.configs import ToyWorldConfig
from schemas.describe_config import DescribeConfig
from schemas.generation_configs import GenerationJobConfig

TINY_RECIPE = {"height": 64, "width": 32, "steps": 2}


def toy_world_images(layout: str, folder: Path, *, seed: int = 0, identities: int = 8,
                     images_per_camera: int = 2) -> Path:
    """Render a toy world in `layout` under `folder` and write its `images` table there;
    returns the table's path."""
    config = ToyWorldConfig(layout=layout, seed=seed, train_identities=identities,
                            test_identities=identities, images_per_camera=images_per_camera,
                            workers=1)
    root = render_layout(config, Path(folder) / layout)
    table = Path(folder) / "images.parquet"
    ingest(layout, root, table, progress=False)
    return table


def toy_job(method: str, images: Path, toy_sd: Path, out: Path, **sections) -> GenerationJobConfig:
    """A job of `method` on the toy world whose `images` table is at `images`, writing to `out`
    (prompts written there once)."""
    prompts = storage_path(out) / "prompts.parquet"
    recipe = METHODS[method]
    frame = pl.from_arrow(read_table(images, "images"))
    tables = world_tables(world_root(frame["path"][0]))
    describe = DescribeConfig(kinds=list(recipe.prompt_kinds), descriptions=tables["descriptions"])
    if not prompts.exists():
        run_describe(describe, images, prompts)
    plan = {"recipe": TINY_RECIPE} | sections.pop("plan", {})
    return GenerationJobConfig(
        method=method, images=images, prompts=prompts, out=out,
        model=str(toy_sd_path(toy_sd, recipe.pipeline)),
        masks=tables["parsing_masks"] if recipe.pipeline == "inpaint" else None,
        describe=describe, plan=plan, **sections)


def images_in_bucket(images: Path, bucket: ObjectPath) -> ObjectPath:
    """The toy world whose `images` table is at `images` (as `toy_world_images` writes it)
    copied to `bucket`/data, and its table there with every path a URI; returns the table."""
    frame = pl.from_arrow(read_table(images, "images"))
    world = Path(frame["path"][0]).parents[2]
    while not (world / "images.parquet").exists() and world != world.parent:
        world = world.parent
    data = bucket / "data"
    upload(world, data)
    frame = frame.with_columns(pl.col("path").str.replace(str(world), str(data), literal=True))
    table = data / "images.parquet"
    write_table(frame.to_arrow(), table, "images")
    return table
