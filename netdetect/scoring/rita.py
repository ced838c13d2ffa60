"""RITA v5 beacon sub-scores, re-implemented vectorised over groups.

Same formulas and defaults as activecm/rita v5 (`analysis/beacons.go`, `config/config.go`), so RITA
users can compare numbers:

- RITA looks at the last 24 hours of the data set only (`GetBeaconMinMaxTimestamps`: from
  max(first ts, last ts - 24 h) to the last ts) and takes connections from the start of that hour;
- timestamps are whole seconds; a pair is scored only with >= 4 distinct timestamps and < 86400
  connections (`UniqueConnectionThreshold`), otherwise every RITA score is 0;
- timestamp score: mean of the Bowley-skew score and the MAD score of the non-zero intervals;
- data-size score: the same on the client's bytes per connection (Zeek `orig_ip_bytes`);
- histogram score: 24 bins over the analysed span, max(1 - coefficient of variation, bimodal fit);
- duration score: max(coverage of the span, longest run of non-empty bins / 12), 0 below 6 bins;
- total: the four averaged (weights 0.25), each rounded to 3 decimals like RITA.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from netdetect.scoring import segments as seg

DAY_S = 86_400
UNIQUE_CONNECTION_THRESHOLD = 4
HIST_BINS = 24
HIST_MODE_SENSITIVITY = 0.05
HIST_BIMODAL_OUTLIER_REMOVAL = 1
HIST_BIMODAL_MIN_HOURS = 11
DUR_MIN_HOURS = 6
DUR_IDEAL_CONSISTENT_HOURS = 12
_CHUNK_GROUPS = 200_000  # bounds the (groups x 24) histogram matrices in memory


@dataclass(slots=True)
class RitaScores:
    ts: np.ndarray
    ds: np.ndarray
    hist: np.ndarray
    dur: np.ndarray
    score: np.ndarray

    def as_dict(self) -> dict[str, np.ndarray]:
        return {
            "rita_ts": self.ts,
            "rita_ds": self.ds,
            "rita_hist": self.hist,
            "rita_dur": self.dur,
            "rita_score": self.score,
        }


def _round3(x: np.ndarray) -> np.ndarray:
    """Go's math.Round(x*1000)/1000 (half away from zero) for non-negative x."""
    return np.floor(x * 1000.0 + 0.5) / 1000.0


def _ceil3(x: np.ndarray) -> np.ndarray:
    return np.ceil(x * 1000.0) / 1000.0


def rita_beacon_window(window: tuple[float, float]) -> tuple[int, int]:
    """RITA's analysed span in whole seconds: the last 24 hours of the data set, or all of it."""
    first, last = int(np.floor(window[0])), int(np.floor(window[1]))
    return max(first, last - DAY_S), last


