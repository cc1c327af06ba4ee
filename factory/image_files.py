"""Opening image files with errors that name the file: corrupt, truncated or missing images."""

import io
import os

from PIL import Image, UnidentifiedImageError

from factory.storage import ObjectPath, is_uri, storage_path


class ImageFileError(OSError):
    """An image file that cannot be decoded; the message names the file."""


def load_rgb(path: str | os.PathLike | ObjectPath) -> Image.Image:
    """Decode `path` (local or in a bucket) completely (a truncated file fails here, not later)
    as an RGB image."""
    try:
        source = io.BytesIO(storage_path(path).read_bytes()) if is_uri(path) else path
        with Image.open(source) as image:
            image.load()
            return image.convert("RGB")
    except FileNotFoundError:
        raise ImageFileError(f"{path}: missing image file") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ImageFileError(f"{path}: unreadable image ({exc})") from None


def decode_error(path: str | os.PathLike) -> str | None:
    """Why `path` does not decode (the message names it), or None when it does."""
    try:
        load_rgb(path)
    except ImageFileError as exc:
        return str(exc)
    return None
