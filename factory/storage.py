"""Where the factory reads and writes: a local folder or object storage, through one path type.

A path in a config or a table is local (`runs`, `/data/market`) or a URI (`s3://bucket/runs`,
`gs://bucket/runs`). `storage_path(value)` gives a `pathlib.Path` for the first and an
`ObjectPath` for the second; both answer the same questions (`/`, `name`, `parent`, `exists`,
`is_dir`, `iterdir`, `glob`, `read_bytes`, `open`, ...), so code written against that common part
runs on either. An `ObjectPath` is a URI string underneath (it pickles to Ray workers as one) and
reaches its bucket through the pyarrow filesystem of its scheme, which Ray Data, Ray Train and
polars use too; the endpoint, region and credentials come from the environment as AWS and Google
tools read them (`AWS_ENDPOINT_URL`, `AWS_ACCESS_KEY_ID`, ...), so every node of a cluster
reaches the same bucket the same way. A library that only opens local files (a `from_pretrained`
folder) gets one through `local_copy`. An `ObjectPath` refuses `os.fspath`, so code that would
open it as a local file fails naming the URI instead of writing under `./s3:/`.

Object stores have no rename: a file is one object, put whole (`write_bytes`, `atomic_path`), so a
reader sees the old object or the whole new one; what groups many files is the commit protocol of
the stage that writes them (`factory.generate.manifest`).
"""

import hashlib
import os
import posixpath
import re
import tempfile
from collections.abc import Iterator
from functools import cache
from pathlib import Path, PurePosixPath

import pyarrow.fs as pafs

SCHEMES = ("s3", "gs", "gcs")
# Where `local_copy` keeps what it fetched (one folder per URI and version).
LOCAL_COPIES = Path(os.environ.get("FACTORY_LOCAL_COPIES",
                                   Path(tempfile.gettempdir()) / "reid-factory-copies"))


def is_uri(value) -> bool:
    return isinstance(value, ObjectPath) or (isinstance(value, str) and "://" in value)


def storage_path(value: "str | os.PathLike | ObjectPath") -> "Path | ObjectPath":
    """A local `Path` or an `ObjectPath`, by what `value` names."""
    if isinstance(value, ObjectPath | Path):
        return value
    return ObjectPath(value) if is_uri(value) else Path(value)


@cache
def _filesystem(scheme: str, bucket: str) -> pafs.FileSystem:
    """One filesystem per bucket and process (pyarrow's own, configured from the environment).
    On S3 a stream is opened when first written (`allow_delayed_open`): an object smaller than
    a multipart part (every image, manifest part and table here) is then one PutObject request,
    not three (create, upload a part, complete a multipart upload)."""
    options = "?allow_delayed_open=true" if scheme == "s3" else ""
    return pafs.FileSystem.from_uri(f"{scheme}://{bucket}{options}")[0]


