"""DLCR test-time prediction refinement (Siddiqui et al., "DLCR: A Generative Data Expansion
Framework via Diffusion for Clothes-Changing Person Re-ID", arXiv 2411.07205, its step 5).

Each query q_0 also comes in versions q_1..q_N: DLCR's generated clothes changes of the query
image (N = 4 in the paper; `TrainConfig.refine_versions`: the first N by seed, then image id,
chosen in `train/evaluation.py`). With s_i(g) = 1 + cos(q_i, g) and T_i the top-K gallery images
of version i (K = 5):
    S_i(p) = max of s_i over the images of pid p in T_i (0 if p has none there),
    M_i    = max_p S_i(p), the best score in T_i,
    A(p)   = S_0(p) + sum_{i>=1} S_i(p)^2 / M_i, for each pid p in T_0,
and each gallery image g in T_0 gets max(A(pid(g)), s_0(g)); the others keep s_0(g). Versions
that agree on a pid thus lift its T_0 images above the rest of the top K.
The DLCR repository (CroitoruAlin/dlcr) was not available to check against; this follows the
paper describes it. T_i is taken over the whole gallery given, before a protocol drops its
junk images, as a refinement of the similarity matrix that the protocol then scores.
"""

import numpy as np

from factory.evaluate.query_gallery import Distance

TOP_K = 5
VERSIONS = 4  # generated versions per query (DLCR's N)


def refine_scores(query_scores: np.ndarray, version_scores: np.ndarray, version_query,
                  gallery_pids, *, top_k: int = TOP_K) -> np.ndarray:
    """Refined (query x gallery) scores from the scores s = 1 + cos of the queries and versions.

    `version_scores[j]` holds s_j over the gallery for the version j of query `version_query[j]`;
    a query may have any number of versions (none: its scores are unchanged).
    """
    query_scores = np.asarray(query_scores, dtype=np.float64)
    version_scores = np.asarray(version_scores, dtype=np.float64).reshape(-1, query_scores.shape[1])
    version_query, gallery_pids = np.asarray(version_query, dtype=np.intp), np.asarray(gallery_pids)
    if len(version_query) != len(version_scores) or len(gallery_pids) != query_scores.shape[1]:
        raise ValueError(f"{len(version_scores)} version score rows for {len(version_query)} "
                         f"version queries; {query_scores.shape[1]} gallery columns for "
                         f"{len(gallery_pids)} gallery pids")
    top_k = min(top_k, query_scores.shape[1])
    # 1. T_0 and S_0(p) for the pid of each of its K images
    top = _top(query_scores, top_k)
    top_pids = gallery_pids[top]
    aggregated = _pid_scores(query_scores, top, top_pids, top_pids)
    # 2. add S_i(p)^2 / M_i of every version for the same pids
    if len(version_scores):
        version_top = _top(version_scores, top_k)
        best = np.take_along_axis(version_scores, version_top, axis=1).max(axis=1, keepdims=True)
        version_pid_scores = _pid_scores(version_scores, version_top, gallery_pids[version_top],
                                         top_pids[version_query])
        lift = np.divide(version_pid_scores ** 2, best, out=np.zeros_like(version_pid_scores),
                         where=best > 0)
        np.add.at(aggregated, version_query, lift)
    # 3. the T_0 images take max(A(pid), s_0); the others keep s_0
    refined = query_scores.copy()
    current = np.take_along_axis(query_scores, top, axis=1)
    np.put_along_axis(refined, top, np.maximum(aggregated, current), axis=1)
    return refined


def refine_similarity(query_features, gallery_features, gallery_pids, version_features,
                      version_query, *, top_k: int = TOP_K) -> np.ndarray:
    """`refine_scores` from features: s = 1 + cosine similarity."""
    gallery = _unit(gallery_features)
    return refine_scores(1.0 + _unit(query_features) @ gallery.T,
                         1.0 + _unit(version_features) @ gallery.T, version_query, gallery_pids,
                         top_k=top_k)


def refined_distance(features, pids, version_features, version_rows, *,
                     top_k: int = TOP_K) -> Distance:
    """A protocol `Distance` (see `query_gallery`) scoring with the refined similarity.

    `features` and `pids` are aligned with the `images` rows; `version_features[j]` is the
    feature of a generated version of the image at row `version_rows[j]` (the `generated` table's
    parent). The distance is the negated refined score. A query's refined row depends only on it
    and its versions, so protocols ask for a block of queries at a time; features are normalised
    once, and the gallery's once per gallery asked for.
    """
    unit, pids = _unit(features), np.asarray(pids)
    version_unit = _unit(np.asarray(version_features).reshape(-1, unit.shape[1]))
    version_rows = np.asarray(version_rows, dtype=np.intp)
    gallery_cache = {}

    def distance(query_index: np.ndarray, gallery_index: np.ndarray) -> np.ndarray:
        key = np.asarray(gallery_index).tobytes()
        if key not in gallery_cache:  # one gallery per setting: keep the latest only
            gallery_cache.clear()
            gallery_cache[key] = unit[gallery_index].T.copy()
        gallery = gallery_cache[key]
        position = np.full(len(unit), -1, dtype=np.intp)
        position[query_index] = np.arange(len(query_index))
        version_query = position[version_rows]
        mine = version_query >= 0
        return -refine_scores(1.0 + unit[query_index] @ gallery,
                              1.0 + version_unit[mine] @ gallery, version_query[mine],
                              pids[gallery_index], top_k=top_k)

    return distance


def _top(scores: np.ndarray, k: int) -> np.ndarray:
    """Columns of each row's k highest scores (in no particular order)."""
    return np.argpartition(-scores, k - 1, axis=1)[:, :k]


def _pid_scores(scores, top, top_pids, pids) -> np.ndarray:
    """For each row and each of its `pids`: the best score of that pid's images in `top` (or 0)."""
    top_scores = np.take_along_axis(scores, top, axis=1)
    same_pid = pids[:, :, None] == top_pids[:, None, :]
    return np.where(same_pid, top_scores[:, None, :], 0.0).max(axis=2)


def _unit(features) -> np.ndarray:
    features = np.asarray(features, dtype=np.float64)
    return features / np.maximum(np.linalg.norm(features, axis=1, keepdims=True), 1e-12)
