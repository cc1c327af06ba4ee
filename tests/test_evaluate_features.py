import json
import subprocess
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import torch

from factory.evaluate import evaluate_features, evaluate_rank
from factory.evaluate.features import feature_distance_rows

ROOT = Path(__file__).resolve().parents[1]


def _case(seed: int, num_q: int = 37, num_g: int = 53, dim: int = 6):
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, 7, num_q), rng.integers(0, 7, num_g)
    cameras = rng.integers(0, 3, num_q), rng.integers(0, 3, num_g)
    # small integer features: exact distances, many of them tied
    features = rng.integers(-2, 3, (num_q, dim)), rng.integers(-2, 3, (num_g, dim))
    return features, ids, cameras


def _reference(query, gallery, metric: str) -> np.ndarray:
    if metric == "euclidean":
        return ((query[:, None, :] - gallery[None, :, :]) ** 2).sum(axis=2).astype(np.float64)
    unit = [x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12) for x in (query,
                                                                                      gallery)]
    return 1.0 - unit[0] @ unit[1].T


@pytest.mark.parametrize("block_size", [1, 4, 37, None])
def test_euclidean_blocks_give_the_full_matrix_numbers(block_size):
    (query, gallery), (q_pids, g_pids), (q_cams, g_cams) = _case(0)
    expected = evaluate_rank(_reference(query, gallery, "euclidean"), q_pids, g_pids, q_cams,
                             g_cams, max_rank=10)
    result = evaluate_features(query, gallery, q_pids, g_pids, q_cams, g_cams,
                               metric="euclidean", max_rank=10, block_size=block_size)
    np.testing.assert_array_equal(result.cmc, expected.cmc)
    assert (result.mAP, result.mINP, result.num_valid) == \
        (expected.mAP, expected.mINP, expected.num_valid)


def test_cosine_matches_numpy_and_accepts_tensors():
    rng = np.random.default_rng(1)
    (_, _), (q_pids, g_pids), (q_cams, g_cams) = _case(1)
    query = rng.standard_normal((37, 16)).astype(np.float32)
    gallery = rng.standard_normal((53, 16)).astype(np.float32)
    expected = evaluate_rank(_reference(query, gallery, "cosine"), q_pids, g_pids, q_cams, g_cams)
    for given in ((query, gallery), (torch.from_numpy(query), torch.from_numpy(gallery))):
        result = evaluate_features(*given, q_pids, g_pids, q_cams, g_cams, block_size=5)
        np.testing.assert_allclose(result.cmc, expected.cmc)
        assert result.mAP == pytest.approx(expected.mAP, abs=1e-9)
    blocks = feature_distance_rows(query, gallery)
    np.testing.assert_allclose(blocks(slice(3, 8)), _reference(query, gallery, "cosine")[3:8],
                               atol=1e-6)
    assert blocks(slice(0, 2)).dtype == np.float32


def test_memory_grows_with_the_block_not_the_matrix():
    rng = np.random.default_rng(3)
    num_q, num_g = 600, 4000
    q_pids, g_pids = rng.integers(0, 50, num_q), rng.integers(0, 50, num_g)
    q_cams, g_cams = rng.integers(0, 3, num_q), rng.integers(0, 3, num_g)
    query = rng.standard_normal((num_q, 32), dtype=np.float32)
    gallery = rng.standard_normal((num_g, 32), dtype=np.float32)
    peaks = {}
    for block_size in (8, 64):
        tracemalloc.start()  # numpy's allocations: the blocks, masks and counting arrays
        evaluate_features(query, gallery, q_pids, g_pids, q_cams, g_cams, block_size=block_size)
        peaks[block_size] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    full_matrix, block_64 = num_q * num_g * 4, 64 * num_g * 4
    assert peaks[8] < full_matrix / 3
    assert peaks[64] - peaks[8] < 4 * block_64  # a few blocks' worth, whatever the queries


def test_bad_inputs_are_clear_errors():
    (query, gallery), (q_pids, g_pids), (q_cams, g_cams) = _case(2)
    with pytest.raises(ValueError, match="unknown metric 'manhattan'; valid metrics: cosine"):
        evaluate_features(query, gallery, q_pids, g_pids, q_cams, g_cams, metric="manhattan")
    with pytest.raises(ValueError, match="dimension 6, gallery features 5"):
        evaluate_features(query, gallery[:, :5], q_pids, g_pids, q_cams, g_cams)
    with pytest.raises(ValueError, match="shape \\(37, 53\\) but there are 36 query"):
        evaluate_features(query, gallery, q_pids[:36], g_pids, q_cams[:36], g_cams)
    with pytest.raises(ValueError, match="block_rows must be >= 1, got -1"):
        evaluate_features(query, gallery, q_pids, g_pids, q_cams, g_cams, block_size=-1)


def test_features_benchmark_case_in_process(capsys):
    from bench.evaluate_features import main

    for path in ("blocks", "full"):
        assert main(["--case", "msmt17", "--path", path, "--dim", "8", "--scale", "0.01",
                     "--repeats", "1"]) == 0
        case = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
        assert (case["queries"], case["gallery"], case["dim"]) == (116, 821, 8)
        assert case["seconds"] > 0 and case["peak_gib"] > 0


@pytest.mark.slow  # one process per case: about 10-40 s of imports on 2 cores
def test_features_benchmark_runs_small(tmp_path):
    out = tmp_path / "evaluate_features.json"
    subprocess.run([sys.executable, "-m", "bench.evaluate_features", "--out", str(out),
                    "--scale", "0.01", "--market-dim", "16", "--msmt-dim", "8", "--repeats", "1"],
                   check=True, cwd=ROOT, capture_output=True)
    result = json.loads(out.read_text())
    market, msmt = result["cases"]["market1501"], result["cases"]["msmt17"]
    assert market["identical_metrics"] and market["blocks"]["queries"] == 33
    assert msmt["blocks"]["gallery"] == 821 and "not run" in msmt["full_matrix"]
    assert result["meets_target"]
