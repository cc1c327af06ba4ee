"""Rank metrics from features in bounded memory: distances block by block, never the full matrix.

The query x gallery distances are computed with torch, one block of query rows at a time (on the
features' device: the GPU when the caller's features live there), handed to the counting
evaluator (`rank.rank_metrics_by_rows`) and dropped. Memory beyond the features and their
normalised copy: one float32 block, 4 * block_size * gallery bytes, plus the evaluator's
temporaries on it (a bool mask and a few arrays of its length: about 3 blocks' worth in all). At
MSMT17 size (82,161 gallery images) a block of 64 queries is 21 MB, where the full matrix of
11,659 queries is 3.8 GB.

Metrics (torchreid's `compute_distance_matrix`): `cosine` = 1 - cosine similarity, `euclidean` =
squared Euclidean distance (||q||^2 + ||g||^2 - 2 q.g, as torchreid; same ranking as Euclidean).
"""

from collections.abc import Callable

import numpy as np
import torch

from factory.evaluate.rank import (
    BLOCK_ENTRIES,
    DistanceRows,
    RankMetrics,
    rank_metrics_by_rows,
    standard_junk,
)


def _cosine(query: torch.Tensor, gallery: torch.Tensor) -> torch.Tensor:
    return 1.0 - query @ gallery.T  # both already unit length


def _euclidean(query: torch.Tensor, gallery: torch.Tensor) -> torch.Tensor:
    squared = (query * query).sum(dim=1, keepdim=True) + (gallery * gallery).sum(dim=1)
    return squared.addmm_(query, gallery.T, alpha=-2.0)


# name -> (what both sides are prepared with once, the distance of a query block to the gallery)
METRICS: dict[str, tuple[Callable, Callable]] = {
    "cosine": (lambda x: torch.nn.functional.normalize(x, dim=1), _cosine),
    "euclidean": (lambda x: x, _euclidean),
}


def feature_distance_rows(query_features, gallery_features, *,
                          metric: str = "cosine") -> DistanceRows:
    """A `DistanceRows` computing each asked block of query rows against the whole gallery.

    Features are numpy arrays or torch tensors (rows x dim); torch tensors stay on their device.
    Each block comes back as a float32 numpy array.
    """
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; valid metrics: {', '.join(METRICS)}")
    query, gallery = _tensor(query_features, "query"), _tensor(gallery_features, "gallery")
    if query.shape[1] != gallery.shape[1]:
        raise ValueError(f"query features have dimension {query.shape[1]}, gallery features "
                         f"{gallery.shape[1]}")
    prepare, distance = METRICS[metric]
    gallery = prepare(gallery.to(query.device))

    def distance_rows(rows: slice) -> np.ndarray:
        with torch.no_grad():
            return distance(prepare(query[rows]), gallery).cpu().numpy()

    return distance_rows


def evaluate_features(query_features, gallery_features, q_pids, g_pids, q_camids, g_camids, *,
                      metric: str = "cosine", max_rank: int = 50,
                      block_size: int | None = None) -> RankMetrics:
    """`evaluate_rank` from features: CMC, mAP and mINP under the standard rule (the gallery items
    of the query's pid and camera dropped), the distances computed `block_size` query rows at a
    time (default: as many as make `rank.BLOCK_ENTRIES` distances, ~16 MB of float32)."""
    distance_rows = feature_distance_rows(query_features, gallery_features, metric=metric)
    if block_size is None:
        block_size = max(1, BLOCK_ENTRIES // max(len(g_pids), 1))
    junk = standard_junk(q_pids, g_pids, q_camids, g_camids)
    return rank_metrics_by_rows(distance_rows, q_pids, g_pids, junk, max_rank=max_rank,
                                shape=(len(query_features), len(gallery_features)),
                                block_rows=block_size)


def _tensor(features, side: str) -> torch.Tensor:
    tensor = torch.as_tensor(features)
    if tensor.ndim != 2:
        raise ValueError(f"{side} features must be a (rows x dim) matrix, got shape "
                         f"{tuple(tensor.shape)}")
    return tensor.float()
