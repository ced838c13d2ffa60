"""LINKTYPE_* numbers (tcpdump.org/linktypes.html) that netdetect's link-layer decoding knows.

Keep `SUPPORTED` equal to `netdetect.decode.headers.SUPPORTED_LINKTYPES` (checked by a test).
"""

from __future__ import annotations

NULL = 0  # BSD loopback: 4-byte address family in host byte order
ETHERNET = 1
RAW_OPENBSD = 12  # raw IP on some BSDs
RAW_BSDOS = 14
PPP = 9
PPP_HDLC = 50
RAW = 101
LOOP = 108  # OpenBSD loopback: address family in network byte order
LINUX_SLL = 113
IPV4 = 228
IPV6 = 229
LINUX_SLL2 = 276

NAMES: dict[int, str] = {
    NULL: "NULL",
    ETHERNET: "ETHERNET",
    PPP: "PPP",
    RAW_OPENBSD: "RAW (12)",
    RAW_BSDOS: "RAW (14)",
    PPP_HDLC: "PPP_HDLC",
    RAW: "RAW",
    LOOP: "LOOP",
    LINUX_SLL: "LINUX_SLL",
    IPV4: "IPV4",
    IPV6: "IPV6",
    LINUX_SLL2: "LINUX_SLL2",
}

SUPPORTED: frozenset[int] = frozenset(NAMES)


def describe(linktype: int) -> str:
    """A link type as users see it in tcpdump/tshark output: name and number."""
    name = NAMES.get(linktype)
    return f"{name} ({linktype})" if name else f"link type {linktype}"
