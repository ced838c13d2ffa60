"""The compiled event walks (`netdetect/decode/_events.c`) give what the Python code they stand in for
gives: each walk against its Python parser on generated, mutated and cut messages (hypothesis), the
candidate pass against the numpy selection, and whole extractions, whose tables must be byte for byte
those of the Python fast path (rows, answers, pool ids, error counts), on generated packet mixes and
on every capture of the shared corpus."""

from __future__ import annotations

import hashlib
import ipaddress
import random
import struct
from collections import OrderedDict

import numpy as np
import pytest
from _packets import batch_of, corpus_batches, corpus_files
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from netdetect.arrays import hash_columns
from netdetect.capture.batch import PacketBatch
from netdetect.decode import dns, extract, fastpath, http, tls
from netdetect.decode.errors import DecodeError
from netdetect.decode.extract import EventExtractor, EventTables
from netdetect.decode.headers import decode_headers, payload_prefix
from netdetect.native import built, reference_path
from netdetect.tables import addr16
from netdetect.testing import synth

ev = built("netdetect.decode._events")
pytestmark = pytest.mark.skipif(ev is None, reason="the compiled core is not built")

SLOW = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# ---------------------------------------------------------------------------------------------------
# DNS
def _label(raw: bytes) -> bytes:
    return bytes([len(raw)]) + raw


LABELS = st.one_of(
    st.sampled_from(
        [
            b"www",
            b"Example",
            b"COM",
            b"a-b_c",
            b"x.y",
            b"back\\slash",
            b"\x00\x01",
            b"\xff",
            b"sp ace",
            b"~!",
            b"A" * 63,
        ]
    ),
    st.binary(min_size=1, max_size=6),
)
RTYPES = [1, 1, 28, 28, 5, 5, 2, 12, 39, 15, 33, 6, 16, 99, 41, 64, 65, 13, 257, 0, 0xFFFF]


@st.composite
def dns_messages(draw: st.DrawFn) -> bytes:
    """A DNS message with compression pointers (to earlier names, into the header, forward, to itself),
    records of every type the walk decides or hands over, rdata well formed or not, counts that lie."""
    msg = bytearray(12)
    starts: list[int] = []

    def name() -> bytes:
        at = len(msg)
        out = b"".join(_label(x) for x in draw(st.lists(LABELS, max_size=4)))
        end = draw(st.sampled_from(["root", "root", "earlier", "any", "self", "bad"]))
        if end == "root":
            out += b"\x00"
        elif end == "bad":
            out += bytes([draw(st.sampled_from([0x40, 0x80, 0xBF]))])
        else:
            target = {
                "earlier": draw(st.sampled_from(starts)) if starts else 12,
                "any": draw(st.integers(0, 120)),
                "self": at,
            }[end]
            out += struct.pack("!H", 0xC000 | target)
        starts.append(at)
        return out

    def rdata(rtype: int) -> bytes:
        if draw(st.integers(0, 4)) == 0:
            return draw(st.binary(max_size=24))
        if rtype == 1:
            return draw(st.binary(min_size=4, max_size=4))
        if rtype == 28:
            hextets = st.lists(st.sampled_from([0, 0, 0, 1, 0xFFFF, 0x0DB8]), min_size=8, max_size=8)
            return struct.pack("!8H", *draw(hextets))
        if rtype in (2, 5, 12, 39):
            return name()
        if rtype == 15:
            return struct.pack("!H", draw(st.integers(0, 0xFFFF))) + name()
        if rtype == 33:
            numbers = st.lists(st.integers(0, 0xFFFF), min_size=3, max_size=3)
            return struct.pack("!3H", *draw(numbers)) + name()
        if rtype == 6:
            return name() + name() + draw(st.binary(min_size=18, max_size=22))
        if rtype in (16, 99):
            strings = draw(st.lists(st.binary(max_size=120), max_size=4))
            return b"".join(_label(s) if s else b"\x00" for s in strings)
        return draw(st.binary(max_size=300))

    questions = draw(st.integers(0, 2))
    for _ in range(questions):
        msg += name() + struct.pack("!HH", draw(st.sampled_from(RTYPES)), 1)
    answers = draw(st.integers(0, 4))
    for _ in range(answers):
        rtype = draw(st.sampled_from(RTYPES))
        msg += name()
        body = rdata(rtype)
        length = len(body) if draw(st.integers(0, 5)) else draw(st.integers(0, 0xFFFF))
        msg += struct.pack("!HHIH", rtype, 1, draw(st.integers(0, 0xFFFFFFFF)), length) + body
    flags = draw(st.sampled_from([0x0100, 0x8180, 0x8183, 0x2800, 0xA800, 0x2100]) | st.integers(0, 0xFFFF))
    counts = (
        (questions, answers)
        if draw(st.integers(0, 3))
        else draw(st.tuples(st.integers(0, 5), st.integers(0, 6)))
    )
    msg[:8] = struct.pack("!4H", draw(st.integers(0, 0xFFFF)), flags, *counts)
    return bytes(msg)


def _assert_same_dns(payload: bytes) -> None:
    expected = fastpath.dns_parsed(payload)
    assert fastpath.dns_parsed_native(payload) == expected
    walked = ev.dns_walk(payload, dns.QTYPES)
    if walked is not None:  # the walk decided: in the form the row builder interns
        assert walked == fastpath.dns_fields(payload)


@SLOW
@given(msg=dns_messages(), cut=st.integers(0, 400))
def test_dns_walk_gives_the_reference_result_on_generated_messages(msg: bytes, cut: int) -> None:
    _assert_same_dns(msg)
    _assert_same_dns(msg[: cut % (len(msg) + 1)])


