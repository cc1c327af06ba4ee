"""PRCC (Yang, Wu and Zheng, "Person Re-identification by Contour Sketch under Moderate Clothing
Change", IEEE TPAMI 2019).

221 identities seen by 3 cameras, 33,698 RGB images: cameras A and B see a person in the same
clothes, camera C in other clothes. Train 150 ids / 17,896 images, val (the same 150 ids) / 5,002
images, test 71 ids / 10,800 images: gallery (camera A) 3,384, same-clothes queries (B) 3,543,
clothes-changing queries (C) 3,873.
Layout (as guxinqian/Simple-CCReID reads it): `rgb/{train,val}/<pid:03d>/{A,B,C}_*.jpg`, the
camera being the file name's first letter; `rgb/test/{A,B,C}/<pid:03d>/*.jpg`.
Decisions: cameras A, B, C are 1, 2, 3; outfit `<pid>_1` for A and B, `<pid>_2` for C (PRCC has
two outfits per person); val images get split `val`, role `train`.
"""

import re
from pathlib import Path

from factory.ingest.datasets.records import (
    image_row,
    list_images,
    match_name,
    outfit_id,
    person_folders,
)

NAME = "prcc"
TRAIN_FOLDERS = {"rgb/train": "train", "rgb/val": "val"}
TEST_FOLDER = "rgb/test"
CAMERAS = {"A": 1, "B": 2, "C": 3}
OUTFITS = {"A": 1, "B": 1, "C": 2}
TEST_ROLES = {"A": "gallery", "B": "query", "C": "query"}
TRAIN_PATTERN = re.compile(r"^(?P<camera>[ABC])_")


def read(root: Path) -> list[dict]:
    """Rows of the `images` table for a PRCC root (the folder holding `rgb`)."""
    rows = []
    for folder, split in TRAIN_FOLDERS.items():
        for pid, person in person_folders(root / folder):
            for path in list_images(person):
                camera = match_name(TRAIN_PATTERN, path)["camera"]
                rows.append(_row(root, path, camera, pid, split=split, role="train"))
    for camera, role in TEST_ROLES.items():
        for pid, person in person_folders(root / TEST_FOLDER / camera):
            rows.extend(_row(root, path, camera, pid, split="test", role=role)
                        for path in list_images(person))
    return rows


def _row(root: Path, path: Path, camera: str, pid: int, *, split: str, role: str) -> dict:
    return image_row(NAME, root, path, split=split, role=role, pid=pid, camera=CAMERAS[camera],
                     outfit=outfit_id(pid, OUTFITS[camera]))
