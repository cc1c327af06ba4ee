"""A whole generation job: describe -> plan -> generate -> filter (DESIGN section 2).

`run_job(config)` runs the stages in order; each one skips what is already committed, so a killed
job run again picks up where it stopped. `smoke_job(config, out)` turns any job config into one
on the toy world with the smoke models: it renders the toy world in the method's layout, builds
the smoke toy SD and trains a smoke ReID scorer (Ray Train), all under `out`.
"""

from pathlib import Path

from schemas.generation_configs import SMOKE_OVERRIDES, GenerationJobConfig, with_overrides

STAGES = ("describe", "plan", "generate", "filter")
# The toy layout each method runs on in a smoke job.
SMOKE_LAYOUTS = {"dlcr": "ltcc", "dive": "sysu_mm01", "diffusion_reid": "market1501"}
# A ReID scorer in a minute of CPU (TrainConfig fields).
SMOKE_SCORER = {"arch": "resnet10", "height": 64, "width": 32, "epochs": 2, "p": 4, "k": 2,
                "max_steps_per_epoch": 2, "warmup_epochs": 0}


def run_job(config: GenerationJobConfig, stages: tuple[str, ...] = STAGES) -> dict:
    """Run `stages` of the job in order; returns each stage's summary."""
    unknown = sorted(set(stages) - set(STAGES))
    if unknown:
        raise ValueError(f"unknown stages {unknown}; valid: {list(STAGES)}")
    if "filter" in stages and config.scorer is None:
        raise ValueError("stage 'filter' needs `scorer`: a ReID checkpoint from `factory train`")
    summary = {}
    if "describe" in stages:
        from factory.describe import run_describe

        table = run_describe(config.describe, config.images, config.prompts)
        summary["describe"] = {"prompts": table.num_rows,
                               "failed": table.num_rows - table.column("error").null_count}
    if "plan" in stages:
        from factory.plan.stage import run_plan

        summary["plan"] = run_plan(config)
    if "generate" in stages:
        from factory.generate.stage import run_generate

        summary["generate"] = run_generate(config)
    if "filter" in stages:
        from factory.filter.stage import run_filter

        summary["filter"] = run_filter(config)
    return summary


def smoke_job(config: GenerationJobConfig, out: Path) -> GenerationJobConfig:
    """The job of `config` made on the toy world with smoke models, everything under `out`."""
    from factory.ingest.stage import ingest
    from factory.laptop.toy_sd.build import build_toy_sd, toy_sd_path
    from factory.laptop.toyworld.layouts import render_layout
    from factory.laptop.toyworld.writer import world_tables
    from factory.train.run import train
    from schemas.configs import ToyWorldConfig, TrainConfig

    out = Path(out).resolve()
    layout = SMOKE_LAYOUTS[config.method]
    root = render_layout(ToyWorldConfig(layout=layout, train_identities=6, test_identities=4,
                                        workers=1), out / "data" / layout, progress=True)
    images = out / "tables" / f"{layout}.images.parquet"
    if not images.exists():
        ingest(layout, root, images, progress=False)
    toy_sd = build_toy_sd(out / "models" / "toy-sd", size="smoke")
    kind = "inpaint" if config.method == "dlcr" else "text2img"
    scorer, _ = train(TrainConfig(images=images, storage_path=out / "runs",
                                  name=f"scorer-{layout}", **SMOKE_SCORER))
    tables = world_tables(root)
    paths = {"images": str(images), "prompts": str(out / "tables" / f"{layout}.prompts.parquet"),
             "out": str(out / "generation" / config.method),
             "model": str(toy_sd_path(toy_sd, kind)),
             "adapters": None, "masks": str(tables["parsing_masks"]) if kind == "inpaint" else None,
             "parser": None, "scorer": str(scorer), "describe.backend": "attributes",
             "describe.descriptions": str(tables["descriptions"])}
    if config.method != "dlcr":
        paths["describe.kinds"] = ["caption"]  # the layouts without outfit labels
    return with_overrides(config, SMOKE_OVERRIDES | paths, source=f"smoke job in {out}")