DNS_SEEDS = [
    synth.dns_query("WWW.Example.COM", txid=1),
    synth.dns_response("www.example.com", "A", ["192.0.2.1", "cdn.example.net", "192.0.2.2"], txid=2),
    synth.dns_response("v6.example", "AAAA", ["2001:db8::1", "::ffff:192.0.2.1", "::"], txid=3),
    synth.dns_response("missing.example", "A", [], rcode=3, txid=4),
    synth.dns_response(
        "t.example", "TXT", [synth.DnsRecord("t.example", "TXT", "v=spf1 -all \x01\\")], txid=5
    ),
    synth.dns_response("mx.example", 15, [synth.DnsRecord("mx.example", "MX", b"\x00\x0a\x02mx\xc0\x0c")]),
    synth.dns_response(
        "h.example", 65, [synth.DnsRecord("h.example", "HTTPS", b"\x00\x01\x00\x00\x01\x00\x03\x02h2")]
    ),
]


@SLOW
@given(
    seed=st.sampled_from(DNS_SEEDS),
    edits=st.lists(st.tuples(st.integers(0, 400), st.integers(0, 255)), max_size=3),
)
def test_dns_walk_gives_the_reference_result_on_mutated_messages(
    seed: bytes, edits: list[tuple[int, int]]
) -> None:
    msg = bytearray(seed)
    for at, value in edits:
        msg[at % len(msg)] = value
    _assert_same_dns(bytes(msg))


def test_dns_walk_at_every_cut_and_on_pointer_tricks() -> None:
    for seed in DNS_SEEDS:
        for cut in range(len(seed) + 1):
            _assert_same_dns(seed[:cut])
    header = struct.pack("!6H", 7, 0x8180, 1, 1, 0, 0)
    question = b"\x01a\x00\x00\x01\x00\x01"
    cases = [
        header[:6] + b"\x00\x01" + header[8:] + b"\xc0\x0c\x00\x01\x00\x01",  # points at itself
        header + b"\xc0\x02\x00\x01\x00\x01",  # into the header
        header + question + b"\xc0\x11" + struct.pack("!HHIH", 1, 1, 5, 4) + bytes(4),  # past the end
        # a chain of 65 pointers back to a name
        header + b"".join(struct.pack("!H", 0xC000 | (12 + 2 * i)) for i in range(1, 66)) + b"\x01x\x00",
        # an owner pointing at the root name of the question (a known name with empty text)
        header + b"\x00\x00\x01\x00\x01\x01b\xc0\x0c" + struct.pack("!HHIH", 1, 1, 5, 4) + bytes(4),
        header + b"".join(b"\x3f" + bytes([c]) * 63 for c in b"abcd") + b"\x00",  # a name too long
        header + b"\x01a\xc0\x0c\x00\x01\x00\x01",  # a suffix pointer at the name being read
    ]
    soa = b"\x02ns\x00\x04host\x00" + bytes(19)  # numbers overrun the rdata, not the message
    cases.append(
        struct.pack("!6H", 7, 0x8180, 0, 2, 0, 0)
        + b"\x00"
        + struct.pack("!HHIH", 6, 1, 5, len(soa))
        + soa
        + b"\x00"
        + struct.pack("!HHIH", 1, 1, 5, 4)
        + bytes(4)
        + bytes(8)
    )
    for case in cases:
        _assert_same_dns(case)
    assert ev.dns_walk(cases[1], dns.QTYPES) == "dns.bad_pointer"
    assert ev.dns_walk(b"\x00" * 11, dns.QTYPES) == "dns.short_header"


@settings(max_examples=300, deadline=None)
@given(hextets=st.lists(st.sampled_from([0, 0, 0, 1, 0xABCD, 0xFFFF]), min_size=8, max_size=8))
def test_aaaa_text_is_pythons(hextets: list[int]) -> None:
    raw = struct.pack("!8H", *hextets)
    msg = synth.dns_response("v6.example", "AAAA", [synth.DnsRecord("v6.example", "AAAA", raw)])
    walked = ev.dns_walk(msg, dns.QTYPES)
    assert walked[4][0][2] == str(ipaddress.IPv6Address(raw))
    assert walked[4][0][4] == raw == addr16(walked[4][0][2])


# ---------------------------------------------------------------------------------------------------
# ClientHello
def _python_walk(body: bytes) -> tuple | None:
    try:
        return fastpath._walk(body)
    except (fastpath._Unusual, IndexError, struct.error):
        return None


# Every fingerprint memo key seen in this module's tests -> what the TLS row takes from the shape: equal
# keys must never stand for different values (GREASE and extension order may differ; nothing else).
_KEYED: dict[bytes, tuple] = {}


def _assert_same_walk(body: bytes) -> None:
    walked = _python_walk(body)
    assert ev.hello_walk(body) == walked
    _assert_fingerprint_is_pythons(body, walked)


def _assert_fingerprint_is_pythons(body: bytes, walked: tuple | None) -> None:
    """The compiled path fingerprints a hello itself exactly where Python's shape decodes it without
    handing over and no shape extension repeats (so their order cannot count); then its JA3 string and
    hash are Python's, and the memo key decides the rest of the row."""
    fp = ev.hello_fingerprint(body, 1 << 20)
    if walked is None:
        assert fp is None
        return
    shaping = [t for t in walked[0][2] if t in fastpath._SHAPE_EXTENSIONS]
    try:
        shape = fastpath._shape(*walked[0])
    except fastpath._Unusual:
        assert fp is None
        return
    assert (fp is not None) == (len(set(shaping)) == len(shaping))
    if fp is None:
        return
    key, ja3, ja3_hash = fp
    assert (ja3, ja3_hash) == (shape.ja3, shape.ja3_hash)
    row = (shape.alpn, shape.versions, shape.ech, shape.ja4)
    assert _KEYED.setdefault(key, row) == row


