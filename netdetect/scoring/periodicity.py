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
RUN_BREAK_S = 900.0  # outages up to this long do not end a run of check-ins
EPSILON = 0.2
SCALES = (0.01, 0.03, 0.08, 0.2)
_REFINE_ROUNDS = 4


@dataclass(slots=True)
class Timing:
    events: np.ndarray  # i8: check-ins after merging connections closer than MERGE_GAP_S
    pairs: np.ndarray  # i8: consecutive interval pairs tested
    llr: np.ndarray  # f8: log likelihood ratio, check-ins vs random arrivals (0 when no pairs)
    llr_intervals: np.ndarray  # f8: interval-model log likelihood ratio (see interval_llr)
    regularity: np.ndarray  # f8: 1 - 2 * mean(c), clipped to 0..1 (1 = exact, 0 = Poisson-like)
    period_s: np.ndarray  # f8, nan with fewer than 2 intervals
    jitter: np.ndarray  # f8, nan with fewer than 3 single-beat intervals
    missed_share: np.ndarray  # f8
    observed_s: np.ndarray  # f8: time covered by the series outside outages
    longest_run_s: np.ndarray  # f8: longest stretch without an outage
    event_group: np.ndarray  # per check-in: group (sorted by group, ts)
    event_index: np.ndarray  # per check-in: index of its first connection in the sorted input
    _interval: np.ndarray  # per interval between check-ins (sorted by group, time)
    _interval_group: np.ndarray
    _usable: np.ndarray  # not an outage
    _median: np.ndarray  # per group: median interval


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


INTERVAL_SIGMAS = (0.02, 0.06, 0.15, 0.3)  # spread of one beat, in periods (uniform ±50% ~ 0.29)
INTERVAL_MISS = (0.0, 0.3)  # chance that a beat is missed (geometric number of beats per interval)
INTERVAL_BACKGROUND = 0.05  # share of intervals from anything else (extra connections, outliers)
MAX_TEST_INTERVALS = 256  # the most recent intervals of a group suffice for the interval test
_SELECT_GRID = ((0.05, 0.25), (0.2,))  # a small (sigma, q) grid to pick the period candidate cheaply
_SUBMULTIPLE_MARGIN = 2.0  # nats a shorter period candidate must gain to replace a longer one
_MAX_BEATS = 4 * OUTAGE_BEATS  # sub-multiples of the base period see up to this many beats
_SQRT_2PI = float(np.sqrt(2.0 * np.pi))


def interval_llr(
    interval: np.ndarray,
    interval_group: np.ndarray,
    period: np.ndarray,
    background_span: np.ndarray,
    n_groups: int,
    sigmas: tuple[float, ...] = INTERVAL_SIGMAS,
    misses: tuple[float, ...] = INTERVAL_MISS,
) -> np.ndarray:
    """Per-group log likelihood ratio of the intervals: beats at multiples of the period vs Poisson.

    Check-in model: an interval spans k beats (k >= 1, geometric: each beat missed with chance q),
    each beat lasting period * N(1, sigma^2), plus a small uniform background over
    0..background_span seconds. Null: arrivals at a constant random rate, i.e. exponential
    intervals after the merge dead time, rate fitted per group. Maximised over the (sigma, q) grid
    and charged log(grid size). Pass only the usable (non-outage) intervals of the groups to test.
    """
    if interval.size == 0:
        return np.zeros(n_groups)
    f4 = np.float32  # single precision: ample for likelihoods, half the memory traffic
    p = period[interval_group].astype(f4)
    x = interval.astype(f4) / p
    n = np.bincount(interval_group, minlength=n_groups)
    excess = np.maximum(interval - MERGE_GAP_S, 1e-9)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_excess = seg.segment_sum(excess, interval_group, n_groups) / n
    mu = mean_excess[interval_group]
    log_null = (-np.log(mu) - excess / mu).astype(f4)

    # only the multiples next to each interval matter; each (k, interval) term counted once
    nearest = np.clip(np.rint(x), 1, _MAX_BEATS)
    ks = [np.clip(nearest + f4(shift), 1, _MAX_BEATS) for shift in (-1.0, 0.0, 1.0)]
    fresh = [np.ones(x.size, dtype=bool), ks[1] != ks[0], (ks[2] != ks[1]) & (ks[2] != ks[0])]
    half_z2 = [f4(0.5) * (x - k) ** 2 / k for k in ks]  # (x - k)^2 / (2 k): beats add their variances
    scale = [
        np.where(use, f4(1.0 / _SQRT_2PI) / np.sqrt(k), f4(0.0)) / p for k, use in zip(ks, fresh, strict=True)
    ]
    background = (INTERVAL_BACKGROUND / background_span[interval_group]).astype(f4)
    # weight of k beats (geometric), folded with the per-term scale; independent of sigma
    keep = f4(1.0 - INTERVAL_BACKGROUND)
    weights = {
        miss: [
            sc * (keep * f4(1.0 - miss)) * (f4(miss) ** (k - 1) if miss > 0 else (k == 1).astype(f4))
            for k, sc in zip(ks, scale, strict=True)
        ]
        for miss in misses
    }
    best = np.full(n_groups, -np.inf)
    for sigma in sigmas:
        shapes = [np.exp(hz * f4(-1.0 / sigma**2)) for hz in half_z2]
        for miss in misses:
            w = weights[miss]
            density = shapes[0] * w[0]
            density += shapes[1] * w[1]
            density += shapes[2] * w[2]
            density *= f4(1.0 / sigma)
            density += background
            ratio = np.log(density, out=density)
            ratio -= log_null
            best = np.maximum(best, np.bincount(interval_group, weights=ratio, minlength=n_groups))
    best -= np.log(len(sigmas) * len(misses))
    return np.where(n > 0, best, 0.0)


