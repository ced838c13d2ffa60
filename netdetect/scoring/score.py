"""Beacon score per group: netdetect's periodicity test, size regularity and RITA's sub-scores."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from netdetect.scoring import periodicity
from netdetect.scoring import segments as seg
from netdetect.scoring.coverage import as_coverage, group_coverage
from netdetect.scoring.rita import rita_scores

DEFAULT_THRESHOLD = 0.5
MIN_EVENTS = 6  # fewer check-ins score only under the few-check-in rule below
# 4 or 5 check-ins may score when nothing but a schedule explains them: every check-in the same
# client size, the series filling its capture (no silence longer than FEW_EDGE_PERIODS periods at
# either end, which a retry burst or a chance cluster leaves), and intervals so equal that random
# arrivals line up as tightly with chance under FEW_CHANCE: the k pair statistics are Uniform(0, 1)
# for random arrivals, so P(their sum <= S) = S^k / k!. With 5 check-ins (3 pairs) that allows about
# ±2% jitter, with 4 (2 pairs) about ±0.5%; 3 check-ins (1 pair) line up by chance too often.
FEW_EVENTS = 4
FEW_CHANCE = 1e-5
FEW_EDGE_PERIODS = 1.5
# Uniform 0..M s sleeps (jitter 100%) carried by machine-like sizes: the share of check-ins with the
# group's usual client and server sizes must reach SIZE_MACHINE, and the bounded-sleep evidence
# (periodicity.bounded_llr) BOUNDED_MIDPOINT nats, where random arrivals stay under ~9 (99.99th
# percentile for any number of intervals, by simulation).
SIZE_MACHINE = 0.8
BOUNDED_MIDPOINT = 12.0
# Evidence (log likelihood ratio, nats) at which the timing part reaches 0.5, and its softness.
EVIDENCE_MIDPOINT = 6.0
EVIDENCE_SCALE = 1.5
# Size regularity adds up to this much evidence, only to series whose timing already leans periodic.
SIZE_EVIDENCE = 2.0
SIZE_TOLERANCE = 0.05  # share of the median size (at least SIZE_TOLERANCE_BYTES)
SIZE_TOLERANCE_BYTES = 16.0
# Pair-test evidence below which the interval test cannot change the verdict.
PAIR_HOPELESS = -15.0
# A run of regular activity must last this long (or 3/4 of a shorter window) to count fully.
SPAN_NEEDED_S = 3600.0


@dataclass(slots=True)
class ScoreTable:
    """One row per group; every array has length n_groups."""

    score: np.ndarray  # f8 in 0..1
    beacon: np.ndarray  # bool, score >= threshold
    period_s: np.ndarray  # f8, estimated period (nan if none)
    jitter: np.ndarray  # f8, relative spread of intervals around the period (0 = exact), nan if none
    missed_share: np.ndarray  # f8, share of expected beats missing
    connections: np.ndarray  # i8
    first_seen: np.ndarray  # f8 epoch s (nan for empty groups)
    last_seen: np.ndarray  # f8
    subscores: dict[str, np.ndarray] = field(default_factory=dict)
    threshold: float = DEFAULT_THRESHOLD

    def __len__(self) -> int:
        return int(self.score.size)

    def row_subscores(self, i: int) -> dict[str, float]:
        """Sub-scores of one group as plain floats (for findings)."""
        return {name: float(values[i]) for name, values in self.subscores.items()}


def _size_regularity(
    event_group: np.ndarray, event_bytes: np.ndarray, n_groups: int, events: np.ndarray
) -> np.ndarray:
    """Share of check-ins whose client bytes are within tolerance of the group's median."""
    order = seg.sort_within_groups(event_group, event_bytes, n_groups)
    starts, counts = seg.bounds(event_group, n_groups)
    med = seg.median(event_bytes[order], starts, counts)
    tolerance = np.maximum(SIZE_TOLERANCE * med, SIZE_TOLERANCE_BYTES)
    close = np.abs(event_bytes - med[event_group]) <= tolerance[event_group]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(events > 0, np.bincount(event_group, weights=close, minlength=n_groups) / events, 0.0)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def score_groups(
    group: np.ndarray,
    ts: np.ndarray,
    bytes_out: np.ndarray,
    bytes_in: np.ndarray,
    duration: np.ndarray,
    n_groups: int,
    *,
    window: tuple[float, float] | None = None,
    coverage: np.ndarray | None = None,
    threshold: float = DEFAULT_THRESHOLD,
) -> ScoreTable:
    """Score every group's connections for beaconing.

    group: int group index (0..n_groups-1) per connection, any order; ts: connection start (epoch
    s); window: observation span (capture first/last ts), default the span of `ts`; coverage: the
    (k, 2) time intervals the inputs cover (several captures), instead of `window`. Each group is
    measured on the coverage intervals its connections fall in, so captures it is not in and the
    gaps between captures change nothing in its scores. Rows with a non-finite timestamp are
    ignored; negative byte counts count as 0.
    """
    group = np.asarray(group).astype(np.int64, copy=False)
    ts = np.asarray(ts, dtype=np.float64)
    bytes_out = np.asarray(bytes_out, dtype=np.float64)
    n = group.size
    for name, arr in (("ts", ts), ("bytes_out", bytes_out), ("bytes_in", bytes_in), ("duration", duration)):
        if np.asarray(arr).shape != (n,):
            raise ValueError(f"{name} has shape {np.asarray(arr).shape}, expected ({n},)")
    if n_groups < 0 or (n and (group.min() < 0 or group.max() >= n_groups)):
        raise ValueError(f"group indices must lie in 0..{n_groups - 1}")

    finite = np.isfinite(ts)
    kept = None if finite.all() else np.flatnonzero(finite)  # rows scored, into the inputs
    if kept is not None:
        group, ts, bytes_out = group[kept], ts[kept], bytes_out[kept]
    bytes_out = np.where(np.isfinite(bytes_out) & (bytes_out > 0), bytes_out, 0.0)

    order = seg.sort_within_groups(group, ts, n_groups)
    g, t, b_out = group[order], ts[order], bytes_out[order]
    starts, counts = seg.bounds(g, n_groups)
    has = counts > 0
    first_seen = seg.take_or_nan(t, starts, has)
    last_seen = seg.take_or_nan(t, starts + counts - 1, has)
    if coverage is not None:
        spans = as_coverage(coverage)
    elif window is not None:
        spans = as_coverage([window])
    else:
        spans = np.array([[t.min(), t.max()]]) if t.size else np.zeros((0, 2))
    covered = group_coverage(g, t, n_groups, spans)
    window_len = covered.longest_s

    # Short outages do not end a run of check-ins, but in short windows "short" must be shorter.
    run_break = np.where(
        window_len > 0, np.minimum(periodicity.RUN_BREAK_S, 0.1 * window_len), periodicity.RUN_BREAK_S
    )
    shared = n_groups > 0 and bool((run_break == run_break[0]).all())
    timing = periodicity.analyse(g, t, n_groups, float(run_break[0]) if shared else run_break)
    event_bytes = np.add.reduceat(b_out, timing.event_index) if timing.event_index.size else np.zeros(0)
    size_reg = _size_regularity(timing.event_group, event_bytes, n_groups, timing.events)

    # Regular activity lasting minutes (downloads, retries) is not a check-in pattern.
    needed = np.where(window_len > 0, np.minimum(SPAN_NEEDED_S, 0.75 * window_len), SPAN_NEEDED_S)
    span_score = np.clip((timing.longest_run_s - 0.5 * needed) / (0.5 * needed), 0.0, 1.0)
    enough = timing.events >= MIN_EVENTS

    # The interval test (which also picks the period among candidates) only where it can matter:
    # the pair test is strongly negative on random and bursty traffic with many connections.
    tested = enough & (span_score > 0) & (timing.llr > PAIR_HOPELESS)
    periodicity.add_interval_test(timing, tested)
    timing_llr = np.where(tested, np.maximum(timing.llr, timing.llr_intervals), timing.llr) - np.log(2.0)

    # Size regularity adds evidence only to series whose timing already leans periodic.
    lean = np.clip(timing_llr / EVIDENCE_MIDPOINT, 0.0, 1.0)
    evidence = timing_llr + SIZE_EVIDENCE * size_reg * lean
    timing_score = _sigmoid((evidence - EVIDENCE_MIDPOINT) / EVIDENCE_SCALE)

    # Few check-ins: only a tight schedule of identical check-ins filling the capture (see FEW_EVENTS).
    edge = FEW_EDGE_PERIODS * timing.period_s
    fills = (first_seen - covered.first <= edge) & (covered.last - last_seen <= edge)
    pairs = timing.pairs.astype(np.float64)
    pair_sum = pairs * (1.0 - timing.regularity) / 2.0  # regularity = 1 - 2 mean(c)
    log_factorial = np.log(np.cumprod(np.r_[1.0, np.arange(1.0, MIN_EVENTS)]))  # k! for k < MIN_EVENTS
    with np.errstate(divide="ignore", invalid="ignore"):
        log_chance = pairs * np.log(pair_sum) - log_factorial[np.minimum(timing.pairs, MIN_EVENTS - 1)]
    few = (
        (timing.events >= FEW_EVENTS)
        & ~enough
        & (size_reg >= 1.0)
        & fills
        & (log_chance <= np.log(FEW_CHANCE))
    )
    score = np.where(enough | few, timing_score * span_score, 0.0)

    # Uniform random sleeps with machine-like sizes: bounded intervals, identical requests and replies.
    machine = enough & (span_score > 0) & (size_reg >= SIZE_MACHINE)
    if machine.any():  # server sizes only for these few groups: the common path stays cheap
        rows = np.flatnonzero(machine[g])
        source = order[rows] if kept is None else kept[order[rows]]
        b_in = np.asarray(bytes_in)[source].astype(np.float64)
        b_in = np.where(np.isfinite(b_in) & (b_in > 0), b_in, 0.0)
        chosen = machine[timing.event_group]
        in_bytes = np.add.reduceat(b_in, np.searchsorted(rows, timing.event_index[chosen]))
        in_reg = _size_regularity(timing.event_group[chosen], in_bytes, n_groups, timing.events)
        machine &= in_reg >= SIZE_MACHINE
    bounded = periodicity.bounded_llr(timing, machine)
    bounded_score = np.where(
        machine, _sigmoid((bounded + SIZE_EVIDENCE - BOUNDED_MIDPOINT) / EVIDENCE_SCALE) * span_score, 0.0
    )
    # Describe as sleeps (mean interval, no beats) only what the bounded test carries past the timing test.
    carried = (bounded > 0) & (bounded_score > score) & (score < threshold)
    periodicity.describe_sleeps(timing, carried)
    score = np.maximum(score, bounded_score)

    subscores = {
        "evidence": evidence,
        "pair_test": timing.llr,
        "interval_test": timing.llr_intervals,
        "regularity": timing.regularity,
        "size_regularity": size_reg,
        "span": span_score,
        "bounded_test": bounded,
        "events": timing.events.astype(np.float64),
    }
    subscores.update(rita_scores(g, t, b_out, n_groups, (covered.first, covered.last)).as_dict())
    return ScoreTable(
        score=score,
        beacon=score >= threshold,
        period_s=timing.period_s,
        jitter=timing.jitter,
        missed_share=timing.missed_share,
        connections=counts,
        first_seen=first_seen,
        last_seen=last_seen,
        subscores=subscores,
        threshold=threshold,
    )
