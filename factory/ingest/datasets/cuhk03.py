"""CUHK03 in the new protocol, CUHK03-NP (images: Li et al., "DeepReID: Deep Filter Pairing Neural
Network for Person Re-identification", CVPR 2014; split: Zhong et al., "Re-ranking Person
Re-identification with k-reciprocal Encoding", CVPR 2017).

1,467 identities, each seen by the two cameras of one of 5 camera pairs; train 767 ids, test 700
ids. Boxes come in two variants, each its own registry name:
- `cuhk03_labeled` (hand-drawn boxes): train 7,368, query 1,400, gallery 5,328 images;
- `cuhk03_detected` (DPM boxes): train 7,365, query 1,400, gallery 5,332 images.
Layout (zhunzhong07/person-re-ranking, CUHK03-NP): `<root>/{detected,labeled}/
{bounding_box_train,bounding_box_test,query}/0001_c1_1.png`, Market-1501 style names (pid, camera
1 or 2 within the pair). The root is the `cuhk03-np` folder.
"""

from pathlib import Path

from factory.ingest.datasets.market1501 import FOLDERS, PATTERN
from factory.ingest.datasets.records import read_flat_folders

NAME = "cuhk03"
VARIANTS = ("detected", "labeled")


def read_detected(root: Path) -> list[dict]:
    """Rows of the `images` table for the detected boxes (dataset `cuhk03_detected`)."""
    return read(root, variant="detected")


def read_labeled(root: Path) -> list[dict]:
    """Rows of the `images` table for the hand-labeled boxes (dataset `cuhk03_labeled`)."""
    return read(root, variant="labeled")


def read(root: Path, *, variant: str = "detected") -> list[dict]:
    """Rows of the `images` table for one box variant of a CUHK03-NP root."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown CUHK03 variant {variant!r}; valid variants: {VARIANTS}")
    folders = {f"{variant}/{folder}": roles for folder, roles in FOLDERS.items()}
    return read_flat_folders(f"{NAME}_{variant}", root, folders, PATTERN)
