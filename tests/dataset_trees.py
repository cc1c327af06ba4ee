"""Tiny trees in the real datasets' on-disk layouts, and the `images` rows each must give.

Every builder writes real images (SIZE pixels, in the dataset's own format) and list files named
exactly as the dataset names them, and returns a Tree whose `expected` maps each image's path
relative to the root to (split, role, pid, camera, modality, outfit).
"""

from pathlib import Path

import pyarrow as pa
import pytest
from PIL import Image

from factory.ingest.datasets import DatasetError, read_dataset
from factory.ingest.datasets.records import image_id
from schemas.tables import IMAGES

SIZE = (4, 8)  # width, height


def write_image(path: Path, size: tuple[int, int] = SIZE) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (200, 120, 40)).save(path)  # the format follows the suffix
    return path


def write_lines(path: Path, lines: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{line}\n" for line in lines))
    return path


class Tree:
    """A dataset tree being written, with the row each of its images must give."""

    def __init__(self, root: Path):
        self.root = root
        self.expected: dict[str, tuple] = {}

    def image(self, relative: str, split: str, role: str, pid: int, camera: int, *,
              modality: str = "rgb", outfit: str | None = None) -> str:
        write_image(self.root / relative)
        self.expected[relative] = (split, role, pid, camera, modality, outfit)
        return relative

    def ignored(self, relative: str) -> None:
        """A file the reader must leave out (junk boxes, files that are not images)."""
        path = self.root / relative
        if path.suffix in (".jpg", ".png", ".bmp"):
            write_image(path)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"thumbnail cache")

    def lines(self, relative: str, lines: list[str]) -> Path:
        return write_lines(self.root / relative, lines)

    def check(self, table: pa.Table, dataset: str) -> None:
        """Every column of every row, and the exact set of images."""
        assert table.schema.equals(IMAGES)
        root = self.root.resolve()
        rows = table.to_pylist()
        found = {}
        for row in rows:
            relative = Path(row["path"]).relative_to(root).as_posix()
            found[relative] = (row["split"], row["role"], row["pid"], row["camera"],
                               row["modality"], row["outfit"])
            assert row["dataset"] == dataset
            assert row["origin"] == "real"
            assert (row["width"], row["height"]) == SIZE
            assert row["image_id"] == image_id(dataset, relative)
        assert found == self.expected
        assert len(rows) == len(self.expected)
        assert len({row["image_id"] for row in rows}) == len(rows)

    def read_and_check(self, dataset: str) -> pa.Table:
        table = read_dataset(dataset, self.root)
        self.check(table, dataset)
        return table


def assert_dataset_error(dataset: str, root: Path, culprit: Path, words: str = "") -> None:
    """Reading fails with a DatasetError that names `culprit` (and says `words`)."""
    with pytest.raises(DatasetError) as caught:
        read_dataset(dataset, root)
    assert caught.value.path.resolve() == culprit.resolve()
    assert str(culprit.name) in str(caught.value)
    assert words in str(caught.value)


def market_tree(root: Path) -> Tree:
    tree = Tree(root)
    tree.image("bounding_box_train/0002_c1s1_000451_01.jpg", "train", "train", 2, 1)
    tree.image("bounding_box_train/0002_c2s1_000301_01.jpg", "train", "train", 2, 2)
    tree.image("bounding_box_train/0007_c6s1_012351_02.jpg", "train", "train", 7, 6)
    tree.image("query/0001_c1s1_001051_00.jpg", "test", "query", 1, 1)
    tree.image("query/0001_c5s1_000426_00.jpg", "test", "query", 1, 5)
    tree.image("bounding_box_test/0001_c3s1_000551_03.jpg", "test", "gallery", 1, 3)
    tree.image("bounding_box_test/0000_c1s1_000151_01.jpg", "test", "gallery", 0, 1)
    tree.ignored("bounding_box_test/-1_c1s1_000401_03.jpg")
    tree.ignored("bounding_box_test/Thumbs.db")
    return tree


def duke_tree(root: Path) -> Tree:
    tree = Tree(root)
    tree.image("bounding_box_train/0005_c2_f0046985.jpg", "train", "train", 5, 2)
    tree.image("bounding_box_train/0005_c5_f0051341.jpg", "train", "train", 5, 5)
    tree.image("query/0003_c1_f0044158.jpg", "test", "query", 3, 1)
    tree.image("bounding_box_test/0003_c8_f0094386.jpg", "test", "gallery", 3, 8)
    tree.image("bounding_box_test/4250_c4_f0061200.jpg", "test", "gallery", 4250, 4)
    return tree


def cuhk03_tree(root: Path, variant: str) -> Tree:
    """Both variants on disk; the expected rows are those of `variant`."""
    trees = {name: Tree(root) for name in ("detected", "labeled")}
    for name, tree in trees.items():
        tree.image(f"{name}/bounding_box_train/0001_c1_1.png", "train", "train", 1, 1)
        tree.image(f"{name}/bounding_box_train/0001_c2_6.png", "train", "train", 1, 2)
        tree.image(f"{name}/query/0012_c1_3.png", "test", "query", 12, 1)
        tree.image(f"{name}/bounding_box_test/0012_c2_8.png", "test", "gallery", 12, 2)
    trees["detected"].image("detected/bounding_box_test/0012_c1_2.png", "test", "gallery", 12, 1)
    return trees[variant]


