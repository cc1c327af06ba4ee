"""CCVID, Clothes-Changing Video person re-ID (Gu et al., "Clothes-Changing Person
Re-identification with RGB Modality Only", CVPR 2022), re-cut from the FVG gait dataset.

226 identities in 2,856 tracklets, 347,833 frames: train 75 ids / 948 tracklets, test 151 ids:
query 834 tracklets, gallery 1,074 tracklets.
Layout (as guxinqian/Simple-CCReID reads it): `session<k>/<pid:03d>_<nn:02d>/*.jpg`, one folder per
tracklet; `{train,query,gallery}.txt` hold `<tracklet folder> <pid> <clothes label>` lines.
Decisions (CAL's conventions): every frame is one row; the camera is the tracklet's `_<nn>`
number, plus 12 in session 3 (its second recording of a person); outfit `<pid>_<clothes label>`.
"""

import re
from pathlib import Path

from factory.ingest.datasets.records import (
    DatasetError,
    image_row,
    list_images,
    outfit_id,
    read_list_lines,
)

NAME = "ccvid"
LISTS = {"train.txt": ("train", "train"), "query.txt": ("test", "query"),
         "gallery.txt": ("test", "gallery")}
TRACKLET = re.compile(r"^(?P<session>[^/]+)/\d+_(?P<camera>\d+)$")
LATE_SESSION = "session3"
LATE_SESSION_CAMERA_OFFSET = 12


def read(root: Path) -> list[dict]:
    """Rows of the `images` table, one per frame, for a CCVID root (the folder of the lists)."""
    rows = []
    for list_name, (split, role) in LISTS.items():
        list_file = root / list_name
        for number, (tracklet, pid, clothes) in read_list_lines(list_file, 3):
            found = TRACKLET.match(tracklet)
            if found is None or not pid.isdigit():
                raise DatasetError(list_file, f"line {number}: cannot read tracklet {tracklet!r} "
                                   f"of pid {pid!r}")
            folder = root / tracklet
            if not folder.is_dir():
                raise DatasetError(list_file, f"line {number}: names a missing tracklet {folder}")
            camera = int(found["camera"])
            if found["session"] == LATE_SESSION:
                camera += LATE_SESSION_CAMERA_OFFSET
            frames = list_images(folder)
            if not frames:
                raise DatasetError(folder, "tracklet has no frames")
            rows.extend(image_row(NAME, root, frame, split=split, role=role, pid=int(pid),
                                  camera=camera, outfit=outfit_id(int(pid), clothes))
                        for frame in frames)
    return rows
