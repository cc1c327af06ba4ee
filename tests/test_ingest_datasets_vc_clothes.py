"""VC-Clothes reader: `<pid>-<camera>-<clothes>-<frame>.jpg`, outfit `<pid>_<clothes>`."""

from dataset_trees import assert_dataset_error, vc_clothes_tree, write_image


def test_reads_every_column(tmp_path):
    vc_clothes_tree(tmp_path).read_and_check("vc_clothes")


def test_unparsable_name_is_named(tmp_path):
    vc_clothes_tree(tmp_path)
    bad = write_image(tmp_path / "gallery/0257_03_01_04.jpg")
    assert_dataset_error("vc_clothes", tmp_path, bad, "pattern")


def test_missing_folder_is_named(tmp_path):
    vc_clothes_tree(tmp_path)
    (tmp_path / "gallery").rename(tmp_path / "test")
    assert_dataset_error("vc_clothes", tmp_path, tmp_path / "gallery", "missing folder")
