import numpy as np
import pyarrow as pa
import pytest

from factory.evaluate.clothes import standard
from factory.evaluate.rank import rank_metrics
from factory.evaluate.refinement import refine_scores, refine_similarity, refined_distance
from schemas.tables import IMAGES

GALLERY_PIDS = np.array([1, 1, 2, 2, 3, 4])
# Query 0: s_0 = 1 + cos over the six gallery images; two generated versions of it.
QUERY_0 = [1.8, 1.2, 1.6, 1.5, 1.0, 0.4]
VERSION_1 = [1.0, 1.5, 1.9, 0.2, 1.7, 0.1]
VERSION_2 = [1.2, 0.3, 0.5, 1.6, 0.9, 1.4]
# Query 1 has no versions.
QUERY_1 = [1.1, 1.9, 0.2, 0.3, 1.4, 0.1]


def test_hand_worked_refinement():
    refined = refine_scores([QUERY_0, QUERY_1], [VERSION_1, VERSION_2], [0, 0], GALLERY_PIDS,
                            top_k=3)
    # Query 0, K = 3:
    #   T_0 = g0 (1.8, pid 1), g2 (1.6, pid 2), g3 (1.5, pid 2); S_0(1) = 1.8, S_0(2) = 1.6.
    #   Version 1: T_1 = g2 (1.9, pid 2), g4 (1.7, pid 3), g1 (1.5, pid 1); M_1 = 1.9;
    #     S_1(1) = 1.5 -> 1.5^2 / 1.9 = 2.25 / 1.9;  S_1(2) = 1.9 -> 1.9^2 / 1.9 = 1.9.
    #   Version 2: T_2 = g3 (1.6, pid 2), g5 (1.4, pid 4), g0 (1.2, pid 1); M_2 = 1.6;
    #     S_2(1) = 1.2 -> 1.44 / 1.6 = 0.9;        S_2(2) = 1.6 -> 2.56 / 1.6 = 1.6.
    #   A(1) = 1.8 + 2.25 / 1.9 + 0.9 = 3.88421...;  A(2) = 1.6 + 1.9 + 1.6 = 5.1.
    #   T_0 images take max(A(pid), s_0): g0 -> 3.88421, g2 -> 5.1, g3 -> 5.1;
    #   g1 (pid 1 but outside T_0), g4 and g5 keep s_0. Pid 2 now ranks first.
    a_1 = 1.8 + 2.25 / 1.9 + 0.9
    np.testing.assert_allclose(refined[0], [a_1, 1.2, 5.1, 5.1, 1.0, 0.4])
    # Query 1, no versions: T_0 = g1 (1.9, pid 1), g4 (1.4, pid 3), g0 (1.1, pid 1);
    #   A(1) = S_0(1) = 1.9, A(3) = 1.4: g0 rises to its pid's best, 1.9; the rest is unchanged.
    np.testing.assert_allclose(refined[1], [1.9, 1.9, 0.2, 0.3, 1.4, 0.1])


def test_refinement_changes_the_top_match():
    refined = refine_scores([QUERY_0], [VERSION_1, VERSION_2], [0, 0], GALLERY_PIDS, top_k=3)
    before = rank_metrics(-np.array([QUERY_0]), [2], GALLERY_PIDS, max_rank=1)
    after = rank_metrics(-refined, [2], GALLERY_PIDS, max_rank=1)
    assert before.cmc[0] == 0.0 and after.cmc[0] == 1.0


def unit(angles_degrees) -> np.ndarray:
    angles = np.radians(angles_degrees)
    return np.stack([np.cos(angles), np.sin(angles)], axis=1)


def test_similarity_is_one_plus_cosine():
    gallery = unit([0, 60, 90, 180])
    query = unit([0]) * 3.0  # the scale does not matter
    versions = unit([90, 60])
    refined = refine_similarity(query, gallery, [1, 2, 3, 4], versions, [0, 0], top_k=2)
    scores = 1 + unit([0]) @ gallery.T  # 2, 1.5, 1, 0
    expected = refine_scores(scores, 1 + versions @ gallery.T, [0, 0], [1, 2, 3, 4], top_k=2)
    np.testing.assert_allclose(refined, expected)


def test_refined_distance_plugs_into_a_protocol():
    rng = np.random.default_rng(0)
    roles = ["query"] * 3 + ["gallery"] * 8
    pids = [1, 2, 3] + [1, 1, 2, 2, 3, 3, 4, 4]
    rows = pa.Table.from_pylist(
        [{"image_id": str(i), "dataset": "toy", "split": "test", "role": role, "pid": pid,
          "camera": 1 if role == "query" else 2, "modality": "rgb", "outfit": None,
          "path": f"/{i}.jpg", "width": 1, "height": 1, "origin": "real"}
         for i, (role, pid) in enumerate(zip(roles, pids, strict=True))], schema=IMAGES)
    features = rng.standard_normal((11, 4))
    version_features = rng.standard_normal((5, 4))
    version_rows = np.array([0, 0, 1, 2, 5])  # row 5 is a gallery image: never a query here
    distance = refined_distance(features, pids, version_features, version_rows, top_k=3)
    query, gallery = np.arange(3), np.arange(3, 11)
    expected = refine_similarity(features[query], features[gallery], np.array(pids)[gallery],
                                 version_features[:4], [0, 0, 1, 2], top_k=3)
    np.testing.assert_allclose(distance(query, gallery), -expected)
    metrics = standard(rows, distance)["standard"]
    direct = rank_metrics(-expected, pids[:3], np.array(pids)[gallery], max_rank=10)
    assert metrics["mAP"] == pytest.approx(direct.mAP)


def test_refined_distance_one_query_block_at_a_time():
    # Protocols ask for blocks of queries: each query's refined row is the same whichever
    # queries come with it (to the last bit BLAS keeps across matrix shapes), and a second
    # gallery is not served from the first one's cache.
    rng = np.random.default_rng(1)
    features, pids = rng.standard_normal((30, 6)), rng.integers(0, 5, 30)
    version_rows = rng.integers(0, 12, 20)
    version_features = rng.standard_normal((20, 6))
    distance = refined_distance(features, pids, version_features, version_rows)
    query, gallery = np.arange(12), np.arange(12, 30)
    whole = distance(query, gallery)
    blocks = np.concatenate([distance(query[rows], gallery)
                             for rows in (slice(0, 1), slice(1, 7), slice(7, 12))])
    np.testing.assert_allclose(blocks, whole, rtol=1e-12)
    fresh = refined_distance(features, pids, version_features, version_rows)
    np.testing.assert_array_equal(distance(query[:3], gallery[::2]),
                                  fresh(query[:3], gallery[::2]))