def _longest_run(
    interval: np.ndarray,
    usable: np.ndarray,
    interval_group: np.ndarray,
    n_groups: int,
    run_break_s: float | np.ndarray,
) -> np.ndarray:
    """Longest stretch of each group's series not broken by a long outage (seconds).

    Outages up to `run_break_s` long (a network blip; one value or one per group) do not break a run.
    """
    if interval.size == 0:
        return np.zeros(n_groups)
    new_group = np.ones(interval.size, dtype=bool)
    new_group[1:] = interval_group[1:] != interval_group[:-1]
    run_break = np.asarray(run_break_s, dtype=np.float64)
    breaks = ~usable & (interval > (run_break[interval_group] if run_break.ndim else run_break))
    run = np.cumsum(breaks | new_group)  # a new run after each break and at each group start
    run_time = np.bincount(run, weights=np.where(breaks, 0.0, interval))
    run_group = np.zeros(run_time.size, dtype=np.int64)
    run_group[run] = interval_group
    best = np.zeros(n_groups)
    np.maximum.at(best, run_group, run_time)
    return best


def analyse(
    sorted_group: np.ndarray,
    sorted_ts: np.ndarray,
    n_groups: int,
    run_break_s: float | np.ndarray = RUN_BREAK_S,
) -> Timing:
    """Timing analysis of every group; inputs sorted by (group, ts); run_break_s: one or per group."""
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
    median = np.where(n_intervals >= 2, seg.median(interval[order], i_starts, i_counts), np.nan)
    period = _refine(median, interval, ig, n_groups)
    usable = _beats(interval, period[ig]) <= OUTAGE_BEATS

    timing = Timing(
        events=events,
        pairs=pairs,
        llr=llr,
        llr_intervals=np.zeros(n_groups),
        regularity=regularity,
        period_s=period,
        jitter=np.full(n_groups, np.nan),
        missed_share=np.zeros(n_groups),
        observed_s=seg.segment_sum(np.where(usable, interval, 0.0), ig, n_groups),
        longest_run_s=_longest_run(interval, usable, ig, n_groups, run_break_s),
        event_group=eg,
        event_index=first,
        _interval=interval,
        _interval_group=ig,
        _usable=usable,
        _median=median,
    )
    _describe(timing)
    return timing


