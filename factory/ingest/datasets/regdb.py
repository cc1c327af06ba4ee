"""RegDB (Nguyen et al., "Person Recognition System Based on a Combination of Body Images from
Visible Light and Thermal Cameras", Sensors 2017).

412 identities, each seen by one visible and one thermal camera mounted together, 10 images per
camera: 4,120 visible + 4,120 thermal images. Ten random trials each split the ids 206 / 206:
train 2,060 visible + 2,060 thermal images, test 2,060 + 2,060.
Layout (as read by mangye16/Cross-Modal-Re-ID-baseline and ZYK100/LLCM): `Visible/<pid>/
<sex>_<view>_v_<index>_<pid>.bmp`, `Thermal/<pid>/<sex>_<view>_t_<index>_<pid>.bmp`;
`idx/{train,test}_{visible,thermal}_<trial>.txt` hold `<path relative to the root> <label>`
lines, labels renumbered per trial, so the pid is read from the person folder instead.
Decisions: one trial at a time, trial 1 (`TRIAL`) under the registry name `regdb`; other trials
via `images_table(regdb.read(root, trial=k), dataset="regdb")`. Visible camera 1, thermal camera
2. Test visible images are queries and thermal images the gallery (the baseline's default,
visible to thermal); the evaluator swaps the roles for thermal to visible.
"""

from pathlib import Path

from factory.ingest.datasets.records import (
    PERSON_FOLDER,
    image_row,
    match_name,
    read_image_list,
    require_dir,
)

NAME = "regdb"
TRIAL = 1
TRIALS = range(1, 11)
FOLDERS = ("Visible", "Thermal")
# list name -> (split, role, modality, camera)
LISTS = {"train_visible": ("train", "train", "rgb", 1),
         "train_thermal": ("train", "train", "ir", 2),
         "test_visible": ("test", "query", "rgb", 1),
         "test_thermal": ("test", "gallery", "ir", 2)}


def read(root: Path, *, trial: int = TRIAL) -> list[dict]:
    """Rows of the `images` table for one trial of a RegDB root (the folder holding `idx`)."""
    if trial not in TRIALS:
        raise ValueError(f"RegDB trial {trial!r} is not one of 1..10")
    for folder in FOLDERS:
        require_dir(root / folder)
    rows = []
    for list_name, (split, role, modality, camera) in LISTS.items():
        for path, _label in read_image_list(root / "idx" / f"{list_name}_{trial}.txt", root):
            pid = int(match_name(PERSON_FOLDER, path.parent)[1])
            rows.append(image_row(NAME, root, path, split=split, role=role, pid=pid,
                                  camera=camera, modality=modality))
    return rows
