"""The fast paths give what the reference paths give: ClientHello walk + fingerprint memos against
`tls.parse_client_hello`, the DNS memo against `dns.parse_dns`, and the whole extractor (single-segment
hellos and requests without streams, memos) against `EventExtractor(reference=True)`, on mutated
messages, on synthetic streams and on every capture of the shared corpus."""

from __future__ import annotations

import dataclasses
import random
import struct

import pytest
from _packets import batch_of, corpus_batches, corpus_files
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from netdetect.decode import dns, fastpath, fingerprint, tls
from netdetect.decode.errors import DecodeError
from netdetect.decode.extract import EventExtractor
from netdetect.decode.headers import decode_headers
from netdetect.testing import synth


def _outcome(parse, data: bytes):
    try:
        return parse(data)
    except DecodeError as exc:
        return ("error", exc.reason)


def _hello_bodies() -> list[bytes]:
    hellos = [synth.client_hello("a.example"), synth.client_hello("pq.example.org", post_quantum=True),
              synth.client_hello("b.example", alpn=())]
    return [tls.client_hello_body(h) for h in hellos]


HELLO_SEEDS = _hello_bodies()


def _assert_same_hello(body: bytes) -> None:
    fast, ref = _outcome(fastpath.parse_client_hello, body), _outcome(tls.parse_client_hello, body)
    assert fast == ref
    if isinstance(ref, tls.ClientHello):
        assert fast.ja4_for("q") == ref.ja4_for("q")


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.sampled_from(HELLO_SEEDS), edits=st.lists(st.tuples(st.integers(0, 2000), st.integers(0, 255)),
                                                         max_size=4), cut=st.integers(0, 2000))
def test_mutated_client_hellos_parse_alike(seed: bytes, edits: list[tuple[int, int]], cut: int) -> None:
    body = bytearray(seed)
    for at, value in edits:
        body[at % len(body)] = value
    _assert_same_hello(bytes(body))
    _assert_same_hello(bytes(body[: cut % (len(body) + 1)]))


def _inner(draw_bytes: bytes, kind: int) -> bytes:
    """An extension body: well formed for its type (kind 0), or raw bytes (kind 1)."""
    return draw_bytes if kind else struct.pack("!H", len(draw_bytes)) + draw_bytes


EXTENSION = st.tuples(
    st.sampled_from([0, 0, 5, 10, 11, 13, 16, 16, 21, 43, 43, 51, 0x0A0A, 0x39, 0xFE0D, 0xFFA5]),
    st.binary(max_size=24), st.integers(0, 2))


def _extension(ext_type: int, data: bytes, kind: int) -> bytes:
    if kind == 0 and ext_type == 0:  # server_name with one host_name entry
        data = struct.pack("!HBH", len(data) + 3, 0, len(data)) + data
    elif kind == 0 and ext_type == 16:  # ALPN list of one protocol
        data = struct.pack("!HB", len(data) + 1, len(data)) + data
    elif kind == 0 and ext_type in (43, 11):  # 8-bit length lists
        data = bytes([len(data)]) + data
    elif kind == 0:
        data = _inner(data, 0)
    return struct.pack("!HH", ext_type, len(data)) + data


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(extensions=st.lists(EXTENSION, max_size=10), ciphers=st.lists(st.integers(0, 0xFFFF), max_size=6),
       version=st.sampled_from([0x0301, 0x0303, 0x0300, 0xFEFD]), sid=st.integers(0, 33))
def test_generated_client_hellos_parse_alike(extensions, ciphers, version: int, sid: int) -> None:
    blob = b"".join(_extension(*e) for e in extensions)
    body = struct.pack("!H", version) + bytes(32) + bytes([sid]) + bytes(min(sid, 32))
    body += struct.pack(f"!H{len(ciphers)}H", 2 * len(ciphers), *ciphers) + b"\x01\x00"
    body += struct.pack("!H", len(blob)) + blob
    _assert_same_hello(body)
    _assert_same_hello(body)  # the second time through the shape memo