def rita_beacon_windows(first: np.ndarray, last: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`rita_beacon_window` of per-group windows (nan bounds give an empty span)."""
    ok = np.isfinite(first) & np.isfinite(last)
    lo = np.floor(np.where(ok, first, 0.0)).astype(np.int64)
    hi = np.floor(np.where(ok, last, 0.0)).astype(np.int64)
    return np.maximum(lo, hi - DAY_S), hi


def _bins(ts_sec: np.ndarray, ds_min: np.ndarray | np.int64, ds_max: np.ndarray | np.int64) -> np.ndarray:
    """Per row, the bin of RITA's 24 equal bins over the row's span (one span, or one per row).

    Same edges and rule as np.searchsorted(ds_min + k * width, t, "right") - 1 on one span (last edge
    ds_max), clipped to 0..23: estimated by division, then settled on the exact edges.
    """
    if np.ndim(ds_min) == 0:
        edges = ds_min + np.arange(HIST_BINS + 1) * ((ds_max - ds_min) / HIST_BINS)
        edges[-1] = ds_max
        return np.clip(np.searchsorted(edges, ts_sec, side="right") - 1, 0, HIST_BINS - 1)
    width = (ds_max - ds_min) / HIST_BINS
    with np.errstate(invalid="ignore", divide="ignore"):
        guess = np.floor((ts_sec - ds_min) / width)
    k = np.clip(np.nan_to_num(guess, nan=0.0, posinf=HIST_BINS - 1, neginf=0.0), 0, HIST_BINS - 1)
    k = k.astype(np.int64)

    def edge(j: np.ndarray) -> np.ndarray:
        return np.where(j >= HIST_BINS, ds_max, ds_min + j * width)

    while True:  # off by one at most where the division rounds across an edge
        down = (k > 0) & (ts_sec < edge(k))
        up = (k < HIST_BINS - 1) & (ts_sec >= edge(k + 1))
        if not (down.any() or up.any()):
            return k
        k = k - down + up


def _statistical_score(
    sorted_values: np.ndarray, sorted_group: np.ndarray, n_groups: int, default_mad_score: float
) -> np.ndarray:
    """RITA's calculateStatisticalScore per group: mean of Bowley-skew score and MAD score."""
    starts, counts = seg.bounds(sorted_group, n_groups)
    ok = counts >= 3
    half = counts // 2
    q1 = seg.median(sorted_values, starts, half)
    q2 = seg.median(sorted_values, starts, counts)
    upper_start = starts + half + (counts % 2)  # the Go code skips the median for odd lengths
    q3 = seg.median(sorted_values, upper_start, counts - half - (counts % 2))
    den = q3 - q1
    use_skew = ok & (den >= 10) & (q2 != q1) & (q2 != q3)
    skew = np.zeros(n_groups)
    skew[use_skew] = (q1 + q3 - 2 * q2)[use_skew] / den[use_skew]
    skew_score = 1.0 - np.abs(skew)

    deviation = np.abs(sorted_values - q2[sorted_group])
    dev_order = seg.sort_within_groups(sorted_group, deviation, n_groups)
    mad = seg.median(deviation[dev_order], starts, counts)
    with np.errstate(invalid="ignore", divide="ignore"):
        mad_score = np.where(q2 >= 1, (q2 - mad) / q2, default_mad_score)
    mad_score = np.where((mad_score < 0) | np.isnan(mad_score), 0.0, mad_score)
    return np.where(ok, _round3((skew_score + mad_score) / 2.0), 0.0)


def _histogram_and_duration(
    ts_sec: np.ndarray,
    group: np.ndarray,
    starts: np.ndarray,
    counts: np.ndarray,
    scored: np.ndarray,
    span: tuple[np.ndarray, np.ndarray],
) -> tuple[np.ndarray, np.ndarray]:
    n_groups = counts.size
    hist_score = np.zeros(n_groups)
    dur_score = np.zeros(n_groups)
    ds_min, ds_max = span  # per group
    if n_groups and (ds_min == ds_min[0]).all() and (ds_max == ds_max[0]).all():
        bins = _bins(ts_sec, ds_min[0], ds_max[0])  # one span: bins from scalars, no per-row gathers
    else:
        bins = _bins(ts_sec, ds_min[group], ds_max[group])
    first = np.where(counts > 0, ts_sec[np.minimum(starts, max(ts_sec.size - 1, 0))], 0)
    last = np.where(counts > 0, ts_sec[np.maximum(starts + counts - 1, 0)], 0)

    for lo in range(0, n_groups, _CHUNK_GROUPS):
        hi = min(lo + _CHUNK_GROUPS, n_groups)
        row_lo, row_hi = starts[lo], starts[hi - 1] + counts[hi - 1]
        local = group[row_lo:row_hi] - lo
        freq = np.bincount(local * HIST_BINS + bins[row_lo:row_hi], minlength=(hi - lo) * HIST_BINS)
        freq = freq.reshape(hi - lo, HIST_BINS)
        total = freq.sum(axis=1)
        nonzero = freq > 0
        total_bars = nonzero.sum(axis=1)
        largest = freq.max(axis=1)

        # coefficient of variation of the 24 bars (population sd)
        mean = total / HIST_BINS
        with np.errstate(invalid="ignore", divide="ignore"):
            cv = np.sqrt(((freq - mean[:, None]) ** 2).mean(axis=1)) / mean
        cv_score = np.where(cv > 1.0, 0.0, _round3(np.clip(1.0 - cv, 0.0, None)))
        cv_score = np.where(total > 0, np.minimum(cv_score, 1.0), 0.0)

        # bimodal fit: bars binned by height (bin size 5% of the largest); top two height-bin counts
        bin_size = np.maximum(np.ceil(largest * HIST_MODE_SENSITIVITY), 1)
        heights = np.where(nonzero, np.floor(freq / bin_size[:, None]) * bin_size[:, None], -1.0)
        heights.sort(axis=1)
        new_run = np.ones_like(heights, dtype=bool)
        new_run[:, 1:] = heights[:, 1:] != heights[:, :-1]
        run_id = np.cumsum(new_run, axis=1) - 1
        flat = (np.arange(hi - lo)[:, None] * HIST_BINS + run_id).ravel()
        run_counts = np.bincount(flat, weights=(heights >= 0).ravel(), minlength=(hi - lo) * HIST_BINS)
        run_counts = run_counts.reshape(hi - lo, HIST_BINS)
        top_two = -np.partition(-run_counts, 1, axis=1)[:, :2].sum(axis=1)
        adjusted = np.maximum(total_bars - HIST_BIMODAL_OUTLIER_REMOVAL, 1)
        bimodal = np.where(
            total_bars >= HIST_BIMODAL_MIN_HOURS, np.minimum(_round3(top_two / adjusted), 1.0), 0.0
        )
        hist_score[lo:hi] = np.maximum(cv_score, bimodal)

        # longest run of non-empty bins, wrapping around the end of the span
        doubled = np.concatenate([nonzero, nonzero], axis=1)
        idx = np.arange(2 * HIST_BINS)
        last_empty = np.maximum.accumulate(np.where(doubled, -1, idx), axis=1)
        longest = np.minimum((idx - last_empty).max(axis=1), HIST_BINS)

        with np.errstate(invalid="ignore", divide="ignore"):
            coverage = (last[lo:hi] - first[lo:hi]) / (ds_max[lo:hi] - ds_min[lo:hi])
        coverage = np.minimum(_ceil3(np.nan_to_num(coverage)), 1.0)
        consistency = np.minimum(_ceil3(longest / DUR_IDEAL_CONSISTENT_HOURS), 1.0)
        dur_score[lo:hi] = np.where(total_bars >= DUR_MIN_HOURS, np.maximum(coverage, consistency), 0.0)

    hist_score = np.where(scored, hist_score, 0.0)
    dur_score = np.where(scored & (last > first), dur_score, 0.0)
    return hist_score, dur_score


def rita_scores(
    sorted_group: np.ndarray,
    sorted_ts: np.ndarray,
    sorted_bytes_out: np.ndarray,
    n_groups: int,
    window: tuple[float, float] | tuple[np.ndarray, np.ndarray],
) -> RitaScores:
    """RITA v5 sub-scores per group; inputs sorted by (group, ts). Unscored groups get 0 everywhere.

    window: the data set's (first, last) time, or per-group arrays of them: each group is then scored
    as RITA would score a data set spanning its own window.
    """
    first = np.broadcast_to(np.asarray(window[0], dtype=np.float64), (n_groups,))
    last = np.broadcast_to(np.asarray(window[1], dtype=np.float64), (n_groups,))
    span = rita_beacon_windows(first, last)
    zeros = np.zeros(n_groups)
    if not (span[1] > span[0]).any() or sorted_ts.size == 0:
        return RitaScores(zeros, zeros.copy(), zeros.copy(), zeros.copy(), zeros.copy())

    ts_sec = np.floor(sorted_ts).astype(np.int64)
    # One span for every group (one capture, or a window): scalars, no per-row gathers.
    shared = bool((span[0] == span[0][0]).all() and (span[1] == span[1][0]).all())
    row_min, row_max = (span[0][0], span[1][0]) if shared else (span[0][sorted_group], span[1][sorted_group])
    keep = (ts_sec >= (row_min // 3600) * 3600) & (ts_sec <= row_max) & (row_max > row_min)
    group, ts_sec = sorted_group[keep], ts_sec[keep]
    if ts_sec.size == 0:  # every row outside its group's analysed span
        return RitaScores(zeros, zeros.copy(), zeros.copy(), zeros.copy(), zeros.copy())
    size = sorted_bytes_out[keep].astype(np.float64)
    starts, counts = seg.bounds(group, n_groups)

    same = group[1:] == group[:-1]
    delta = (ts_sec[1:] - ts_sec[:-1]).astype(np.float64)
    step = same & (delta > 0)
    unique = np.bincount(group[1:][step], minlength=n_groups) + (counts > 0)
    scored = (unique >= UNIQUE_CONNECTION_THRESHOLD) & (counts < DAY_S)

    # timestamp score on the sorted non-zero intervals
    d_group, d_value = group[1:][step], delta[step]
    order = seg.sort_within_groups(d_group, d_value, n_groups)
    ts_score = _statistical_score(d_value[order], d_group[order], n_groups, default_mad_score=1.0)

    # data-size score on client bytes of every connection
    order = seg.sort_within_groups(group, size, n_groups)
    ds_score = _statistical_score(size[order], group[order], n_groups, default_mad_score=0.0)

    hist_score, dur_score = _histogram_and_duration(ts_sec, group, starts, counts, scored, span)
    ts_score = np.where(scored, ts_score, 0.0)
    ds_score = np.where(scored, ds_score, 0.0)
    total = _round3(ts_score * 0.25 + ds_score * 0.25 + dur_score * 0.25 + hist_score * 0.25)
    return RitaScores(ts_score, ds_score, hist_score, dur_score, total)
