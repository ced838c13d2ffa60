"""Heartbeats from a capture: a five-minute RAT connection pinging every 5 s among look-alikes
(an idle pooled connection with TCP keep-alive probes, a media stream, SSH typing, a bulk download),
extracted on each flow engine and, whole, on the reference path (NETDETECT_NATIVE=0)."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from _packets import write_pcap

from netdetect import pipeline
from netdetect.analysis.context import AnalysisOptions, build_context
from netdetect.detectors.heartbeat import HeartbeatDetector
from netdetect.detectors.long_connection import LongConnectionDetector
from netdetect.flows import NativeFlowTracker, ReferenceFlowTracker
from netdetect.native import built
from netdetect.testing import synth

ROOT = Path(__file__).resolve().parents[1]
T0 = 1_700_000_000.0
DURATION = 300.0
TRACKERS = {"reference": ReferenceFlowTracker, "native": NativeFlowTracker}
ENGINES = [
    "reference",
    pytest.param(
        "native",
        marks=pytest.mark.skipif(built("netdetect._flows") is None, reason="netdetect._flows not built"),
    ),
]
_FIN, _SYN, _PSH, _ACK = 0x01, 0x02, 0x08, 0x10


class Tcp:
    """One TCP connection's packets (Ethernet, IPv4), sequence numbers kept per side."""

    def __init__(self, out: list, client: str, server: str, sport: int, dport: int) -> None:
        self.out, self.ends = out, ((client, sport), (server, dport))
        self.seq = [1000, 5000]

    def send(self, ts: float, from_server: bool, payload: bytes = b"", flags: int = _PSH | _ACK) -> None:
        s = int(from_server)
        (src, sport), (dst, dport) = self.ends[s], self.ends[1 - s]
        seg = synth.tcp(
            synth.packed_ip(src),
            synth.packed_ip(dst),
            sport,
            dport,
            self.seq[s],
            self.seq[1 - s],
            flags,
            payload,
        )
        ip = synth.ipv4(synth.packed_ip(src), synth.packed_ip(dst), 6, seg)
        self.out.append((ts, synth.ethernet(synth.mac_for(src), synth.mac_for(dst), 0x0800, ip)))
        self.seq[s] += len(payload) + (1 if flags & (_SYN | _FIN) else 0)

    def open(self, ts: float) -> None:
        self.send(ts, False, flags=_SYN)
        self.send(ts + 0.02, True, flags=_SYN | _ACK)
        self.send(ts + 0.04, False, flags=_ACK)

    def keepalive_probe(self, ts: float, byte: bool) -> None:
        """What a TCP stack sends on an idle connection: seq - 1 with 0 or 1 garbage byte, then an ACK."""
        self.seq[0] -= 1
        self.send(ts, False, b"\0" if byte else b"", _ACK)
        self.seq[0] += 0 if byte else 1
        self.send(ts + 0.02, True, flags=_ACK)


def scenario(path: Path) -> Path:
    rng = random.Random(7)
    out: list = []
    rat = Tcp(out, "10.0.0.5", "203.0.113.10", 50001, 443)  # the RAT: a 5 s ping, answered
    rat.open(T0)
    t = T0 + 1.0
    while t < T0 + DURATION:
        rat.send(t, False, b"PING" + bytes(28))
        rat.send(t + 0.05, True, b"PONG" + bytes(60))
        rat.send(t + 0.09, False, flags=_ACK)
        t += 5.0 * (1 + rng.uniform(-0.03, 0.03))
    pooled = Tcp(out, "10.0.0.6", "198.51.100.10", 50002, 443)  # idle pooled connection, stack keep-alives
    pooled.open(T0)
    pooled.send(T0 + 0.1, False, b"GET / HTTP/1.1\r\n\r\n")
    pooled.send(T0 + 0.2, True, b"HTTP/1.1 204 No Content\r\n\r\n")
    for i, t in enumerate(np.arange(T0 + 5.0, T0 + DURATION, 5.0)):
        pooled.keepalive_probe(float(t), byte=i % 2 == 1)
    media = Tcp(out, "10.0.0.7", "198.51.100.20", 50003, 443)  # media: segments in irregular bursts
    media.open(T0)
    t = T0 + 1.0
    while t < T0 + DURATION:
        media.send(t, False, b"GET /seg HTTP/1.1\r\n\r\n")
        for k in range(rng.randint(5, 40)):
            media.send(t + 0.05 + 0.004 * k, True, bytes(1200))
        t += rng.choice([0.6, 1.5, 2.5, 4.0, 7.0, 11.0]) * rng.uniform(0.5, 1.5)
    ssh = Tcp(out, "10.0.0.8", "198.51.100.30", 50004, 22)  # typing: bursts of keys and pauses
    ssh.open(T0)
    t = T0 + 1.0
    while t < T0 + DURATION:
        ssh.send(t, False, bytes(36))
        ssh.send(t + 0.03, True, bytes(36))
        t += rng.expovariate(1 / 0.25) if rng.random() < 0.8 else 1.0 + rng.expovariate(1 / 6.0)
    bulk = Tcp(out, "10.0.0.9", "198.51.100.40", 50005, 80)  # a download: never idle
    bulk.open(T0)
    bulk.send(T0 + 0.1, False, b"GET /big HTTP/1.1\r\n\r\n")
    for t in np.arange(T0 + 0.2, T0 + DURATION, 0.05):
        bulk.send(float(t), True, bytes(1400))
    out.sort(key=lambda p: p[0])
    return write_pcap(path, out)


