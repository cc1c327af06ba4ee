"""The toy world's contact sheet: a PNG grid of identities x outfits by cameras x modalities."""

import numpy as np
from PIL import Image

from factory.laptop.toyworld.contact_sheet import GAP, LABEL_COLUMN, LABEL_ROW, contact_sheet


def test_sheet_has_one_cell_per_person_outfit_camera_and_modality(tmp_path):
    path = contact_sheet(0, tmp_path / "sheets" / "sheet.png", identities=2, outfits=2, cameras=3)
    assert path == tmp_path / "sheets" / "sheet.png"
    with Image.open(path) as sheet:
        assert sheet.format == "PNG"
        assert sheet.size == (LABEL_COLUMN + 3 * 2 * (64 + GAP), LABEL_ROW + 2 * 2 * (128 + GAP))
        pixels = np.asarray(sheet.convert("RGB"))
    assert pixels[LABEL_ROW:, LABEL_COLUMN:].std() > 20  # people, not a blank page
    assert [p.name for p in path.parent.iterdir()] == ["sheet.png"]  # no temporary left


def test_sheet_with_masks_and_other_size_is_deterministic(tmp_path):
    first = contact_sheet(5, tmp_path / "a.png", identities=1, outfits=1, cameras=2, height=64,
                          width=32, masks=True)
    second = contact_sheet(5, tmp_path / "b.png", identities=1, outfits=1, cameras=2, height=64,
                           width=32, masks=True)
    with Image.open(first) as a, Image.open(second) as b:
        assert a.size == (LABEL_COLUMN + 2 * 3 * (32 + GAP), LABEL_ROW + 64 + GAP)
        assert np.array_equal(np.asarray(a), np.asarray(b))
