"""Diffusion-ReID's planner: each identity x K images; LPE prompt (identity token + caption) plus
one viewpoint, pose, background and illumination word (diversity injection), and an img2img
strength or an initial-noise factor.
"""

import numpy as np
import polars as pl

from factory.plan.hashing import choose, row_lanes, with_lanes
from factory.plan.rows import (
    PlanInputs,
    pick,
    seeds,
    training_identities,
    with_constant,
    with_params,
)
from schemas.generation_configs import GenerationJobConfig


def _sources(inputs: PlanInputs, frame: pl.DataFrame, lanes: np.ndarray) -> pl.DataFrame:
    """A real training image of each row's identity, drawn from the row's lanes."""
    training = inputs.images.filter(pl.col("role") == "train").select(
        "pid", pl.col("image_id").alias("source_image_id"), pl.col("path").alias("source_path"),
        pl.col("modality").alias("target_modality"))
    counts = training.group_by("pid", maintain_order=True).len().with_columns(
        offset=pl.col("len").cum_sum() - pl.col("len"))
    spans = frame.select("pid").join(counts, on="pid", how="left", maintain_order="left")
    rows = spans["offset"].to_numpy() + choose(lanes, 10, spans["len"].to_numpy())
    return with_lanes(training, "source_image_id").drop("pid")[rows]


def plan_diffusion_reid(inputs: PlanInputs, config: GenerationJobConfig) -> pl.DataFrame:
    settings = config.plan.diffusion_reid
    identities = training_identities(inputs).filter(pl.col("caption").is_not_null())
    person = pl.lit("a person")
    if inputs.adapters is not None:  # LPE: the learned identity token joins the caption
        identities = identities.filter(pl.col("pid").is_in(list(inputs.adapters.tokens)))
        tokens = pl.Series([inputs.adapters.tokens[pid] for pid in identities["pid"]])
        identities = identities.with_columns(token=tokens)
        person = pl.format("a {} person", "token")
    variants = pl.DataFrame({"variant": np.arange(settings.images_per_identity)})
    frame = identities.join(variants, how="cross")
    lanes = row_lanes(frame.with_columns(pl.lit(config.plan.seed).alias("plan_seed")),
                      ["pid", "variant", "plan_seed"])[0]
    words = [pick(getattr(settings, name), lanes, draw) for draw, name in
             enumerate(("viewpoints", "poses", "backgrounds", "illuminations"))]
    pieces = [pl.lit("a photo of "), person, pl.lit(", "), pl.col("caption")]
    for word in words:
        pieces += [pl.lit(", "), pl.lit(word)]
    frame = with_constant(frame.with_columns(prompt=pl.concat_str(pieces)), "target_outfit", None)
    if settings.mode == "img2img":
        frame = pl.concat([frame, _sources(inputs, frame, lanes)], how="horizontal")
        frame = frame.with_columns(strength=pick(settings.strengths, lanes, 4))
        knobs = ["strength"]
    else:
        low, high = settings.noise_scale
        grid = np.round(np.linspace(low, high, 11), 3)  # few levels: a small params vocabulary
        frame = frame.with_columns(noise_scale=pl.Series(grid)[choose(lanes, 5, len(grid))])
        for name, value in (("source_image_id", None), ("source_path", None),
                            ("target_modality", "rgb")):
            frame = with_constant(frame, name, value)
        knobs = ["noise_scale"]
    frame = frame.with_columns(seeds(frame, ["pid", "variant"], config.plan.seed))
    return with_params(frame, config, knobs, mode=settings.mode, **injection_params(settings))


def injection_params(settings) -> dict:
    """The params of Diversity Injection inside denoising (`DiffusionReidPlanConfig.injection`;
    none: no key, so plans without it keep their task ids); `words`: how many comma-separated
    attribute words end the prompt."""
    if settings.injection == "none":
        return {}
    injection = {"kind": settings.injection, "at": settings.injection_at}
    if settings.injection == "noise":
        return {"injection": injection | {"noise": settings.injection_noise}}
    return {"injection": injection | {"words": 4}}
