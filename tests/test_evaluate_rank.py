import json
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bench import sorted_rank
from factory.evaluate import rank
from factory.evaluate.cross_modality import _sysu_rule
from factory.evaluate.query_gallery import (
    Side,
    any_of,
    same_pid_other_outfit,
    same_pid_same_camera,
    same_pid_same_outfit,
)
from factory.evaluate.rank import (
    RankMetrics,
    evaluate_rank,
    per_query,
    rank_metrics,
    rank_metrics_by_rows,
    standard_junk,
)

ROOT = Path(__file__).resolve().parents[1]

# One query (pid 1, camera 1) against six gallery images, listed in distance order.
DIST = np.array([[0.1, 0.2, 0.3, 0.4, 0.5, 0.6]])
G_PIDS = np.array([2, 1, 1, 3, 1, 4])
G_CAMS = np.array([2, 1, 2, 2, 3, 2])


def test_hand_computed_standard_rule():
    # g1 has the query's pid and camera: dropped. Ranking: g0 (1), g2 (2, hit 1), g3 (3),
    # g4 (4, hit 2), g5 (5). First hit at rank 2: CMC = 0, 1, 1, ...
    # AP = (1/2) * (1/2 + 2/4) = 0.5; INP = 2 hits / rank of the last hit 4 = 0.5.
    result = evaluate_rank(DIST, [1], G_PIDS, [1], G_CAMS, max_rank=5)
    np.testing.assert_array_equal(result.cmc, [0, 1, 1, 1, 1])
    assert result.mAP == pytest.approx(0.5)
    assert result.mINP == pytest.approx(0.5)
    assert (result.num_valid, result.num_queries) == (1, 1)


def test_hand_computed_without_junk():
    # Nothing dropped: hits g1 (rank 2), g2 (rank 3), g4 (rank 5).
    # AP = (1/3) * (1/2 + 2/3 + 3/5) = 0.588888...; INP = 3/5.
    result = rank_metrics(DIST, [1], G_PIDS, max_rank=3)
    np.testing.assert_array_equal(result.cmc, [0, 1, 1])
    assert result.mAP == pytest.approx((1 / 2 + 2 / 3 + 3 / 5) / 3)
    assert result.mINP == pytest.approx(3 / 5)


def test_torchreid_style_unpacking_and_mINP():
    result = evaluate_rank(DIST, [1], G_PIDS, [1], G_CAMS)
    cmc, mAP = result
    assert len(result) == 2 and isinstance(result, tuple)
    assert cmc is result.cmc and mAP == result.mAP and result.mINP == pytest.approx(0.5)
    assert len(cmc) == 50  # max_rank entries even for a 6-image gallery
    restored = pickle.loads(pickle.dumps(result))
    assert isinstance(restored, RankMetrics) and restored.mINP == result.mINP
    np.testing.assert_array_equal(restored.cmc, cmc)


def test_short_gallery_keeps_cmc_at_one_after_the_first_hit():
    # Query 0: 2 images left after its same-camera one is dropped, hit first -> CMC 1 everywhere.
    # Query 1: hit second of 3 -> 0 then 1. Averages: 0.5 at rank 1, then 1 up to max_rank 10.
    dist = np.array([[0.1, 0.2, 0.3], [0.3, 0.2, 0.1]])
    result = evaluate_rank(dist, [1, 1], [1, 1, 2], [1, 2], [1, 3, 1], max_rank=10)
    np.testing.assert_allclose(result.cmc, [0.5] + [1.0] * 9)
    assert result.mAP == pytest.approx((1.0 + (1 / 2 + 2 / 3) / 2) / 2)


def test_queries_without_a_true_match_are_skipped():
    # Query 1 (pid 7) has no image in the gallery; query 2's only match is same-camera junk.
    dist = np.array([[0.3, 0.1, 0.2], [0.1, 0.2, 0.3], [0.1, 0.2, 0.3]])
    result = evaluate_rank(dist, [1, 7, 2], [1, 2, 3], [1, 1, 2], [2, 2, 2], max_rank=3)
    # Query 0: ranking g1 (pid 2), g2, g0 (hit at 3): AP 1/3, INP 1/3.
    assert (result.num_valid, result.num_queries) == (1, 3)
    np.testing.assert_allclose(result.cmc, [0, 0, 1])
    assert result.mAP == pytest.approx(1 / 3) and result.mINP == pytest.approx(1 / 3)


def test_no_valid_query_is_a_clear_error():
    with pytest.raises(ValueError, match="none of the 2 queries has a true match"):
        evaluate_rank(np.zeros((2, 2)), [1, 2], [1, 3], [1, 1], [1, 1])


def test_bad_inputs_are_rejected():
    with pytest.raises(ValueError, match="NaN distances in query rows \\[1\\]"):
        rank_metrics(np.array([[0.1], [np.nan]]), [1, 1], [1])
    with pytest.raises(ValueError, match="shape"):
        rank_metrics(np.zeros((2, 3)), [1], [1, 2, 3])
    with pytest.raises(ValueError, match="empty"):
        rank_metrics(np.zeros((1, 0)), [1], [])


