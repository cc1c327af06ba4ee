"""DiVE's planner: each identity x target code x K images; image k of every code shares its seed,
so an identity's RGB-IR pair differs only in modality. The identities are the dataset's own, the
adapter set's added ones (DiVE's expansion: people of an RGB-only dataset), or both. The prompt
is "a {code} photo of a <id_k> person" with identity tokens, else the identity's caption carries
who it is.
"""

import numpy as np
import polars as pl

from factory.plan.hashing import with_lanes
from factory.plan.rows import PlanInputs, seeds, training_identities, with_constant, with_params
from factory.source_identities import is_source_pid
from schemas.generation_configs import GenerationJobConfig

# Text codes of the modalities when no adapter set names its own.
TEXT_CODES = {"rgb": "visible", "ir": "infrared"}


def _code_text(inputs: PlanInputs, code: str) -> str:
    if inputs.adapters is not None:
        if code not in inputs.adapters.codes:
            raise ValueError(f"{inputs.adapters.path}: no code {code!r} in the adapter set; "
                             f"its codes: {sorted(inputs.adapters.codes)}")
        return inputs.adapters.codes[code]
    modality = code.rstrip("0123456789")
    camera = code[len(modality):]
    return TEXT_CODES[modality] + (f" camera {camera}" if camera else "")


def _identities(inputs: PlanInputs, config: GenerationJobConfig) -> pl.DataFrame:
    """pid and caption of the identities to make images of (`plan.dive.identities`)."""
    chosen = config.plan.dive.identities
    own = training_identities(inputs)
    if chosen == "dataset":
        return own
    if inputs.adapters is None or inputs.adapters.source is None:
        raise ValueError(f"plan.dive.identities {chosen!r} needs an adapter set with added "
                         f"identities (adapt with `source_images`); {config.adapters} has none")
    added = sorted(pid for pid in inputs.adapters.tokens if is_source_pid(pid))
    source = pl.DataFrame({"pid": added, "caption": [None] * len(added)},
                          schema={"pid": pl.Int64, "caption": pl.String})
    return source if chosen == "source" else pl.concat([own, source])


def plan_dive(inputs: PlanInputs, config: GenerationJobConfig) -> pl.DataFrame:
    settings = config.plan.dive
    identities = _identities(inputs, config)
    targets = pl.DataFrame({"code": settings.targets}).with_columns(
        pl.col("code").str.extract(r"^(rgb|ir)").alias("target_modality"),
        pl.col("code").map_elements(lambda code: _code_text(inputs, code),
                                    return_dtype=pl.String).alias("text"))
    if inputs.adapters is not None:  # "a {code} photo of a <id_k> person", per (pid, code)
        identities = identities.filter(pl.col("pid").is_in(list(inputs.adapters.tokens)))
        prompts = identities.join(targets, how="cross").with_columns(
            prompt=pl.struct("pid", "text").map_elements(
                lambda row: inputs.adapters.prompt(row["pid"], row["text"]),
                return_dtype=pl.String))
    else:  # no identity tokens: the identity's caption carries who it is
        prompts = identities.filter(pl.col("caption").is_not_null()).join(targets, how="cross")
        prompts = prompts.with_columns(prompt=pl.format("a {} photo of a person, {}", "text",
                                                        "caption"))
    prompts = with_lanes(prompts, "prompt", "target_modality")
    variants = pl.DataFrame({"variant": np.arange(settings.images_per_target)})
    frame = prompts.join(variants, how="cross", maintain_order="left_right")
    for name in ("source_image_id", "source_path", "target_outfit"):  # text-to-image
        frame = with_constant(frame, name, None)
    frame = frame.with_columns(seeds(frame, ["pid", "variant"], config.plan.seed))
    return with_params(frame, config, ["code"])
