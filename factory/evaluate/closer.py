"""Each hit's rank as 1 + the kept gallery items ranked before it, counted without sorting.

An item ranks before a hit when it is closer, or as close with a smaller gallery index. Only the
kept items no farther than the query's last hit can rank before one of its hits; those are listed
for a part of the queries at once, each as one int64 key that orders (distance, gallery index)
(`order_keys`), then each query's hits are compared with its items, one comparison per (hit,
item), and the results summed as packed bits. `rank.rank_metrics_by_rows` turns the ranks into
CMC, AP and INP.
"""

import sys

import numpy as np

# (hit, item) comparisons held at a time: 1 MB of bools (or one hit's, if its row is longer).
COMPARED_ENTRIES = 1 << 20


class Workspace:
    """Arrays reused from one part of the queries to the next. Fresh temporaries of a few MB are
    each a new memory map whose pages fault in again (glibc's allocator): on a matrix with many
    ties that took half the time."""

    def __init__(self):
        self._arrays: dict[str, np.ndarray] = {}

    def array(self, name: str, size: int, dtype) -> np.ndarray:
        """An uninitialised 1-D array of `size` entries, this workspace's `name` array reused."""
        held = self._arrays.get(name)
        if held is None or held.size < size or held.dtype != dtype:
            held = self._arrays[name] = np.empty(size, dtype)
        return held[:size]


def hit_ranks(dist: np.ndarray, dropped: np.ndarray | None, rows: np.ndarray, cols: np.ndarray,
              work: Workspace) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row, column and rank of every hit (`rows`, `cols` of `dist`), ordered by row and then rank;
    `dropped` marks the items the protocol drops (None: none)."""
    values = dist[rows, cols]
    order = np.lexsort((cols, values, rows))  # by row, then distance, then gallery index
    rows, cols, values = rows[order], cols[order], values[order]
    num_hits = np.bincount(rows, minlength=len(dist))
    ends = np.cumsum(num_hits)
    last_hit = np.full(len(dist), -np.inf, dtype=dist.dtype)
    last_hit[num_hits > 0] = values[ends[num_hits > 0] - 1]
    near = np.less_equal(dist, last_hit[:, None],
                         out=work.array("near", dist.size, bool).reshape(dist.shape))
    if dropped is not None:
        np.greater(near, dropped, out=near)  # near and not dropped
    keys = np.flatnonzero(near)  # positions, row-major: each row's items in gallery order
    row_starts = np.searchsorted(keys, np.arange(len(dist) + 1) * dist.shape[1])
    hit_keys = rows * dist.shape[1] + cols
    order_keys(dist.ravel(), keys, hit_keys, work)
    return rows, cols, 1 + _closer_counts(keys, row_starts, hit_keys, ends - num_hits, ends,
                                          work)


def _closer_counts(keys, row_starts, hit_keys, hit_starts, hit_ends, work: Workspace):
    """For each hit, the items of its row (`keys[row_starts[row]:row_starts[row + 1]]`) with a
    smaller key; row `row`'s hits are `hit_keys[hit_starts[row]:hit_ends[row]]`."""
    sizes = np.diff(row_starts)
    most = int(((hit_ends - hit_starts) * sizes).max(initial=0))
    buffer = work.array("closer", min(most, max(COMPARED_ENTRIES, int(sizes.max()))), bool)
    counts = np.zeros(len(hit_keys), dtype=np.int64)
    for row in np.flatnonzero(hit_ends > hit_starts):
        items = keys[row_starts[row]:row_starts[row + 1]]
        step = max(1, len(buffer) // max(len(items), 1))  # hits compared at a time
        for first in range(hit_starts[row], hit_ends[row], step):
            hits = slice(first, min(first + step, hit_ends[row]))
            closer = np.less(items, hit_keys[hits, None],
                             out=buffer[:(hits.stop - first) * len(items)].reshape(-1, len(items)))
            counts[hits] = np.bitwise_count(np.packbits(closer, axis=1)).sum(axis=1)
    return counts


def order_keys(values: np.ndarray, items: np.ndarray, hits: np.ndarray, work: Workspace):
    """Turn positions in `values` (int64 arrays, below 2**32, the hits among the items) into
    keys, in place: one int64 per position that orders (value, position), so comparing two keys
    says which of two items ranks first, ties by gallery order. The high 32 bits hold the value
    as an order-preserving int32 (float32 bits, -0.0 and 0.0 alike), the low 32 the position. A
    distance that float32 cannot hold exactly is replaced by its rank among the items' values (a
    sort: float64 distances take longer)."""
    item_codes, hit_values = work.array("codes", len(items), np.int32), values[hits]
    if values.dtype == np.float32:
        np.take(values.view(np.int32), items, out=item_codes)
        hit_codes = hit_values.view(np.int32)
    else:
        item_values = values[items]
        narrow = item_values.astype(np.float32)
        if np.array_equal(narrow, item_values):
            item_codes[:] = narrow.view(np.int32)
            hit_codes = hit_values.astype(np.float32).view(np.int32)
        else:
            unique, ranks = np.unique(item_values, return_inverse=True)
            item_codes[:] = ranks.ravel()
            hit_codes = np.searchsorted(unique, hit_values).astype(np.int32)
    for positions, codes in ((items, item_codes), (hits, hit_codes)):
        _float_order(codes)
        high = positions.view(np.int32).reshape(-1, 2)[:, 1 if sys.byteorder == "little" else 0]
        high[:] = codes


def _float_order(codes: np.ndarray) -> None:
    """float32 bits (int32) made order-preserving in place: a negative float's magnitude bits
    count down (-0.0 becomes 0). Ranks and non-negative floats stay as they are."""
    if len(codes) and codes.min() < 0:
        negative = codes < 0
        np.bitwise_and(codes, 0x7FFFFFFF, out=codes, where=negative)
        np.negative(codes, out=codes, where=negative)
