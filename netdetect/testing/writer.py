"""The one pcap/pcapng writer: byte-level blocks for tests, and streaming writers for generators.

Every variant the readers accept can be produced (byte orders, nanosecond pcap, pcapng sections,
interfaces with their own timestamp resolution, simple and legacy packet blocks), so that tests
can state exact expected values. `PcapWriter` and `PcapngWriter` stream the same bytes to a file
for `netdetect.testing.synth.TrafficWriter`. Link types come from `netdetect.capture.linktypes`.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass
from typing import BinaryIO, Literal

from netdetect.capture import linktypes
from netdetect.capture.pcapng import EPB, IDB, PB, SHB, SPB

PCAP_MAGIC_US = 0xA1B2C3D4
PCAP_MAGIC_NS = 0xA1B23C4D
PCAPNG_BYTE_ORDER_MAGIC = 0x1A2B3C4D

ByteOrder = Literal["little", "big"]


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
    magic = PCAP_MAGIC_NS if nanos else PCAP_MAGIC_US
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


def pcapng_section(*, application: str | None = None, byteorder: str = "<") -> bytes:
    body = struct.pack(byteorder + "IHHq", PCAPNG_BYTE_ORDER_MAGIC, 1, 0, -1)
    if application is not None:  # shb_userappl, then opt_endofopt
        body += pcapng_option(4, application.encode(), byteorder=byteorder)
        body += pcapng_option(0, b"", byteorder=byteorder)
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


def _struct_order(byteorder: ByteOrder) -> str:
    return "<" if byteorder == "little" else ">"


class PcapWriter:
    """Classic pcap to a stream: µs (magic a1b2c3d4) or ns (a1b23c4d) timestamps, either byte order."""

    def __init__(
        self,
        stream: BinaryIO,
        *,
        linktype: int = linktypes.ETHERNET,
        snaplen: int = 262144,
        nanoseconds: bool = False,
        byteorder: ByteOrder = "little",
    ) -> None:
        self.stream = stream
        self.nanoseconds = nanoseconds
        self._order = _struct_order(byteorder)
        head = pcap_header(byteorder=self._order, nanos=nanoseconds, snaplen=snaplen, linktype=linktype)
        stream.write(head)
        self.bytes_written = len(head)

    def write(self, ts_ns: int, data: bytes, wirelen: int | None = None) -> int:
        record = pcap_record(Record(ts_ns, data, wirelen), byteorder=self._order, nanos=self.nanoseconds)
        self.stream.write(record)
        self.bytes_written += len(record)
        return len(record)


class PcapngWriter:
    """pcapng to a stream: section header, interface descriptions (with `if_tsresol`) and enhanced packet
    blocks. `tsresol` is the raw option byte: 6 = µs (the pcapng default), 9 = ns, 0x80|n = 2^-n seconds.
    """

    def __init__(self, stream: BinaryIO, *, byteorder: ByteOrder = "little") -> None:
        self.stream = stream
        self._order = _struct_order(byteorder)
        self._interfaces: list[int] = []  # tsresol per interface id
        self.bytes_written = 0
        self.new_section()

    def _put(self, block: bytes) -> int:
        self.stream.write(block)
        self.bytes_written += len(block)
        return len(block)

    def new_section(self, *, application: str = "netdetect.testing") -> None:
        self._put(pcapng_section(application=application, byteorder=self._order))
        self._interfaces = []

    def add_interface(
        self,
        linktype: int = linktypes.ETHERNET,
        *,
        snaplen: int = 262144,
        tsresol: int = 6,
        name: str | None = None,
    ) -> int:
        # 6 is the format's default resolution: leave the option out, as capture tools do.
        resol_option = None if tsresol == 6 else tsresol
        order = self._order
        block = pcapng_interface(linktype, snaplen=snaplen, tsresol=resol_option, name=name, byteorder=order)
        self._put(block)
        self._interfaces.append(tsresol)
        return len(self._interfaces) - 1

    def write_block(self, block_type: int, body: bytes) -> int:
        """Any block (e.g. an unknown type that readers must skip)."""
        return self._put(pcapng_block(block_type, body, byteorder=self._order))

    def write(self, ts_ns: int, data: bytes, wirelen: int | None = None, interface: int = 0) -> int:
        record = Record(ts_ns, data, wirelen, interface)
        return self._put(pcapng_packet(record, tsresol=self._interfaces[interface], byteorder=self._order))