SNI_BODIES = st.one_of(
    st.binary(max_size=12).map(lambda n: struct.pack("!HBH", len(n) + 3, 0, len(n)) + n),  # one host_name
    st.binary(max_size=12).map(lambda n: struct.pack("!HBH", len(n) + 3, 1, len(n)) + n),  # another type
    st.binary(max_size=12).map(lambda n: struct.pack("!HBH", len(n) + 9, 0, len(n)) + n),  # list length lies
    st.binary(max_size=12).map(lambda n: struct.pack("!HBH", len(n) + 3, 0, len(n) + 2) + n),  # name lies
    st.binary(max_size=6),
)
EXTENSION_TYPES = [0, 0, 5, 10, 11, 13, 16, 21, 23, 43, 45, 51, 0x0A0A, 0x39, 0xFE0D, 0xFFA5]


@st.composite
def extensions(draw: st.DrawFn) -> bytes:
    ext_type = draw(st.sampled_from(EXTENSION_TYPES) | st.integers(0, 0xFFFF))
    raw = draw(st.binary(max_size=16))
    kind = draw(st.integers(0, 2))
    if ext_type == 0:
        body = draw(SNI_BODIES)
    elif kind == 0 and ext_type == 16:
        body = struct.pack("!HB", len(raw) + 1, len(raw)) + raw
    elif kind == 0 and ext_type in (43, 11):
        body = bytes([len(raw)]) + raw
    elif kind == 0:
        body = struct.pack("!H", len(raw)) + raw
    else:
        body = raw
    length = len(body) if draw(st.integers(0, 6)) else draw(st.integers(0, 40))
    return struct.pack("!HH", ext_type, length) + body


@st.composite
def hello_bodies(draw: st.DrawFn) -> bytes:
    version = draw(st.sampled_from([0x0301, 0x0303, 0x0300, 0xFEFD, 0x0200]))
    sid = draw(st.integers(0, 34))
    ciphers = draw(st.binary(max_size=12))
    body = struct.pack("!H", version) + bytes(32) + bytes([sid]) + bytes(sid)
    body += struct.pack("!H", len(ciphers)) + ciphers
    body += draw(st.sampled_from([b"\x01\x00", b"\x00", b"\x02\x00\x01"]))  # compression methods
    blob = b"".join(draw(st.lists(extensions(), max_size=8)))
    length = len(blob) if draw(st.integers(0, 5)) else draw(st.integers(0, 80))
    trailing = draw(st.sampled_from([b"", b"", b"x", b"\x00\x00\x00\x00"]))
    return body + struct.pack("!H", length) + blob + trailing


@SLOW
@given(body=hello_bodies(), cut=st.integers(0, 300))
def test_hello_walk_is_the_python_walk_on_generated_hellos(body: bytes, cut: int) -> None:
    _assert_same_walk(body)
    _assert_same_walk(body[: cut % (len(body) + 1)])


HELLO_SEEDS = [
    tls.client_hello_body(h)
    for h in (
        synth.client_hello("a.example"),
        synth.client_hello("pq.example.org", post_quantum=True),
        synth.client_hello(None, profile="schannel"),
        synth.client_hello("e.example", ech=True, alpn=()),
    )
]


@SLOW
@given(
    seed=st.sampled_from(HELLO_SEEDS),
    edits=st.lists(st.tuples(st.integers(0, 2000), st.integers(0, 255)), max_size=4),
)
def test_hello_walk_is_the_python_walk_on_mutated_hellos(seed: bytes, edits: list[tuple[int, int]]) -> None:
    body = bytearray(seed)
    for at, value in edits:
        body[at % len(body)] = value
    _assert_same_walk(bytes(body))


@st.composite
def chrome_hellos(draw: st.DrawFn) -> bytes:
    """A TLS record holding a Chrome-like ClientHello of one of a few client builds: fresh GREASE
    values, and mostly its extensions shuffled, as Chrome sends per connection."""
    return synth.client_hello(
        draw(st.sampled_from(["a.example", "b.example", "x" * 60 + ".example", None])),
        alpn=draw(
            st.sampled_from(
                [("h2", "http/1.1"), ("http/1.1",), ("h2",), ("h3",), (), ("\x00", "h3"), ("http/1.0",)]
            )
        ),
        versions=draw(st.sampled_from([(0x0304, 0x0303), (0x0303,), (0x0304,)])),
        post_quantum=draw(st.booleans()),
        ech=draw(st.integers(0, 3)) == 0,
        profile=draw(st.sampled_from(["chrome", "chrome", "chrome", "schannel"])),
        shuffle=draw(st.integers(0, 3)) > 0,
        rng=random.Random(draw(st.integers(0, 2**32 - 1))),
    )


@SLOW
@given(
    record=chrome_hellos(),
    edits=st.lists(st.tuples(st.integers(0, 2000), st.integers(0, 255)), max_size=3),
    cut=st.integers(0, 2000),
)
def test_hello_fingerprint_is_pythons_on_chrome_hellos(
    record: bytes, edits: list[tuple[int, int]], cut: int
) -> None:
    body = tls.client_hello_body(record)
    assert body is not None
    _assert_same_walk(body)
    assert ev.hello_fingerprint(body, fastpath.SHAPE_MAX_BYTES) is not None
    mutated = bytearray(body)
    for at, value in edits:
        mutated[at % len(mutated)] = value
    _assert_same_walk(bytes(mutated))
    _assert_same_walk(bytes(mutated[: cut % (len(mutated) + 1)]))