def test_client_hello_cases_the_fast_walk_hands_over() -> None:
    ext = struct.Struct("!HH").pack
    body = HELLO_SEEDS[0]
    ssl3 = b"\x03\x00" + bytes(32) + b"\x00" + b"\x00\x02\x00\x0a" + b"\x01\x00"  # no extensions block
    two_sni = _with_extensions(body, [ext(0, 6) + b"\x00\x04\x00\x00\x01" + name for name in (b"a", b"b")])
    odd_groups = _with_extensions(body, [ext(10, 3) + b"\x00\x01\x1d"])
    for case in (ssl3, two_sni, odd_groups, b"\xfe\xfd" + body[2:], body + b"trailing"):
        _assert_same_hello(case)
    assert fastpath.parse_client_hello(ssl3).extensions == []
    assert fastpath.parse_client_hello(two_sni).sni == "b"


def _with_extensions(body: bytes, extensions: list[bytes]) -> bytes:
    """`body` with its extensions block replaced."""
    pos = 35 + body[34]
    pos += 2 + int.from_bytes(body[pos : pos + 2], "big")
    pos += 1 + body[pos]
    blob = b"".join(extensions)
    return body[:pos] + struct.pack("!H", len(blob)) + blob


def test_grease_and_extension_order_do_not_split_the_ja4_memo() -> None:
    ciphers, sig = [0x1301, 0x1302], [0x0403]
    plain = ("t", 0x0303, [0x0304], True, ciphers, [0, 10, 13, 43], b"h2", sig)
    shuffled = ("t", 0x0303, [0x3A3A, 0x0304], True, [0x5A5A, *ciphers], [43, 0x2A2A, 13, 0, 10], b"h2", sig)
    first = fingerprint.ja4(*plain)
    assert fingerprint.ja4(*shuffled) == first  # from the memo
    fingerprint._JA4.clear()
    assert fingerprint.ja4(*shuffled) == first  # computed afresh
    assert first.startswith("t13d0204h2_")
    assert fingerprint.without_grease(range(0x0A0A, 0x0A0C)) == [0x0A0B]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seeds=st.lists(st.integers(0, 2**32 - 1), min_size=2, max_size=6), shuffle=st.booleans(),
       post_quantum=st.booleans())
def test_chrome_hellos_keep_their_own_grease_and_extension_order(seeds: list[int], shuffle: bool,
                                                                 post_quantum: bool) -> None:
    """Hellos of one Chrome build with fresh GREASE values (and shuffled extensions): each ClientHello
    from the fast parser is its own, GREASE values and wire order included, however the memos hit; the
    fast extraction (compiled memo keyed without them) gives the reference extraction's events."""
    records = [synth.client_hello("c.example", shuffle=shuffle, post_quantum=post_quantum,
                                  rng=random.Random(seed)) for seed in seeds]
    for record in records:
        body = tls.client_hello_body(record)
        _assert_same_hello(body)
        hello = fastpath.parse_client_hello(body)
        assert fingerprint.is_grease(hello.ciphers[0]) and fingerprint.is_grease(hello.extensions[0])
        assert hello.extensions == [t for t, _ in _wire_extensions(body)]
    pkts = [(1.0 + i, _seg(7, r, sport=40000 + i)) for i, r in enumerate(records)]
    fast, ref = _both([batch_of(pkts)])
    assert _events(fast) == _events(ref)
    assert [e.ja3 for e in fast.out.tls] == [tls.extract_client_hello(r).ja3 for r in records]


def _wire_extensions(body: bytes) -> list[tuple[int, int]]:
    pos = 35 + body[34]
    pos += 2 + int.from_bytes(body[pos : pos + 2], "big")
    pos += 3 + body[pos]
    out = []
    while pos < len(body):
        ext_type, size = struct.unpack_from("!HH", body, pos)
        out.append((ext_type, size))
        pos += 4 + size
    return out


DNS_SEEDS = [
    synth.dns_query("www.example.com", txid=1),
    synth.dns_response("www.example.com", "A", ["192.0.2.1", "192.0.2.2"], txid=2),
    synth.dns_response("v6.example", "AAAA", ["2001:db8::1"], txid=3),
    synth.dns_response("c.example", "CNAME", ["target.example"], txid=4),
]


