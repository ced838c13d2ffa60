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
