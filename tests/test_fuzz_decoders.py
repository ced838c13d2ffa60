"""Fuzz the application decoders: mutated valid messages and corpus payloads never raise anything but
DecodeError, and never hang (hypothesis deadline). Bounded example counts keep this to a few seconds;
`benchmarks/fuzz_decoders.py` runs the same targets for minutes under atheris."""

from __future__ import annotations

import struct
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from netdetect.decode import fastpath
from netdetect.decode.dns import parse_dns, split_tcp_dns
from netdetect.decode.errors import DecodeError
from netdetect.decode.http import MAX_HEADER_BYTES, MAX_TEXT, METHOD_PREFIXES, parse_http_request
from netdetect.decode.quic import QuicCryptoAssembler, QuicInitial, _read_frames, parse_quic_initial
from netdetect.decode.tls import extract_client_hello, parse_client_hello
from netdetect.native import load

_events = load("netdetect.decode._events")

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "pcaps"
if not CORPUS.is_dir():
    CORPUS = Path("/work/shared/corpus/pcaps")


def _dns_seed() -> bytes:
    def name(text: str) -> bytes:
        return b"".join(bytes([len(p)]) + p.encode() for p in text.split(".")) + b"\x00"

    q = name("www.example.com") + struct.pack("!HH", 1, 1)
    answers = (
        b"\xc0\x0c" + struct.pack("!HHIH", 5, 1, 300, 6) + b"\x03cdn\xc0\x10"
        + b"\xc0\x2d" + struct.pack("!HHIH", 1, 1, 60, 4) + bytes([1, 2, 3, 4])
        + b"\xc0\x0c" + struct.pack("!HHIH", 65, 1, 60, 13) + b"\x00\x01\x00" + b"\x00\x01\x00\x03\x02h3"
        + b"\x00\x04\x00\x00"
    )  # fmt: skip
    return struct.pack("!6H", 0xBEEF, 0x8180, 1, 3, 0, 0) + q + answers


def _tls_seed() -> bytes:
    host = b"\x00\x00\x0bexample.com"
    exts = struct.pack("!HH", 0, len(host) + 2) + struct.pack("!H", len(host)) + host
    exts += struct.pack("!HHH", 16, 5, 3) + b"\x02h2"
    exts += struct.pack("!HHB", 43, 5, 4) + b"\x03\x04\x03\x03"
    exts += struct.pack("!HHH", 10, 6, 4) + b"\x00\x1d\x00\x17"
    exts += struct.pack("!HHB", 11, 2, 1) + b"\x00"
    exts += struct.pack("!HHH", 13, 6, 4) + b"\x04\x03\x08\x04"
    exts += struct.pack("!HH", 0xFE0D, 4) + b"\x00\x00\x01\x00"
    body = b"\x03\x03" + bytes(32) + b"\x20" + bytes(32) + b"\x00\x04\x13\x01\xc0\x2b\x01\x00"
    body += struct.pack("!H", len(exts)) + exts
    msg = b"\x01" + len(body).to_bytes(3, "big") + body
    return (
        b"\x16\x03\x01"
        + struct.pack("!H", 60)
        + msg[:60]
        + b"\x16\x03\x01"
        + struct.pack("!H", len(msg) - 60)
        + msg[60:]
    )


HTTP_SEED = (
    b"GET /a?b=c HTTP/1.1\r\nHost: x.example\r\nUser-Agent: curl/8.0\r\n folded\r\nAccept: */*\r\n\r\n"
)
QUIC_FRAMES_SEED = (
    b"\x02\x05\x00\x01\x00\x01\x01" + b"\x06\x00\x05hello" + b"\x01" + b"\x03\x01\x00\x00\x00\x01\x02\x03"
    + b"\x1c\x0a\x00\x03bye" + bytes(8)
)  # fmt: skip


@lru_cache(maxsize=1)
def corpus_payloads() -> dict[str, list[bytes]]:
    """UDP/TCP payloads from the shared corpus (Ethernet pcap/pcapng only), by the decoder they feed."""
    out: dict[str, list[bytes]] = {"dns": [], "tls": [], "quic": [], "http": []}
    try:
        import dpkt
    except ImportError:
        return out
    for path in sorted(CORPUS.glob("*"))[:120]:
        try:
            with path.open("rb") as fh:
                magic = fh.read(4)
                fh.seek(0)
                reader = dpkt.pcapng.Reader(fh) if magic == b"\x0a\x0d\x0d\x0a" else dpkt.pcap.Reader(fh)
                if reader.datalink() != dpkt.pcap.DLT_EN10MB:
                    continue
                for _, frame in reader:
                    _classify(dpkt.ethernet.Ethernet(frame).data, out)
                    if all(len(v) >= 40 for v in out.values()):
                        return out
        except Exception:  # noqa: BLE001 - a file dpkt cannot read just gives no seeds
            continue
    return out


def _classify(ip: object, out: dict[str, list[bytes]]) -> None:
    l4 = getattr(ip, "data", None)
    payload = getattr(l4, "data", b"")
    if not isinstance(payload, bytes) or not payload:
        return
    ports = {getattr(l4, "sport", 0), getattr(l4, "dport", 0)}
    kind = None
    if 53 in ports or 5353 in ports:
        kind = "dns"
    elif payload[:1] == b"\x16" and 443 in ports:
        kind = "tls"
    elif payload[:1] in (b"\xc0", b"\xc1", b"\xc3", b"\xcd", b"\xd3") and 443 in ports:
        kind = "quic"
    elif payload[:4] in (b"GET ", b"POST", b"HEAD", b"CONN"):
        kind = "http"
    if kind and len(out[kind]) < 40:
        out[kind].append(payload)


