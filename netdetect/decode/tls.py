"""TLS ClientHello (RFC 8446 4.1.2) from the client->server bytes of a TCP stream, or from QUIC CRYPTO data.

The ClientHello may span several TLS records and TCP segments (post-quantum key shares make Chrome's
~1.8 kB hello span two); `extract_client_hello` returns None until the whole handshake message is there.
It also reads the SSLv2-format CLIENT-HELLO old clients send (`sslv2_client_hello`).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from netdetect.decode import fingerprint
from netdetect.decode.errors import Cursor, DecodeError, safe_text

CONTENT_CHANGE_CIPHER_SPEC = 20
CONTENT_HANDSHAKE = 22
HANDSHAKE_CLIENT_HELLO = 1
MAX_RECORD_LEN = (1 << 14) + 2048  # RFC 8446 5.2 ciphertext bound; plaintext hellos stay well under
MAX_HELLO_LEN = 1 << 16  # bigger than any real ClientHello (ML-KEM shares + padding are ~2-4 kB)

EXT_SERVER_NAME = 0x0000
EXT_SUPPORTED_GROUPS = 0x000A
EXT_EC_POINT_FORMATS = 0x000B
EXT_SIGNATURE_ALGORITHMS = 0x000D
EXT_ALPN = 0x0010
EXT_SUPPORTED_VERSIONS = 0x002B
EXT_QUIC_TRANSPORT_PARAMETERS = 0x0039
EXT_QUIC_TRANSPORT_PARAMETERS_DRAFT = 0xFFA5
EXT_ECH = 0xFE0D


@dataclass(slots=True)
class ClientHello:
    legacy_version: int
    ciphers: list[int]  # wire order, GREASE included (fingerprints drop it)
    extensions: list[int]  # wire order, GREASE included
    sni: str | None  # host_name as sent, non-printable bytes escaped as \xNN
    alpn: list[str]  # protocol names, escaped like sni
    versions: list[int]  # supported_versions, GREASE removed
    groups: list[int]  # supported_groups, wire order, GREASE included
    ec_point_formats: list[int]
    sig_algs: list[int]  # signature_algorithms, wire order
    ech: bool  # encrypted_client_hello (0xfe0d) offered: the SNI above is the outer, public name
    ja3: str = ""
    ja3_hash: str = ""
    ja4: str = ""  # for TLS over TCP ("t"); use ja4_for("q") for QUIC
    alpn_raw: list[bytes] = field(default_factory=list, repr=False)
    has_supported_versions: bool = False
    quic_transport_parameters: bool = False  # the hello belongs to QUIC
    sslv2_format: bool = False  # an SSLv2-format CLIENT-HELLO: ciphers are 24-bit cipher specs, no JA4

    def ja4_for(self, transport: str = "t") -> str:
        return fingerprint.ja4(transport, *self._ja4_args())

    def ja4_raw(self, transport: str = "t") -> str:
        return fingerprint.ja4_raw(transport, *self._ja4_args())

    def _ja4_args(self) -> tuple[int, list[int] | None, bool, list[int], list[int], bytes | None, list[int]]:
        return (
            self.legacy_version,
            self.versions if self.has_supported_versions else None,
            EXT_SERVER_NAME in self.extensions,
            self.ciphers,
            self.extensions,
            self.alpn_raw[0] if self.alpn_raw else None,
            self.sig_algs,
        )


def looks_like_tls(prefix: bytes) -> bool:
    """Cheap test on the first bytes of a stream: a handshake record (3.0-1.3) that starts a ClientHello."""
    return (
        len(prefix) >= 6
        and prefix[0] == CONTENT_HANDSHAKE
        and prefix[1] == 3
        and prefix[2] <= 4
        and prefix[5] == HANDSHAKE_CLIENT_HELLO
    )


def _server_name(ext: Cursor) -> str | None:
    names = ext.sub(ext.u16())
    while names.left():
        name_type = names.u8()
        name = names.take(names.u16())
        if name_type == 0:
            return safe_text(name, limit=255)
    return None


def _parse_extensions(hello: ClientHello, cur: Cursor) -> None:
    while cur.left():
        ext_type = cur.u16()
        ext = cur.sub(cur.u16())
        hello.extensions.append(ext_type)
        if ext_type == EXT_SERVER_NAME:
            if ext.left():  # an empty server_name is legal in a ServerHello, tolerated here
                hello.sni = _server_name(ext)
        elif ext_type == EXT_ALPN:
            protocols = ext.sub(ext.u16())
            while protocols.left():
                raw = protocols.take(protocols.u8())
                hello.alpn_raw.append(raw)
                hello.alpn.append(safe_text(raw, limit=255))
        elif ext_type == EXT_SUPPORTED_VERSIONS:
            hello.has_supported_versions = True
            hello.versions = fingerprint.without_grease(ext.u16_list(ext.u8()))
        elif ext_type == EXT_SUPPORTED_GROUPS:
            hello.groups = ext.u16_list(ext.u16())
        elif ext_type == EXT_EC_POINT_FORMATS:
            hello.ec_point_formats = list(ext.take(ext.u8()))
        elif ext_type == EXT_SIGNATURE_ALGORITHMS:
            hello.sig_algs = ext.u16_list(ext.u16())
        elif ext_type == EXT_ECH:
            hello.ech = True
        elif ext_type in (EXT_QUIC_TRANSPORT_PARAMETERS, EXT_QUIC_TRANSPORT_PARAMETERS_DRAFT):
            hello.quic_transport_parameters = True


def parse_client_hello(handshake_body: bytes) -> ClientHello:
    """Decode a ClientHello handshake body (after the 4-byte handshake header). Raises DecodeError."""
    cur = Cursor(handshake_body, reason="tls.truncated")
    legacy_version = cur.u16()
    if legacy_version >> 8 not in (0x03, 0xFE):  # TLS/SSL 3.x or DTLS
        raise DecodeError("tls.bad_version", f"0x{legacy_version:04x}")
    cur.take(32)  # random
    session_id_len = cur.u8()
    if session_id_len > 32:
        raise DecodeError("tls.bad_session_id")
    cur.take(session_id_len)
    if legacy_version >> 8 == 0xFE:
        cur.take(cur.u8())  # DTLS cookie
    hello = ClientHello(
        legacy_version=legacy_version,
        ciphers=cur.u16_list(cur.u16()),
        extensions=[],
        sni=None,
        alpn=[],
        versions=[],
        groups=[],
        ec_point_formats=[],
        sig_algs=[],
        ech=False,
    )
    compression_len = cur.u8()
    if compression_len == 0:
        raise DecodeError("tls.bad_compression", "no compression methods")
    cur.take(compression_len)
    if cur.left():  # SSL 3.0 hellos may end here, without an extensions block
        try:
            _parse_extensions(hello, cur.sub(cur.u16()))
        except DecodeError as exc:
            raise DecodeError("tls.bad_extension", exc.detail) from None
    hello.ja3 = fingerprint.ja3_string(
        legacy_version, hello.ciphers, hello.extensions, hello.groups, hello.ec_point_formats
    )
    hello.ja3_hash = fingerprint.ja3_hash(hello.ja3)
    hello.ja4 = hello.ja4_for("t")
    return hello


def client_hello_message(handshake: bytes | bytearray) -> bytes | None:
    """The ClientHello body once `handshake` (handshake-layer bytes from the start) holds all of it."""
    if len(handshake) < 4:
        return None
    if handshake[0] != HANDSHAKE_CLIENT_HELLO:
        raise DecodeError("tls.not_client_hello", f"handshake type {handshake[0]}")
    length = int.from_bytes(handshake[1:4], "big")
    if length > MAX_HELLO_LEN:
        raise DecodeError("tls.too_long", f"{length} bytes")
    if len(handshake) < 4 + length:
        return None
    return bytes(handshake[4 : 4 + length])


def extract_client_hello(stream: bytes) -> ClientHello | None:
    """The ClientHello at the start of client->server TCP bytes, or None while more bytes are needed.

    Raises DecodeError when the bytes are not a TLS handshake or the hello is malformed. This is the
    reference parser; the pipeline uses `netdetect.decode.fastpath`, which gives the same results.
    An SSLv2-format CLIENT-HELLO is decoded too (`sslv2_client_hello`).
    """
    if is_sslv2_hello(stream):
        return sslv2_client_hello(stream)
    body = client_hello_body(stream)
    return None if body is None else parse_client_hello(body)


# SSLv2-format CLIENT-HELLO (SSL 2.0 draft, section C.2; RFC 5246 appendix E.2 for TLS clients that send it):
# a 2-byte record header (top bit set, 15-bit length), then message type 1, version, cipher-spec,
# session-id and challenge lengths, and those fields. Cipher specs are 3 bytes; TLS suites are 00 xx yy.
SSLV2_HEADER = struct.Struct("!HBHHHH")  # record header, type, version, cipher specs, session id, challenge
SSLV2_VERSIONS = frozenset({0x0002, 0x0300, 0x0301, 0x0302, 0x0303, 0x0304})


def is_sslv2_hello(stream: bytes) -> bool:
    """The bytes start with an SSLv2 record header (2-byte form) holding a CLIENT-HELLO message (or may,
    when fewer than 3 bytes are there)."""
    return bool(stream) and stream[0] & 0x80 != 0 and (len(stream) < 3 or stream[2] == HANDSHAKE_CLIENT_HELLO)


def sslv2_client_hello(stream: bytes) -> ClientHello | None:
    """The SSLv2-format CLIENT-HELLO at the start of `stream`, or None while more bytes are needed.

    It has no extensions, so no SNI, ALPN or supported_versions: `versions` holds the one version it
    offers. JA3 follows Salesforce's Zeek script, which reads SSLv2 hellos with the cipher specs as 24-bit
    numbers (the Python script skips them); JA4's spec and reference tools only read TLS-format hellos,
    so `ja4` stays empty. Raises DecodeError for lengths that do not add up.
    """
    if len(stream) < SSLV2_HEADER.size:
        return None
    header, _, version, specs_len, session_len, challenge_len = SSLV2_HEADER.unpack_from(stream)
    record_len = header & 0x7FFF
    if version not in SSLV2_VERSIONS:
        raise DecodeError("tls.bad_version", f"SSLv2 hello version 0x{version:04x}")
    if session_len > 32:
        raise DecodeError("tls.bad_session_id", f"SSLv2 session id of {session_len} bytes")
    if not specs_len or specs_len % 3 or not 16 <= challenge_len <= 32:
        raise DecodeError("tls.bad_sslv2_hello", f"cipher specs {specs_len} bytes, challenge {challenge_len}")
    if 9 + specs_len + session_len + challenge_len > record_len:
        raise DecodeError("tls.truncated", f"SSLv2 hello fields exceed its record of {record_len} bytes")
    if len(stream) < 2 + record_len:
        return None
    raw = stream[11 : 11 + specs_len]
    ciphers = [(raw[i] << 16) | (raw[i + 1] << 8) | raw[i + 2] for i in range(0, specs_len, 3)]
    ja3 = fingerprint.ja3_string(version, ciphers, (), (), ())
    return ClientHello(
        legacy_version=version,
        ciphers=ciphers,
        extensions=[],
        sni=None,
        alpn=[],
        versions=[version],
        groups=[],
        ec_point_formats=[],
        sig_algs=[],
        ech=False,
        ja3=ja3,
        ja3_hash=fingerprint.ja3_hash(ja3),
        sslv2_format=True,
    )


def client_hello_body(stream: bytes) -> bytes | None:
    """The ClientHello handshake body (after its 4-byte header) once the TLS records at the start of
    `stream` hold all of it; None while more bytes are needed. Raises DecodeError for non-TLS bytes."""
    handshake = bytearray()
    pos = 0
    n = len(stream)
    while pos + 5 <= n:
        content_type = stream[pos]
        if content_type == CONTENT_CHANGE_CIPHER_SPEC and not handshake:
            # middlebox-compatibility CCS before a second ClientHello (after HelloRetryRequest): skip it
            pos += 5 + ((stream[pos + 3] << 8) | stream[pos + 4])
            continue
        if content_type != CONTENT_HANDSHAKE:
            if pos == 0 and content_type & 0x80 and n >= 3 and stream[2] == HANDSHAKE_CLIENT_HELLO:
                raise DecodeError("tls.sslv2_hello", "SSLv2-format ClientHello carries no extensions")
            reason = "tls.not_tls" if pos == 0 else "tls.interrupted"
            raise DecodeError(reason, f"record type {content_type} at {pos}")
        if stream[pos + 1] != 3 or stream[pos + 2] > 4:
            raise DecodeError("tls.not_tls", f"record version {stream[pos + 1]}.{stream[pos + 2]}")
        length = (stream[pos + 3] << 8) | stream[pos + 4]
        if length == 0 or length > MAX_RECORD_LEN:
            raise DecodeError("tls.bad_record_length", str(length))
        body = stream[pos + 5 : pos + 5 + length]
        if not handshake and len(body) >= 4 and 4 + int.from_bytes(body[1:4], "big") <= len(body):
            return client_hello_message(body)  # the usual case: the whole hello in the first record
        handshake += body
        body_msg = client_hello_message(handshake)
        if body_msg is not None:
            return body_msg
        if len(body) < length:
            return None
        pos += 5 + length
    if n and stream[0] not in (CONTENT_HANDSHAKE, CONTENT_CHANGE_CIPHER_SPEC):
        raise DecodeError("tls.not_tls", f"record type {stream[0]}")
    return None
