"""The detector interface on tiny tables: registry, settings, merging several detectors' rows about one
group into one finding, rows that are not connection groups, coverage arithmetic."""

from __future__ import annotations

import numpy as np
import pytest

from netdetect.addr import from_text
from netdetect.analysis import AnalysisOptions, analyze, build_context
from netdetect.analysis.context import covered_seconds, merge_spans
from netdetect.detectors.base import (
    DETECTORS,
    Detections,
    Detector,
    Subjects,
    parse_settings,
    selected_detectors,
)
from netdetect.errors import UsageError
from netdetect.findings.verdicts import merge_group_detections
from netdetect.model import CONN_DTYPE, TlsEvent
from netdetect.tables import EventSet
from netdetect.tables.extraction import Extraction

T0 = 1_700_000_000.0


def _conns(rows: list[tuple[str, str, float, int]]) -> np.ndarray:
    """(client, server, start, server_port) rows of 1-second connections."""
    out = np.zeros(len(rows), CONN_DTYPE)
    for i, (client, server, ts, port) in enumerate(rows):
        out[i]["ts"], out[i]["end_ts"] = ts, ts + 1.0
        out[i]["client"], out[i]["server"] = from_text(client), from_text(server)
        out[i]["client_port"], out[i]["server_port"], out[i]["proto"] = 40000 + i % 20000, port, 6
        out[i]["bytes_out"], out[i]["bytes_in"], out[i]["packets_out"], out[i]["packets_in"] = 300, 900, 3, 3
    return out[np.argsort(out["ts"], kind="stable")]


def _extraction(conns: np.ndarray, spans=None) -> Extraction:
    first, last = float(conns["ts"].min()), float(conns["end_ts"].max())
    return Extraction(conns, EventSet(), ["t"], len(conns), 0, first, last, spans=spans or [(first, last)])


class _Fixed(Detector):
    """Scores every group with a fixed value (what a test needs of a detector)."""

    name = "fixed"
    kind = "heartbeat"
    description = "test"
    settings = {"value": 0.9}

    def run(self, ctx):
        n = len(ctx.groups)
        value = self.setting(ctx, "value")
        return Detections(
            self.name,
            self.kind,
            np.full(n, value),
            groups=np.arange(n),
            evidence={"period_s": np.full(n, 5.0), "marks": np.arange(n)},
            why=[f"held {g}" for g in range(n)],
        )


@pytest.fixture
def fixed_detector(monkeypatch):
    monkeypatch.setitem(DETECTORS.classes, "fixed", _Fixed)
    monkeypatch.setitem(DETECTORS.modules, "fixed", __name__)
    return _Fixed


def test_unknown_detector_and_bad_settings_are_usage_errors(fixed_detector) -> None:
    with pytest.raises(UsageError, match="unknown detector 'nope'"):
        selected_detectors(["nope"])
    assert selected_detectors(["fixed", "beacon"]) == ("beacon", "fixed")  # run order, not given order
    assert parse_settings(["fixed.value=0.25"]) == {"fixed": {"value": 0.25}}
    for bad, message in [
        ("fixed.value", "expected DETECTOR.KEY=VALUE"),
        ("fixed=1", "expected DETECTOR.KEY=VALUE"),
        ("fixed.other=1", "no setting 'other'"),
        ("fixed.value=x", "not a number"),
        ("fixed.value=nan", "not a finite number"),
        ("nope.value=1", "unknown detector"),
    ]:
        with pytest.raises(UsageError, match=message):
            parse_settings([bad])


def test_best_detector_carries_the_finding_and_every_one_gives_evidence(fixed_detector) -> None:
    # A 10 s beacon for an hour to one server: the beacon detector scores it about 1, the fixed one 0.9.
    beacon_rows = [("10.0.0.5", "198.51.100.7", T0 + 10.0 * i, 443) for i in range(360)]
    ex = _extraction(_conns(beacon_rows + [("10.0.0.6", "198.51.100.8", T0 + 7.0, 443)]))
    report = analyze(
        ex, options=AnalysisOptions(detectors=("beacon", "fixed"), settings={"fixed": {"value": 0.9}})
    )
    by_client = {f.src_ip: f for f in report.findings}
    beacon = by_client["10.0.0.5"]
    assert beacon.detector == "beacon" and beacon.kind == "beacon" and beacon.score > 0.9
    assert set(beacon.evidence) == {"beacon", "fixed"}
    assert beacon.evidence["fixed"]["score"] == 0.9 and beacon.evidence["fixed"]["why"].startswith("held")
    assert abs(beacon.period_s - 10.0) < 0.5  # the main detector's timing
    lone = by_client["10.0.0.6"]  # one connection: only the fixed detector speaks of it
    assert lone.detector == "fixed" and lone.kind == "heartbeat" and lone.score == 0.9
    assert lone.period_s == 5.0 and lone.subscores == {}
    assert "held" in lone.evidence["fixed"]["why"]
    # Below the threshold a fixed score reports nothing but the beacon.
    low = analyze(
        ex, options=AnalysisOptions(detectors=("beacon", "fixed"), settings={"fixed": {"value": 0.1}})
    )
    assert [f.src_ip for f in low.findings] == ["10.0.0.5"]
    assert low.summary.detections == {"beacon": 1, "fixed": 2}


