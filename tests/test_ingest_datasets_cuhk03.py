"""CUHK03-NP reader: one registry name per box variant, each reading only its own folder."""

import pytest
from dataset_trees import assert_dataset_error, cuhk03_tree

from factory.ingest.datasets import cuhk03


@pytest.mark.parametrize("variant", cuhk03.VARIANTS)
def test_reads_every_column_of_its_variant(tmp_path, variant):
    cuhk03_tree(tmp_path, "detected")  # writes both variants
    tree = cuhk03_tree(tmp_path, variant)
    table = tree.read_and_check(f"cuhk03_{variant}")
    assert table.num_rows == {"detected": 5, "labeled": 4}[variant]


def test_missing_variant_folder_is_named(tmp_path):
    cuhk03_tree(tmp_path, "labeled")
    for path in sorted((tmp_path / "labeled").rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    (tmp_path / "labeled").rmdir()
    culprit = tmp_path / "labeled/bounding_box_train"
    assert_dataset_error("cuhk03_labeled", tmp_path, culprit, "missing folder")


def test_unknown_variant_is_refused(tmp_path):
    with pytest.raises(ValueError, match="variant"):
        cuhk03.read(tmp_path, variant="classic")
