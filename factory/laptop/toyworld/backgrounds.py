"""The scene behind people: each camera's background as paint ids, with their colours.

A background holds few colours (a wall, panels, tiles, a pavement, a quantised gradient), so it
is stored as paint ids from `FIRST_BACKGROUND` up; a person is drawn straight over it and one
colour lookup then colours person and background alike.
"""

from functools import lru_cache

import numpy as np
from PIL import Image

from factory.laptop.toyworld.figure import SHADOW
from factory.laptop.toyworld.world import Camera

FIRST_BACKGROUND = 32
MAX_COLOURS = 256 - FIRST_BACKGROUND
SHADOW_DARKEN = 0.62


@lru_cache(maxsize=256)
def background(camera: Camera, height: int, width: int) -> tuple[Image.Image, np.ndarray]:
    """The camera's background as an "L" image of paint ids, and the (256 - SHADOW, 3) uint8
    colours of paint ids SHADOW..255: a person's shadow, then the background's, lit by the
    camera."""
    pixels = _quantise(_scene(camera, height, width))
    colours, ids = np.unique(pixels.reshape(-1, 3), axis=0, return_inverse=True)
    paint = (ids.reshape(height, width) + FIRST_BACKGROUND).astype(np.uint8)
    rows = np.zeros((256 - SHADOW, 3), np.uint8)
    rows[FIRST_BACKGROUND - SHADOW:FIRST_BACKGROUND - SHADOW + len(colours)] = colours
    ground = pixels[height * 4 // 5:].reshape(-1, 3).mean(axis=0)  # where the feet stand
    rows[0] = np.clip(ground * SHADOW_DARKEN, 0, 255)
    return Image.fromarray(paint), rows


def _scene(camera: Camera, height: int, width: int) -> np.ndarray:
    """(H, W, 3) float32 background under the camera's light."""
    near, far = (np.array(c, np.float32) for c in camera.background_colours)
    rows = (np.arange(height, dtype=np.float32)[:, None, None] + 0.5) / height
    columns = (np.arange(width, dtype=np.float32)[None, :, None] + 0.5) / width
    flat = np.ones((height, width, 1), np.float32)
    if camera.background == "gradient":
        image = (far + (near - far) * rows) * flat
    elif camera.background == "stripes":  # wall panels
        image = np.where((columns * 5).astype(int) % 2 == 0, near, far) * flat
    elif camera.background == "tiles":
        checks = ((rows * 16).astype(int) + (columns * 8).astype(int)) % 2 == 0
        image = np.where(checks, near, near * 0.85 + far * 0.15)
    elif camera.background == "street":  # a wall above the pavement
        wall = np.where((rows * 10).astype(int) % 2 == 0, far, far * 0.92)
        image = np.where(rows < 0.58, wall, near * (0.8 + 0.3 * rows)) * flat
    else:
        image = near * flat
    return image * np.multiply(camera.colour_cast, camera.illumination, dtype=np.float32)


def _quantise(image: np.ndarray) -> np.ndarray:
    """uint8 pixels with at most MAX_COLOURS distinct colours (coarser steps until they fit)."""
    pixels, step = np.clip(np.rint(image), 0, 255).astype(np.uint8), 1
    while len(np.unique(pixels.reshape(-1, 3), axis=0)) > MAX_COLOURS:
        step *= 2
        pixels = (np.clip(np.rint(image), 0, 255).astype(np.uint8) // step) * step + step // 2
    return pixels
