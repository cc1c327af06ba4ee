"""What every dataset reader shares: image rows of the `images` table and clear layout errors."""

import hashlib
import os
import re
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

import pyarrow as pa
from PIL import Image, UnidentifiedImageError
from tqdm import tqdm

from factory.image_files import ImageFileError, load_rgb
from factory.storage import ObjectPath, storage_path
from schemas import validate
from schemas.validate import SchemaError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
READ_THREADS = min(16, os.cpu_count() or 1)


class DatasetError(ValueError):
    """A dataset on disk that does not match its layout; the message names the file at fault."""

    def __init__(self, path: str | Path | ObjectPath, problem: str):
        self.path = storage_path(path)
        super().__init__(f"{path}: {problem}")


def image_id(dataset: str, relative_path: str) -> str:
    """Stable id of an image: a hash of its dataset and its path relative to the dataset root."""
    return hashlib.blake2b(f"{dataset}/{relative_path}".encode(), digest_size=8).hexdigest()


def require_dir(path: Path) -> Path:
    if not path.is_dir():
        raise DatasetError(path, "missing folder")
    return path


def require_file(path: Path) -> Path:
    if not path.is_file():
        raise DatasetError(path, "missing file")
    return path


def visible_entries(folder: Path) -> list[Path]:
    """The entries of `folder` a dataset is made of, sorted by name: hidden ones are strays a
    copy picked up (`.DS_Store`, macOS's `._<name>.jpg`, `.ipynb_checkpoints`), never data."""
    return sorted(p for p in require_dir(folder).iterdir() if not p.name.startswith("."))


def list_images(folder: Path) -> list[Path]:
    """Image files directly in `folder`, sorted by name."""
    return [p for p in visible_entries(folder) if p.suffix.lower() in IMAGE_SUFFIXES]


def match_name(pattern: re.Pattern, path: Path) -> re.Match:
    """Match a dataset's file-name pattern or raise an error naming the file."""
    found = pattern.search(path.name)
    if found is None:
        raise DatasetError(
            path, f"file name does not match the dataset's pattern {pattern.pattern!r}")
    return found


def read_id_list(path: Path) -> list[int]:
    """Person ids from a list file; ids may be separated by commas, spaces or new lines."""
    text = require_file(path).read_text()
    ids = []
    for token in re.split(r"[,\s]+", text.strip()):
        if not token:
            continue
        if not token.isdigit():
            raise DatasetError(path, f"{token!r} is not a person id")
        ids.append(int(token))
    return ids


def image_row(dataset: str, root: Path, path: Path, **columns) -> dict:
    """One `images` row: the given columns plus id, path and origin; size is filled in later."""
    relative = path.relative_to(root).as_posix()
    row = {"image_id": image_id(dataset, relative), "dataset": dataset, "path": str(path),
           "modality": "rgb", "outfit": None, "origin": "real"}
    row.update(columns)
    return row


def _image_size(path: str, *, verify: bool) -> tuple[int, int]:
    """Width and height from the header, or from a full decode when `verify` (which also catches
    truncated files; a header read cannot)."""
    if verify:
        try:
            return load_rgb(path).size
        except ImageFileError as exc:
            raise DatasetError(path, str(exc).removeprefix(f"{path}: ")) from None
    try:
        with storage_path(path).open("rb") as stream, Image.open(stream) as image:
            return image.size
    except FileNotFoundError:
        raise DatasetError(path, "missing image file") from None
    except (UnidentifiedImageError, OSError) as exc:
        raise DatasetError(path, f"unreadable image ({exc})") from None


def images_table(rows: Iterable[dict], *, dataset: str, progress: bool = False,
                 verify: bool = True) -> pa.Table:
    """Fill in each row's width and height from its image (decoded whole unless `verify` is
    False, then from its header) and build the `images` table. Images are read on a thread pool
    (decoding releases the GIL); the first bad image in row order is the one named."""
    rows = list(rows)
    if not rows:
        raise DatasetError(Path(dataset), "no images found")
    what = "decoding images" if verify else "reading image headers"
    bar = tqdm(total=len(rows), desc=f"{dataset}: {what}", unit="img", disable=not progress,
               mininterval=1.0)
    with bar, ThreadPoolExecutor(max_workers=READ_THREADS) as pool:
        sizes = pool.map(partial(_image_size, verify=verify), (row["path"] for row in rows),
                         chunksize=64)
        for row, (width, height) in zip(rows, sizes, strict=True):
            row["width"], row["height"] = width, height
            bar.update(1)
    try:
        return validate(pa.Table.from_pylist(rows), "images", source=dataset)
    except SchemaError as exc:  # a row breaks the contract: name its image file
        if exc.row is None:
            raise
        raise DatasetError(rows[exc.row]["path"], f"column {exc.column!r}: {exc.problem}") from None


