"""RITA-compatible sub-scores: the vectorised version against a line-by-line port of RITA v5's Go code."""

from __future__ import annotations

import math

import numpy as np
import pytest

from netdetect.scoring import score_groups
from netdetect.scoring.rita import rita_beacon_window, rita_scores


# ---- scalar reference: a direct transcription of activecm/rita v5 analysis/beacons.go -------------
def _go_round3(x: float) -> float:
    return math.floor(x * 1000 + 0.5) / 1000  # math.Round(x*1000)/1000 for x >= 0


def _median(xs: list[float]) -> float:
    s = sorted(xs)
    n = len(s)
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2


def _quartiles(xs: list[float]) -> tuple[float, float, float]:
    s = sorted(xs)
    n = len(s)
    c1, c2 = (n // 2, n // 2) if n % 2 == 0 else ((n - 1) // 2, (n - 1) // 2 + 1)
    return _median(s[:c1]), _median(s), _median(s[c2:])


def _statistical(values: list[float], default_mad: float) -> float:
    q1, q2, q3 = _quartiles(values)
    num, den = q1 + q3 - 2 * q2, q3 - q1
    skew = num / den if den >= 10 and q2 != q1 and q2 != q3 else 0.0
    skew_score = 1 - abs(skew)
    med = _median(values)
    mad = _median([abs(v - med) for v in values])
    mad_score = (med - mad) / med if med >= 1 else default_mad
    if mad_score < 0 or math.isnan(mad_score):
        mad_score = 0.0
    return _go_round3((skew_score + mad_score) / 2)


def _reference(ts: list[int], sizes: list[float], ds_min: int, ds_max: int) -> tuple[float, ...]:
    ts = sorted(ts)
    if len(set(ts)) < 4:
        return (0.0, 0.0, 0.0, 0.0, 0.0)
    deltas = sorted(float(b - a) for a, b in zip(ts, ts[1:], strict=False))
    ts_score = _statistical([d for d in deltas if d > 0], 1.0)
    ds_score = _statistical(sorted(sizes), 0.0)

    step = (ds_max - ds_min) / 24
    edges = [ds_min + i * step for i in range(24)] + [float(ds_max)]
    hist = [0] * 24
    cur, nxt = 0, edges[1]
    for t in ts:
        if t < nxt:
            hist[cur] += 1
            continue
        for j in range(cur + 1, 24):
            cur, nxt = j, edges[j + 1]
            if t < edges[j + 1]:
                break
        hist[cur] += 1
    total_bars = sum(1 for h in hist if h > 0)
    largest = max(hist)
    bin_size = math.ceil(largest * 0.05)
    freq: dict[int, int] = {}
    longest = run = 0
    for i in range(48):
        f = hist[i % 24]
        if f > 0:
            run += 1
        else:
            longest, run = max(longest, run), 0
        if i < 24 and f > 0:
            b = int(math.floor(f / bin_size) * bin_size)
            freq[b] = freq.get(b, 0) + 1
    longest = min(max(longest, run), 24)
    mean = sum(hist) / 24
    sd = math.sqrt(sum((h - mean) ** 2 for h in hist) / 24)
    cv = sd / mean
    cv_score = 0.0 if cv > 1 else min(_go_round3(1 - cv), 1.0)
    top = sorted(freq.values(), reverse=True) + [0, 0]
    bimodal = 0.0
    if total_bars >= 11:
        bimodal = min(_go_round3((top[0] + top[1]) / max(total_bars - 1, 1)), 1.0)
    hist_score = max(cv_score, bimodal)

    dur_score = 0.0
    if total_bars >= 6:
        coverage = min(math.ceil((ts[-1] - ts[0]) / (ds_max - ds_min) * 1000) / 1000, 1.0)
        consistency = min(math.ceil(longest / 12 * 1000) / 1000, 1.0)
        dur_score = max(coverage, consistency)
    total = _go_round3(ts_score * 0.25 + ds_score * 0.25 + dur_score * 0.25 + hist_score * 0.25)
    return (ts_score, ds_score, hist_score, dur_score, total)


def _sorted_inputs(group: np.ndarray, ts: np.ndarray, size: np.ndarray) -> tuple[np.ndarray, ...]:
    order = np.lexsort((ts, group))
    return group[order], ts[order], size[order]


def _random_groups(seed: int, n_groups: int, window: tuple[float, float]) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    groups, times, sizes = [], [], []
    for g in range(n_groups):
        n = int(rng.integers(1, 60))
        style = g % 5
        if style == 0:  # periodic with jitter
            period = rng.uniform(60, 3000)
            t = window[0] + rng.uniform(0, period) + period * np.arange(n) + rng.normal(0, period * 0.1, n)
        elif style == 1:  # random
            t = rng.uniform(*window, n)
        elif style == 2:  # bursts with duplicate whole seconds
            t = np.repeat(rng.uniform(*window, n // 3 + 1), 3)[:n] + rng.uniform(0, 0.9, n)
        elif style == 3:  # a few very close connections
            t = window[0] + rng.uniform(0, 30, n)
        else:  # quartile spreads around RITA's 10-unit skew cut-off
            t = window[0] + np.cumsum(rng.uniform(52, 68, n))
        t = np.clip(t, window[0], window[1])
        if style == 4:
            size = 1000 + rng.integers(0, 16, n)
        else:
            size = rng.choice([rng.integers(100, 5000, n), np.full(n, 420) + rng.integers(0, 3, n)])
        groups.append(np.full(n, g))
        times.append(t)
        sizes.append(size)
    return np.concatenate(groups), np.concatenate(times), np.concatenate(sizes).astype(np.float64)


@pytest.mark.parametrize("window_hours", [6, 24, 72])
def test_vectorised_scores_equal_reference_port(window_hours: int) -> None:
    window = (1_700_000_000.0, 1_700_000_000.0 + window_hours * 3600.0)
    group, ts, size = _random_groups(window_hours, 80, window)
    g, t, s = _sorted_inputs(group, ts, size)
    got = rita_scores(g, t, s, 80, window)
    ds_min, ds_max = rita_beacon_window(window)
    start_hour = (ds_min // 3600) * 3600
    for i in range(80):
        sel = (g == i) & (np.floor(t) >= start_hour) & (np.floor(t) <= ds_max)
        expected = _reference([int(x) for x in np.floor(t[sel])], [float(x) for x in s[sel]], ds_min, ds_max)
        actual = (got.ts[i], got.ds[i], got.hist[i], got.dur[i], got.score[i])
        assert actual == pytest.approx(expected, abs=1e-9), f"group {i}"


def test_rita_looks_at_the_last_day_only() -> None:
    assert rita_beacon_window((0.0, 3 * 86_400.0 + 0.5)) == (2 * 86_400, 3 * 86_400)
    assert rita_beacon_window((100.0, 5000.0)) == (100, 5000)


def test_rita_scores_steady_random_traffic_high_and_exact_beacon_perfect() -> None:
    rng = np.random.default_rng(3)
    window = (0.0, 86_400.0)
    poisson = np.sort(rng.uniform(0, 86_400, 2000))  # constant rate, constant size: RITA's blind spot
    beacon = np.arange(0.0, 86_400.0, 300.0)
    ts = np.concatenate([poisson, beacon])
    group = np.repeat([0, 1], [poisson.size, beacon.size])
    size = np.full(ts.size, 512)
    table = score_groups(group, ts, size, size, np.zeros(ts.size), 2, window=window)
    assert table.subscores["rita_score"][0] >= 0.7  # RITA calls random arrivals a beacon ...
    assert not table.beacon[0]  # ... netdetect does not
    assert table.subscores["rita_ts"][1] == 1.0
    assert table.subscores["rita_ds"][1] == 1.0
    assert table.subscores["rita_hist"][1] == 1.0
    assert table.subscores["rita_dur"][1] == 1.0
    assert table.subscores["rita_score"][1] == 1.0
    assert table.beacon[1]


def test_rita_needs_four_distinct_seconds() -> None:
    ts = np.array([10.1, 10.2, 10.3, 500.0, 900.0])  # 3 distinct whole seconds
    table = score_groups(
        np.zeros(5, dtype=np.int64), ts, np.full(5, 100), np.zeros(5), np.zeros(5), 1, window=(0.0, 3600.0)
    )
    for name in ("rita_ts", "rita_ds", "rita_hist", "rita_dur", "rita_score"):
        assert table.subscores[name][0] == 0.0
