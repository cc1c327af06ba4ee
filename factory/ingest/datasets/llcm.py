"""LLCM, Low-Light Cross-Modality (Zhang and Wang, "Diverse Embedding Expansion Network and
Low-Light Cross-Modality Benchmark for Visible-Infrared Person Re-identification", CVPR 2023).

1,064 identities seen by 9 cameras in visible (VIS) and near-infrared (NIR) light, 46,767 images:
train 713 ids / 16,946 VIS + 13,975 NIR images, test 351 ids / 8,680 VIS + 7,166 NIR images.
Layout (as ZYK100/LLCM's DEEN code reads it): training images `vis|nir/<pid:04d>/
<pid:04d>_c<camera:02d>_s<...>_f<...>_{vis|nir}.jpg`, listed by `idx/train_vis.txt` and
`idx/train_nir.txt` (`<path relative to the root> <label>` lines; the pid and camera come from the
file name); test images `test_vis|test_nir/cam<camera>/<pid:04d>/*.jpg` of the ids listed,
comma-separated, by `idx/test_id.txt` (the NIR test set has no cam3).
Decisions: NIR test images are queries and VIS test images the gallery (DEEN's default test mode,
infrared to visible); the evaluator swaps the roles for visible to infrared and draws the
single-shot gallery.
"""

import re
from pathlib import Path

from factory.ingest.datasets.records import (
    DatasetError,
    image_row,
    listed_person_images,
    match_name,
    read_image_list,
    visible_entries,
)

NAME = "llcm"
TRAIN_LISTS = {"idx/train_vis.txt": "rgb", "idx/train_nir.txt": "ir"}
TEST_FOLDERS = {"test_vis": "rgb", "test_nir": "ir"}
TEST_IDS = "idx/test_id.txt"
TEST_ROLES = {"ir": "query", "rgb": "gallery"}
TRAIN_PATTERN = re.compile(r"^(?P<pid>\d+)_c(?P<camera>\d+)_")
CAMERA_FOLDER = re.compile(r"^cam(?P<camera>\d+)$")


def read(root: Path) -> list[dict]:
    """Rows of the `images` table for an LLCM root (the folder holding `idx`)."""
    rows = []
    for list_name, modality in TRAIN_LISTS.items():
        for path, _label in read_image_list(root / list_name, root):
            found = match_name(TRAIN_PATTERN, path)
            rows.append(image_row(NAME, root, path, split="train", role="train",
                                  pid=int(found["pid"]), camera=int(found["camera"]),
                                  modality=modality))
    folders = {(modality, camera): folder for name, modality in TEST_FOLDERS.items()
               for camera, folder in _camera_folders(root / name).items()}
    for pid, (modality, camera), path in listed_person_images(root / TEST_IDS, folders):
        rows.append(image_row(NAME, root, path, split="test", role=TEST_ROLES[modality], pid=pid,
                              camera=camera, modality=modality))
    return rows


def _camera_folders(parent: Path) -> dict[int, Path]:
    folders = {}
    for folder in (p for p in visible_entries(parent) if p.is_dir()):
        folders[int(match_name(CAMERA_FOLDER, folder)["camera"])] = folder
    if not folders:
        raise DatasetError(parent, "holds no cam<k> folders")
    return folders
