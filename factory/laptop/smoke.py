"""Smoke jobs: any generation job made tiny, on the toy world or on its own data.

`smoke_job(config, out)` renders the toy world in the method's toy layout (`factory.methods`),
builds the smoke toy SD and trains a smoke ReID scorer (Ray Train), all under `out`, and points
the job at them with the tiny recipe of the `generation` smoke preset (`factory.laptop.presets`);
`out` may be a bucket, then the job shares nothing with the machine that made it but the bucket.
`stand_in_job(config, models)` keeps the job's own data, scorer and adapters and swaps every model
it names for the tiny random stand-ins in `models` (`factory models tiny`), at the same tiny
recipe, with the describe engines on CPU: the real path of a job, checked on a laptop.
"""

import tempfile
from pathlib import Path

from factory.laptop.presets import smoke_preset
from factory.laptop.stand_ins import build_stand_ins, stand_in_overrides
from factory.laptop.stand_ins.vlm import cpu_vlm_settings
from factory.laptop.tiny_llm import CPU_ENGINE_SETTINGS
from factory.methods import method
from factory.storage import ObjectPath, storage_path
from schemas.config_base import apply_overrides
from schemas.generation_configs import GenerationJobConfig


def smoke_job(config: GenerationJobConfig, out: "str | Path | ObjectPath") -> GenerationJobConfig:
    """The job of `config` made on the toy world with smoke models, everything under `out`.

    `out` may be a bucket (`s3://...`): the toy world, its tables and the toy SD are made in a
    local staging folder and put into the bucket once (the images table's paths then name the
    bucket), and the scorer trains with its storage in the bucket, so the nodes of a cluster
    share nothing but the bucket."""
    from factory.laptop.toy_sd.build import INPAINT_DIR, SD_DIR
    from factory.laptop.toyworld.writer import world_tables
    from factory.train.run import train
    from schemas.configs import TrainConfig

    out = storage_path(out).resolve()
    recipe = method(config.method)
    layout = recipe.toy_layout
    if isinstance(out, ObjectPath):
        images, toy_sd = _toy_inputs_in_bucket(layout, out)
    else:
        images, toy_sd = _toy_inputs(layout, out)
    root = out / "data" / layout
    kind = recipe.pipeline
    scorer, _ = train(TrainConfig(images=images, storage_path=out / "runs",
                                  name=f"scorer-{layout}", **smoke_preset("train")))
    tables = world_tables(root)
    paths = {"images": str(images), "prompts": str(out / "tables" / f"{layout}.prompts.parquet"),
             "out": str(out / "generation" / config.method),
             "model": str(toy_sd / (INPAINT_DIR if kind == "inpaint" else SD_DIR)),
             "adapters": None, "masks": str(tables["parsing_masks"]) if kind == "inpaint" else None,
             "parser": None, "scorer": str(scorer), "describe.backend": "attributes",
             "describe.vlm_backend": "attributes",  # the toy world's own words, no VLM
             "describe.descriptions": str(tables["descriptions"])}
    if config.method != "dlcr":
        paths["describe.kinds"] = ["caption"]  # the layouts without outfit labels
    return apply_overrides(GenerationJobConfig, config, preset=smoke_preset("generation") | paths,
                           source=f"smoke job in {out}")


def _toy_inputs(layout: str, out: Path) -> tuple[Path, Path]:
    """(the `images` table of the toy world rendered in `layout`, the smoke toy SD), under the
    local folder `out`; each made once."""
    from factory.ingest.stage import ingest
    from factory.laptop.toy_sd.build import build_toy_sd
    from factory.laptop.toyworld.layouts import render_layout
    from schemas.configs import ToyWorldConfig

    root = render_layout(ToyWorldConfig(layout=layout, train_identities=6, test_identities=4,
                                        workers=1), out / "data" / layout, progress=True)
    images = out / "tables" / f"{layout}.images.parquet"
    if not images.exists():
        ingest(layout, root, images, progress=False)
    return images, build_toy_sd(out / "models" / "toy-sd", size="smoke")


def _toy_inputs_in_bucket(layout: str, out: ObjectPath) -> tuple[ObjectPath, ObjectPath]:
    """`_toy_inputs` made locally and put under `out` in a bucket, each folder's completion
    marker put last, the images table (its paths rewritten to the bucket) last of all: a re-run
    finding the table there makes nothing again."""
    import polars as pl

    from factory.laptop.toy_sd.build import MANIFEST
    from factory.laptop.toyworld.writer import MARKER
    from factory.table_io import read_table, write_table

    images = out / "tables" / f"{layout}.images.parquet"
    toy_sd = out / "models" / "toy-sd"
    if images.exists() and (toy_sd / MANIFEST).exists():
        return images, toy_sd
    with tempfile.TemporaryDirectory(prefix="smoke-") as folder:
        staging = Path(folder).resolve()
        local_images, local_sd = _toy_inputs(layout, staging)
        _put_folder(local_sd, toy_sd, last=MANIFEST)
        _put_folder(staging / "data" / layout, out / "data" / layout, last=MARKER)
        frame = pl.from_arrow(read_table(local_images, "images")).with_columns(
            pl.col("path").str.replace(f"{staging}/", f"{out}/", literal=True))
        write_table(frame.to_arrow(), images, "images")
    return images, toy_sd


def _put_folder(local: Path, target: ObjectPath, *, last: str) -> None:
    """Put every file of the folder `local` under `target`, the file `last` (below `local`)
    after all the others, so its presence says the folder is whole."""
    files = [path for path in local.rglob("*") if path.is_file()]
    for file in sorted(files, key=lambda path: (path == local / last, path)):
        (target / file.relative_to(local).as_posix()).write_bytes(file.read_bytes())


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
