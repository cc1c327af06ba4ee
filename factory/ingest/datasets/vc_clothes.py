"""VC-Clothes (Wan et al., "When Person Re-identification Meets Changing Clothes", CVPR Workshops
2020), rendered in the GTA5 game engine.

512 identities seen by 4 cameras, 19,060 images: train 256 ids / 9,449
images, test 256 ids: query 1,020 images, gallery 8,591 images.
Layout (as guxinqian/Simple-CCReID reads it): `VC-Clothes/{train,query,gallery}/
<pid:04d>-<camera:02d>-<clothes:02d>-<frame:02d>.jpg`. The root is `VC-Clothes`. Outfit
`<pid>_<clothes>`. The same-clothes (cameras 2, 3) and clothes-changing (cameras 3, 4) settings
are evaluation filters, not separate tables.
"""

import re
from pathlib import Path

from factory.ingest.datasets.records import read_flat_folders

NAME = "vc_clothes"
FOLDERS = {"train": ("train", "train"), "query": ("test", "query"),
           "gallery": ("test", "gallery")}
PATTERN = re.compile(r"^(?P<pid>\d+)-(?P<camera>\d+)-(?P<clothes>\d+)-\d+")


def read(root: Path) -> list[dict]:
    """Rows of the `images` table for a VC-Clothes root (the `VC-Clothes` folder)."""
    return read_flat_folders(NAME, root, FOLDERS, PATTERN)
