"""netdetect's beacon scoring on hand-made series with known answers."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netdetect.scoring import DEFAULT_THRESHOLD, MIN_EVENTS, ScoreTable, interval_histogram, score_groups
from netdetect.scoring import segments as seg
from netdetect.testing.series import MONDAY_0000_UTC, beacon, browsing, poisson

DAY = 86_400.0
T0 = MONDAY_0000_UTC


def _score(
    series: list[np.ndarray], window: tuple[float, float], sizes: list[np.ndarray] | None = None
) -> ScoreTable:
    ts = np.concatenate(series)
    group = np.repeat(np.arange(len(series)), [s.size for s in series])
    out = np.concatenate(sizes) if sizes is not None else np.full(ts.size, 600)
    return score_groups(group, ts, out, np.full(ts.size, 4000), np.ones(ts.size), len(series), window=window)


def test_exact_period() -> None:
    ts = T0 + 17.0 + 60.0 * np.arange(360)  # every minute for 6 hours
    table = _score([ts], (T0, T0 + 6 * 3600))
    assert table.beacon[0]
    assert table.score[0] > 0.99
    assert table.period_s[0] == pytest.approx(60.0, rel=1e-3)
    assert table.jitter[0] < 0.01
    assert table.missed_share[0] == 0.0
    assert table.connections[0] == 360
    assert table.first_seen[0] == ts[0] and table.last_seen[0] == ts[-1]


@pytest.mark.parametrize("seed", range(5))
def test_uniform_jitter_fifty_percent(seed: int) -> None:
    rng = np.random.default_rng(seed)
    series, truth = beacon(rng, (T0, T0 + DAY), 300.0, kind="uniform", jitter=0.5)
    table = _score([series.ts], (T0, T0 + DAY))
    assert truth == 300.0
    assert table.beacon[0]
    assert table.period_s[0] == pytest.approx(300.0, rel=0.1)
    assert 0.35 <= table.jitter[0] <= 0.65  # uniform ±50% reads about 0.5


@pytest.mark.parametrize("seed", range(5))
def test_sleep_minus_fifty_percent(seed: int) -> None:
    """Cobalt Strike style: sleep 120 s minus up to 50%, so check-ins come every 90 s on average."""
    rng = np.random.default_rng(seed)
    series, truth = beacon(rng, (T0, T0 + 6 * 3600), 120.0, kind="sleep_minus", jitter=0.5)
    table = _score([series.ts], (T0, T0 + 6 * 3600))
    assert truth == 90.0
    assert table.beacon[0]
    assert table.period_s[0] == pytest.approx(90.0, rel=0.1)


def test_missed_beats_are_multiples_of_the_period() -> None:
    rng = np.random.default_rng(11)
    beats = T0 + 120.0 * np.arange(720)  # one day at 2 minutes
    kept = beats[rng.random(beats.size) >= 0.3]
    table = _score([kept], (T0, T0 + DAY))
    assert table.beacon[0]
    assert table.period_s[0] == pytest.approx(120.0, rel=0.01)
    assert 0.22 <= table.missed_share[0] <= 0.38


def test_mostly_missed_beats_still_give_the_true_period() -> None:
    """Most intervals are 2 or 3 periods: the median lies at 2 periods, the estimate must not."""
    pattern = np.array([1, 2, 2, 3, 2, 1, 2, 2, 3, 2, 2, 1])
    gaps = np.tile(pattern, 8) * 50.0
    ts = T0 + np.concatenate([[0.0], np.cumsum(gaps)])
    table = _score([ts], (T0, T0 + gaps.sum() + 60))
    assert table.beacon[0]
    assert table.period_s[0] == pytest.approx(50.0, rel=0.02)
    assert table.missed_share[0] == pytest.approx(1 - ts.size / (gaps.sum() / 50 + 1), abs=0.02)


def test_office_hours_only() -> None:
    rng = np.random.default_rng(5)
    window = (T0, T0 + 5 * DAY)
    series, _ = beacon(rng, window, 600.0, kind="uniform", jitter=0.2, office_hours=True)
    table = _score([series.ts], window)
    assert table.beacon[0]
    assert table.period_s[0] == pytest.approx(600.0, rel=0.1)
    assert table.missed_share[0] < 0.05  # nights are outages, not missed beats


def test_several_connections_per_check_in_are_one_check_in() -> None:
    ts = T0 + 300.0 * np.arange(100)
    both = np.sort(np.concatenate([ts, ts + 0.4]))
    table = _score([both], (T0, T0 + 100 * 300.0))
    assert table.beacon[0]
    assert table.connections[0] == 200
    assert table.subscores["events"][0] == 100
    assert table.period_s[0] == pytest.approx(300.0, rel=1e-3)


@pytest.mark.parametrize("count", [10, 40, 400, 4000])
def test_poisson_arrivals_are_not_beacons(count: int) -> None:
    rng = np.random.default_rng(count)
    series = [poisson(rng, (T0, T0 + DAY), count / DAY, False) for _ in range(20)]
    table = _score(series, (T0, T0 + DAY))
    assert not table.beacon.any()
    assert table.score.max() < 0.2
    if count >= 400:  # many random arrivals: overwhelming evidence against check-ins
        assert table.subscores["evidence"].max() < -20


def test_busy_random_traffic_is_not_made_regular_by_merging() -> None:
    rng = np.random.default_rng(2)
    series = [poisson(rng, (T0, T0 + 3600), rate, False) for rate in (0.3, 0.8, 1.5, 3.0)]
    table = _score(series, (T0, T0 + 3600))
    assert not table.beacon.any()


def test_browsing_sessions_are_not_beacons() -> None:
    rng = np.random.default_rng(9)
    series = [browsing(rng, (T0, T0 + 3 * DAY), long_window=True) for _ in range(20)]
    table = _score(series, (T0, T0 + 3 * DAY))
    assert not table.beacon.any()


def test_short_regular_burst_is_not_a_beacon() -> None:
    """A retry every 10 s for 10 minutes is perfectly regular, but lasts minutes, not hours."""
    ts = T0 + 5000.0 + 10.0 * np.arange(60)
    table = _score([ts], (T0, T0 + DAY))
    assert table.subscores["regularity"][0] > 0.95
    assert table.subscores["span"][0] == 0.0
    assert not table.beacon[0]


def test_too_few_check_ins_score_zero() -> None:
    ts = T0 + 3600.0 * np.arange(MIN_EVENTS - 1)
    table = _score([ts], (T0, T0 + DAY))
    assert table.score[0] == 0.0
    assert not table.beacon[0]
    assert table.period_s[0] == pytest.approx(3600.0)


def _short(times: np.ndarray, window: tuple[float, float], sizes: np.ndarray | None = None) -> ScoreTable:
    return _score([times], window, None if sizes is None else [sizes])


def test_few_exact_check_ins_filling_a_short_capture_score() -> None:
    window = (T0, T0 + 300.0)
    for count, period in ((4, 75.0), (5, 60.0)):
        ts = T0 + 8.0 + period * np.arange(count)
        table = _short(ts, window)
        assert table.beacon[0], count
        assert table.period_s[0] == pytest.approx(period)
    three = _short(T0 + 8.0 + 100.0 * np.arange(3), window)
    assert three.score[0] == 0.0  # one pair of intervals: chance


def test_few_check_ins_need_every_requirement() -> None:
    window = (T0, T0 + 300.0)
    ts = T0 + 8.0 + 60.0 * np.arange(5)
    rng = np.random.default_rng(9)
    assert _short(ts, window).beacon[0]
    assert _short(ts, window, rng.integers(200, 5000, 5)).score[0] == 0.0  # sizes vary
    assert _short(ts, (T0, T0 + 3600.0)).score[0] == 0.0  # silent for most of the capture
    assert _short(T0 + 100.0 + 10.0 * np.arange(5), window).score[0] == 0.0  # a retry burst
    # two interval pairs within ±2% of each other: random arrivals do that too often
    loose = T0 + 8.0 + np.cumsum([0.0, 75.0, 76.5, 74.2])
    assert _short(loose, window).score[0] == 0.0
    assert _short(T0 + 8.0 + np.cumsum([0.0, 75.0, 75.1, 74.9]), window).beacon[0]


@pytest.mark.parametrize("seed", range(3))
def test_uniform_random_sleeps_with_machine_sizes(seed: int) -> None:
    rng = np.random.default_rng(seed)
    window = (T0, T0 + 3600.0)
    empire = T0 + np.cumsum(rng.uniform(0.0, 15.0, 600))
    empire = empire[empire < window[1]]
    same = np.full(empire.size, 812)
    table = _score([empire], window, [same])
    assert table.beacon[0]
    assert table.period_s[0] == pytest.approx(7.5, rel=0.15)  # the mean sleep
    # uniform 0..2 x mean would read 1.0; sleeps under the 1 s merge gap join the next one
    assert 0.7 <= table.jitter[0] <= 1.1
    assert table.subscores["bounded_test"][0] > 30
    # the same timing with varied sizes carries nothing
    assert not _score([empire], window, [rng.integers(200, 5000, empire.size)]).beacon[0]


def test_server_sizes_are_read_from_the_scored_rows() -> None:
    rng = np.random.default_rng(2)
    sleeps = T0 + np.cumsum(rng.uniform(0.0, 15.0, 480))
    ts = np.r_[[np.nan] * 200, sleeps]  # unusable rows first: the server sizes must stay aligned
    n = ts.size
    replies = np.r_[[1e9] * 200, np.full(sleeps.size, 900.0)]
    table = score_groups(
        np.zeros(n, dtype=np.int64), ts, np.full(n, 500), replies, np.zeros(n), 1, window=(T0, T0 + 3600)
    )
    assert table.beacon[0]


@pytest.mark.parametrize("seed", range(3))
def test_constant_sizes_do_not_carry_random_or_human_timing(seed: int) -> None:
    rng = np.random.default_rng(seed)
    window = (T0, T0 + 3600.0)
    exponential = T0 + np.cumsum(rng.exponential(7.5, 600))  # same mean sleep as above, no bound
    pixel = browsing(rng, window, long_window=False)
    for ts in (exponential[exponential < window[1]], pixel):
        table = _score([ts], window, [np.full(ts.size, 812)])
        assert not table.beacon[0]
        assert table.subscores["bounded_test"][0] < 5


def test_constant_size_adds_evidence() -> None:
    rng = np.random.default_rng(4)
    series, _ = beacon(rng, (T0, T0 + 4 * 3600), 600.0, kind="uniform", jitter=0.5)
    n = series.ts.size
    same = _score([series.ts], (T0, T0 + 4 * 3600), [np.full(n, 700)])
    varied = _score([series.ts], (T0, T0 + 4 * 3600), [rng.integers(100, 50_000, n)])
    assert same.subscores["size_regularity"][0] == 1.0
    assert varied.subscores["size_regularity"][0] < 0.2
    assert same.subscores["evidence"][0] > varied.subscores["evidence"][0]


def test_groups_are_scored_independently_of_order_and_neighbours() -> None:
    rng = np.random.default_rng(8)
    window = (T0, T0 + DAY)
    series = [
        beacon(rng, window, 240.0, kind="uniform", jitter=0.3)[0].ts,
        poisson(rng, window, 0.01, False),
        browsing(rng, window, long_window=False),
        T0 + 900.0 * np.arange(90),
    ]
    together = _score(series, window)
    for i, ts in enumerate(series):
        alone = _score([ts], window)
        assert alone.score[0] == pytest.approx(together.score[i])
        assert alone.period_s[0] == pytest.approx(together.period_s[i], nan_ok=True)
        assert alone.subscores["rita_score"][0] == together.subscores["rita_score"][i]

    ts = np.concatenate(series)
    group = np.repeat(np.arange(4), [s.size for s in series])
    shuffle = rng.permutation(ts.size)
    n = ts.size
    shuffled = score_groups(
        group[shuffle], ts[shuffle], np.full(n, 600), np.zeros(n), np.zeros(n), 4, window=window
    )
    np.testing.assert_allclose(shuffled.score, together.score)
    np.testing.assert_array_equal(shuffled.beacon, together.beacon)


def test_empty_groups_and_bad_rows() -> None:
    ts = np.concatenate([T0 + 60.0 * np.arange(100), [np.nan, np.inf]])
    n = ts.size
    group = np.full(n, 1)
    table = score_groups(group, ts, np.full(n, -5), np.zeros(n), np.zeros(n), 3, window=(T0, T0 + 6000))
    assert len(table) == 3
    assert table.connections.tolist() == [0, 100, 0]
    assert np.isnan(table.first_seen[0]) and np.isnan(table.period_s[2])
    assert table.score[0] == 0.0 and table.score[2] == 0.0
    assert table.beacon[1]
    for values in table.subscores.values():
        assert values.shape == (3,)

    empty = score_groups(np.zeros(0, dtype=np.int64), np.zeros(0), np.zeros(0), np.zeros(0), np.zeros(0), 2)
    assert empty.score.tolist() == [0.0, 0.0]


def test_invalid_arguments() -> None:
    with pytest.raises(ValueError, match="shape"):
        score_groups(np.zeros(3, dtype=np.int64), np.zeros(2), np.zeros(3), np.zeros(3), np.zeros(3), 1)
    with pytest.raises(ValueError, match="group indices"):
        score_groups(np.array([0, 5]), np.zeros(2), np.zeros(2), np.zeros(2), np.zeros(2), 2)


def test_threshold_sets_the_verdict() -> None:
    ts = T0 + 60.0 * np.arange(200)
    loose = score_groups(
        np.zeros(200, dtype=np.int64), ts, np.zeros(200), np.zeros(200), np.zeros(200), 1, threshold=0.0
    )
    strict = score_groups(
        np.zeros(200, dtype=np.int64), ts, np.zeros(200), np.zeros(200), np.zeros(200), 1, threshold=1.01
    )
    assert loose.beacon[0] and not strict.beacon[0]
    assert 0.0 < DEFAULT_THRESHOLD < 1.0


def test_interval_histogram_shows_period_and_missed_beats() -> None:
    ts = T0 + 60.0 * np.array([0, 1, 2, 3, 5, 6, 7, 9, 10])  # two missed beats
    counts, edges = interval_histogram(ts, 60.0, bins=6)
    assert len(edges) == 7 and edges[0] == 0.0 and edges[-1] == pytest.approx(180.0)
    assert counts == [0, 0, 6, 0, 2, 0]  # 60 s in [60, 90), 120 s in [120, 150)
    both = np.sort(np.concatenate([ts, ts + 0.3]))  # companions within the merge gap are one check-in
    assert interval_histogram(both, 60.0, bins=6)[0] == counts


def test_interval_histogram_without_period() -> None:
    counts, edges = interval_histogram(np.array([0.0, 10.0, 30.0, 70.0]), None, bins=4)
    assert edges == pytest.approx([0.0, 10.0, 20.0, 30.0, 40.0])
    assert counts == [0, 1, 1, 1]
    assert interval_histogram(np.array([5.0]), None, bins=3) == (
        [0, 0, 0],
        pytest.approx([0, 1 / 3, 2 / 3, 1]),
    )
    with pytest.raises(ValueError):
        interval_histogram(np.array([0.0, 1.0]), 1.0, bins=0)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 3),
            st.one_of(st.floats(-1e12, 1e12), st.sampled_from([0.0, 1.0, 1.5, np.nan, np.inf, -np.inf])),
            st.integers(-10, 10**9),
        ),
        max_size=60,
    )
)
def test_hostile_rows_never_crash(rows: list[tuple[int, float, int]]) -> None:
    group = np.array([r[0] for r in rows], dtype=np.int64)
    ts = np.array([r[1] for r in rows], dtype=np.float64)
    size = np.array([r[2] for r in rows], dtype=np.int64)
    n = group.size
    table = score_groups(group, ts, size, size, np.zeros(n), 4)
    assert len(table) == 4
    assert ((table.score >= 0) & (table.score <= 1)).all()
    for name in ("rita_ts", "rita_ds", "rita_hist", "rita_dur", "rita_score"):
        values = table.subscores[name]
        assert ((values >= 0) & (values <= 1)).all(), name
    assert table.connections.sum() == np.isfinite(ts).sum()


def test_identical_timestamps_and_zero_window() -> None:
    ts = np.full(50, T0)
    table = score_groups(np.zeros(50, dtype=np.int64), ts, np.full(50, 9), np.zeros(50), np.zeros(50), 1)
    assert table.score[0] == 0.0 and table.subscores["events"][0] == 1
    assert table.subscores["rita_score"][0] == 0.0


def test_segment_helpers_match_numpy() -> None:
    rng = np.random.default_rng(0)
    group = rng.integers(0, 7, 200)
    value = rng.normal(0, 100, 200)
    value[:5] = np.nan  # nan sorts last within its group
    order = seg.sort_within_groups(group, value, 8)
    g, v = group[order], value[order]
    assert (np.diff(g) >= 0).all()
    starts, counts = seg.bounds(g, 8)
    assert counts[7] == 0 and np.isnan(seg.median(v, starts, counts)[7])
    for i in range(7):
        finite = np.sort(value[(group == i) & np.isfinite(value)])
        part = v[starts[i] : starts[i] + counts[i]]
        assert np.array_equal(part[: finite.size], finite)
        only = np.zeros(8, dtype=np.int64)
        only[i] = finite.size  # the finite part of group i's segment
        assert seg.median(v, starts, only)[i] == pytest.approx(np.median(finite))
        assert seg.quantile(v, starts, only, 0.1)[i] == pytest.approx(np.quantile(finite, 0.1))
        assert seg.quantile(v, starts, only, 0.9)[i] == pytest.approx(np.quantile(finite, 0.9))
