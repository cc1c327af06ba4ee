import random

import numpy as np
import polars as pl
import pyarrow as pa
import pytest

from factory.evaluate import PROTOCOLS, protocol_for
from factory.evaluate.clothes import clothes_changing, prcc, standard, vc_clothes
from factory.evaluate.cross_modality import llcm, regdb, single_shot_gallery, sysu_mm01
from factory.evaluate.query_gallery import QueryGallery
from factory.ingest.datasets import DATASETS
from schemas.tables import IMAGES


def images(rows: list[dict], **extra_columns) -> pa.Table:
    """An `images` table from (role, pid, camera, ...) dicts, the other columns filled in."""
    full = [{"image_id": f"id{i}", "dataset": "toy", "split": "test", "modality": "rgb",
             "outfit": None, "path": f"/data/{i:04d}.jpg", "width": 64, "height": 128,
             "origin": "real", **row} for i, row in enumerate(rows)]
    table = pa.Table.from_pylist(full, schema=IMAGES)
    for name, values in extra_columns.items():
        table = table.append_column(name, pa.array(values))
    return table


def distances(num_rows: int, pairs: dict[tuple[int, int], float], default: float = 1.0):
    """A protocol distance function from {(query row, gallery row): distance}."""
    matrix = np.full((num_rows, num_rows), default)
    for (query, gallery), value in pairs.items():
        matrix[query, gallery] = value
    return lambda query, gallery: matrix[np.ix_(query, gallery)]


def test_standard_drops_same_pid_same_camera():
    rows = images([
        {"role": "query", "pid": 1, "camera": 1},
        {"role": "gallery", "pid": 1, "camera": 1},  # same pid and camera: dropped
        {"role": "gallery", "pid": 2, "camera": 2},
        {"role": "gallery", "pid": 1, "camera": 2},
        {"role": "train", "split": "train", "pid": 1, "camera": 3},  # ignored
    ])
    distance = distances(5, {(0, 1): 0.1, (0, 2): 0.2, (0, 3): 0.3, (0, 4): 0.0})
    # Ranking after the drop: pid 2, then the hit at rank 2: AP 1/2, INP 1/2.
    expected = {"rank1": 0.0, "rank5": 1.0, "rank10": 1.0, "mAP": 0.5, "mINP": 0.5,
                "queries": 1.0, "trials": 1}
    assert standard(rows, distance) == {"standard": pytest.approx(expected)}
    assert standard(pl.from_arrow(rows), distance) == {"standard": pytest.approx(expected)}


def test_features_use_cosine_distance():
    rows = images([{"role": "query", "pid": 1, "camera": 1},
                   {"role": "gallery", "pid": 2, "camera": 2},
                   {"role": "gallery", "pid": 1, "camera": 2}])
    features = np.array([[1.0, 0.1], [0.0, 1.0], [3.0, 0.0]])  # the query points at pid 1
    assert standard(rows, features)["standard"]["rank1"] == 1.0
    with pytest.raises(ValueError, match="aligned with the 3 table rows"):
        standard(rows, features[:2])


def test_rows_must_be_one_split_with_the_images_columns():
    rows = images([{"role": "query", "pid": 1, "camera": 1},
                   {"role": "gallery", "split": "val", "pid": 1, "camera": 2}])
    with pytest.raises(ValueError, match="one split"):
        standard(rows, np.eye(2))
    with pytest.raises(ValueError, match="outfit"):
        standard(rows.drop_columns(["outfit"]), np.eye(2))


# Clothes-changing: one query (pid 1, camera 1, outfit a) and four gallery images.
CLOTHES_ROWS = [
    {"role": "query", "pid": 1, "camera": 1, "outfit": "1_a"},
    {"role": "gallery", "pid": 1, "camera": 1, "outfit": "1_b"},  # same camera: always dropped
    {"role": "gallery", "pid": 1, "camera": 2, "outfit": "1_a"},  # same clothes
    {"role": "gallery", "pid": 2, "camera": 2, "outfit": "2_a"},
    {"role": "gallery", "pid": 1, "camera": 3, "outfit": "1_b"},  # other clothes
]
CLOTHES_DISTANCE = distances(5, {(0, 1): 0.05, (0, 2): 0.1, (0, 3): 0.2, (0, 4): 0.3})


