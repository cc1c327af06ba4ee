"""LTCC reader: `<pid>_<clothes>_c<camera>_<frame>.png`, outfit `<pid>_<clothes>`."""

from dataset_trees import assert_dataset_error, ltcc_tree, write_image


def test_reads_every_column(tmp_path):
    ltcc_tree(tmp_path).read_and_check("ltcc")


def test_unparsable_name_is_named(tmp_path):
    ltcc_tree(tmp_path)
    bad = write_image(tmp_path / "query/003_c2_000124.png")
    assert_dataset_error("ltcc", tmp_path, bad, "pattern")
