"""Event extraction through the pipeline: TCP reassembly of ClientHellos and DNS, HTTP, fragments."""

from __future__ import annotations

import struct

import pytest
from _packets import batch_of

from netdetect.decode import extract as extract_mod
from netdetect.decode.extract import EventExtractor
from netdetect.decode.headers import decode_headers
from netdetect.pipeline import Extractor
from netdetect.testing import synth

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


# ---------------------------------------------------------------------------------------------------
# Both extraction paths (bulk fast path and the reference stream path) on the same batches.


def both_paths(batches: list[list[tuple[float, bytes]]]) -> list[EventExtractor]:
    out = []
    for reference in (False, True):
        ex = EventExtractor(reference=reference)
        for packets in batches:
            b = batch_of(packets)
            ex.process(b, decode_headers(b))
        out.append(ex)
    return out


def every_cut(packets: list[tuple[float, bytes]]):
    """The packets in one batch, then cut in two at every place."""
    yield [packets]
    for cut in range(1, len(packets)):
        yield [packets[:cut], packets[cut:]]


def conversation(client_port: int, server_port: int,
                 exchange: list[tuple[bool, bytes]]) -> list[tuple[float, bytes]]:
    """TCP segments of `exchange` ((from client?, payload) in order) with running sequence numbers."""
    seqs = {True: 1000, False: 9000}
    packets = []
    for i, (from_client, payload) in enumerate(exchange):
        ends = (C, S, client_port, server_port)
        src, dst, sp, dp = ends if from_client else (S, C, server_port, client_port)
        l4 = synth.tcp(synth.packed_ip(src), synth.packed_ip(dst), sp, dp, seqs[from_client], 1,
                       synth.ACK | synth.PSH, payload)
        packets.append((1.0 + i * 0.01, frame(src, dst, 6, l4)))
        seqs[from_client] += len(payload)
    return packets


HELLO = synth.client_hello("mail.example.net", alpn=())
PQ_HELLO = synth.client_hello("pq-mail.example.net", post_quantum=True, alpn=())
STARTTLS = {
    "smtp": (25, [(False, b"220 mx.example.net ESMTP\r\n"), (True, b"EHLO client.example\r\n"),
                  (False, b"250-mx.example.net\r\n250 STARTTLS\r\n"), (True, b"STARTTLS\r\n"),
                  (False, b"220 2.0.0 Ready to start TLS\r\n")]),
    "smtp-submission": (587, [(False, b"220 smtp.example.net ESMTP\r\n"), (True, b"EHLO laptop\r\n"),
                              (False, b"250 STARTTLS\r\n"), (True, b"STARTTLS\r\n"),
                              (False, b"220 Ready\r\n")]),
    "imap": (143, [(False, b"* OK IMAP4rev1 ready\r\n"), (True, b"a001 CAPABILITY\r\n"),
                   (False, b"* CAPABILITY IMAP4rev1 STARTTLS\r\na001 OK\r\n"), (True, b"a002 STARTTLS\r\n"),
                   (False, b"a002 OK Begin TLS negotiation now\r\n")]),
    "pop3": (110, [(False, b"+OK POP3 ready\r\n"), (True, b"STLS\r\n"), (False, b"+OK Begin TLS\r\n")]),
    "ftp": (21, [(False, b"220 FTP ready\r\n"), (True, b"AUTH TLS\r\n"), (False, b"234 AUTH TLS OK.\r\n")]),
    "postgresql": (5432, [(True, bytes.fromhex("0000000804d2162f")), (False, b"S")]),  # SSLRequest, 'S'
}


@pytest.mark.parametrize("protocol", sorted(STARTTLS))
def test_client_hello_after_a_starttls_exchange(protocol: str) -> None:
    port, exchange = STARTTLS[protocol]
    cases = {"one segment": [(True, HELLO)],
             "two segments": [(True, PQ_HELLO[:1200]), (True, PQ_HELLO[1200:])]}
    for name, hello in cases.items():
        packets = conversation(41000, port, [*exchange, *hello])
        sni = "pq-mail.example.net" if name == "two segments" else "mail.example.net"
        for batches in every_cut(packets):
            fast, ref = both_paths(batches)
            for ex in (fast, ref):
                assert [(t.sni, t.client, t.client_port, t.server_port) for t in ex.out.tls] == [
                    (sni, C, 41000, port)], (name, len(batches[0]), ex.reference)
                assert ex.out.errors == {} and not ex.out.http, (name, ex.reference)


