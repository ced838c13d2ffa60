"""Per-group observation spans: a group's scores depend only on the captures its connections are in."""

from __future__ import annotations

import numpy as np
import pytest

from netdetect.addr import from_text, to_text
from netdetect.analysis.context import AnalysisOptions, build_context
from netdetect.model import CONN_DTYPE
from netdetect.scoring import ScoreTable, score_groups
from netdetect.scoring.coverage import as_coverage, group_coverage
from netdetect.scoring.rita import rita_scores
from netdetect.tables.connections import sort_connections
from netdetect.tables.events import EventSet
from netdetect.tables.extraction import Extraction
from netdetect.testing.series import MONDAY_0000_UTC, beacon, browsing, poisson

T0 = MONDAY_0000_UTC
RAT = (T0 + 70 * 86_400.0, T0 + 70 * 86_400.0 + 300.0)  # a 5-minute incident capture
OLD = (T0, T0 + 86_400.0)  # an unrelated day-long capture two months earlier


def _groups(rng: np.random.Generator, window: tuple[float, float], short: bool) -> list[np.ndarray]:
    check_ins = beacon(rng, window, 20.0 if short else 300.0, kind="uniform", jitter=0.1)[0].ts
    return [
        check_ins,
        poisson(rng, window, 0.05, False),
        browsing(rng, window, long_window=False),
        window[0] + 2.0 + 5.0 * np.arange(8),  # a short regular burst
    ]


def _table(series: list[np.ndarray], **kw: object) -> ScoreTable:
    ts = np.concatenate(series)
    group = np.repeat(np.arange(len(series)), [s.size for s in series])
    sizes = np.full(ts.size, 420)
    return score_groups(group, ts, sizes, sizes * 3, np.ones(ts.size), len(series), **kw)  # type: ignore[arg-type]


def _assert_same_rows(a: ScoreTable, rows_a: slice, b: ScoreTable, rows_b: slice) -> None:
    for name in ("score", "beacon", "period_s", "jitter", "missed_share", "connections", "first_seen"):
        np.testing.assert_array_equal(getattr(a, name)[rows_a], getattr(b, name)[rows_b], err_msg=name)
    assert a.subscores.keys() == b.subscores.keys()
    for name in a.subscores:
        np.testing.assert_array_equal(a.subscores[name][rows_a], b.subscores[name][rows_b], err_msg=name)


def test_unrelated_capture_changes_nothing_in_a_groups_scores() -> None:
    rng = np.random.default_rng(11)
    rat = _groups(rng, RAT, short=True)
    old = _groups(rng, OLD, short=False)
    alone = _table(rat, window=RAT)
    together = _table(old + rat, coverage=np.array([OLD, RAT]))
    _assert_same_rows(alone, slice(0, 4), together, slice(4, 8))
    assert together.beacon[4]  # the RAT's check-ins, found in the combined scan too
    assert together.beacon[0]  # and the old capture's own beacon
    # One window over both captures (the old behaviour) loses the short capture's beacon.
    assert not _table(old + rat, window=(OLD[0], RAT[1])).beacon[4]


def test_short_capture_alone_scores_as_with_its_window() -> None:
    rng = np.random.default_rng(12)
    rat = _groups(rng, RAT, short=True)
    by_window = _table(rat, window=RAT)
    _assert_same_rows(by_window, slice(None), _table(rat, coverage=[RAT]), slice(None))
    assert by_window.beacon.tolist() == [True, False, False, False]


def test_a_group_in_two_captures_is_measured_on_each_and_not_the_gap() -> None:
    first = T0 + 10.0 + 60.0 * np.arange(30)  # 30 minutes in each capture
    second = first + 40 * 86_400.0
    spans = np.array([[T0, T0 + 1800.0], [T0 + 40 * 86_400.0, T0 + 40 * 86_400.0 + 1800.0]])
    cov = group_coverage(np.zeros(60, dtype=np.int64), np.r_[first, second], 1, spans)
    assert cov.longest_s[0] == 1800.0
    assert (cov.first[0], cov.last[0]) == (spans[0, 0], spans[1, 1])
    table = _table([np.r_[first, second]], coverage=spans)
    assert table.beacon[0] and table.period_s[0] == pytest.approx(60.0)


def test_group_coverage_assigns_gap_rows_to_the_capture_before() -> None:
    spans = np.array([[0.0, 100.0], [1000.0, 1200.0], [5000.0, 5050.0]])
    group = np.array([0, 0, 1, 1, 3])
    ts = np.array([50.0, 500.0, -20.0, 1050.0, 9000.0])  # gap, before everything, after everything
    cov = group_coverage(group, ts, 4, spans)
    assert cov.longest_s.tolist() == [100.0, 200.0, 0.0, 50.0]
    assert cov.first[1] == 0.0 and cov.last[1] == 1200.0
    assert np.isnan(cov.first[2]) and np.isnan(cov.last[2])


