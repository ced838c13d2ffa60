"""Synthetic captures built as raw bytes with `struct`: fast enough for millions of packets.

Used by tests (tiny captures with known values), `pcaps/make_demo.py` (the demo office),
`benchmarks/make_capture.py` and `netdetect.testing.shapes`. Three layers, each usable alone:

- builders that return bytes: `ethernet`, `ipv4`, `ipv6`, `tcp`, `udp`, `dns_query`, `dns_response`,
  `client_hello`, `http_request`;
- capture writers: `PcapWriter` and `PcapngWriter` from `netdetect.testing.writer` (the project's
  one pcap/pcapng writer);
- `TrafficWriter`: whole conversations (`tcp_session`, `dns_exchange`, `udp`) with correct lengths,
  checksums, sequence numbers and byte counts, buffered and written in time order on `close()`.
  Bulk data packets can be cut to a snaplen while the record keeps the original length, so a day of
  traffic fits in a few MB with realistic byte counts.

Everything random comes from a seeded `random.Random`, so the same calls give the same bytes.
"""

from __future__ import annotations

import bisect
import ipaddress
import random
import struct
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, BinaryIO, Literal

from netdetect.capture import linktypes
from netdetect.testing.writer import ByteOrder, PcapngWriter, PcapWriter

# --------------------------------------------------------------------------- constants

ETH_IPV4 = 0x0800
ETH_IPV6 = 0x86DD
ETH_VLAN = 0x8100
ETH_QINQ = 0x88A8

PROTO_TCP = 6
PROTO_UDP = 17

FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10

DNS_TYPES = {
    "A": 1,
    "NS": 2,
    "CNAME": 5,
    "SOA": 6,
    "PTR": 12,
    "NULL": 10,
    "MX": 15,
    "TXT": 16,
    "AAAA": 28,
    "SRV": 33,
    "HTTPS": 65,
    "ANY": 255,
}

GREASE_VALUES = tuple(0x0A0A + 0x1010 * i for i in range(16))

DEFAULT_LOCAL_NETS = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7", "fe80::/10")
ROUTER_MAC = bytes.fromhex("020000000001")


# --------------------------------------------------------------------------- checksums and addresses


def checksum(data: bytes) -> int:
    """RFC 1071 internet checksum of `data` (already including any pseudo-header)."""
    if len(data) % 2:
        data += b"\x00"
    total = sum(memoryview(data).cast("H"))  # native-order words: byte order only swaps the result
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    result = ~total & 0xFFFF
    if sys.byteorder == "little":
        result = ((result & 0xFF) << 8) | (result >> 8)
    return result


@lru_cache(maxsize=4096)
def packed_ip(text: str) -> bytes:
    """Text address to 4 (IPv4) or 16 (IPv6) network-order bytes."""
    return ipaddress.ip_address(text).packed


def mac_for(address: str) -> bytes:
    """A stable locally administered MAC for a host address."""
    raw = packed_ip(address)
    return b"\x02" + (raw[-5:] if len(raw) >= 5 else b"\x00" + raw)


def _pseudo_header(src: bytes, dst: bytes, proto: int, length: int) -> bytes:
    if len(src) == 4:
        return src + dst + struct.pack("!BBH", 0, proto, length)
    return src + dst + struct.pack("!I3xB", length, proto)


# --------------------------------------------------------------------------- layer builders


def ethernet(
    src_mac: bytes, dst_mac: bytes, ethertype: int, payload: bytes, vlan: int | Sequence[int] | None = None
) -> bytes:
    """Ethernet II frame; `vlan` is one 802.1Q id or (outer, inner) ids for QinQ (outer tag 0x88a8)."""
    tags = b""
    if vlan is not None:
        ids = [vlan] if isinstance(vlan, int) else list(vlan)
        for i, vid in enumerate(ids):
            tpid = ETH_QINQ if (len(ids) > 1 and i == 0) else ETH_VLAN
            tags += struct.pack("!HH", tpid, vid & 0x0FFF)
    return dst_mac + src_mac + tags + struct.pack("!H", ethertype) + payload


def ipv4(
    src: bytes,
    dst: bytes,
    proto: int,
    payload: bytes,
    *,
    ttl: int = 64,
    ident: int = 0,
    dont_fragment: bool = True,
    tos: int = 0,
    with_checksum: bool = True,
    total_length: int | None = None,
) -> bytes:
    """IPv4 header (no options) + payload. `total_length` overrides the header field (lying headers)."""
    length = 20 + len(payload) if total_length is None else total_length
    header = struct.pack(
        "!BBHHHBBH4s4s",
        0x45,
        tos,
        length,
        ident & 0xFFFF,
        0x4000 if dont_fragment else 0,
        ttl,
        proto,
        0,
        src,
        dst,
    )
    if with_checksum:
        header = header[:10] + struct.pack("!H", checksum(header)) + header[12:]
    return header + payload


