"""Render a planned toy dataset to disk: images in parallel, then its per-image tables
(`descriptions`, `parsing_masks` and the laptop-only `toy_truth`) in `_toy/`.

Each image is written under a temporary name and renamed, and the folder is marked complete only
after everything is written, so an interrupted render is simply rendered again.
"""

import hashlib
import io
import json
import shutil
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path

import pyarrow as pa
from PIL import Image
from tqdm import tqdm

from factory.atomic import write_bytes, write_text
from factory.ingest.datasets.records import image_id
from factory.laptop.toyworld.render import encode_jpeg, encode_png, render
from factory.laptop.toyworld.world import (
    WORLD_VERSION,
    RenderRequest,
    make_camera,
    make_identity,
    make_outfit,
)
from factory.storage import storage_path
from factory.table_io import write_table
from schemas.tables import schema_for

CHUNK = 256
TOY_FOLDER = "_toy"
# The per-image tables the world writes beside each layout: {table name: file}.
TABLE_FILES = {name: f"{TOY_FOLDER}/{name}.parquet"
               for name in ("descriptions", "parsing_masks", "toy_truth")}
MARKER = f"{TOY_FOLDER}/complete.json"


@dataclass(frozen=True)
class Shot:
    """One image to render: where it goes and what it shows."""

    relative_path: str
    pid: int  # the id written in the file name (0 and -1 for distractors and junk)
    person: int  # the rendered person (differs from pid for distractors and junk)
    outfit: int
    camera: int
    modality: str
    frame: int


@dataclass
class LayoutPlan:
    """Everything a toy dataset holds: its images and its text files (id lists, indexes)."""

    dataset: str
    shots: list[Shot]
    files: dict[str, str] = field(default_factory=dict)


def _encode(image, suffix: str) -> bytes:
    if suffix in (".jpg", ".jpeg"):
        return encode_jpeg(image)
    if suffix == ".png":
        return encode_png(image)
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format=suffix.lstrip(".").upper())
    return buffer.getvalue()


def _annotation(dataset: str, shot: Shot, request: RenderRequest, mask) -> dict:
    return {
        "image_id": image_id(dataset, shot.relative_path),
        "relative_path": shot.relative_path,
        "pid": shot.pid,
        "outfit": f"{shot.pid}_{shot.outfit}",
        "camera": shot.camera,
        "modality": shot.modality,
        "identity_text": request.identity.describe(),
        "outfit_text": request.outfit.describe(),
        "items": request.outfit.items(),
        # the world's own text: no model, revision, prompt or seed wrote it
        "model": None, "revision": None, "prompt": None, "seed": None,
        "attributes": json.dumps({"identity": request.identity.attributes(),
                                  "outfit": request.outfit.attributes()}, sort_keys=True),
        "mask_png": encode_png(mask),
    }


def _render_chunk(job: tuple) -> list[dict]:
    dataset, root, seed, size, shots = job
    requests = [
        RenderRequest(make_identity(seed, shot.person), make_outfit(seed, shot.person, shot.outfit),
                      make_camera(seed, shot.camera, shot.modality), shot.frame)
        for shot in shots
    ]
    images, masks = render(requests, height=size[0], width=size[1])
    rows = []
    for shot, request, image, mask in zip(shots, requests, images, masks, strict=True):
        path = Path(root) / shot.relative_path
        write_bytes(path, _encode(image, path.suffix.lower()))
        rows.append(_annotation(dataset, shot, request, mask))
    return rows


def _chunks(plan: LayoutPlan, root: Path, seed: int, size: tuple[int, int]) -> Iterator[tuple]:
    for start in range(0, len(plan.shots), CHUNK):
        yield plan.dataset, str(root), seed, size, plan.shots[start:start + CHUNK]


def world_tables(root: str | Path) -> dict[str, Path]:
    """The per-image tables of the toy world rendered at `root`, by table name."""
    return {name: storage_path(root) / file for name, file in TABLE_FILES.items()}


def world_root(image_path: str | Path) -> Path:
    """The root of the rendered toy world that holds the image at `image_path`."""
    for folder in storage_path(image_path).parents:
        if (folder / MARKER).exists():
            return folder
    raise FileNotFoundError(f"{image_path}: not in a rendered toy world (no {MARKER} above it)")


def plan_fingerprint(plan: LayoutPlan, seed: int, size: tuple[int, int]) -> str:
    key = [WORLD_VERSION, seed, size, plan.files, TABLE_FILES]
    digest = hashlib.sha256(json.dumps(key).encode())
    for shot in plan.shots:
        digest.update(repr(shot).encode())
    return digest.hexdigest()[:16]


def _fresh_partial(root: Path, fingerprint: str) -> Path:
    """The folder an unfinished render of this plan goes to; one of another plan is removed."""
    partial = root.parent / f".{root.name}.partial"
    plan_file = partial / TOY_FOLDER / "plan.json"
    if partial.exists() and not (plan_file.exists() and plan_file.read_text() == fingerprint):
        shutil.rmtree(partial)
    write_text(plan_file, fingerprint)
    return partial


def write_plan(plan: LayoutPlan, root: Path, *, seed: int, size: tuple[int, int],
               workers: int = 2, progress: bool = False) -> Path:
    """Render `plan` into the folder `root`, which appears only once it is complete.

    A root already holding the same plan is left as it is (a cache); a root holding anything else
    is an error, never overwritten.
    """
    root = Path(root)
    fingerprint = plan_fingerprint(plan, seed, size)
    marker = root / MARKER
    if marker.exists() and json.loads(marker.read_text()).get("fingerprint") == fingerprint:
        return root
    if root.exists() and any(root.iterdir()):
        raise FileExistsError(f"{root}: folder exists and holds something else than this toy "
                              f"world; remove it or choose another output folder")
    partial = _fresh_partial(root, fingerprint)
    rows: list[dict] = []
    bar = tqdm(total=len(plan.shots), desc=f"rendering toy {plan.dataset}", unit="img",
               disable=not progress, mininterval=1.0)
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
        for chunk_rows in pool.map(_render_chunk, _chunks(plan, partial, seed, size)):
            rows.extend(chunk_rows)
            bar.update(len(chunk_rows))
    bar.close()
    for relative_path, text in plan.files.items():
        write_text(partial / relative_path, text)
    rows = pa.Table.from_pylist(rows)
    for name, file in TABLE_FILES.items():
        write_table(rows.select(schema_for(name).names), partial / file, name)
    write_text(partial / MARKER, json.dumps({"dataset": plan.dataset, "fingerprint": fingerprint,
                                             "images": len(plan.shots)}, indent=2))
    if root.exists():
        root.rmdir()
    partial.rename(root)
    return root
