"""SYSU-MM01 reader: camera folders per person, exp id lists, IR queries and RGB gallery."""

from dataset_trees import assert_dataset_error, sysu_tree


def test_reads_every_column(tmp_path):
    table = sysu_tree(tmp_path).read_and_check("sysu_mm01")
    rows = table.to_pylist()
    assert {row["modality"] for row in rows if row["camera"] in (3, 6)} == {"ir"}
    assert {row["modality"] for row in rows if row["camera"] not in (3, 6)} == {"rgb"}
    assert {row["pid"] for row in rows if row["split"] == "val"} == {3}


def test_id_list_naming_a_person_without_images_is_named(tmp_path):
    tree = sysu_tree(tmp_path)
    tree.lines("exp/test_id.txt", ["4,5,7"])
    assert_dataset_error("sysu_mm01", tmp_path, tmp_path / "exp/test_id.txt", "person 7")


def test_bad_id_list_is_named(tmp_path):
    tree = sysu_tree(tmp_path)
    tree.lines("exp/val_id.txt", ["3;x"])
    assert_dataset_error("sysu_mm01", tmp_path, tmp_path / "exp/val_id.txt", "not a person id")


def test_missing_camera_folder_is_named(tmp_path):
    sysu_tree(tmp_path)
    (tmp_path / "cam6").rename(tmp_path / "cam6_old")
    assert_dataset_error("sysu_mm01", tmp_path, tmp_path / "cam6", "missing folder")
