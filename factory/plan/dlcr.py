"""DLCR's planner: each source image x N target outfits drawn from the OTHER outfits of the
training set that have a clothing prompt; prompt = the target outfit's clothing items, joined.
"""

import numpy as np
import polars as pl

from factory.parsing.parser import parser_labels
from factory.plan.hashing import row_lanes, with_lanes
from factory.plan.rows import PlanInputs, distinct_draws, params_json, seeds, with_constant
from schemas.generation_configs import GenerationJobConfig


def plan_dlcr(inputs: PlanInputs, config: GenerationJobConfig) -> pl.DataFrame:
    settings = config.plan.dlcr
    if config.masks is None:
        parser_labels(config.parser)  # labels DLCR's rule cannot read fail here, not in an actor
    training = inputs.images.filter(pl.col("role") == "train")
    candidates = inputs.clothing.join(training.select(pl.col("outfit").alias("key")).unique(),
                                      on="key", how="semi").sort("key").with_row_index("target")
    if candidates.height < 2:
        raise ValueError(f"{config.prompts}: DLCR needs clothing prompts of at least 2 training "
                         f"outfits; {candidates.height} found")
    sources = inputs.images.filter(pl.col("role").is_in(settings.source_roles)).join(
        candidates.select(pl.col("key").alias("outfit"), pl.col("target").alias("own")),
        on="outfit", how="left", maintain_order="left").select(
        "pid", "own", pl.col("image_id").alias("source_image_id"),
        pl.col("path").alias("source_path"), pl.col("modality").alias("target_modality"))
    # Hash before expanding: each source and target is hashed once, not once per task.
    sources = with_lanes(sources, "source_image_id", "target_modality")
    targets = with_lanes(candidates.select(pl.col("key").alias("target_outfit"), "prompt"),
                         "target_outfit", "prompt")
    count = min(settings.targets_per_image, candidates.height - 1)
    own = sources["own"].fill_null(-1).cast(pl.Int64).to_numpy()
    lanes = row_lanes(sources.with_columns(plan_seed=pl.lit(config.plan.seed)),
                      ["source_image_id", "plan_seed"])[0]
    drawn = distinct_draws(lanes, candidates.height - (own >= 0), count)
    drawn += (own[:, None] >= 0) & (drawn >= own[:, None])  # skip the image's own outfit
    frame = pl.concat([sources.drop("own")[np.repeat(np.arange(sources.height), count)],
                       targets[drawn.ravel()]], how="horizontal")
    frame = frame.with_columns(variant=pl.Series(np.tile(np.arange(count), sources.height)))
    params = {"strength": settings.strength, "parser": inputs.parser_fingerprint}
    frame = frame.with_columns(seeds(frame, ["source_image_id", "variant"], config.plan.seed))
    return with_constant(frame, "params", params_json(config, params))
