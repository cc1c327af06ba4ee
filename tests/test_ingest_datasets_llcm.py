"""LLCM reader: idx train lists, test camera folders, NIR queries and VIS gallery."""

from dataset_trees import assert_dataset_error, llcm_tree, write_image


def test_reads_every_column(tmp_path):
    table = llcm_tree(tmp_path).read_and_check("llcm")
    test = [row for row in table.to_pylist() if row["split"] == "test"]
    assert {(row["modality"], row["role"]) for row in test} == {("ir", "query"),
                                                                ("rgb", "gallery")}


def test_test_id_list_naming_a_person_without_images_is_named(tmp_path):
    tree = llcm_tree(tmp_path)
    tree.lines("idx/test_id.txt", ["3,4,5"])
    assert_dataset_error("llcm", tmp_path, tmp_path / "idx/test_id.txt", "person 5")


def test_train_list_naming_a_missing_image_is_named(tmp_path):
    tree = llcm_tree(tmp_path)
    tree.lines("idx/train_nir.txt", ["nir/0008/0008_c02_s1_f1_nir.jpg 7"])
    assert_dataset_error("llcm", tmp_path, tmp_path / "idx/train_nir.txt", "missing image")


def test_unparsable_train_name_is_named(tmp_path):
    tree = llcm_tree(tmp_path)
    bad = write_image(tmp_path / "vis/0001/0001_s174269_f2925_vis.jpg")
    tree.lines("idx/train_vis.txt", ["vis/0001/0001_s174269_f2925_vis.jpg 0"])
    assert_dataset_error("llcm", tmp_path, bad, "pattern")


def test_bad_camera_folder_is_named(tmp_path):
    llcm_tree(tmp_path)
    (tmp_path / "test_nir/cam4").rename(tmp_path / "test_nir/camera4")
    assert_dataset_error("llcm", tmp_path, tmp_path / "test_nir/camera4", "pattern")
