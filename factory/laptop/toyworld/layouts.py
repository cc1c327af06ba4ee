"""Plans of toy datasets in the real on-disk layouts, so the real readers run on them.

Persons of the training and test splits are disjoint, as in the real datasets. File names follow
each dataset exactly (see the readers in `factory.ingest.datasets` for the conventions and sources).
"""

from collections.abc import Callable
from pathlib import Path

import numpy as np

from factory.laptop.toyworld.writer import LayoutPlan, Shot, write_plan
from schemas.configs import ToyWorldConfig

DISTRACTOR_PERSON = 100_000  # rendered persons behind Market's distractor (0000) and junk (-1) ids
JUNK_PERSON = 200_000
SYSU_IR_CAMERAS = (3, 6)
PRCC_CAMERAS = {"A": 1, "B": 2, "C": 3}  # A and B see the same clothes, C other clothes
LLCM_CAMERAS = {"rgb": (1, 2, 3, 4), "ir": (1, 2, 4)}  # like the real test set, no NIR cam3
LLCM_WORDS = {"rgb": "vis", "ir": "nir"}


def _camera_subset(config: ToyWorldConfig, pid: int, cameras: int, keep: int) -> list[int]:
    """The cameras that saw person `pid`: `keep` of 1..`cameras`, fixed by the seed."""
    rng = np.random.default_rng([config.seed, pid, 7])
    return sorted(int(c) + 1 for c in rng.choice(cameras, size=keep, replace=False))


def _split_pids(config: ToyWorldConfig, *, val: int = 0) -> tuple[range, range, range]:
    """Person ids of the train, val and test splits, numbered from 1."""
    train = range(1, config.train_identities + 1)
    val_ids = range(train.stop, train.stop + val)
    test = range(val_ids.stop, val_ids.stop + config.test_identities)
    return train, val_ids, test


def _market_name(pid: int, camera: int, frame: int) -> str:
    return f"{pid:04d}_c{camera}s1_{frame:06d}_00.jpg" if pid >= 0 else \
        f"{pid}_c{camera}s1_{frame:06d}_00.jpg"


def plan_market1501(config: ToyWorldConfig) -> LayoutPlan:
    train, _, test = _split_pids(config)
    shots = []
    for pid in [*train, *test]:
        for camera in _camera_subset(config, pid, cameras=6, keep=4):
            for k in range(config.images_per_camera):
                frame = 100 * camera + k
                if pid in train:
                    folder = "bounding_box_train"
                else:
                    folder = "query" if k == 0 else "bounding_box_test"
                shots.append(Shot(f"{folder}/{_market_name(pid, camera, frame)}", pid, pid, 0,
                                  camera, "rgb", frame))
    extras = [(0, DISTRACTOR_PERSON + k) for k in range(max(1, len(test) // 2))]
    extras += [(-1, JUNK_PERSON + k) for k in range(2)]
    for n, (pid, person) in enumerate(extras):
        camera = n % 6 + 1
        shots.append(Shot(f"bounding_box_test/{_market_name(pid, camera, 10_000 + n)}", pid,
                          person, 0, camera, "rgb", n))
    return LayoutPlan("market1501", shots)


def plan_sysu_mm01(config: ToyWorldConfig) -> LayoutPlan:
    train, val, test = _split_pids(config, val=max(2, config.train_identities // 4))
    shots = []
    for pid in [*train, *val, *test]:
        for camera in range(1, 7):
            modality = "ir" if camera in SYSU_IR_CAMERAS else "rgb"
            for k in range(config.images_per_camera):
                shots.append(Shot(f"cam{camera}/{pid:04d}/{k + 1:04d}.jpg", pid, pid, 0, camera,
                                  modality, 10 * camera + k))
    files = {f"exp/{name}_id.txt": ",".join(str(pid) for pid in pids)
             for name, pids in (("train", train), ("val", val), ("test", test))}
    return LayoutPlan("sysu_mm01", shots, files)


def plan_prcc(config: ToyWorldConfig) -> LayoutPlan:
    train, val, test = _split_pids(config, val=max(2, config.train_identities // 4))
    shots = []
    for split, pids in (("train", train), ("val", val), ("test", test)):
        for pid in pids:
            for letter, camera in PRCC_CAMERAS.items():
                folder = f"rgb/test/{letter}/{pid:03d}" if split == "test" else \
                    f"rgb/{split}/{pid:03d}"
                for k in range(config.images_per_camera):
                    name = f"{letter}_cropped_rgb{10 * camera + k + 1:03d}.jpg"
                    shots.append(Shot(f"{folder}/{name}", pid, pid, int(letter == "C"), camera,
                                      "rgb", 10 * camera + k))
    return LayoutPlan("prcc", shots)


def plan_ltcc(config: ToyWorldConfig) -> LayoutPlan:
    train, _, test = _split_pids(config)
    shots = []
    for pid in [*train, *test]:
        for outfit in range(config.outfits):
            cameras = _camera_subset(config, pid * 16 + outfit, cameras=6, keep=2)
            for n, camera in enumerate(cameras):
                for k in range(config.images_per_camera):
                    frame = 1000 * outfit + 100 * camera + k
                    if pid in train:
                        folder = "train"
                    else:
                        folder = "query" if n == 0 and k == 0 else "test"
                    name = f"{pid:03d}_{outfit + 1}_c{camera}_{frame:06d}.png"
                    shots.append(Shot(f"{folder}/{name}", pid, pid, outfit, camera, "rgb", frame))
    return LayoutPlan("ltcc", shots)


def _llcm_shots(config: ToyWorldConfig, pid: int, folder) -> list[Shot]:
    shots = []
    for modality, cameras in LLCM_CAMERAS.items():
        word = LLCM_WORDS[modality]
        for camera in cameras:
            for k in range(config.images_per_camera):
                frame = 100 * camera + k
                name = f"{pid:04d}_c{camera:02d}_s{200000 + pid}_f{frame}_{word}.jpg"
                shots.append(Shot(f"{folder(word, camera)}/{pid:04d}/{name}", pid, pid, 0,
                                  camera, modality, frame))
    return shots


def plan_llcm(config: ToyWorldConfig) -> LayoutPlan:
    train, _, test = _split_pids(config)
    shots, lists = [], {"vis": [], "nir": []}
    for label, pid in enumerate(train):
        for shot in _llcm_shots(config, pid, lambda word, camera: word):
            shots.append(shot)
            lists[LLCM_WORDS[shot.modality]].append(f"{shot.relative_path} {label}")
    for pid in test:
        shots += _llcm_shots(config, pid, lambda word, camera: f"test_{word}/cam{camera}")
    files = {f"idx/train_{word}.txt": "\n".join(lines) + "\n" for word, lines in lists.items()}
    files["idx/test_id.txt"] = ",".join(str(pid) for pid in test)
    return LayoutPlan("llcm", shots, files)


PLANS: dict[str, Callable[[ToyWorldConfig], LayoutPlan]] = {
    "market1501": plan_market1501,
    "ltcc": plan_ltcc,
    "prcc": plan_prcc,
    "sysu_mm01": plan_sysu_mm01,
    "llcm": plan_llcm,
}


def render_layout(config: ToyWorldConfig, out: Path, *, progress: bool = False) -> Path:
    """Render the toy world of `config` into folder `out` in its layout; returns `out`."""
    plan = PLANS[config.layout](config)
    return write_plan(plan, Path(out), seed=config.seed, size=(config.height, config.width),
                      workers=config.workers, progress=progress)
