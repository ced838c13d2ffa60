"""The compiled header decoder (netdetect/decode/_headers.c) against decode_headers_reference.

Every column (values and dtype) and the counts dict (values and key order) must be identical: on the
corpus, on the packets tests/test_headers.py builds, and on generated batches (random bytes, real
packets with edits and cuts, every link type, tunnels nested past the maximum depth, headers that run
past caplen or past the end of the buffer).
"""

from __future__ import annotations

import dataclasses
import inspect
import struct
from pathlib import Path

import numpy as np
import pytest
from _packets import DST_MAC, batch_of
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from netdetect.capture import open_capture
from netdetect.capture.batch import PacketBatch
from netdetect.decode import headers
from netdetect.decode.headers import Headers, decode_headers, decode_headers_reference
from netdetect.native import built

_HEADERS = built("netdetect.decode._headers")
pytestmark = pytest.mark.skipif(_HEADERS is None, reason="compiled core not built (or NETDETECT_NATIVE=0)")

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "pcaps"
FIELDS = [f.name for f in dataclasses.fields(Headers) if f.name != "counts"]
LINKTYPES = (0, 1, 9, 12, 14, 50, 101, 108, 113, 228, 229, 276)


def test_the_built_module_matches_the_python_layout() -> None:
    assert _HEADERS is not None, "built from another _headers.c: rebuild (setup.py build_ext)"
    assert [name for name, _ in headers._COLUMNS] == FIELDS


def assert_same(batch: PacketBatch) -> Headers | None:
    try:
        ref = decode_headers_reference(batch)
    except IndexError:  # the reference cannot read from an empty buffer; the dispatcher falls back to it
        assert len(batch.data) == 0
        with pytest.raises(IndexError):
            decode_headers(batch)
        return None
    fast = decode_headers(batch)
    for name in FIELDS:
        column = getattr(fast, name)
        assert column.flags.c_contiguous and column.flags.aligned and column.flags.writeable, name
    for name in FIELDS:
        a, b = getattr(fast, name), getattr(ref, name)
        assert a.dtype == b.dtype, name
        assert np.array_equal(a, b), name
    assert list(fast.counts.items()) == list(ref.counts.items())
    return fast


def layout(packets: list[bytes], caplens: list[int], linktypes: list[int], gap: bytes = b"") -> PacketBatch:
    """Packets back to back (with `gap` after each); caplen may be below or above the bytes given."""
    offsets, pos = [], 0
    for p in packets:
        offsets.append(pos)
        pos += len(p) + len(gap)
    data = b"".join(p + gap for p in packets)
    n = len(packets)
    return PacketBatch(
        data=np.frombuffer(data, np.uint8),
        offset=np.array(offsets, np.int64),
        caplen=np.array(caplens, np.int64),
        wirelen=np.array(caplens, np.int64),
        ts=np.arange(n, dtype=np.float64) * 0.5,
        linktype=np.array(linktypes, np.uint16),
    )


# --- raw builders (scapy is too slow inside hypothesis loops) ---


def eth(payload: bytes, ethertype: int = 0x0800, tags: tuple[int, ...] = ()) -> bytes:
    head = bytes.fromhex("020000000002020000000001")
    for tpid in tags:
        head += struct.pack("!HH", tpid, 7)
    return head + struct.pack("!H", ethertype) + payload


def ipv4(
    payload: bytes, proto: int, total: int | None = None, flags_frag: int = 0, options: bytes = b""
) -> bytes:
    ihl = 5 + len(options) // 4
    length = ihl * 4 + len(payload) if total is None else total
    head = struct.pack(
        "!BBHHHBBH4s4s", 0x40 | ihl, 0, length, 77, flags_frag, 64, proto, 0, b"\x0a\0\0\1", b"\xc6\x33\x64\7"
    )
    return head + options + payload


