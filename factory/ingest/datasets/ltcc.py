"""LTCC, Long-Term Cloth-Changing (Qian et al., "Long-Term Cloth-Changing Person
Re-identification", ACCV 2020).

152 identities in 478 outfits seen by 12 cameras, 17,119 images: train 77 ids / 9,576 images,
test 75 ids: query 493 images, gallery 7,050 images.
Layout (as guxinqian/Simple-CCReID reads it): `LTCC_ReID/{train,query,test}/
<pid:03d>_<clothes>_c<camera>_<frame>.png`, `test/` being the gallery. The root is `LTCC_ReID`.
Outfit `<pid>_<clothes>`.
"""

import re
from pathlib import Path

from factory.ingest.datasets.records import read_flat_folders

NAME = "ltcc"
FOLDERS = {"train": ("train", "train"), "query": ("test", "query"), "test": ("test", "gallery")}
PATTERN = re.compile(r"^(?P<pid>\d+)_(?P<clothes>\d+)_c(?P<camera>\d+)_")


def read(root: Path) -> list[dict]:
    """Rows of the `images` table for an LTCC root (the `LTCC_ReID` folder)."""
    return read_flat_folders(NAME, root, FOLDERS, PATTERN)
