"""RegDB reader: idx lists of one trial, pid from the person folder, visible queries."""

import pytest
from dataset_trees import assert_dataset_error, regdb_tree

from factory.ingest.datasets import regdb
from factory.ingest.datasets.records import images_table


def test_registry_reads_trial_one(tmp_path):
    table = regdb_tree(tmp_path, trial=1).read_and_check("regdb")
    assert {row["pid"] for row in table.to_pylist() if row["split"] == "train"} == {1, 2}


def test_other_trials_through_the_module(tmp_path):
    tree = regdb_tree(tmp_path, trial=2)
    table = images_table(regdb.read(tmp_path.resolve(), trial=2), dataset="regdb")
    tree.check(table, "regdb")
    assert {row["pid"] for row in table.to_pylist() if row["split"] == "train"} == {3, 4}


def test_unknown_trial_is_refused(tmp_path):
    with pytest.raises(ValueError, match="trial 11"):
        regdb.read(tmp_path, trial=11)


def test_missing_trial_list_is_named(tmp_path):
    regdb_tree(tmp_path)
    (tmp_path / "idx/test_thermal_1.txt").unlink()
    assert_dataset_error("regdb", tmp_path, tmp_path / "idx/test_thermal_1.txt", "missing file")


def test_list_naming_a_missing_image_is_named(tmp_path):
    tree = regdb_tree(tmp_path)
    tree.lines("idx/train_visible_1.txt", ["Visible/9/male_front_v_00091_9.bmp 0"])
    assert_dataset_error("regdb", tmp_path, tmp_path / "idx/train_visible_1.txt",
                         "missing image")


def test_person_folder_must_be_a_pid(tmp_path):
    tree = regdb_tree(tmp_path)
    (tmp_path / "Visible/1").rename(tmp_path / "Visible/one")
    tree.lines("idx/train_visible_1.txt", ["Visible/one/male_front_v_00011_1.bmp 0"])
    assert_dataset_error("regdb", tmp_path, tmp_path / "Visible/one", "pattern")
