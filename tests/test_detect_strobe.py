"""The strobe detector on hand-made connection tables: floods, scaling to covered time, look-alikes."""

from __future__ import annotations

import numpy as np
import pytest
from _tables import conn_rows, context, tls_events

from netdetect.detectors.base import DETECTORS
from netdetect.detectors.strobe import MIN_CONNECTIONS, PORT_TABLE_ROWS, StrobeDetector
from netdetect.errors import UsageError
from netdetect.scoring.segments import reduce_by_group

T0 = 1_700_000_000.0
CLIENT, SERVER = "10.0.0.5", "198.51.100.7"


def _spread(n: int, seconds: float, seed: int = 1) -> np.ndarray:
    return T0 + np.sort(np.random.default_rng(seed).uniform(0, seconds, n))


def test_a_flood_is_a_strobe_with_its_rate_and_threshold():
    flood = conn_rows(_spread(48_211, 7200.0), CLIENT, SERVER)
    quiet = conn_rows(T0 + np.arange(0, 7200, 60.0), "10.0.0.6", "198.51.100.8")
    ctx = context([flood, quiet])
    found = StrobeDetector().run(ctx)
    assert len(found) == 1 and found.detector == found.kind == "strobe"
    assert (
        ctx.groups.client(int(found.groups[0])) == CLIENT
        and ctx.groups.server(int(found.groups[0])) == SERVER
    )
    assert found.score[0] == 1.0
    row = found.evidence_row(0)
    assert row["connections"] == 48_211 and row["server_ports"] == 1 and row["unanswered_share"] == 0.0
    assert row["client_ports"] == 40_000  # the table's ports cycle through 40,000 values
    assert row["threshold_per_hour"] == pytest.approx(3600.0) and row["per_hour"] == pytest.approx(
        24_106, abs=5
    )
    assert row["basis"] == "group" and row["supersedes_beacon"] is True
    assert (
        found.why[0].startswith("48,211 connections in 2h00m (24,10") and "threshold 3,600/h" in found.why[0]
    )


@pytest.mark.parametrize(("share", "score"), [(0.4, None), (0.75, 0.25), (1.0, 0.5), (1.5, 0.75), (3.0, 1.0)])
def test_the_score_ramps_around_the_threshold(share, score):
    span = 4 * 3600.0  # 4 h at the default one a second: 14,400 connections is the threshold
    n = int(round(share * 14_400))
    times = np.r_[T0, np.sort(np.random.default_rng(2).uniform(T0, T0 + span, n - 2)), T0 + span]
    found = StrobeDetector().run(context([conn_rows(times, CLIENT, SERVER)]))
    if score is None:
        assert len(found) == 0
    else:
        assert found.score.tolist() == pytest.approx([score], abs=0.01)
        assert found.evidence["supersedes_beacon"][0] == (score >= 0.5)


def test_a_short_capture_needs_the_floor_not_the_scaled_rate():
    # 5 minutes at one a second would be 300 connections: a page load's burst, not a flood.
    burst = conn_rows(_spread(900, 300.0), CLIENT, SERVER)
    assert len(StrobeDetector().run(context([burst]))) == 1  # 900 of 1,000: ramping, under threshold
    assert StrobeDetector().run(context([burst])).score[0] < 0.5
    flood = conn_rows(_spread(2 * MIN_CONNECTIONS, 300.0), CLIENT, SERVER)
    found = StrobeDetector().run(context([flood]))
    assert found.score.tolist() == [1.0] and found.evidence["threshold"][0] == MIN_CONNECTIONS


def test_the_rate_counts_covered_time_not_the_wall_clock():
    # Two one-hour captures a day apart, 5,000 connections in each: 10,000 in 2 covered hours is
    # a strobe (threshold 7,200); over the 24 h of wall clock it would not be (86,400).
    first = conn_rows(_spread(5000, 3600.0, seed=3), CLIENT, SERVER)
    second = conn_rows(_spread(5000, 3600.0, seed=4) + 23 * 3600.0, CLIENT, SERVER)
    spans = [(T0, T0 + 3600.0), (T0 + 23 * 3600.0, T0 + 24 * 3600.0)]
    found = StrobeDetector().run(context([first, second], window=(T0, T0 + 24 * 3600.0), spans=spans))
    assert len(found) == 1 and found.score[0] > 0.5
    assert found.evidence["span_s"][0] == pytest.approx(7200.0, abs=5.0)
    one_span = context([first, second], window=(T0, T0 + 24 * 3600.0))
    assert len(StrobeDetector().run(one_span)) == 0


