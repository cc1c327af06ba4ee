"""Generation jobs on the toy world for the generation tests: prompts from the toy world's own
descriptions (the describe stage's `attributes` backend) and tiny recipes for the smoke toy SD."""

from pathlib import Path

import polars as pl

from factory.describe.requests import find_descriptions
from factory.describe.stage import run_describe
from factory.diffusion.toy_sd import toy_sd_path
from factory.table_io import read_table
from schemas.describe_config import DescribeConfig
from schemas.generation_configs import GenerationJobConfig

TINY_RECIPE = {"height": 64, "width": 32, "steps": 2}
KINDS = {"dlcr": ["clothing", "caption"], "dive": ["caption"], "diffusion_reid": ["caption"]}


def toy_job(method: str, images: Path, toy_sd: Path, out: Path, **sections) -> GenerationJobConfig:
    """A job of `method` on the toy world whose `images` table is at `images`, writing to `out`
    (prompts written there once)."""
    prompts = out / "prompts.parquet"
    describe = DescribeConfig(kinds=KINDS[method])
    if not prompts.exists():
        run_describe(describe, images, prompts)
    frame = pl.from_arrow(read_table(images, "images"))
    annotations = find_descriptions(frame, images, None)
    plan = {"recipe": TINY_RECIPE} | sections.pop("plan", {})
    kind = "inpaint" if method == "dlcr" else "text2img"
    return GenerationJobConfig(
        method=method, images=images, prompts=prompts, out=out,
        model=str(toy_sd_path(toy_sd, kind)), annotations=annotations if method == "dlcr" else None,
        describe=describe, plan=plan, **sections)
