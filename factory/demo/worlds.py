"""The demo's data: the toy world rendered in every real layout and read back by its real reader.

Each layout lands in `<out>/data/<layout>/` with `<out>/tables/<layout>.images.parquet`; a cached
world (same plan fingerprint) is reused. Diffusion-ReID also gets a second Market-1501 world of
another seed, whose people are the synthetic identities it pre-trains on (nobody in the target
world's test split).
"""

import time
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from factory.ingest.stage import ingest, summarize
from factory.laptop.toyworld.layouts import render_layout
from factory.laptop.toyworld.writer import world_tables
from schemas.configs import ToyWorldConfig

SOURCE_WORLD = "market1501_source"


@dataclass(frozen=True)
class World:
    config: ToyWorldConfig
    root: Path
    images: Path
    seconds: float

    @property
    def layout(self) -> str:
        return self.config.layout

    @property
    def descriptions(self) -> Path:
        """The world's `descriptions` table (what each image shows, in words)."""
        return world_tables(self.root)["descriptions"]

    @property
    def masks(self) -> Path:
        """The world's `parsing_masks` table (ground-truth LIP masks)."""
        return world_tables(self.root)["parsing_masks"]


def render_world(out: Path, name: str, toy: ToyWorldConfig) -> World:
    start = time.perf_counter()
    root = render_layout(toy, out / "data" / name)
    images = out / "tables" / f"{name}.images.parquet"
    ingest(toy.layout, root, images, progress=False)
    return World(toy, root, images, time.perf_counter() - start)


def render_worlds(out: Path, seed: int, world: dict, layouts: tuple[str, ...],
                  source_seed: int, *, done=lambda: None) -> dict[str, World]:
    """Every layout of `layouts`, plus the Diffusion-ReID identity source world; `done()` after
    each."""
    configs = {layout: ToyWorldConfig(layout=layout, seed=seed, **world) for layout in layouts}
    configs[SOURCE_WORLD] = ToyWorldConfig(layout="market1501", seed=source_seed, **world)
    worlds = {}
    for name, config in configs.items():
        worlds[name] = render_world(out, name, config)
        done()
    return worlds


def world_summary(worlds: dict[str, World]) -> pl.DataFrame:
    """Images, ids, cameras and outfits per layout, split, role and modality."""
    frames = [summarize(pl.read_parquet(world.images).to_arrow()).with_columns(
        pl.lit(name).alias("dataset")) for name, world in worlds.items()]
    return pl.concat(frames)
