"""The connection-start beacon detector on tiny tables: NTP's own polling is listed but not scored;
anything else on udp/123 is scored like any beacon."""

from __future__ import annotations

import numpy as np

from netdetect.addr import from_text
from netdetect.analysis import AnalysisOptions, analyze
from netdetect.detectors.beacon import NTP_WHY
from netdetect.model import CONN_DTYPE
from netdetect.output.records import why
from netdetect.tables import EventSet
from netdetect.tables.extraction import Extraction

T0 = 1_700_000_000.0


def _polls(
    client: str, server: str, request: int, reply: int, n: int = 200, period: float = 64.0
) -> np.ndarray:
    rows = np.zeros(n, CONN_DTYPE)
    rows["ts"] = T0 + period * np.arange(n) + np.random.default_rng(1).uniform(-0.5, 0.5, n)
    rows["end_ts"] = rows["ts"] + 0.03
    rows["client"], rows["server"] = from_text(client), from_text(server)
    rows["client_port"], rows["server_port"], rows["proto"] = 123, 123, 17
    rows["bytes_out"], rows["bytes_in"], rows["packets_out"], rows["packets_in"] = request, reply, 1, 1
    return rows


def _scan(rows: np.ndarray, min_score: float | None = None):
    rows = rows[np.argsort(rows["ts"])]
    ex = Extraction(rows, EventSet(), ["t"], len(rows), 0, float(rows["ts"][0]), float(rows["end_ts"][-1]))
    return analyze(ex, options=AnalysisOptions(min_score=min_score))


def test_ntp_polls_are_listed_not_scored_and_look_alikes_on_its_port_are_scored() -> None:
    ntp = _polls("10.0.0.5", "192.0.2.123", 76, 76)
    covert = _polls("10.0.0.6", "192.0.2.124", 76, 300)  # replies bigger than NTP's: a channel on its port
    report = _scan(np.concatenate([ntp, covert]))
    assert [(f.src_ip, f.detector) for f in report.findings] == [("10.0.0.6", "beacon")]
    everything = {f.src_ip: f for f in _scan(np.concatenate([ntp, covert]), 0.0).findings}
    listed = everything["10.0.0.5"]
    assert listed.score == 0.0 and listed.evidence["beacon"]["service"] == "ntp"
    assert why(listed) == NTP_WHY
    assert "service" not in everything["10.0.0.6"].evidence["beacon"]