def ipv6(payload: bytes, nh: int, plen: int | None = None) -> bytes:
    src = bytes.fromhex("20010db8000000000000000000000001")
    dst = bytes.fromhex("20010db8000000000000000000000002")
    return (
        struct.pack("!IHBB", 0x60000000, len(payload) if plen is None else plen, nh, 64) + src + dst + payload
    )


def udp(payload: bytes, dport: int, sport: int = 40000) -> bytes:
    return struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload


def tcp(payload: bytes, dport: int = 443, sport: int = 50000, doff: int = 5, flags: int = 0x18) -> bytes:
    return (
        struct.pack("!HHIIBBHHH", sport, dport, 123456, 0, doff << 4, flags, 1000, 0, 0)
        + bytes((doff - 5) * 4)
        + payload
    )


def gre(payload: bytes, ptype: int, flags: int = 0, version: int = 0) -> bytes:
    head = struct.pack("!HH", flags | version, ptype)
    words = bool(flags & 0x8000) + bool(flags & 0x2000) + bool(flags & 0x1000)
    words += version == 1 and bool(flags & 0x0080)
    return head + bytes(range(1, 4 * words + 1)) + payload


# Each encapsulation takes an inner (kind, bytes), kind "eth" / "ip4" / "ip6", and wraps it once.
def _as_eth(kind: str, inner: bytes) -> bytes:
    return inner if kind == "eth" else eth(inner, 0x0800 if kind == "ip4" else 0x86DD)


def _as_ip(kind: str, inner: bytes) -> bytes:
    return ipv4(inner, 143) if kind == "eth" else inner  # (143: Ethernet over IP)


def _ptype(kind: str) -> int:
    return {"eth": 0x6558, "ip4": 0x0800, "ip6": 0x86DD}[kind]


ENCAPSULATIONS = {
    "vxlan": lambda k, b: ("ip4", ipv4(udp(b"\x08\0\0\0\0\0\x2a\0" + _as_eth(k, b), 4789), 17)),
    "geneve": lambda k, b: (
        "ip4",
        ipv4(udp(b"\x01" + b"\0" + struct.pack("!H", _ptype(k)) + b"\0\0\1\0" + bytes(4) + b, 6081), 17),
    ),
    "gre": lambda k, b: ("ip4", ipv4(gre(b, _ptype(k)), 47)),
    "gre_keyed": lambda k, b: ("ip6", ipv6(gre(b, _ptype(k), 0xB000), 47)),
    "erspan1": lambda k, b: ("ip4", ipv4(gre(_as_eth(k, b), 0x88BE), 47)),
    "erspan2": lambda k, b: ("ip4", ipv4(gre(bytes(8) + _as_eth(k, b), 0x88BE, 0x1000), 47)),
    "erspan3": lambda k, b: ("ip4", ipv4(gre(bytes(12) + _as_eth(k, b), 0x22EB, 0x1000), 47)),
    "erspan3_o": lambda k, b: ("ip4", ipv4(gre(bytes(11) + b"\1" + bytes(8) + _as_eth(k, b), 0x22EB), 47)),
    "pptp": lambda k, b: (
        "ip4",
        ipv4(gre(b"\xff\x03" + (b"\x00\x21" if k != "ip6" else b"\x00\x57") + b, 0x880B, 0x3080, 1), 47)
        if k != "eth"
        else ipv4(gre(b"\x21" + b, 0x880B, 0x2000, 1), 47),
    ),
    "pptp_short": lambda k, b: (
        "ip4",
        ipv4(gre((b"\x57" if k == "ip6" else b"\x21") + _as_ip(k, b), 0x880B, 0x2000, 1), 47),
    ),
    "geneve_long": lambda k, b: (
        "ip4",
        ipv4(udp(b"\x28\0" + struct.pack("!H", _ptype(k)) + b"\0\0\1\0" + bytes(160) + b, 6081), 17),
    ),
    "gre_in_udp": lambda k, b: ("ip4", ipv4(udp(gre(b, _ptype(k)), 4754), 17)),
    "ipip": lambda k, b: (
        ("ip4", ipv4(b, 4)) if k == "ip4" else ("ip6", ipv6(b, 41)) if k == "ip6" else ("ip4", ipv4(b, 97))
    ),
    "4in6": lambda k, b: ("ip6", ipv6(b, 4 if k != "ip6" else 41)),
}