def msmt17_tree(root: Path, *, v2: bool = False) -> Tree:
    train, test = ("mask_train_v2", "mask_test_v2") if v2 else ("train", "test")
    # list file -> (image folder, split, role, [(image, label, camera)])
    lists = {
        "list_train.txt": (train, "train", "train", [
            ("0000/0000_000_01_0303morning_0015_0.jpg", 0, 1),
            ("0000/0000_001_05_0303noon_0036_1.jpg", 0, 5)]),
        "list_val.txt": (train, "val", "train", [
            ("0001/0001_000_14_0303afternoon_0589_0.jpg", 1, 14)]),
        "list_query.txt": (test, "test", "query", [
            ("0000/0000_000_07_0303morning_0040_0.jpg", 0, 7)]),
        "list_gallery.txt": (test, "test", "gallery", [
            ("0000/0000_001_15_0303noon_0090_1.jpg", 0, 15),
            ("0001/0001_002_02_0302noon_0210_2.jpg", 1, 2)]),
    }
    tree = Tree(root)
    for list_name, (folder, split, role, images) in lists.items():
        for name, label, camera in images:
            pid = label + (1041 if folder == test else 0)  # test pids restart at 0
            tree.image(f"{folder}/{name}", split, role, pid, camera)
        tree.lines(list_name, [f"{name} {label}" for name, label, _ in images])
    tree.ignored(f"{train}/0002/0002_000_03_0303morning_0100_0.jpg")  # in no list
    return tree


def sysu_tree(root: Path) -> Tree:
    tree = Tree(root)
    # pid -> (split, cameras that saw the person); person 2 was never seen by camera 6
    people = {1: ("train", (1, 2, 3, 6)), 2: ("train", (4, 3)), 3: ("val", (5, 6)),
              4: ("test", (1, 3, 4)), 5: ("test", (2, 6))}
    for pid, (split, cameras) in people.items():
        for camera in cameras:
            modality = "ir" if camera in (3, 6) else "rgb"
            role = {"ir": "query", "rgb": "gallery"}[modality] if split == "test" else "train"
            for index in (1, 2) if camera == 1 else (1,):
                tree.image(f"cam{camera}/{pid:04d}/{index:04d}.jpg", split, role, pid, camera,
                           modality=modality)
    for camera in range(1, 7):
        (root / f"cam{camera}").mkdir(exist_ok=True)
    tree.ignored("cam5/0009/0001.jpg")  # a person in no id list
    tree.lines("exp/train_id.txt", ["1,2"])
    tree.lines("exp/val_id.txt", ["3"])
    tree.lines("exp/test_id.txt", ["4,5"])
    return tree


def regdb_tree(root: Path, trial: int = 1) -> Tree:
    """Trials 1 and 2 on disk (their train and test ids swapped); expected rows of `trial`."""
    tree = Tree(root)
    halves = {1: ((1, 2), (3, 4)), 2: ((3, 4), (1, 2))}
    for number, (train_ids, test_ids) in halves.items():
        for part, ids in (("train", train_ids), ("test", test_ids)):
            for folder, kind, modality, camera, role in [
                ("Visible", "v", "rgb", 1, "train" if part == "train" else "query"),
                ("Thermal", "t", "ir", 2, "train" if part == "train" else "gallery"),
            ]:
                names = [f"{folder}/{pid}/male_front_{kind}_{pid * 10 + k:05d}_{pid}.bmp"
                         for pid in ids for k in (1, 2)]
                for name in names:
                    pid = int(name.split("/")[1])
                    if number == trial:
                        tree.image(name, part, role, pid, camera, modality=modality)
                    else:
                        write_image(root / name)
                labels = [f"{name} {ids.index(int(name.split('/')[1]))}" for name in names]
                tree.lines(f"idx/{part}_{folder.lower()}_{number}.txt", labels)
    return tree


def llcm_tree(root: Path) -> Tree:
    tree = Tree(root)
    train = {"vis": [(1, 1, "s174269_f2925"), (1, 4, "s174301_f0120"), (2, 9, "s180002_f0001")],
             "nir": [(1, 6, "s200656_f4830"), (2, 2, "s201001_f0311")]}
    for folder, images in train.items():
        modality = "rgb" if folder == "vis" else "ir"
        names = [tree.image(f"{folder}/{pid:04d}/{pid:04d}_c{camera:02d}_{rest}_{folder}.jpg",
                            "train", "train", pid, camera, modality=modality)
                 for pid, camera, rest in images]
        tree.lines(f"idx/train_{folder}.txt", [f"{name} {int(name[4:8]) - 1}" for name in names])
    # the NIR test set has no cam3; person 4 is seen by one camera of each modality
    test = [("vis", 1, 3), ("vis", 2, 3), ("vis", 9, 4), ("nir", 4, 3), ("nir", 1, 4)]
    for folder, camera, pid in test:
        modality, role = ("rgb", "gallery") if folder == "vis" else ("ir", "query")
        tree.image(f"test_{folder}/cam{camera}/{pid:04d}/{pid:04d}_c{camera:02d}_s1_f1_{folder}.jpg",
                   "test", role, pid, camera, modality=modality)
    tree.lines("idx/test_id.txt", ["3,4"])
    return tree


