"""Market-1501 (Zheng et al., "Scalable Person Re-identification: A Benchmark", ICCV 2015).

1,501 identities seen by 6 cameras, 32,668 boxes: train 751 ids / 12,936 images, query 750 ids /
3,368 images, gallery (bounding_box_test) 750 ids + distractors / 19,732 images.
Layout: `bounding_box_train|bounding_box_test|query/0001_c1s1_001051_00.jpg` (pid, camera, sequence,
frame, box). pid -1 marks junk boxes and is dropped; pid 0000 marks distractors, kept in the gallery
(as torchreid does).
"""

import re
from pathlib import Path

from factory.ingest.datasets.records import read_flat_folders

NAME = "market1501"
FOLDERS = {"bounding_box_train": ("train", "train"), "query": ("test", "query"),
           "bounding_box_test": ("test", "gallery")}
PATTERN = re.compile(r"^(?P<pid>[-\d]+)_c(?P<camera>\d)")
JUNK_PID = -1


def read(root: Path) -> list[dict]:
    """Rows of the `images` table (sizes filled in by the caller) for a Market-1501 root."""
    return read_flat_folders(NAME, root, FOLDERS, PATTERN, drop_pids=[JUNK_PID])
