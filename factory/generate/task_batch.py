"""What the three method classes share: a batch of tasks in, encoded images and manifest rows out.

A `TaskBatch` holds one batch of `tasks` rows. Steps record a row's failure with its reason
(unreadable source, empty mask, NaN or all-black output) instead of raising, so a bad row is
recorded in the manifest and never passed on, while the rest of the batch goes ahead. Images
leave the actor as encoded bytes (JPEG or PNG), never as arrays.
"""

import io
import json
import time
from collections import defaultdict
from contextlib import contextmanager

import numpy as np
import pyarrow as pa
from PIL import Image

from factory.image_files import ImageFileError, load_rgb

# Columns a method class returns: the `generated` columns it knows, the image bytes and the error.
# The manifest writer adds the image's id and path.
OUTPUT_SCHEMA = pa.schema([
    ("task_id", pa.string()), ("method", pa.string()), ("pid", pa.int64()),
    ("modality", pa.string()), ("outfit", pa.string()), ("seed", pa.int64()),
    ("prompt", pa.string()), ("model_fingerprint", pa.string()),
    ("adapter_fingerprint", pa.string()), ("timings", pa.map_(pa.string(), pa.float64())),
    ("parents", pa.list_(pa.string())), ("image", pa.binary()), ("error", pa.string()),
])
# Below this brightness (0-255) an image counts as all black, as diffusers' NaN outputs become.
BLACK_LEVEL = 2.0
TORCH_DTYPES = ("float32", "float16", "bfloat16")


def pick_device():
    """The device of this process, chosen once: Ray gives an actor with `num_gpus` its GPU."""
    import torch

    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def torch_dtype(name: str):
    import torch

    if name not in TORCH_DTYPES:
        raise ValueError(f"unknown dtype {name!r}; valid: {list(TORCH_DTYPES)}")
    return getattr(torch, name)


def job_pipeline(config, kind: str):
    """(pipeline, device): the job's diffusers pipeline of `kind` (text2img, img2img, inpaint),
    with the job's identity adapters when it has them, moved to this process's device."""
    from diffusers.utils import logging

    from factory.diffusion.loader import load_pipeline

    logging.disable_progress_bar()  # one bar per component per actor is noise in the job's log
    recipe = config.plan.recipe
    extra = {"adapters": config.adapters} if config.adapters else {}
    device = pick_device()
    pipeline = load_pipeline(kind, config.model, scheduler=recipe.scheduler,
                             torch_dtype=torch_dtype(recipe.dtype), **extra)
    return pipeline.to(device), device


def generators(seeds: list[int]) -> list:
    """One CPU generator per image, so an image's noise depends on its own seed only (not on the
    batch it lands in) and is the same on every device."""
    import torch

    return [torch.Generator("cpu").manual_seed(int(seed)) for seed in seeds]


def load_source(path: str | None) -> Image.Image:
    """A task's source image as RGB; errors name the file."""
    if path is None:
        raise ValueError("task has no source image")
    return load_rgb(path)


def output_problem(image: np.ndarray) -> str | None:
    """Why a generated float image in [0, 1] must not be written, or None."""
    if not np.isfinite(image).all():
        return "generated image has NaN or infinite values"
    if float(image.mean()) * 255.0 < BLACK_LEVEL:
        return "generated image is all black"
    return None


def to_uint8(image: np.ndarray) -> np.ndarray:
    return (np.clip(image, 0.0, 1.0) * 255.0).round().astype(np.uint8)


def encode(image: np.ndarray, image_format: str, quality: int) -> bytes:
    buffer = io.BytesIO()
    if image_format == "png":
        Image.fromarray(image).save(buffer, format="PNG")
    else:
        Image.fromarray(image).save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


class TaskBatch:
    """One batch of task rows, their per-row failures, timings and finished images."""

    def __init__(self, batch: pa.Table | dict):
        table = batch if isinstance(batch, pa.Table) else pa.table(batch)
        self.rows = table.to_pylist()
        for row in self.rows:
            row["params"] = json.loads(row["params"])
        self.errors: dict[int, str] = {}
        self.images: dict[int, np.ndarray] = {}
        self.timings = [dict() for _ in self.rows]

    def pending(self) -> list[int]:
        """Rows still going: not failed and not finished."""
        return [i for i in range(len(self.rows)) if i not in self.errors and i not in self.images]

    def fail(self, index: int, reason: str) -> None:
        self.errors[index] = reason

    def each(self, step, indices: list[int]) -> dict[int, object]:
        """step(index) for each row index; a row whose step raises ValueError fails with its
        message (so does an unreadable image file) and is left out of the results."""
        results = {}
        for index in indices:
            try:
                results[index] = step(index)
            except (ValueError, ImageFileError) as error:
                self.fail(index, str(error))
        return results

    def groups(self, *keys: str) -> list[list[int]]:
        """Pending rows grouped by the recipe (and `keys` of their params) that one pipeline
        call must share."""
        keys = ("height", "width", "steps", "guidance", *keys)
        grouped = defaultdict(list)
        for index in self.pending():
            grouped[tuple(self.rows[index]["params"].get(key) for key in keys)].append(index)
        return list(grouped.values())

    @contextmanager
    def timed(self, step: str, indices: list[int]):
        """Charge the wall time of a step to its rows, shared equally."""
        start = time.perf_counter()
        yield
        share = (time.perf_counter() - start) / max(len(indices), 1)
        for index in indices:
            self.timings[index][step] = self.timings[index].get(step, 0.0) + share

    def finish(self, index: int, image: np.ndarray, *, generated: np.ndarray | None = None):
        """Keep a float image in [0, 1] (H, W, 3), or fail the row if the pipeline's output
        (`generated`, when the image was made from it) or the image is NaN or black."""
        problem = output_problem(image if generated is None else generated)
        if problem:
            self.fail(index, problem)
        else:
            self.images[index] = to_uint8(image)

    def run(self, pipeline, group: list[int], *, sized: bool = True, **inputs) -> np.ndarray:
        """One pipeline call on rows `group` (which share their recipe): float images in
        [0, 1], (N, H, W, 3). `sized`: pass the recipe's height and width (not for img2img,
        whose size is its input's)."""
        rows = [self.rows[index] for index in group]
        params = rows[0]["params"]
        if sized:
            inputs.update(height=params["height"], width=params["width"])
        return pipeline(
            prompt=[row["prompt"] for row in rows],
            negative_prompt=[row["negative_prompt"] for row in rows],
            num_inference_steps=params["steps"], guidance_scale=params["guidance"],
            generator=generators([row["seed"] for row in rows]), output_type="np", **inputs,
        ).images

    def output(self, image_format: str, quality: int) -> pa.Table:
        """The batch as OUTPUT_SCHEMA rows: every row, with its image bytes or its error."""
        columns = defaultdict(list)
        for index, row in enumerate(self.rows):
            image = None
            if index in self.images:
                with self.timed("encode", [index]):
                    image = encode(self.images[index], image_format, quality)
            values = {
                "task_id": row["task_id"], "method": row["method"], "pid": row["pid"],
                "modality": row["target_modality"], "outfit": row["target_outfit"],
                "seed": row["seed"], "prompt": row["prompt"],
                "model_fingerprint": row["model_fingerprint"],
                "adapter_fingerprint": row["adapter_fingerprint"],
                "timings": list(self.timings[index].items()),
                "parents": [row["source_image_id"]] if row["source_image_id"] else [],
                "image": image,
                "error": None if image is not None else self.errors.get(index, "not generated"),
            }
            for name, value in values.items():
                columns[name].append(value)
        return pa.table(dict(columns), schema=OUTPUT_SCHEMA)
