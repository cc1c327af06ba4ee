"""The plan stage: the `tasks` table of a generation job, vectorised in polars.

A task's id hashes every input that changes its image (JOB_ID_INPUTS + TASK_ID_INPUTS: method,
recipe version, model and adapter fingerprints, negative prompt; identity, source image, target
modality and outfit, variant, seed, prompt and parameters), so re-planning the same job gives
the same ids and `generate` can skip the committed ones. Each method's planner
(`factory.methods.METHODS`: `plan/dlcr.py`, `plan/dive.py`, `plan/diffusion_reid.py`) makes the
rows from the inputs `plan.rows` reads.
"""

import json
from pathlib import Path

import polars as pl

from factory.methods import method
from factory.plan.hashing import hex_ids, prefix_lanes, row_lanes
from factory.plan.rows import PlanInputs, load_inputs
from factory.run_record import differences
from factory.storage import rmtree, storage_path
from factory.table_io import read_table, write_table
from schemas.config_base import ConfigError
from schemas.generation_configs import GenerationJobConfig
from schemas.tables import TASKS

# The inputs every task of a job shares come first (hashed once), then each task's own.
JOB_ID_INPUTS = ["method", "recipe_version", "model_fingerprint", "adapter_fingerprint",
                 "negative_prompt"]
TASK_ID_INPUTS = ["pid", "source_image_id", "target_modality", "target_outfit", "variant", "seed",
                  "prompt", "params"]
TASKS_FILE = "tasks.parquet"


def plan_tasks(config: GenerationJobConfig, inputs: PlanInputs | None = None) -> pl.DataFrame:
    """The job's tasks as a frame with the `tasks` table's columns, ids included."""
    inputs = inputs or load_inputs(config)
    recipe = method(config.method)
    frame = recipe.load_planner()(inputs, config)
    constants = {  # in JOB_ID_INPUTS order
        "method": config.method, "recipe_version": recipe.recipe_version,
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
    return storage_path(config.out) / TASKS_FILE


def run_plan(config: GenerationJobConfig, *, restart: bool = False) -> dict:
    """Plan the job and write `<out>/tasks.parquet` (validated, atomic); returns a summary.
    A plan that would leave committed images of tasks it no longer holds is refused (they would
    reach the filter and training), listing what changed; `restart` deletes them first."""
    inputs = load_inputs(config)
    tasks = plan_tasks(config, inputs)
    if tasks.is_empty():
        raise ValueError(f"{config.method}: nothing to plan (no identity has the prompts or "
                         f"identity tokens this method needs; see {config.prompts})")
    check_replan(config, tasks, restart=restart)
    write_table(tasks.to_arrow(), tasks_path(config), "tasks")
    return {"tasks": tasks.height, "identities": tasks["pid"].n_unique(),
            "rejected_prompts": inputs.skipped, "path": str(tasks_path(config))}


def check_replan(config: GenerationJobConfig, tasks: pl.DataFrame, *, restart: bool) -> None:
    """Refuse a plan that drops committed tasks (see `run_plan`), or with `restart` delete the
    job's outputs (images, manifests, scores) so it starts over."""
    from factory.generate.manifest import committed_task_ids, output_folders

    out = storage_path(config.out)
    if restart:
        for path in output_folders(out):
            if path.is_dir():
                rmtree(path)
            else:
                path.unlink()
        return
    stale = committed_task_ids(out).join(tasks.select("task_id"), on="task_id", how="anti")
    if stale.is_empty():
        return
    before = read_tasks(config) if tasks_path(config).is_file() else None
    changed = "; ".join(plan_differences(before, tasks)) if before is not None else \
        "no earlier tasks table"
    raise ConfigError(f"{out}: {stale.height} committed image(s) were made by another plan "
                      f"({changed}); they would stay and reach the filter and training: plan "
                      f"into another `out`, or start this one over with --restart")


def plan_differences(before: pl.DataFrame, after: pl.DataFrame) -> list[str]:
    """What changed between two plans: the job-wide task inputs and recipe parameters that
    differ (`name: old -> new`), else that the identities, sources or prompts did."""
    def values(tasks: pl.DataFrame, column: str) -> list:
        return sorted(tasks[column].drop_nulls().unique().to_list())

    shared = [column for column in JOB_ID_INPUTS if column in before.columns]  # the rest: params
    changed = [f"{column}: {values(before, column)} -> {values(after, column)}"
               for column in shared if values(before, column) != values(after, column)]
    if before.height and after.height:
        changed += differences({f"params.{key}": value for key, value in
                                json.loads(before["params"][0]).items()},
                               {f"params.{key}": value for key, value in
                                json.loads(after["params"][0]).items()})
    return changed or ["the identities, source images or prompts planned"]


def read_tasks(config: GenerationJobConfig) -> pl.DataFrame:
    path = tasks_path(config)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no tasks table; run `factory plan` first")
    return pl.from_arrow(read_table(path, "tasks"))
