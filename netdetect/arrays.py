"""Column helpers shared by extraction and analysis: 64-bit row hashes, and sorted distinct values of
numpy columns without np.unique's costs: its first use imports numpy.ma
(about 10 ms of every run), and its `return_index` needs a stable sort, several times slower."""

from __future__ import annotations

import numpy as np


def distinct_values(values: np.ndarray) -> np.ndarray:
    """Sorted distinct values, as np.unique gives them."""
    values = np.sort(values)
    return values[np.r_[True, values[1:] != values[:-1]]] if len(values) else values


def distinct_addresses(column: np.ndarray) -> np.ndarray:
    """distinct_values of a 16-byte address column (S16). Addresses whose high 8 bytes are zero (every
    IPv4-mapped one) are told apart by their low 8 bytes, which sort as integers several times faster
    than 16-byte strings; the result is the same sorted set."""
    raw = np.ascontiguousarray(column, dtype="S16")
    halves = raw.view(">u8").reshape(-1, 2)
    low_only = halves[:, 0] == 0
    low = distinct_values(halves[low_only, 1].astype(np.uint64))
    short = np.zeros((len(low), 2), ">u8")
    short[:, 1] = low
    return np.concatenate([short.view("S16").ravel(), distinct_values(raw[~low_only])])


def distinct_keys(key: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """np.unique(key, return_index=True, return_inverse=True, return_counts=True) for 1-D integer keys,
    on an unstable sort: the first index of a key is the smallest index in its run."""
    order = np.argsort(key)
    sorted_key = key[order]
    new_key = np.ones(len(key), bool)
    np.not_equal(sorted_key[1:], sorted_key[:-1], out=new_key[1:])
    starts = np.flatnonzero(new_key)
    first = np.minimum.reduceat(order, starts) if len(key) else order
    inverse = np.empty(len(key), np.int64)
    inverse[order] = np.cumsum(new_key) - 1
    counts = np.diff(np.r_[starts, len(key)])
    return sorted_key[starts], first, inverse, counts


_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser: a cheap, well-spread 64-bit hash step."""
    with np.errstate(over="ignore"):
        x = x ^ (x >> np.uint64(30))
        x = x * _M1
        x = x ^ (x >> np.uint64(27))
        x = x * _M2
        return x ^ (x >> np.uint64(31))


def hash_columns(*cols: np.ndarray) -> np.ndarray:
    h = np.zeros(len(cols[0]), np.uint64)
    with np.errstate(over="ignore"):
        for c in cols:
            h = _mix(h ^ c.astype(np.uint64))
    return h


def split_address(col: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A 16-byte address column as (high, low) uint64 halves, for hashing and sorting."""
    pairs = np.ascontiguousarray(col).view(">u8").reshape(-1, 2).astype(np.uint64)
    return pairs[:, 0], pairs[:, 1]
