"""The strobe and rotating detectors end to end: a generated capture, extracted like a scan's."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from netdetect.analysis.context import AnalysisOptions, build_context
from netdetect.detectors.rotating import RotatingDetector
from netdetect.detectors.strobe import StrobeDetector
from netdetect.pipeline import extract_files
from netdetect.testing import synth

T0 = 1_700_000_000.0
SYN = 0x02


@pytest.fixture(scope="module")
def capture(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("detect") / "strobe_rotating.pcap"
    rng = random.Random(11)
    with synth.TrafficWriter(path, seed=2) as w:
        # Strobe: 10.0.0.5 opens 1,000 short HTTP connections and sends 1,500 unanswered SYNs to one
        # server in 5 minutes (threshold: the 1,000-connection floor).
        for i in range(1000):
            w.tcp_session(
                T0 + i * 0.3, "10.0.0.5", "198.51.100.7", 20000 + i, 80, [synth.http_request(uri="/")], 200
            )
        for i in range(1500):
            syn = synth.tcp(
                synth.packed_ip("10.0.0.5"), synth.packed_ip("198.51.100.7"), 30000 + i, 80, i, 0, SYN
            )
            w.ip(T0 + i * 0.2, "10.0.0.5", "198.51.100.7", 6, syn)
        # Rotating C2: 10.0.0.8 checks in every 120 s (+-10%) over four bare addresses in turn, one
        # ClientHello shape throughout.
        c2 = ["203.0.113.10", "203.0.113.20", "203.0.113.30", "203.0.113.40"]
        for i in range(40):
            t = T0 + i * 120.0 + rng.uniform(-12, 12)
            w.tcp_session(t, "10.0.0.8", c2[i % 4], 40000 + i, 443, [synth.client_hello(None)], 900)
        # A browser on the same host: its own print, many names and addresses, random times.
        for i in range(60):
            t = T0 + rng.uniform(0, 4800.0)
            hello = synth.client_hello(f"site{i % 30}.example.com", post_quantum=True)
            w.tcp_session(t, "10.0.0.8", f"192.0.2.{i % 30 + 1}", 50000 + i, 443, [hello], 5000)
    return path


@pytest.fixture(scope="module")
def ctx(capture):
    return build_context(extract_files([str(capture)]), AnalysisOptions())


def test_a_captured_flood_is_one_strobe(ctx):
    found = StrobeDetector().run(ctx)
    assert len(found) == 1
    g = int(found.groups[0])
    assert (ctx.groups.client(g), ctx.groups.server(g) or ctx.groups.name(g)) == ("10.0.0.5", "198.51.100.7")
    row = found.evidence_row(0)
    assert row["connections"] == 2500 and row["threshold"] == 1000 and found.score[0] == 1.0
    assert row["unanswered_share"] == pytest.approx(0.6) and row["client_ports"] == 2500
    assert row["supersedes_beacon"] is True


def test_a_captured_rotation_is_one_set_with_every_address(ctx):
    found = RotatingDetector().run(ctx)
    assert len(found) == 1
    row = found.evidence_row(0)
    assert sorted(row["addresses"]) == ["203.0.113.10", "203.0.113.20", "203.0.113.30", "203.0.113.40"]
    assert row["per_address_checkins"] == [10, 10, 10, 10]
    assert row["fingerprint"].startswith("ja4:t13i")  # TLS 1.3, to an IP (no SNI)
    assert row["period_s"] == pytest.approx(120.0, rel=0.03)
    assert len(found.members[0]) == 4 and ctx.groups.client(int(found.groups[0])) == "10.0.0.8"
