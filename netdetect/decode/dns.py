"""DNS messages (RFC 1035) from a UDP payload or a length-prefixed TCP stream.

Only the header, the question section and the answer section are decoded: that is what the events need.
In an UPDATE message (opcode 5) the question is the zone and the answer section holds prerequisites,
so no answers are reported for it.
Names are lower-cased, have no trailing dot (the root is ""), and bytes outside letters, digits, '-'
and '_' are escaped as dig and Zeek do (`\\DDD`, `\\.`, `\\\\`), so a name from the wire is always
printable, one line, and unambiguous.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass, field
from functools import lru_cache

from netdetect.decode.errors import Cursor, DecodeError, safe_text
from netdetect.model import DnsAnswer

HEADER_LEN = 12
_HEADER = struct.Struct("!4H")  # id, flags, qdcount, ancount (nscount/arcount unused)
MAX_NAME_LEN = 255  # RFC 1035 2.3.4, wire form
MAX_POINTER_JUMPS = 64  # far above any honest message; stops pointer loops early
# Bytes of rdata shown as hex for the types rendered in RFC 3597's generic form (`\# length hex`: the true
# length stays in the text). TXT and SPF are kept whole: a tunnel's answers are measured by them.
MAX_RDATA_HEX = 256
OPCODE_NOTIFY = 4  # RFC 1996: question = zone (SOA), answer section may hold the new SOA: kept as answers
OPCODE_UPDATE = 5  # RFC 2136: zone, prerequisite, update and additional sections

QTYPES: dict[int, str] = {
    1: "A", 2: "NS", 5: "CNAME", 6: "SOA", 12: "PTR", 13: "HINFO", 15: "MX", 16: "TXT", 17: "RP",
    18: "AFSDB", 24: "SIG", 25: "KEY", 28: "AAAA", 29: "LOC", 33: "SRV", 35: "NAPTR", 36: "KX",
    37: "CERT", 39: "DNAME", 41: "OPT", 42: "APL", 43: "DS", 44: "SSHFP", 45: "IPSECKEY",
    46: "RRSIG", 47: "NSEC", 48: "DNSKEY", 49: "DHCID", 50: "NSEC3", 51: "NSEC3PARAM", 52: "TLSA",
    53: "SMIMEA", 55: "HIP", 59: "CDS", 60: "CDNSKEY", 61: "OPENPGPKEY", 62: "CSYNC", 63: "ZONEMD",
    64: "SVCB", 65: "HTTPS", 99: "SPF", 108: "EUI48", 109: "EUI64", 249: "TKEY", 250: "TSIG",
    251: "IXFR", 252: "AXFR", 253: "MAILB", 254: "MAILA", 255: "ANY", 256: "URI", 257: "CAA",
}  # fmt: skip

SVC_PARAM_KEYS = {0: "mandatory", 1: "alpn", 2: "no-default-alpn", 3: "port", 4: "ipv4hint", 5: "ech",
                  6: "ipv6hint", 7: "dohpath", 8: "ohttp"}  # fmt: skip

# Label bytes kept as they are (after lower-casing); everything else is escaped.
_PLAIN_LABEL_BYTES = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")
_PLAIN_LABEL_TABLE = bytes(sorted(_PLAIN_LABEL_BYTES))


@lru_cache(maxsize=1 << 14)
def _ipv6_text(raw: bytes) -> str:
    return str(ipaddress.IPv6Address(raw))  # same rendering as netdetect.addr, so answers match conn rows


def qtype_text(qtype: int) -> str:
    return QTYPES.get(qtype) or f"TYPE{qtype}"


@dataclass(slots=True)
class DnsMessage:
    txid: int
    is_response: bool
    opcode: int
    rcode: int
    questions: list[tuple[str, str]]  # (name, qtype text)
    answers: list[DnsAnswer] = field(default_factory=list)
    truncated_flag: bool = False  # TC bit: the server cut the answer (retry over TCP follows)
    # Reason code when the answer section could not be read to its end (questions and the answers read
    # before the fault are kept); None for a clean message.
    error: str | None = None

    @property
    def query(self) -> str | None:
        return self.questions[0][0] if self.questions else None

    @property
    def qtype(self) -> str | None:
        return self.questions[0][1] if self.questions else None


def _label_text(label: bytes) -> str:
    if not label.translate(None, _PLAIN_LABEL_TABLE):
        return label.decode("ascii").lower()
    out = []
    for b in label:
        if b in _PLAIN_LABEL_BYTES:
            out.append(chr(b).lower())
        elif b == 0x2E or b == 0x5C:  # '.' or '\' inside a label
            out.append("\\" + chr(b))
        elif 0x21 <= b <= 0x7E:
            out.append(chr(b))
        else:
            out.append(f"\\{b:03d}")
    return "".join(out)


def _labels_text(raw_labels: list[bytes]) -> str:
    if not b"".join(raw_labels).translate(None, _PLAIN_LABEL_TABLE):  # the usual case: plain hostname
        return b".".join(raw_labels).decode("ascii").lower()
    return ".".join(_label_text(label) for label in raw_labels)


def read_name(msg: bytes, pos: int, seen: dict[int, tuple[str, int]] | None = None) -> tuple[str, int]:
    """Decode the (possibly compressed) name at `pos`; return it and the offset just after it in place.

    Pointers may go anywhere inside the message but are limited in number, and the expanded name in
    wire length is limited to 255 bytes, so a crafted loop ends quickly. `seen` (offset -> name, wire
    length), shared over one message, lets a pointer to an already decoded name finish at once.
    """
    start = pos
    raw_labels: list[bytes] = []
    suffix = ""
    end_of_name = -1  # where parsing resumes in the record: set at the first pointer
    jumps = 0
    wire_len = 1
    n = len(msg)
    while True:
        if pos >= n:
            raise DecodeError("dns.truncated", "name runs past the message")
        length = msg[pos]
        if length == 0:
            pos += 1
            break
        kind = length & 0xC0
        if kind == 0xC0:
            if pos + 1 >= n:
                raise DecodeError("dns.truncated", "pointer cut short")
            target = ((length & 0x3F) << 8) | msg[pos + 1]
            if end_of_name < 0:
                end_of_name = pos + 2
            jumps += 1
            if jumps > MAX_POINTER_JUMPS:
                raise DecodeError("dns.pointer_loop")
            if target >= n or target < HEADER_LEN:
                # No name lives in the header: a pointer there is crafted (and would make the name
                # depend on the transaction ID, which the pipeline's memo leaves out).
                raise DecodeError("dns.bad_pointer", f"pointer to {target} (message of {n} bytes)")
            known = seen.get(target) if seen is not None else None
            if known is not None:
                suffix, suffix_wire = known
                wire_len += suffix_wire - 1
                if wire_len > MAX_NAME_LEN:
                    raise DecodeError("dns.name_too_long")
                break
            pos = target
            continue
        if kind:
            raise DecodeError("dns.bad_label", f"label type 0x{kind:02x}")
        wire_len += length + 1
        if wire_len > MAX_NAME_LEN:
            raise DecodeError("dns.name_too_long")
        if pos + 1 + length > n:
            raise DecodeError("dns.truncated", "label runs past the message")
        raw_labels.append(msg[pos + 1 : pos + 1 + length])
        pos += 1 + length
    text = _labels_text(raw_labels) if raw_labels else ""
    if suffix:
        text = f"{text}.{suffix}" if text else suffix
    if seen is not None:
        seen[start] = (text, wire_len)
    return text, (end_of_name if end_of_name >= 0 else pos)


def _char_strings(rdata: bytes) -> list[bytes]:
    cur = Cursor(rdata, reason="dns.bad_rdata")
    out = []
    while cur.left():
        out.append(cur.take(cur.u8()))
    return out


def _svcb_text(msg: bytes, start: int, end: int) -> str:
    """HTTPS/SVCB rdata (RFC 9460) as `priority target key=value...`; the ECH blob is shown as `ech`."""
    cur = Cursor(msg, start, end, reason="dns.bad_rdata")
    priority = cur.u16()
    target, cur.pos = read_name(msg, cur.pos)
    if cur.pos > end:
        raise DecodeError("dns.bad_rdata", "SVCB target past rdata")
    parts = [str(priority), target or "."]
    while cur.left():
        key = cur.u16()
        value = cur.sub(cur.u16())
        name = SVC_PARAM_KEYS.get(key, f"key{key}")
        if key == 1:
            alpns = []
            while value.left():
                alpns.append(safe_text(value.take(value.u8())))
            parts.append("alpn=" + ",".join(alpns))
        elif key == 3:
            parts.append(f"port={value.u16()}")
        elif key == 4:
            raw = value.take(value.left())
            if len(raw) % 4:
                raise DecodeError("dns.bad_rdata", "ipv4hint length")
            parts.append(
                "ipv4hint="
                + ",".join(str(ipaddress.IPv4Address(raw[i : i + 4])) for i in range(0, len(raw), 4))
            )
        elif key == 6:
            raw = value.take(value.left())
            if len(raw) % 16:
                raise DecodeError("dns.bad_rdata", "ipv6hint length")
            parts.append(
                "ipv6hint="
                + ",".join(str(ipaddress.IPv6Address(raw[i : i + 16])) for i in range(0, len(raw), 16))
            )
        elif key == 0:
            keys = value.u16_list(value.left())
            parts.append("mandatory=" + ",".join(SVC_PARAM_KEYS.get(k, f"key{k}") for k in keys))
        elif key in (2, 5):
            parts.append(name)  # flag, or an ECH config whose bytes mean nothing to an analyst
        else:
            parts.append(f"{name}={safe_text(value.take(value.left()), limit=64)}")
    return " ".join(parts)


def _rdata_text(msg: bytes, rtype: int, start: int, end: int) -> str:
    rdata = msg[start:end]
    if rtype == 1:
        if len(rdata) != 4:
            raise DecodeError("dns.bad_rdata", "A length")
        return f"{rdata[0]}.{rdata[1]}.{rdata[2]}.{rdata[3]}"
    if rtype == 28:
        if len(rdata) != 16:
            raise DecodeError("dns.bad_rdata", "AAAA length")
        return _ipv6_text(rdata)
    if rtype in (2, 5, 12, 39):  # NS CNAME PTR DNAME
        return read_name(msg, start)[0]
    if rtype == 15:  # MX
        if len(rdata) < 3:
            raise DecodeError("dns.bad_rdata", "MX length")
        return f"{int.from_bytes(rdata[:2], 'big')} {read_name(msg, start + 2)[0]}"
    if rtype == 33:  # SRV
        if len(rdata) < 7:
            raise DecodeError("dns.bad_rdata", "SRV length")
        prio, weight, port = (int.from_bytes(rdata[i : i + 2], "big") for i in (0, 2, 4))
        return f"{prio} {weight} {port} {read_name(msg, start + 6)[0]}"
    if rtype == 6:  # SOA
        mname, pos = read_name(msg, start)
        rname, pos = read_name(msg, pos)
        if pos + 20 > end:
            raise DecodeError("dns.bad_rdata", "SOA length")
        nums = " ".join(str(int.from_bytes(msg[i : i + 4], "big")) for i in range(pos, pos + 20, 4))
        return f"{mname} {rname} {nums}"
    if rtype in (16, 99):  # TXT SPF, whole (at most the message's 64 KiB)
        return " ".join(safe_text(s) for s in _char_strings(rdata))
    if rtype in (64, 65):
        return _svcb_text(msg, start, end)
    # RFC 3597 generic form, cut: the value is for display and matching, not for re-encoding.
    return f"\\# {len(rdata)} {rdata[:MAX_RDATA_HEX].hex()}"


def parse_dns(payload: bytes) -> DnsMessage:
    """Decode one DNS message. Raises DecodeError if the header or a question is malformed.

    A fault in the answer section keeps what was read before it and sets `error` instead of raising,
    so a snaplen-cut response still yields its query and first answers.
    """
    if len(payload) < HEADER_LEN:
        raise DecodeError("dns.short_header", f"{len(payload)} bytes")
    txid, flags, qdcount, ancount = _HEADER.unpack_from(payload)
    msg = DnsMessage(
        txid=txid,
        is_response=bool(flags & 0x8000),
        opcode=(flags >> 11) & 0xF,
        rcode=flags & 0xF,
        questions=[],
        truncated_flag=bool(flags & 0x0200),
    )
    pos = HEADER_LEN
    n = len(payload)
    seen: dict[int, tuple[str, int]] = {}
    for _ in range(qdcount):
        name, pos = read_name(payload, pos, seen)
        if pos + 4 > n:
            raise DecodeError("dns.truncated", "question type/class")
        qtype = (payload[pos] << 8) | payload[pos + 1]
        pos += 4  # qclass ignored: its top bit is mDNS "unicast response wanted"
        msg.questions.append((name, qtype_text(qtype)))
    if msg.opcode == OPCODE_UPDATE:
        # RFC 2136: the question is the zone, and the next two sections hold prerequisites and updates,
        # not answers; reporting them as answers would invent resolutions nobody asked for.
        return msg
    try:
        for _ in range(ancount):
            owner, pos = read_name(payload, pos, seen)
            if pos + 10 > n:
                raise DecodeError("dns.truncated", "record header")
            rtype = (payload[pos] << 8) | payload[pos + 1]
            ttl = int.from_bytes(payload[pos + 4 : pos + 8], "big")
            rdlen = (payload[pos + 8] << 8) | payload[pos + 9]
            start = pos + 10
            pos = start + rdlen
            if pos > n:
                raise DecodeError("dns.truncated", "rdata")
            if rtype == 41:  # OPT does not belong in answers; skip rather than show
                continue
            try:
                value = _rdata_text(payload, rtype, start, pos)
            except DecodeError as exc:  # bad rdata, sound framing: note it and go on to the next record
                msg.error = msg.error or exc.reason
                continue
            msg.answers.append(DnsAnswer(owner, qtype_text(rtype), value, ttl))
    except DecodeError as exc:
        msg.error = exc.reason
    return msg


def split_tcp_dns(buf: bytes) -> tuple[list[bytes], int]:
    """Split DNS-over-TCP bytes (RFC 1035 4.2.2: 2-byte length + message, repeated).

    Returns the complete messages and the number of bytes consumed; the rest is a partial message that
    waits for more bytes. A zero length prefix yields an empty message, which `parse_dns` rejects.
    """
    msgs: list[bytes] = []
    pos = 0
    n = len(buf)
    while pos + 2 <= n:
        length = (buf[pos] << 8) | buf[pos + 1]
        if pos + 2 + length > n:
            break
        msgs.append(bytes(buf[pos + 2 : pos + 2 + length]))
        pos += 2 + length
    return msgs, pos
