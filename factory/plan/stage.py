"""The plan stage: the `tasks` table of a generation job, vectorised in polars (DESIGN 2-4).

A task's id hashes every input that changes its image (JOB_ID_INPUTS + TASK_ID_INPUTS: method,
recipe version, model and adapter fingerprints, negative prompt; identity, source image, target
modality and outfit, variant, seed, prompt and parameters), so re-planning the same job gives
the same ids and `generate` can skip the committed ones. Every random draw (target outfits,
diversity words, strengths, seeds) comes from a hash of the row's own keys and the plan seed, so
one image's draws do not depend on which other images the dataset holds.

- DLCR: each source image x N target outfits drawn from the OTHER outfits of the training set
  that have a clothing prompt; prompt = the target outfit's clothing items, joined.
- DiVE: each identity x target code x K images; image k of every code shares its seed.
- Diffusion-ReID: each identity x K images; LPE prompt (identity token + caption) plus one
  viewpoint, pose, background and illumination word; img2img strength or initial-noise factor.
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
    hex_ids,
    lane_columns,
    prefix_lanes,
    row_lanes,
    uniform,
    with_lanes,
)
from factory.table_io import read_table, write_table
from schemas.generation_configs import GenerationJobConfig
from schemas.tables import TASKS

# Bump a method's version when its code makes different images from the same task inputs.
RECIPE_VERSIONS = {"dlcr": 1, "dive": 1, "diffusion_reid": 1}
# The inputs every task of a job shares come first (hashed once), then each task's own.
JOB_ID_INPUTS = ["method", "recipe_version", "model_fingerprint", "adapter_fingerprint",
                 "negative_prompt"]
TASK_ID_INPUTS = ["pid", "source_image_id", "target_modality", "target_outfit", "variant", "seed",
                  "prompt", "params"]
# Text codes of the modalities when no adapter set names its own.
TEXT_CODES = {"rgb": "visible", "ir": "infrared"}
SEED_BITS = np.uint64((1 << 62) - 1)
TASKS_FILE = "tasks.parquet"


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
        parser = _file_digest(config.annotations) if config.annotations is not None else \
            model_fingerprint(config.parser)
    return PlanInputs(images=images.sort("pid", "image_id"), clothing=clothing,
                      captions=captions, adapters=adapters,
                      model_fingerprint=model_fingerprint(config.model),
                      parser_fingerprint=parser, skipped=skipped)


def _seeds(frame: pl.DataFrame, keys: list[str], plan_seed: int) -> pl.Series:
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


def plan_dlcr(inputs: PlanInputs, config: GenerationJobConfig) -> pl.DataFrame:
    settings = config.plan.dlcr
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
    frame = frame.with_columns(_seeds(frame, ["source_image_id", "variant"], config.plan.seed))
    return with_constant(frame, "params", _params_json(config, params))


def with_constant(frame: pl.DataFrame, name: str, value) -> pl.DataFrame:
    """`frame` with column `name` set to `value` everywhere, its lanes hashed once."""
    first, second = constant_lanes(value, frame.height)
    lanes = dict(zip(lane_columns(name), (pl.Series(first), pl.Series(second)), strict=True))
    return frame.with_columns(pl.lit(value).alias(name), **lanes)


def _identities(inputs: PlanInputs) -> pl.DataFrame:
    """pid and caption (null if none) of each identity with training images."""
    pids = inputs.images.filter(pl.col("role") == "train").select("pid").unique().sort("pid")
    return pids.join(inputs.captions, on="pid", how="left", maintain_order="left")


def _code_text(inputs: PlanInputs, code: str) -> str:
    if inputs.adapters is not None:
        if code not in inputs.adapters.codes:
            raise ValueError(f"{inputs.adapters.path}: no code {code!r} in the adapter set; "
                             f"its codes: {sorted(inputs.adapters.codes)}")
        return inputs.adapters.codes[code]
    modality = code.rstrip("0123456789")
    camera = code[len(modality):]
    return TEXT_CODES[modality] + (f" camera {camera}" if camera else "")


def plan_dive(inputs: PlanInputs, config: GenerationJobConfig) -> pl.DataFrame:
    settings = config.plan.dive
    identities = _identities(inputs)
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
    frame = frame.with_columns(_seeds(frame, ["pid", "variant"], config.plan.seed))
    return _with_params(frame, config, ["code"])


def _pick(words: list[str], lanes: np.ndarray, draw: int) -> pl.Series:
    return pl.Series(words)[choose(lanes, draw, len(words))]


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
    identities = _identities(inputs).filter(pl.col("caption").is_not_null())
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
    words = [_pick(getattr(settings, name), lanes, draw) for draw, name in
             enumerate(("viewpoints", "poses", "backgrounds", "illuminations"))]
    pieces = [pl.lit("a photo of "), person, pl.lit(", "), pl.col("caption")]
    for word in words:
        pieces += [pl.lit(", "), pl.lit(word)]
    frame = with_constant(frame.with_columns(prompt=pl.concat_str(pieces)), "target_outfit", None)
    if settings.mode == "img2img":
        frame = pl.concat([frame, _sources(inputs, frame, lanes)], how="horizontal")
        frame = frame.with_columns(strength=_pick(settings.strengths, lanes, 4))
        knobs = ["strength"]
    else:
        low, high = settings.noise_scale
        grid = np.round(np.linspace(low, high, 11), 3)  # few levels: a small params vocabulary
        frame = frame.with_columns(noise_scale=pl.Series(grid)[choose(lanes, 5, len(grid))])
        for name, value in (("source_image_id", None), ("source_path", None),
                            ("target_modality", "rgb")):
            frame = with_constant(frame, name, value)
        knobs = ["noise_scale"]
    frame = frame.with_columns(_seeds(frame, ["pid", "variant"], config.plan.seed))
    return _with_params(frame, config, knobs, mode=settings.mode)


PLANNERS = {"dlcr": plan_dlcr, "dive": plan_dive, "diffusion_reid": plan_diffusion_reid}


def _params_json(config: GenerationJobConfig, extra: dict) -> str:
    return json.dumps(config.plan.recipe.model_dump() | extra, sort_keys=True)


def _with_params(frame: pl.DataFrame, config: GenerationJobConfig, columns: list[str],
                 **extra) -> pl.DataFrame:
    """`frame` with each row's params JSON: the recipe plus the row's own knobs (few distinct
    values, so each JSON is written and hashed once per distinct combination)."""
    distinct = frame.select(columns).unique(maintain_order=True)
    texts = [_params_json(config, extra | row) for row in distinct.iter_rows(named=True)]
    keyed = with_lanes(distinct.with_columns(pl.Series("params", texts)), "params")
    return frame.join(keyed, on=columns, how="left", maintain_order="left")


def plan_tasks(config: GenerationJobConfig, inputs: PlanInputs | None = None) -> pl.DataFrame:
    """The job's tasks as a frame with the `tasks` table's columns, ids included."""
    inputs = inputs or load_inputs(config)
    frame = PLANNERS[config.method](inputs, config)
    constants = {  # in JOB_ID_INPUTS order
        "method": config.method, "recipe_version": RECIPE_VERSIONS[config.method],
        "model_fingerprint": inputs.model_fingerprint,
        "adapter_fingerprint": inputs.adapters.fingerprint if inputs.adapters else None,
        "negative_prompt": config.plan.recipe.negative_prompt}
    frame = frame.with_columns(pl.lit(value).alias(name) for name, value in constants.items())
    first, second = row_lanes(frame, TASK_ID_INPUTS, start=prefix_lanes(constants))
    if pl.Series(first).n_unique() != frame.height:  # one lane decides; the hex ids confirm
        ids = hex_ids(first, second)
        if ids.n_unique() != frame.height:
            duplicated = ids.filter(ids.is_duplicated())[0]
            raise ValueError(f"two planned tasks share the id {duplicated}: their inputs are "
                             f"equal")
    return frame.with_columns(task_id=hex_ids(first, second)).select(TASKS.names)


def tasks_path(config: GenerationJobConfig) -> Path:
    return Path(config.out) / TASKS_FILE


def run_plan(config: GenerationJobConfig) -> dict:
    """Plan the job and write `<out>/tasks.parquet` (validated, atomic); returns a summary."""
    inputs = load_inputs(config)
    tasks = plan_tasks(config, inputs)
    if tasks.is_empty():
        raise ValueError(f"{config.method}: nothing to plan (no identity has the prompts or "
                         f"identity tokens this method needs; see {config.prompts})")
    write_table(tasks.to_arrow(), tasks_path(config), "tasks")
    return {"tasks": tasks.height, "identities": tasks["pid"].n_unique(),
            "rejected_prompts": inputs.skipped, "path": str(tasks_path(config))}


def read_tasks(config: GenerationJobConfig) -> pl.DataFrame:
    path = tasks_path(config)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no tasks table; run `factory plan` first")
    return pl.from_arrow(read_table(path, "tasks"))