def ipv6(
    src: bytes, dst: bytes, next_header: int, payload: bytes, *, hop_limit: int = 64, flow_label: int = 0
) -> bytes:
    return (
        struct.pack(
            "!IHBB16s16s", (6 << 28) | (flow_label & 0xFFFFF), len(payload), next_header, hop_limit, src, dst
        )
        + payload
    )


def tcp(
    src: bytes,
    dst: bytes,
    sport: int,
    dport: int,
    seq: int,
    ack: int,
    flags: int,
    payload: bytes = b"",
    *,
    window: int = 64240,
    options: bytes = b"",
    with_checksum: bool = True,
) -> bytes:
    """TCP segment; `src`/`dst` are the packed IP addresses (for the pseudo-header checksum)."""
    if len(options) % 4:
        options += b"\x00" * (4 - len(options) % 4)
    offset = (20 + len(options)) // 4
    header = (
        struct.pack(
            "!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, offset << 4, flags, window, 0, 0
        )
        + options
    )
    segment = header + payload
    if with_checksum:
        csum = checksum(_pseudo_header(src, dst, PROTO_TCP, len(segment)) + segment)
        segment = segment[:16] + struct.pack("!H", csum) + segment[18:]
    return segment


def udp(
    src: bytes, dst: bytes, sport: int, dport: int, payload: bytes, *, with_checksum: bool = True
) -> bytes:
    length = 8 + len(payload)
    datagram = struct.pack("!HHHH", sport, dport, length, 0) + payload
    if with_checksum:
        csum = checksum(_pseudo_header(src, dst, PROTO_UDP, length) + datagram) or 0xFFFF
        datagram = datagram[:6] + struct.pack("!H", csum) + datagram[8:]
    return datagram


def ip_packet(src: str, dst: str, proto: int, l4: bytes, *, ttl: int = 64, ident: int = 0) -> bytes:
    """IPv4 or IPv6 packet chosen by the address family of `src`."""
    s, d = packed_ip(src), packed_ip(dst)
    if len(s) == 4:
        return ipv4(s, d, proto, l4, ttl=ttl, ident=ident)
    return ipv6(s, d, proto, l4, hop_limit=ttl)


# --------------------------------------------------------------------------- DNS


@dataclass(frozen=True, slots=True)
class DnsRecord:
    name: str
    rtype: str  # "A", "AAAA", "CNAME", ...
    value: str | bytes  # text for A/AAAA/CNAME/NS/PTR, raw rdata bytes for anything else
    ttl: int = 300


def _encode_name(name: str | bytes, msg_len: int, offsets: dict[bytes, int] | None) -> bytes:
    """Encode a name, pointing to a suffix already in the message when `offsets` knows one."""
    raw = name.encode() if isinstance(name, str) else name
    labels = [lab for lab in raw.rstrip(b".").split(b".") if lab] if raw not in (b"", b".") else []
    out = b""
    for i in range(len(labels)):
        suffix = b".".join(labels[i:]).lower()
        if offsets is not None and suffix in offsets:
            return out + struct.pack("!H", 0xC000 | offsets[suffix])
        if offsets is not None and msg_len + len(out) < 0x3FFF:
            offsets[suffix] = msg_len + len(out)
        if len(labels[i]) > 63:
            raise ValueError(f"DNS label longer than 63 bytes: {labels[i][:20]!r}...")
        out += bytes([len(labels[i])]) + labels[i]
    return out + b"\x00"


def mx_rdata(preference: int, exchange: str) -> bytes:
    """MX record data: preference and an uncompressed exchange name."""
    return struct.pack("!H", preference) + _encode_name(exchange, 0, None)


def _rtype_code(rtype: str | int) -> int:
    return rtype if isinstance(rtype, int) else DNS_TYPES[rtype.upper()]


def _question(qname: str | bytes, qtype: str | int, offsets: dict[bytes, int] | None) -> bytes:
    return _encode_name(qname, 12, offsets) + struct.pack("!HH", _rtype_code(qtype), 1)


def dns_query(
    qname: str | bytes, qtype: str | int = "A", *, txid: int = 0, recursion_desired: bool = True
) -> bytes:
    header = struct.pack("!HHHHHH", txid, 0x0100 if recursion_desired else 0, 1, 0, 0, 0)
    return header + _question(qname, qtype, None)


def resolve_answers(
    qname: str, qtype: str | int, answers: Iterable[str | DnsRecord], ttl: int = 300
) -> list[DnsRecord]:
    """Expand shorthand answers: an IP gives A/AAAA, any other text is a CNAME; later records
    belong to the latest CNAME target, as in a resolver's answer section."""
    owner = qname
    records: list[DnsRecord] = []
    for answer in answers:
        if isinstance(answer, DnsRecord):
            records.append(answer)
            if answer.rtype.upper() == "CNAME":
                owner = str(answer.value)
            continue
        try:
            version = ipaddress.ip_address(answer).version
        except ValueError:
            records.append(DnsRecord(owner, "CNAME", answer, ttl))
            owner = answer
            continue
        records.append(DnsRecord(owner, "A" if version == 4 else "AAAA", answer, ttl))
    return records


