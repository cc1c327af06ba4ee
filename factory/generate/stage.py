"""The generate stage: the pending tasks through a method's actor pool on Ray Data.

    tasks.parquet - committed task ids -> ray.data blocks
      -> map_batches(decode_sources)     CPU tasks: source images decoded and resized
                                         (methods that read them)
      -> map_batches(<method class>, ActorPoolStrategy(size=actors), num_gpus, batch_size)
                                         the models only: pixels out
      -> ManifestSink                    CPU: images encoded, written (temp name, then
                                         rename), then per-block manifests

Every row's `timings` give its share of each step, the actor's busy and idle time included
(`manifest.actor_busy_share`, in the summary).

Resume is re-plan minus committed: a killed job run again skips every task with a committed
row and redoes the rest, ending with exactly one committed image (or failure row) per task.
"""

import json
import time

import polars as pl

from factory.config_paths import resolve_model, resolve_paths
from factory.generate.image_stages import decode_sources
from factory.generate.manifest import (
    FAILED_DIR,
    GENERATED_DIR,
    ManifestSink,
    actor_busy_share,
    clear_leftovers,
    committed_task_ids,
    deduplicate_parts,
    remove_orphans,
)
from factory.methods import method
from factory.plan.stage import read_tasks
from factory.storage import storage_path
from schemas.generation_configs import GenerationJobConfig

# Blocks per actor at least, so the pool stays busy to the end of a small job.
BLOCKS_PER_ACTOR = 4
# Decoding a block's sources and encoding and writing its images are light per-image CPU work; a
# fraction of a CPU lets them run beside the actors that hold the rest.
IMAGE_STAGE_CPUS = 0.25


def absolute(config: GenerationJobConfig) -> GenerationJobConfig:
    """The config with its local paths made absolute, as Ray workers may run elsewhere; the
    inputs every stage after describe reads must exist."""
    config = resolve_paths(config, inputs=("images", "masks", "adapters"),
                           outputs=("prompts", "out", "scorer"))
    return config.model_copy(update={"model": resolve_model(config.model)})


def pending_tasks(config: GenerationJobConfig) -> tuple[pl.DataFrame, int]:
    """(tasks without a committed row, number of tasks planned)."""
    tasks = read_tasks(config)
    methods = tasks["method"].unique().to_list()
    if methods != [config.method]:
        raise ValueError(f"{config.out}/tasks.parquet holds {methods} tasks, the config's method "
                         f"is {config.method!r}; run `factory plan` with this config")
    committed = committed_task_ids(storage_path(config.out))
    return tasks.join(committed, on="task_id", how="anti", maintain_order="left"), tasks.height


def check_plan_matches(config: GenerationJobConfig, pending: pl.DataFrame) -> None:
    """Pending tasks must have been planned for the model and pipeline settings the actors will
    load, or their lineage would lie: a changed config needs a new plan."""
    from factory.diffusion.loader import model_fingerprint

    fingerprint = model_fingerprint(config.model)
    planned = sorted(set(pending["model_fingerprint"].unique()) - {fingerprint})
    if planned:
        raise ValueError(f"{config.out}/tasks.parquet: tasks planned for model fingerprint "
                         f"{planned[0]}, but {config.model} has {fingerprint}; run `factory plan`")
    recipe = config.plan.recipe
    for params in pending["params"].unique().to_list():
        for key in ("scheduler", "dtype"):
            if json.loads(params)[key] != getattr(recipe, key):
                raise ValueError(f"{config.out}/tasks.parquet: tasks planned with {key} "
                                 f"{json.loads(params)[key]!r}, the config says "
                                 f"{getattr(recipe, key)!r}; run `factory plan`")


def block_rows(settings, pending: int) -> int:
    """Rows per input block: whole batches, at most `manifest_rows` (a block is committed as a
    whole, so this bounds the work a crash loses), and enough blocks for every actor."""
    spread = -(-pending // (BLOCKS_PER_ACTOR * settings.actors))
    rows = min(settings.manifest_rows, spread)
    return max(settings.batch_size, -(-rows // settings.batch_size) * settings.batch_size)


def _blocks(pending: pl.DataFrame, rows: int) -> list:
    table = pending.to_arrow()
    return [table.slice(start, rows) for start in range(0, table.num_rows, rows)]


def run_generate(config: GenerationJobConfig) -> dict:
    """Generate every pending task of the job; returns counts and the wall time."""
    import ray

    config = absolute(config)
    out = storage_path(config.out)
    settings = config.generate
    cleared = clear_leftovers(out)
    pending, planned = pending_tasks(config)
    summary = {"planned": planned, "pending": pending.height, "cleared_temporary": cleared}
    start = time.perf_counter()
    if pending.height:
        check_plan_matches(config, pending)
        generator = method(config.method).load_generator()
        dataset = ray.data.from_arrow(_blocks(pending, block_rows(settings, pending.height)))
        if generator.reads_sources(config):
            dataset = dataset.map_batches(decode_sources, num_cpus=IMAGE_STAGE_CPUS,
                                          batch_size=settings.batch_size, batch_format="pyarrow")
        images = dataset.map_batches(
            generator, fn_constructor_kwargs={"config": config},
            compute=ray.data.ActorPoolStrategy(size=settings.actors),
            num_gpus=settings.gpus_per_actor, num_cpus=settings.cpus_per_actor,
            batch_size=settings.batch_size, batch_format="pyarrow")
        images.write_datasink(ManifestSink(out, config.image_format, settings.manifest_rows,
                                           jpeg_quality=settings.jpeg_quality),
                              ray_remote_args={"num_cpus": IMAGE_STAGE_CPUS})
    summary["seconds"] = round(time.perf_counter() - start, 3)
    summary["actor_busy_share"] = actor_busy_share(out)
    summary["duplicates_removed"] = sum(deduplicate_parts(out / folder, "generated", "task_id")
                                        for folder in (GENERATED_DIR, FAILED_DIR))
    summary["orphans_removed"] = remove_orphans(out, config.method)
    remaining, _ = pending_tasks(config)
    summary["committed"] = planned - remaining.height
    return summary
