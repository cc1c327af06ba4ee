"""CCVID reader: tracklet lists, one row per frame, session-3 cameras shifted by 12."""

from dataset_trees import assert_dataset_error, ccvid_tree


def test_reads_every_column(tmp_path):
    table = ccvid_tree(tmp_path).read_and_check("ccvid")
    assert table.num_rows == 6


def test_list_naming_a_missing_tracklet_is_named(tmp_path):
    tree = ccvid_tree(tmp_path)
    tree.lines("query.txt", ["session1/002_03 002 u1_l1_s2_c1_a1",
                             "session2/009_01 009 u1_l1_s1_c1_a1"])
    assert_dataset_error("ccvid", tmp_path, tmp_path / "query.txt",
                         "line 2: names a missing tracklet")


def test_malformed_line_is_named(tmp_path):
    tree = ccvid_tree(tmp_path)
    tree.lines("gallery.txt", ["session2/002_04 002"])
    assert_dataset_error("ccvid", tmp_path, tmp_path / "gallery.txt", "line 1")


def test_empty_tracklet_is_named(tmp_path):
    ccvid_tree(tmp_path)
    for frame in (tmp_path / "session1/002_03").iterdir():
        frame.unlink()
    assert_dataset_error("ccvid", tmp_path, tmp_path / "session1/002_03", "no frames")
