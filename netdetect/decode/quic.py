"""QUIC client Initial packets: header protection removed, payload decrypted, frames read.

Initial keys derive from the client's Destination Connection ID and a per-version public salt
(RFC 9001 5.2, RFC 9369 3.3), so a passive observer can read the ClientHello carried in CRYPTO frames.
Supported: v1, v2 and the IETF drafts 23-34 that older captures hold. A client's ClientHello can span
several CRYPTO frames and packets, out of order; `QuicCryptoAssembler` puts it back together.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING

from netdetect.decode.errors import Cursor, DecodeError, safe_text
from netdetect.decode.fastpath import parse_client_hello
from netdetect.decode.tls import ClientHello, client_hello_message

if TYPE_CHECKING:  # cryptography is imported by the functions that use it: most captures hold no QUIC
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

VERSION_1 = 0x00000001
VERSION_2 = 0x6B3343CF

SALT_V1 = bytes.fromhex("38762cf7f55934b34d179ae6a4c80cadccbb7f0a")
SALT_V2 = bytes.fromhex("0dede3def700a6db819381be6e269dcbf9bd2ed9")
SALT_DRAFT_29 = bytes.fromhex("afbfec289993d24c9e9786f19c6111e04390a899")  # drafts 29-34
SALT_DRAFT_23 = bytes.fromhex("c3eef712c72ebb5a11a7d2432bb46365bef9f502")  # drafts 23-28


@dataclass(frozen=True, slots=True)
class QuicVersion:
    salt: bytes
    label_prefix: str  # HKDF labels: "quic key" / "quicv2 key"
    initial_type: int  # long-header packet type bits of Initial
    retry_type: int


V1_RULES = QuicVersion(SALT_V1, "quic", initial_type=0, retry_type=3)
VERSIONS: dict[int, QuicVersion] = {
    VERSION_1: V1_RULES,
    VERSION_2: QuicVersion(SALT_V2, "quicv2", initial_type=1, retry_type=0),
    **{0xFF000000 + d: QuicVersion(SALT_DRAFT_29, "quic", 0, 3) for d in range(29, 35)},
    **{0xFF000000 + d: QuicVersion(SALT_DRAFT_23, "quic", 0, 3) for d in range(23, 29)},
    0xFACEB002: QuicVersion(SALT_DRAFT_23, "quic", 0, 3),  # Facebook mvfst, draft-27 keys (Wireshark agrees)
}

MAX_CID_LEN = 20
MAX_CRYPTO_BYTES = 1 << 16  # a ClientHello is a few kB; stop buffering a peer that sends more
FRAME_NAMES = {0x00: "PADDING", 0x01: "PING", 0x02: "ACK", 0x03: "ACK", 0x06: "CRYPTO",
               0x1C: "CONNECTION_CLOSE", 0x1D: "CONNECTION_CLOSE"}  # fmt: skip


@dataclass(slots=True)
class QuicInitial:
    version: int
    dcid: bytes
    scid: bytes
    packet_number: int
    token_len: int
    crypto: list[tuple[int, bytes]] = field(default_factory=list)  # (offset, data) of each CRYPTO frame
    frames: list[str] = field(default_factory=list)  # frame type names in order, PADDING runs once
    close_reason: str | None = None  # CONNECTION_CLOSE reason phrase, escaped
    key_dcid: bytes = b""  # the DCID whose Initial keys opened the packet (the client's first DCID)


def _hkdf_expand_label(secret: bytes, label: str, length: int) -> bytes:
    """TLS 1.3 HKDF-Expand-Label with SHA-256 and an empty context (RFC 8446 7.1)."""
    full = b"tls13 " + label.encode()
    info = length.to_bytes(2, "big") + bytes([len(full)]) + full + b"\x00"
    out = b""
    block = b""
    counter = 1
    while len(out) < length:
        block = hmac.new(secret, block + info + bytes([counter]), hashlib.sha256).digest()
        out += block
        counter += 1
    return out[:length]


@dataclass(frozen=True, slots=True)
class InitialKeys:
    aead: AESGCM
    iv: bytes
    hp: bytes


@lru_cache(maxsize=4096)
def client_initial_keys(version: int, dcid: bytes) -> InitialKeys:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    rules = VERSIONS[version]
    initial_secret = hmac.new(rules.salt, dcid, hashlib.sha256).digest()  # HKDF-Extract
    secret = _hkdf_expand_label(initial_secret, "client in", 32)
    key = _hkdf_expand_label(secret, f"{rules.label_prefix} key", 16)
    iv = _hkdf_expand_label(secret, f"{rules.label_prefix} iv", 12)
    hp = _hkdf_expand_label(secret, f"{rules.label_prefix} hp", 16)
    return InitialKeys(AESGCM(key), iv, hp)


def _header_mask(hp_key: bytes, sample: bytes) -> bytes:
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    encryptor = Cipher(algorithms.AES(hp_key), modes.ECB()).encryptor()  # noqa: S305 - RFC 9001 5.4.3
    return encryptor.update(sample) + encryptor.finalize()


def looks_like_quic_initial(payload: bytes) -> bool:
    """Long header, a version we can decrypt, Initial type bits, sane connection ID length."""
    if len(payload) < 7 or payload[0] & 0xC0 != 0xC0:
        return False
    rules = VERSIONS.get(int.from_bytes(payload[1:5], "big"))
    return rules is not None and (payload[0] >> 4) & 3 == rules.initial_type and payload[5] <= MAX_CID_LEN


def _read_frames(initial: QuicInitial, plain: bytes) -> None:
    cur = Cursor(plain, reason="quic.bad_frame")
    n = len(plain)
    while cur.pos < n:
        frame_type = cur.varint()
        if frame_type == 0x00:
            while cur.pos < n and plain[cur.pos] == 0:  # a run of padding is one entry
                cur.pos += 1
        elif frame_type == 0x01:
            pass
        elif frame_type in (0x02, 0x03):
            cur.varint()  # largest acknowledged
            cur.varint()  # ack delay
            ranges = cur.varint()
            cur.varint()  # first range
            for _ in range(ranges):  # each range consumes >= 2 bytes, so a huge count runs out of bytes
                cur.varint()
                cur.varint()
            if frame_type == 0x03:
                for _ in range(3):  # ECN counts
                    cur.varint()
        elif frame_type == 0x06:
            offset = cur.varint()
            data = cur.take(cur.varint())
            initial.crypto.append((offset, data))
        elif frame_type in (0x1C, 0x1D):
            cur.varint()  # error code
            if frame_type == 0x1C:
                cur.varint()  # offending frame type
            initial.close_reason = safe_text(cur.take(cur.varint()), limit=256)
        else:
            raise DecodeError("quic.bad_frame", f"frame type 0x{frame_type:x} in an Initial")
        name = FRAME_NAMES[frame_type]
        if not (name == "PADDING" and initial.frames and initial.frames[-1] == "PADDING"):
            initial.frames.append(name)


def _decrypt_initial(datagram: bytes, start: int, version: int, dcid: bytes, scid: bytes,
                     token_len: int, pn_offset: int, end: int, key_dcid: bytes) -> QuicInitial:  # fmt: skip
    """Remove header protection and decrypt the Initial at datagram[start:end] (RFC 9001 5.3-5.4)."""
    from cryptography.exceptions import InvalidTag

    keys = client_initial_keys(version, bytes(key_dcid))
    sample_at = pn_offset + 4
    if sample_at + 16 > end:
        raise DecodeError("quic.truncated", "no room for the header-protection sample")
    mask = _header_mask(keys.hp, bytes(datagram[sample_at : sample_at + 16]))
    first = datagram[start] ^ (mask[0] & 0x0F)
    pn_len = (first & 0x03) + 1
    pn_bytes = bytes(
        a ^ b for a, b in zip(datagram[pn_offset : pn_offset + pn_len], mask[1 : 1 + pn_len], strict=True)
    )
    packet_number = int.from_bytes(pn_bytes, "big")
    header = bytes([first]) + bytes(datagram[start + 1 : pn_offset]) + pn_bytes
    nonce = (int.from_bytes(keys.iv, "big") ^ packet_number).to_bytes(12, "big")
    try:
        plain = keys.aead.decrypt(nonce, bytes(datagram[pn_offset + pn_len : end]), header)
    except InvalidTag:
        raise DecodeError("quic.decrypt_failed", "not a client Initial, or altered") from None
    initial = QuicInitial(
        version, bytes(dcid), bytes(scid), packet_number, token_len, key_dcid=bytes(key_dcid)
    )
    _read_frames(initial, plain)
    return initial


def parse_quic_initial(datagram: bytes, original_dcid: bytes | None = None) -> list[QuicInitial]:
    """Decrypt the client Initial packets coalesced in one UDP datagram (others are skipped).

    Initial keys come from the DCID of the client's *first* Initial; once the server answers, the client
    addresses later Initials to the server's chosen CID but keeps those keys. Pass that first DCID as
    `original_dcid` (`QuicCryptoAssembler.feed` does) to open such packets; the packet's own DCID is tried
    first. Raises DecodeError when the datagram is not QUIC long-header traffic we can read, or when no
    Initial in it decrypts with client keys (a server's Initial, a Retry, or a damaged packet).
    """
    initials: list[QuicInitial] = []
    first_error: DecodeError | None = None
    pos = 0
    n = len(datagram)
    while pos < n:
        if datagram[pos] & 0x80 == 0:
            break  # short header (1-RTT) or trailing zero padding: nothing more to read
        cur = Cursor(datagram, pos, reason="quic.truncated")
        first = cur.u8()
        version = cur.u32()
        if version == 0:
            raise DecodeError("quic.version_negotiation")
        rules = VERSIONS.get(version)
        if rules is None:
            if initials:
                break
            raise DecodeError("quic.unknown_version", f"0x{version:08x}")
        dcid_len = cur.u8()
        if dcid_len > MAX_CID_LEN:
            raise DecodeError("quic.bad_cid", f"dcid length {dcid_len}")
        dcid = cur.take(dcid_len)
        scid_len = cur.u8()
        if scid_len > MAX_CID_LEN:
            raise DecodeError("quic.bad_cid", f"scid length {scid_len}")
        scid = cur.take(scid_len)
        packet_type = (first >> 4) & 3
        if packet_type == rules.retry_type:
            break  # Retry has no length field and carries no CRYPTO data
        token_len = 0
        if packet_type == rules.initial_type:
            token_len = cur.varint()
            cur.take(token_len)
        length = cur.varint()
        end = cur.pos + length
        if end > n:
            raise DecodeError("quic.truncated", f"packet length {length} past the datagram")
        if packet_type == rules.initial_type:
            for key_dcid in (dcid, original_dcid) if original_dcid and original_dcid != dcid else (dcid,):
                try:
                    initials.append(
                        _decrypt_initial(
                            datagram, pos, version, dcid, scid, token_len, cur.pos, end, key_dcid
                        )
                    )
                    break
                except DecodeError as exc:
                    first_error = first_error or exc
        pos = end
    if not initials:
        raise first_error or DecodeError("quic.no_initial")
    return initials


class QuicCryptoAssembler:
    """Reassembles the client's Initial CRYPTO stream of one connection into its ClientHello.

    Chrome scatters the hello over CRYPTO frames out of order and over two packets; frames may repeat
    (retransmission). Buffered bytes are capped at MAX_CRYPTO_BYTES.
    """

    __slots__ = ("_chunks", "_buffered", "_hello", "versions", "original_dcid")

    def __init__(self) -> None:
        self._chunks: dict[int, bytes] = {}
        self._buffered = 0
        self._hello: ClientHello | None = None
        self.versions: set[int] = set()
        self.original_dcid: bytes | None = None  # keys of this connection's Initials

    def feed(self, datagram: bytes) -> ClientHello | None:
        """Decrypt one client->server datagram of this connection, add its CRYPTO data, return the hello
        once complete. Remembers the first DCID so Initials sent to the server's CID still decrypt."""
        for initial in parse_quic_initial(datagram, self.original_dcid):
            self.add(initial)
        return self.client_hello()

    def add(self, initial: QuicInitial) -> None:
        if self.original_dcid is None:
            self.original_dcid = initial.key_dcid or initial.dcid
        self.versions.add(initial.version)
        for offset, data in initial.crypto:
            if offset >= MAX_CRYPTO_BYTES or not data:
                continue
            old = self._chunks.get(offset)
            if old is not None and len(old) >= len(data):
                continue
            self._buffered += len(data) - (len(old) if old else 0)
            if self._buffered > MAX_CRYPTO_BYTES:
                raise DecodeError("quic.crypto_too_long")
            self._chunks[offset] = data

    def contiguous(self) -> bytes:
        """The CRYPTO stream bytes from offset 0 up to the first gap."""
        out = bytearray()
        for offset in sorted(self._chunks):
            if offset > len(out):
                break
            data = self._chunks[offset]
            if offset + len(data) > len(out):
                out += data[len(out) - offset :]
        return bytes(out)

    def client_hello(self) -> ClientHello | None:
        """The ClientHello once its bytes are all there; None while some are missing. Raises DecodeError."""
        if self._hello is None:
            body = client_hello_message(self.contiguous())
            if body is not None:
                self._hello = parse_client_hello(body)
        return self._hello