def _beats(interval: np.ndarray, period: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.maximum(1.0, np.rint(interval / period))


def _refine(start: np.ndarray, interval: np.ndarray, ig: np.ndarray, n_groups: int) -> np.ndarray:
    """Period = total time / total beats, beats = round(interval / period), outages left out."""
    period = start.copy()
    for _ in range(_REFINE_ROUNDS):
        p = period[ig]
        beats = _beats(interval, p)
        usable = (beats <= OUTAGE_BEATS) & (p > 0)
        time = seg.segment_sum(np.where(usable, interval, 0.0), ig, n_groups)
        count = seg.segment_sum(np.where(usable, beats, 0.0), ig, n_groups)
        with np.errstate(invalid="ignore", divide="ignore"):
            period = np.where(count > 0, time / count, period)
    return period


def _describe(timing: Timing) -> None:
    """Missed share and jitter from the current period estimate."""
    interval, ig, n_groups = timing._interval, timing._interval_group, timing.events.size
    period = timing.period_s
    beats = _beats(interval, period[ig])
    usable = timing._usable & np.isfinite(period[ig])
    missed = seg.segment_sum(np.where(usable, beats - 1.0, 0.0), ig, n_groups)
    with np.errstate(invalid="ignore", divide="ignore"):
        timing.missed_share = np.where(timing.events > 1, missed / (missed + timing.events), 0.0)

    single = usable & (beats == 1.0)
    rel = interval[single] / period[ig[single]]
    sg = ig[single]
    order = seg.sort_within_groups(sg, rel, n_groups)
    s_starts, s_counts = seg.bounds(sg, n_groups)
    q10 = seg.quantile(rel[order], s_starts, s_counts, 0.1)
    q90 = seg.quantile(rel[order], s_starts, s_counts, 0.9)
    timing.jitter = np.where(s_counts >= 3, (q90 - q10) / 1.6, np.nan)


def add_interval_test(timing: Timing, candidates: np.ndarray) -> None:
    """Interval test for the candidate groups only (others keep 0), choosing their period.

    Period candidates: the median interval as is (best under heavy jitter), refined by beat
    counting, and refined from half and a third of the median (when most intervals span
    several beats). The candidate the check-in model explains best wins.
    """
    ig, interval, n_groups = timing._interval_group, timing._interval, timing.events.size
    take = candidates[ig] & timing._usable & np.isfinite(timing.period_s[ig])
    if not take.any():
        return
    iv, g = interval[take], ig[take]
    starts, counts = seg.bounds(g, n_groups)
    recent = (starts + counts)[g] - np.arange(g.size) <= MAX_TEST_INTERVALS
    iv, g = iv[recent], g[recent]
    span = OUTAGE_BEATS * timing.period_s + 1.0
    options = [timing._median, timing.period_s]
    options += [_refine(timing._median / d, iv, g, n_groups) for d in (2.0, 3.0)]
    fit = np.full(n_groups, -np.inf)
    best_period = timing.period_s.copy()
    for i, option in enumerate(options):
        llr = interval_llr(iv, g, option, span, n_groups, *_SELECT_GRID)
        margin = _SUBMULTIPLE_MARGIN if i >= 2 else 1e-6
        better = candidates & (llr > fit + margin) & np.isfinite(option) & (option > 0)
        fit = np.where(better, llr, fit)
        best_period = np.where(better, option, best_period)
    best_llr = interval_llr(iv, g, best_period, span, n_groups)
    best_llr -= np.log(len(options))  # charged for choosing among the candidates
    timing.llr_intervals = np.where(candidates & np.isfinite(best_llr), best_llr, 0.0)
    timing.period_s = best_period
    _describe(timing)


def bounded_llr(timing: Timing, candidates: np.ndarray) -> np.ndarray:
    """Per candidate group: log likelihood ratio of uniform sleeps 0..M against random arrivals.

    Agents that sleep a uniform random 0..M seconds (jitter 100%) have no period, but their
    intervals have a hard maximum, where random (exponential) intervals have a tail that grows with
    their number and human activity has long idle gaps. On the most recent intervals (outages
    included: a long silence is evidence against a bounded sleep), after the merge dead time, the
    ratio depends only on their count m, mean and maximum: m (1 + log(mean / M)) with M the
    maximum scaled by (m + 1) / m (the unbiased bound). Others get 0.
    """
    ig, interval, n_groups = timing._interval_group, timing._interval, timing.events.size
    out = np.zeros(n_groups)
    take = candidates[ig]
    if not take.any():
        return out
    excess, g = np.maximum(interval[take] - MERGE_GAP_S, 1e-9), ig[take]
    starts, counts = seg.bounds(g, n_groups)
    recent = (starts + counts)[g] - np.arange(g.size) <= MAX_TEST_INTERVALS
    excess, g = excess[recent], g[recent]
    starts, counts = seg.bounds(g, n_groups)
    has = counts > 0
    m = counts[has].astype(np.float64)
    mean = seg.segment_sum(excess, g, n_groups)[has] / m
    bound = np.maximum.reduceat(excess, starts[has]) * (m + 1.0) / m
    out[has] = m * (1.0 + np.log(mean / bound))
    return out


def describe_sleeps(timing: Timing, groups: np.ndarray) -> None:
    """Period and jitter of uniform-sleep groups: the mean interval and the spread around it.

    Beat counting does not apply (an interval of 1.8 mean sleeps is one sleep, not two beats), so
    for these groups period_s is the mean interval and jitter reads 1.0 for sleeps of 0..2 period.
    """
    ig, interval = timing._interval_group, timing._interval
    n_groups = timing.events.size
    take = groups[ig] & timing._usable
    if not take.any():
        return
    iv, g = interval[take], ig[take]
    order = seg.sort_within_groups(g, iv, n_groups)
    starts, counts = seg.bounds(g, n_groups)
    q10 = seg.quantile(iv[order], starts, counts, 0.1)
    q90 = seg.quantile(iv[order], starts, counts, 0.9)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = seg.segment_sum(iv, g, n_groups) / counts
        jitter = (q90 - q10) / 1.6 / mean
    done = groups & (counts >= 3)
    timing.period_s = np.where(done, mean, timing.period_s)
    timing.jitter = np.where(done, jitter, timing.jitter)
    timing.missed_share = np.where(done, 0.0, timing.missed_share)
