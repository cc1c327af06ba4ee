"""SYSU-MM01 (Wu et al., "RGB-Infrared Cross-Modality Person Re-Identification", ICCV 2017).

491 identities seen by 4 RGB cameras (1, 2 indoor; 4, 5 outdoor) and 2 near-infrared cameras
(3 indoor, 6 outdoor): 30,071 RGB and 15,792 IR images. Official id lists: train 296 ids, val 99
ids, test 96 ids. The usual protocol trains on train + val (395 ids: 22,258 RGB + 11,909 IR
images) and queries with the 3,803 IR images of the test ids against their RGB images.
Layout: `cam1..cam6/<pid:04d>/<index:04d>.jpg`; `exp/{train,val,test}_id.txt` list the ids,
comma-separated. Not every person is seen by every camera.
Decisions: val ids get split `val`, role `train` (training images held out by the official lists,
as MSMT17's val); test IR images are queries and test RGB images the gallery, all of them: the
evaluator draws the single-shot gallery (one image per person and camera) and the indoor subset.
"""

from pathlib import Path

from factory.ingest.datasets.records import image_row, listed_person_images, require_dir

NAME = "sysu_mm01"
RGB_CAMERAS = (1, 2, 4, 5)
IR_CAMERAS = (3, 6)
ID_LISTS = {"train": "exp/train_id.txt", "val": "exp/val_id.txt", "test": "exp/test_id.txt"}
TEST_ROLES = {"ir": "query", "rgb": "gallery"}


def read(root: Path) -> list[dict]:
    """Rows of the `images` table for a SYSU-MM01 root (the folder holding `cam1` and `exp`)."""
    cameras = {camera: require_dir(root / f"cam{camera}")
               for camera in sorted(RGB_CAMERAS + IR_CAMERAS)}
    rows = []
    for split, id_list in ID_LISTS.items():
        for pid, camera, path in listed_person_images(root / id_list, cameras):
            modality = "ir" if camera in IR_CAMERAS else "rgb"
            role = TEST_ROLES[modality] if split == "test" else "train"
            rows.append(image_row(NAME, root, path, split=split, role=role, pid=pid,
                                  camera=camera, modality=modality))
    return rows