def _rdata(record: DnsRecord, msg_len: int, offsets: dict[bytes, int]) -> bytes:
    rtype = record.rtype.upper()
    if isinstance(record.value, bytes):
        return record.value
    if rtype in ("A", "AAAA"):
        return packed_ip(record.value)
    if rtype in ("CNAME", "NS", "PTR"):
        return _encode_name(record.value, msg_len, offsets)
    if rtype == "TXT":
        data = record.value.encode()
        return b"".join(
            bytes([len(data[i : i + 255])]) + data[i : i + 255] for i in range(0, max(len(data), 1), 255)
        )
    raise ValueError(f"give raw rdata bytes for {rtype} records")


def dns_response(
    qname: str | bytes,
    qtype: str | int = "A",
    answers: Iterable[str | DnsRecord] = (),
    *,
    txid: int = 0,
    rcode: int = 0,
    ttl: int = 300,
    authoritative: bool = False,
) -> bytes:
    """A recursive resolver's response with name compression. NXDOMAIN (rcode 3) carries an SOA."""
    offsets: dict[bytes, int] = {}
    msg = bytearray(12)
    msg += _question(qname, qtype, offsets)
    qtext = qname.decode(errors="replace") if isinstance(qname, bytes) else qname
    records = resolve_answers(qtext, qtype, answers, ttl)
    for record in records:
        msg += _encode_name(record.name, len(msg), offsets)
        msg += struct.pack("!HHI", _rtype_code(record.rtype), 1, record.ttl)
        rdata = _rdata(record, len(msg) + 2, offsets)
        msg += struct.pack("!H", len(rdata)) + rdata
    authority = 0
    if rcode == 3:
        zone = ".".join(qtext.rstrip(".").split(".")[-2:])
        msg += _encode_name(zone, len(msg), offsets) + struct.pack("!HHI", 6, 1, 900)
        start = len(msg) + 2
        mname = _encode_name("ns1." + zone, start, offsets)
        rname = _encode_name("hostmaster." + zone, start + len(mname), offsets)
        rdata = mname + rname + struct.pack("!IIIII", 2024010101, 7200, 900, 1209600, 900)
        msg += struct.pack("!H", len(rdata)) + rdata
        authority = 1
    flags = 0x8000 | (0x0400 if authoritative else 0) | 0x0100 | 0x0080 | (rcode & 0xF)
    msg[0:12] = struct.pack("!HHHHHH", txid, flags, 1, len(records), authority, 0)
    return bytes(msg)


# --------------------------------------------------------------------------- TLS ClientHello

_CHROME_CIPHERS = (
    0x1301,
    0x1302,
    0x1303,
    0xC02B,
    0xC02F,
    0xC02C,
    0xC030,
    0xCCA9,
    0xCCA8,
    0xC013,
    0xC014,
    0x009C,
    0x009D,
    0x002F,
    0x0035,
)
_SCHANNEL_CIPHERS = (
    0x1302,
    0x1301,
    0xC02C,
    0xC02B,
    0xC030,
    0xC02F,
    0xC024,
    0xC023,
    0xC028,
    0xC027,
    0xC00A,
    0xC009,
    0xC014,
    0xC013,
    0x009D,
    0x009C,
    0x003D,
    0x003C,
    0x0035,
    0x002F,
    0x000A,
)
_SIG_ALGS = (0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601)
GROUP_X25519 = 0x001D
GROUP_X25519_MLKEM768 = 0x11EC
_MLKEM768_SHARE_LEN = 1216  # ML-KEM-768 encapsulation key (1184) + X25519 (32)


def _ext(ext_type: int, body: bytes) -> bytes:
    return struct.pack("!HH", ext_type, len(body)) + body


def _u16_list(values: Iterable[int]) -> bytes:
    data = b"".join(struct.pack("!H", v) for v in values)
    return struct.pack("!H", len(data)) + data


def _alpn_body(protocols: Sequence[str]) -> bytes:
    data = b"".join(bytes([len(p.encode())]) + p.encode() for p in protocols)
    return struct.pack("!H", len(data)) + data