def test_hello_fingerprint_of_grease_and_shuffled_variants_shares_one_key() -> None:
    """Fresh GREASE values and a new extension order keep the memo key; the JA3 string follows the wire
    order; what changes JA4, ALPN or the versions changes the key."""
    keys, ja3s = set(), set()
    for i in range(50):
        record = synth.client_hello("k.example", shuffle=i % 2 == 1, rng=random.Random(i))
        body = tls.client_hello_body(record)
        key, ja3, _ = ev.hello_fingerprint(body, fastpath.SHAPE_MAX_BYTES)
        keys.add(key)
        ja3s.add(ja3)
        assert ja3 == tls.parse_client_hello(body).ja3
    assert len(keys) == 1 and len(ja3s) > 20
    variants = [
        {"alpn": ("http/1.1",)},
        {"versions": (0x0303,)},
        {"sni": None},
        {"ech": True},
        {"post_quantum": True},
        {"profile": "schannel"},
    ]
    others = [synth.client_hello(v.pop("sni", "k.example"), **v) for v in variants]
    other_keys = {ev.hello_fingerprint(tls.client_hello_body(h), fastpath.SHAPE_MAX_BYTES)[0] for h in others}
    assert len(other_keys) == len(others) and not other_keys & keys
    body = tls.client_hello_body(synth.client_hello("k.example"))
    assert ev.hello_fingerprint(body, 10) is None  # past the memo's size bound: the Python path


SHAPE_EXTENSION_CASES = {  # each shape extension well formed, and in forms Python's shape hands over
    16: [
        b"\x00\x03\x02h2",
        b"\x00\x00",
        b"\x00\x03\x02h2xx",
        b"\x00\x03\x03h2",
        b"\x00",
        b"",
        b"\x00\x04\x02h2",
    ],
    43: [b"\x04\x03\x04\x03\x03", b"\x00", b"\x03\x03\x04\x03", b"\x02\x03\x04\x03", b"", b"\x05\x03\x04"],
    10: [
        b"\x00\x02\x00\x1d",
        b"\x00\x00",
        b"\x00\x03\x00\x1d\x00",
        b"\x00\x02\x00\x1dzz",
        b"\x00",
        b"\x00\x04\x00",
    ],
    13: [b"\x00\x02\x04\x03", b"\x00\x01\x04\x03", b"\x00\x02\x04\x03\x00", b"", b"\x00\x06\x04\x03"],
    11: [b"\x01\x00", b"\x00", b"\x02\x00\x01", b"\x01\x00\x01", b"", b"\x03\x00"],
}


def test_hello_fingerprint_of_every_shape_extension_form() -> None:
    """Each shape extension alone, well formed or not, once or twice (then always the Python path),
    next to the other extensions: the compiled path decides exactly the hellos Python's shape decodes."""
    body = tls.client_hello_body(synth.client_hello("f.example"))
    plain = [struct.pack("!HH", 0, 14) + b"\x00\x0c\x00\x00\x09f.example", struct.pack("!HH", 0x0A0A, 0)]
    decided = 0
    for ext_type, forms in SHAPE_EXTENSION_CASES.items():
        for form in forms:
            ext = struct.pack("!HH", ext_type, len(form)) + form
            for blobs in ([ext], [*plain, ext], [ext, *plain, ext], [ext, struct.pack("!HH", ext_type, 0)]):
                hello = _with_extensions(body, blobs)
                _assert_same_walk(hello)
                decided += ev.hello_fingerprint(hello, 1 << 20) is not None
    assert decided > 20


def test_hello_fingerprint_after_every_one_byte_change() -> None:
    """Each byte of some Chrome hellos set to a few values in turn: wherever the compiled path still
    fingerprints the hello, it agrees with Python and its memo key with every other key seen."""
    for i, kwargs in enumerate([{}, {"post_quantum": True, "alpn": ("h2",)}, {"ech": True, "sni": None}]):
        sni = kwargs.pop("sni", "m.example")
        body = tls.client_hello_body(synth.client_hello(sni, shuffle=True, rng=random.Random(i), **kwargs))
        start = 38 + body[34] + int.from_bytes(body[35 + body[34] : 37 + body[34]], "big")  # the extensions
        for at in range(start, len(body)):
            for delta in (1, 0x10, 0x80):
                mutated = bytearray(body)
                mutated[at] ^= delta
                _assert_same_walk(bytes(mutated))


def _with_extensions(body: bytes, blobs: list[bytes]) -> bytes:
    pos = 35 + body[34]
    pos += 2 + int.from_bytes(body[pos : pos + 2], "big")
    pos += 1 + body[pos]
    blob = b"".join(blobs)
    return body[:pos] + struct.pack("!H", len(blob)) + blob


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=300))
def test_md5_is_hashlibs(data: bytes) -> None:
    assert ev.md5_hex(data) == hashlib.md5(data).hexdigest()
    for n in range(130):  # every tail length around the one- and two-block paddings
        assert ev.md5_hex(bytes(range(n))) == hashlib.md5(bytes(range(n))).hexdigest()


def test_hello_walk_at_every_cut() -> None:
    for seed in HELLO_SEEDS:
        for cut in range(len(seed) + 1):
            _assert_same_walk(seed[:cut])
    assert ev.hello_walk(HELLO_SEEDS[0])[1] == "a.example"
    for sid in (32, 33, 255):  # session IDs past 32 bytes go to the reference parser
        rest = b"\x00\x02\x13\x01" + b"\x01\x00" + b"\x00\x04" + b"\x00\x17\x00\x00"
        body = struct.pack("!H", 0x0303) + bytes(32) + bytes([sid]) + bytes(sid) + rest
        _assert_same_walk(body)
        assert (ev.hello_walk(body) is None) == (sid > 32)
    for size in range(6):  # a server_name extension too short for its fields, ending the hello
        blob = struct.pack("!HH", 0, size) + bytes(size)
        head = struct.pack("!H", 0x0303) + bytes(33) + b"\x00\x02\x13\x01\x01\x00"
        _assert_same_walk(head + struct.pack("!H", len(blob)) + blob)


