"""The dataset registry: every reader by name; an unknown name lists the valid ones."""

import pytest

from factory.ingest.datasets import DATASETS, read_dataset

NAMES = ["ccvid", "cuhk03_detected", "cuhk03_labeled", "dukemtmc", "last", "llcm", "ltcc",
         "market1501", "msmt17", "prcc", "regdb", "sysu_mm01", "vc_clothes"]


def test_every_reader_is_registered():
    assert sorted(DATASETS) == NAMES


def test_unknown_name_lists_the_valid_ones(tmp_path):
    with pytest.raises((KeyError, ValueError), match="market1501, msmt17"):
        read_dataset("market", tmp_path)
