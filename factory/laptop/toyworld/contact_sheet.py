"""A contact sheet of the toy world: people in their outfits as every camera sees them.

Rows are identities x outfits, columns are cameras x modalities (RGB then IR), optionally with the
RGB image's parsing mask beside it; for looking at the renderer, not for training.
"""

import os
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from factory.laptop.toyworld.render import encode_png, render
from factory.laptop.toyworld.world import RenderRequest, make_camera, make_identity, make_outfit

LABEL_ROW = 14  # pixels above the grid for column labels
LABEL_COLUMN = 40  # pixels left of the grid for row labels
GAP = 2
# One display colour per LIP label id (0 background .. 19 right shoe).
MASK_COLOURS = np.array([
    (0, 0, 0), (128, 0, 0), (255, 0, 0), (0, 85, 0), (170, 0, 51), (255, 85, 0), (0, 0, 85),
    (0, 119, 221), (85, 85, 0), (0, 85, 85), (85, 51, 0), (52, 86, 128), (0, 128, 0),
    (0, 0, 255), (51, 170, 221), (0, 255, 255), (85, 255, 170), (170, 255, 85), (255, 255, 0),
    (255, 170, 0)], np.uint8)


def contact_sheet(seed: int, path: str | os.PathLike, *, identities: int = 4, outfits: int = 2,
                  cameras: int = 3, height: int = 128, width: int = 64,
                  masks: bool = False) -> Path:
    """Write the PNG sheet of world `seed` to `path` (atomically) and return its path."""
    columns = [(camera_id, modality, show_mask) for camera_id in range(1, cameras + 1)
               for modality, show_mask in (("rgb", False), ("rgb", True), ("ir", False))
               if masks or not show_mask]
    people = [(pid, outfit_id) for pid in range(1, identities + 1) for outfit_id in range(outfits)]
    cams = {(c, m): make_camera(seed, c, m) for c, m, _ in columns}
    requests = [RenderRequest(make_identity(seed, pid), make_outfit(seed, pid, outfit_id),
                              cams[camera_id, modality], frame=pid * 7 + outfit_id)
                for pid, outfit_id in people for camera_id, modality, _ in columns]
    images, label_masks = render(requests, height=height, width=width)
    sheet = Image.new("RGB", (LABEL_COLUMN + len(columns) * (width + GAP),
                              LABEL_ROW + len(people) * (height + GAP)), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    for j, (camera_id, modality, show_mask) in enumerate(columns):
        name = "mask" if show_mask else modality
        draw.text((LABEL_COLUMN + j * (width + GAP) + 2, 1), f"c{camera_id} {name}", fill=(0, 0, 0))
    for i, (pid, outfit_id) in enumerate(people):
        top = LABEL_ROW + i * (height + GAP)
        draw.text((2, top + 2), f"id{pid}\nout{outfit_id}", fill=(0, 0, 0))
        for j, (_, _, show_mask) in enumerate(columns):
            n = i * len(columns) + j
            cell = MASK_COLOURS[label_masks[n]] if show_mask else images[n]
            sheet.paste(Image.fromarray(cell), (LABEL_COLUMN + j * (width + GAP), top))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_bytes(encode_png(np.asarray(sheet)))
    os.replace(temporary, path)
    return path
