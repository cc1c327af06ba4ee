"""DukeMTMC-reID reader: Market-1501's folders, `0005_c2_f0046985.jpg` names, 8 cameras."""

from dataset_trees import assert_dataset_error, duke_tree, write_image


def test_reads_every_column(tmp_path):
    table = duke_tree(tmp_path).read_and_check("dukemtmc")
    assert sorted(set(table.column("camera").to_pylist())) == [1, 2, 4, 5, 8]


def test_unparsable_name_is_named(tmp_path):
    duke_tree(tmp_path)
    bad = write_image(tmp_path / "query/0003_f0044158.jpg")
    assert_dataset_error("dukemtmc", tmp_path, bad, "pattern")


def test_unreadable_image_is_named(tmp_path):
    duke_tree(tmp_path)
    bad = tmp_path / "bounding_box_train/0005_c3_f0000001.jpg"
    bad.write_bytes(b"")
    assert_dataset_error("dukemtmc", tmp_path, bad, "unreadable image")
