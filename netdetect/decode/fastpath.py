"""Fast versions of the per-event parsers, for the pipeline's hot path; results equal the reference parsers'.

Each fast parser handles the common, well-formed case with few Python operations and hands anything
unusual (a length that does not fit, DTLS, an odd list) to the reference parser in `tls` / `dns`, which
then gives the exact result or DecodeError. So the fast path never decides an edge case on its own.

- `hello_shape` / `parse_client_hello` walk the hello with plain indexing instead of a cursor object per
  field, and take everything but the SNI (lists, JA3, JA4) from a memo keyed by the bytes that decide
  it: clients of one software build repeat them exactly.
- `DnsMemo` parses each distinct DNS message once: queries (and many responses) repeat byte for byte
  except the transaction ID.

With the compiled core built (`_events.c`), the hello walk and the DNS walk behind the memo run in C;
the Python walks stay callable (`_walk`, `dns_parsed`) and are what runs with `NETDETECT_NATIVE=0`.
The compiled extraction memoises what a TLS row takes from a hello (ALPN, versions, ECH, JA4) on the
shape with GREASE left out and ciphers and extensions sorted, and builds the JA3 string and its MD5 per
hello in C: Chrome's per-connection GREASE values and extension order cost no Python. The first hello
of each such shape comes here (`shape_for_key`). `HelloShape` objects stay memoised on the exact key, so
one connection's GREASE values and extension order never reach another's `ClientHello`.
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
from netdetect.native import built, load
from netdetect.tables import addr16

_EVENTS = "netdetect.decode._events"

_TYPE_LEN = struct.Struct("!HH").unpack_from
# Extensions whose bytes decide the parsed lists and the fingerprints; the rest only count by type.
_SHAPE_EXTENSIONS = frozenset(
    {EXT_ALPN, EXT_SUPPORTED_VERSIONS, EXT_SUPPORTED_GROUPS, EXT_SIGNATURE_ALGORITHMS, EXT_EC_POINT_FORMATS}
)
SHAPE_ENTRIES = 4096
# Hellos whose shape bytes are longer are parsed each time: bounds the memos' memory (the compiled path's
# too: its memo key, and the JA3 strings it memoises).
SHAPE_MAX_BYTES = 2048


class _Unusual(Exception):
    """Raised inside the fast walk: let the reference parser decide."""


def _u16s(raw: bytes) -> tuple[int, ...]:
    if len(raw) & 1:
        raise _Unusual
    return struct.unpack(f"!{len(raw) >> 1}H", raw)


@dataclass(frozen=True, slots=True)
class HelloShape:
    """Everything a ClientHello yields except its SNI: equal for every connection of one client build."""

    legacy_version: int
    ciphers: tuple[int, ...]
    extensions: tuple[int, ...]
    alpn: tuple[str, ...]
    alpn_raw: tuple[bytes, ...]
    has_supported_versions: bool
    versions: tuple[int, ...]
    groups: tuple[int, ...]
    ec_point_formats: tuple[int, ...]
    sig_algs: tuple[int, ...]
    ja3: str
    ja3_hash: str
    ja4: str  # for TLS over TCP
    ech: bool
    quic_transport_parameters: bool

    def hello(self, sni: str | None) -> ClientHello:
        return ClientHello(
            self.legacy_version,
            list(self.ciphers),
            list(self.extensions),
            sni,
            list(self.alpn),
            list(self.versions),
            list(self.groups),
            list(self.ec_point_formats),
            list(self.sig_algs),
            self.ech,
            self.ja3,
            self.ja3_hash,
            self.ja4,
            list(self.alpn_raw),
            self.has_supported_versions,
            self.quic_transport_parameters,
        )

    @staticmethod
    def of(hello: ClientHello) -> HelloShape:
        return HelloShape(
            hello.legacy_version,
            tuple(hello.ciphers),
            tuple(hello.extensions),
            tuple(hello.alpn),
            tuple(hello.alpn_raw),
            hello.has_supported_versions,
            tuple(hello.versions),
            tuple(hello.groups),
            tuple(hello.ec_point_formats),
            tuple(hello.sig_algs),
            hello.ja3,
            hello.ja3_hash,
            hello.ja4,
            hello.ech,
            hello.quic_transport_parameters,
        )


def _shape(
    legacy_version: int, cipher_raw: bytes, types: tuple[int, ...], raws: tuple[bytes, ...]
) -> HelloShape:
    """Decode the shape extensions (their bytes in wire order in `raws`), as `tls._parse_extensions` does."""
    alpn: list[str] = []
    alpn_raw: list[bytes] = []
    versions: tuple[int, ...] | None = None
    groups: tuple[int, ...] = ()
    point_formats: tuple[int, ...] = ()
    sig_algs: tuple[int, ...] = ()
    for ext_type, raw in zip((t for t in types if t in _SHAPE_EXTENSIONS), raws, strict=True):
        if ext_type == EXT_ALPN:
            if len(raw) < 2 or 2 + ((raw[0] << 8) | raw[1]) > len(raw):
                raise _Unusual
            p, list_end = 2, 2 + ((raw[0] << 8) | raw[1])
            while p < list_end:
                q = p + 1 + raw[p]
                if q > list_end:
                    raise _Unusual
                alpn_raw.append(raw[p + 1 : q])
                alpn.append(safe_text(raw[p + 1 : q], limit=255))
                p = q
        elif ext_type == EXT_SUPPORTED_VERSIONS:
            if not raw or 1 + raw[0] > len(raw):
                raise _Unusual
            versions = tuple(fingerprint.without_grease(_u16s(raw[1 : 1 + raw[0]])))
        elif ext_type == EXT_EC_POINT_FORMATS:
            if not raw or 1 + raw[0] > len(raw):
                raise _Unusual
            point_formats = tuple(raw[1 : 1 + raw[0]])
        else:  # supported_groups, signature_algorithms: a 16-bit length, then 16-bit values
            if len(raw) < 2 or 2 + ((raw[0] << 8) | raw[1]) > len(raw):
                raise _Unusual
            values = _u16s(raw[2 : 2 + ((raw[0] << 8) | raw[1])])
            if ext_type == EXT_SUPPORTED_GROUPS:
                groups = values
            else:
                sig_algs = values
    ciphers = _u16s(cipher_raw)
    ja3 = fingerprint.ja3_string(legacy_version, ciphers, types, groups, point_formats)
    ja4 = fingerprint.ja4(
        "t",
        legacy_version,
        versions,
        EXT_SERVER_NAME in types,
        ciphers,
        types,
        alpn_raw[0] if alpn_raw else None,
        sig_algs,
    )
    return HelloShape(
        legacy_version,
        ciphers,
        types,
        tuple(alpn),
        tuple(alpn_raw),
        versions is not None,
        versions or (),
        groups,
        point_formats,
        sig_algs,
        ja3,
        fingerprint.ja3_hash(ja3),
        ja4,
        EXT_ECH in types,
        not _QUIC_TP.isdisjoint(types),
    )


_SHAPES: dict[tuple, HelloShape] = {}
_QUIC_TP = frozenset({EXT_QUIC_TRANSPORT_PARAMETERS, EXT_QUIC_TRANSPORT_PARAMETERS_DRAFT})


def parse_client_hello(body: bytes) -> ClientHello:
    """`tls.parse_client_hello`, faster on the common case; same result, same DecodeError."""
    shape, sni = hello_shape(body)
    return shape.hello(sni)


def hello_shape(body: bytes) -> tuple[HelloShape, str | None]:
    """A ClientHello body as its shape and SNI; raises DecodeError as `tls.parse_client_hello` does.

    The walk only notes extension types and slices the few extensions that shape the result; the
    decoded lists and fingerprints come from a memo keyed by those bytes, so a repeated client build
    costs one walk and one lookup. Anything unusual goes to the reference parser.
    """
    if type(body) is not bytes:
        body = bytes(body)
    try:
        walks = load(_EVENTS)
        if walks is not None:  # the compiled walk: the same key and SNI, or None where _walk raises
            walked = walks.hello_walk(body)
            if walked is None:
                raise _Unusual
            key, sni = walked
        else:
            key, sni = _walk(body)
        return _keyed_shape(key), sni
    except (_Unusual, IndexError, struct.error):
        return _reference_shape(body)


def _walk(body: bytes) -> tuple[tuple, str | None]:
    """The shape key (version, cipher bytes, extension types, shape extensions' bytes) and the SNI."""
    n = len(body)
    if n < 39 or body[0] != 3 or body[34] > 32:  # TLS (not DTLS) version, session ID <= 32 bytes
        raise _Unusual
    pos = 37 + body[34]
    ciphers_end = pos + ((body[pos - 2] << 8) | body[pos - 1])
    compression = body[ciphers_end]
    pos = ciphers_end + 3 + compression  # after the extensions block length
    end = pos + ((body[pos - 2] << 8) | body[pos - 1])
    if not compression or end > n:
        raise _Unusual  # also the legal SSL 3.0 hello without extensions: rare, the reference reads it
    types: list[int] = []
    raws: list[bytes] = []
    sni_at = -1
    type_len, add_type, add_raw, shaping = _TYPE_LEN, types.append, raws.append, _SHAPE_EXTENSIONS
    while pos < end:
        ext_type, ext_len = type_len(body, pos)
        pos += 4 + ext_len
        add_type(ext_type)
        if ext_type in shaping:
            add_raw(body[pos - ext_len : pos])
        elif not ext_type and ext_len:  # server_name
            if sni_at >= 0:
                raise _Unusual
            sni_at = pos - ext_len
    if pos != end:
        raise _Unusual
    sni = None
    if sni_at >= 0:  # a server_name_list whose first entry is a host_name, the only type in use
        list_end = sni_at + 2 + ((body[sni_at] << 8) | body[sni_at + 1])
        name_end = sni_at + 5 + ((body[sni_at + 3] << 8) | body[sni_at + 4])
        ext_end = sni_at + ((body[sni_at - 2] << 8) | body[sni_at - 1])
        if body[sni_at + 2] != 0 or list_end > ext_end or name_end > list_end:
            raise _Unusual
        sni = safe_text(body[sni_at + 5 : name_end], limit=255)
    return ((3 << 8) | body[1], body[37 + body[34] : ciphers_end], tuple(types), tuple(raws)), sni


def _keyed_shape(key: tuple) -> HelloShape:
    shape = _SHAPES.get(key)
    if shape is None:
        shape = _shape(*key)
        if len(key[1]) + sum(map(len, key[3])) <= SHAPE_MAX_BYTES:
            if len(_SHAPES) >= SHAPE_ENTRIES:
                _SHAPES.clear()  # a flood of unique hellos: start over rather than grow
            _SHAPES[key] = shape
    return shape


def _reference_shape(body: bytes) -> tuple[HelloShape, str | None]:
    hello = tls_mod.parse_client_hello(body)
    return HelloShape.of(hello), hello.sni


def shape_for_key(body: bytes, key: tuple) -> HelloShape | tuple[HelloShape, str | None]:
    """For the compiled walk, which found `key` in `body`: the key's shape, or (shape, SNI) from the
    reference parser when the shape extensions are unusual (then the result belongs to the body, not
    the key). Raises DecodeError as `hello_shape` does."""
    try:
        return _keyed_shape(key)
    except _Unusual:
        return _reference_shape(body)


def extract_client_hello(stream: bytes) -> ClientHello | None:
    """`tls.extract_client_hello` with the fast hello parser."""
    if tls_mod.is_sslv2_hello(stream):  # rare and tiny: the reference parser decides it
        return tls_mod.sslv2_client_hello(stream)
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


MEMO_MAX_PAYLOAD = 512  # longer messages are parsed each time: bounds the memo memory (~10 MB at most)
MEMO_ENTRIES = 1 << 14


class DnsMemo:
    """`dns.parse_dns` once per distinct message (bytes after the transaction ID), bounded in size.

    Returns a DnsParsed, or the DecodeError reason as a string. Answers are shared between events of
    equal messages; they are never modified after parsing.
    """

    __slots__ = ("_seen", "hits", "misses", "_parse")

    def __init__(self, native: bool = False) -> None:
        self._seen: dict[bytes, DnsParsed | str] = {}
        self.hits = 0
        self.misses = 0
        self._parse = dns_parsed_native if native and built(_EVENTS) is not None else dns_parsed

    def parse(self, payload: bytes) -> DnsParsed | str:
        if len(payload) > MEMO_MAX_PAYLOAD:
            return self._parse(payload)
        key = payload[2:]
        known = self._seen.get(key)
        if known is not None:
            self.hits += 1
            return known
        self.misses += 1
        if len(self._seen) >= MEMO_ENTRIES:
            self._seen.clear()  # a flood of unique names: start over rather than grow
        parsed = self._seen[key] = self._parse(payload)
        return parsed


def dns_fields(payload: bytes) -> tuple | str:
    """For the compiled DNS walk, on messages it leaves to this parser: `dns_parsed` as plain values,
    (is_response, rcode, query, qtype, ((name, rtype, value, ttl, 16-byte address or b""), ...)), or
    the DecodeError reason."""
    parsed = dns_parsed(payload)
    if isinstance(parsed, str):
        return parsed
    return (
        parsed.is_response,
        parsed.rcode,
        parsed.query,
        parsed.qtype,
        tuple(
            (a.name, a.rtype, a.value, a.ttl, addr16(a.value) if a.rtype in ("A", "AAAA") else b"")
            for a in parsed.answers
        ),
    )


def dns_parsed_native(payload: bytes) -> DnsParsed | str:
    """`dns_parsed` by the compiled walk where it decides the message (the same result, ~10x faster)."""
    walks = built(_EVENTS)
    walked = walks.dns_walk(payload, dns_mod.QTYPES) if walks is not None else None
    if walked is None:
        return dns_parsed(payload)
    if isinstance(walked, str):
        return walked
    is_response, rcode, query, qtype, answers = walked
    return DnsParsed(
        is_response,
        rcode,
        query,
        qtype,
        tuple(DnsAnswer(name, rtype, value, ttl) for name, rtype, value, ttl, _ in answers),
    )


def dns_parsed(payload: bytes) -> DnsParsed | str:
    """`dns.parse_dns` reduced to what an event needs, or the DecodeError reason."""
    try:
        msg = dns_mod.parse_dns(payload)
    except DecodeError as exc:
        return exc.reason
    qname, qtype = msg.questions[0] if msg.questions else ("", "")
    return DnsParsed(msg.is_response, msg.rcode, qname, qtype, tuple(msg.answers))
