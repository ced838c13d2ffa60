"""Address conversions between 16-byte table values and text."""

from __future__ import annotations

import ipaddress
from functools import lru_cache

import numpy as np

V4_PREFIX = b"\x00" * 10 + b"\xff\xff"


@lru_cache(maxsize=1 << 16)
def to_text(raw: bytes) -> str:
    """16-byte (v4-mapped for IPv4) address to text. numpy 'S16' strips trailing NULs: pad back."""
    raw = raw.ljust(16, b"\x00")
    if raw[:12] == V4_PREFIX:
        return ".".join(str(b) for b in raw[12:])
    return str(ipaddress.IPv6Address(raw))


def from_text(text: str) -> bytes:
    ip = ipaddress.ip_address(text)
    if ip.version == 4:
        return V4_PREFIX + ip.packed
    return ip.packed


def column_to_text(col: np.ndarray) -> list[str]:
    return [to_text(bytes(v)) for v in col]