def client_hello(
    sni: str | None = None,
    *,
    alpn: Sequence[str] = ("h2", "http/1.1"),
    versions: Sequence[int] = (0x0304, 0x0303),
    profile: Literal["chrome", "schannel"] = "chrome",
    post_quantum: bool = False,
    ech: bool = False,
    rng: random.Random | None = None,
    ciphers: Sequence[int] | None = None,
    shuffle: bool = False,
) -> bytes:
    """A TLS record holding a ClientHello like a browser (`chrome`) or Windows system TLS (`schannel`).

    `versions` go into supported_versions (with a key share) when they include TLS 1.3 (0x0304);
    `versions=(0x0303,)` gives a plain TLS 1.2 hello. `post_quantum` adds an X25519MLKEM768 key share,
    which makes the hello ~1.8 kB, i.e. two TCP segments, like current Chrome. `ech` adds an
    encrypted_client_hello extension. `sni=None` leaves out server_name (connections to an IP literal).
    `shuffle` permutes the extensions with `rng`, as Chrome does per connection since version 110
    (BoringSSL's extension permutation): the GREASE extensions stay first and last, padding stays after
    them; lengths do not change. Chrome hellos always draw fresh GREASE values from `rng`.
    """
    rng = rng or random.Random(0)
    chrome = profile == "chrome"
    grease = [rng.choice(GREASE_VALUES) for _ in range(4)] if chrome else []
    tls13 = 0x0304 in versions
    suites = list(ciphers) if ciphers is not None else list(_CHROME_CIPHERS if chrome else _SCHANNEL_CIPHERS)
    if not tls13 and ciphers is None:
        suites = [c for c in suites if c >> 8 != 0x13]
    if chrome:
        suites.insert(0, grease[0])
    groups = (
        ([grease[1]] if chrome else [])
        + ([GROUP_X25519_MLKEM768] if post_quantum else [])
        + [GROUP_X25519, 0x0017, 0x0018]
    )

    exts: list[bytes] = []
    if chrome:
        exts.append(_ext(grease[2], b""))
    if sni is not None:
        name = sni.encode()
        entry = b"\x00" + struct.pack("!H", len(name)) + name
        exts.append(_ext(0, struct.pack("!H", len(entry)) + entry))
    exts.append(_ext(23, b""))  # extended_master_secret
    exts.append(_ext(0xFF01, b"\x00"))  # renegotiation_info
    exts.append(_ext(10, _u16_list(groups)))
    exts.append(_ext(11, b"\x01\x00"))  # ec_point_formats: uncompressed
    exts.append(_ext(35, b""))  # session_ticket
    if alpn:
        exts.append(_ext(16, _alpn_body(alpn)))
    exts.append(_ext(5, b"\x01\x00\x00\x00\x00"))  # status_request (OCSP)
    exts.append(_ext(13, _u16_list(_SIG_ALGS)))
    if chrome:
        exts.append(_ext(18, b""))  # signed_certificate_timestamp
    if tls13:
        shares = b""
        if chrome:
            shares += struct.pack("!HH", grease[1], 1) + b"\x00"
        if post_quantum:
            shares += struct.pack("!HH", GROUP_X25519_MLKEM768, _MLKEM768_SHARE_LEN) + rng.randbytes(
                _MLKEM768_SHARE_LEN
            )
        shares += struct.pack("!HH", GROUP_X25519, 32) + rng.randbytes(32)
        exts.append(_ext(51, struct.pack("!H", len(shares)) + shares))  # key_share
        exts.append(_ext(45, b"\x01\x01"))  # psk_key_exchange_modes: psk_dhe_ke
        vers = ([grease[3]] if chrome else []) + list(versions)
        body = b"".join(struct.pack("!H", v) for v in vers)
        exts.append(_ext(43, bytes([len(body)]) + body))  # supported_versions
    if chrome:
        exts.append(_ext(27, b"\x02\x00\x02"))  # compress_certificate: brotli
        exts.append(_ext(17513, b"\x00\x03\x02h2"))  # application_settings
    if ech:
        payload = rng.randbytes(144)
        # outer ECH: type 0, HPKE KDF/AEAD, config id, enc (32), payload
        exts.append(
            _ext(
                0xFE0D,
                struct.pack("!BHHBH", 0, 1, 1, rng.randrange(256), 32)
                + rng.randbytes(32)
                + struct.pack("!H", len(payload))
                + payload,
            )
        )
    if shuffle:  # everything between the leading GREASE extension and the trailing one
        lo = 1 if chrome else 0
        middle = exts[lo:]
        rng.shuffle(middle)
        exts[lo:] = middle
    if chrome:
        exts.append(_ext(grease[3] if grease[3] != grease[2] else grease[2] ^ 0x1010, b"\x00"))

    ext_block = b"".join(exts)
    # BoringSSL pads hellos of 256..511 bytes to 512 to dodge a middlebox bug (RFC 7685).
    unpadded = 2 + 32 + 1 + 32 + 2 + 2 * len(suites) + 2 + 2 + len(ext_block)
    if chrome and 256 <= unpadded + 4 < 512:
        pad = max(512 - (unpadded + 4) - 4, 1)
        ext_block += _ext(21, b"\x00" * pad)
    hello = (
        struct.pack("!H", 0x0303)
        + rng.randbytes(32)
        + b"\x20"
        + rng.randbytes(32)
        + _u16_list(suites)
        + b"\x01\x00"
        + struct.pack("!H", len(ext_block))
        + ext_block
    )
    handshake = b"\x01" + len(hello).to_bytes(3, "big") + hello
    return struct.pack("!BHH", 0x16, 0x0301, len(handshake)) + handshake


