"""The toy world's oracle: the perfect synthetic data of each method, rendered from the truth.

A generation job's `tasks` table says what each image should show; the toy world knows the
person, outfit, camera and frame behind every one of its images, so it can render exactly that:
- DLCR: the source image's person, camera, frame and pose in the target outfit (only the
  clothes change, as DLCR's inpainting means them to);
- DiVE: the task's person in their own outfit, seen by a camera of the target modality (the
  world's own infrared look) at a frame no real image shows;
- Diffusion-ReID: the task's person, clean, seen by one of the world's cameras at a new frame.
One image per task, at the world's own image size, with a `generated` table (model fingerprint
`toy-world-oracle`) that training reads as it reads the method's. Nothing filters it: every image
is right by construction. The demo trains a third arm on it, which tells the headroom a method
could capture from the share it did capture.
"""

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import polars as pl
import pyarrow as pa

from factory.atomic import write_bytes
from factory.ingest.datasets.records import image_id
from factory.laptop.toyworld.layouts import PLANS
from factory.laptop.toyworld.render import encode_png, render_one
from factory.laptop.toyworld.world import (
    RenderRequest,
    make_camera,
    make_identity,
    make_outfit,
    stable_uniforms,
)
from factory.laptop.toyworld.writer import Shot
from factory.plan.stage import TASKS_FILE
from factory.table_io import read_table, write_table
from schemas.configs import ToyWorldConfig
from schemas.tables import schema_for

ORACLE_MODEL = "toy-world-oracle"
GENERATED_FILE = "generated.parquet"
# Frames of the oracle's new views start here, past every frame a layout plans for real images.
NEW_FRAMES = 1_000_000


@dataclass(frozen=True)
class WorldTruth:
    """What the toy world rendered: the shot behind each image id, by the layout's plan."""

    config: ToyWorldConfig
    shots: dict[str, Shot]  # by image id
    outfit_shots: dict[str, Shot]  # one shot of each outfit key of the `images` table
    pid_shots: dict[int, list[Shot]]  # the shots of each dataset id, by outfit, camera, frame

    @classmethod
    def read(cls, config: ToyWorldConfig, images: Path) -> "WorldTruth":
        """The truth of the world `config` rendered, whose `images` table is at `images`."""
        plan = PLANS[config.layout](config)
        shots = {image_id(plan.dataset, shot.relative_path): shot for shot in plan.shots}
        table = pl.from_arrow(read_table(images, "images"))
        missing = table.filter(~pl.col("image_id").is_in(list(shots)))
        if not missing.is_empty():
            raise ValueError(f"{images}: image {missing['path'][0]} is not one the toy world "
                             f"{config.layout} of seed {config.seed} planned")
        first = table.filter(pl.col("outfit").is_not_null()).sort("image_id").group_by(
            "outfit", maintain_order=True).first()
        pid_shots = {}
        for shot in sorted(plan.shots, key=lambda shot: (shot.outfit, shot.camera, shot.frame)):
            pid_shots.setdefault(shot.pid, []).append(shot)
        return cls(config, shots, {row["outfit"]: shots[row["image_id"]]
                                   for row in first.iter_rows(named=True)}, pid_shots)

    def shot(self, source_image_id: str | None, task_id: str) -> Shot:
        if source_image_id not in self.shots:
            raise ValueError(f"task {task_id}: its source image {source_image_id} is not one "
                             f"of the toy world's ({self.config.layout}, seed {self.config.seed})")
        return self.shots[source_image_id]

    def person_shots(self, pid: int, task_id: str) -> list[Shot]:
        """The shots of the person behind dataset id `pid`."""
        shots = self.pid_shots.get(pid)
        if not shots:
            raise ValueError(f"task {task_id}: pid {pid} is nobody in the toy world "
                             f"({self.config.layout}, seed {self.config.seed})")
        return shots

    def cameras(self, modality: str) -> list[int]:
        return sorted({shot.camera for shot in self.shots.values() if shot.modality == modality})