def test_per_day_and_the_floor_are_settings():
    rows = conn_rows(_spread(3000, 3600.0), CLIENT, SERVER)  # 3,000/h, under RITA's 3,600/h
    assert len(StrobeDetector().run(context([rows]))) == 1  # 0.83 of the threshold: a low score
    assert StrobeDetector().run(context([rows])).score[0] < 0.5
    stricter = context([rows], settings={"strobe": {"per_day": 24 * 1000}})
    assert StrobeDetector().run(stricter).score.tolist() == [1.0]
    higher_floor = context([rows], settings={"strobe": {"per_day": 24 * 1000, "min_connections": 10_000}})
    assert len(StrobeDetector().run(higher_floor)) == 0
    for bad in (0, -5, "many", float("nan"), None):
        with pytest.raises(UsageError):
            StrobeDetector().run(context([rows], settings={"strobe": {"per_day": bad}}))


def test_a_flood_to_one_address_under_many_names_is_found_on_the_address():
    # SNI rotation splits the flood into name groups, each well under the floor; RITA's unit, the
    # (client, address) pair, still holds all of it.
    rows = conn_rows(_spread(3000, 600.0), CLIENT, SERVER)
    tls = []
    for k in range(10):
        tls += tls_events(rows[k::10], ja3_hash="j", sni=f"n{k}.example.com")
    ctx = context([rows], tls=tls)
    assert len(ctx.groups) == 10
    found = StrobeDetector().run(ctx)
    assert len(found) == 1 and found.score[0] == 1.0
    assert found.evidence["basis"] == ["address"] and found.evidence["connections"][0] == 3000
    assert ctx.groups.client(int(found.groups[0])) == CLIENT


def test_a_port_scan_is_reported_as_scan_like_and_a_syn_flood_as_unanswered():
    scan = conn_rows(_spread(2000, 60.0), CLIENT, SERVER, server_port=np.arange(1, 2001), answered=False)
    found = StrobeDetector().run(context([scan]))
    row = found.evidence_row(0)
    assert row["server_ports"] == 2000 and row["unanswered_share"] == 1.0
    assert "to 2,000 ports" in found.why[0] and "100% unanswered" in found.why[0]


def test_look_alikes_stay_quiet():
    # A busy browser to a CDN name: thousands of connections, but hours of them (375/h).
    busy = conn_rows(_spread(3000, 8 * 3600.0), CLIENT, [f"203.0.113.{i % 50 + 1}" for i in range(3000)])
    tls = tls_events(busy, ja3_hash="chrome", sni="cdn.example.net")
    # A beacon every 5 s for hours: periodic, not a flood.
    beacon = conn_rows(T0 + np.arange(0, 4 * 3600.0, 5.0), "10.0.0.9", "192.0.2.10")
    # Random-source SYNs to one outside address: many pairs of one connection each.
    rng = np.random.default_rng(5)
    spoofed = np.concatenate(
        [
            conn_rows(
                [T0 + rng.uniform(0, 600)],
                f"10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}",
                SERVER,
                answered=False,
            )
            for i in range(2000)
        ]
    )
    ctx = context([busy, beacon, spoofed], tls=tls)
    assert len(StrobeDetector().run(ctx)) == 0


def test_hostile_times_and_empty_tables_do_not_crash():
    rows = conn_rows(_spread(3000, 300.0), CLIENT, SERVER)
    rows["ts"][:500] = np.nan
    rows["ts"][500:600] = np.inf
    found = StrobeDetector().run(context([rows], window=(T0, T0 + 300.0)))
    assert found.evidence["connections"].tolist() == [2400]
    assert len(StrobeDetector().run(context([], window=(T0, T0 + 10.0)))) == 0


def test_registered_in_run_order():
    assert DETECTORS.get("strobe") is StrobeDetector
    names = DETECTORS.names()
    assert names.index("beacon") < names.index("strobe") < names.index("rotating")


def test_reduce_by_group_matches_ufunc_at():
    rng = np.random.default_rng(6)
    group = rng.integers(0, 50, 2000)
    values = rng.normal(size=2000)
    low, high = reduce_by_group(values, group, 60, (np.minimum, np.maximum), np.nan)
    expected_low, expected_high = np.full(60, np.inf), np.full(60, -np.inf)
    np.minimum.at(expected_low, group, values)
    np.maximum.at(expected_high, group, values)
    seen = np.bincount(group, minlength=60) > 0
    assert np.array_equal(low[seen], expected_low[seen]) and np.array_equal(high[seen], expected_high[seen])
    assert np.isnan(low[~seen]).all() and (~seen).sum() == 10


def test_many_strobes_count_their_ports_like_a_few():
    # Past PORT_TABLE_ROWS reported rows the distinct ports are counted by sorting instead.
    floods = [
        conn_rows(
            _spread(2100, 60.0, seed=k),
            f"10.0.1.{k + 1}",
            SERVER,
            server_port=80 + k % 3 + np.arange(2100) % 2,
        )
        for k in range(PORT_TABLE_ROWS + 6)
    ]
    found = StrobeDetector().run(context(floods))
    assert len(found) == PORT_TABLE_ROWS + 6
    assert (found.evidence["client_ports"] == 2100).all() and (found.evidence["server_ports"] == 2).all()
    few = StrobeDetector().run(context(floods[:3]))
    assert (few.evidence["client_ports"] == 2100).all() and (few.evidence["server_ports"] == 2).all()