def http_request(
    method: str = "GET",
    host: str | None = None,
    uri: str = "/",
    *,
    user_agent: str | None = None,
    headers: Sequence[tuple[str, str]] = (),
    body: bytes = b"",
    version: str = "HTTP/1.1",
) -> bytes:
    lines = [f"{method} {uri} {version}"]
    if host is not None:
        lines.append(f"Host: {host}")
    if user_agent is not None:
        lines.append(f"User-Agent: {user_agent}")
    lines.extend(f"{k}: {v}" for k, v in headers)
    if body:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def http_response(
    status: int = 200, reason: str = "OK", *, body_length: int = 0, headers: Sequence[tuple[str, str]] = ()
) -> bytes:
    """Response head only; the body is counted by the caller (usually as filler bytes)."""
    lines = [
        f"HTTP/1.1 {status} {reason}",
        *(f"{k}: {v}" for k, v in headers),
        f"Content-Length: {body_length}",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def ntp_request(rng: random.Random | None = None) -> bytes:
    """A 48-byte NTPv4 client packet (mode 3) with a transmit timestamp."""
    rng = rng or random.Random(0)
    return bytes([0x23, 0, 6, 0xE9]) + b"\x00" * 36 + rng.randbytes(8)


def ntp_reply(request: bytes, rng: random.Random | None = None) -> bytes:
    rng = rng or random.Random(0)
    return bytes([0x24, 2, 6, 0xE9]) + rng.randbytes(20) + request[40:48] + rng.randbytes(16)


# --------------------------------------------------------------------------- conversations


@dataclass(slots=True)
class SessionStats:
    """What a conversation put on the wire: IP bytes (header included) and payload bytes per direction."""

    start: float
    end: float
    packets_out: int = 0
    packets_in: int = 0
    bytes_out: int = 0  # IP total lengths, client -> server
    bytes_in: int = 0
    payload_out: int = 0  # TCP/UDP payload bytes, client -> server
    payload_in: int = 0
    client_isn: int = 0
    server_isn: int = 0


_FILLER = random.Random(0x5EED).randbytes(1 << 16)


def filler(n: int, offset: int = 0) -> bytes:
    """`n` pseudo-random bytes (stand-in for encrypted data)."""
    out = b""
    while len(out) < n:
        start = (offset + len(out)) % len(_FILLER)
        out += _FILLER[start : start + n - len(out)]
    return out


class TrafficWriter:
    """Writes conversations into a pcap or pcapng file, in time order, on `close()`.

    Times are epoch seconds (float). Packets are buffered (already cut to `snaplen` where allowed) and
    sorted on `close()` or `flush(before=t)`. Payloads passed as bytes are kept whole (DNS, ClientHello,
    HTTP requests); bulk data given as a byte count is filler and is cut to `snaplen` when set.
    """

    def __init__(
        self,
        path: str | Path | BinaryIO,
        fmt: Literal["pcap", "pcapng"] = "pcap",
        *,
        snaplen: int | None = None,
        ts_resolution: Literal["us", "ns"] = "us",
        byteorder: ByteOrder = "little",
        link: Literal["ethernet", "raw", "sll", "sll2", "null"] = "ethernet",
        vlan: int | Sequence[int] | None = None,
        checksums: bool = True,
        seed: int = 0,
        mss: int = 1460,
        local_nets: Sequence[str] = DEFAULT_LOCAL_NETS,
    ) -> None:
        if isinstance(path, (str, Path)):
            self._stream: BinaryIO = open(path, "wb")  # noqa: SIM115 - closed in close()
            self._owns_stream = True
        else:
            self._stream = path
            self._owns_stream = False
        self.snaplen = snaplen
        self.link = link
        self.vlan = vlan
        self.checksums = checksums
        self.mss = mss
        self.rng = random.Random(seed)
        self._local = [ipaddress.ip_network(n) for n in local_nets]
        self._local_cache: dict[str, bool] = {}
        linktype = {
            "ethernet": linktypes.ETHERNET,
            "raw": linktypes.RAW,
            "sll": linktypes.LINUX_SLL,
            "sll2": linktypes.LINUX_SLL2,
            "null": linktypes.NULL,
        }[link]
        self._writer: PcapWriter | PcapngWriter
        if fmt == "pcap":
            self._writer = PcapWriter(
                self._stream, linktype=linktype, nanoseconds=ts_resolution == "ns", byteorder=byteorder
            )
        elif fmt == "pcapng":
            self._writer = PcapngWriter(self._stream, byteorder=byteorder)
            self._writer.add_interface(linktype, tsresol=9 if ts_resolution == "ns" else 6, name="synth0")
        else:
            raise ValueError(f"unknown capture format {fmt!r}")
        self._pending: list[tuple[int, int, bytes, int]] = []  # (ts_ns, order, captured bytes, wire length)
        self._order = 0
        self._ip_ids: dict[str, int] = {}
        self.packets_written = 0
        self.closed = False

    # -- context manager
    def __enter__(self) -> TrafficWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- low level
    def _is_local(self, address: str) -> bool:
        local = self._local_cache.get(address)
        if local is None:
            ip = ipaddress.ip_address(address)
            local = self._local_cache[address] = any(ip in net for net in self._local)
        return local

    def _mac(self, address: str) -> bytes:
        return mac_for(address) if self._is_local(address) else ROUTER_MAC

    def frame(self, src: str, dst: str, ip: bytes) -> bytes:
        """Wrap an IP packet in the writer's link layer."""
        v6 = ip[0] >> 4 == 6
        ethertype = ETH_IPV6 if v6 else ETH_IPV4
        if self.link == "ethernet":
            return ethernet(self._mac(src), self._mac(dst), ethertype, ip, self.vlan)
        if self.link == "raw":
            return ip
        if self.link == "null":
            return struct.pack("<I", 30 if v6 else 2) + ip  # BSD AF_INET6 varies by OS; 30 is macOS
        outgoing = self._is_local(src)
        if self.link == "sll":
            return (
                struct.pack("!HHH8sH", 4 if outgoing else 0, 1, 6, self._mac(src) + b"\x00\x00", ethertype)
                + ip
            )
        return (
            struct.pack(
                "!HHIHBB8s", ethertype, 0, 2, 1, 4 if outgoing else 0, 6, self._mac(src) + b"\x00\x00"
            )
            + ip
        )

    def packet(self, t: float, data: bytes, *, wirelen: int | None = None, truncatable: bool = False) -> None:
        """Queue one link-layer frame at time `t`."""
        if self.closed:
            raise ValueError("TrafficWriter is closed")
        length = len(data) if wirelen is None else wirelen
        if truncatable and self.snaplen is not None and len(data) > self.snaplen:
            data = data[: self.snaplen]
        self._pending.append((round(t * 1e9), self._order, data, length))
        self._order += 1

    def _ip_id(self, src: str) -> int:
        ident = self._ip_ids.get(src)
        if ident is None:
            ident = self.rng.randrange(0x10000)
        self._ip_ids[src] = (ident + 1) & 0xFFFF
        return ident

    def _ttl(self, src: str) -> int:
        return 128 if self._is_local(src) else 51

    def ip(self, t: float, src: str, dst: str, proto: int, l4: bytes, *, truncatable: bool = False) -> int:
        """Queue an IP packet carrying `l4`; returns its IP total length."""
        s, d = packed_ip(src), packed_ip(dst)
        if len(s) == 4:
            pkt = ipv4(
                s, d, proto, l4, ttl=self._ttl(src), ident=self._ip_id(src), with_checksum=self.checksums
            )
        else:
            pkt = ipv6(s, d, proto, l4, hop_limit=self._ttl(src))
        self.packet(t, self.frame(src, dst, pkt), truncatable=truncatable)
        return len(pkt)

    def _tcp(
        self,
        t: float,
        src: str,
        dst: str,
        sport: int,
        dport: int,
        seq: int,
        ack: int,
        flags: int,
        payload: bytes = b"",
        *,
        options: bytes = b"",
        truncatable: bool = False,
    ) -> int:
        segment = tcp(
            packed_ip(src),
            packed_ip(dst),
            sport,
            dport,
            seq,
            ack,
            flags,
            payload,
            window=64240 if self._is_local(src) else 65535,
            options=options,
            with_checksum=self.checksums,
        )
        return self.ip(t, src, dst, PROTO_TCP, segment, truncatable=truncatable)

    def ephemeral_port(self) -> int:
        return self.rng.randrange(49152, 65536)

    # -- conversations
    def udp(
        self,
        t: float,
        src: str,
        dst: str,
        sport: int,
        dport: int,
        payload: bytes = b"",
        *,
        truncatable: bool = False,
    ) -> int:
        """One UDP datagram; returns its IP total length."""
        datagram = udp(packed_ip(src), packed_ip(dst), sport, dport, payload, with_checksum=self.checksums)
        return self.ip(t, src, dst, PROTO_UDP, datagram, truncatable=truncatable)

    def udp_exchange(
        self,
        t: float,
        client: str,
        server: str,
        sport: int,
        dport: int,
        request: bytes,
        reply: bytes | None,
        *,
        rtt: float = 0.02,
    ) -> SessionStats:
        """Request and optional reply datagrams (NTP, DNS, syslog ...)."""
        stats = SessionStats(start=t, end=t)
        stats.bytes_out = self.udp(t, client, server, sport, dport, request)
        stats.packets_out, stats.payload_out = 1, len(request)
        if reply is not None:
            stats.bytes_in = self.udp(t + rtt, server, client, dport, sport, reply)
            stats.packets_in, stats.payload_in, stats.end = 1, len(reply), t + rtt
        return stats

    def dns_exchange(
        self,
        t: float,
        client: str,
        resolver: str,
        qname: str,
        answers: Sequence[str | DnsRecord] = (),
        *,
        qtype: str = "A",
        rcode: int = 0,
        ttl: int = 300,
        rtt: float = 0.012,
        txid: int | None = None,
        sport: int | None = None,
        transport: Literal["udp", "tcp"] = "udp",
        respond: bool = True,
    ) -> SessionStats:
        """A DNS query and (unless `respond=False`) its response; `answers` as in `resolve_answers`."""
        txid = self.rng.randrange(0x10000) if txid is None else txid
        sport = self.ephemeral_port() if sport is None else sport
        query = dns_query(qname, qtype, txid=txid)
        response = dns_response(qname, qtype, answers, txid=txid, rcode=rcode, ttl=ttl) if respond else None
        if transport == "udp":
            return self.udp_exchange(t, client, resolver, sport, 53, query, response, rtt=rtt)
        framed = [struct.pack("!H", len(query)) + query]
        replies: list[bytes | int] = (
            [struct.pack("!H", len(response)) + response] if response is not None else []
        )
        return self.tcp_session(t, client, resolver, sport, 53, framed, server_payloads=replies, rtt=rtt / 2)

    def _send_stream(
        self,
        t: float,
        src: str,
        dst: str,
        sport: int,
        dport: int,
        seq: int,
        ack: int,
        data: bytes | int,
        stats: SessionStats,
        outgoing: bool,
        gap: float,
        push: bool = True,
    ) -> tuple[float, int, int]:
        """Segment `data` (bytes, or a filler byte count) at the MSS; returns (time, next seq, segments)."""
        total = data if isinstance(data, int) else len(data)
        sent = segments = 0
        while sent < total:
            size = min(self.mss, total - sent)
            chunk = filler(size, seq) if isinstance(data, int) else data[sent : sent + size]
            flags = ACK | (PSH if push and sent + size == total else 0)
            ip_len = self._tcp(
                t, src, dst, sport, dport, seq, ack, flags, chunk, truncatable=isinstance(data, int)
            )
            if outgoing:
                stats.packets_out += 1
                stats.bytes_out += ip_len
                stats.payload_out += size
            else:
                stats.packets_in += 1
                stats.bytes_in += ip_len
                stats.payload_in += size
            seq = (seq + size) & 0xFFFFFFFF
            sent += size
            segments += 1
            t += gap
        return t, seq, segments

    def tcp_session(
        self,
        t: float,
        client: str,
        server: str,
        sport: int | None,
        dport: int,
        client_payloads: Sequence[bytes | int] = (),
        server_bytes: int = 0,
        *,
        server_payloads: Sequence[bytes | int] = (),
        duration: float | None = None,
        rtt: float = 0.03,
        handshake: bool = True,
        close: Literal["fin", "rst"] | None = "fin",
        ack_every: int = 2,
        exchange_times: Sequence[float] | None = None,
    ) -> SessionStats:
        """A TCP connection: SYN, SYN-ACK, ACK, request/response exchanges, FIN/ACK teardown.

        Exchange i is `client_payloads[i]` followed by `server_payloads[i]`; each is bytes (kept whole)
        or a byte count (filler, cut to the snaplen). `server_bytes` adds filler to the last response
        (or is a server-first banner when there is no client payload). `duration` stretches the
        exchanges so the connection closes at `t + duration`; `exchange_times` instead starts exchange
        i at its own time (heartbeats inside one long connection). The client ACKs every `ack_every`
        server segments. Returns the per-direction packet and byte counts.
        """
        sport = self.ephemeral_port() if sport is None else sport
        requests: list[bytes | int] = list(client_payloads)
        # A response is a list of parts: exact bytes (kept whole) then filler counts (cut to snaplen).
        responses: list[list[bytes | int]] = [[p] for p in server_payloads]
        responses += [[] for _ in range(len(requests) - len(responses))]
        if server_bytes:
            if not responses:
                requests, responses = [0], [[server_bytes]]
            else:
                responses[-1].append(server_bytes)
        requests += [0] * (len(responses) - len(requests))
        if exchange_times is not None and len(exchange_times) != len(requests):
            raise ValueError(f"{len(exchange_times)} exchange times for {len(requests)} exchanges")

        stats = SessionStats(start=t, end=t)
        cisn, sisn = self.rng.getrandbits(32), self.rng.getrandbits(32)
        stats.client_isn, stats.server_isn = cisn, sisn
        cseq, sseq = cisn, sisn
        half = rtt / 2
        gap = 0.0002  # between back-to-back segments

        def count(ip_len: int, outgoing: bool) -> None:
            if outgoing:
                stats.packets_out += 1
                stats.bytes_out += ip_len
            else:
                stats.packets_in += 1
                stats.bytes_in += ip_len

        now = t
        if handshake:
            syn_opts = struct.pack("!BBH", 2, 4, self.mss) + b"\x01\x03\x03\x08\x04\x02\x00\x00"
            count(self._tcp(now, client, server, sport, dport, cseq, 0, SYN, options=syn_opts), True)
            cseq = (cseq + 1) & 0xFFFFFFFF
            now += rtt
            count(
                self._tcp(now, server, client, dport, sport, sseq, cseq, SYN | ACK, options=syn_opts), False
            )
            sseq = (sseq + 1) & 0xFFFFFFFF
            now += 0.0001
            count(self._tcp(now, client, server, sport, dport, cseq, sseq, ACK), True)
        # Time left for exchanges when a duration is asked for: spread them evenly.
        busy = rtt * (len(requests) + 1)
        spread = (
            max(0.0, (duration - (now - t) - busy) / max(len(requests), 1)) if duration is not None else 0.0
        )
        for i, (request, response) in enumerate(zip(requests, responses, strict=True)):
            if exchange_times is not None:
                now = max(now, exchange_times[i])
            elif i:
                now += spread
            now += 0.0005
            now, cseq, _ = self._send_stream(
                now, client, server, sport, dport, cseq, sseq, request, stats, True, gap
            )
            now += half
            parts = [p for p in response if p]
            if not parts:
                if request:  # bare ACK of the request
                    count(self._tcp(now, server, client, dport, sport, sseq, cseq, ACK), False)
                continue
            for j, part in enumerate(parts):
                part_total = part if isinstance(part, int) else len(part)
                sent = 0
                while sent < part_total:  # `ack_every` segments, then the client's ACK
                    size = min(self.mss * ack_every, part_total - sent)
                    piece = size if isinstance(part, int) else part[sent : sent + size]
                    last = j == len(parts) - 1 and sent + size == part_total
                    now, sseq, _ = self._send_stream(
                        now, server, client, dport, sport, sseq, cseq, piece, stats, False, gap, push=last
                    )
                    sent += size
                    # The final ACK rides on the client's next segment when that follows at once.
                    more = i < len(requests) - 1
                    if more and exchange_times is not None:
                        idle = exchange_times[i + 1] - now
                    elif more:
                        idle = spread
                    else:
                        idle = t + duration - rtt - now if duration else 0.0
                    if last and idle < 0.2 and (more or close == "fin"):
                        continue
                    count(self._tcp(now + 0.0001, client, server, sport, dport, cseq, sseq, ACK), True)
                    now += 0.0002
        if duration is not None:
            now = max(now, t + duration - rtt)
        now += 0.001
        if close == "fin":
            count(self._tcp(now, client, server, sport, dport, cseq, sseq, FIN | ACK), True)
            cseq = (cseq + 1) & 0xFFFFFFFF
            now += half
            count(self._tcp(now, server, client, dport, sport, sseq, cseq, FIN | ACK), False)
            sseq = (sseq + 1) & 0xFFFFFFFF
            now += half
            count(self._tcp(now, client, server, sport, dport, cseq, sseq, ACK), True)
        elif close == "rst":
            count(self._tcp(now, client, server, sport, dport, cseq, sseq, RST | ACK), True)
        stats.end = now
        return stats

    def tls_session(
        self,
        t: float,
        client: str,
        server: str,
        sport: int | None,
        dport: int,
        hello: bytes,
        request: bytes | int,
        server_hello: bytes | int,
        response: int,
        **tcp: Any,
    ) -> SessionStats:
        """A TLS connection: the ClientHello `hello`, the server's hello flight (`server_hello` bytes),
        then one request and `response` bytes of application data; `tcp` as in `tcp_session`."""
        return self.tcp_session(
            t,
            client,
            server,
            sport,
            dport,
            [hello, request],
            server_bytes=response,
            server_payloads=[server_hello],
            **tcp,
        )

    @property
    def queued(self) -> int:
        """Packets waiting for `flush` or `close`."""
        return len(self._pending)

    @property
    def bytes_written(self) -> int:
        """File bytes written so far (headers included)."""
        return self._writer.bytes_written

    # -- output
    def flush(self, before: float | None = None) -> int:
        """Write queued packets (all, or those earlier than `before`) in time order; returns how many."""
        self._pending.sort()
        if before is None:
            ready, self._pending = self._pending, []
        else:
            idx = bisect.bisect_left(self._pending, (round(before * 1e9),))
            ready, self._pending = self._pending[:idx], self._pending[idx:]
        for ts_ns, _, data, wirelen in ready:
            self._writer.write(ts_ns, data, wirelen)
        self.packets_written += len(ready)
        return len(ready)

    def close(self) -> None:
        if self.closed:
            return
        self.flush()
        self.closed = True
        if self._owns_stream:
            self._stream.close()
        else:
            self._stream.flush()