def detect(path: Path):
    ex = pipeline.extract_files([str(path)])
    ctx = build_context(ex, AnalysisOptions())
    hb = HeartbeatDetector().run(ctx)
    ctx.results["heartbeat"] = hb
    return ex, ctx, hb, LongConnectionDetector().run(ctx)


@pytest.mark.parametrize("engine", ENGINES)
def test_the_rat_heartbeat_is_found_and_the_look_alikes_are_not(engine, tmp_path, monkeypatch):
    monkeypatch.setattr(pipeline, "FlowTracker", lambda *a, **k: TRACKERS[engine](*a, **k))
    ex, ctx, hb, lc = detect(scenario(tmp_path / "rat.pcap"))
    assert hb.groups is not None
    found = {ctx.groups.client(int(g)): i for i, g in enumerate(hb.groups)}
    rat = found["10.0.0.5"]
    assert hb.score[rat] >= 0.5
    ev = hb.evidence_row(rat)
    assert ev["side"] == "client" and abs(ev["period_s"] - 5.0) < 0.1 and ev["open_at_end"]
    assert ev["marks"] >= 55 and ev["connection_s"] > 290
    quiet = {client: float(hb.score[i]) for client, i in found.items() if client != "10.0.0.5"}
    assert all(score < 0.5 for score in quiet.values()), quiet
    # the keep-alive probes and the download leave too few marks to be timed at all
    assert "10.0.0.6" not in found and "10.0.0.9" not in found
    assert len(lc) == 0  # five minutes are not long
    assert not ex.decode_errors.get("flows.marks_shed")


def test_the_reference_path_gives_the_same_marks(tmp_path):
    """The whole extraction with the compiled core switched off gives the same marks table."""
    path = scenario(tmp_path / "rat.pcap")
    code = (
        "import sys, json; from netdetect.pipeline import extract_files; "
        "m = extract_files([sys.argv[1]]).marks; "
        "print(json.dumps([m['uid'].tolist(), m['ts'].tolist(), m['from_server'].tolist()]))"
    )
    env = {**os.environ, "NETDETECT_NATIVE": "0", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", code, str(path)], env=env, capture_output=True, check=True)
    uid, ts, from_server = json.loads(done.stdout)
    marks = pipeline.extract_files([str(path)]).marks
    assert len(marks) > 100
    assert uid == marks["uid"].tolist() and ts == marks["ts"].tolist()
    assert from_server == marks["from_server"].tolist()


CORPUS = ROOT.parent / "shared" / "corpus" / "pcaps"
MERLIN = CORPUS / "zeek__quic__merlinc2_Zeek_example.pcapng"


@pytest.mark.skipif(not MERLIN.is_file(), reason="the shared corpus is not here")
def test_merlin_c2_over_quic_is_a_heartbeat_in_one_connection():
    """Merlin's agent talks HTTP/3 over one QUIC connection for the whole capture: connection starts
    show one event, the marks show its 15 s check-ins."""
    ex, ctx, hb, _ = detect(MERLIN)
    assert hb.groups is not None
    regular = [i for i in range(len(hb)) if hb.score[i] >= 0.5]
    assert len(regular) == 1
    (i,) = regular
    assert ctx.groups.server(int(hb.groups[i])) == "24.199.110.233"
    assert abs(hb.evidence["period_s"][i] - 15.0) < 0.5 and hb.evidence["open_at_end"][i]