# ---------------------------------------------------------------------------------------------------
# HTTP
def _python_request(data: bytes) -> tuple | str:
    try:
        req = http.parse_http_request(data)
    except DecodeError as exc:
        return exc.reason
    return "http.malformed" if req is None else (req.method, req.uri, req.host, req.user_agent)


def _assert_same_request(data: bytes) -> None:
    walked = ev.http_walk(data, http.METHOD_PREFIXES, http.MAX_HEADER_BYTES, http.MAX_TEXT)
    if walked is None:  # handed over: only for folded header lines
        assert b"\n " in data or b"\n\t" in data
    else:
        assert walked == _python_request(data)


HEADER_NAMES = [
    b"Host",
    b"host",
    b"HOST ",
    b" User-Agent",
    b"user-agent",
    b"X-Other",
    b"Hostname",
    b"",
    b"\x0bHost\x0c",
    b"User-Agent\r",
]


@st.composite
def requests(draw: st.DrawFn) -> bytes:
    method = draw(st.sampled_from([*http.METHODS, b"GETX", b"get", b"POSTING", b"M-SEARCH"]))
    line = method + draw(st.sampled_from([b" ", b"  ", b"\t", b""]))
    line += draw(
        st.sampled_from([b"/", b"/a b", b"*", b"", b" /x ", b"http://h/\x00\xff"]) | st.binary(max_size=12)
    )
    line += draw(
        st.sampled_from(
            [
                b" HTTP/1.1",
                b" HTTP/1.0",
                b" HTTP/2",
                b" HTTP/1.x",
                b" HTTP/",
                b"",
                b"  HTTP/1.1 ",
                b" http/1.1",
                b" HTTP/1.1\r",
            ]
        )
    )
    eol = draw(st.sampled_from([b"\r\n", b"\n", b"\r\r\n"]))
    out = line + eol
    for _ in range(draw(st.integers(0, 5))):
        kind = draw(st.integers(0, 6))
        if kind == 0:
            out += draw(st.sampled_from([b" folded", b"\tfolded", b"no colon"])) + eol
        else:
            value = draw(
                st.sampled_from([b" h.example ", b"ua/1.0", b"", b" \x01\x7f\\ ", b"\x0bv\x0c\t"])
                | st.binary(max_size=10)
            )
            out += draw(st.sampled_from(HEADER_NAMES)) + b":" + value + eol
    return out + draw(st.sampled_from([eol, b"", b"\n"]))


@SLOW
@given(data=requests(), cut=st.integers(0, 300))
def test_http_walk_is_the_python_parser(data: bytes, cut: int) -> None:
    _assert_same_request(data)
    _assert_same_request(data[: cut % (len(data) + 1)])


def test_http_walk_on_long_requests_and_every_cut() -> None:
    seed = synth.http_request("POST", "h.example", "/p?q=1", user_agent="UA \x01")
    for cut in range(len(seed) + 1):
        _assert_same_request(seed[:cut])
    for data in (
        b"GET /" + b"a" * 20000,
        b"GET / HTTP/1.1\r\nHost: " + b"h" * 20000 + b"\r\n\r\n",
        b"GET / HTTP/1.1\r\nX: " + b"x" * 16380 + b"\r\nHost: late\r\n\r\n",
    ):
        _assert_same_request(data)


# ---------------------------------------------------------------------------------------------------
# Candidate pass
@st.composite
def payload_rows(draw: st.DrawFn) -> tuple:
    starts = [
        b"\x16\x03\x01\x00\x40\x01\x00\x00\x3c",
        b"\x16\x03\x05\xff\xff\x01\x00\x00\x10",
        b"GET ",
        b"POST",
        b"CONN",
        b"\x14\x03\x03\x00\x01\x01\x16",
        b"\x80\x2e\x01\x03\x01\x00\x03\x00\x00",
        b"\x82\xfe\x01\x00\x00\x00\x00\x00\x16",
        b"\x82\x85\x00\x00\x00\x00\x16\x03",
        b"\xc3\x00\x00\x00\x01",
        b"GET / HTTP/1.1\r\n\r\n",
        b"PUT x\n\n",
        b"\x16\x03\x05\x00\x40\x01\x00\x00\x3c",
        b"\x16\x03\x04\x48\x00\x01\x00\x47\xfc",
        b"\x16\x03\x01\x00\x05\x01\x00\x00\x01",
    ]  # a hello of 1 byte: whole from 10 bytes on
    n = draw(st.integers(1, 30))
    data = bytearray(draw(st.binary(max_size=8)))
    cols: dict[str, list] = {k: [] for k in ("off", "caplen", "proto", "sport", "dport", "fragment")}
    for _ in range(n):
        payload = draw(st.sampled_from(starts) | st.binary(max_size=12)) + draw(st.binary(max_size=6))
        cols["off"].append(len(data))
        data += payload
        cols["caplen"].append(draw(st.sampled_from([len(payload), len(payload), 0, len(payload) + 40])))
        cols["proto"].append(draw(st.sampled_from([6, 6, 17, 1])))
        cols["sport"].append(draw(st.sampled_from([53, 5353, 443, 40000, 5355])))
        cols["dport"].append(draw(st.sampled_from([53, 80, 443, 4433])))
        cols["fragment"].append(draw(st.integers(0, 7)) == 0)
    addresses = [
        np.array(draw(st.lists(st.integers(0, 2**64 - 1), min_size=n, max_size=n)), np.uint64)
        for _ in range(4)
    ]
    return np.frombuffer(bytes(data), np.uint8), {k: np.array(v) for k, v in cols.items()}, addresses