def _outfit_change(task: dict, truth: WorldTruth) -> RenderRequest:
    """DLCR: the source image again, its person wearing the target outfit. The outfit keeps the
    source's session id, which (with person, camera and frame) fixes the pose."""
    seed, source = truth.config.seed, truth.shot(task["source_image_id"], task["task_id"])
    if task["target_outfit"] not in truth.outfit_shots:
        raise ValueError(f"task {task['task_id']}: target outfit {task['target_outfit']!r} is "
                         f"not one of the world's images table")
    target = truth.outfit_shots[task["target_outfit"]]
    outfit = replace(make_outfit(seed, target.person, target.outfit), outfit_id=source.outfit)
    return RenderRequest(make_identity(seed, source.person), outfit,
                         make_camera(seed, source.camera, source.modality), source.frame)


def _new_view(task: dict, truth: WorldTruth) -> RenderRequest:
    """DiVE, Diffusion-ReID: the task's person in one of their outfits, seen by a camera of the
    target modality at a new frame (each drawn from the task's id)."""
    seed, shots = truth.config.seed, truth.person_shots(task["pid"], task["task_id"])
    cameras = truth.cameras(task["target_modality"])
    if not cameras:
        raise ValueError(f"task {task['task_id']}: the toy world ({truth.config.layout}) has no "
                         f"{task['target_modality']} camera")
    outfits = sorted({shot.outfit for shot in shots})
    pick_outfit, pick_camera, frame = stable_uniforms("oracle", task["task_id"], count=3)
    person = shots[0].person
    return RenderRequest(make_identity(seed, person),
                         make_outfit(seed, person, outfits[int(pick_outfit * len(outfits))]),
                         make_camera(seed, cameras[int(pick_camera * len(cameras))],
                                     task["target_modality"]),
                         NEW_FRAMES + int(frame * NEW_FRAMES))


# What the perfect image of each method's task is.
ORACLES: dict[str, Callable[[dict, WorldTruth], RenderRequest]] = {
    "dlcr": _outfit_change,
    "dive": _new_view,
    "diffusion_reid": _new_view,
}


def _generated_row(task: dict, path: Path, seconds: float) -> dict:
    return {"task_id": task["task_id"], "image_id": image_id(f"oracle/{task['method']}", path.name),
            "path": str(path), "method": task["method"], "pid": task["pid"],
            "modality": task["target_modality"], "outfit": task["target_outfit"],
            "seed": task["seed"], "prompt": task["prompt"], "model_fingerprint": ORACLE_MODEL,
            "adapter_fingerprint": None, "timings": [("render", seconds)],
            "parents": [task["source_image_id"]] if task["source_image_id"] else [],
            "error": None}


def render_oracle(job: Path, world: ToyWorldConfig, images: Path, out: Path) -> Path:
    """Render the perfect image of every task of generation job `job` (planned on the toy world
    `world`, whose `images` table is at `images`) into the folder `out`; returns the path of its
    `generated` table. A folder holding every task already is reused; one holding other tasks is
    rendered again."""
    tasks = read_table(Path(job) / TASKS_FILE, "tasks").to_pylist()
    generated = Path(out) / GENERATED_FILE
    if generated.exists() and sorted(read_table(generated, "generated").column(
            "task_id").to_pylist()) == sorted(task["task_id"] for task in tasks):
        return generated
    shutil.rmtree(out, ignore_errors=True)
    truth = WorldTruth.read(world, images)
    rows = []
    for task in tasks:
        start = time.perf_counter()
        image, _ = render_one(ORACLES[task["method"]](task, truth), world.height, world.width)
        path = Path(out) / "images" / task["method"] / f"{task['task_id']}.png"
        write_bytes(path, encode_png(image))
        rows.append(_generated_row(task, path, time.perf_counter() - start))
    write_table(pa.Table.from_pylist(rows, schema=schema_for("generated")), generated,
                "generated")
    return generated