class ObjectPath:
    """A file or folder in object storage, `scheme://bucket/key`; the part of `pathlib.Path`
    the factory uses. Folders are key prefixes: they exist while they hold a file."""

    __slots__ = ("_uri",)

    def __init__(self, uri: "str | ObjectPath"):
        uri = str(uri)
        scheme, _, rest = uri.partition("://")
        if scheme not in SCHEMES:
            raise ValueError(f"{uri}: unknown storage scheme {scheme!r} (one of "
                             f"{', '.join(SCHEMES)}, or a local path)")
        bucket, _, key = rest.rstrip("/").partition("/")
        if not bucket:
            raise ValueError(f"{uri}: no bucket")
        key = posixpath.normpath(key) if key else ""
        self._uri = f"{scheme}://{bucket}" + (f"/{key}" if key and key != "." else "")

    # -- the name ---------------------------------------------------------------------------
    def __str__(self) -> str:
        return self._uri

    def __repr__(self) -> str:
        return f"ObjectPath({self._uri!r})"

    def __eq__(self, other) -> bool:
        return isinstance(other, ObjectPath) and other._uri == self._uri

    def __hash__(self) -> int:
        return hash(self._uri)

    def __lt__(self, other: "ObjectPath") -> bool:
        return self._uri < other._uri

    def __reduce__(self):
        return ObjectPath, (self._uri,)

    def __fspath__(self):
        raise TypeError(f"{self._uri}: object storage, not a local file (this step reads and "
                        "writes it through factory.storage)")

    def __truediv__(self, name: "str | os.PathLike") -> "ObjectPath":
        return ObjectPath(f"{self._uri}/{PurePosixPath(name)}")

    @property
    def _parts(self) -> tuple[str, str, str]:
        scheme, _, rest = self._uri.partition("://")
        bucket, _, key = rest.partition("/")
        return scheme, bucket, key

    @property
    def scheme(self) -> str:
        return self._parts[0]

    @property
    def key(self) -> PurePosixPath:
        return PurePosixPath(self._parts[2])

    @property
    def name(self) -> str:
        return self.key.name

    @property
    def stem(self) -> str:
        return self.key.stem

    @property
    def suffix(self) -> str:
        return self.key.suffix

    @property
    def parent(self) -> "ObjectPath":
        scheme, bucket, key = self._parts
        return ObjectPath(f"{scheme}://{bucket}/{posixpath.dirname(key)}")

    @property
    def parents(self) -> list["ObjectPath"]:
        """The folders above, nearest first, down to the bucket."""
        found, path = [], self
        while path.key != PurePosixPath(""):
            path = path.parent
            found.append(path)
        return found

    def with_name(self, name: str) -> "ObjectPath":
        return self.parent / name

    def with_suffix(self, suffix: str) -> "ObjectPath":
        return self.with_name(self.key.with_suffix(suffix).name)

    def relative_to(self, other: "ObjectPath") -> PurePosixPath:
        if not self.is_relative_to(other):
            raise ValueError(f"{self} is not under {other}")
        return PurePosixPath(self._uri[len(str(other)):].lstrip("/") or ".")

    def is_relative_to(self, other: "ObjectPath") -> bool:
        return self == other or self._uri.startswith(f"{other}/")

    def match(self, pattern: str) -> bool:
        return self.key.match(pattern)

    def is_absolute(self) -> bool:
        return True

    def resolve(self) -> "ObjectPath":
        return self

    def absolute(self) -> "ObjectPath":
        return self

    # -- the filesystem ---------------------------------------------------------------------
    @property
    def filesystem(self) -> pafs.FileSystem:
        scheme, bucket, _ = self._parts
        return _filesystem(scheme, bucket)

    @property
    def fs_path(self) -> str:
        """The path within `filesystem`: `bucket/key`."""
        return self._uri.partition("://")[2]

    def _info(self) -> pafs.FileInfo:
        return self.filesystem.get_file_info(self.fs_path)

    def exists(self) -> bool:
        return self._info().type != pafs.FileType.NotFound

    def is_file(self) -> bool:
        return self._info().type == pafs.FileType.File

    def is_dir(self) -> bool:
        return self._info().type == pafs.FileType.Directory

    def stat_size(self) -> int:
        info = self._info()
        if info.type != pafs.FileType.File:
            raise FileNotFoundError(f"{self}: no such file")
        return info.size

    def _listing(self, recursive: bool) -> list[pafs.FileInfo]:
        selector = pafs.FileSelector(self.fs_path, recursive=recursive, allow_not_found=True)
        return self.filesystem.get_file_info(selector)

    def _child(self, info: pafs.FileInfo) -> "ObjectPath":
        return ObjectPath(f"{self._parts[0]}://{info.path}")

    def iterdir(self) -> Iterator["ObjectPath"]:
        return iter(sorted(self._child(info) for info in self._listing(recursive=False)))

    def glob(self, pattern: str) -> Iterator["ObjectPath"]:
        """Entries whose path below this folder matches `pattern` (`*` within one name, `**/`
        any number of folders), as `Path.glob` finds them."""
        deep = "**" in pattern or "/" in pattern
        found = []
        for info in self._listing(recursive=deep):
            path = self._child(info)
            relative = str(path.relative_to(self))
            if _glob_match(relative, pattern):
                found.append(path)
        return iter(sorted(found))

    def rglob(self, pattern: str) -> Iterator["ObjectPath"]:
        return self.glob(f"**/{pattern}")

    def read_bytes(self) -> bytes:
        try:
            with self.filesystem.open_input_stream(self.fs_path) as stream:
                return stream.read()
        except FileNotFoundError:
            raise FileNotFoundError(f"{self}: no such file") from None

    def read_text(self, encoding: str = "utf-8") -> str:
        return self.read_bytes().decode(encoding)

    def write_bytes(self, data: bytes) -> None:
        """Put `data` as one object: whole or not at all (the bytes are all in hand before the
        upload starts, and an upload cut off is never completed)."""
        with self.filesystem.open_output_stream(self.fs_path) as stream:
            stream.write(data)

    def write_text(self, text: str, encoding: str = "utf-8") -> None:
        self.write_bytes(text.encode(encoding))

    def open(self, mode: str = "rb"):
        """A binary file: readable and seekable (`rb`), or a new object put when it closes
        (`wb`)."""
        if mode == "rb":
            try:
                return self.filesystem.open_input_file(self.fs_path)
            except FileNotFoundError:
                raise FileNotFoundError(f"{self}: no such file") from None
        if mode == "wb":
            return self.filesystem.open_output_stream(self.fs_path)
        raise ValueError(f"{self}: object storage opens binary files only, not mode {mode!r}")

    def mkdir(self, parents: bool = False, exist_ok: bool = False) -> None:
        """Nothing to do: a folder is a key prefix, there once it holds a file."""

    def unlink(self, missing_ok: bool = False) -> None:
        try:
            self.filesystem.delete_file(self.fs_path)
        except FileNotFoundError:
            if not missing_ok:
                raise FileNotFoundError(f"{self}: no such file") from None

    def rmtree(self) -> None:
        if self.exists():
            self.filesystem.delete_dir(self.fs_path)

    def version(self) -> str:
        """What changes when the object or the folder's files change: sizes and times."""
        listing = self._listing(recursive=True) if self.is_dir() else [self._info()]
        state = "\n".join(f"{info.path} {info.size} {info.mtime_ns}" for info in listing
                          if info.type == pafs.FileType.File)
        return hashlib.blake2b(state.encode(), digest_size=8).hexdigest()


