"""The heartbeat and long_connection detectors on hand-made connection and mark tables."""

from __future__ import annotations

import numpy as np
import pytest

from netdetect.analysis.context import AnalysisOptions, build_context
from netdetect.detectors.base import DETECTORS, Detections
from netdetect.detectors.heartbeat import HeartbeatDetector
from netdetect.detectors.long_connection import LongConnectionDetector
from netdetect.model import CONN_DTYPE
from netdetect.tables import EventSet, addr16
from netdetect.tables.extraction import Extraction
from netdetect.tables.marks import MARK_DTYPE

T0 = 1_700_000_000.0


class Tables:
    """Connections (each with a uid) and their marks, built up one connection at a time."""

    def __init__(self) -> None:
        self.conns: list[tuple] = []
        self.marks: list[tuple[int, float, bool]] = []

    def conn(
        self,
        client: str,
        server: str,
        start: float,
        end: float,
        *,
        client_marks: np.ndarray | list[float] = (),
        server_marks: np.ndarray | list[float] = (),
        bytes_out: int = 5_000,
        bytes_in: int = 9_000,
        port: int = 443,
    ) -> int:
        uid = 1000 + len(self.conns)
        self.conns.append((T0 + start, T0 + end, client, server, port, bytes_out, bytes_in, uid))
        self.marks += [(uid, T0 + t, False) for t in client_marks]
        self.marks += [(uid, T0 + t, True) for t in server_marks]
        return uid

    def extraction(self, spans: list[tuple[float, float]] | None = None) -> Extraction:
        conns = np.zeros(len(self.conns), CONN_DTYPE)
        for i, (ts, end, client, server, port, b_out, b_in, uid) in enumerate(self.conns):
            conns[i] = (
                ts,
                end,
                addr16(client),
                addr16(server),
                50_000 + i,
                port,
                6,
                b_out,
                b_in,
                10,
                10,
                uid,
            )
        conns = conns[np.argsort(conns["ts"], kind="stable")]
        marks = np.array(self.marks, MARK_DTYPE)
        first, last = float(conns["ts"].min()), float(conns["end_ts"].max())
        spans = [(T0 + a, T0 + b) for a, b in spans] if spans else [(first, last)]
        return Extraction(conns, EventSet(), first_ts=first, last_ts=last, spans=spans, marks=marks)