def prcc_tree(root: Path) -> Tree:
    tree = Tree(root)
    for split, name in [("train", "A_cropped_rgb001.jpg"), ("train", "B_cropped_rgb010.jpg"),
                        ("train", "C_cropped_rgb100.jpg"), ("val", "A_cropped_rgb002.jpg"),
                        ("val", "C_cropped_rgb101.jpg")]:
        camera = "ABC".index(name[0]) + 1
        tree.image(f"rgb/{split}/001/{name}", split, "train", 1, camera,
                   outfit="1_2" if name[0] == "C" else "1_1")
    tree.image("rgb/train/002/B_cropped_rgb005.jpg", "train", "train", 2, 2, outfit="2_1")
    for camera, role in (("A", "gallery"), ("B", "query"), ("C", "query")):
        number = "ABC".index(camera) + 1
        tree.image(f"rgb/test/{camera}/151/cropped_rgb00{number}.jpg", "test", role, 151, number,
                   outfit="151_2" if camera == "C" else "151_1")
    return tree


def ltcc_tree(root: Path) -> Tree:
    tree = Tree(root)
    tree.image("train/001_1_c11_015839.png", "train", "train", 1, 11, outfit="1_1")
    tree.image("train/001_2_c4_002134.png", "train", "train", 1, 4, outfit="1_2")
    tree.image("train/094_7_c1_000007.png", "train", "train", 94, 1, outfit="94_7")
    tree.image("query/003_1_c2_000123.png", "test", "query", 3, 2, outfit="3_1")
    tree.image("test/003_1_c5_000456.png", "test", "gallery", 3, 5, outfit="3_1")
    tree.image("test/003_3_c12_007777.png", "test", "gallery", 3, 12, outfit="3_3")
    return tree


def vc_clothes_tree(root: Path) -> Tree:
    tree = Tree(root)
    tree.image("train/0001-01-01-01.jpg", "train", "train", 1, 1, outfit="1_1")
    tree.image("train/0001-03-02-05.jpg", "train", "train", 1, 3, outfit="1_2")
    tree.image("query/0257-02-01-01.jpg", "test", "query", 257, 2, outfit="257_1")
    tree.image("gallery/0257-03-01-04.jpg", "test", "gallery", 257, 3, outfit="257_1")
    tree.image("gallery/0257-04-02-02.jpg", "test", "gallery", 257, 4, outfit="257_2")
    return tree


def ccvid_tree(root: Path) -> Tree:
    tree = Tree(root)
    # list -> (tracklet, pid, clothes label, frames, camera)
    tracklets = {
        "train.txt": [("session1/001_01", "001", "u1_l1_s1_c1_a1", 2, 1),
                      ("session3/001_02", "001", "u2_l2_s1_c1_a1", 1, 14)],
        "query.txt": [("session1/002_03", "002", "u1_l1_s2_c1_a1", 1, 3)],
        "gallery.txt": [("session2/002_04", "002", "u3_l1_s2_c1_a1", 2, 4)],
    }
    for list_name, entries in tracklets.items():
        split, role = ("train", "train") if list_name == "train.txt" else ("test", list_name[:-4])
        for tracklet, pid, clothes, frames, camera in entries:
            for frame in range(1, frames + 1):
                tree.image(f"{tracklet}/{frame:05d}.jpg", split, role, int(pid), camera,
                           outfit=f"{int(pid)}_{clothes}")
        tree.lines(list_name, [f"{t}\t{pid}\t{clothes}" for t, pid, clothes, _, _ in entries])
    return tree


def last_tree(root: Path) -> Tree:
    tree = Tree(root)
    images = [  # in the reader's order: train, val query, val gallery, test query, test gallery
        ("train/000001/000001_0_tt0099685_00017_0.jpg", "train", "train", 1, "1_0"),
        ("train/000001/000001_3_tt0099685_00122_1.jpg", "train", "train", 1, "1_1"),
        ("train/000002/000002_0_tt0110912_00301_0.jpg", "train", "train", 2, "2_0"),
        ("val/query/005001_0_tt0100001_00001_0.jpg", "val", "query", 5001, None),
        ("val/gallery/005001/005001_1_tt0100001_00099_0.jpg", "val", "gallery", 5001, None),
        ("test/query/005060_0_tt0200002_00005_0.jpg", "test", "query", 5060, None),
        ("test/gallery/005060/005060_2_tt0200002_00410_0.jpg", "test", "gallery", 5060, None),
        ("test/gallery/005061/005061_0_tt0200003_00007_0.jpg", "test", "gallery", 5061, None),
    ]
    for camera, (name, split, role, pid, outfit) in enumerate(images, start=1):
        tree.image(name, split, role, pid, camera, outfit=outfit)
    return tree