def _glob_match(relative: str, pattern: str) -> bool:
    """`relative` (a/b/c) against a glob pattern: `*` and `?` within one name, `[...]` a
    character class, `**` any number of folders (none included)."""
    regex = ""
    for part in pattern.split("/"):
        if part == "**":
            regex += "(?:[^/]+/)*"
            continue
        for piece in re.split(r"(\*|\?|\[[^\]]*\])", part):
            regex += {"*": "[^/]*", "?": "[^/]"}.get(piece) or (
                piece if piece.startswith("[") else re.escape(piece))
        regex += "/"
    return re.fullmatch(regex.rstrip("/"), relative) is not None


def rmtree(path: "Path | ObjectPath") -> None:
    """Delete a folder and everything in it, local or in a bucket; a missing one is no error."""
    if isinstance(path, ObjectPath):
        path.rmtree()
    else:
        import shutil

        shutil.rmtree(path, ignore_errors=True)


def filesystem_and_path(path: "Path | ObjectPath") -> tuple[pafs.FileSystem | None, str]:
    """The pyarrow filesystem and path to hand Ray Data, Ray Train or pyarrow: (None, local
    path) for a local one, so they keep their defaults."""
    if isinstance(path, ObjectPath):
        return path.filesystem, path.fs_path
    return None, str(path)


def upload(folder: Path, target: "ObjectPath") -> None:
    """Copy the local `folder`'s files, sub-folders included, to under `target` in its bucket."""
    pafs.copy_files(str(folder), target.fs_path, source_filesystem=pafs.LocalFileSystem(),
                    destination_filesystem=target.filesystem)


def local_copy(path: "Path | ObjectPath") -> Path:
    """A local file or folder with the contents of `path`: itself when local, else a copy kept
    under `LOCAL_COPIES` per URI and version (fetched once per machine, into a temporary folder
    renamed into place), for libraries that open local files only."""
    if not isinstance(path, ObjectPath):
        return Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file or folder")
    digest = hashlib.blake2b(f"{path} {path.version()}".encode(), digest_size=8).hexdigest()
    target = LOCAL_COPIES / digest / path.name
    if not target.exists():
        from factory.atomic import atomic_folder

        with atomic_folder(target.parent) as staging:
            if path.is_file():
                (staging / path.name).write_bytes(path.read_bytes())
            else:  # pyarrow makes only the folders below the target
                (staging / path.name).mkdir()
                pafs.copy_files(path.fs_path, str(staging / path.name),
                                source_filesystem=path.filesystem,
                                destination_filesystem=pafs.LocalFileSystem())
    return target
