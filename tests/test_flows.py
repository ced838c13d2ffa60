"""Connection tracking: direction, byte counts, splitting, batch boundaries, saved state."""

from __future__ import annotations

import numpy as np
from _packets import DST_MAC, batch_of
from scapy.all import IP, TCP, UDP, Ether, Raw  # type: ignore[attr-defined]

from netdetect.addr import to_text
from netdetect.decode.headers import decode_headers
from netdetect.flows import FlowTracker

C, S = "10.0.0.1", "192.0.2.9"


def session(t: float, sport: int, out_bytes: int = 100, in_bytes: int = 50):
    return [
        (t, Ether(dst=DST_MAC) / IP(src=C, dst=S) / TCP(sport=sport, dport=443, flags="S")),
        (t + 0.01, Ether(dst=DST_MAC) / IP(src=S, dst=C) / TCP(sport=443, dport=sport, flags="SA")),
        (
            t + 0.02,
            Ether(dst=DST_MAC) / IP(src=C, dst=S) / TCP(sport=sport, dport=443, flags="PA") / Raw(b"x" * out_bytes),
        ),
        (
            t + 0.03,
            Ether(dst=DST_MAC) / IP(src=S, dst=C) / TCP(sport=443, dport=sport, flags="PA") / Raw(b"y" * in_bytes),
        ),
        (t + 0.04, Ether(dst=DST_MAC) / IP(src=C, dst=S) / TCP(sport=sport, dport=443, flags="FA")),
    ]


def track(*batches):
    ft = FlowTracker()
    for pkts in batches:
        ft.add(decode_headers(batch_of(pkts)))
    ft.flush()
    return ft.take()


def test_one_session_counts_both_directions():
    (c,) = track(session(100.0, 5000))
    assert to_text(bytes(c["client"])) == C and to_text(bytes(c["server"])) == S
    assert (c["client_port"], c["server_port"], c["proto"]) == (5000, 443, 6)
    assert c["bytes_out"] == 40 + 140 + 40 and c["bytes_in"] == 40 + 90
    assert (c["packets_out"], c["packets_in"]) == (3, 2)
    assert c["ts"] == 100.0 and abs(c["end_ts"] - 100.04) < 1e-9


def test_client_found_when_first_packet_is_the_reply():
    pk = session(100.0, 5000)[1:]  # SYN missed: SYN-ACK first
    (c,) = track(pk)
    assert to_text(bytes(c["client"])) == C and c["server_port"] == 443


def test_session_split_across_batches_is_one_connection():
    pk = session(100.0, 5000)
    (c,) = track(pk[:2], pk[2:])
    assert c["packets_out"] == 3 and c["packets_in"] == 2


def test_port_reuse_after_fin_and_idle_udp_split():
    pk = session(100.0, 5000) + session(200.0, 5000)
    conns = track(pk)
    assert len(conns) == 2 and list(conns["ts"]) == [100.0, 200.0]
    udp = [(t, Ether(dst=DST_MAC) / IP(src=C, dst="192.0.2.1") / UDP(sport=123, dport=123)) for t in (0.0, 10.0, 1024.0)]
    conns = track(udp)
    assert list(conns["packets_out"]) == [2, 1]  # 60 s UDP idle timeout, as Zeek


def test_saved_state_resumes():
    pk = session(100.0, 5000)
    a = FlowTracker()
    a.add(decode_headers(batch_of(pk[:3])))
    saved = a.save_state()
    b = FlowTracker()
    b.load_state(saved)
    b.add(decode_headers(batch_of(pk[3:])))
    b.flush()
    (c,) = b.take()
    assert c["packets_out"] == 3 and c["packets_in"] == 2 and c["ts"] == 100.0


def test_flood_is_bounded_and_counted():
    ft = FlowTracker(max_open=10)
    pk = [(1.0 + i * 1e-3, Ether(dst=DST_MAC) / IP(src=C, dst=S) / UDP(sport=1000 + i, dport=53)) for i in range(50)]
    ft.add(decode_headers(batch_of(pk)))
    assert len(ft.state) == 10 and ft.stats.shed == 40
    ft.flush()
    assert len(ft.take()) == 50  # shed flows are closed early, not lost
    assert np.all(np.diff(ft.take()["ts"]) >= 0)