INNERMOST = {
    "tcp4": ("ip4", ipv4(tcp(b"GET / HTTP/1.1\r\n"), 6)),
    "udp6": ("ip6", ipv6(udp(b"\x12\x34\x01\x00", 53), 17)),
    "eth_arp": ("eth", eth(bytes(28), 0x0806)),
    "icmp4": ("ip4", ipv4(b"\x08\0\0\0", 1)),
}


def nest(inner: str, layers: list[str]) -> bytes:
    kind, data = INNERMOST[inner]
    for name in layers:
        kind, data = ENCAPSULATIONS[name](kind, data)
    return _as_eth(kind, data)


def _templates() -> list[tuple[bytes, int]]:
    """Real packets of every shape the decoder knows, with their link types."""
    t4 = ipv4(tcp(b"x" * 40), 6)
    u4 = ipv4(udp(b"abc", 53), 17)
    u6 = ipv6(udp(b"abc", 53), 17)
    hop = b"\x00\x00" + bytes(6)  # hop-by-hop options, next header hop-by-hop again
    chain = b"\x3c\0" + bytes(6) + b"\x2b\0" + bytes(6) + b"\x33\0" + bytes(6) + b"\x06\x01" + bytes(10)
    out = [
        (eth(t4), 1),
        (eth(u4, tags=(0x8100,)), 1),
        (eth(ipv6(tcp(b"y"), 6), 0x86DD, tags=(0x88A8, 0x8100, 0x9100)), 1),
        (eth(u4, tags=(0x8100,) * 4), 1),  # a fourth tag is not followed
        (eth(ipv4(tcp(b"", doff=8), 6, options=b"\x01\x01\x01\x00")), 1),
        (eth(ipv4(tcp(b"tso"), 6, total=0)), 1),
        (eth(ipv6(udp(b"jumbo", 9), 17, plen=0), 0x86DD), 1),
        (eth(ipv4(udp(b"q" * 16, 53), 17, flags_frag=0x2000)), 1),
        (eth(ipv4(b"r" * 24, 17, flags_frag=0x0003)), 1),
        (eth(ipv4(b"r" * 24, 6, flags_frag=0x2003)), 1),
        (eth(ipv6(b"\x11\x00\x00\x01\x00\x00\x00\x09" + udp(b"f", 2), 44), 0x86DD), 1),
        (eth(ipv6(b"\x11\x00\x00\x10\x00\x00\x00\x09" + b"later", 44), 0x86DD), 1),
        (eth(ipv6(chain + tcp(b""), 0), 0x86DD), 1),
        (eth(ipv6(hop * 9, 0), 0x86DD), 1),  # more extension headers than the walk follows
        (eth(ipv6(hop * 7 + b"\x06\x00" + bytes(6) + tcp(b"z"), 0), 0x86DD), 1),  # 8: all followed
        (eth(ipv4(udp(gre(u4, 0x0800), 4754), 17, flags_frag=0x2000)), 1),  # a first fragment enters GRE
        (eth(ipv4(udp(b"\x08\0\0\0\0\0\x2a\0" + eth(t4), 4789), 17, flags_frag=0x2000)), 1),  # ... not VXLAN
        (eth(ipv4(b"\x08\0\0\0", 1)), 1),
        (eth(ipv4(b"\0" * 12, 132)), 1),
        (eth(bytes(28), 0x0806), 1),
        (eth(ipv6(u4, 4), 0x86DD), 1),
        (eth(b"\x55" * 40), 1),
        (t4, 101),
        (u6, 101),
        (t4, 12),
        (u6, 14),
        (t4, 228),
        (u6, 229),
        (t4, 229),  # link type says v6, header says v4: the nibble decides for raw links
        (b"\0\0\0\0\0\0\0\0\0\0\0\0\0\0\x08\x00" + t4, 113),
        (b"\0\0\0\0\0\0\0\0\0\0\0\0\0\0\x86\xdd" + u6, 113),
        (b"\x08\x00" + bytes(18) + u4, 276),
        (b"\x86\xdd" + bytes(18) + u6, 276),
        (struct.pack("<I", 2) + t4, 0),
        (struct.pack("<I", 30) + u6, 0),
        (struct.pack(">I", 24) + u6, 108),
        (struct.pack(">I", 2) + t4, 108),
        (struct.pack("<I", 7) + t4, 0),
        (b"\xff\x03\x00\x21" + t4, 9),
        (b"\x00\x57" + u6, 9),
        (b"\xff\x03\x00\x57" + u6, 50),
        (b"\xff\x03\xc0\x21" + bytes(8), 50),
        (t4, 105),  # 802.11: not supported
    ]
    for name in ENCAPSULATIONS:
        out.append((nest("tcp4", [name]), 1))
        out.append((nest("udp6", [name]), 1))
        out.append((nest("eth_arp", [name]), 1))
    out.append((nest("tcp4", ["vxlan", "gre", "ipip"]), 1))
    out.append((nest("tcp4", ["vxlan", "gre", "ipip", "erspan2"]), 1))
    out.append((nest("icmp4", ["gre_in_udp", "geneve", "pptp", "4in6", "vxlan"]), 1))
    out.append((nest("tcp4", ["gre", "ipip", "gre_keyed", "erspan1"]), 1))  # GRE at the maximum depth
    return out