def test_ties_follow_gallery_order():
    # All distances equal: a stable sort keeps gallery order, so hits g1, g3 rank 2 and 4.
    # AP = (1/2) * (1/2 + 2/4) = 0.5. Negative and positive zeros tie too.
    for dist in (np.zeros((1, 4)), np.array([[0.0, -0.0, 0.0, -0.0]], dtype=np.float32)):
        result = rank_metrics(dist, [1], [2, 1, 2, 1], max_rank=4)
        np.testing.assert_array_equal(result.cmc, [0, 1, 1, 1])
        assert result.mAP == pytest.approx(0.5) and result.mINP == pytest.approx(0.5)


def test_distinct_identity_cmc():
    # Ranking: pid 2, pid 2, pid 3, pid 2, then the hit (image rank 5). Over identities it is
    # third: pids 2 and 3 come before it. mAP is per image either way: 1/5.
    dist = np.array([[0.1, 0.2, 0.3, 0.4, 0.5]])
    pids = [2, 2, 3, 2, 1]
    by_image = rank_metrics(dist, [1], pids, max_rank=5)
    by_identity = rank_metrics(dist, [1], pids, max_rank=5, distinct_ids=True)
    np.testing.assert_array_equal(by_image.cmc, [0, 0, 0, 0, 1])
    np.testing.assert_array_equal(by_identity.cmc, [0, 0, 1, 1, 1])
    assert by_image.mAP == by_identity.mAP == pytest.approx(1 / 5)


def _random_case(seed: int):
    rng = np.random.default_rng(seed)
    num_q, num_g = rng.integers(1, 25), rng.integers(1, 70)
    q_pids, g_pids = rng.integers(0, 6, num_q), rng.integers(0, 6, num_g)
    kind = seed % 4
    if kind == 0:
        dist = rng.random((num_q, num_g))
    elif kind == 1:  # many ties
        dist = rng.integers(-2, 3, (num_q, num_g)).astype(np.float32) * 0.5
    elif kind == 2:  # float64 ties that float32 cannot hold
        dist = rng.integers(0, 3, (num_q, num_g)) + rng.integers(0, 2, (num_q, num_g)) * 1e-12
    else:
        dist = rng.integers(0, 4, (num_q, num_g))  # integer distances
    mask = rng.random((num_q, num_g)) < 0.2
    junk = None if seed % 5 == 0 else (lambda rows: mask[rows])
    return dist, q_pids, g_pids, junk


@pytest.mark.parametrize("distinct_ids", [False, True])
def test_vectorised_equals_per_query_loop(distinct_ids):
    compared = 0
    for seed in range(150):
        dist, q_pids, g_pids, junk = _random_case(seed)
        try:
            looped = per_query(dist, q_pids, g_pids, junk, max_rank=8, distinct_ids=distinct_ids)
        except ValueError:
            with pytest.raises(ValueError):
                rank_metrics(dist, q_pids, g_pids, junk, max_rank=8, distinct_ids=distinct_ids)
            continue
        vectorised = rank_metrics(dist, q_pids, g_pids, junk, max_rank=8,
                                  distinct_ids=distinct_ids)
        np.testing.assert_allclose(vectorised.cmc, looped.cmc, rtol=0, atol=1e-12)
        assert vectorised.mAP == pytest.approx(looped.mAP, abs=1e-12)
        assert vectorised.mINP == pytest.approx(looped.mINP, abs=1e-12)
        assert vectorised.num_valid == looped.num_valid
        compared += 1
    assert compared > 100


def test_blocks_of_queries_give_the_same_numbers(monkeypatch):
    rng = np.random.default_rng(3)
    dist = rng.random((40, 30)).astype(np.float32)
    q_pids, g_pids = rng.integers(0, 5, 40), rng.integers(0, 5, 30)
    q_cams, g_cams = rng.integers(0, 3, 40), rng.integers(0, 3, 30)
    whole = evaluate_rank(dist, q_pids, g_pids, q_cams, g_cams, max_rank=10)
    monkeypatch.setattr(rank, "BLOCK_ENTRIES", 70)  # blocks of 2 queries
    blocked = evaluate_rank(dist, q_pids, g_pids, q_cams, g_cams, max_rank=10)
    np.testing.assert_array_equal(whole.cmc, blocked.cmc)
    assert (whole.mAP, whole.mINP) == (blocked.mAP, blocked.mINP)
    junk = standard_junk(q_pids, g_pids, q_cams, g_cams)
    looped = per_query(dist, q_pids, g_pids, junk, max_rank=10)
    np.testing.assert_allclose(blocked.cmc, looped.cmc, atol=1e-12)


