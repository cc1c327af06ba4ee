"""Renders toy-world requests to images and LIP parsing masks, fast and deterministically.

Each request becomes a paint-id map: the person (`figure.draw`) over the camera's background
(`backgrounds.background`). One lookup table per image colours it: RGB colours, or for infrared a
grey brightness from the garment's material, lit by the camera and shaded (darker towards the
body's sides and along its outline). Optical blur and sensor noise (a window of a fixed noise
bank) come last. An image depends only on its own request, never on the rest of the batch.
"""

import io
import math
from collections.abc import Sequence
from functools import lru_cache

import numpy as np
from PIL import Image

from factory.laptop.toyworld import figure
from factory.laptop.toyworld.backgrounds import background
from factory.laptop.toyworld.figure import (
    ACCENT,
    BAG,
    COAT,
    EYE,
    GLASSES,
    SHADOW,
    SKIN,
    STRAP,
    TOP,
)
from factory.laptop.toyworld.palette import (
    HAIR_COLOURS,
    IR_BAG,
    IR_GLASSES,
    IR_HAIR,
    IR_SHOES,
    IR_SKIN,
    MATERIALS,
    PALETTE,
    SKIN_TONES,
)
from factory.laptop.toyworld.world import GAINS, Camera, Outfit, Pose, RenderRequest, pose
from factory.parsing.labels import CLOTHES_LABELS, LIP_LABELS

__all__ = ["CLOTHES_LABELS", "LIP_LABELS", "encode_jpeg", "encode_png", "render", "render_one"]

NOISE_BANK_SIZE = 512
EYE_RGB = (34, 26, 24)
GLASSES_RGB = (12, 12, 16)
IR_EYE = 0.7
EDGE_DARKEN = 0.78
SIDE_SHADE = 0.28  # how much the body darkens towards its sides (a cheap cylinder shading)
SHADE_LEVELS = 8  # side shading is quantised to fold into the colour table (an index's low 3 bits)
ROWS_PER_PAINT = 2 * SHADE_LEVELS  # shade levels, then the same darkened along the outline


def render(requests: Sequence[RenderRequest], *, height: int = 128,
           width: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, height, width, 3) uint8 and LIP label masks (N, height, width) uint8."""
    images = np.empty((len(requests), height, width, 3), np.uint8)
    masks = np.empty((len(requests), height, width), np.uint8)
    for n, request in enumerate(requests):
        images[n], masks[n] = render_one(request, height, width)
    return images, masks


def render_one(request: RenderRequest, height: int = 128,
               width: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """The image (H, W, 3) uint8 and LIP label mask (H, W) uint8 of one request."""
    # 1. shape: the person's paint ids over the background's, the top's pattern, the label mask
    frame_pose, camera = pose(request), request.camera
    scene, scene_colours = background(camera, height, width)
    paint, body = figure.draw(request, frame_pose, scene.copy())
    if request.outfit.top_pattern != "plain":
        on_top = (paint == TOP) | (paint == COAT)
        np.copyto(paint, ACCENT, where=on_top & _pattern(request.outfit.top_pattern, height, width))
    mask = np.take(_label_table(request.outfit), paint)
    # 2. colour: one lookup by (paint id, outline, shade level); the background's rows ignore both
    index = paint.astype(np.int32) * ROWS_PER_PAINT
    index |= _shade_levels(body, width)
    index += _outline(paint >= SHADOW) * np.int32(SHADE_LEVELS)
    person = _person_colours(request.identity.skin, request.identity.hair_colour, request.outfit,
                             camera)[GAINS.index(frame_pose.gain)]
    table = np.concatenate([person, np.repeat(scene_colours, ROWS_PER_PAINT, axis=0)])
    image = np.take(table, index, axis=0)
    # 3. optics and sensor: blur, noise
    noise = _noise(camera, frame_pose, height, width)
    radius = camera.blur * height / 128
    if radius > 0:
        pixels = _blur(image.astype(np.float32), radius)
        pixels += noise
    else:
        pixels = np.add(image, noise, dtype=np.int16)
    return np.clip(pixels, 0, 255, out=pixels).astype(np.uint8), mask


def encode_jpeg(image: np.ndarray, quality: int = 90) -> bytes:
    """JPEG bytes of an (H, W, 3) uint8 image."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def encode_png(array: np.ndarray) -> bytes:
    """PNG bytes of an (H, W) or (H, W, 3) uint8 array (masks keep their label ids)."""
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


@lru_cache(maxsize=4096)
def _label_table(outfit: Outfit) -> np.ndarray:
    """Paint id -> LIP label of this outfit (bag and pattern take the top garment's label; shadow
    and background are 0)."""
    table = np.arange(256, dtype=np.uint8)
    table[SHADOW:] = 0
    for paint_id, label in figure.PAINT_LABEL.items():
        table[paint_id] = figure.top_label(outfit) if label < 0 else label
    return table


@lru_cache(maxsize=4096)
def _person_colours(skin: str, hair: str, outfit: Outfit, camera: Camera) -> np.ndarray:
    """(len(GAINS), SHADOW * ROWS_PER_PAINT, 3) uint8 colours of the person's paint ids under the
    camera's light times each frame gain; row paint id * ROWS_PER_PAINT + outline * SHADE_LEVELS
    + shade level."""
    colours = _ir_table(outfit) if camera.modality == "ir" else _rgb_table(skin, hair, outfit)
    light = np.multiply(camera.colour_cast, camera.illumination, dtype=np.float32)
    shaded = colours[:, None, :] * _shade_factors()[None, :, None] * light
    lit = np.multiply.outer(np.array(GAINS, np.float32), shaded.reshape(-1, 3))
    return np.clip(lit, 0, 255).astype(np.uint8)