@settings(max_examples=300, deadline=None)
@given(seed=st.sampled_from(DNS_SEEDS), edits=st.lists(st.tuples(st.integers(0, 400), st.integers(0, 255)),
                                                       max_size=3), cut=st.integers(0, 400))
def test_dns_memo_gives_the_reference_result(seed: bytes, edits: list[tuple[int, int]], cut: int) -> None:
    msg = bytearray(seed)
    for at, value in edits:
        msg[at % len(msg)] = value
    memo = fastpath.DnsMemo()
    for payload in (bytes(msg), bytes(msg[: cut % (len(msg) + 1)]), b"\x99\x99" + bytes(msg[2:])):
        expected = fastpath.dns_parsed(payload)
        assert memo.parse(payload) == expected
        ref = _outcome(dns.parse_dns, payload)
        if isinstance(ref, tuple):
            assert expected == ref[1]
        else:
            assert (expected.query, expected.qtype, list(expected.answers)) == (
                ref.query or "", ref.qtype or "", ref.answers)


def test_dns_memo_hits_only_on_equal_bytes_after_the_id() -> None:
    memo = fastpath.DnsMemo()
    a, b = synth.dns_query("one.example", txid=1), synth.dns_query("one.example", txid=2)
    assert memo.parse(a) is memo.parse(b) and (memo.hits, memo.misses) == (1, 1)
    assert memo.parse(synth.dns_query("two.example", txid=1)).query == "two.example"
    assert memo.parse(b"\x00\x01\x00") == "dns.short_header"


# ---------------------------------------------------------------------------------------------------
def _events(extractor: EventExtractor) -> tuple[list, list, list, dict]:
    def key(e) -> tuple:
        return tuple(str(v) for v in dataclasses.astuple(e))

    out = extractor.out
    return sorted(out.dns, key=key), sorted(out.tls, key=key), sorted(out.http, key=key), out.errors


def _both(batches) -> tuple[EventExtractor, EventExtractor]:
    fast, ref = EventExtractor(), EventExtractor(reference=True)
    for b in batches:
        h = decode_headers(b)
        fast.process(b, h)
        ref.process(b, h)
    return fast, ref


C, S = "10.0.0.5", "198.51.100.7"
MAC = b"\x02\x00\x00\x00\x00\x01"


def _seg(seq: int, payload: bytes, sport: int = 40000, dport: int = 443) -> bytes:
    flags = synth.ACK | synth.PSH
    l4 = synth.tcp(synth.packed_ip(C), synth.packed_ip(S), sport, dport, seq, 1, flags, payload)
    return synth.ethernet(MAC, MAC, 0x0800, synth.ip_packet(C, S, 6, l4))


def test_single_segment_and_stream_starts_mixed_in_one_batch() -> None:
    hello = synth.client_hello("one.example")
    big = synth.client_hello("two.example", post_quantum=True)
    req = synth.http_request("GET", "h.example", "/x", user_agent="ua")
    pkts = [(1.0, _seg(100, hello)), (1.1, _seg(100, hello)),  # a retransmitted whole hello: one event
            (1.2, _seg(900, b"ack-only-data")),  # same direction, not a start
            (2.0, _seg(5, big[:700], sport=40001)), (2.1, _seg(705, big[700:], sport=40001)),
            (2.2, _seg(1, hello, sport=40001)),  # a whole hello where a stream is open: goes with the stream
            (3.0, _seg(7, req[:10], sport=40002, dport=80)), (3.1, _seg(17, req[10:], sport=40002, dport=80)),
            (4.0, _seg(7, req, sport=40003, dport=80)),
            (4.1, _seg(7, b"GET \r\n\r\n", sport=40004, dport=80)),  # crashed the pipeline before
            (5.0, _seg(9, b"\x16\x03\x01\x00\x05\x01\x00\x00\x01\x00", sport=40005))]  # malformed whole hello
    fast, ref = _both([batch_of(pkts)])
    assert _events(fast) == _events(ref)
    # In one batch the stream of port 40001 is open when its whole hello comes, which it cannot join.
    assert sorted(e.sni for e in fast.out.tls) == ["one.example", "two.example"]
    assert [e.host for e in fast.out.http] == ["h.example", "h.example"]
    assert fast.out.errors == {"http.bad_request_line": 1, "tls.truncated": 1}
    for cut in (3, 5, 6):
        fast, ref = _both([batch_of(pkts[:cut]), batch_of(pkts[cut:])])
        assert _events(fast) == _events(ref), cut


