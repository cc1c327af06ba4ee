"""factory.storage: one path type for local folders and buckets, against a real S3 server."""

import pickle
from pathlib import Path

import pytest

from factory.storage import ObjectPath, local_copy, storage_path


def test_storage_path_keeps_uris_and_local_paths_apart(tmp_path):
    assert storage_path(str(tmp_path)) == tmp_path
    assert isinstance(storage_path("runs"), Path)
    remote = storage_path("s3://bucket/runs/")
    assert isinstance(remote, ObjectPath) and str(remote) == "s3://bucket/runs"
    assert str(remote / "a" / "b.parquet") == "s3://bucket/runs/a/b.parquet"
    assert (remote / "a/b.parquet").name == "b.parquet"
    assert (remote / "a/b.parquet").parent == remote / "a"
    assert (remote / "x.jpg").with_suffix(".png").name == "x.png"
    assert str((remote / "a/b").relative_to(remote)) == "a/b"
    assert pickle.loads(pickle.dumps(remote)) == remote


def test_bad_uris_are_named():
    with pytest.raises(ValueError, match="ftp://x/y: unknown storage scheme 'ftp'"):
        storage_path("ftp://x/y")
    with pytest.raises(ValueError, match="no bucket"):
        storage_path("s3:///key")


def test_an_object_path_is_never_opened_as_a_local_file():
    with pytest.raises(TypeError, match="s3://bucket/t.parquet: object storage, not a local"):
        Path(storage_path("s3://bucket/t.parquet"))


def test_files_and_folders_in_a_bucket(bucket):
    root = storage_path(bucket) / "runs"
    assert not root.exists() and list(root.iterdir()) == []
    (root / "a" / "one.txt").write_text("one")
    (root / "a" / "deep" / "two.jpg").write_bytes(b"\xff\xd8")
    (root / "three.jpg").write_bytes(b"3")
    assert root.is_dir() and (root / "a" / "one.txt").is_file()
    assert (root / "a" / "one.txt").read_text() == "one"
    assert [path.name for path in root.iterdir()] == ["a", "three.jpg"]
    assert [path.name for path in root.glob("*.jpg")] == ["three.jpg"]
    assert [path.name for path in root.rglob("*.jpg")] == ["two.jpg", "three.jpg"]
    with (root / "a" / "one.txt").open("rb") as file:
        file.seek(1)
        assert file.read() == b"ne"
    (root / "a" / "one.txt").unlink()
    (root / "a" / "one.txt").unlink(missing_ok=True)
    with pytest.raises(FileNotFoundError, match="runs/a/one.txt: no such file"):
        (root / "a" / "one.txt").read_bytes()
    root.rmtree()
    assert not root.exists()


def test_a_failed_write_leaves_the_old_object(bucket):
    from factory.atomic import atomic_path

    target = storage_path(bucket) / "table.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError
    assert target.read_text() == "old"
    with atomic_path(target) as tmp:
        tmp.write_text("new")
    assert target.read_text() == "new"


def test_a_small_object_is_one_put_request(bucket, s3_server):
    from bench.torture.kills import wait_until

    before = s3_server.requests()
    (storage_path(bucket) / "images" / "one.jpg").write_bytes(b"x" * 100_000)
    assert wait_until(lambda: (s3_server.requests() - before)["PUT"] >= 1, timeout=10)
    # No multipart upload: its create request would be a POST logged before the part's PUT.
    assert s3_server.requests() - before == {"PUT": 1}


def test_local_copy_fetches_a_folder_once_per_version(bucket, tmp_path, monkeypatch):
    monkeypatch.setattr("factory.storage.LOCAL_COPIES", tmp_path / "copies")
    folder = storage_path(bucket) / "model"
    (folder / "config.json").write_text("{}")
    (folder / "weights" / "w.bin").write_bytes(b"w")
    copy = local_copy(folder)
    assert (copy / "config.json").read_text() == "{}" and (copy / "weights/w.bin").exists()
    assert local_copy(folder) == copy
    (folder / "config.json").write_text('{"changed": 1}')
    assert (local_copy(folder) / "config.json").read_text() == '{"changed": 1}'
    assert local_copy(tmp_path) == tmp_path
    flat = storage_path(bucket) / "flat"  # files only, no folder below it
    (flat / "a.txt").write_text("a")
    assert (local_copy(flat) / "a.txt").read_text() == "a"