def test_sslv2_client_hello_becomes_an_event_on_both_paths() -> None:
    specs = bytes.fromhex("000039" "000035" "00002f" "010080")
    body = struct.pack("!BHHHH", 1, 0x0301, len(specs), 0, 16) + specs + bytes(range(16))
    sslv2 = struct.pack("!H", 0x8000 | len(body)) + body
    pkts = [(1.0, seg(7, sslv2[:12])), (1.1, seg(19, sslv2[12:])),  # cut in two segments
            (2.0, seg(7, sslv2, sport=40001)),
            (3.0, seg(7, sslv2[:11] + b"\x00" * 4, sport=40002))]  # record longer than the bytes sent
    for batches in every_cut(pkts):
        fast, ref = both_paths(batches)
        for ex in (fast, ref):
            events = sorted(ex.out.tls, key=lambda t: t.client_port)
            assert [(t.client_port, t.sni, t.versions, t.ja4) for t in events] == [
                (40000, None, [0x0301], None), (40001, None, [0x0301], None)]
            assert events[0].ja3 == "769,57-53-47-65664,,,"
            assert ex.out.errors == {}


def test_encrypted_finished_after_change_cipher_spec_is_not_an_error() -> None:
    # A server's ChangeCipherSpec + encrypted Finished in one segment looks like a second ClientHello
    # (after HelloRetryRequest) by its first bytes; it is not a decoding fault.
    finished = bytes.fromhex("140303000101") + b"\x16\x03\x03\x00\x28" + bytes(range(0x28))
    ex_fast, ex_ref = both_paths([[(1.0, seg(5, finished, sport=443, dport=40000))]])
    for ex in (ex_fast, ex_ref):
        assert ex.out.tls == [] and ex.out.errors == {}


def test_segment_overtaking_its_hello_start_across_a_batch_boundary() -> None:
    a, b, c = PQ_HELLO[:700], PQ_HELLO[700:1400], PQ_HELLO[1400:]
    cases = {
        "second part first": [[(1.0, seg(101 + 700, b + c))], [(1.01, seg(101, a))]],
        "two parts first": [[(1.0, seg(101 + 1400, c)), (1.01, seg(101 + 700, b))], [(1.02, seg(101, a))]],
        "over three batches": [[(1.0, seg(101 + 1400, c))], [(1.01, seg(101 + 700, b))],
                               [(1.02, seg(101, a))]],
        "start retransmitted later": [[(1.0, seg(101 + 700, b + c))],
                                      [(1.3, seg(101, a)), (1.4, seg(101, a))]],
    }
    for name, batches in cases.items():
        fast, ref = both_paths(batches)
        for ex in (fast, ref):
            assert [(t.sni, t.ts) for t in ex.out.tls] == [("pq-mail.example.net", batches[-1][0][0])], name
            assert not ex.streams and not ex.early and ex.early_segments == 0, name
    # Through the pipeline too.
    assert [t.sni for t in extract([(1.0, seg(801, b + c)), (1.01, seg(101, a))], cuts=(1,)).tls] == [
        "pq-mail.example.net"]


