"""Renders toy-world requests to images and LIP parsing masks, fast and deterministically.

Each request becomes a paint-id map (`figure.draw`). Its colours come from one lookup table per
image: RGB colours, or for infrared a grey brightness from the garment's material, already lit by
the camera and shaded (darker towards the body's sides and along its outline). The camera's cached
background fills the rest; optical blur and sensor noise (windows of one fixed noise bank) come
last. An image depends only on its own request, never on the rest of the batch.
"""

import io
import math
from collections.abc import Sequence
from functools import lru_cache

import numpy as np
from PIL import Image

from factory.toyworld import figure
from factory.toyworld.figure import ACCENT, BAG, COAT, EYE, PAINT_IDS, SHADOW, SKIN, STRAP, TOP
from factory.toyworld.labels import CLOTHES_LABELS, LIP_LABELS
from factory.toyworld.palette import (
    HAIR_COLOURS,
    IR_BAG,
    IR_HAIR,
    IR_SHOES,
    IR_SKIN,
    MATERIALS,
    PALETTE,
    SKIN_TONES,
)
from factory.toyworld.world import Camera, Outfit, Pose, RenderRequest, pose

__all__ = ["CLOTHES_LABELS", "LIP_LABELS", "encode_jpeg", "encode_png", "render", "render_one"]

NOISE_BANK_SIZE = 512
EYE_RGB = (34, 26, 24)
IR_EYE = 0.7
SHADOW_DARKEN = 0.62
EDGE_DARKEN = 0.78
SIDE_SHADE = 0.28  # how much the body darkens towards its sides (a cheap cylinder shading)
SHADE_LEVELS = 8  # side shading is quantised to fold into the colour table (an index's low 3 bits)
BODY_ROWS = PAINT_IDS * 2 * SHADE_LEVELS
_BODY_ROW = np.arange(256, dtype=np.int32) * (2 * SHADE_LEVELS)  # paint id -> its first table row


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
    # 1. shape: the paint-id map, with the top's pattern, and its label mask
    frame_pose = pose(request)
    paint, body = figure.draw(request, frame_pose, height, width)
    if request.outfit.top_pattern != "plain":
        on_top = (paint == TOP) | (paint == COAT)
        np.copyto(paint, ACCENT, where=on_top & _pattern(request.outfit.top_pattern, height, width))
    mask = np.take(_label_table(request.outfit), paint)
    # 2. colour: one table lookup, rows = body colours by (paint id, outline, shade level), then
    #    the background's own pixels, lit and in shadow
    outside = (paint == 0) | (paint == SHADOW)
    index = np.take(_BODY_ROW, paint)
    index |= _shade_levels(body, width)
    index += _outline(outside) * np.int32(SHADE_LEVELS)
    behind = _background_rows(height, width)
    index = np.where(outside, np.where(paint == 0, behind[0], behind[1]), index)
    camera, identity = request.camera, request.identity
    table = np.concatenate([_body_colours(identity.skin, identity.hair_colour, request.outfit,
                                          camera), _background(camera, height, width)])
    image = np.take(table, index, axis=0)
    # 3. exposure, optical blur, sensor noise
    pixels = np.multiply(image, np.float32(frame_pose.gain), dtype=np.float32)
    radius = camera.blur * height / 128
    if radius > 0:
        pixels = _blur(pixels, radius)
    pixels += _noise(camera, frame_pose, height, width)
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
    """Paint id -> LIP label of this outfit (bag and pattern take the top garment's label)."""
    table = np.arange(256, dtype=np.uint8)
    for paint_id, label in figure.PAINT_LABEL.items():
        table[paint_id] = figure.top_label(outfit) if label < 0 else label
    return table


@lru_cache(maxsize=4096)
def _body_colours(skin: str, hair: str, outfit: Outfit, camera: Camera) -> np.ndarray:
    """(PAINT_IDS * 2 * SHADE_LEVELS, 3) uint8 colours under the camera's light, row
    paint id * 2 * SHADE_LEVELS + outline * SHADE_LEVELS + shade level."""
    colours = _ir_table(outfit) if camera.modality == "ir" else _rgb_table(skin, hair, outfit)
    light = np.multiply(camera.colour_cast, camera.illumination, dtype=np.float32)
    shaded = colours[:, None, :] * _shade_factors()[None, :, None] * light
    return np.clip(shaded, 0, 255).astype(np.uint8).reshape(-1, 3)


def _shade_factors() -> np.ndarray:
    """(2 * SHADE_LEVELS,) gains: the side shading, then the same along the outline."""
    side = 1.0 - SIDE_SHADE * np.arange(SHADE_LEVELS, dtype=np.float32) / (SHADE_LEVELS - 1)
    return np.concatenate([side, side * EDGE_DARKEN])