TEMPLATES = _templates()
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def test_every_template_alike_and_most_decode() -> None:
    packets = [p for p, _ in TEMPLATES]
    h = assert_same(layout(packets, [len(p) for p in packets], [lt for _, lt in TEMPLATES]))
    assert len(h) > len(packets) // 2
    assert {"non_ip", "unsupported_linktype", "tunnel_too_deep", "bad_ip_version"} <= set(h.counts)


def test_each_template_alone_and_cut_everywhere() -> None:
    for packet, lt in TEMPLATES:
        for cut in range(len(packet) + 1):
            assert_same(layout([packet[:cut]], [cut], [lt]))


def test_headers_past_caplen_read_the_next_packets_bytes() -> None:
    packets = [p for p, lt in TEMPLATES if lt == 1]
    for keep in (0, 10, 20, 34, 40, 54):
        caplens = [min(keep, len(p)) for p in packets]
        assert_same(layout(packets, caplens, [1] * len(packets)))
        # The last packet cut by the end of the buffer, its caplen claiming more.
        assert_same(layout([p[:keep] for p in packets], [len(p) for p in packets], [1] * len(packets)))


def test_positions_outside_the_buffer_clip_as_the_reference() -> None:
    packet = nest("tcp4", ["vxlan"])
    b = layout([packet, packet], [len(packet)] * 2, [1, 1])
    for offsets in ((-30, 0), (len(packet) - 20, 2 * len(packet) - 1), (2 * len(packet) + 5, -1)):
        b.offset = np.array(offsets, np.int64)
        assert_same(b)