@SLOW
@given(rows=payload_rows())
def test_classify_is_the_numpy_selection(rows: tuple) -> None:
    data, c, (src_hi, src_lo, dst_hi, dst_lo) = rows
    n = len(c["off"])
    off, caplen = c["off"].astype(np.int64), c["caplen"].astype(np.int64)
    proto = c["proto"].astype(np.uint8)
    sport, dport = c["sport"].astype(np.int64), c["dport"].astype(np.int64)
    fragment = c["fragment"].astype(bool)
    out = [
        np.empty(n, np.int64),
        np.empty(n, np.uint16),
        np.empty(n, np.int64),
        np.empty(n, np.uint64),
        np.empty(n, np.int64),
    ]
    m = ev.classify(
        data,
        off,
        caplen,
        proto,
        sport,
        dport,
        fragment,
        src_hi,
        src_lo,
        dst_hi,
        dst_lo,
        tls.MAX_RECORD_LEN,
        extract.HTTP_MAX_WAIT,
        extract._METHOD_WORDS,
        *out,
    )
    got_rows, flags, hs_len, dirkey, http_end = (a[:m] for a in out)

    r = np.flatnonzero((caplen > 0) & ~fragment)
    assert got_rows.tolist() == r.tolist()
    if not len(r):
        return
    pfx = payload_prefix(data, off[r], caplen[r], 9).astype(np.int64)
    cand = extract._candidates(pfx, proto[r], sport[r], dport[r])
    ws = np.zeros(len(r), bool)
    ws[cand.ws_hello] = True
    buf = data.data
    http_rows = (cand.http_start & ~cand.tls_start).tolist()
    ends = [
        extract._http_header_end(buf[o : o + k].tobytes()) if is_http else None
        for o, k, is_http in zip(off[r].tolist(), caplen[r].tolist(), http_rows, strict=True)
    ]
    whole_http = np.array([e is not None for e in ends], bool)
    expected = {
        ev.F_TCP: cand.tcp,
        ev.F_UDP_DNS: cand.udp & cand.dnsport,
        ev.F_QUIC: cand.quic_initial,
        ev.F_TLS_START: cand.tls_start,
        ev.F_CCS_HELLO: cand.ccs_hello,
        ev.F_SSLV2: cand.sslv2_start,
        ev.F_WEBSOCKET: ws,
        ev.F_HTTP_START: cand.http_start,
        ev.F_DNS_TCP: cand.dns_tcp,
        ev.F_IN_RECORD: cand.in_record,
        ev.F_WHOLE_TLS: cand.in_record & (cand.hs_len + 9 <= caplen[r]),
        ev.F_WHOLE_HTTP: whole_http,
    }
    for bit, mask in expected.items():
        assert ((flags & bit) != 0).tolist() == mask.tolist(), bit
    assert hs_len.tolist() == cand.hs_len.tolist()
    assert http_end.tolist() == [-1 if e is None else e for e in ends]
    keys = hash_columns(src_hi[r], src_lo[r], dst_hi[r], dst_lo[r], sport[r], dport[r])
    assert dirkey.tolist() == keys.tolist()


@settings(max_examples=100, deadline=None)
@given(
    values=st.lists(st.integers(0, 40) | st.integers(0, 2**64 - 1), max_size=60),
    keys=st.lists(st.integers(0, 40) | st.integers(0, 2**64 - 1), max_size=30),
)
def test_member_is_isin(values: list[int], keys: list[int]) -> None:
    v, k = np.array(values, np.uint64), np.array(keys, np.uint64)
    out = np.empty(len(v), np.uint8)
    ev.member(v, k, out)
    assert out.astype(bool).tolist() == np.isin(v, k).tolist()


def _python_extractor(**kwargs: int) -> EventExtractor:
    """The fast path with its walks in Python: what an extractor made with the compiled core off runs."""
    with reference_path():
        return EventExtractor(**kwargs)


