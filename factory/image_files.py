"""Opening image files with errors that name the file: corrupt, truncated or missing images."""

import os

from PIL import Image, UnidentifiedImageError


class ImageFileError(OSError):
    """An image file that cannot be decoded; the message names the file."""


def load_rgb(path: str | os.PathLike) -> Image.Image:
    """Decode `path` completely (a truncated file fails here, not later) as an RGB image."""
    try:
        with Image.open(path) as image:
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