def test_clothes_changing_settings():
    results = clothes_changing(images(CLOTHES_ROWS), CLOTHES_DISTANCE)
    # general: row 1 dropped; hits at ranks 1 and 3: AP (1 + 2/3) / 2, INP 2/3.
    assert results["general"]["rank1"] == 1.0
    assert results["general"]["mAP"] == pytest.approx((1 + 2 / 3) / 2)
    assert results["general"]["mINP"] == pytest.approx(2 / 3)
    # same clothes: rows 1 and 4 (pid 1 in outfit b) dropped; the hit is first: AP 1.
    assert results["same_clothes"]["rank1"] == 1.0 and results["same_clothes"]["mAP"] == 1.0
    # clothes changing: rows 1 and 2 (pid 1 in outfit a) dropped; pid 2, then the hit: AP 1/2.
    assert results["clothes_changing"]["rank1"] == 0.0
    assert results["clothes_changing"]["mAP"] == pytest.approx(0.5)


def test_clothes_settings_need_outfits():
    rows = [dict(row, outfit=None) if row["role"] == "query" else row for row in CLOTHES_ROWS]
    with pytest.raises(ValueError, match="outfit column is null"):
        clothes_changing(images(rows), CLOTHES_DISTANCE)


def test_vc_clothes_camera_subsets():
    rows = images([
        {"role": "query", "pid": 1, "camera": 3, "outfit": "1_1"},
        {"role": "query", "pid": 1, "camera": 4, "outfit": "1_2"},
        {"role": "gallery", "pid": 1, "camera": 2, "outfit": "1_1"},
        {"role": "gallery", "pid": 1, "camera": 4, "outfit": "1_2"},
    ])
    results = vc_clothes(rows, distances(4, {}, default=0.5))
    assert set(results) == {"general", "same_clothes", "clothes_changing", "cameras_2_3",
                            "cameras_3_4"}
    assert results["general"]["queries"] == 2
    # cameras 2, 3: the camera-4 query and gallery image are left out; the cam3 query matches
    # the cam2 image. cameras 3, 4: the cam4 query's only match is same-camera: skipped.
    assert results["cameras_2_3"]["queries"] == 1 and results["cameras_2_3"]["mAP"] == 1.0
    assert results["cameras_3_4"]["queries"] == 1


def test_prcc_query_cameras_against_camera_a():
    rows = images([
        {"role": "gallery", "pid": 1, "camera": 1, "outfit": "1_1"},
        {"role": "gallery", "pid": 2, "camera": 1, "outfit": "2_1"},
        {"role": "query", "pid": 1, "camera": 2, "outfit": "1_1"},
        {"role": "query", "pid": 1, "camera": 3, "outfit": "1_2"},
        {"role": "query", "pid": 2, "camera": 3, "outfit": "2_2"},
    ])
    distance = distances(5, {(2, 0): 0.1, (2, 1): 0.2, (3, 0): 0.3, (3, 1): 0.2,
                             (4, 0): 0.1, (4, 1): 0.2})
    results = prcc(rows, distance)
    assert results["same_clothes"]["queries"] == 1 and results["same_clothes"]["rank1"] == 1.0
    # Both camera-3 queries rank the other person first.
    assert results["clothes_changing"]["queries"] == 2
    assert results["clothes_changing"]["rank1"] == 0.0
    assert results["clothes_changing"]["mAP"] == pytest.approx(0.5)


def sysu_rows() -> pa.Table:
    gallery = [(1, 2), (1, 4), (2, 1), (2, 2)] + [(9, c) for c in (1, 2, 4, 5)] + [(8, 1)]
    queries = [(1, 3), (1, 6), (2, 3), (8, 6)]
    return images([{"role": "gallery", "pid": p, "camera": c} for p, c in gallery]
                  + [{"role": "query", "pid": p, "camera": c, "modality": "ir"}
                     for p, c in queries])