@settings(max_examples=100, deadline=None)
@given(pairs=st.lists(st.tuples(st.integers(0, 5), st.integers(0, 3)), max_size=40), limit=st.integers(1, 6))
def test_first_sights_are_pythons(pairs: list[tuple[int, int]], limit: int) -> None:
    python, native = _python_extractor(max_streams=limit), EventExtractor(max_streams=limit)
    keys = np.array([k * 0x9E3779B97F4A7C15 % 2**64 for k, _ in pairs], np.uint64)
    seqs = np.array([s for _, s in pairs], np.int64)
    idx = np.arange(len(pairs), dtype=np.int64)
    for half in (idx[: len(idx) // 2], idx[len(idx) // 2 :]):
        fresh = python._fresh_starts(half, keys, seqs)
        assert native._fresh_starts(half, keys, seqs).tolist() == fresh.tolist()
        assert list(python.starts_seen) == list(native.starts_seen)
    assert isinstance(native.starts_seen, OrderedDict)


# ---------------------------------------------------------------------------------------------------
# Whole extractions: byte for byte the Python fast path's tables


def _assert_same_extraction(batches: list[PacketBatch]) -> EventExtractor:
    python, native = _python_extractor(), EventExtractor()
    assert native.native is not None
    for b in batches:
        h = decode_headers(b)
        python.process(b, h)
        native.process(b, h)
    assert native.out.snapshot() == python.out.snapshot()
    return native


CLIENTS = ["10.0.0.5", "10.0.0.6", "2001:db8::5"]
SERVER, SERVER6 = "198.51.100.7", "2001:db8::53"
MAC = b"\x02\x00\x00\x00\x00\x01"


def _frame(
    client: int, proto: int, sport: int, dport: int, payload: bytes, seq: int = 1, reply: bool = False
) -> bytes:
    src = CLIENTS[client]
    dst = SERVER6 if ":" in src else SERVER
    if reply:
        src, dst, sport, dport = dst, src, dport, sport
    s, d = synth.packed_ip(src), synth.packed_ip(dst)
    if proto == 6:
        l4 = synth.tcp(s, d, sport, dport, seq, 1, synth.ACK | synth.PSH, payload)
    else:
        l4 = synth.udp(s, d, sport, dport, payload)
    return synth.ethernet(MAC, MAC, 0x86DD if ":" in src else 0x0800, synth.ip_packet(src, dst, proto, l4))


NAMES = st.sampled_from(["a.example", "B.Example.ORG", "x" * 40 + ".example", "h.example"])


@st.composite
def conversations(draw: st.DrawFn) -> list[bytes]:
    """The frames of one exchange: DNS over UDP (possibly mutated), a ClientHello in one to three
    segments, an HTTP request in one or two, or stray payload."""
    client = draw(st.integers(0, 2))
    port = draw(st.sampled_from([40000, 40001, 40002]))
    kind = draw(st.sampled_from(["dns", "dns", "tls", "tls", "http", "other", "quic"]))
    edits = draw(st.lists(st.tuples(st.integers(0, 3000), st.integers(0, 255)), max_size=2))

    def mutate(data: bytes) -> bytes:
        out = bytearray(data)
        for at, value in edits:
            out[at % len(out)] = value
        return bytes(out)

    if kind == "dns":
        name = draw(NAMES)
        if draw(st.booleans()):
            return [_frame(client, 17, port, 53, mutate(synth.dns_query(name, txid=draw(st.integers(0, 9)))))]
        answers = draw(st.sampled_from([["192.0.2.1"], ["cdn.example.net", "2001:db8::1"], []]))
        msg = synth.dns_response(name, "A", answers, txid=draw(st.integers(0, 9)))
        return [_frame(client, 17, port, 53, mutate(msg), reply=True)]
    if kind == "quic":
        return [_frame(client, 17, port, 443, b"\xc3" + draw(st.binary(min_size=8, max_size=40)))]
    if kind == "other":
        payload = draw(st.binary(min_size=1, max_size=20))
        return [_frame(client, 6, port, 443, payload, seq=draw(st.integers(0, 99)))]
    seq = draw(st.integers(0, 2**32 - 1))
    if kind == "tls":
        data = synth.client_hello(draw(NAMES), post_quantum=draw(st.booleans()), ech=draw(st.booleans()))
        dport = 443
    else:
        data = synth.http_request(
            "GET",
            draw(NAMES),
            "/x",
            user_agent="ua",
            headers=[("X-Fold", "a")] if draw(st.booleans()) else (),
        )
        if draw(st.booleans()):
            data = data.replace(b"X-Fold: a\r\n", b"X-Fold: a\r\n continued\r\n")
        dport = 80
    data = mutate(data)
    cuts = sorted(draw(st.lists(st.integers(1, max(1, len(data) - 1)), max_size=2, unique=True)))
    pieces = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True) if data[a:b]]
    frames, at = [], seq
    for piece in pieces:
        frames.append(_frame(client, 6, port, dport, piece, seq=at % 2**32))
        at += len(piece)
    if draw(st.integers(0, 4)) == 0 and frames:
        frames.append(frames[0])  # a retransmission
    return frames


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    exchanges=st.lists(conversations(), min_size=1, max_size=8),
    cut=st.integers(0, 40),
    shuffle=st.randoms(use_true_random=False),
)
def test_native_extraction_is_the_python_fast_path(exchanges: list[list[bytes]], cut: int, shuffle) -> None:
    frames = [f for ex in exchanges for f in ex]
    if shuffle.random() < 0.3:
        shuffle.shuffle(frames)
    pkts = [(1.0 + i / 10, f) for i, f in enumerate(frames)]
    cut %= len(pkts) + 1
    _assert_same_extraction([batch_of(p) for p in (pkts[:cut], pkts[cut:]) if p])


def test_native_extraction_of_the_fallback_cases() -> None:
    hello = synth.client_hello("one.example")
    body = tls.client_hello_body(hello)
    pos = 35 + body[34]
    pos += 2 + int.from_bytes(body[pos : pos + 2], "big")
    pos += 1 + body[pos]
    # supported_groups of an odd length (the shape the walk's key cannot decode) and an SNI
    blob = struct.pack("!HH", 10, 3) + b"\x00\x01\x1d" + struct.pack("!HHHBH", 0, 9, 7, 0, 4) + b"odd."
    odd_groups = body[:pos] + struct.pack("!H", len(blob)) + blob
    ssl3 = b"\x03\x00" + bytes(32) + b"\x00" + b"\x00\x02\x00\x0a" + b"\x01\x00"  # no extensions block

    def record(body: bytes) -> bytes:
        message = b"\x01" + len(body).to_bytes(3, "big") + body
        return b"\x16\x03\x01" + len(message).to_bytes(2, "big") + message

    https_rr = synth.dns_response("h.example", 65, [synth.DnsRecord("h.example", "HTTPS", b"\x00\x01\x00")])
    folded = b"GET / HTTP/1.1\r\nHost: a\r\n b\r\nUser-Agent: u\r\n c\r\n\r\n"
    pkts = [
        (1.0, _frame(0, 6, 40000, 443, record(ssl3))),
        (1.1, _frame(0, 6, 40001, 443, record(body[:60]))),  # tls.truncated from the reference parser
        (1.2, _frame(1, 6, 40002, 443, hello)),
        (1.3, _frame(1, 17, 40003, 53, https_rr, reply=True)),
        (1.4, _frame(2, 6, 40004, 80, folded)),
        (1.5, _frame(2, 6, 40005, 80, b"GET \r\n\r\n")),
        (1.6, _frame(0, 17, 40006, 53, b"\x00\x01\x00")),
        (1.7, _frame(0, 6, 40007, 443, record(odd_groups))),
    ]
    native = _assert_same_extraction([batch_of(pkts)])
    assert [e.host for e in native.out.http] == ["a b"]
    assert native.out.errors["http.bad_request_line"] == 1 and native.out.errors["dns.short_header"] == 1
    assert len(native.out.dns) == 1 and native.out.dns[0].answers[0].rtype == "HTTPS"