def _feed_quic_frames(data: bytes) -> None:
    _read_frames(QuicInitial(1, b"", b"", 0, 0), data)


def _feed_quic(data: bytes) -> None:
    assembler = QuicCryptoAssembler()
    for initial in parse_quic_initial(data):
        assembler.add(initial)
    assembler.client_hello()


def _feed_tls_body(data: bytes) -> None:
    hello = parse_client_hello(data)
    hello.ja4_for("q")
    hello.ja4_raw()


def _feed_dns_tcp(data: bytes) -> None:
    msgs, used = split_tcp_dns(data)
    assert 0 <= used <= len(data)
    for m in msgs:
        parse_dns(m)


def _native_dns(data: bytes) -> None:
    """The compiled DNS walk behind the memo gives the reference parser's result (or its error reason)."""
    assert fastpath.dns_parsed_native(data) == fastpath.dns_parsed(data)


def _native_hello(data: bytes) -> None:
    """The compiled ClientHello walk gives the Python walk's key and SNI, or hands the hello over."""
    walked = _events.hello_walk(data)
    try:
        expected = fastpath._walk(data)
    except (fastpath._Unusual, IndexError, struct.error):
        expected = None
    assert walked == expected


def _native_http(data: bytes) -> None:
    """The compiled request walk gives the reference parser's fields, or hands folded headers over."""
    walked = _events.http_walk(data, METHOD_PREFIXES, MAX_HEADER_BYTES, MAX_TEXT)
    if walked is None:
        assert b"\n " in data or b"\n\t" in data
        return
    try:
        req = parse_http_request(data)
        expected = "http.malformed" if req is None else (req.method, req.uri, req.host, req.user_agent)
    except DecodeError as exc:
        expected = exc.reason
    assert walked == expected


TARGETS: dict[str, Callable[[bytes], object]] = {
    "dns": parse_dns,
    "dns_tcp": _feed_dns_tcp,
    "tls": extract_client_hello,
    "tls_body": _feed_tls_body,
    "quic": _feed_quic,
    "quic_frames": _feed_quic_frames,
    "http": parse_http_request,
}
if _events is not None:  # the compiled walks, checked against the parsers above on the same inputs
    TARGETS |= {"dns_native": _native_dns, "tls_native": _native_hello, "http_native": _native_http}


def seeds(target: str) -> list[bytes]:
    from_corpus = corpus_payloads()
    tls = _tls_seed()
    base = {
        "dns": [_dns_seed(), *from_corpus["dns"]],
        "dns_tcp": [struct.pack("!H", len(_dns_seed())) + _dns_seed() * 2],
        "tls": [tls, *from_corpus["tls"]],
        "tls_body": [tls[9:65] + tls[70:]],
        "quic": from_corpus["quic"] or [b"\xc0\x00\x00\x00\x01\x08" + bytes(60)],
        "quic_frames": [QUIC_FRAMES_SEED],
        "http": [HTTP_SEED, *from_corpus["http"]],
    }
    base["dns_native"], base["http_native"] = base["dns"], base["http"]
    base["tls_native"] = [t[9:] for t in base["tls"]]
    return base[target]


def run_target(target: str, data: bytes) -> None:
    """The fuzz property: a decoder either returns or raises DecodeError."""
    try:
        TARGETS[target](data)
    except DecodeError as exc:
        assert exc.reason and "." in exc.reason


@st.composite
def mutated(draw: st.DrawFn, target: str) -> bytes:
    pool = seeds(target)
    data = bytearray(draw(st.sampled_from(pool)))
    for _ in range(draw(st.integers(0, 6))):
        op = draw(st.sampled_from(["flip", "set", "cut", "insert", "delete", "dup"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if op == "flip" and data:
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif op == "set" and data:
            data[at] = draw(st.sampled_from([0x00, 0xFF, 0xC0, 0x3F, 0x40, 0x80, 0x7F, 0x0A, 0x0D]))
        elif op == "cut":
            del data[at:]
        elif op == "insert":
            data[at:at] = draw(st.binary(max_size=16))
        elif op == "delete":
            del data[at : at + draw(st.integers(1, 8))]
        elif op == "dup":
            data[at:at] = data[at : at + draw(st.integers(1, 64))]
    return bytes(data)


FUZZ = settings(
    max_examples=80, deadline=1000, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_seeds_decode_cleanly(target: str) -> None:
    """The unmutated seeds go through (so mutations start from messages that exercise every branch)."""
    seed = seeds(target)[0]
    if target == "quic":  # a corpus datagram may be a server Initial, which client keys cannot open
        run_target(target, seed)
    else:
        TARGETS[target](seed)


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_mutated_messages_only_raise_decode_error(target: str) -> None:
    @FUZZ
    @given(data=mutated(target))
    def check(data: bytes) -> None:
        run_target(target, data)

    check()


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_random_bytes_only_raise_decode_error(target: str) -> None:
    @settings(max_examples=40, deadline=1000, derandomize=True)
    @given(data=st.binary(max_size=300))
    def check(data: bytes) -> None:
        run_target(target, data)

    check()


def test_corpus_payloads_were_found() -> None:
    if not CORPUS.is_dir():
        pytest.skip("shared corpus not present")
    found = corpus_payloads()
    assert found["dns"] and found["tls"], {k: len(v) for k, v in found.items()}