def test_held_early_segments_are_bounded_aged_and_shed_counted(monkeypatch: pytest.MonkeyPatch) -> None:
    ex = EventExtractor()
    # Bulk data of 300 directions, 2 segments each, 4 from one more: the last EARLY_TAIL_ROWS packets
    # of the batch are considered, at most EARLY_PER_DIRECTION per direction.
    bulk = [(1.0 + i * 1e-4, seg(5000 + 100 * (i % 2), bytes(100), sport=20000 + i // 2)) for i in range(600)]
    bulk += [(1.1 + i * 1e-4, seg(7000 + 10 * i, bytes(10), sport=30000)) for i in range(6)]
    b = batch_of(bulk)
    ex.process(b, decode_headers(b))
    assert ex.early_segments == extract_mod.EARLY_TAIL_ROWS - 2  # 6 from port 30000, 4 kept
    assert len(ex.early[next(reversed(ex.early))]) == extract_mod.EARLY_PER_DIRECTION
    assert sum(len(v) for v in ex.early.values()) == ex.early_segments and ex.out.errors == {}
    # Over the cap the oldest are shed and counted.
    monkeypatch.setattr(extract_mod, "EARLY_MAX_SEGMENTS", 100)
    b = batch_of([(1.2, seg(1, bytes(10), sport=39999))])
    ex.process(b, decode_headers(b))
    assert ex.early_segments <= 100 and ex.out.errors == {"tcp.early_shed": 255 - ex.early_segments}
    # A second of capture time later they are gone.
    b = batch_of([(3.0, seg(1, bytes(10), sport=39998))])
    ex.process(b, decode_headers(b))
    assert list(ex.early) and (ex.early_segments, ex.early_bytes) == (1, 10)
    # Large segments (TSO/GRO captures) are bounded by bytes as well.
    monkeypatch.setattr(extract_mod, "EARLY_MAX_BYTES", 25_000)
    shed_before = ex.out.errors["tcp.early_shed"]
    b = batch_of([(3.1, seg(1, bytes(9000), sport=39000 + i)) for i in range(4)])
    ex.process(b, decode_headers(b))
    assert (ex.early_segments, ex.early_bytes) == (2, 18_000)
    assert ex.out.errors["tcp.early_shed"] == shed_before + 3  # the 10-byte one, then two of 9000


def test_held_segment_too_old_does_not_join_a_later_start() -> None:
    a, b = PQ_HELLO[:1200], PQ_HELLO[1200:]
    fast, ref = both_paths([[(1.0, seg(1201, b))], [(1.0 + 2 * extract_mod.EARLY_MAX_AGE, seg(1, a))]])
    for ex in (fast, ref):
        assert ex.out.tls == [] and len(ex.streams) == 1  # the start waits in its stream for the rest


def ws_frame(payload: bytes, mask: bytes = b"\x8a\xef\xaa\x40", fin: bool = True) -> bytes:
    """A client's masked binary WebSocket frame (RFC 6455 5.2)."""
    head = bytes([0x82 if fin else 0x02])
    if len(payload) < 126:
        head += bytes([0x80 | len(payload)])
    else:
        head += bytes([0x80 | 126]) + struct.pack("!H", len(payload))
    key = (mask * (len(payload) // 4 + 1))[: len(payload)]
    return head + mask + bytes(a ^ b for a, b in zip(payload, key, strict=True))


def tiny_hello(sni: bytes) -> bytes:
    """A TLS 1.2 ClientHello record short enough for a 7-bit WebSocket length."""
    entry = b"\x00" + struct.pack("!H", len(sni)) + sni
    sni_ext = struct.pack("!HHH", 0, len(entry) + 2, len(entry)) + entry
    body = b"\x03\x03" + bytes(32) + b"\x00" + b"\x00\x02\x00\x2f" + b"\x01\x00"  # one suite, no compression
    body += struct.pack("!H", len(sni_ext)) + sni_ext
    handshake = b"\x01" + len(body).to_bytes(3, "big") + body
    return b"\x16\x03\x01" + struct.pack("!H", len(handshake)) + handshake


def test_client_hello_inside_websocket_frames() -> None:
    upgrade = synth.http_request("GET", "localhost:8888", "/v1/events")
    big = synth.client_hello("tunnelled.example")
    assert len(big) >= 126 and len(tiny_hello(b"t.io")) < 126
    pkts = [(1.0, seg(1, upgrade, dport=8888)),
            (1.1, seg(1 + len(upgrade), ws_frame(big), dport=8888)),
            (1.2, seg(1 + len(upgrade), ws_frame(big), dport=8888)),  # retransmitted: one event
            (2.0, seg(50, ws_frame(tiny_hello(b"t.io"), mask=b"\x00\x13\x37\xff"), sport=40001, dport=80)),
            (3.0, seg(70, ws_frame(b"\x16\x03" + bytes(200)), sport=40002, dport=80)),  # data, not a hello
            (4.0, seg(90, ws_frame(big)[:300], sport=40003, dport=80)),  # frame continues in the next segment
            # The server's frames are not masked: not looked at.
            (5.0, seg(1, b"\x82\x7e" + struct.pack("!H", len(big)) + big, sport=8888, dport=40000))]
    for batches in every_cut(pkts):
        fast, ref = both_paths(batches)
        for ex in (fast, ref):
            assert sorted((t.sni, t.client_port, t.server_port) for t in ex.out.tls) == [
                ("t.io", 40001, 80), ("tunnelled.example", 40000, 8888)]
            assert [r.uri for r in ex.out.http] == ["/v1/events"]
            assert ex.out.errors == {"tls.incomplete": 1}