def test_sysu_mm01_rules():
    # Rows 0-3: pid 1 cam2, pid 1 cam4, pid 2 cam1, pid 2 cam2; 4-7: pid 9 cams 1, 2, 4, 5;
    # 8: pid 8 cam1; queries 9: pid 1 cam3, 10: pid 1 cam6, 11: pid 2 cam3, 12: pid 8 cam6.
    # One image per (pid, camera): every trial has the same gallery.
    distance = distances(13, {
        (9, 0): 0.1, (9, 3): 0.2, (9, 2): 0.3, (9, 1): 0.4,   # cam3: rows 0, 3 dropped
        (10, 0): 0.1, (10, 1): 0.2,                          # cam6: hits first
        (11, 1): 0.1, (11, 2): 0.3,                          # cam3: pid 1, then the hit
        (12, 4): 0.1, (12, 5): 0.2, (12, 6): 0.3, (12, 7): 0.35, (12, 2): 0.4, (12, 8): 0.5,
    })
    results = sysu_mm01(sysu_rows(), distance)
    all_search = results["all_search"]
    # Query 9: pid 2 (row 2), then the hit (row 1): AP 1/2. Query 10: AP 1. Query 11: AP 1/2.
    # Query 12: pid 9 four times, pid 2, then the hit: image rank 6 but identity rank 3, so it
    # counts at rank 5 (the authors' CMC); AP 1/6.
    assert all_search["queries"] == 4 and all_search["trials"] == 10
    assert all_search["rank1"] == pytest.approx(1 / 4)
    assert all_search["rank5"] == 1.0
    assert all_search["mAP"] == pytest.approx((1 / 2 + 1 + 1 / 2 + 1 / 6) / 4)
    # Indoor gallery (cams 1, 2): query 9 keeps only pid 2's cam1 image: no match, skipped.
    # Query 10 hits row 0 first; query 11 keeps row 2 only; query 12: pid 9 twice, then the hit.
    indoor = results["indoor"]
    assert indoor["queries"] == 3
    assert indoor["rank1"] == pytest.approx(2 / 3)
    assert indoor["mAP"] == pytest.approx((1 + 1 + 1 / 4) / 3)


def test_single_shot_gallery_is_the_reference_draw():
    # Several images per (pid, camera), listed out of order: the draw walks pids, then cameras,
    # in increasing order and picks with random.Random(seed).choice among the paths sorted.
    groups = {(2, 1): 3, (1, 4): 2, (1, 2): 4, (3, 1): 1}
    rows, paths = [], {}
    for (pid, camera), count in groups.items():
        for k in reversed(range(count)):
            rows.append({"role": "gallery", "pid": pid, "camera": camera,
                         "path": f"/sysu/cam{camera}/{pid:04d}/{k:04d}.jpg"})
            paths.setdefault((pid, camera), []).append(rows[-1]["path"])
    data = QueryGallery(images(rows), np.eye(len(rows)))
    gallery = data.side(np.ones(len(rows), dtype=bool))
    for seed in range(5):
        chooser = random.Random(seed)
        expected = [chooser.choice(sorted(paths[key])) for key in sorted(paths)]
        assert gallery.path[single_shot_gallery(gallery, seed)].tolist() == expected


def test_trials_are_deterministic_in_their_seed():
    rng = np.random.default_rng(0)
    rows = [{"role": "gallery", "pid": p, "camera": c, "path": f"/g/{p}/{c}/{k}.jpg"}
            for p in range(6) for c in (1, 2, 4, 5) for k in range(4)]
    rows += [{"role": "query", "pid": p, "camera": c, "modality": "ir"}
             for p in range(6) for c in (3, 6) for _ in range(3)]
    table = images(rows)
    features = rng.standard_normal((len(rows), 8))
    first = sysu_mm01(table, features, seed=5)
    assert sysu_mm01(table, features, seed=5) == first
    assert sysu_mm01(table, features, seed=6) != first
    assert sysu_mm01(table, features, trials=3)["all_search"]["trials"] == 3


