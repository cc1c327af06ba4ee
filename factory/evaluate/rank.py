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

from factory.evaluate.closer import Workspace, hit_ranks

# Junk mask of a block of queries: `junk(rows)` is a bool array (rows of the block, gallery).
JunkMask = Callable[[slice], np.ndarray]

# Distances of a block of queries: `distance_rows(rows)` is a (rows of the block, gallery) array.
DistanceRows = Callable[[slice], np.ndarray]

# Distances handled at a time (a block of queries): 4M, ~16 MB of float32 per temporary array.
BLOCK_ENTRIES = 1 << 22

# Distances counted at a time (a block is counted in parts this size): 512K, 2 MB of float32, so
# the few passes over a part find it in the CPU's cache (`closer.order_keys` needs < 2**32).
CACHED_ENTRIES = 1 << 19


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
    q_pids, g_pids = np.asarray(q_pids).ravel(), np.asarray(g_pids).ravel()
    q_camids, g_camids = np.asarray(q_camids).ravel(), np.asarray(g_camids).ravel()
    if (len(q_camids), len(g_camids)) != (len(q_pids), len(g_pids)):
        raise ValueError(f"{len(q_camids)} query and {len(g_camids)} gallery camids for "
                         f"{len(q_pids)} query and {len(g_pids)} gallery pids")
    # one small integer code per (pid, camera) pair: a single comparison per distance
    pairs = np.stack([np.concatenate([q_pids, g_pids]), np.concatenate([q_camids, g_camids])])
    codes = np.unique(pairs, axis=1, return_inverse=True)[1].ravel().astype(np.int32)
    q_codes, g_codes = codes[:len(q_pids)], codes[len(q_pids):]
    return lambda rows: q_codes[rows, None] == g_codes[None, :]


def rank_metrics(distmat, q_pids, g_pids, junk: JunkMask | None = None, *, max_rank: int = 50,
                 distinct_ids: bool = False) -> RankMetrics:
    """CMC, mAP and mINP of a (query x gallery) distance matrix; smaller distance = better match.

    `junk(rows)` gives the gallery items the protocol drops for a block of queries (None: none).
    """
    distmat = np.asarray(distmat)
    if distmat.ndim != 2:
        raise ValueError(f"distmat must be 2-D (query x gallery), got shape {distmat.shape}")
    return rank_metrics_by_rows(lambda rows: distmat[rows], q_pids, g_pids, junk,
                                max_rank=max_rank, distinct_ids=distinct_ids, shape=distmat.shape)