def test_merge_keeps_the_earlier_detector_on_a_tie() -> None:
    a = Detections(
        "a",
        "beacon",
        np.array([0.5, 0.2]),
        groups=np.array([3, 1]),
        evidence={"jitter": np.array([0.1, 0.2])},
    )
    b = Detections("b", "strobe", np.array([0.5, 0.7]), groups=np.array([3, 7]))
    v = merge_group_detections([a, b], threshold=0.5)
    assert v.gids.tolist() == [1, 3, 7]
    assert v.score.tolist() == [0.2, 0.5, 0.7]
    assert [v.detections[k].detector for k in v.main.tolist()] == ["a", "a", "b"]
    assert v.beacon.tolist() == [False, True, True]
    assert v.jitter[:2].tolist() == [0.2, 0.1] and np.isnan(v.jitter[2])
    ev = v.evidence(np.array([1, 2]))
    assert ev[0] == {"a": {"score": 0.5, "jitter": 0.1}, "b": {"score": 0.5}}
    assert ev[1] == {"b": {"score": 0.7}}


class _Domains(Detector):
    name = "domains"
    kind = "dns_tunnel"
    description = "test"

    def run(self, ctx):
        subjects = Subjects(
            client=np.array([from_text("10.0.0.5"), from_text("10.0.0.9")], "S16"),
            name=["example.net", "tunnel.example"],
            first_seen=np.array([T0, T0]),
            last_seen=np.array([T0 + 60, T0 + 60]),
            count=np.array([40, 400]),
            dns_names=[["a.example.net"], ["x1.tunnel.example", "x2.tunnel.example"]],
            dst_ips=[[], []],
            dst_port=[None, None],
        )
        return Detections(self.name, self.kind, np.array([0.95, 0.8]), subjects=subjects, why=["a", "b"])


def test_subject_rows_join_a_finding_under_their_domain_or_make_their_own(monkeypatch) -> None:
    monkeypatch.setitem(DETECTORS.classes, "domains", _Domains)
    monkeypatch.setitem(DETECTORS.modules, "domains", __name__)
    conns = _conns([("10.0.0.5", "198.51.100.7", T0 + 10.0 * i, 443) for i in range(360)])
    hellos = [
        TlsEvent(
            float(c["ts"]) + 0.01,
            "10.0.0.5",
            "198.51.100.7",
            int(c["client_port"]),
            443,
            "tcp",
            "c2.example.net",
        )
        for c in conns
    ]
    ex = _extraction(conns)
    ex.events = EventSet.of([], hellos, [])
    report = analyze(ex, options=AnalysisOptions(detectors=("beacon", "domains")))
    assert sorted((f.src_ip, f.kind, f.server_name) for f in report.findings) == [
        ("10.0.0.5", "beacon", "c2.example.net"),  # the domain row joined the connection group under it
        ("10.0.0.9", "dns_tunnel", "tunnel.example"),
    ]
    beacon = next(f for f in report.findings if f.src_ip == "10.0.0.5")
    assert set(beacon.evidence) == {"beacon", "domains"} and beacon.evidence["domains"]["score"] == 0.95
    assert beacon.detector == "beacon" or beacon.score == 0.95  # the better score carries it
    tunnel = next(f for f in report.findings if f.src_ip == "10.0.0.9")
    assert tunnel.connections == 0 and tunnel.dns_names == ["x1.tunnel.example", "x2.tunnel.example"]
    assert tunnel.evidence["domains"]["why"] == "b" and tunnel.detector == "domains"


def test_covered_seconds_leave_out_the_gaps_between_captures() -> None:
    coverage = merge_spans([(100.0, 200.0), (150.0, 250.0), (1000.0, 1100.0), (float("nan"), 5.0)])
    assert coverage.tolist() == [[100.0, 250.0], [1000.0, 1100.0]]
    start = np.array([0.0, 120.0, 240.0, 300.0, 1050.0])
    end = np.array([2000.0, 130.0, 1010.0, 900.0, 1050.0])
    assert covered_seconds(coverage, start, end).tolist() == [250.0, 10.0, 20.0, 0.0, 0.0]
    ctx = build_context(
        _extraction(_conns([("10.0.0.5", "198.51.100.7", 120.0, 443)]), [(100.0, 250.0), (1000.0, 1100.0)]),
        AnalysisOptions(),
    )
    assert ctx.coverage_s() == 250.0


def test_a_detector_that_supersedes_the_beacon_carries_its_groups() -> None:
    beacon = Detections("beacon", "beacon", np.array([1.0, 0.9]), groups=np.array([0, 1]))
    strobe = Detections(
        "strobe",
        "strobe",
        np.array([0.6, 0.3]),
        groups=np.array([0, 1]),
        evidence={"supersedes_beacon": np.array([True, False])},
    )
    v = merge_group_detections([beacon, strobe], threshold=0.5)
    assert [v.detections[k].detector for k in v.main.tolist()] == ["strobe", "beacon"]
    assert v.score.tolist() == [0.6, 0.9]
    assert set(v.evidence(np.array([0]))[0]) == {"beacon", "strobe"}  # the beacon's stays as evidence


def test_every_detector_declares_the_settings_it_reads() -> None:
    import inspect
    import re

    for name, cls in DETECTORS.all().items():
        source = inspect.getsource(inspect.getmodule(cls))
        read = set(re.findall(rf'setting\(\s*(?:self\.name|\w+\.name|"{name}"),\s*"(\w+)"', source))
        assert read <= set(cls.settings), (name, read - set(cls.settings))
        assert cls.kind and cls.description


def test_analysis_and_every_detector_load_no_packet_code() -> None:
    """A sensor window or a Dask worker runs the detectors on tables: no decoding module comes along."""
    import subprocess
    import sys

    script = (
        "import sys, netdetect.analysis\n"
        "from netdetect.detectors.base import DETECTORS\n"
        "DETECTORS.all()\n"
        "print(sorted(m for m in sys.modules if m.startswith(('netdetect.decode', 'netdetect.capture',"
        " 'netdetect.flows', 'netdetect.pipeline'))))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
