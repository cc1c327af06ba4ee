"""Stable, vectorised hashes: task ids and per-task random draws for millions of rows in seconds.

A row's id is a 128-bit hash of its columns, built from two 64-bit lanes. Each distinct string is
hashed once with BLAKE2b (stable across machines and library versions, unlike polars' own hash);
integers are mixed directly; the columns are then combined per row with the MurmurHash3
finaliser in numpy, so no Python runs per row. A column's lanes may be computed before a frame is
expanded (`with_lanes` on the small frame, then gathered): the ids come out the same, for a
fraction of the work.
"""

import hashlib

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

LANE_SALTS = (np.uint64(0x9E3779B97F4A7C15), np.uint64(0xC2B2AE3D27D4EB4F))
# The two hex characters of each byte value, as one little-endian 16-bit number.
HEX_PAIRS = np.frombuffer(b"".join(f"{byte:02x}".encode() for byte in range(256)), dtype="<u2")


def fmix64(values: np.ndarray) -> np.ndarray:
    """MurmurHash3's 64-bit finaliser: a bijection that spreads every input bit (wraps mod 2^64)."""
    x = values.astype(np.uint64, copy=True)
    with np.errstate(over="ignore"):
        x ^= x >> np.uint64(33)
        x *= np.uint64(0xFF51AFD7ED558CCD)
        x ^= x >> np.uint64(33)
        x *= np.uint64(0xC4CEB9FE1A85EC53)
        x ^= x >> np.uint64(33)
    return x


def _string_lanes(series: pl.Series) -> tuple[np.ndarray, np.ndarray]:
    """Two 64-bit lanes per value: BLAKE2b of each distinct string (null hashes apart from "")."""
    encoded = pc.dictionary_encode(series.cast(pl.String).rechunk().to_arrow())
    digests = b"".join(hashlib.blake2b(value.encode(), digest_size=16).digest()
                       for value in encoded.dictionary.to_pylist())
    table = np.frombuffer(digests, dtype="<u8").reshape(-1, 2)
    table = np.vstack([table, [[1, 2]]]).astype(np.uint64)  # last row: null, no string's digest
    codes = pc.fill_null(encoded.indices, len(table) - 1).to_numpy()
    return table[codes, 0], table[codes, 1]


def _int_lanes(series: pl.Series) -> tuple[np.ndarray, np.ndarray]:
    if series.null_count():
        raise ValueError(f"column {series.name!r} has nulls; integers to hash must be set")
    values = series.cast(pl.Int64).to_numpy().astype(np.uint64)
    return values ^ LANE_SALTS[0], values ^ LANE_SALTS[1]  # row_lanes mixes them


def column_lanes(series: pl.Series) -> tuple[np.ndarray, np.ndarray]:
    """The two hash lanes of each value of a column (integers or anything cast to strings)."""
    if series.dtype.is_integer():
        return _int_lanes(series)
    return _string_lanes(series)


def lane_columns(name: str) -> tuple[str, str]:
    """Names of the columns that carry a column's precomputed lanes."""
    return f"_lane1_{name}", f"_lane2_{name}"


def with_lanes(frame: pl.DataFrame, *names: str) -> pl.DataFrame:
    """`frame` plus the precomputed lanes of columns `names` (kept through gathers and joins)."""
    lanes = {}
    for name in names:
        first, second = column_lanes(frame[name])
        lanes.update(zip(lane_columns(name), (pl.Series(first), pl.Series(second)), strict=True))
    return frame.with_columns(**lanes)


def constant_lanes(value, rows: int) -> tuple[np.ndarray, np.ndarray]:
    """The lanes of a column holding `value` in all `rows` rows, hashed once."""
    first, second = column_lanes(pl.Series([value]))
    return np.full(rows, first[0], dtype=np.uint64), np.full(rows, second[0], dtype=np.uint64)


def _lanes_of(frame: pl.DataFrame, name: str) -> tuple[np.ndarray, np.ndarray]:
    first, second = lane_columns(name)
    if first in frame.columns:
        return frame[first].to_numpy(), frame[second].to_numpy()
    return column_lanes(frame[name])


def row_lanes(frame: pl.DataFrame, columns: list[str], *, start=None,
              ) -> tuple[np.ndarray, np.ndarray]:
    """Two 64-bit lanes per row hashing `columns` in order (their order is part of the hash).
    `start`: the two lanes of columns hashed before these (`prefix_lanes`), the same for all
    rows."""
    first, second = start if start is not None else LANE_SALTS
    first = np.full(frame.height, first, dtype=np.uint64)
    second = np.full(frame.height, second, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for name in columns:  # each step mixes the running hash, so the order counts
            value_first, value_second = _lanes_of(frame, name)
            first = fmix64(first * np.uint64(31) + value_first)
            second = fmix64(second * np.uint64(37) + value_second)
    return first, second


def prefix_lanes(values: dict) -> tuple[np.uint64, np.uint64]:
    """The lanes of columns whose values every row shares (name -> value, in hashing order):
    `row_lanes(..., start=)` goes on from them, as if they were the rows' first columns."""
    first, second = row_lanes(pl.DataFrame({name: [value] for name, value in values.items()}),
                              list(values))
    return first[0], second[0]


def hex_ids(first: np.ndarray, second: np.ndarray) -> pl.Series:
    """32-character lowercase hex strings of the two lanes, built without a per-row loop (the
    characters are laid out in one buffer that becomes an Arrow string array as is)."""
    raw = np.stack([first, second], axis=1).astype(">u8").view(np.uint8)
    chars = HEX_PAIRS[raw.reshape(len(first), 16)].view(np.uint8)
    offsets = np.arange(0, 32 * len(first) + 1, 32, dtype=np.int64)
    strings = pa.LargeStringArray.from_buffers(len(first), pa.py_buffer(offsets),
                                               pa.py_buffer(chars.reshape(-1)))
    return pl.Series(strings)


def row_ids(frame: pl.DataFrame, columns: list[str]) -> pl.Series:
    """The 128-bit hex id of each row of `frame` over `columns`."""
    return hex_ids(*row_lanes(frame, columns))


def uniform(lanes: np.ndarray, draw: int) -> np.ndarray:
    """Draw number `draw` of a per-row uniform [0, 1) stream keyed by the rows' hash lane."""
    with np.errstate(over="ignore"):
        bits = fmix64(lanes + np.uint64(draw + 1) * LANE_SALTS[1])
    return (bits >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def choose(lanes: np.ndarray, draw: int, count: int | np.ndarray) -> np.ndarray:
    """Per-row index in [0, count): draw number `draw` of the rows' random streams."""
    return np.minimum((uniform(lanes, draw) * count).astype(np.int64), np.asarray(count) - 1)