def rank_metrics_by_rows(distance_rows: DistanceRows, q_pids, g_pids,
                         junk: JunkMask | None = None, *, max_rank: int = 50,
                         distinct_ids: bool = False, shape: tuple[int, int] | None = None,
                         block_rows: int | None = None) -> RankMetrics:
    """`rank_metrics` of distances given a block of query rows at a time, never all at once.

    `distance_rows(rows)` returns the (rows x gallery) distances of a slice of the queries; it is
    called once per block of `block_rows` queries (default: about `BLOCK_ENTRIES` distances), so
    memory is a few times one block (`shape`, when known, is checked against the pids first).
    A hit's rank is counted, not sorted out: 1 + the kept items closer than it, or as close with
    a smaller gallery index, counted among the items no farther than the query's last hit (the
    only ones that can come first) by comparing one int64 key per item, (distance, position).
    """
    q_pids, g_pids = _checked(q_pids, g_pids, max_rank, shape)
    num_q, num_g = len(q_pids), len(g_pids)
    gallery = _PidIndex(g_pids)
    first_rank = np.zeros(num_q, dtype=np.int64)
    ap, inp = np.zeros(num_q), np.zeros(num_q)
    if block_rows is not None and block_rows < 1:
        raise ValueError(f"block_rows must be >= 1, got {block_rows}")
    block = block_rows or max(1, BLOCK_ENTRIES // num_g)
    counted = max(1, CACHED_ENTRIES // num_g)  # rows counted at a time
    work = Workspace()
    for start in range(0, num_q, block):
        block_dist = _shaped_block(distance_rows(slice(start, min(start + block, num_q))),
                                   slice(start, min(start + block, num_q)), num_g)
        for first in range(0, len(block_dist), counted):
            rows = slice(start + first, start + min(first + counted, len(block_dist)))
            dist = _without_nan(block_dist[first:first + counted], rows)
            first_rank[rows], ap[rows], inp[rows] = _rows_metrics(
                dist, rows, q_pids[rows], gallery, junk, distinct_ids, work)
    return _aggregate(first_rank, ap, inp, max_rank)


def _rows_metrics(dist: np.ndarray, rows: slice, q_pids: np.ndarray, gallery: "_PidIndex",
                  junk: JunkMask | None, distinct_ids: bool, work: Workspace):
    """First-hit rank (0: no hit), AP and INP of the queries `rows`, their distances `dist`."""
    hit_rows, hit_cols = gallery.same_pid(q_pids)
    dropped = None
    if junk is not None:
        dropped = np.asarray(junk(rows), dtype=bool)
        not_junk = ~dropped[hit_rows, hit_cols]
        hit_rows, hit_cols = hit_rows[not_junk], hit_cols[not_junk]
    hit_rows, hit_cols, ranks = hit_ranks(dist, dropped, hit_rows, hit_cols, work)
    first_rank, ap, inp = _block_metrics(hit_rows, ranks, len(dist))
    if distinct_ids:
        first_rank = _distinct_first_rank(dist, dropped, hit_rows, hit_cols, first_rank,
                                          gallery.codes, len(gallery.pids))
    return first_rank, ap, inp


def per_query(distmat, q_pids, g_pids, junk: JunkMask | None = None, *, max_rank: int = 50,
              distinct_ids: bool = False) -> RankMetrics:
    """The same metrics from a plain Python loop over queries and their ranked gallery items.

    The reference that `rank_metrics` is tested and benchmarked against: it reads like the
    definitions in this module's docstring and shares only the input checks and the final
    averaging with the vectorised path.
    """
    distmat = np.asarray(distmat)
    q_pids, g_pids = _checked(q_pids, g_pids, max_rank, distmat.shape)
    distmat = _checked_block(distmat, slice(0, len(q_pids)), len(g_pids))
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


def _checked(q_pids, g_pids, max_rank: int, shape: tuple[int, int] | None):
    q_pids, g_pids = np.asarray(q_pids).ravel(), np.asarray(g_pids).ravel()
    if shape is not None and tuple(shape) != (len(q_pids), len(g_pids)):
        raise ValueError(f"distmat has shape {tuple(shape)} but there are {len(q_pids)} query "
                         f"and {len(g_pids)} gallery pids")
    if len(q_pids) == 0 or len(g_pids) == 0:
        raise ValueError(f"distmat is empty ({len(q_pids)} queries x {len(g_pids)} gallery "
                         "items): no queries or no gallery")
    if max_rank < 1:
        raise ValueError(f"max_rank must be >= 1, got {max_rank}")
    return q_pids, g_pids


def _checked_block(dist, rows: slice, num_g: int) -> np.ndarray:
    """A block of distances as a float array of the expected shape, without NaN."""
    return _without_nan(_shaped_block(dist, rows, num_g), rows)


def _shaped_block(dist, rows: slice, num_g: int) -> np.ndarray:
    """A block of distances as a C-contiguous float array of the expected shape."""
    dist = np.asarray(dist)
    if dist.shape != (rows.stop - rows.start, num_g):
        raise ValueError(f"the distances of query rows {rows.start}..{rows.stop - 1} have shape "
                         f"{dist.shape}, expected ({rows.stop - rows.start}, {num_g})")
    if not np.issubdtype(dist.dtype, np.floating):
        dist = dist.astype(np.float64)
    return np.ascontiguousarray(dist)


def _without_nan(dist: np.ndarray, rows: slice) -> np.ndarray:
    if dist.size and np.isnan(dist.min()):  # min is NaN when any entry is: one cheap pass
        nan_rows = np.flatnonzero(np.isnan(dist).any(axis=1))
        raise ValueError(f"distmat has NaN distances in query rows "
                         f"{(nan_rows[:10] + rows.start).tolist()}")
    return dist


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


def _distinct_first_rank(dist, dropped, rows, cols, first_rank, g_codes, num_codes) -> np.ndarray:
    """1 + the number of distinct gallery pids ranked before each row's first hit."""
    with_hit, first = np.unique(rows, return_index=True)
    first_col = np.zeros(len(dist), dtype=np.intp)
    first_col[with_hit] = cols[first]
    first_value = np.take_along_axis(dist, first_col[:, None], axis=1)
    before = (dist < first_value) | ((dist == first_value)
                                     & (np.arange(dist.shape[1]) < first_col[:, None]))
    if dropped is not None:
        np.greater(before, dropped, out=before)
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