def test_client_hello_in_two_segments_without_a_stream(monkeypatch: pytest.MonkeyPatch) -> None:
    big = synth.client_hello("pq.example.org", post_quantum=True)
    cut = 1400
    a, b = big[:cut], big[cut:]
    cases = {
        "in order": [(1.0, _seg(10, a)), (1.1, _seg(10 + cut, b))],
        "second first": [(1.0, _seg(10 + cut, b)), (1.1, _seg(10, a))],
        "second retransmitted": [(1.0, _seg(10, a)), (1.1, _seg(10 + cut, b)), (1.2, _seg(10 + cut, b))],
        "gap then second": [(1.0, _seg(10, a)), (1.1, _seg(10 + cut + 50, b[50:])), (1.2, _seg(10 + cut, b))],
        "three segments": [(1.0, _seg(10, a[:700])), (1.1, _seg(710, a[700:])), (1.2, _seg(10 + cut, b))],
        "start retransmitted": [(1.0, _seg(10, a)), (1.1, _seg(10, a)), (1.2, _seg(10 + cut, b))],
    }
    stream_segments: list[int] = []
    stream_path = EventExtractor._tcp
    monkeypatch.setattr(EventExtractor, "_tcp",
                        lambda self, *args: stream_segments.append(1) or stream_path(self, *args))
    paired = {"in order", "second first", "second retransmitted"}
    for name, pkts in cases.items():
        stream_segments.clear()
        fast = EventExtractor()
        fast.process(batch := batch_of(pkts), decode_headers(batch))
        assert bool(stream_segments) == (name not in paired), name
        ref = EventExtractor(reference=True)
        ref.process(batch, decode_headers(batch))
        assert _events(fast) == _events(ref), name
        assert [e.sni for e in fast.out.tls] == ["pq.example.org"], name
        assert not fast.streams and not ref.streams, name
    fast = EventExtractor()
    fast.process(batch := batch_of(cases["in order"]), decode_headers(batch))
    assert fast.out.tls[0].ts == 1.0


@pytest.mark.skipif(not corpus_files(), reason="../shared/corpus is not present")
def test_fast_and_reference_extraction_agree_on_the_corpus() -> None:
    compared = 0
    for path, batches in corpus_batches():
        fast, ref = _both(batches)
        assert _events(fast) == _events(ref), path.name
        compared += 1
    assert compared > 100


def test_overtaking_segments_sslv2_and_websocket_hellos_agree_at_every_batch_cut() -> None:
    big = synth.client_hello("pq.example.org", post_quantum=True)
    one = synth.client_hello("one.example")
    specs = bytes.fromhex("000039" "010080")
    body = struct.pack("!BHHHH", 1, 0x0301, len(specs), 0, 16) + specs + bytes(16)
    sslv2 = struct.pack("!H", 0x8000 | len(body)) + body
    mask = b"\x01\x02\x03\x04"
    masked = bytes(a ^ b for a, b in zip(one, (mask * len(one))[: len(one)], strict=True))
    ws = b"\x82\xfe" + struct.pack("!H", len(one)) + mask + masked
    pkts = [(1.0, _seg(1401, big[1400:])), (1.1, _seg(10, b"tail of something else", sport=40009)),
            (1.2, _seg(1, big[:1400])), (1.3, _seg(5, sslv2[:20], sport=40001)),
            (1.4, _seg(25, sslv2[20:], sport=40001)), (1.5, _seg(9, ws, sport=40002, dport=80)),
            (1.6, _seg(1, one, sport=40003)),
            (1.7, _seg(1 + len(one), b"\x17\x03\x03\x00\x01\x00", sport=40003))]
    for cut in range(len(pkts) + 1):
        batches = [batch_of(p) for p in (pkts[:cut], pkts[cut:]) if p]
        fast, ref = _both(batches)
        assert _events(fast) == _events(ref), cut
        snis = sorted(e.sni or "" for e in fast.out.tls)
        assert snis == ["", "one.example", "one.example", "pq.example.org"], cut