# Each protocol's junk rule and CMC kind (query_gallery, clothes, cross_modality).
PROTOCOL_RULES = {
    "standard": (same_pid_same_camera, False),
    "same_clothes": (any_of(same_pid_same_camera, same_pid_other_outfit), False),
    "clothes_changing": (any_of(same_pid_same_camera, same_pid_same_outfit), False),
    "sysu_mm01": (_sysu_rule, True),
    "llcm": (same_pid_same_camera, True),
    "regdb_prcc": (None, False),
}
DISTANCE_KINDS = ("continuous", "quantised", "float64_ties", "integer")


def _side(rng, size: int) -> Side:
    return Side(np.arange(size), rng.integers(0, 6, size), rng.integers(1, 5, size),
                rng.integers(0, 3, size), np.array([f"{i}.jpg" for i in range(size)]))


def _distances(rng, kind: str, shape) -> np.ndarray:
    if kind == "continuous":
        return rng.random(shape).astype(np.float32)
    if kind == "quantised":  # many ties, as from quantised features
        return np.round(rng.random(shape) * 4).astype(np.float32) / 4
    if kind == "float64_ties":  # ties that float32 could not hold apart
        return rng.integers(0, 3, shape) + rng.integers(0, 2, shape) * 1e-12
    return rng.integers(0, 4, shape)


@pytest.mark.parametrize("kind", DISTANCE_KINDS)
@pytest.mark.parametrize("protocol", PROTOCOL_RULES)
def test_counting_equals_the_sorted_evaluator_on_every_protocol(protocol, kind):
    rule, distinct_ids = PROTOCOL_RULES[protocol]
    rng = np.random.default_rng(len(protocol) * 10 + DISTANCE_KINDS.index(kind))
    compared = 0
    for num_q, num_g in [(1, 1), (3, 2), (5, 7), *rng.integers(1, 60, (30, 2)).tolist()]:
        query, gallery = _side(rng, num_q), _side(rng, num_g)
        dist = _distances(rng, kind, (num_q, num_g))
        junk = None if rule is None else (lambda rows, q=query, g=gallery: rule(q[rows], g))
        options = {"max_rank": 10, "distinct_ids": distinct_ids}
        try:
            expected = sorted_rank.rank_metrics(dist, query.pid, gallery.pid, junk, **options)
        except ValueError as error:  # no query with a hit: the same error
            with pytest.raises(ValueError, match="none of the"):
                rank_metrics(dist, query.pid, gallery.pid, junk, **options)
            assert "none of the" in str(error)
            continue
        counted = rank_metrics(dist, query.pid, gallery.pid, junk, **options)
        np.testing.assert_array_equal(counted.cmc, expected.cmc)
        assert (counted.mAP, counted.mINP, counted.num_valid) == \
            (expected.mAP, expected.mINP, expected.num_valid)
        compared += 1
    assert compared >= 20


def test_rows_given_a_block_at_a_time(monkeypatch):
    rng = np.random.default_rng(5)
    dist = np.round(rng.random((50, 40)) * 8) / 8
    q_pids, g_pids = rng.integers(0, 5, 50), rng.integers(0, 5, 40)
    whole = rank_metrics(dist, q_pids, g_pids, max_rank=10)
    monkeypatch.setattr(rank, "BLOCK_ENTRIES", 120)  # blocks of 3 queries
    asked = []

    def distance_rows(rows: slice) -> np.ndarray:
        asked.append((rows.start, rows.stop))
        return dist[rows]

    by_rows = rank_metrics_by_rows(distance_rows, q_pids, g_pids, max_rank=10)
    assert asked[:2] == [(0, 3), (3, 6)] and asked[-1] == (48, 50)
    np.testing.assert_array_equal(whole.cmc, by_rows.cmc)
    assert (whole.mAP, whole.mINP) == (by_rows.mAP, by_rows.mINP)
    with pytest.raises(ValueError, match="query rows 0..2 have shape \\(3, 39\\)"):
        rank_metrics_by_rows(lambda rows: dist[rows, 1:], q_pids, g_pids)


def test_benchmark_script_runs_small(tmp_path):
    out = tmp_path / "evaluate_rank.json"
    subprocess.run([sys.executable, "-m", "bench.evaluate_rank", "--out", str(out),
                    "--queries", "30", "--gallery", "120", "--distractors", "10", "--ids", "12",
                    "--dim", "8", "--repeats", "1", "--loop-queries", "0", "--no-compiled"],
                   check=True, cwd=ROOT, capture_output=True)
    result = json.loads(out.read_text())
    assert result["identical"] and set(result["matrices"]) == {"plain", "quantised"}
    for run in result["matrices"].values():
        assert run["identical_to_sort"] and run["loop_queries_timed"] == 30
        assert set(run["max_abs_difference_vs_loop"]) == {"cmc", "mAP", "mINP"}
    assert result["matrices"]["quantised"]["distinct_distances"] < 20  # 8-dim sign codes
    assert result["fastreid_cython"] == "not timed: skipped (--no-compiled)"

