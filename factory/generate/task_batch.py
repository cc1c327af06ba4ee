"""What the three method classes share: a batch of tasks in, images and manifest rows out.

A `TaskBatch` holds one batch of `tasks` rows (with their decoded sources, where the method reads
them: `image_stages.decode_sources`). Steps record a row's failure with its reason (unreadable
source, empty mask, NaN or all-black output) instead of raising, so a bad row is recorded in the
manifest and never passed on, while the rest of the batch goes ahead. Images leave the actor as
raw pixels; the sink encodes them on a CPU (`image_stages`), so the actor runs only models.
"""

import json
import time
from collections import defaultdict
from contextlib import contextmanager

import numpy as np
import pyarrow as pa
from PIL import Image

from factory.generate.image_stages import PIXELS, TIMINGS, from_pixels, to_pixels
from factory.image_files import ImageFileError

# Columns a method class returns: the `generated` columns it knows, the image's pixels and the
# error. The sink encodes the pixels and adds the image's id and path.
OUTPUT_SCHEMA = pa.schema([
    ("task_id", pa.string()), ("method", pa.string()), ("pid", pa.int64()),
    ("modality", pa.string()), ("outfit", pa.string()), ("seed", pa.int64()),
    ("prompt", pa.string()), ("model_fingerprint", pa.string()),
    ("adapter_fingerprint", pa.string()), ("timings", TIMINGS),
    ("parents", pa.list_(pa.string())), ("pixels", PIXELS), ("error", pa.string()),
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


def output_problem(image: np.ndarray) -> str | None:
    """Why a generated float image in [0, 1] must not be written, or None."""
    if not np.isfinite(image).all():
        return "generated image has NaN or infinite values"
    if float(image.mean()) * 255.0 < BLACK_LEVEL:
        return "generated image is all black"
    return None


def to_uint8(image: np.ndarray) -> np.ndarray:
    return (np.clip(image, 0.0, 1.0) * 255.0).round().astype(np.uint8)


class ActorClock:
    """An actor's busy and idle time: each batch's time in the actor (`actor_busy`) and the wait
    before it since the previous batch left (`actor_idle`; the first: since the clock was made,
    when the pipeline was loaded), charged to the batch's rows in their timings, so the manifest
    gives the share of its time an actor (a GPU) spent working."""

    def __init__(self):
        self.free_since = time.perf_counter()


class TaskBatch:
    """One batch of task rows, their per-row failures, timings and finished images."""

    def __init__(self, batch: pa.Table | dict, clock: ActorClock | None = None):
        self.started, self.clock = time.perf_counter(), clock
        table = batch if isinstance(batch, pa.Table) else pa.table(batch)
        self.rows = table.to_pylist()
        for row in self.rows:
            row["params"] = json.loads(row["params"])
        self.errors: dict[int, str] = {}
        self.images: dict[int, np.ndarray] = {}
        # the CPU stages' times so far (decode) come with the rows
        self.timings = [dict(row.get("timings") or ()) for row in self.rows]

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

    def source(self, index: int, *, resized: bool = False) -> Image.Image:
        """Row `index`'s decoded source image, at its own size or (`resized`) at the task's
        recipe size; ValueError (naming the file) when it could not be read."""
        row = self.rows[index]
        if "source_error" not in row:  # a wiring mistake, not a bad row
            raise RuntimeError("source images are decoded before the actor: decode_sources")
        if row["source_error"] is not None:
            raise ValueError(row["source_error"])
        return Image.fromarray(from_pixels(row["source_resized" if resized else "source"]))

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
        self.charge(step, time.perf_counter() - start, indices)

    def charge(self, step: str, seconds: float, indices: list[int]) -> None:
        share = seconds / max(len(indices), 1)
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

    def output(self) -> pa.Table:
        """The batch as OUTPUT_SCHEMA rows: every row, with its pixels or its error; the
        actor's busy and idle time charged to them (with a clock)."""
        if self.clock is not None:
            everyone, done = list(range(len(self.rows))), time.perf_counter()
            self.charge("actor_idle", self.started - self.clock.free_since, everyone)
            self.charge("actor_busy", done - self.started, everyone)
            self.clock.free_since = done
        columns = defaultdict(list)
        for index, row in enumerate(self.rows):
            image = self.images.get(index)
            values = {
                "task_id": row["task_id"], "method": row["method"], "pid": row["pid"],
                "modality": row["target_modality"], "outfit": row["target_outfit"],
                "seed": row["seed"], "prompt": row["prompt"],
                "model_fingerprint": row["model_fingerprint"],
                "adapter_fingerprint": row["adapter_fingerprint"],
                "timings": list(self.timings[index].items()),
                "parents": [row["source_image_id"]] if row["source_image_id"] else [],
                "pixels": None if image is None else to_pixels(image),
                "error": None if image is not None else self.errors.get(index, "not generated"),
            }
            for name, value in values.items():
                columns[name].append(value)
        return pa.table(dict(columns), schema=OUTPUT_SCHEMA)
