"""LaST reader: per-person folders, flat query folders, clothes only in train, one camera per
image."""

from dataset_trees import assert_dataset_error, last_tree, write_image


def test_reads_every_column(tmp_path):
    table = last_tree(tmp_path).read_and_check("last")
    assert len(set(table.column("camera").to_pylist())) == table.num_rows


def test_unparsable_name_is_named(tmp_path):
    last_tree(tmp_path)
    bad = write_image(tmp_path / "test/query/query.jpg")
    assert_dataset_error("last", tmp_path, bad, "pattern")


def test_missing_folder_is_named(tmp_path):
    last_tree(tmp_path)
    (tmp_path / "val/query").rename(tmp_path / "val/probe")
    assert_dataset_error("last", tmp_path, tmp_path / "val/query", "missing folder")
