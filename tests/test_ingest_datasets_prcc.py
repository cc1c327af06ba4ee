"""PRCC reader: camera letters A/B/C, two outfits per person, A gallery and B, C queries."""

from dataset_trees import assert_dataset_error, prcc_tree, write_image


def test_reads_every_column(tmp_path):
    table = prcc_tree(tmp_path).read_and_check("prcc")
    outfits = {(row["camera"], row["outfit"]) for row in table.to_pylist() if row["pid"] == 151}
    assert outfits == {(1, "151_1"), (2, "151_1"), (3, "151_2")}


def test_train_name_without_camera_letter_is_named(tmp_path):
    prcc_tree(tmp_path)
    bad = write_image(tmp_path / "rgb/val/001/cropped_rgb003.jpg")
    assert_dataset_error("prcc", tmp_path, bad, "pattern")


def test_person_folder_must_be_a_pid(tmp_path):
    prcc_tree(tmp_path)
    bad = tmp_path / "rgb/test/B/p151"
    write_image(bad / "cropped_rgb001.jpg")
    assert_dataset_error("prcc", tmp_path, bad, "pattern")


def test_missing_camera_folder_is_named(tmp_path):
    prcc_tree(tmp_path)
    (tmp_path / "rgb/test/C").rename(tmp_path / "rgb/test/c")
    assert_dataset_error("prcc", tmp_path, tmp_path / "rgb/test/C", "missing folder")
