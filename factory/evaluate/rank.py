"""Rank metrics of person re-identification: CMC, mAP and mINP, vectorised over queries.

Conventions (torchreid's and fast-reid's, ARCHITECTURE.md):
- a gallery item is *junk* for a query when the protocol drops it (the standard rule: same pid AND
  same camera); junk items are removed from the query's ranking before anything is counted;
- a *hit* is a gallery item that is not junk and has the query's pid; a query with no hit is left
  out of every average (if no query has one, `ValueError`);
- ranks are 1-based positions in the query's ranking of the gallery by increasing distance, ties
  broken by gallery order (a stable sort), junk removed;
- CMC(k) = share of queries whose first hit has rank <= k. It is defined for every k, including
  past the end of a short gallery: it stays at its last value there. (torchreid's and fast-reid's
  Cython code keep stale values in those positions instead.)
- AP = (1/R) * sum over the R hits of (hits up to and including it) / (its rank), not interpolated;
- INP = R / (rank of the last hit) (fast-reid: num_rel / (last hit position + 1), 0-based).
With `distinct_ids=True`, CMC counts ranks over identities instead of images: the rank of the first
hit is 1 + the number of distinct pids ranked before it. The SYSU-MM01 and LLCM authors' code
(`eval_sysu`, `eval_llcm` in CAJ and DEEN) computes CMC this way; mAP and mINP stay per image.
"""

from collections.abc import Callable

import numpy as np

# Junk mask of a block of queries: `junk(rows)` is a bool array (rows of the block, gallery).
JunkMask = Callable[[slice], np.ndarray]

# Distances handled at a time (a block of queries): 4M, ~16 MB of float32 per temporary array.
BLOCK_ENTRIES = 1 << 22


class RankMetrics(tuple):
    """`(cmc, mAP)`, the pair torchreid's `evaluate_rank` returns, with `mINP` as an attribute.

    A 2-tuple keeps `cmc, mAP = evaluate_rank(...)` working for code written against torchreid,
    where a 3-tuple would break that unpacking and a `return_mINP=` flag would change the return
    type by argument. Attributes: `cmc` (float64 array of length `max_rank`, `cmc[0]` = rank-1),
    `mAP`, `mINP`, `num_valid` (queries averaged) and `num_queries` (queries given).
    """

    def __new__(cls, cmc: np.ndarray, mAP: float, mINP: float, num_valid: int, num_queries: int):
        result = super().__new__(cls, (cmc, mAP))
        result.mINP, result.num_valid, result.num_queries = mINP, num_valid, num_queries
        return result

    def __getnewargs__(self):
        return (*self, self.mINP, self.num_valid, self.num_queries)

    @property
    def cmc(self) -> np.ndarray:
        return self[0]

    @property
    def mAP(self) -> float:
        return self[1]

    def __repr__(self) -> str:
        return (f"RankMetrics(rank1={self.cmc[0]:.4f}, mAP={self.mAP:.4f}, mINP={self.mINP:.4f}, "
                f"num_valid={self.num_valid}/{self.num_queries})")


def evaluate_rank(distmat, q_pids, g_pids, q_camids, g_camids, max_rank: int = 50) -> RankMetrics:
    """CMC, mAP and mINP, dropping the gallery items of the query's pid and camera (standard).

    A drop-in for `torchreid.metrics.evaluate_rank` (same arguments in the same order; its
    `use_metric_cuhk03` and `use_cython` options are not offered). Returns a `RankMetrics`, a
    2-tuple `(cmc, mAP)` with `.mINP`; unlike torchreid, `cmc` always has `max_rank` entries.
    """
    junk = standard_junk(q_pids, g_pids, q_camids, g_camids)
    return rank_metrics(distmat, q_pids, g_pids, junk, max_rank=max_rank)


def standard_junk(q_pids, g_pids, q_camids, g_camids) -> JunkMask:
    """The standard junk rule as a `JunkMask`: gallery items of the query's pid and camera."""
    q_pids, g_pids = np.asarray(q_pids), np.asarray(g_pids)
    q_camids, g_camids = np.asarray(q_camids), np.asarray(g_camids)
    return lambda rows: ((q_pids[rows, None] == g_pids[None, :])
                         & (q_camids[rows, None] == g_camids[None, :]))