def _shade_factors() -> np.ndarray:
    """(ROWS_PER_PAINT,) gains: the side shading, then the same along the outline."""
    side = 1.0 - SIDE_SHADE * np.arange(SHADE_LEVELS, dtype=np.float32) / (SHADE_LEVELS - 1)
    return np.concatenate([side, side * EDGE_DARKEN])


def _shade_levels(body: figure.Body, width: int) -> np.ndarray:
    """(W,) shade level per column: 0 at the body's centre line, growing towards its sides."""
    return _column_shades(round(body.cx * 4) / 4, round(body.torso_half * 4) / 4, width)


@lru_cache(maxsize=4096)
def _column_shades(centre: float, half: float, width: int) -> np.ndarray:
    offset = (np.arange(width, dtype=np.float32) - centre) / (half * 1.8)
    return np.rint(np.minimum(offset * offset, 1.0) * (SHADE_LEVELS - 1)).astype(np.int32)


def _outline(outside: np.ndarray) -> np.ndarray:
    """Body pixels next to a background pixel (4-neighbourhood)."""
    edge = np.zeros_like(outside)
    edge[:, 1:] |= outside[:, :-1]
    edge[:, :-1] |= outside[:, 1:]
    edge[1:] |= outside[:-1]
    edge[:-1] |= outside[1:]
    return edge & ~outside


@lru_cache(maxsize=4096)
def _rgb_table(skin: str, hair: str, outfit: Outfit) -> np.ndarray:
    table = np.zeros((SHADOW, 3), np.float32)
    table[list(SKIN)] = SKIN_TONES[skin]
    table[figure.HAIR] = HAIR_COLOURS[hair]
    table[[TOP, COAT]] = PALETTE[outfit.top_colour]
    table[ACCENT] = PALETTE[outfit.top_accent]
    table[[figure.PANTS, figure.SKIRT]] = PALETTE[outfit.bottom_colour]
    table[[figure.LEFT_SHOE, figure.RIGHT_SHOE]] = PALETTE[outfit.shoes]
    table[BAG] = PALETTE[outfit.bag_colour]
    table[STRAP] = np.multiply(PALETTE[outfit.bag_colour], 0.7)
    table[EYE] = EYE_RGB
    table[GLASSES] = GLASSES_RGB
    return table


@lru_cache(maxsize=4096)
def _ir_table(outfit: Outfit) -> np.ndarray:
    """Infrared: brightness follows material (a pattern's two colours share one material)."""
    table = np.zeros(SHADOW, np.float32)
    table[list(SKIN)] = IR_SKIN
    table[figure.HAIR] = IR_HAIR
    table[[TOP, COAT, ACCENT]] = MATERIALS[outfit.top_material]
    table[[figure.PANTS, figure.SKIRT]] = MATERIALS[outfit.bottom_material]
    table[[figure.LEFT_SHOE, figure.RIGHT_SHOE]] = IR_SHOES
    table[BAG] = IR_BAG
    table[STRAP] = IR_BAG * 0.8
    table[EYE] = IR_EYE
    table[GLASSES] = IR_GLASSES
    return np.repeat(table[:, None] * 255, 3, axis=1)


@lru_cache(maxsize=16)
def _pattern(kind: str, height: int, width: int) -> np.ndarray:
    """Where a striped or checked top shows its accent colour."""
    step = max(1, round(height / 44))
    rows = (np.arange(height)[:, None] // step) % 2 == 1
    if kind == "striped":
        return np.broadcast_to(rows, (height, width))
    return rows ^ ((np.arange(width)[None, :] // step) % 2 == 1)


def _blur(pixels: np.ndarray, radius: float) -> np.ndarray:
    """Box-like blur: repeated 3-tap [r, 1, r] / (1 + 2r) filters down columns and along rows."""
    passes = math.ceil(radius)
    weight = (radius / passes) / (1 + 2 * radius / passes)
    for _ in range(passes):
        padded = np.concatenate([pixels[:1], pixels, pixels[-1:]])
        pixels = padded[1:-1] * (1 - 2 * weight) + (padded[:-2] + padded[2:]) * weight
        padded = np.concatenate([pixels[:, :1], pixels, pixels[:, -1:]], axis=1)
        pixels = padded[:, 1:-1] * (1 - 2 * weight) + (padded[:, :-2] + padded[:, 2:]) * weight
    return pixels


@lru_cache(maxsize=32)
def _noise_bank(sigma: float) -> np.ndarray:
    """(S, S, 3) int8 noise of standard deviation `sigma` grey levels, equal in all channels."""
    grey = np.random.default_rng(20_240_501).standard_normal(
        (NOISE_BANK_SIZE, NOISE_BANK_SIZE, 1), dtype=np.float32) * sigma
    return np.repeat(np.clip(np.rint(grey), -127, 127).astype(np.int8), 3, axis=2)


def _noise(camera: Camera, frame_pose: Pose, height: int, width: int) -> np.ndarray:
    """(H, W, 3) int8 grey sensor noise: one value for all channels keeps infrared images grey;
    a window of the camera's noise bank."""
    bank = _noise_bank(camera.noise)
    y0, x0 = frame_pose.noise_offset
    if height <= NOISE_BANK_SIZE and width <= NOISE_BANK_SIZE:
        y0, x0 = y0 % (NOISE_BANK_SIZE - height + 1), x0 % (NOISE_BANK_SIZE - width + 1)
        window = bank[y0:y0 + height, x0:x0 + width]
    else:  # bigger than the bank: wrap around it
        window = bank[np.ix_((y0 + np.arange(height)) % NOISE_BANK_SIZE,
                             (x0 + np.arange(width)) % NOISE_BANK_SIZE)]
    return window
