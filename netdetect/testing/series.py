"""Seeded, labeled connection series: check-ins (beacons) and ordinary traffic.

Used by `benchmarks/beacon_accuracy.py` and `tests/test_scoring_accuracy.py` to measure netdetect's
scoring against RITA's formula. Every class the scoring issue names is covered:

beacons   uniform jitter 0..±50% (PoshC2/Empire), sleep minus up to 50% (Cobalt Strike), missed
          beats (random drops up to 30%, outages), periods 10 s to 4 h, windows 1 h to 7 days,
          office-hours-only hosts, several connections per check-in, constant or random sizes;
ordinary  Poisson arrivals at a constant or office-hours rate, human browsing in sessions, short
          regular bursts (downloads, retries with a fixed interval or exponential back-off),
          busy bulk activity, a handful of sporadic connections.

A beacon is only labeled as one when its window holds at least `MIN_EXPECTED_BEATS` check-ins:
fewer cannot be told from chance by anyone.

`robustness_corpus` adds the shapes short incident captures and heavily jittered agents bring, each
with look-alikes that must stay quiet:

beacons   few: 4-5 check-ins with at most ±2% jitter and constant sizes filling a 5-60 minute
          capture; empire: uniform 0..X s sleeps (jitter 100%) with constant request and response sizes;
ordinary  poisson_const: random arrivals with constant sizes (what an exponential-sleep agent looks
          like); pixel: browsing sessions fetching one constant-size object; ntp: constant sizes, poll
          interval wandering between 64 and 1024 s; retry_const: 3-6 fixed-interval retries of
          constant size; few_random: 3-6 connections of constant size at random times.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

MONDAY_0000_UTC = 1_709_510_400.0  # 2024-03-04, so office hours fall on weekdays
MIN_EXPECTED_BEATS = 12
MIN_PERIOD_S = 10.0
MAX_PERIOD_S = 4 * 3600.0
WINDOWS_S = (3600.0, 6 * 3600.0, 86_400.0, 3 * 86_400.0, 7 * 86_400.0)

BEACON_KINDS = ("uniform", "sleep_minus")
ORDINARY_KINDS = ("poisson", "poisson_office", "browsing", "regular_burst", "backoff", "bulk", "sporadic")
ROBUST_BEACON_KINDS = ("few", "empire")
ROBUST_ORDINARY_KINDS = ("poisson_const", "pixel", "ntp", "retry_const", "few_random")
ROBUST_WINDOWS_S = (300.0, 900.0, 3600.0, 86_400.0)


@dataclass(slots=True)
class Series:
    ts: np.ndarray
    bytes_out: np.ndarray
    bytes_in: np.ndarray
    duration: np.ndarray


@dataclass(slots=True)
class SyntheticSet:
    """Connections of many groups sharing one observation window, with per-group truth."""

    window: tuple[float, float]
    group: np.ndarray  # per connection
    ts: np.ndarray
    bytes_out: np.ndarray
    bytes_in: np.ndarray
    duration: np.ndarray
    label: np.ndarray  # per group: True = beacon
    kind: list[str]  # per group
    jitter_level: list[str]  # per group: "±30%", "-50%", ... ("" for ordinary traffic)
    period_s: np.ndarray  # true mean spacing of check-ins (nan for ordinary traffic)
    notes: list[str] = field(default_factory=list)  # per group: variants applied

    @property
    def n_groups(self) -> int:
        return int(self.label.size)


def _office_mask(ts: np.ndarray, start_hour: float = 8.0, end_hour: float = 18.0) -> np.ndarray:
    since = ts - MONDAY_0000_UTC
    hour = (since % 86_400.0) / 3600.0
    weekday = (since // 86_400.0) % 7
    return (hour >= start_hour) & (hour < end_hour) & (weekday < 5)


def _sizes(rng: np.random.Generator, n: int, constant: bool) -> tuple[np.ndarray, np.ndarray]:
    if constant:
        base_out, base_in = rng.integers(200, 3000), rng.integers(200, 20_000)
        out = base_out + rng.integers(-8, 9, n)  # TLS/HTTP header noise
        inn = base_in + rng.integers(-16, 17, n)
        tasked = rng.random(n) < 0.03  # occasional tasking or results
        inn[tasked] += rng.integers(1000, 200_000, tasked.sum())
    else:
        out = rng.lognormal(7.0, 1.0, n).astype(np.int64) + 60
        inn = rng.lognormal(9.0, 1.5, n).astype(np.int64) + 60
    return out.astype(np.int64), inn.astype(np.int64)


def _finish(rng: np.random.Generator, ts: np.ndarray, constant_size: bool) -> Series:
    ts = np.sort(ts)
    out, inn = _sizes(rng, ts.size, constant_size)
    duration = rng.lognormal(-1.0, 0.8, ts.size)
    return Series(ts, out, inn, duration)


def beacon(
    rng: np.random.Generator,
    window: tuple[float, float],
    period: float,
    *,
    kind: str = "uniform",
    jitter: float = 0.0,
    drop: float = 0.0,
    outages: int = 0,
    office_hours: bool = False,
    extra_connections: float = 0.0,
    constant_size: bool = True,
    start: float | None = None,
) -> tuple[Series, float]:
    """One check-in series; returns it and its true mean spacing between check-ins.

    kind "uniform": sleep * (1 ± U(0, jitter)); kind "sleep_minus": sleep * (1 - U(0, jitter)).
    """
    lo, hi = window
    begin = lo + rng.uniform(0, period) if start is None else start
    low = 1.0 - jitter
    high = 1.0 + jitter if kind == "uniform" else 1.0
    mean_spacing = period * (low + high) / 2
    # enough sleeps to pass the window end (very heavy jitter: sleeps near 0 are as likely as long ones)
    n = int((hi - begin) / (period * low)) + 2 if low >= 0.5 else int(3 * (hi - begin) / mean_spacing) + 50
    ts = begin + np.cumsum(period * rng.uniform(low, high, n))
    ts = ts[ts < hi]
    ts = ts + rng.normal(0.0, 0.05, ts.size)  # network and scheduling delay
    keep = rng.random(ts.size) >= drop
    for _ in range(outages):
        length = period * rng.uniform(4, 20)
        at = rng.uniform(begin, hi)
        keep &= (ts < at) | (ts > at + length)
    if office_hours:
        keep &= _office_mask(ts)
    ts = ts[keep]
    if extra_connections > 0 and ts.size:
        more = rng.random(ts.size) < extra_connections
        ts = np.concatenate([ts, ts[more] + rng.uniform(0.05, 0.8, more.sum())])
    return _finish(rng, ts, constant_size), mean_spacing


def poisson(
    rng: np.random.Generator, span: tuple[float, float], rate: float, office_hours: bool
) -> np.ndarray:
    lo, hi = span
    ts = np.sort(rng.uniform(lo, hi, rng.poisson(rate * (hi - lo))))
    return ts[_office_mask(ts)] if office_hours else ts


def browsing(rng: np.random.Generator, window: tuple[float, float], long_window: bool) -> np.ndarray:
    """Sessions of page loads: heavy-tailed think times inside sessions, long idle gaps between."""
    lo, hi = window
    days = (hi - lo) / 86_400.0
    sessions = max(1, rng.poisson(max(1.0, 6 * days)))
    parts = []
    for _ in range(sessions):
        begin = rng.uniform(lo, hi)
        if long_window:  # people browse during the day
            day = np.floor((begin - MONDAY_0000_UTC) / 86_400.0)
            begin = MONDAY_0000_UTC + day * 86_400.0 + rng.uniform(8, 18) * 3600.0
        length = rng.uniform(120, 2400)
        gaps = rng.lognormal(np.log(15.0), 1.3, int(length / 3) + 2)
        t = begin + np.cumsum(gaps)
        t = t[t < min(begin + length, hi)]
        # each page load opens a few connections in a burst
        burst = rng.integers(1, 4, t.size)
        parts.append(np.repeat(t, burst) + rng.uniform(0, 1.5, burst.sum()))
    ts = np.concatenate(parts) if parts else np.zeros(0)
    return ts[(ts >= lo) & (ts < hi)]


def regular_burst(rng: np.random.Generator, window: tuple[float, float], backoff: bool) -> np.ndarray:
    """Downloads / retries: regular for minutes, then silence; may repeat a few times."""
    lo, hi = window
    parts = []
    for _ in range(rng.integers(1, 4)):
        begin = rng.uniform(lo, hi)
        if backoff:
            first = rng.uniform(1, 5)
            gaps = np.minimum(first * 2.0 ** np.arange(12), rng.uniform(60, 300))
            gaps = gaps * rng.uniform(0.9, 1.1, gaps.size)
            t = begin + np.concatenate([[0.0], np.cumsum(gaps)])
            t = t[t < begin + rng.uniform(300, 1200)]
        else:
            step = rng.uniform(2, 30)
            length = rng.uniform(120, 1200)
            n = int(length / step) + 1
            t = begin + np.cumsum(step * rng.uniform(0.9, 1.1, n))
        parts.append(t)
    ts = np.concatenate(parts)
    return ts[(ts >= lo) & (ts < hi)]


def _log_uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


def scenario(rng: np.random.Generator, window_s: float, n_beacons: int, n_ordinary: int) -> SyntheticSet:
    """One observation window with `n_beacons` check-in groups and `n_ordinary` ordinary groups."""
    window = (MONDAY_0000_UTC + 9 * 3600.0, MONDAY_0000_UTC + 9 * 3600.0 + window_s)
    long_window = window_s >= 2 * 86_400.0
    series: list[Series] = []
    label, kinds, levels, periods, notes = [], [], [], [], []

    for _ in range(n_beacons):
        kind = BEACON_KINDS[int(rng.random() < 0.3)]
        jitter = (
            float(rng.choice([0.01, 0.1, 0.3, 0.5])) if kind == "uniform" else float(rng.choice([0.3, 0.5]))
        )
        drop = float(rng.choice([0.0, 0.0, 0.1, 0.2, 0.3]))
        office = bool(long_window and rng.random() < 0.3)
        outages = int(rng.random() < 0.2) * int(rng.integers(1, 4))
        active = window_s * (10 / 24 * 5 / 7 if office else 1.0) * (1 - drop) * 0.8
        max_period = min(MAX_PERIOD_S, active / (MIN_EXPECTED_BEATS + 4 * outages))
        period = _log_uniform(rng, MIN_PERIOD_S, max(max_period, MIN_PERIOD_S * 1.01))
        start = window[0] + rng.uniform(0, 0.2 * window_s)
        s, spacing = beacon(
            rng,
            window,
            period,
            kind=kind,
            jitter=jitter,
            drop=drop,
            outages=outages,
            office_hours=office,
            extra_connections=float(rng.choice([0.0, 0.0, 0.0, 0.5])),
            constant_size=rng.random() < 0.7,
            start=start,
        )
        series.append(s)
        label.append(True)
        kinds.append(kind)
        levels.append(f"±{jitter:.0%}" if kind == "uniform" else f"-{jitter:.0%}")
        periods.append(spacing)
        notes.append(f"period={period:.0f}s drop={drop} outages={outages} office={office}")

    for _ in range(n_ordinary):
        kind = ORDINARY_KINDS[int(rng.integers(0, len(ORDINARY_KINDS)))]
        if kind in ("poisson", "poisson_office"):
            office = kind == "poisson_office" and long_window
            count = _log_uniform(rng, 8, 5000)
            rate = count / window_s / (10 / 24 * 5 / 7 if office else 1.0)
            ts = poisson(rng, window, rate, office)
            note = f"rate={rate:.4g}/s"
        elif kind == "browsing":
            ts, note = browsing(rng, window, long_window), ""
        elif kind in ("regular_burst", "backoff"):
            ts, note = regular_burst(rng, window, backoff=kind == "backoff"), ""
        elif kind == "bulk":
            begin = rng.uniform(*window)
            span = (begin, min(window[1], begin + rng.uniform(300, 3600)))
            rate = rng.uniform(0.2, 3.0)
            ts, note = poisson(rng, span, rate, False), f"rate={rate:.3g}/s"
        else:
            ts, note = rng.uniform(*window, rng.integers(2, 11)), ""
        series.append(_finish(rng, ts, constant_size=rng.random() < 0.5))
        label.append(False)
        kinds.append(kind)
        levels.append("")
        periods.append(np.nan)
        notes.append(note)

    return _assemble(window, series, label, kinds, levels, periods, notes)


def _assemble(
    window: tuple[float, float],
    series: list[Series],
    label: list[bool],
    kinds: list[str],
    levels: list[str],
    periods: list[float],
    notes: list[str],
) -> SyntheticSet:
    counts = np.array([s.ts.size for s in series], dtype=np.int64)
    return SyntheticSet(
        window=window,
        group=np.repeat(np.arange(len(series), dtype=np.int64), counts),
        ts=np.concatenate([s.ts for s in series]),
        bytes_out=np.concatenate([s.bytes_out for s in series]),
        bytes_in=np.concatenate([s.bytes_in for s in series]),
        duration=np.concatenate([s.duration for s in series]),
        label=np.array(label, dtype=bool),
        kind=kinds,
        jitter_level=levels,
        period_s=np.array(periods, dtype=np.float64),
        notes=notes,
    )


def labeled_corpus(
    seed: int = 7,
    beacons_per_window: int = 50,
    ordinary_per_window: int = 100,
    windows_s: tuple[float, ...] = WINDOWS_S,
) -> list[SyntheticSet]:
    """One scenario per window length (1 h .. 7 days), reproducible from `seed`."""
    rng = np.random.default_rng(seed)
    return [scenario(rng, w, beacons_per_window, ordinary_per_window) for w in windows_s]


def ntp_polls(rng: np.random.Generator, window: tuple[float, float]) -> np.ndarray:
    """NTP-like polls: the poll exponent wanders between 6 and 10 (64 to 1024 s) as the clock settles."""
    lo, hi = window
    t, exponent, out = lo + rng.uniform(0, 64), int(rng.integers(6, 11)), []
    while t < hi:
        out.append(t)
        exponent = int(np.clip(exponent + rng.integers(-1, 2), 6, 10))
        t += 2.0**exponent * rng.uniform(0.95, 1.05)
    return np.array(out)


def _duration(seconds: float) -> str:
    return f"{seconds / 3600:.0f}h" if seconds >= 3600 else f"{seconds / 60:.0f}m"


def robustness_scenario(rng: np.random.Generator, window_s: float, per_kind: int) -> SyntheticSet:
    """One window of `per_kind` groups of each robustness shape (few check-ins only in windows up to 1 h)."""
    window = (MONDAY_0000_UTC + 9 * 3600.0, MONDAY_0000_UTC + 9 * 3600.0 + window_s)
    series: list[Series] = []
    label, kinds, levels, periods, notes = [], [], [], [], []

    def add(s: Series, kind: str, is_beacon: bool, level: str, period: float, note: str) -> None:
        series.append(s)
        label.append(is_beacon)
        kinds.append(kind)
        levels.append(level)
        periods.append(period)
        notes.append(note)

    for _ in range(per_kind if window_s <= 3600.0 else 0):
        count = int(rng.integers(4, 6))
        period = window_s / (count + rng.uniform(0.0, 0.8))
        jitter = float(rng.choice([0.0, 0.01, 0.02]))
        begin = window[0] + rng.uniform(0, 0.1 * period)
        s, spacing = beacon(rng, window, period, jitter=jitter, start=begin)
        add(
            s,
            "few",
            True,
            f"{s.ts.size} ±{jitter:.0%}",
            spacing,
            f"period={period:.0f}s check-ins={s.ts.size}",
        )
    for _ in range(per_kind):
        top = _log_uniform(rng, 10.0, min(120.0, window_s / 6))  # at least 12 expected check-ins
        s, spacing = beacon(rng, window, top / 2, jitter=1.0, start=window[0] + rng.uniform(0, top))
        add(s, "empire", True, f"0..X {_duration(window_s)}", spacing, f"sleep=U(0,{top:.0f})s")
    for _ in range(per_kind):
        expected = _log_uniform(rng, 8, 2000)
        ts = poisson(rng, window, expected / window_s, False)
        add(_finish(rng, ts, constant_size=True), "poisson_const", False, "", np.nan, f"n={ts.size}")
    for _ in range(per_kind):
        ts = browsing(rng, window, long_window=False)
        add(_finish(rng, ts, constant_size=True), "pixel", False, "", np.nan, "")
    for _ in range(per_kind):
        add(_finish(rng, ntp_polls(rng, window), constant_size=True), "ntp", False, "", np.nan, "")
    for _ in range(per_kind):
        step = rng.uniform(2.0, 30.0)
        tries = int(rng.integers(3, 7))
        ts = rng.uniform(window[0], window[1] - step * tries) + step * np.arange(tries)
        ts = ts + rng.normal(0.0, 0.05, tries)
        add(_finish(rng, ts, constant_size=True), "retry_const", False, "", np.nan, f"step={step:.0f}s")
    for _ in range(per_kind):
        ts = rng.uniform(*window, int(rng.integers(3, 7)))
        add(_finish(rng, ts, constant_size=True), "few_random", False, "", np.nan, "")
    return _assemble(window, series, label, kinds, levels, periods, notes)


def robustness_corpus(
    seed: int = 7, per_kind: int = 40, windows_s: tuple[float, ...] = ROBUST_WINDOWS_S
) -> list[SyntheticSet]:
    """The robustness shapes, one scenario per window length (5 minutes .. 1 day).

    Drawn from their own stream of `seed`, so `labeled_corpus(seed)` stays as it was.
    """
    rng = np.random.default_rng([seed, 1])
    return [robustness_scenario(rng, w, per_kind) for w in windows_s]
