"""Compact interval histogram of one group, for explanations and plots."""

from __future__ import annotations

import numpy as np

from netdetect.scoring.periodicity import merge_events


def interval_histogram(
    ts: np.ndarray, period_s: float | None, bins: int = 24
) -> tuple[list[int], list[float]]:
    """Counts of one group's intervals between check-ins and the bin edges in seconds.

    Connections closer than the merge gap count as one check-in, as in scoring. The range is
    0 .. 3 periods when a period is known (so missed beats show as bumps at 2x and 3x), else
    0 .. the largest interval; longer intervals are counted in the last bin.
    """
    if bins < 1:
        raise ValueError("bins must be >= 1")
    t = np.sort(np.asarray(ts, dtype=np.float64))
    t = t[np.isfinite(t)]
    starts = t[merge_events(np.zeros(t.size, dtype=np.int64), t)]  # one check-in per cluster
    gaps = np.diff(starts)
    if period_s is not None and np.isfinite(period_s) and period_s > 0:
        top = 3.0 * float(period_s)
    elif gaps.size:
        top = float(gaps.max())
    else:
        return [0] * bins, [float(x) for x in np.linspace(0.0, 1.0, bins + 1)]
    top = max(top, 1e-9)
    edges = np.linspace(0.0, top, bins + 1)
    counts, _ = np.histogram(np.minimum(gaps, top), bins=edges)
    return [int(x) for x in counts], [float(x) for x in edges]


def interval_histograms(
    times: np.ndarray, starts: list[int], ends: list[int], periods: list[float | None], bins: int = 24
) -> tuple[list[list[int]], list[list[float]]]:
    """`interval_histogram(times[starts[i]:ends[i]], periods[i], bins)` of each group i in one numpy pass
    (each group's times in time order, unusable ones last): the same merge of close connections, the
    same edges (np.linspace with an array of ends computes each column as the scalar call does) and the
    same bin rule (np.histogram on explicit edges: e[k] <= x < e[k + 1], the last bin closed)."""
    if bins < 1:
        raise ValueError("bins must be >= 1")
    m = len(starts)
    if not m:
        return [], []
    first, last = np.array(starts, np.int64), np.array(ends, np.int64)
    lengths = last - first
    rows = np.repeat(first - np.r_[0, np.cumsum(lengths)[:-1]], lengths) + np.arange(int(lengths.sum()))
    local = np.repeat(np.arange(m), lengths)
    t = times[rows]
    ok = np.isfinite(t)
    t, local = t[ok], local[ok]
    new = merge_events(local, t)  # one check-in per cluster, as in scoring
    start_t, start_g = t[new], local[new]
    same = start_g[1:] == start_g[:-1]
    gaps = (start_t[1:] - start_t[:-1])[same]
    gap_g = start_g[1:][same]
    period = np.array([np.nan if p is None else p for p in periods], np.float64)
    top = np.full(m, np.nan)
    with np.errstate(invalid="ignore"):
        by_period = np.isfinite(period) & (period > 0)
    top[by_period] = 3.0 * period[by_period]
    has_gaps = np.zeros(m, bool)
    has_gaps[gap_g] = True
    largest = np.full(m, -np.inf)
    np.maximum.at(largest, gap_g, gaps)
    by_gaps = ~by_period & has_gaps
    top[by_gaps] = largest[by_gaps]
    shown = by_period | by_gaps  # the others get the empty histogram over 0..1
    top = np.maximum(top, 1e-9)
    edges = np.linspace(0.0, np.where(shown, top, 1.0), bins + 1, axis=1)
    x = np.minimum(gaps, top[gap_g])  # 0 < x <= top: every gap lands in a bin
    k = np.clip((x / (top[gap_g] / bins)).astype(np.int64), 0, bins - 1)
    while True:  # settle the estimate (off by one at most) on the exact edges, which strictly increase
        down = x < edges[gap_g, k]
        up = (k < bins - 1) & (x >= edges[gap_g, np.minimum(k + 1, bins)])
        if not (down.any() or up.any()):
            break
        k = k - down + up
    counts = np.bincount(gap_g * bins + k, minlength=m * bins).reshape(m, bins)
    empty_edges = np.linspace(0.0, 1.0, bins + 1).tolist()
    out_counts, out_edges = counts.tolist(), edges.tolist()
    for j in np.flatnonzero(~shown).tolist():
        out_counts[j] = [0] * bins
        out_edges[j] = list(empty_edges)
    return out_counts, out_edges