def pings(
    period: float, duration: float, jitter: float = 0.02, start: float = 1.0, seed: int = 1
) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = int((duration - start) // period)
    return start + np.arange(n) * period + rng.uniform(-jitter, jitter, n) * period


def irregular(duration: float, mean_gap: float, seed: int, sigma: float = 1.2) -> np.ndarray:
    """Bursty, human or media-like activity: log-normal gaps above the mark gap."""
    rng = np.random.default_rng(seed)
    gaps = 1.05 + rng.lognormal(np.log(mean_gap), sigma, int(4 * duration / mean_gap))
    times = 1.0 + np.cumsum(gaps)
    return times[times < duration]


def run(tables: Tables, spans=None, **settings) -> tuple[Detections, Detections, object]:
    options = AnalysisOptions(settings={"long_connection": settings} if settings else {})
    ctx = build_context(tables.extraction(spans), options)
    hb = HeartbeatDetector().run(ctx)
    ctx.results["heartbeat"] = hb
    return hb, LongConnectionDetector().run(ctx), ctx


def row_of(det: Detections, ctx, client: str) -> int | None:
    assert det.groups is not None
    rows = [i for i, g in enumerate(det.groups) if ctx.groups.client(int(g)) == client]
    assert len(rows) <= 1
    return rows[0] if rows else None


def test_both_detectors_are_registered_after_beacon():
    names = DETECTORS.names()
    assert names.index("beacon") < names.index("heartbeat") < names.index("long_connection")


def test_a_five_minute_rat_with_a_five_second_ping_scores():
    t = Tables()
    t.conn("10.0.0.5", "203.0.113.10", 0, 300, client_marks=pings(5.0, 300), server_marks=[0.5])
    hb, _, ctx = run(t)
    (row,) = range(len(hb))
    assert hb.score[row] >= 0.5
    ev = hb.evidence_row(row)
    assert ev["side"] == "client" and abs(ev["period_s"] - 5.0) < 0.05 and ev["jitter"] < 0.05
    assert ev["marks"] == len(pings(5.0, 300)) and ev["connection_s"] == 300 and ev["open_at_end"]
    assert ev["bytes_out"] == 5_000 and ev["bytes_in"] == 9_000
    assert hb.why is not None and "client pings every 5.0s jitter 0.0" in hb.why[row]


def test_a_server_pushing_on_a_schedule_counts_as_the_server_side():
    t = Tables()
    t.conn(
        "10.0.0.5", "203.0.113.10", 0, 1800, client_marks=irregular(1800, 20, 3), server_marks=pings(30, 1800)
    )
    hb, _, _ = run(t)
    assert hb.score[0] >= 0.5 and hb.evidence["side"][0] == "server"
    assert abs(hb.evidence["period_s"][0] - 30) < 0.5


@pytest.mark.parametrize(
    "marks",
    [
        pytest.param(irregular(4 * 3600, 8, 11, sigma=1.0), id="media bursts"),
        pytest.param(irregular(1800, 3, 12, sigma=1.5), id="ssh typing"),
        pytest.param(np.r_[0.0, 1.0, 2.0, 3.0], id="bulk transfer (never idle)"),
        pytest.param(pings(5.0, 40), id="too few beats"),
    ],
)
def test_look_alikes_stay_quiet(marks):
    t = Tables()
    t.conn("10.0.0.6", "198.51.100.20", 0, 4 * 3600, client_marks=marks, server_marks=marks + 0.3)
    hb, _, _ = run(t)
    assert not (hb.score >= 0.5).any()


def test_a_short_regular_burst_in_a_long_connection_does_not_count():
    # Ten regular marks in the first minutes of a two-hour connection, then silence: not a heartbeat.
    t = Tables()
    t.conn("10.0.0.5", "203.0.113.10", 0, 7200, client_marks=pings(5.0, 60))
    hb, _, _ = run(t)
    assert len(hb) == 1 and hb.score[0] < 0.5


def test_each_group_reports_its_best_connection():
    t = Tables()
    t.conn("10.0.0.5", "203.0.113.10", 0, 3000, client_marks=irregular(3000, 10, 5))
    t.conn("10.0.0.5", "203.0.113.10", 3100, 6000, client_marks=3100 + pings(20, 2900))
    t.conn("10.0.0.9", "203.0.113.10", 0, 3000, client_marks=irregular(3000, 10, 6))
    hb, _, ctx = run(t)
    assert len(hb) == 2
    rat, other = row_of(hb, ctx, "10.0.0.5"), row_of(hb, ctx, "10.0.0.9")
    assert hb.score[rat] >= 0.5 and abs(hb.evidence["period_s"][rat] - 20) < 0.5
    assert hb.score[other] < 0.5


def test_marks_of_other_connections_and_hostile_values_do_no_harm():
    t = Tables()
    uid = t.conn("10.0.0.5", "203.0.113.10", 0, 300, client_marks=pings(5.0, 300))
    t.marks += [(uid, float("nan"), False), (uid, float("inf"), True), (12345, T0, False), (0, -1e300, True)]
    t.conn("10.0.0.7", "192.168.1.1", 0, 300, client_marks=pings(5.0, 300))  # internal server: not analysed
    hb, _, _ = run(t)
    assert len(hb) == 1 and hb.score[0] >= 0.5


def test_no_marks_no_rows():
    t = Tables()
    t.conn("10.0.0.5", "203.0.113.10", 0, 300)
    hb, lc, _ = run(t)
    assert len(hb) == 0 and len(lc) == 0


def test_a_long_connection_alone_is_context_below_the_threshold():
    t = Tables()
    t.conn(
        "10.0.0.6",
        "198.51.100.20",
        0,
        14 * 3600,
        client_marks=irregular(14 * 3600, 30, 8),
        bytes_in=9_000_000_000,
    )
    t.conn("10.0.0.6", "198.51.100.20", 100, 1900)  # 30 min: not long
    t.conn("10.0.0.7", "198.51.100.21", 0, 1800)
    hb, lc, ctx = run(t)
    assert len(lc) == 1
    ev = lc.evidence_row(0)
    assert 0 < lc.score[0] < 0.5
    assert ev["longest_s"] == 14 * 3600 and ev["connections"] == 1 and ev["bytes_in"] == 9_000_000_000
    assert ev["open_at_end"] and ev["heartbeat_score"] < 0.5  # its irregular marks are beside it
    assert lc.why is not None and "no regular heartbeat" in lc.why[0] and "14h00m" in lc.why[0]


def test_a_long_connection_with_a_periodic_heartbeat_takes_its_score():
    t = Tables()
    t.conn("10.0.0.5", "203.0.113.10", 0, 4 * 3600, client_marks=pings(10.0, 4 * 3600))
    t.conn("10.0.0.5", "203.0.113.10", 4 * 3600 + 900, 4 * 3600 + 910)  # later, short: the long one closed
    hb, lc, _ = run(t)
    assert len(lc) == 1 and lc.score[0] >= 0.5 and lc.score[0] == hb.score[0]
    assert (
        lc.evidence["heartbeat_side"][0] == "client" and abs(lc.evidence["heartbeat_period_s"][0] - 10) < 0.1
    )
    assert not lc.evidence["open_at_end"][0]  # it ended 15 minutes before the capture did
    assert lc.why is not None and "client pings every 10.0s" in lc.why[0]


def test_long_means_covered_time_and_the_threshold_is_a_setting():
    t = Tables()
    # 3 h from first to last packet, but the captures cover only 40 minutes of it.
    t.conn("10.0.0.5", "203.0.113.10", 0, 3 * 3600)
    spans = [(0, 1200), (3 * 3600 - 1200, 3 * 3600)]
    _, lc, _ = run(t, spans)
    assert len(lc) == 0
    _, lc, _ = run(t, spans, min_duration_s=1800)
    assert len(lc) == 1 and lc.evidence["longest_s"][0] == 2400


def test_segmented_video_at_a_steady_pace_is_a_stream_not_pings():
    # A player fetching a 2 MB segment every 6 s: regular, but far too heavy per beat for check-ins.
    fetches = pings(6.0, 3600)
    t = Tables()
    t.conn("10.0.0.6", "198.51.100.20", 0, 3600, client_marks=fetches, bytes_in=2_000_000 * len(fetches))
    hb, _, _ = run(t)
    assert len(hb) == 1 and hb.score[0] < 0.5 and hb.evidence["bytes_per_mark"][0] > 1e6
    # The same pace with small exchanges is a heartbeat.
    t = Tables()
    t.conn("10.0.0.6", "198.51.100.20", 0, 3600, client_marks=fetches, bytes_in=300 * len(fetches))
    hb, _, _ = run(t)
    assert hb.score[0] >= 0.5
