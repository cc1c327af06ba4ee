"""DLCR's planner: each source image x N target outfits drawn from the OTHER outfits of the
training set that have a clothing prompt; prompt = the target outfit's clothing items, joined.

DLCR x DiVE: the sources may be another job's generated images (`source_generated`, e.g. DiVE's
identity-consistent RGB and IR people); their targets are every clothing prompt, and with the
DiVE adapter set each prompt starts with the source's own ("a infrared photo of a <id_k>
person") before the clothing items.
"""

import numpy as np
import polars as pl

from factory.parsing.parser import parser_labels
from factory.plan.hashing import row_lanes, with_lanes
from factory.plan.rows import PlanInputs, distinct_draws, params_json, seeds, with_constant
from factory.source_identities import generated_sources
from schemas.generation_configs import GenerationJobConfig


def _candidates(inputs: PlanInputs, config: GenerationJobConfig) -> pl.DataFrame:
    """Target outfits (key, prompt, target index): those of the training set with a clothing
    prompt; with generated sources, every clothing prompt (any clothes-changing dataset's)."""
    clothing = inputs.clothing
    if config.source_generated is None:
        training = inputs.images.filter(pl.col("role") == "train")
        clothing = clothing.join(training.select(pl.col("outfit").alias("key")).unique(),
                                 on="key", how="semi")
    candidates = clothing.sort("key").with_row_index("target")
    if candidates.height < 2:
        raise ValueError(f"{config.prompts}: DLCR needs clothing prompts of at least 2 "
                         f"outfits; {candidates.height} found")
    return candidates


def _sources(inputs: PlanInputs, config: GenerationJobConfig,
             candidates: pl.DataFrame) -> pl.DataFrame:
    """The images whose clothes change, with their own outfit's target index (null: none of
    the candidates) and, for generated sources, their own prompt."""
    columns = ["pid", "own", "source_image_id", "source_path", "target_modality"]
    if config.source_generated is not None:  # DLCR x DiVE: another job's images
        generated = generated_sources(config).with_columns(pl.lit(None, pl.UInt32).alias("own"))
        return generated.select(*columns[:2], pl.col("image_id").alias("source_image_id"),
                                pl.col("path").alias("source_path"),
                                pl.col("modality").alias("target_modality"),
                                pl.col("prompt").alias("source_prompt"))
    return inputs.images.filter(pl.col("role").is_in(config.plan.dlcr.source_roles)).join(
        candidates.select(pl.col("key").alias("outfit"), pl.col("target").alias("own")),
        on="outfit", how="left", maintain_order="left").select(
        "pid", "own", pl.col("image_id").alias("source_image_id"),
        pl.col("path").alias("source_path"), pl.col("modality").alias("target_modality"))


def plan_dlcr(inputs: PlanInputs, config: GenerationJobConfig) -> pl.DataFrame:
    settings = config.plan.dlcr
    if config.masks is None:
        parser_labels(config.parser)  # labels DLCR's rule cannot read fail here, not in an actor
    candidates = _candidates(inputs, config)
    sources = _sources(inputs, config, candidates)
    # Hash before expanding: each source and target is hashed once, not once per task.
    sources = with_lanes(sources, "source_image_id", "target_modality")
    targets = with_lanes(candidates.select(pl.col("key").alias("target_outfit"), "prompt"),
                         "target_outfit", "prompt")
    own = sources["own"].fill_null(-1).cast(pl.Int64).to_numpy()
    count = min(settings.targets_per_image, candidates.height - int((own >= 0).any()))
    lanes = row_lanes(sources.with_columns(plan_seed=pl.lit(config.plan.seed)),
                      ["source_image_id", "plan_seed"])[0]
    drawn = distinct_draws(lanes, candidates.height - (own >= 0), count)
    drawn += (own[:, None] >= 0) & (drawn >= own[:, None])  # skip the image's own outfit
    frame = pl.concat([sources.drop("own")[np.repeat(np.arange(sources.height), count)],
                       targets[drawn.ravel()]], how="horizontal")
    if "source_prompt" in frame.columns:  # the DiVE prompt (identity token, modality) first
        if inputs.adapters is not None:
            frame = with_lanes(frame.with_columns(
                prompt=pl.format("{}, {}", "source_prompt", "prompt")), "prompt")
        frame = frame.drop("source_prompt")
    frame = frame.with_columns(variant=pl.Series(np.tile(np.arange(count), sources.height)))
    params = {"strength": settings.strength, "parser": inputs.parser_fingerprint}
    frame = frame.with_columns(seeds(frame, ["source_image_id", "variant"], config.plan.seed))
    return with_constant(frame, "params", params_json(config, params))
