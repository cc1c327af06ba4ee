"""The CPU stages around the generator actors, so an actor (a GPU, on a cluster) runs only models:
before it, `decode_sources` reads and decodes each task's source image and resizes it to the
task's recipe size; after it, the sink `encode`s each generated image as it writes it.

Images travel between the stages as raw RGB pixels (`PIXELS`: uint8, row-major height x width
x 3): at SD sizes a few hundred KB an image, a small load for the object store next to the
seconds of diffusion each one costs.
"""

import io
import json
import time

import numpy as np
import pyarrow as pa
from PIL import Image

from factory.image_files import ImageFileError, load_rgb

PIXELS = pa.struct([("height", pa.int32()), ("width", pa.int32()), ("rgb", pa.binary())])
TIMINGS = pa.map_(pa.string(), pa.float64())
# Columns `decode_sources` adds to the task rows: the source at its own size and at the task's
# recipe size, or why it could not be read; and the time that took.
SOURCE_COLUMNS = pa.schema([("source", PIXELS), ("source_resized", PIXELS),
                            ("source_error", pa.string()), ("timings", TIMINGS)])


def to_pixels(image: np.ndarray | Image.Image) -> dict:
    """An RGB image (uint8 array or PIL image) as a `PIXELS` value."""
    array = np.ascontiguousarray(image, dtype=np.uint8)
    if array.ndim != 3 or array.shape[2] != 3:
        raise ValueError(f"an RGB image has shape (height, width, 3), not {array.shape}")
    return {"height": array.shape[0], "width": array.shape[1], "rgb": array.tobytes()}


def from_pixels(value: dict) -> np.ndarray:
    """A `PIXELS` value as a (height, width, 3) uint8 array."""
    return np.frombuffer(value["rgb"], dtype=np.uint8).reshape(value["height"], value["width"], 3)


def encode(image: np.ndarray, image_format: str, quality: int) -> bytes:
    buffer = io.BytesIO()
    if image_format == "png":
        Image.fromarray(image).save(buffer, format="PNG")
    else:
        Image.fromarray(image).save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def _decoded(row: dict) -> tuple[Image.Image, Image.Image]:
    """(source, source at the task's recipe size); errors name the file."""
    if row["source_path"] is None:
        raise ValueError("task has no source image")
    source = load_rgb(row["source_path"])
    params = json.loads(row["params"])
    return source, source.resize((params["width"], params["height"]), Image.Resampling.BICUBIC)


def decode_sources(batch: pa.Table) -> pa.Table:
    """The CPU stage before the actors: task rows plus `SOURCE_COLUMNS`. A source that cannot be
    read is that row's `source_error` (the actor records the row as failed), not the job's."""
    added = {name: [] for name in SOURCE_COLUMNS.names}
    for row in batch.select(["source_path", "params"]).to_pylist():
        start = time.perf_counter()
        try:
            source, resized = _decoded(row)
            pixels, error = (to_pixels(source), to_pixels(resized)), None
        except (ValueError, ImageFileError) as exc:
            pixels, error = (None, None), str(exc)
        added["source"].append(pixels[0])
        added["source_resized"].append(pixels[1])
        added["source_error"].append(error)
        added["timings"].append([("decode", time.perf_counter() - start)])
    for field in SOURCE_COLUMNS:
        batch = batch.append_column(field, pa.array(added[field.name], type=field.type))
    return batch