def _shade_levels(body: figure.Body, width: int) -> np.ndarray:
    """(W,) shade level per column: 0 at the body's centre line, growing towards its sides."""
    offset = (np.arange(width, dtype=np.float32) + 0.5 - body.cx) / (body.torso_half * 1.8)
    return np.rint(np.minimum(offset * offset, 1.0) * (SHADE_LEVELS - 1)).astype(np.int32)


@lru_cache(maxsize=16)
def _background_rows(height: int, width: int) -> np.ndarray:
    """(2, H, W) rows of the colour table holding each pixel's background, lit and in shadow."""
    pixels = np.arange(height * width, dtype=np.int32).reshape(height, width) + BODY_ROWS
    return np.stack([pixels, pixels + height * width])


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
    table = np.zeros((PAINT_IDS, 3), np.float32)
    table[list(SKIN)] = SKIN_TONES[skin]
    table[figure.HAIR] = HAIR_COLOURS[hair]
    table[[TOP, COAT]] = PALETTE[outfit.top_colour]
    table[ACCENT] = PALETTE[outfit.top_accent]
    table[[figure.PANTS, figure.SKIRT]] = PALETTE[outfit.bottom_colour]
    table[[figure.LEFT_SHOE, figure.RIGHT_SHOE]] = PALETTE[outfit.shoes]
    table[BAG] = PALETTE[outfit.bag_colour]
    table[STRAP] = np.multiply(PALETTE[outfit.bag_colour], 0.7)
    table[EYE] = EYE_RGB
    return table


@lru_cache(maxsize=4096)
def _ir_table(outfit: Outfit) -> np.ndarray:
    """Infrared: brightness follows material (a pattern's two colours share one material)."""
    table = np.zeros(PAINT_IDS, np.float32)
    table[list(SKIN)] = IR_SKIN
    table[figure.HAIR] = IR_HAIR
    table[[TOP, COAT, ACCENT]] = MATERIALS[outfit.top_material]
    table[[figure.PANTS, figure.SKIRT]] = MATERIALS[outfit.bottom_material]
    table[[figure.LEFT_SHOE, figure.RIGHT_SHOE]] = IR_SHOES
    table[BAG] = IR_BAG
    table[STRAP] = IR_BAG * 0.8
    table[EYE] = IR_EYE
    return np.repeat(table[:, None] * 255, 3, axis=1)


@lru_cache(maxsize=16)
def _pattern(kind: str, height: int, width: int) -> np.ndarray:
    """Where a striped or checked top shows its accent colour."""
    step = max(1, round(height / 44))
    rows = (np.arange(height)[:, None] // step) % 2 == 1
    if kind == "striped":
        return np.broadcast_to(rows, (height, width))
    return rows ^ ((np.arange(width)[None, :] // step) % 2 == 1)


@lru_cache(maxsize=256)
def _background(camera: Camera, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """(2 * H * W, 3) uint8 colour-table rows: the camera's lit background, pixel by pixel, then
    the same in a person's shadow."""
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
    image = image * np.multiply(camera.colour_cast, camera.illumination, dtype=np.float32)
    rows = np.concatenate([image, image * SHADOW_DARKEN]).reshape(-1, 3)
    return np.clip(rows, 0, 255).astype(np.uint8)


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


@lru_cache(maxsize=1)
def _noise_bank() -> np.ndarray:
    """(S, S, 3) standard normal noise, the same in all three channels (grey noise)."""
    grey = np.random.default_rng(20_240_501).standard_normal(
        (NOISE_BANK_SIZE, NOISE_BANK_SIZE, 1), dtype=np.float32)
    return np.repeat(grey, 3, axis=2)


def _noise(camera: Camera, frame_pose: Pose, height: int, width: int) -> np.ndarray:
    """(H, W, 3) grey sensor noise: one value for all channels keeps infrared images grey."""
    bank = _noise_bank()
    y0, x0 = frame_pose.noise_offset
    if height <= NOISE_BANK_SIZE and width <= NOISE_BANK_SIZE:
        y0, x0 = y0 % (NOISE_BANK_SIZE - height + 1), x0 % (NOISE_BANK_SIZE - width + 1)
        window = bank[y0:y0 + height, x0:x0 + width]
    else:  # bigger than the bank: wrap around it
        window = bank[np.ix_((y0 + np.arange(height)) % NOISE_BANK_SIZE,
                             (x0 + np.arange(width)) % NOISE_BANK_SIZE)]
    return window * np.float32(camera.noise)
