"""Smoke jobs: any generation job made tiny, on the toy world or on its own data.

`smoke_job(config, out)` renders the toy world in the method's toy layout (`factory.methods`),
builds the smoke toy SD and trains a smoke ReID scorer (Ray Train), all under `out`, and points
the job at them with the tiny recipe of the `generation` smoke preset (`factory.laptop.presets`).
`stand_in_job(config, models)` keeps the job's own data, scorer and adapters and swaps every model
it names for the tiny random stand-ins in `models` (`factory models tiny`), at the same tiny
recipe, with the describe engines on CPU: the real path of a job, checked on a laptop.
"""

from pathlib import Path

from factory.laptop.presets import smoke_preset
from factory.laptop.stand_ins import build_stand_ins, stand_in_overrides
from factory.laptop.stand_ins.vlm import cpu_vlm_settings
from factory.laptop.tiny_llm import CPU_ENGINE_SETTINGS
from factory.methods import method
from schemas.config_base import apply_overrides
from schemas.generation_configs import GenerationJobConfig


def smoke_job(config: GenerationJobConfig, out: Path) -> GenerationJobConfig:
    """The job of `config` made on the toy world with smoke models, everything under `out`."""
    from factory.ingest.stage import ingest
    from factory.laptop.toy_sd.build import build_toy_sd, toy_sd_path
    from factory.laptop.toyworld.layouts import render_layout
    from factory.laptop.toyworld.writer import world_tables
    from factory.train.run import train
    from schemas.configs import ToyWorldConfig, TrainConfig

    out = Path(out).resolve()
    recipe = method(config.method)
    layout = recipe.toy_layout
    root = render_layout(ToyWorldConfig(layout=layout, train_identities=6, test_identities=4,
                                        workers=1), out / "data" / layout, progress=True)
    images = out / "tables" / f"{layout}.images.parquet"
    if not images.exists():
        ingest(layout, root, images, progress=False)
    toy_sd = build_toy_sd(out / "models" / "toy-sd", size="smoke")
    kind = recipe.pipeline
    scorer, _ = train(TrainConfig(images=images, storage_path=out / "runs",
                                  name=f"scorer-{layout}", **smoke_preset("train")))
    tables = world_tables(root)
    paths = {"images": str(images), "prompts": str(out / "tables" / f"{layout}.prompts.parquet"),
             "out": str(out / "generation" / config.method),
             "model": str(toy_sd_path(toy_sd, kind)),
             "adapters": None, "masks": str(tables["parsing_masks"]) if kind == "inpaint" else None,
             "parser": None, "scorer": str(scorer), "describe.backend": "attributes",
             "describe.vlm_backend": "attributes",  # the toy world's own words, no VLM
             "describe.descriptions": str(tables["descriptions"])}
    if config.method != "dlcr":
        paths["describe.kinds"] = ["caption"]  # the layouts without outfit labels
    return apply_overrides(GenerationJobConfig, config, preset=smoke_preset("generation") | paths,
                           source=f"smoke job in {out}")


def stand_in_job(config: GenerationJobConfig, models: Path, overrides: list[str] = (),
                 *, source: str = "") -> GenerationJobConfig:
    """The job of `config` on its own data with every model swapped for the stand-ins in
    `models` (built there when missing); `overrides` (`--set` lines) still win."""
    build_stand_ins(Path(models))
    swaps = dict(line.split("=", 1) for line in stand_in_overrides(models, config.method))
    engines = {f"describe.{key}": value
               for key, value in (CPU_ENGINE_SETTINGS | cpu_vlm_settings()).items()}
    return apply_overrides(GenerationJobConfig, config, list(overrides),
                           preset=smoke_preset("generation") | engines | swaps,
                           source=f"{source} (stand-ins in {models})")