def test_regdb_directions_without_camera_exclusion_and_trials():
    rows = images([
        {"role": "query", "pid": 1, "camera": 1},
        {"role": "query", "pid": 2, "camera": 1},
        {"role": "gallery", "pid": 1, "camera": 1, "modality": "ir"},  # same camera: kept
        {"role": "gallery", "pid": 2, "camera": 2, "modality": "ir"},
    ] * 2, trial=[1] * 4 + [2] * 4)
    # Trial 1 ranks every true match first; trial 2 ranks the other person first.
    pairs = {}
    for base, good in ((0, 0.1), (4, 0.9)):
        for q, g_same, g_other in ((0, 2, 3), (1, 3, 2)):
            pairs[base + q, base + g_same] = pairs[base + g_same, base + q] = good
            pairs[base + q, base + g_other] = pairs[base + g_other, base + q] = 0.5
    results = regdb(rows, distances(8, pairs))
    for setting in ("visible_to_thermal", "thermal_to_visible"):
        assert results[setting]["trials"] == 2
        assert results[setting]["rank1"] == pytest.approx(0.5)
        assert results[setting]["mAP"] == pytest.approx((1 + 0.5) / 2)


def test_llcm_directions_drop_same_pid_same_camera():
    rows = images([
        {"role": "gallery", "pid": 1, "camera": 2},
        {"role": "gallery", "pid": 1, "camera": 5},
        {"role": "gallery", "pid": 2, "camera": 2},
        {"role": "query", "pid": 1, "camera": 2, "modality": "ir"},
        {"role": "query", "pid": 2, "camera": 7, "modality": "ir"},
    ])
    distance = distances(5, {(3, 0): 0.1, (3, 2): 0.2, (3, 1): 0.3, (4, 2): 0.1,
                             (0, 3): 0.1, (0, 4): 0.2, (2, 4): 0.1, (2, 3): 0.2})
    results = llcm(rows, distance)
    # infrared to visible: query 3 loses row 0 (pid 1, camera 2): pid 2, then the hit: AP 1/2;
    # query 4 hits row 2 first.
    ir_to_vis = results["infrared_to_visible"]
    assert ir_to_vis["queries"] == 2 and ir_to_vis["rank1"] == pytest.approx(0.5)
    assert ir_to_vis["mAP"] == pytest.approx((0.5 + 1) / 2)
    # visible to infrared: row 0 (pid 1, camera 2) cannot use the same-camera query 3: skipped;
    # row 1 ties everywhere and the stable order puts query 3 (pid 1) first; row 2 hits query 4.
    vis_to_ir = results["visible_to_infrared"]
    assert vis_to_ir["queries"] == 2 and vis_to_ir["rank1"] == 1.0


def test_protocol_names():
    assert set(DATASETS) <= set(PROTOCOLS)
    assert protocol_for("market1501") is standard and protocol_for("prcc") is prcc
    with pytest.raises(KeyError, match="valid protocols: .*sysu_mm01"):
        protocol_for("nope")


@pytest.mark.parametrize("protocol", ["market1501", "ltcc", "vc_clothes", "prcc", "sysu_mm01",
                                      "regdb", "llcm"])
def test_counting_gives_the_sorted_evaluators_numbers_on_each_protocol(protocol, monkeypatch):
    # Random rows of every role, camera, modality and outfit (each protocol picks its own),
    # coarse features (many tied distances): the counting evaluator, fed a block at a time, and
    # the previous sort on the whole matrix give the very same numbers.
    from bench import sorted_rank
    from factory.evaluate import query_gallery

    rng = np.random.default_rng(len(protocol))
    rows = images([{"role": str(rng.choice(["query", "gallery"])), "pid": int(rng.integers(6)),
                    "camera": int(rng.integers(1, 7)), "modality": str(rng.choice(["rgb", "ir"])),
                    "outfit": f"o{rng.integers(3)}"} for _ in range(160)])
    features = np.round(rng.standard_normal((160, 3)))
    counted = protocol_for(protocol)(rows, features)

    def sorted_on_the_whole_matrix(distance_rows, q_pids, g_pids, junk=None, **options):
        whole = distance_rows(slice(0, len(q_pids)))
        return sorted_rank.rank_metrics(whole, q_pids, g_pids, junk, **options)

    monkeypatch.setattr(query_gallery, "rank_metrics_by_rows", sorted_on_the_whole_matrix)
    assert protocol_for(protocol)(rows, features) == counted
