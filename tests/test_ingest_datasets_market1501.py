"""Market-1501 reader: real layout, junk -1 dropped, distractors 0000 kept, clear errors."""

from dataset_trees import SIZE, assert_dataset_error, market_tree, write_image

from factory.ingest.datasets import read_dataset


def test_reads_every_column_drops_junk_keeps_distractors(tmp_path):
    tree = market_tree(tmp_path)
    table = tree.read_and_check("market1501")
    assert table.num_rows == 7
    rows = {row["path"].rsplit("/", 1)[1]: row for row in table.to_pylist()}
    assert rows["0000_c1s1_000151_01.jpg"]["role"] == "gallery"
    assert not any(name.startswith("-1_") for name in rows)


def test_image_ids_are_stable(tmp_path):
    market_tree(tmp_path)
    first = read_dataset("market1501", tmp_path).column("image_id").to_pylist()
    again = read_dataset("market1501", tmp_path).column("image_id").to_pylist()
    assert first == again
    # the id hashes the dataset and the relative path; it must not change between versions
    ids = dict(zip(read_dataset("market1501", tmp_path).column("path").to_pylist(), first,
                   strict=True))
    assert ids[str(tmp_path.resolve() / "query/0001_c1s1_001051_00.jpg")] == "eebbe502be6b85e2"


def test_sizes_come_from_each_image(tmp_path):
    market_tree(tmp_path)
    write_image(tmp_path / "query/0009_c2s1_000101_00.jpg", size=(5, 11))
    sizes = {(row["pid"], row["width"], row["height"])
             for row in read_dataset("market1501", tmp_path).to_pylist()}
    assert (9, 5, 11) in sizes and (1, *SIZE) in sizes


def test_missing_folder_is_named(tmp_path):
    market_tree(tmp_path)
    for path in (tmp_path / "query").iterdir():
        path.unlink()
    (tmp_path / "query").rmdir()
    assert_dataset_error("market1501", tmp_path, tmp_path / "query", "missing folder")


def test_unparsable_name_is_named(tmp_path):
    market_tree(tmp_path)
    bad = write_image(tmp_path / "bounding_box_train/person_2.jpg")
    assert_dataset_error("market1501", tmp_path, bad, "pattern")


def test_unreadable_image_is_named(tmp_path):
    market_tree(tmp_path)
    bad = tmp_path / "bounding_box_test/0001_c4s1_000001_00.jpg"
    bad.write_bytes(b"not a jpeg")
    assert_dataset_error("market1501", tmp_path, bad, "unreadable image")
