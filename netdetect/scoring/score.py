"""Beacon score per group: netdetect's periodicity test, size regularity and RITA's sub-scores."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from netdetect.scoring import periodicity
from netdetect.scoring import segments as seg
from netdetect.scoring.coverage import as_coverage, group_coverage
from netdetect.scoring.rita import rita_scores

DEFAULT_THRESHOLD = 0.5
MIN_EVENTS = 6  # fewer check-ins cannot be told from chance: score 0
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
    if not finite.all():
        group, ts, bytes_out = group[finite], ts[finite], bytes_out[finite]
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
    timing = periodicity.analyse(g, t, n_groups, run_break)
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

    score = np.where(enough, timing_score * span_score, 0.0)

    subscores = {
        "evidence": evidence,
        "pair_test": timing.llr,
        "interval_test": timing.llr_intervals,
        "regularity": timing.regularity,
        "size_regularity": size_reg,
        "span": span_score,
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
