"""What every dataset reader shares: image rows of the `images` table and clear layout errors."""

import hashlib
import re
from collections.abc import Iterable
from pathlib import Path

import pyarrow as pa
from PIL import Image, UnidentifiedImageError
from tqdm import tqdm

from schemas import validate

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")


class DatasetError(ValueError):
    """A dataset on disk that does not match its layout; the message names the file at fault."""

    def __init__(self, path: str | Path, problem: str):
        self.path = Path(path)
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


def list_images(folder: Path) -> list[Path]:
    """Image files directly in `folder`, sorted by name."""
    require_dir(folder)
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def match_name(pattern: re.Pattern, path: Path) -> re.Match:
    """Match a dataset's file-name pattern or raise an error naming the file."""
    found = pattern.search(path.name)
    if found is None:
        raise DatasetError(path, f"file name does not match the dataset's pattern {pattern.pattern!r}")
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


def _image_size(path: str) -> tuple[int, int]:
    try:
        with Image.open(path) as image:
            return image.size
    except FileNotFoundError:
        raise DatasetError(path, "missing image file") from None
    except (UnidentifiedImageError, OSError) as exc:
        raise DatasetError(path, f"unreadable image ({exc})") from None


def images_table(rows: Iterable[dict], *, dataset: str, progress: bool = False) -> pa.Table:
    """Fill in each row's width and height from its image header and build the `images` table."""
    rows = list(rows)
    if not rows:
        raise DatasetError(Path(dataset), "no images found")
    for row in tqdm(rows, desc=f"{dataset}: reading image headers", unit="img",
                    disable=not progress, mininterval=1.0):
        row["width"], row["height"] = _image_size(row["path"])
    return validate(pa.Table.from_pylist(rows), "images", source=dataset)
