"""How decoders fail safely on hostile bytes.

`DecodeError` carries a short, low-cardinality `reason` ("dns.bad_label", "tls.truncated") that the
pipeline counts into `Summary.decode_errors`. `Cursor` is the bounds-checked reader every decoder uses,
so a length field that lies raises `DecodeError` instead of slicing short or looping. `safe_text`
renders attacker-chosen bytes (SNI, ALPN, HTTP headers) as printable text that cannot inject terminal
escapes or line breaks into logs.
"""

from __future__ import annotations

import string


class DecodeError(Exception):
    """A packet or message that could not be decoded; `reason` is the counter key."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


class Cursor:
    """Sequential big-endian reader over `buf[pos:end]`; reading past `end` raises DecodeError(reason)."""

    __slots__ = ("buf", "pos", "end", "reason")

    def __init__(self, buf: bytes, pos: int = 0, end: int | None = None, reason: str = "truncated") -> None:
        self.buf = buf
        self.pos = pos
        self.end = len(buf) if end is None else min(end, len(buf))
        self.reason = reason

    def left(self) -> int:
        return self.end - self.pos

    def need(self, n: int) -> None:
        if n < 0 or self.pos + n > self.end:
            raise DecodeError(self.reason, f"need {n} bytes at {self.pos}, have {self.end - self.pos}")

    def u8(self) -> int:
        self.need(1)
        self.pos += 1
        return self.buf[self.pos - 1]

    def u16(self) -> int:
        self.need(2)
        p = self.pos
        self.pos = p + 2
        return (self.buf[p] << 8) | self.buf[p + 1]

    def u24(self) -> int:
        self.need(3)
        p = self.pos
        self.pos = p + 3
        return int.from_bytes(self.buf[p : p + 3], "big")

    def u32(self) -> int:
        self.need(4)
        p = self.pos
        self.pos = p + 4
        return int.from_bytes(self.buf[p : p + 4], "big")

    def take(self, n: int) -> bytes:
        self.need(n)
        p = self.pos
        self.pos = p + n
        return bytes(self.buf[p : p + n])

    def sub(self, n: int) -> Cursor:
        """A cursor over the next `n` bytes (a length-prefixed block); this cursor skips past them."""
        self.need(n)
        inner = Cursor(self.buf, self.pos, self.pos + n, self.reason)
        self.pos += n
        return inner

    def varint(self) -> int:
        """QUIC variable-length integer (RFC 9000 section 16)."""
        first = self.u8()
        size = 1 << (first >> 6)
        value = first & 0x3F
        if size > 1:
            rest = self.take(size - 1)
            value = (value << (8 * (size - 1))) | int.from_bytes(rest, "big")
        return value

    def u16_list(self, nbytes: int) -> list[int]:
        """`nbytes` of consecutive u16 values (nbytes must be even)."""
        if nbytes % 2:
            raise DecodeError(self.reason, "odd length for a list of 16-bit values")
        raw = self.take(nbytes)
        return [(raw[i] << 8) | raw[i + 1] for i in range(0, nbytes, 2)]


_PRINTABLE = frozenset((string.ascii_letters + string.digits + string.punctuation + " ").encode())
_PRINTABLE_BYTES = bytes(sorted(_PRINTABLE))


def safe_text(raw: bytes, limit: int = 1024) -> str:
    """Printable ASCII kept, every other byte (controls, DEL, non-ASCII, backslash) as `\\xNN`.

    Zeek-style escaping: output is one line of plain ASCII, reversible, and cut to `limit` bytes of input.
    """
    raw = raw[:limit]
    if not raw.translate(None, _PRINTABLE_BYTES) and b"\\" not in raw:
        return raw.decode("ascii")
    return "".join(chr(b) if b in _PRINTABLE and b != 0x5C else f"\\x{b:02x}" for b in raw)
