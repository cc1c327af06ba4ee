"""MSMT17 (Wei et al., "Person Transfer GAN to Bridge Domain Gap for Person Re-Identification",
CVPR 2018).

4,101 identities seen by 15 cameras, 126,441 images: train 1,041 ids / 32,621 images (the
official `list_train.txt` 30,248 + `list_val.txt` 2,373), query 3,060 ids / 11,659 images, gallery
3,060 ids / 82,161 images.
Layout (MSMT17_V1; V2 names the image folders `mask_train_v2` and `mask_test_v2`): `train/` and
`test/` hold `<pid:04d>/<pid:04d>_<index>_<camera:02d>_<date><time>_<...>.jpg`; the list files
`list_{train,val,query,gallery}.txt` hold `<path relative to train/ or test/> <pid>` lines. The
camera is the third `_` field of the file name (as torchreid reads it).
Decisions: `list_val.txt` images are training-identity images the authors held out: split `val`,
role `train` (torchreid adds them to training only with `combineall`; the paper's training set
counts them). Test pids restart at 0 in the list files; they are shifted by 1,041
(`TEST_PID_OFFSET`) so that one pid names one person in the whole table.
"""

import re
from pathlib import Path

from factory.ingest.datasets.records import (
    DatasetError,
    image_row,
    match_name,
    read_image_list,
)

NAME = "msmt17"
IMAGE_FOLDERS = {"train": ("train", "mask_train_v2"), "test": ("test", "mask_test_v2")}
# list file -> (image folder, split, role)
LISTS = {"list_train.txt": ("train", "train", "train"),
         "list_val.txt": ("train", "val", "train"),
         "list_query.txt": ("test", "test", "query"),
         "list_gallery.txt": ("test", "test", "gallery")}
PATTERN = re.compile(r"^\d+_\d+_(?P<camera>\d+)_")
TEST_PID_OFFSET = 1041


def read(root: Path) -> list[dict]:
    """Rows of the `images` table for an MSMT17 root (the folder holding the list files)."""
    folders = {part: _image_folder(root, names) for part, names in IMAGE_FOLDERS.items()}
    rows = []
    for list_name, (part, split, role) in LISTS.items():
        offset = TEST_PID_OFFSET if part == "test" else 0
        for path, label in read_image_list(root / list_name, folders[part]):
            camera = int(match_name(PATTERN, path)["camera"])
            rows.append(image_row(NAME, root, path, split=split, role=role, pid=label + offset,
                                  camera=camera))
    return rows


def _image_folder(root: Path, names: tuple[str, ...]) -> Path:
    for name in names:
        if (root / name).is_dir():
            return root / name
    raise DatasetError(root / names[0], f"missing folder (MSMT17_V2 calls it {names[1]!r})")
