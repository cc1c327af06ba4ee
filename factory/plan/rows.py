"""What every planner builds its task rows from: the job's inputs (real images, accepted prompts,
fingerprints) and the row helpers (seeds and draws from each row's own key hashes, constant
columns, params JSON).

Every random draw comes from a hash of the row's own keys and the plan seed, so one image's draws
do not depend on which other images the dataset holds.
"""

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from factory.plan.hashing import (
    choose,
    constant_lanes,
    lane_columns,
    row_lanes,
    uniform,
    with_lanes,
)
from factory.table_io import read_table
from schemas.generation_configs import GenerationJobConfig

SEED_BITS = np.uint64((1 << 62) - 1)

@dataclass
class PlanInputs:
    """What the planners read: real images of the chosen identities, prompts, fingerprints."""

    images: pl.DataFrame  # rows of the chosen splits (all roles), sorted by pid and image id
    clothing: pl.DataFrame  # key (outfit id), prompt: accepted clothing prompts
    captions: pl.DataFrame  # pid, caption: accepted identity captions
    adapters: object | None  # factory.diffusion.adapters.AdapterSet
    model_fingerprint: str
    parser_fingerprint: str | None
    skipped: dict[str, int]  # rejected prompt rows by kind


def _file_digest(path: Path) -> str:
    with open(path, "rb") as stream:
        return hashlib.file_digest(stream, "sha256").hexdigest()[:16]


def _accepted_prompts(config: GenerationJobConfig) -> tuple[pl.DataFrame, pl.DataFrame, dict]:
    prompts = pl.from_arrow(read_table(config.prompts, "prompts"))
    rejected = prompts.filter(pl.col("error").is_not_null())
    skipped = {kind: rejected.filter(pl.col("kind") == kind).height
               for kind in ("clothing", "caption")}
    accepted = prompts.filter(pl.col("error").is_null()).unique(["kind", "key"], keep="first",
                                                                maintain_order=True)
    items = pl.col("items").list.join(", ").str.to_lowercase()  # DLCR: items joined, no template
    clothing = accepted.filter(pl.col("kind") == "clothing", pl.col("items").list.len() > 0)
    clothing = clothing.select("key", items.alias("prompt"))
    captions = accepted.filter(pl.col("kind") == "caption", pl.col("text").str.len_chars() > 0)
    bad_keys = captions.filter(~pl.col("key").str.contains(r"^-?\d+$"))
    if bad_keys.height:
        raise ValueError(f"{config.prompts}: caption key {bad_keys['key'][0]!r} is not a pid")
    captions = captions.select(pl.col("key").cast(pl.Int64).alias("pid"),
                               pl.col("text").alias("caption"))
    return clothing, captions, skipped


def load_inputs(config: GenerationJobConfig) -> PlanInputs:
    """Read and check the job's inputs; missing files and unusable rows are named."""
    from factory.diffusion.loader import model_fingerprint

    plan = config.plan
    images = pl.from_arrow(read_table(config.images, "images")).filter(
        pl.col("split").is_in(plan.splits), pl.col("origin") == "real", pl.col("pid") >= 0)
    if plan.max_identities is not None:
        pids = images["pid"].unique().sort().head(plan.max_identities)
        images = images.filter(pl.col("pid").is_in(pids.implode()))
    if images.is_empty():
        raise ValueError(f"{config.images}: no real images in splits {plan.splits}")
    clothing, captions, skipped = _accepted_prompts(config)
    adapters = None
    if config.adapters is not None:
        from factory.diffusion.adapters import load_adapter_set

        adapters = load_adapter_set(config.adapters)
    parser = None
    if config.method == "dlcr":
        parser = _file_digest(config.masks) if config.masks is not None else \
            model_fingerprint(config.parser)
    return PlanInputs(images=images.sort("pid", "image_id"), clothing=clothing,
                      captions=captions, adapters=adapters,
                      model_fingerprint=model_fingerprint(config.model),
                      parser_fingerprint=parser, skipped=skipped)


def seeds(frame: pl.DataFrame, keys: list[str], plan_seed: int) -> pl.Series:
    """A diffusion seed per row from its keys and the plan seed."""
    lanes = row_lanes(frame.with_columns(pl.lit(plan_seed).alias("plan_seed")),
                      [*keys, "plan_seed"])[1]
    return pl.Series("seed", (lanes & SEED_BITS).astype(np.int64))


def distinct_draws(lanes: np.ndarray, population: np.ndarray, count: int) -> np.ndarray:
    """(rows, count) distinct indices below each row's `population`, in random order (Floyd's
    algorithm, one vectorised step per column and no retries, then a shuffle of each row)."""
    chosen = np.empty((len(lanes), count), dtype=np.int64)
    for k in range(count):
        last = population - count + k
        draw = choose(lanes, k, last + 1)
        taken = (chosen[:, :k] == draw[:, None]).any(axis=1)
        chosen[:, k] = np.where(taken, last, draw)
    shuffle = np.argsort(np.stack([uniform(lanes, count + k) for k in range(count)], axis=1))
    return np.take_along_axis(chosen, shuffle, axis=1)


def with_constant(frame: pl.DataFrame, name: str, value) -> pl.DataFrame:
    """`frame` with column `name` set to `value` everywhere, its lanes hashed once."""
    first, second = constant_lanes(value, frame.height)
    lanes = dict(zip(lane_columns(name), (pl.Series(first), pl.Series(second)), strict=True))
    return frame.with_columns(pl.lit(value).alias(name), **lanes)


def training_identities(inputs: PlanInputs) -> pl.DataFrame:
    """pid and caption (null if none) of each identity with training images."""
    pids = inputs.images.filter(pl.col("role") == "train").select("pid").unique().sort("pid")
    return pids.join(inputs.captions, on="pid", how="left", maintain_order="left")


def pick(words: list[str], lanes: np.ndarray, draw: int) -> pl.Series:
    return pl.Series(words)[choose(lanes, draw, len(words))]


def params_json(config: GenerationJobConfig, extra: dict) -> str:
    return json.dumps(config.plan.recipe.model_dump() | extra, sort_keys=True)


def with_params(frame: pl.DataFrame, config: GenerationJobConfig, columns: list[str],
                 **extra) -> pl.DataFrame:
    """`frame` with each row's params JSON: the recipe plus the row's own knobs (few distinct
    values, so each JSON is written and hashed once per distinct combination)."""
    distinct = frame.select(columns).unique(maintain_order=True)
    texts = [params_json(config, extra | row) for row in distinct.iter_rows(named=True)]
    keyed = with_lanes(distinct.with_columns(pl.Series("params", texts)), "params")
    return frame.join(keyed, on=columns, how="left", maintain_order="left")