# Shared by several readers: flat folders named like Market-1501, list files, per-person folders.

PERSON_FOLDER = re.compile(r"^(-?\d+)$")


def outfit_id(pid: int, clothes: str | int) -> str:
    """Outfit id unique within a dataset: the person and that person's clothes label."""
    return f"{pid}_{int(clothes)}" if str(clothes).isdigit() else f"{pid}_{clothes}"


def read_flat_folders(dataset: str, root: Path, folders: dict[str, tuple[str, str]],
                      pattern: re.Pattern, *, drop_pids: Iterable[int] = ()) -> list[dict]:
    """Rows of a layout with one flat image folder per (split, role), Market-1501 style.

    `pattern` names the groups `pid` and `camera` in a file name, and `clothes` where the dataset
    labels clothes (the outfit is then `<pid>_<clothes>`). Images of `drop_pids` are left out.
    """
    drop_pids = set(drop_pids)
    rows = []
    for folder, (split, role) in folders.items():
        for path in list_images(require_dir(root / folder)):
            found = match_name(pattern, path)
            pid, camera = int(found["pid"]), int(found["camera"])
            if pid in drop_pids:
                continue
            outfit = outfit_id(pid, found["clothes"]) if "clothes" in pattern.groupindex else None
            rows.append(image_row(dataset, root, path, split=split, role=role, pid=pid,
                                  camera=camera, outfit=outfit))
    return rows


def read_list_lines(path: Path, fields: int) -> list[tuple[int, list[str]]]:
    """(line number, fields) of each non-blank line of a whitespace-separated list file."""
    lines = []
    for number, line in enumerate(require_file(path).read_text().splitlines(), start=1):
        if not line.strip():
            continue
        values = line.split()
        if len(values) != fields:
            raise DatasetError(path, f"line {number}: expected {fields} fields, got {line!r}")
        lines.append((number, values))
    if not lines:
        raise DatasetError(path, "list file is empty")
    return lines


def read_image_list(path: Path, base: Path) -> list[tuple[Path, int]]:
    """(image, label) of each `<image path relative to base> <integer label>` line of a list."""
    entries = []
    for number, (relative, label) in read_list_lines(path, 2):
        if not re.fullmatch(r"-?\d+", label):
            raise DatasetError(path, f"line {number}: label {label!r} is not an integer")
        image = base / relative
        if not image.is_file():
            raise DatasetError(path, f"line {number}: names a missing image {image}")
        entries.append((image, int(label)))
    return entries


def person_folders(parent: Path) -> list[tuple[int, Path]]:
    """(pid, folder) of each sub-folder of `parent`, which must be named by its person id."""
    folders = [p for p in visible_entries(parent) if p.is_dir()]
    return [(int(match_name(PERSON_FOLDER, folder)[1]), folder) for folder in folders]


def listed_person_images(id_list: Path, folders: dict) -> list[tuple[int, object, Path]]:
    """(pid, folder key, image) of each person listed in `id_list` (SYSU-MM01 style).

    A person's images lie in `<folder>/<pid:04d>/` for any folder of `folders` (key -> folder);
    a listed person with no images in any of them is an error naming the list.
    """
    found = []
    for pid in read_id_list(id_list):
        images = [(pid, key, image) for key, folder in folders.items()
                  if (folder / f"{pid:04d}").is_dir()
                  for image in list_images(folder / f"{pid:04d}")]
        if not images:
            where = ", ".join(f"{f.parent.name}/{f.name}/{pid:04d}" for f in folders.values())
            raise DatasetError(id_list, f"lists person {pid}, who has no images in {where}")
        found.extend(images)
    return found
