"""Write files and folders so that a reader sees the old one or the whole new one, never a
part.

A path in object storage (`factory.storage.ObjectPath`) has no rename: its file is made in a
local temporary file and put as one object when whole, which a reader also sees whole or not at
all; a folder is made locally, then uploaded (the old one's files deleted first), so a crash
during the upload leaves a part of it: writers that must commit many files at once have their
own protocol (`factory.generate.manifest`).

Temporary files and folders are created with the process umask applied (0644 and 0755 under
umask 022), as `open()` and `mkdir()` would make them: `tempfile.mkstemp` and `mkdtemp` make
0600 and 0700, which would leave every table and report unreadable to the group.
"""

import errno
import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from factory.storage import ObjectPath, upload


def _fresh(folder: Path, prefix: str, suffix: str, make) -> Path:
    """A new entry `folder/<prefix><random><suffix>` made by `make(path)` (which must fail if it
    exists)."""
    while True:
        path = folder / f"{prefix}{secrets.token_hex(4)}{suffix}"
        try:
            make(path)
            return path
        except FileExistsError:
            continue


def _make_parent(path: Path) -> None:
    """Create `path`'s folder; a file where a folder belongs is named as such."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        blocking = next(parent for parent in path.parents if parent.is_file())
        raise NotADirectoryError(errno.ENOTDIR, "is a file; a folder belongs here",
                                 str(blocking)) from None


def _new_file(path: Path) -> None:
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))


@contextmanager
def _object_upload(path: ObjectPath) -> Iterator[Path]:
    """Yield a local temporary path; on success put its bytes as the object `path`."""
    with tempfile.TemporaryDirectory(prefix="reid-factory-upload-") as folder:
        tmp = Path(folder) / path.name
        yield tmp
        path.write_bytes(tmp.read_bytes())


@contextmanager
def atomic_path(path: "str | os.PathLike | ObjectPath") -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success rename it over `path`, else delete it.
    For a path in a bucket, the temporary file is local and put as one object on success."""
    if isinstance(path, ObjectPath):
        with _object_upload(path) as tmp:
            yield tmp
        return
    path = Path(path)
    _make_parent(path)
    if path.is_dir():
        raise IsADirectoryError(errno.EISDIR, "is a folder; a file belongs here", str(path))
    try:
        tmp = _fresh(path.parent, f".{path.name}.", ".tmp", _new_file)
    except OSError as exc:  # a read-only or full folder: name the file meant, not the temp name
        raise OSError(exc.errno, exc.strerror, str(path)) from exc
    try:
        yield tmp
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        if exc.filename is None:  # a failed write (disk full) names no file: name the target
            raise OSError(exc.errno, exc.strerror or str(exc), str(path)) from exc
        raise
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_bytes(path: "str | os.PathLike | ObjectPath", data: bytes) -> None:
    if isinstance(path, ObjectPath):
        path.write_bytes(data)
        return
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text(path: "str | os.PathLike | ObjectPath", text: str) -> None:
    write_bytes(path, text.encode())


@contextmanager
def atomic_folder(folder: "str | os.PathLike | ObjectPath") -> Iterator[Path]:
    """Yield an empty staging folder beside `folder`; on success it replaces `folder` whole (an
    older one is moved aside, then deleted), else it is deleted. For a folder in a bucket the
    staging folder is local and uploaded on success, after the old folder's files are deleted."""
    if isinstance(folder, ObjectPath):
        with tempfile.TemporaryDirectory(prefix="reid-factory-upload-") as staging:
            yield Path(staging)
            folder.rmtree()
            upload(Path(staging), folder)
        return
    folder = Path(folder)
    _make_parent(folder)
    staging = _fresh(folder.parent, f".{folder.name}.", "", os.mkdir)
    try:
        yield staging
        if folder.exists():
            retired = _fresh(folder.parent, f".{folder.name}.old.", "", os.mkdir)
            os.replace(folder, retired / folder.name)
            os.replace(staging, folder)
            shutil.rmtree(retired, ignore_errors=True)
        else:
            os.replace(staging, folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
