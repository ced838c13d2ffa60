"""netdetect's own periodicity analysis of check-in times, vectorised over groups.

Method (see docs/scoring.md):

1. Connections closer than `MERGE_GAP_S` to the previous one in their group are one check-in
   (an implant often opens two or three connections per check-in).
2. Pair test against random arrivals: for consecutive intervals a, b the statistic
   c = |a - b| / (a + b) is exactly Uniform(0, 1) when arrivals are Poisson, whatever the rate
   (a / (a + b) of two i.i.d. exponentials is uniform), and stays so when the rate drifts
   slowly (office hours, diurnal load). Check-ins push c towards 0 (equal intervals, c <= 0.5
   even with ±50% jitter); bursts and sessions push it towards 1. Each group gets the log
   likelihood ratio of "check-ins" (c ~ truncated exponential of scale s, plus a uniform share
   EPSILON for missed beats and outliers) against Uniform(0, 1), maximised over a small grid of
   scales s and charged log(len(grid)) for that choice.
3. Period: median interval, refined by assigning each interval its number of beats
   k = round(interval / period) (missed beats make intervals multiples of the period) and
   taking total time / total beats. Gaps longer than `OUTAGE_BEATS` periods are outages (host
   asleep, off hours) and count neither as missed beats nor as observed time.
4. Jitter: half-width of the central 80% of single-beat intervals, relative to the period,
   scaled so that uniform ±j jitter reads j. Missed share: missed beats / expected beats.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from netdetect.scoring import segments as seg

MERGE_GAP_S = 1.0
OUTAGE_BEATS = 10
EPSILON = 0.2
SCALES = (0.01, 0.03, 0.08, 0.2)
_REFINE_ROUNDS = 4


@dataclass(slots=True)
class Timing:
    events: np.ndarray  # i8: check-ins after merging connections closer than MERGE_GAP_S
    pairs: np.ndarray  # i8: consecutive interval pairs tested
    llr: np.ndarray  # f8: log likelihood ratio, check-ins vs random arrivals (0 when no pairs)
    regularity: np.ndarray  # f8: 1 - 2 * mean(c), clipped to 0..1 (1 = exact, 0 = Poisson-like)
    period_s: np.ndarray  # f8, nan with fewer than 2 intervals
    jitter: np.ndarray  # f8, nan with fewer than 3 single-beat intervals
    missed_share: np.ndarray  # f8
    observed_s: np.ndarray  # f8: time covered by the series outside outages
    longest_run_s: np.ndarray  # f8: longest stretch without an outage
    event_group: np.ndarray  # per check-in: group (sorted by group, ts)
    event_index: np.ndarray  # per check-in: index of its first connection in the sorted input


def merge_events(sorted_group: np.ndarray, sorted_ts: np.ndarray, gap_s: float = MERGE_GAP_S) -> np.ndarray:
    """Indices (into the sorted arrays) of connections that start a new check-in."""
    new = np.ones(sorted_ts.size, dtype=bool)
    if sorted_ts.size > 1:
        new[1:] = (sorted_group[1:] != sorted_group[:-1]) | (np.diff(sorted_ts) > gap_s)
    return np.flatnonzero(new)


def _truncated_exp_logpdf(c: np.ndarray, scale: float) -> np.ndarray:
    norm = scale * -np.expm1(-1.0 / scale)
    return -c / scale - np.log(norm)


def pair_llr(c: np.ndarray, pair_group: np.ndarray, n_groups: int) -> np.ndarray:
    """Per-group log likelihood ratio of the pair statistics, best scale, charged for the choice."""
    best = np.full(n_groups, -np.inf)
    for scale in SCALES:
        mix = np.logaddexp(np.log1p(-EPSILON) + _truncated_exp_logpdf(c, scale), np.log(EPSILON))
        best = np.maximum(best, seg.segment_sum(mix, pair_group, n_groups))
    return best - np.log(len(SCALES))


def _longest_run(interval: np.ndarray, usable: np.ndarray, interval_group: np.ndarray, n_groups: int) -> np.ndarray:
    """Longest stretch of each group's series not broken by an outage (seconds)."""
    if interval.size == 0:
        return np.zeros(n_groups)
    new_group = np.ones(interval.size, dtype=bool)
    new_group[1:] = interval_group[1:] != interval_group[:-1]
    run = np.cumsum(~usable | new_group)  # a new run after each outage and at each group start
    run_time = np.bincount(run, weights=np.where(usable, interval, 0.0))
    run_group = np.zeros(run_time.size, dtype=np.int64)
    run_group[run] = interval_group
    best = np.zeros(n_groups)
    np.maximum.at(best, run_group, run_time)
    return best


