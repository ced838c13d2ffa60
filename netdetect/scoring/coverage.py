"""The time the inputs cover, and the part of it each group's evidence is measured on.

Several captures in one scan leave gaps between them (hours, months). A group's evidence must not
depend on captures it is not in, nor on those gaps: each group is measured on the coverage
intervals its connections fall in, not on the wall-clock span of all inputs.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np


def merge_spans(spans: Iterable[tuple[float, float]]) -> np.ndarray:
    """Disjoint, sorted (k, 2) intervals covering the finite spans given."""
    rows = sorted((float(a), float(b)) for a, b in spans if np.isfinite(a) and np.isfinite(b) and b >= a)
    merged: list[list[float]] = []
    for a, b in rows:
        if merged and a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    return np.array(merged, np.float64).reshape(-1, 2)


def covered_seconds(coverage: np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Per row, the length of [start, end] intersected with the union of the `coverage` intervals."""
    if not len(coverage):
        return np.maximum(end - start, 0.0)
    lo, hi = coverage[:, 0], coverage[:, 1]
    # Cumulative covered time up to t: sum of full intervals before t plus the part of the one holding t.
    cum = np.r_[0.0, np.cumsum(hi - lo)]

    def upto(t: np.ndarray) -> np.ndarray:
        i = np.searchsorted(lo, t, "right")  # intervals starting at or before t
        prev = np.maximum(i - 1, 0)
        inside = np.where(i > 0, np.clip(t - lo[prev], 0.0, hi[prev] - lo[prev]), 0.0)
        return np.where(i > 0, cum[prev], 0.0) + inside

    return np.maximum(upto(end) - upto(start), 0.0)


def as_coverage(coverage: np.ndarray | Iterable[tuple[float, float]]) -> np.ndarray:
    """Any (k, 2) spans (unsorted, overlapping, non-finite rows) as disjoint sorted intervals."""
    arr = np.asarray(coverage, dtype=np.float64)
    if arr.size == 0:
        return np.zeros((0, 2))
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise ValueError(f"coverage has shape {arr.shape}, expected (k, 2)")
    ordered = arr[:-1, 1] < arr[1:, 0] if len(arr) > 1 else np.ones(0, dtype=bool)
    if np.isfinite(arr).all() and (arr[:, 1] >= arr[:, 0]).all() and ordered.all():
        return arr  # already disjoint and sorted (the usual case): no Python loop
    return merge_spans(map(tuple, arr))


@dataclass(slots=True)
class GroupCoverage:
    """Per group: the coverage intervals holding its connections, as the longest one and outer bounds.

    A run of check-ins cannot be seen across a gap between captures, so the evidence a run needs is
    measured against the longest single interval (one capture) the group is in.
    """

    longest_s: np.ndarray  # f8, 0 for empty groups
    first: np.ndarray  # f8, start of the earliest such interval (nan for empty groups)
    last: np.ndarray  # f8, end of the latest such interval


def group_coverage(
    sorted_group: np.ndarray, sorted_ts: np.ndarray, n_groups: int, coverage: np.ndarray
) -> GroupCoverage:
    """The coverage intervals each group's connections fall in; inputs sorted by (group, ts).

    A connection outside every interval (coverage given too narrow) counts in the interval before
    it, or the first one: it never widens a group's window to the gaps between captures.
    """
    counts = np.bincount(sorted_group, minlength=n_groups)
    has = counts > 0
    if not has.any():
        return GroupCoverage(np.zeros(n_groups), np.full(n_groups, np.nan), np.full(n_groups, np.nan))
    if len(coverage) == 0:  # nothing known: each group is its own window
        first = np.full(n_groups, np.nan)
        last = np.full(n_groups, np.nan)
        ends = np.cumsum(counts)
        first[has] = sorted_ts[(ends - counts)[has]]
        last[has] = sorted_ts[ends[has] - 1]
        return GroupCoverage(np.where(has, last - first, 0.0), first, last)
    lo, hi = coverage[:, 0], coverage[:, 1]
    if len(coverage) == 1:  # one capture (or window): the same for every group, no per-row work
        return GroupCoverage(
            np.where(has, hi[0] - lo[0], 0.0), np.where(has, lo[0], np.nan), np.where(has, hi[0], np.nan)
        )
    interval = np.clip(np.searchsorted(lo, sorted_ts, "right") - 1, 0, len(coverage) - 1)
    # rows sorted by (group, ts) visit each group's intervals in order: count each (group, interval) once
    new = np.ones(sorted_group.size, dtype=bool)
    new[1:] = (sorted_group[1:] != sorted_group[:-1]) | (interval[1:] != interval[:-1])
    starts = np.flatnonzero(new)
    new_group = np.flatnonzero(np.r_[True, sorted_group[starts[1:]] != sorted_group[starts[:-1]]])
    longest = np.zeros(n_groups)
    longest[sorted_group[starts[new_group]]] = np.maximum.reduceat((hi - lo)[interval[starts]], new_group)
    ends = np.cumsum(counts)
    first = np.full(n_groups, np.nan)
    last = np.full(n_groups, np.nan)
    first[has] = lo[interval[(ends - counts)[has]]]
    last[has] = hi[interval[ends[has] - 1]]
    return GroupCoverage(longest, first, last)
