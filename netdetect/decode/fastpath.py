"""Fast versions of the per-event parsers, for the pipeline's hot path; results equal the reference parsers'.

Each fast parser handles the common, well-formed case with few Python operations and hands anything
unusual (a length that does not fit, DTLS, an odd list) to the reference parser in `tls` / `dns`, which
then gives the exact result or DecodeError. So the fast path never decides an edge case on its own.

- `parse_client_hello` walks the hello with plain indexing instead of a cursor object per field;
  JA3/JA4 come from memos in `fingerprint` (clients of one build repeat them exactly).
- `DnsMemo` parses each distinct DNS message once: queries (and many responses) repeat byte for byte
  except the transaction ID.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from netdetect.decode import dns as dns_mod
from netdetect.decode import fingerprint
from netdetect.decode import tls as tls_mod
from netdetect.decode.errors import DecodeError, safe_text
from netdetect.decode.tls import (
    EXT_ALPN,
    EXT_EC_POINT_FORMATS,
    EXT_ECH,
    EXT_QUIC_TRANSPORT_PARAMETERS,
    EXT_QUIC_TRANSPORT_PARAMETERS_DRAFT,
    EXT_SERVER_NAME,
    EXT_SIGNATURE_ALGORITHMS,
    EXT_SUPPORTED_GROUPS,
    EXT_SUPPORTED_VERSIONS,
    ClientHello,
)
from netdetect.model import DnsAnswer

_TYPE_LEN = struct.Struct("!HH").unpack_from
_QUIC_TP = (EXT_QUIC_TRANSPORT_PARAMETERS, EXT_QUIC_TRANSPORT_PARAMETERS_DRAFT)


def _u16s(raw: bytes) -> list[int]:
    return list(struct.unpack(f"!{len(raw) >> 1}H", raw))


class _Unusual(Exception):
    """Raised inside the fast walk: let the reference parser decide."""


def _walk_client_hello(body: bytes) -> ClientHello:
    """The common TLS (not DTLS) ClientHello; raises _Unusual or IndexError on anything else."""
    n = len(body)
    if n < 39 or body[0] != 3 or body[34] > 32:
        raise _Unusual
    pos = 35 + body[34]
    clen = (body[pos] << 8) | body[pos + 1]
    pos += 2
    if clen & 1 or pos + clen > n:
        raise _Unusual
    ciphers = _u16s(body[pos : pos + clen])
    pos += clen
    compression = body[pos]
    pos += 1 + compression
    if not compression or pos + 2 > n:
        raise _Unusual  # includes the legal SSL 3.0 hello without extensions: rare, reference handles it
    end = pos + 2 + ((body[pos] << 8) | body[pos + 1])
    pos += 2
    if end > n:
        raise _Unusual
    hello = ClientHello((3 << 8) | body[1], ciphers, [], None, [], [], [], [], [], False)
    extensions = hello.extensions
    while pos < end:
        if pos + 4 > end:
            raise _Unusual
        ext_type, ext_len = _TYPE_LEN(body, pos)
        pos += 4
        ext_end = pos + ext_len
        if ext_end > end:
            raise _Unusual
        extensions.append(ext_type)
        if ext_type == EXT_SERVER_NAME:
            if ext_len:  # server_name_list whose first entry is a host_name (the only type ever used)
                if ext_len < 5 or body[pos + 2] != 0:
                    raise _Unusual
                list_end = pos + 2 + ((body[pos] << 8) | body[pos + 1])
                name_end = pos + 5 + ((body[pos + 3] << 8) | body[pos + 4])
                if list_end > ext_end or name_end > list_end:
                    raise _Unusual
                hello.sni = safe_text(body[pos + 5 : name_end], limit=255)
        elif ext_type == EXT_ALPN:
            if ext_len < 2:
                raise _Unusual
            p = pos + 2
            list_end = p + ((body[pos] << 8) | body[pos + 1])
            if list_end > ext_end:
                raise _Unusual
            while p < list_end:
                q = p + 1 + body[p]
                if q > list_end:
                    raise _Unusual
                raw = body[p + 1 : q]
                hello.alpn_raw.append(raw)
                hello.alpn.append(safe_text(raw, limit=255))
                p = q
        elif ext_type == EXT_SUPPORTED_VERSIONS:
            size = body[pos] if ext_len else 1
            if size & 1 or 1 + size > ext_len:
                raise _Unusual
            hello.has_supported_versions = True
            hello.versions = fingerprint.without_grease(_u16s(body[pos + 1 : pos + 1 + size]))
        elif ext_type in (EXT_SUPPORTED_GROUPS, EXT_SIGNATURE_ALGORITHMS):
            size = ((body[pos] << 8) | body[pos + 1]) if ext_len >= 2 else 1
            if size & 1 or 2 + size > ext_len:
                raise _Unusual
            values = _u16s(body[pos + 2 : pos + 2 + size])
            if ext_type == EXT_SUPPORTED_GROUPS:
                hello.groups = values
            else:
                hello.sig_algs = values
        elif ext_type == EXT_EC_POINT_FORMATS:
            if not ext_len or 1 + body[pos] > ext_len:
                raise _Unusual
            hello.ec_point_formats = list(body[pos + 1 : pos + 1 + body[pos]])
        elif ext_type == EXT_ECH:
            hello.ech = True
        elif ext_type in _QUIC_TP:
            hello.quic_transport_parameters = True
        pos = ext_end
    if pos != end:
        raise _Unusual
    return hello


def parse_client_hello(body: bytes) -> ClientHello:
    """`tls.parse_client_hello`, faster on the common case; same result, same DecodeError."""
    try:
        hello = _walk_client_hello(body)
    except (_Unusual, IndexError):
        return tls_mod.parse_client_hello(body)
    hello.ja3 = fingerprint.ja3_string(
        hello.legacy_version, hello.ciphers, hello.extensions, hello.groups, hello.ec_point_formats
    )
    hello.ja3_hash = fingerprint.ja3_hash(hello.ja3)
    hello.ja4 = hello.ja4_for("t")
    return hello


def extract_client_hello(stream: bytes) -> ClientHello | None:
    """`tls.extract_client_hello` with the fast hello parser."""
    body = tls_mod.client_hello_body(stream)
    return None if body is None else parse_client_hello(body)


# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class DnsParsed:
    """What a DnsEvent needs from one message, apart from the transaction ID."""

    is_response: bool
    rcode: int
    query: str
    qtype: str
    answers: tuple[DnsAnswer, ...]


MEMO_MAX_PAYLOAD = 512  # longer messages are parsed each time: bounds the memo's memory (~16 MB at most)
MEMO_ENTRIES = 1 << 15


class DnsMemo:
    """`dns.parse_dns` once per distinct message (bytes after the transaction ID), bounded in size.

    Returns a DnsParsed, or the DecodeError reason as a string. Answers are shared between events of
    equal messages; they are never modified after parsing.
    """

    __slots__ = ("_seen", "hits", "misses")

    def __init__(self) -> None:
        self._seen: dict[bytes, DnsParsed | str] = {}
        self.hits = 0
        self.misses = 0

    def parse(self, payload: bytes) -> DnsParsed | str:
        if len(payload) > MEMO_MAX_PAYLOAD:
            return _dns_parsed(payload)
        key = payload[2:]
        known = self._seen.get(key)
        if known is not None:
            self.hits += 1
            return known
        self.misses += 1
        if len(self._seen) >= MEMO_ENTRIES:
            self._seen.clear()  # a flood of unique names: start over rather than grow
        parsed = self._seen[key] = _dns_parsed(payload)
        return parsed


def _dns_parsed(payload: bytes) -> DnsParsed | str:
    try:
        msg = dns_mod.parse_dns(payload)
    except DecodeError as exc:
        return exc.reason
    qname, qtype = msg.questions[0] if msg.questions else ("", "")
    return DnsParsed(msg.is_response, msg.rcode, qname, qtype, tuple(msg.answers))