def analyse(sorted_group: np.ndarray, sorted_ts: np.ndarray, n_groups: int) -> Timing:
    """Timing analysis of every group; inputs sorted by (group, ts)."""
    first = merge_events(sorted_group, sorted_ts)
    eg, et = sorted_group[first], sorted_ts[first]
    events = np.bincount(eg, minlength=n_groups).astype(np.int64)

    same = eg[1:] == eg[:-1]
    interval = np.clip(np.diff(et), 0.0, None)[same]
    ig = eg[1:][same]
    n_intervals = np.bincount(ig, minlength=n_groups)

    paired = ig[1:] == ig[:-1]
    a, b = interval[:-1][paired], interval[1:][paired]
    pg = ig[1:][paired]
    # Merging makes every interval longer than the merge gap: remove that dead time, or busy random
    # traffic would look regular (a + b - 2 gap of two shifted exponentials is again uniform).
    total = a + b - 2.0 * MERGE_GAP_S
    c = np.divide(np.abs(a - b), total, out=np.zeros_like(total), where=total > 0)
    c = np.minimum(c, 1.0)
    pairs = np.bincount(pg, minlength=n_groups).astype(np.int64)
    llr = np.where(pairs > 0, pair_llr(c, pg, n_groups), 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_c = seg.segment_sum(c, pg, n_groups) / pairs
    regularity = np.where(pairs > 0, np.clip(1.0 - 2.0 * mean_c, 0.0, 1.0), 0.0)

    # period: median interval, then total time / total beats with missed beats as multiples
    order = seg.sort_within_groups(ig, interval, n_groups)
    i_starts, i_counts = seg.bounds(ig, n_groups)
    period = seg.median(interval[order], i_starts, i_counts)
    usable = np.zeros(interval.size, dtype=bool)
    beats = np.ones(interval.size)
    for _ in range(_REFINE_ROUNDS):
        p = period[ig]
        with np.errstate(invalid="ignore", divide="ignore"):
            beats = np.maximum(1.0, np.rint(interval / p))
        usable = (beats <= OUTAGE_BEATS) & (p > 0)
        time = seg.segment_sum(np.where(usable, interval, 0.0), ig, n_groups)
        count = seg.segment_sum(np.where(usable, beats, 0.0), ig, n_groups)
        with np.errstate(invalid="ignore", divide="ignore"):
            refined = time / count
        period = np.where(count > 0, refined, period)
    period = np.where(n_intervals >= 2, period, np.nan)

    observed = seg.segment_sum(np.where(usable, interval, 0.0), ig, n_groups)
    longest_run = _longest_run(interval, usable, ig, n_groups)
    missed = seg.segment_sum(np.where(usable, beats - 1.0, 0.0), ig, n_groups)
    with np.errstate(invalid="ignore", divide="ignore"):
        missed_share = np.where(events > 1, missed / (missed + events), 0.0)

    single = usable & (beats == 1.0)
    rel = interval[single] / period[ig[single]]
    sg = ig[single]
    order = seg.sort_within_groups(sg, rel, n_groups)
    s_starts, s_counts = seg.bounds(sg, n_groups)
    q10 = seg.quantile(rel[order], s_starts, s_counts, 0.1)
    q90 = seg.quantile(rel[order], s_starts, s_counts, 0.9)
    jitter = np.where(s_counts >= 3, (q90 - q10) / 1.6, np.nan)

    return Timing(
        events=events, pairs=pairs, llr=llr, regularity=regularity, period_s=period, jitter=jitter,
        missed_share=missed_share, observed_s=observed, longest_run_s=longest_run, event_group=eg,
        event_index=first,
    )
