"""Writing small captures byte by byte: for tests, generators and exporting packets.

Every variant the readers accept can be produced (byte orders, nanosecond pcap, pcapng sections,
interfaces with their own timestamp resolution, simple and legacy packet blocks), so that tests
can state exact expected values.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass

from netdetect.capture import linktypes
from netdetect.capture.pcapng import EPB, IDB, PB, SHB, SPB


@dataclass(frozen=True, slots=True)
class Record:
    ts_ns: int
    data: bytes
    wirelen: int | None = None  # default: len(data)
    interface: int = 0


def pcap_header(
    *,
    byteorder: str = "<",
    nanos: bool = False,
    snaplen: int = 262144,
    linktype: int = linktypes.ETHERNET,
    version: tuple[int, int] = (2, 4),
) -> bytes:
    magic = 0xA1B23C4D if nanos else 0xA1B2C3D4
    return struct.pack(byteorder + "IHHiIII", magic, *version, 0, 0, snaplen, linktype)


def pcap_record(record: Record, *, byteorder: str = "<", nanos: bool = False) -> bytes:
    seconds, ns = divmod(record.ts_ns, 1_000_000_000)
    fraction = ns if nanos else ns // 1000
    wirelen = len(record.data) if record.wirelen is None else record.wirelen
    return struct.pack(byteorder + "IIII", seconds, fraction, len(record.data), wirelen) + record.data


def pcap_bytes(
    records: Iterable[Record],
    *,
    byteorder: str = "<",
    nanos: bool = False,
    snaplen: int = 262144,
    linktype: int = linktypes.ETHERNET,
) -> bytes:
    head = pcap_header(byteorder=byteorder, nanos=nanos, snaplen=snaplen, linktype=linktype)
    return head + b"".join(pcap_record(r, byteorder=byteorder, nanos=nanos) for r in records)


def _pad(data: bytes) -> bytes:
    return data + b"\x00" * (-len(data) % 4)


def pcapng_block(block_type: int, body: bytes, *, byteorder: str = "<") -> bytes:
    body = _pad(body)
    length = 12 + len(body)
    return struct.pack(byteorder + "II", block_type, length) + body + struct.pack(byteorder + "I", length)


def pcapng_option(code: int, value: bytes, *, byteorder: str = "<") -> bytes:
    return struct.pack(byteorder + "HH", code, len(value)) + _pad(value)


def pcapng_section(*, byteorder: str = "<") -> bytes:
    body = struct.pack(byteorder + "IHHq", 0x1A2B3C4D, 1, 0, -1)
    return pcapng_block(SHB, body, byteorder=byteorder)


def pcapng_interface(
    linktype: int = linktypes.ETHERNET,
    *,
    snaplen: int = 262144,
    tsresol: int | None = None,
    tsoffset: int | None = None,
    name: str | None = None,
    byteorder: str = "<",
) -> bytes:
    opts = b""
    if name is not None:
        opts += pcapng_option(2, name.encode(), byteorder=byteorder)
    if tsresol is not None:
        opts += pcapng_option(9, bytes([tsresol]), byteorder=byteorder)
    if tsoffset is not None:
        opts += pcapng_option(14, struct.pack(byteorder + "q", tsoffset), byteorder=byteorder)
    if opts:
        opts += pcapng_option(0, b"", byteorder=byteorder)
    body = struct.pack(byteorder + "HHI", linktype, 0, snaplen) + opts
    return pcapng_block(IDB, body, byteorder=byteorder)


def ticks(ts_ns: int, tsresol: int = 6) -> int:
    """A timestamp in an interface's units (if_tsresol byte: power of 10, or of 2 with bit 7)."""
    if tsresol & 0x80:
        exponent = tsresol & 0x7F
        seconds, ns = divmod(ts_ns, 1_000_000_000)
        return (seconds << exponent) + (ns << exponent) // 1_000_000_000
    exponent = tsresol
    return ts_ns * 10 ** (exponent - 9) if exponent >= 9 else ts_ns // 10 ** (9 - exponent)


def pcapng_packet(record: Record, *, tsresol: int = 6, byteorder: str = "<") -> bytes:
    """An Enhanced Packet Block."""
    count = ticks(record.ts_ns, tsresol)
    wirelen = len(record.data) if record.wirelen is None else record.wirelen
    head = struct.pack(
        byteorder + "IIIII", record.interface, count >> 32, count & 0xFFFFFFFF, len(record.data), wirelen
    )
    return pcapng_block(EPB, head + record.data, byteorder=byteorder)


def pcapng_simple_packet(data: bytes, wirelen: int | None = None, *, byteorder: str = "<") -> bytes:
    wirelen = len(data) if wirelen is None else wirelen
    return pcapng_block(SPB, struct.pack(byteorder + "I", wirelen) + data, byteorder=byteorder)


def pcapng_legacy_packet(record: Record, *, tsresol: int = 6, byteorder: str = "<") -> bytes:
    """The obsolete Packet Block (type 2)."""
    count = ticks(record.ts_ns, tsresol)
    wirelen = len(record.data) if record.wirelen is None else record.wirelen
    head = struct.pack(
        byteorder + "HHIIII", record.interface, 0, count >> 32, count & 0xFFFFFFFF, len(record.data), wirelen
    )
    return pcapng_block(PB, head + record.data, byteorder=byteorder)