def rank_metrics(distmat, q_pids, g_pids, junk: JunkMask | None = None, *, max_rank: int = 50,
                 distinct_ids: bool = False) -> RankMetrics:
    """CMC, mAP and mINP of a (query x gallery) distance matrix; smaller distance = better match.

    `junk(rows)` gives the gallery items the protocol drops for a block of queries (None: none).
    Queries are taken in blocks of about `BLOCK_ENTRIES` distances: each block is sorted row-wise
    in one call, and only the hits are then placed in their rows' rankings.
    """
    distmat, q_pids, g_pids = _checked(distmat, q_pids, g_pids, max_rank)
    num_q, num_g = distmat.shape
    gallery = _PidIndex(g_pids)
    first_rank = np.zeros(num_q, dtype=np.int64)
    ap, inp = np.zeros(num_q), np.zeros(num_q)
    block = max(1, BLOCK_ENTRIES // max(num_g, 1))
    for start in range(0, num_q, block):
        rows = slice(start, min(start + block, num_q))
        dist = distmat[rows]
        hit_rows, hit_cols = gallery.same_pid(q_pids[rows])
        if junk is not None:
            junk_block = np.asarray(junk(rows), dtype=bool)
            kept = ~junk_block[hit_rows, hit_cols]
            hit_rows, hit_cols = hit_rows[kept], hit_cols[kept]
            dist = np.where(junk_block, np.nan, dist)  # NaN is below nothing and sorts last
        hit_rows, hit_cols, hit_ranks = _hits_by_rank(dist, hit_rows, hit_cols)
        first_rank[rows], ap[rows], inp[rows] = _block_metrics(hit_rows, hit_ranks, len(dist))
        if distinct_ids:
            first_rank[rows] = _distinct_first_rank(dist, hit_rows, hit_cols, first_rank[rows],
                                                    gallery.codes, len(gallery.pids))
    return _aggregate(first_rank, ap, inp, max_rank)


def per_query(distmat, q_pids, g_pids, junk: JunkMask | None = None, *, max_rank: int = 50,
              distinct_ids: bool = False) -> RankMetrics:
    """The same metrics from a plain Python loop over queries and their ranked gallery items.

    The reference that `rank_metrics` is tested and benchmarked against: it reads like the
    definitions in this module's docstring and shares only the input checks and the final
    averaging with the vectorised path.
    """
    distmat, q_pids, g_pids = _checked(distmat, q_pids, g_pids, max_rank)
    num_q, num_g = distmat.shape
    first_rank = np.zeros(num_q, dtype=np.int64)
    ap, inp = np.zeros(num_q), np.zeros(num_q)
    gallery_pids = g_pids.tolist()
    for q in range(num_q):
        dropped = [False] * num_g if junk is None else np.asarray(junk(slice(q, q + 1)))[0].tolist()
        query_pid = q_pids[q].item()
        rank, hits, precision_sum, seen_pids = 0, 0, 0.0, set()
        for g in np.argsort(distmat[q], kind="stable").tolist():
            if dropped[g]:
                continue
            rank += 1
            if gallery_pids[g] != query_pid:
                seen_pids.add(gallery_pids[g])
                continue
            hits += 1
            if hits == 1:
                first_rank[q] = len(seen_pids) + 1 if distinct_ids else rank
            precision_sum += hits / rank
            last_rank = rank
        if hits:
            ap[q], inp[q] = precision_sum / hits, hits / last_rank
    return _aggregate(first_rank, ap, inp, max_rank)


def _checked(distmat, q_pids, g_pids, max_rank: int):
    distmat = np.asarray(distmat)
    if distmat.ndim != 2:
        raise ValueError(f"distmat must be 2-D (query x gallery), got shape {distmat.shape}")
    q_pids, g_pids = np.asarray(q_pids).ravel(), np.asarray(g_pids).ravel()
    if distmat.shape != (len(q_pids), len(g_pids)):
        raise ValueError(f"distmat has shape {distmat.shape} but there are {len(q_pids)} query "
                         f"and {len(g_pids)} gallery pids")
    if distmat.size == 0:
        raise ValueError(f"distmat is empty (shape {distmat.shape}): no queries or no gallery")
    if max_rank < 1:
        raise ValueError(f"max_rank must be >= 1, got {max_rank}")
    if not np.issubdtype(distmat.dtype, np.floating):
        distmat = distmat.astype(np.float64)
    nan_rows = np.flatnonzero(np.isnan(distmat).any(axis=1))
    if len(nan_rows):
        raise ValueError(f"distmat has NaN distances in query rows {nan_rows[:10].tolist()}")
    return distmat, q_pids, g_pids


class _PidIndex:
    """Gallery items grouped by pid: lists each query's same-pid items without a full mask."""

    def __init__(self, g_pids: np.ndarray):
        self.pids, self.codes, self.counts = np.unique(g_pids, return_inverse=True,
                                                       return_counts=True)
        self.by_pid = np.argsort(self.codes, kind="stable")
        self.starts = np.cumsum(self.counts) - self.counts

    def same_pid(self, q_pids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(query row, gallery column) of every gallery item with the query's pid."""
        code = np.minimum(np.searchsorted(self.pids, q_pids), len(self.pids) - 1)
        size = np.where(self.pids[code] == q_pids, self.counts[code], 0)
        rows = np.repeat(np.arange(len(q_pids)), size)
        row_starts = np.cumsum(size) - size
        cols = self.by_pid[np.repeat(self.starts[code] - row_starts, size) + np.arange(len(rows))]
        return rows, cols


def _hits_by_rank(dist: np.ndarray, rows: np.ndarray, cols: np.ndarray):
    """Row, column and rank of every hit of a block, ordered by row and then rank.

    A hit's rank is 1 + the kept items ranked before it: those at a smaller distance, counted by a
    binary search in the row's sorted distances (all hits searched at once), plus those at the
    same distance with a smaller gallery index (the order of a stable sort).
    """
    ordered = np.sort(dist, axis=1)
    values = dist[rows, cols]
    below = _count_below(ordered, rows, values, np.less)
    ranks = below + 1
    tied = np.flatnonzero(_count_below(ordered, rows, values, np.less_equal) - below > 1)
    if len(tied):
        ranks[tied] += _equal_before(dist, rows[tied], cols[tied], values[tied])
    by_rank = np.lexsort((ranks, rows))
    return rows[by_rank], cols[by_rank], ranks[by_rank]


def _count_below(ordered: np.ndarray, rows, values, compare) -> np.ndarray:
    """For each value, how many entries of its row of `ordered` satisfy `compare(entry, value)`."""
    low = np.zeros(len(rows), dtype=np.intp)
    high = np.full(len(rows), ordered.shape[1], dtype=np.intp)
    while (active := low < high).any():
        middle = (low + high) // 2
        right = compare(ordered[rows, np.minimum(middle, ordered.shape[1] - 1)], values) & active
        low = np.where(right, middle + 1, low)
        high = np.where(active & ~right, middle, high)
    return low


def _equal_before(dist: np.ndarray, rows, cols, values) -> np.ndarray:
    """For each hit, the kept items at exactly its distance with a smaller gallery index."""
    counts = np.empty(len(rows), dtype=np.int64)
    index = np.arange(dist.shape[1])
    step = max(1, BLOCK_ENTRIES // max(dist.shape[1], 1))
    for start in range(0, len(rows), step):
        part = slice(start, start + step)
        same = (dist[rows[part]] == values[part, None]) & (index < cols[part, None])
        counts[part] = same.sum(axis=1)
    return counts


def _block_metrics(rows, ranks, num_rows: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rank of the first hit (0: no hit), AP and INP of each row, from its hits in rank order."""
    num_hits = np.bincount(rows, minlength=num_rows)
    starts = np.cumsum(num_hits) - num_hits
    nth_hit = np.arange(len(rows)) - starts[rows] + 1
    precision_sums = np.bincount(rows, weights=nth_hit / ranks, minlength=num_rows)
    valid = num_hits > 0
    first_rank, last_rank = np.zeros(num_rows, np.int64), np.ones(num_rows, np.int64)
    first_rank[valid] = ranks[starts[valid]]
    last_rank[valid] = ranks[starts[valid] + num_hits[valid] - 1]
    ap = np.divide(precision_sums, num_hits, out=np.zeros(num_rows), where=valid)
    inp = np.where(valid, num_hits / last_rank, 0.0)
    return first_rank, ap, inp


def _distinct_first_rank(dist, rows, cols, first_rank, g_codes, num_codes) -> np.ndarray:
    """1 + the number of distinct gallery pids ranked before each row's first hit."""
    with_hit, first = np.unique(rows, return_index=True)
    first_col = np.zeros(len(dist), dtype=np.intp)
    first_col[with_hit] = cols[first]
    first_value = np.take_along_axis(dist, first_col[:, None], axis=1)
    before = (dist < first_value) | ((dist == first_value)
                                     & (np.arange(dist.shape[1]) < first_col[:, None]))
    before[first_rank == 0] = False
    before_rows, before_cols = np.nonzero(before)
    seen = np.zeros((len(dist), num_codes), dtype=bool)
    seen[before_rows, g_codes[before_cols]] = True
    return np.where(first_rank > 0, seen.sum(axis=1) + 1, 0)


def _aggregate(first_rank, ap, inp, max_rank: int) -> RankMetrics:
    valid = first_rank > 0
    num_valid = int(valid.sum())
    if num_valid == 0:
        raise ValueError(f"none of the {len(first_rank)} queries has a true match in the gallery "
                         "(after the protocol's exclusions); nothing to average")
    clipped = np.minimum(first_rank[valid], max_rank + 1)
    cmc = np.cumsum(np.bincount(clipped, minlength=max_rank + 2)[1:max_rank + 1]) / num_valid
    return RankMetrics(cmc, float(ap[valid].mean()), float(inp[valid].mean()), num_valid,
                       len(first_rank))