def test_native_extraction_with_tiny_memos_and_a_new_pool(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fastpath, "MEMO_ENTRIES", 2)
    monkeypatch.setattr(fastpath, "SHAPE_ENTRIES", 2)
    pkts = [
        (1.0 + i, _frame(i % 3, 17, 40000 + i, 53, synth.dns_query(f"n{i % 4}.example", txid=i)))
        for i in range(12)
    ]
    pkts += [
        (20.0 + i, _frame(i % 3, 6, 41000 + i, 443, synth.client_hello(f"s{i % 3}.example", rng=None)))
        for i in range(9)
    ]
    batch = batch_of(pkts)
    python, native = _python_extractor(), EventExtractor()
    for ex in (python, native):
        ex.process(batch, decode_headers(batch))
        first = ex.out.snapshot()
        ex.out = EventTables()  # a new pool: memoised ids must not follow the old one
        ex.starts_seen.clear()
        ex.process(batch, decode_headers(batch))
    assert native.out.snapshot() == python.out.snapshot() and first
    monkeypatch.setattr(fastpath, "SHAPE_MAX_BYTES", 10)  # nothing memoised
    _assert_same_extraction([batch])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    hellos=st.lists(
        st.tuples(
            chrome_hellos(),
            st.lists(st.tuples(st.integers(0, 2000), st.integers(0, 255)), max_size=2),
            st.lists(st.integers(1, 2000), max_size=2, unique=True),
        ),
        min_size=1,
        max_size=14,
    ),
    tiny=st.booleans(),
    cut=st.integers(0, 60),
)
def test_native_extraction_of_chrome_hellos_is_the_python_fast_path(
    hellos: list, tiny: bool, cut: int
) -> None:
    """Chrome-like hellos (fresh GREASE, shuffled extensions) of a few client builds, sometimes mutated,
    in one to three segments: the compiled memo (GREASE-free, sorted key; JA3 built per hello) gives the
    Python fast path's tables, also when its memos are tiny and start over all the time."""
    pkts = []
    for i, (record, edits, cuts) in enumerate(hellos):
        data = bytearray(record)
        for at, value in edits:
            data[at % len(data)] = value
        bounds = [0, *sorted(c % len(data) for c in cuts if c % len(data)), len(data)]
        seq = 1000 * i
        for a, b in zip(bounds, bounds[1:], strict=False):
            if a < b:
                frame = _frame(i % 3, 6, 40000 + i, 443, bytes(data[a:b]), seq=seq + a)
                pkts.append((1.0 + len(pkts) / 10, frame))
    cut %= len(pkts) + 1
    saved = fastpath.SHAPE_ENTRIES
    fastpath.SHAPE_ENTRIES = 2 if tiny else saved
    try:
        native = _assert_same_extraction([batch_of(p) for p in (pkts[:cut], pkts[cut:]) if p])
    finally:
        fastpath.SHAPE_ENTRIES = saved
    assert len(native._ja3_memo) <= fastpath.SHAPE_ENTRIES


def test_native_extraction_of_many_chrome_hellos_hits_the_memo() -> None:
    """Shuffled Chrome hellos of one build: one shape memo entry, a JA3 per extension order, the tables
    of the Python path."""
    pkts = [
        (
            1.0 + i,
            _frame(
                i % 3,
                6,
                40000 + i,
                443,
                synth.client_hello(f"s{i % 5}.example", shuffle=True, rng=random.Random(i)),
            ),
        )
        for i in range(300)
    ]
    native = _assert_same_extraction([batch_of(pkts)])
    assert len(native._shape_memo) == 1 and len(native.out.tls) == 300
    assert len({e.ja3 for e in native.out.tls}) > 250 and len({e.ja4 for e in native.out.tls}) == 1
    assert all(e.ja3_hash == hashlib.md5(e.ja3.encode()).hexdigest() for e in native.out.tls)


@settings(max_examples=150, deadline=None)
@given(
    raw=st.lists(st.binary(min_size=1, max_size=120), min_size=1, max_size=12),
    ports=st.lists(st.sampled_from([53, 80, 443, 5353, 1234]), min_size=2, max_size=2),
)
def test_native_extraction_of_random_payloads(raw: list[bytes], ports: list[int]) -> None:
    pkts = [
        (1.0 + i, _frame(i % 3, 6 if i % 2 else 17, 40000 + i % 2, ports[i % 2], p, seq=7))
        for i, p in enumerate(raw)
    ]
    _assert_same_extraction([batch_of(pkts)])


@pytest.mark.skipif(not corpus_files(), reason="../shared/corpus is not present")
def test_native_extraction_is_the_python_fast_path_on_the_corpus() -> None:
    compared = 0
    for _path, batches in corpus_batches():
        _assert_same_extraction(batches)
        compared += 1
    assert compared > 100


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=600))
def test_walks_take_any_bytes(data: bytes) -> None:
    _assert_same_dns(data)
    _assert_same_walk(data)
    _assert_same_request(b"GET " + data)
    _assert_same_request(data)
