"""A whole generation job: describe -> plan -> generate -> filter (ARCHITECTURE.md).

`run_job(config)` runs the stages in order; each one skips what is already committed, so a killed
job run again picks up where it stopped (`factory.laptop.smoke.smoke_job` makes any job one on
the toy world with the smoke models).
"""

from factory.local_ray import init_ray
from factory.pretrained.config_models import require_pulled
from factory.pretrained.hub import pinned_folder
from schemas.generation_configs import GenerationJobConfig

STAGES = ("describe", "plan", "generate", "filter")


def run_job(config: GenerationJobConfig, stages: tuple[str, ...] = STAGES, *,
            restart: bool = False) -> dict:
    """Run `stages` of the job in order; returns each stage's summary. A plan that drops
    committed tasks, or a filter with another scorer or thresholds than the scores so far, is
    refused; `restart` lets plan delete the job's outputs and filter its scores first."""
    unknown = sorted(set(stages) - set(STAGES))
    if unknown:
        raise ValueError(f"unknown stages {unknown}; valid: {list(STAGES)}")
    if "filter" in stages and config.scorer is None:
        raise ValueError("stage 'filter' needs `scorer`: a ReID checkpoint from `factory train`")
    config = pinned_models(config, stages)
    if {"generate", "filter"} & set(stages):  # describe starts Ray itself when it needs it
        init_ray()
    summary = {}
    if "describe" in stages:
        from factory.describe import run_describe

        table = run_describe(config.describe, config.images, config.prompts)
        summary["describe"] = {"prompts": table.num_rows,
                               "failed": table.num_rows - table.column("error").null_count}
    if "plan" in stages:
        from factory.plan.stage import run_plan

        summary["plan"] = run_plan(config, restart=restart)
    if "generate" in stages:
        from factory.generate.stage import run_generate

        summary["generate"] = run_generate(config)
    if "filter" in stages:
        from factory.filter.stage import run_filter

        summary["filter"] = run_filter(config, restart=restart)
    return summary


def pinned_models(config: GenerationJobConfig, stages: tuple[str, ...]) -> GenerationJobConfig:
    """Check, before any work, that the hub models `stages` use are pulled (`factory models
    pull`); returns the config with the diffusion pipeline and parser named by their pinned
    snapshot folders, so plan fingerprints and the actors load the same files."""
    describes = "describe" in stages
    diffuses = bool({"plan", "generate"} & set(stages))
    refs = require_pulled("generation_job", config, fields=lambda field: describes
                          if field.startswith("describe.") else diffuses)
    return config.model_copy(update={ref.field: str(pinned_folder(ref.name, ref.field))
                                     for ref in refs if ref.source == "hub"
                                     and not ref.field.startswith("describe.")})
