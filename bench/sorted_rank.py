"""The evaluator before issue 18, kept as a baseline: each block of queries sorted row-wise.

`rank_metrics` here is the project's previous vectorised path: every query's whole gallery is
sorted (junk as NaN, which sorts last), and each hit's rank is found by binary search in its
sorted row, ties by a second search and a count of equal distances before it in gallery order.
`bench/evaluate_rank.py` times the counting evaluator (`factory.evaluate.rank`) against it, and
`tests/test_evaluate_rank.py` checks the two agree on every protocol's junk rule.
"""

import numpy as np

from factory.evaluate.rank import (
    BLOCK_ENTRIES,
    JunkMask,
    RankMetrics,
    _aggregate,
    _block_metrics,
    _checked,
    _checked_block,
    _distinct_first_rank,
    _PidIndex,
)


def rank_metrics(distmat, q_pids, g_pids, junk: JunkMask | None = None, *, max_rank: int = 50,
                 distinct_ids: bool = False) -> RankMetrics:
    """`factory.evaluate.rank.rank_metrics`, by sorting each block of queries row-wise."""
    distmat = np.asarray(distmat)
    q_pids, g_pids = _checked(q_pids, g_pids, max_rank, distmat.shape)
    num_q, num_g = distmat.shape
    gallery = _PidIndex(g_pids)
    first_rank = np.zeros(num_q, dtype=np.int64)
    ap, inp = np.zeros(num_q), np.zeros(num_q)
    block = max(1, BLOCK_ENTRIES // num_g)
    for start in range(0, num_q, block):
        rows = slice(start, min(start + block, num_q))
        dist = _checked_block(distmat[rows], rows, num_g)
        hit_rows, hit_cols = gallery.same_pid(q_pids[rows])
        if junk is not None:
            junk_block = np.asarray(junk(rows), dtype=bool)
            kept = ~junk_block[hit_rows, hit_cols]
            hit_rows, hit_cols = hit_rows[kept], hit_cols[kept]
            dist = np.where(junk_block, np.nan, dist)  # NaN is below nothing and sorts last
        hit_rows, hit_cols, hit_ranks = _hits_by_rank(dist, hit_rows, hit_cols)
        first_rank[rows], ap[rows], inp[rows] = _block_metrics(hit_rows, hit_ranks, len(dist))
        if distinct_ids:
            first_rank[rows] = _distinct_first_rank(dist, None, hit_rows, hit_cols,
                                                    first_rank[rows], gallery.codes,
                                                    len(gallery.pids))
    return _aggregate(first_rank, ap, inp, max_rank)


def _hits_by_rank(dist: np.ndarray, rows: np.ndarray, cols: np.ndarray):
    """Row, column and rank of every hit of a block, ordered by row and then rank: smaller
    distances counted by binary search in the row's sorted distances, equal ones with a smaller
    gallery index counted directly."""
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