def test_rita_per_group_windows_equal_one_window_each() -> None:
    rng = np.random.default_rng(3)
    windows = [(T0, T0 + 6 * 3600.0), (T0 + 9 * 86_400.0, T0 + 12 * 86_400.0)]
    series = [np.sort(rng.uniform(*w, 400)) for w in windows]
    series[1][::2] = windows[1][0] + 3600.0 * np.arange(200) + rng.normal(0, 30, 200)
    series = [np.sort(s) for s in series]
    sizes = [rng.integers(300, 320, s.size).astype(np.float64) for s in series]
    group = np.repeat([0, 1], [s.size for s in series])
    both = rita_scores(
        group, np.concatenate(series), np.concatenate(sizes), 2, tuple(np.array(windows).T)
    ).as_dict()
    for i, w in enumerate(windows):
        one = rita_scores(np.zeros(series[i].size, dtype=np.int64), series[i], sizes[i], 1, w).as_dict()
        for name, values in one.items():
            assert both[name][i] == values[0], name


@pytest.mark.parametrize(
    "coverage",
    [
        np.zeros((0, 2)),
        [[RAT[1], RAT[1] + 50], [RAT[0], RAT[1]], [np.nan, 5.0], [RAT[0] + 10, RAT[0] + 20]],
        [[RAT[1], RAT[0]]],  # backwards: dropped, as if no coverage were known
        [[-np.inf, np.inf]],
        [[RAT[0] - 1e7, RAT[0] - 1e6]],  # every connection after the only interval: RITA keeps none
    ],
)
def test_hostile_coverage_never_crashes(coverage: object) -> None:
    rng = np.random.default_rng(5)
    table = _table(_groups(rng, RAT, short=True), coverage=coverage)
    assert np.isfinite(table.score).all() and ((table.score >= 0) & (table.score <= 1)).all()


def test_no_rows_with_several_captures() -> None:
    empty = np.zeros(0)
    table = score_groups(empty.astype(np.int64), empty, empty, empty, empty, 2, coverage=[OLD, RAT])
    assert table.score.tolist() == [0.0, 0.0]


def test_as_coverage_merges_and_rejects_bad_shapes() -> None:
    merged = as_coverage([[10.0, 20.0], [0.0, 5.0], [15.0, 30.0], [np.nan, 1.0]])
    assert merged.tolist() == [[0.0, 5.0], [10.0, 30.0]]
    with pytest.raises(ValueError, match="shape"):
        as_coverage(np.zeros((3, 3)))


def _capture(start: float, hours: float, period: float, client: str, rng: np.random.Generator) -> Extraction:
    """Connections of one capture: `client` checking in with 198.51.100.7 and browsing elsewhere."""
    beacon_ts = start + 3.0 + np.arange(0.0, hours * 3600.0 - 5.0, period) + rng.normal(0, 0.2)
    other_ts = np.sort(rng.uniform(start, start + hours * 3600.0, 40))
    rows = np.zeros(beacon_ts.size + other_ts.size, CONN_DTYPE)
    rows["ts"] = np.r_[beacon_ts, other_ts]
    rows["end_ts"] = rows["ts"] + 0.3
    rows["client"] = from_text(client)
    servers = ["198.51.100.7"] * beacon_ts.size + [f"203.0.113.{i % 9 + 1}" for i in range(other_ts.size)]
    rows["server"] = [from_text(s) for s in servers]
    rows["server_port"], rows["proto"] = 443, 6
    rows["bytes_out"], rows["bytes_in"] = 517, 2300
    end = start + hours * 3600.0
    return Extraction(sort_connections(rows), EventSet(), first_ts=start, last_ts=end, spans=[(start, end)])


def _findings(ex: Extraction, client: str) -> dict[str, tuple[float, ...]]:
    """Scores of `client`'s groups as the beacon detector will make them: context groups, its coverage."""
    ctx = build_context(ex, AnalysisOptions())
    c = ctx.conns
    table = score_groups(
        ctx.groups.index,
        c["ts"],
        c["bytes_out"],
        c["bytes_in"],
        c["end_ts"] - c["ts"],
        len(ctx.groups),
        coverage=ctx.coverage,
    )
    out = {}
    for g in range(len(ctx.groups)):
        row = int(np.flatnonzero(ctx.groups.index == g)[0])
        if to_text(c["client"][row]) == client:
            sub = table.row_subscores(g)
            out[to_text(c["server"][row])] = (float(table.score[g]), float(table.period_s[g]), *sub.values())
    return out


def test_one_capture_alone_and_with_another_months_capture_gives_the_same_finding() -> None:
    rng = np.random.default_rng(21)
    rat = _capture(RAT[0], 300 / 3600, 20.0, "10.0.0.5", rng)
    old = _capture(OLD[0], 24.0, 600.0, "10.0.0.9", rng)
    alone = _findings(rat, "10.0.0.5")
    together = _findings(Extraction.merge([old, rat]), "10.0.0.5")
    assert len(alone) == 10
    np.testing.assert_equal(alone, together)
    score, period = alone["198.51.100.7"][:2]
    assert score >= 0.5 and period == pytest.approx(20.0, rel=0.05)
    assert _findings(Extraction.merge([old, rat]), "10.0.0.9")["198.51.100.7"][0] >= 0.5
