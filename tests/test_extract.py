"""Event extraction through the pipeline: TCP reassembly of ClientHellos and DNS, HTTP, fragments."""

from __future__ import annotations

import struct

from _packets import batch_of

from netdetect import synth
from netdetect.decode.headers import decode_headers
from netdetect.pipeline import Extractor

C, S = "10.0.0.5", "198.51.100.7"
MAC = b"\x02\x00\x00\x00\x00\x01"


def frame(src: str, dst: str, proto: int, l4: bytes, ident: int = 0) -> bytes:
    return synth.ethernet(MAC, MAC, 0x0800, synth.ip_packet(src, dst, proto, l4, ident=ident))


def seg(
    seq: int, payload: bytes, sport: int = 40000, dport: int = 443, flags: int = synth.ACK | synth.PSH
) -> bytes:
    return frame(
        C, S, 6, synth.tcp(synth.packed_ip(C), synth.packed_ip(S), sport, dport, seq, 1, flags, payload)
    )


def extract(packets: list[tuple[float, bytes]], cuts: tuple[int, ...] = ()):
    """Feed the packets as batches cut at the given indices."""
    ex = Extractor()
    edges = [0, *cuts, len(packets)]
    for lo, hi in zip(edges, edges[1:], strict=False):
        ex.feed(batch_of(packets[lo:hi]))
    return ex.finish()


def test_clienthello_across_segments_out_of_order_and_retransmitted():
    hello = synth.client_hello("pq.example.org", post_quantum=True)
    assert len(hello) > 1500
    a, b, c = hello[:700], hello[700:1400], hello[1400:]
    isn = 1000
    pkts = [
        (1.0, seg(isn, b"", flags=synth.SYN)),
        (1.1, seg(isn + 1 + 700, b)),  # second part first
        (1.2, seg(isn + 1, a)),
        (1.3, seg(isn + 1, a)),  # retransmission
        (1.4, seg(isn + 1 + 1400, c)),
    ]
    # Reordering is handled within a batch (65536 packets in practice); a later batch may hold the rest.
    for cuts in ((), (1,), (3,), (4,), (1, 3, 4)):
        ex = extract(pkts, cuts)
        assert [t.sni for t in ex.tls] == ["pq.example.org"], cuts
        assert ex.tls[0].ja4 and ex.tls[0].ja4.startswith("t13d")


def test_tls_on_any_port_and_http_request():
    hello = synth.client_hello("odd-port.example")
    req = synth.http_request("GET", "plain.example", "/beacon?id=1", user_agent="curl/8.0")
    ex = extract([(1.0, seg(5, hello, dport=8443)), (2.0, seg(9, req, sport=40001, dport=8080))])
    assert [(t.sni, t.server_port) for t in ex.tls] == [("odd-port.example", 8443)]
    assert [(h.method, h.host, h.uri, h.user_agent) for h in ex.http] == [
        ("GET", "plain.example", "/beacon?id=1", "curl/8.0")
    ]


def test_dns_over_tcp_split_and_several_per_segment():
    q1 = synth.dns_query("one.example", txid=1)
    q2 = synth.dns_query("two.example", txid=2)
    stream = struct.pack("!H", len(q1)) + q1 + struct.pack("!H", len(q2)) + q2
    pkts = [(1.0, seg(100, stream[:5], dport=53)), (1.1, seg(105, stream[5:], dport=53))]
    ex = extract(pkts)
    assert [(d.query, d.transport) for d in ex.dns] == [("one.example", "tcp"), ("two.example", "tcp")]


def test_fragmented_dns_response_is_reassembled():
    resp = synth.dns_response("big.example", "A", [f"192.0.2.{i}" for i in range(1, 120)], txid=7)
    udp = synth.udp(synth.packed_ip(S), synth.packed_ip(C), 53, 5353 + 1, resp)
    ip = synth.ip_packet(S, C, 17, udp, ident=99)
    header, body = ip[:20], ip[20:]
    frags = []
    for off in range(0, len(body), 1000):
        part = body[off : off + 1000]
        more = 0x2000 if off + 1000 < len(body) else 0
        h = bytearray(header)
        struct.pack_into("!HHH", h, 2, 20 + len(part), 99, more | (off // 8))
        struct.pack_into("!H", h, 10, 0)
        struct.pack_into("!H", h, 10, synth.checksum(bytes(h)))
        frags.append(synth.ethernet(MAC, MAC, 0x0800, bytes(h) + part))
    assert len(frags) >= 2
    ex = extract([(1.0 + i * 0.001, f) for i, f in enumerate(reversed(frags))])
    (dns,) = ex.dns
    assert dns.query == "big.example" and dns.is_response and len(dns.answers) == 119


def test_mdns_is_kept_apart_by_port_and_garbage_is_counted():
    mdns = frame(
        C,
        "224.0.0.251",
        17,
        synth.udp(
            synth.packed_ip(C), synth.packed_ip("224.0.0.251"), 5353, 5353, synth.dns_query("printer.local")
        ),
    )
    junk = frame(C, S, 17, synth.udp(synth.packed_ip(C), synth.packed_ip(S), 40000, 53, b"\x01\x02\x03"))
    ex = extract([(1.0, mdns), (2.0, junk)])
    assert [(d.query, d.server_port) for d in ex.dns] == [("printer.local", 5353)]
    assert sum(v for k, v in ex.decode_errors.items() if k.startswith("dns.")) == 1


def test_headers_of_reassembled_batch_are_plain():
    h = decode_headers(batch_of([(1.0, seg(1, b"x"))]))
    assert not h.fragment.any() and int(h.payload_caplen[0]) == 1


def test_second_clienthello_after_hello_retry_request_behind_ccs():
    first = synth.client_hello("hrr.example")
    second = synth.client_hello("hrr.example")
    ccs = bytes.fromhex("140303000101")
    ex = extract([(1.0, seg(1, first)), (1.2, seg(1 + len(first), ccs + second))])
    assert [t.sni for t in ex.tls] == ["hrr.example", "hrr.example"]


def test_retransmitted_clienthello_and_request_give_one_event_each():
    hello = synth.client_hello("once.example")
    req = synth.http_request("GET", "once.example", "/x")
    pq = synth.client_hello("pq-once.example", post_quantum=True)
    pkts = [(1.0, seg(1, hello)), (1.5, seg(1, hello)), (2.0, seg(7, req, sport=40001, dport=80)),
            (2.5, seg(7, req, sport=40001, dport=80)), (3.0, seg(100, pq[:1000], sport=40002)),
            (3.1, seg(1100, pq[1000:], sport=40002)), (3.5, seg(100, pq[:1000], sport=40002)),
            (3.6, seg(1100, pq[1000:], sport=40002))]
    for cuts in ((), (1,), (3,), (6,)):
        ex = extract(pkts, cuts)
        assert sorted(t.sni for t in ex.tls) == ["once.example", "pq-once.example"], cuts
        assert [r.host for r in ex.http] == ["once.example"], cuts