@FUZZ
@given(
    st.lists(st.sampled_from(TEMPLATES), min_size=1, max_size=6),
    st.lists(st.tuples(st.integers(-80, 80), st.integers(-80, 2000)), min_size=1, max_size=6),  # /64
)
def test_random_offsets_and_caplens(templates, spans) -> None:
    """Offsets and lengths the reader would never produce: before the buffer, past it, overlapping."""
    packets = [p for p, _ in templates]
    b = layout(packets, [len(p) for p in packets], [lt for _, lt in templates])
    rows = [(share * len(b.data) // 64, caplen) for share, caplen in spans]
    b.offset = np.array([r[0] for r in rows], np.int64)
    b.caplen = np.array([r[1] for r in rows], np.int64)
    b.linktype = np.resize(b.linktype, len(rows))
    b.ts = np.zeros(len(rows))
    assert_same(b)


def test_strided_and_foreign_dtype_columns() -> None:
    packets = [p for p, _ in TEMPLATES]
    b = layout(packets, [len(p) for p in packets], [lt for _, lt in TEMPLATES])
    wide = np.zeros((len(b), 4), np.int64)
    wide[:, 2] = b.caplen
    b.caplen = wide[:, 2]  # as the pcap reader slices it
    b.offset = b.offset.astype(np.int32)
    b.ts = b.ts[::-1].copy()[::-1]
    assert_same(b)


def test_empty_batches() -> None:
    h = assert_same(layout([], [], []))
    assert len(h) == 0 and h.counts == {}
    h = assert_same(layout([b"", b""], [0, 0], [105, 105]))  # no byte to read, none read
    assert h.counts == {"unsupported_linktype": 2}


def test_bad_arguments_raise_instead_of_writing_out_of_bounds() -> None:
    b = layout([TEMPLATES[0][0]] * 3, [len(TEMPLATES[0][0])] * 3, [1] * 3)
    cols = [np.empty(3, dt) for _, dt in headers._COLUMNS]
    slots = np.zeros(len(headers._COUNT_SLOTS), np.int64)
    args = (b.data, b.offset, b.caplen, b.linktype, b.ts)
    assert _HEADERS.decode(*args, tuple(cols), slots) == 3
    with pytest.raises(ValueError):
        _HEADERS.decode(*args, tuple(cols[:-1]), slots)
    with pytest.raises(ValueError):
        _HEADERS.decode(*args, (*cols[:-1], np.empty(2, bool)), slots)
    with pytest.raises(ValueError):
        _HEADERS.decode(*args, tuple(cols), slots[:-1])
    with pytest.raises(ValueError):
        _HEADERS.decode(b.data, b.offset, b.caplen[:2], b.linktype, b.ts, tuple(cols), slots)
    with pytest.raises(ValueError):
        _HEADERS.decode(b.data, b.offset, b.caplen, b.linktype.astype(np.int64), b.ts, tuple(cols), slots)
    with pytest.raises(ValueError):
        _HEADERS.decode(np.empty(0, np.uint8), *args[1:], tuple(cols), slots)
    with pytest.raises(ValueError):  # outputs must be contiguous
        _HEADERS.decode(*args, (*cols[:-1], np.empty(3, bool)[::-1]), slots)


@pytest.mark.skipif(not CORPUS.is_dir(), reason="needs the shared corpus")
def test_corpus_every_batch_alike() -> None:
    batches = 0
    for path in sorted(CORPUS.iterdir()):
        with open_capture(path) as cap:
            for batch in cap.batches():
                assert_same(batch)
                batches += 1
    assert batches >= 184


def test_the_packets_of_test_headers_alike(monkeypatch: pytest.MonkeyPatch) -> None:
    import test_headers

    seen = []

    def both(batch: PacketBatch) -> Headers:
        seen.append(len(batch))
        return assert_same(batch)

    monkeypatch.setattr(test_headers, "decode_headers", both)
    for name, fn in inspect.getmembers(test_headers, inspect.isfunction):
        if not name.startswith("test_"):
            continue
        params = [m for m in getattr(fn, "pytestmark", []) if m.name == "parametrize"]
        if params:
            for value in params[0].args[1]:
                fn(value)
        else:
            fn()
    assert len(seen) >= 15


def test_a_scapy_batch_alike() -> None:
    from scapy.all import IP, TCP, UDP, Dot1Q, Ether, IPv6  # type: ignore[attr-defined]

    pkts = [
        (
            1.0,
            Ether(dst=DST_MAC) / Dot1Q(vlan=3) / IP(src="10.0.0.1", dst="10.0.0.2") / TCP(sport=1, dport=2),
        ),
        (2.0, Ether(dst=DST_MAC) / IPv6(src="::1", dst="::2") / UDP(sport=3, dport=4)),
    ]
    assert len(assert_same(batch_of(pkts))) == 2


# --- hypothesis ---


@FUZZ
@given(
    st.lists(
        st.tuples(st.binary(max_size=120), st.sampled_from((*LINKTYPES, 1, 1, 101, 7)), st.integers(-8, 8)),
        max_size=12,
    ),
    st.binary(max_size=4),
)
def test_random_bytes(rows, gap) -> None:
    packets = [p for p, _, _ in rows]
    caplens = [max(0, len(p) + d) for p, _, d in rows]
    assert_same(layout(packets, caplens, [lt for _, lt, _ in rows], gap))


def _mutate(packet: bytes, edits: list[tuple[int, int]], cut: int | None, prefix: bytes) -> bytes:
    data = bytearray(prefix + packet)
    for where, value in edits:
        if data:
            data[where % len(data)] = value
    return bytes(data if cut is None else data[: cut % (len(data) + 1)])


mutated = st.builds(
    lambda template, edits, cut, prefix, linktype, slack: (
        _mutate(template[0], edits, cut, prefix),
        template[1] if linktype is None else linktype,
        slack,
    ),
    st.sampled_from(TEMPLATES),
    st.lists(st.tuples(st.integers(0, 200), st.integers(0, 255)), max_size=6),
    st.one_of(st.none(), st.integers(0, 400)),
    st.sampled_from((b"", b"", b"\x00", b"\xff\x03")),
    st.one_of(st.none(), st.none(), st.none(), st.sampled_from(LINKTYPES)),
    st.integers(-30, 30),
)


@FUZZ
@given(st.lists(mutated, min_size=1, max_size=10), st.binary(max_size=3))
def test_real_packets_with_edits_and_cuts(rows, gap) -> None:
    packets = [p for p, _, _ in rows]
    caplens = [max(0, len(p) + slack) for p, _, slack in rows]
    assert_same(layout(packets, caplens, [lt for _, lt, _ in rows], gap))


@FUZZ
@given(
    st.lists(
        st.tuples(
            st.sampled_from(sorted(INNERMOST)),
            st.lists(st.sampled_from(sorted(ENCAPSULATIONS)), max_size=6),
            st.integers(0, 3),
        ),
        min_size=1,
        max_size=6,
    )
)
def test_tunnels_nested_beyond_the_maximum_depth(stacks) -> None:
    packets = [nest(inner, layers) for inner, layers, _ in stacks]
    caplens = [len(p) - (cut * 7 if cut == 3 else 0) for p, (_, _, cut) in zip(packets, stacks, strict=True)]
    h = assert_same(layout(packets, caplens, [1] * len(packets)))
    deep = sum(len(layers) > headers.MAX_TUNNEL_DEPTH for _, layers, _ in stacks)
    assert h.counts.get("tunnel_too_deep", 0) <= deep


@FUZZ
@given(
    st.sampled_from(LINKTYPES),
    st.lists(st.binary(min_size=0, max_size=80), min_size=1, max_size=8),
    st.sampled_from([p for p, lt in TEMPLATES if lt in (101, 1)]),
)
def test_every_link_type_over_random_and_real_payloads(linktype, payloads, real) -> None:
    heads = {0: struct.pack("<I", 2), 108: struct.pack(">I", 30), 9: b"\xff\x03\x00\x21", 50: b"\x00\x57"}
    heads |= {113: bytes(14) + b"\x08\x00", 276: b"\x86\xdd" + bytes(18), 1: bytes(12) + b"\x08\x00"}
    packets = [heads.get(linktype, b"") + p for p in payloads] + [real]
    assert_same(layout(packets, [len(p) for p in packets], [linktype] * len(packets)))
