"""LaST, Large-Scale Spatio-Temporal person re-ID (Shu et al., "Large-Scale Spatio-Temporal Person
Re-identification: Algorithm and Benchmark", IEEE TCSVT 2022), boxes cut from movies.

10,862 identities, 228,156 images: train 5,000 ids / 71,248 images, val 56 ids / 21,379 images
(query 100, gallery 21,279), test 5,806 ids / 135,529 images (query 10,176, gallery 125,353).
Layout (shuxjweb/last and guxinqian/Simple-CCReID): `train/<pid>/*.jpg`, `{val,test}/query/*.jpg`,
`{val,test}/gallery/<pid>/*.jpg`; a file name's first `_` field is the pid and, in `train/`, its
last field the clothes label.
Decisions (CAL's conventions): outfit `<pid>_<clothes>` in train and null in val and test, which
carry no clothes labels; LaST has no cameras, so every image gets its own camera number (the same-
camera filter of the standard protocol then never drops a true match).
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

NAME = "last"
# folder -> (split, role, images in per-person folders)
PARTS = {"train": ("train", "train", True),
         "val/query": ("val", "query", False), "val/gallery": ("val", "gallery", True),
         "test/query": ("test", "query", False), "test/gallery": ("test", "gallery", True)}
PATTERN = re.compile(r"^(?P<pid>\d+)_(?:.*_)?(?P<clothes>[^_]+)\.\w+$")


def read(root: Path) -> list[dict]:
    """Rows of the `images` table for a LaST root (the folder holding `train`, `val`, `test`)."""
    rows = []
    for folder, (split, role, per_person) in PARTS.items():
        if per_person:
            paths = [path for _pid, person in person_folders(root / folder)
                     for path in list_images(person)]
        else:
            paths = list_images(root / folder)
        for path in paths:
            found = match_name(PATTERN, path)
            pid = int(found["pid"])
            outfit = outfit_id(pid, found["clothes"]) if split == "train" else None
            rows.append(image_row(NAME, root, path, split=split, role=role, pid=pid,
                                  camera=len(rows) + 1, outfit=outfit))
    return rows
