"""MSMT17 reader: list files, camera from the name, val held out, test pids shifted."""

import pytest
from dataset_trees import assert_dataset_error, msmt17_tree


@pytest.mark.parametrize("v2", [False, True], ids=["V1", "V2"])
def test_reads_every_column(tmp_path, v2):
    table = msmt17_tree(tmp_path, v2=v2).read_and_check("msmt17")
    splits = {(row["split"], row["role"]) for row in table.to_pylist()}
    assert splits == {("train", "train"), ("val", "train"), ("test", "query"), ("test", "gallery")}


def test_list_naming_a_missing_image_is_named(tmp_path):
    tree = msmt17_tree(tmp_path)
    tree.lines("list_query.txt", ["0000/0000_000_07_0303morning_0040_0.jpg 0",
                                  "0003/0003_000_02_0303morning_0001_0.jpg 3"])
    assert_dataset_error("msmt17", tmp_path, tmp_path / "list_query.txt",
                         "line 2: names a missing image")


def test_malformed_list_line_is_named(tmp_path):
    tree = msmt17_tree(tmp_path)
    tree.lines("list_val.txt", ["0001/0001_000_14_0303afternoon_0589_0.jpg"])
    assert_dataset_error("msmt17", tmp_path, tmp_path / "list_val.txt", "line 1")


def test_missing_list_file_is_named(tmp_path):
    msmt17_tree(tmp_path)
    (tmp_path / "list_gallery.txt").unlink()
    assert_dataset_error("msmt17", tmp_path, tmp_path / "list_gallery.txt", "missing file")


def test_missing_image_folder_is_named(tmp_path):
    msmt17_tree(tmp_path)
    (tmp_path / "test").rename(tmp_path / "test_images")
    assert_dataset_error("msmt17", tmp_path, tmp_path / "test", "mask_test_v2")
