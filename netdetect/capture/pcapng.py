"""pcapng files: sections in either byte order, many interfaces, EPB/SPB/PB packets, skipped blocks.

A tight loop hops over runs of Enhanced Packet Blocks (the common case); each run is then decoded
with numpy. Every other block goes through `_block`, one at a time. A block whose length lies ends
its section: the reader looks for the next Section Header Block and goes on from there.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

import numpy as np

from netdetect.capture import linktypes
from netdetect.capture.reader import (
    EMPTY_COLUMNS,
    MAX_CAPLEN,
    NS_PER_S,
    ByteStream,
    CaptureFile,
    ChunkResult,
    Interface,
    PacketColumns,
    gather_u32,
)
from netdetect.errors import CaptureError
from netdetect.native import load

SHB = 0x0A0D0D0A
IDB = 1
PB = 2  # obsolete Packet Block
SPB = 3
EPB = 6
SHB_MAGIC = b"\x0a\x0d\x0d\x0a"
BYTE_ORDERS = {b"\x4d\x3c\x2b\x1a": "<", b"\x1a\x2b\x3c\x4d": ">"}
# Blocks with no packets that are known and deliberately ignored (not counted as skipped).
IGNORED_BLOCKS = frozenset({4, 5, 7, 8, 9, 0x0A, 0x0BAD, 0x40000BAD})  # NRB ISB IRIG AFDX journal DSB custom
MIN_BLOCK = {SHB: 28, IDB: 20, PB: 32, SPB: 16, EPB: 32}
# Blocks that change the reader's state or carry packets: pending EPBs are decoded before them.
STATEFUL_BLOCKS = frozenset({SHB, IDB, PB, SPB, EPB})
MAX_BLOCK = 16 << 20
UNUSABLE_EPB = "enhanced packet blocks with an unknown interface or impossible length (skipped)"
CAPLEN_ABOVE_WIRELEN = "packets with captured length above original length (counted as bad, kept)"
SMALL_RUN = 16  # fewer EPBs than this between other blocks are decoded without numpy
MAX_INTERFACES = 1 << 16  # per section; real files have a handful
MAX_TS_OFFSET_S = 10**10  # ~300 years; more would overflow int64 nanoseconds
NO_TS = np.iinfo(np.int64).min  # a Simple Packet Block has no timestamp: it takes the previous packet's

# A packet from a block other than an EPB: offset, caplen, wirelen, ts_ns, linktype.
Row = tuple[int, int, int, int, int]

OPT_END, OPT_IF_NAME, OPT_IF_TSRESOL, OPT_IF_FCSLEN, OPT_IF_TSOFFSET = 0, 2, 9, 13, 14


@dataclass(slots=True)
class Clock:
    """How one interface's 64-bit tick count becomes nanoseconds."""

    base: int = 10  # 10 or 2
    exponent: int = 6  # ticks are base**-exponent seconds
    offset_ns: int = 0

    @classmethod
    def from_tsresol(cls, value: int, offset_s: int) -> Clock:
        return cls(2 if value & 0x80 else 10, value & 0x7F, offset_s * NS_PER_S)

    @property
    def label(self) -> str:
        return f"1e-{self.exponent}" if self.base == 10 else f"2^-{self.exponent}"

    def ns_of(self, ticks: int) -> int:
        """One timestamp, computed exactly as `to_ns` does for arrays (same float rounding)."""
        if self.base == 10:
            if self.exponent <= 9:
                ns = ticks * 10 ** (9 - self.exponent)
            else:
                ns = ticks // 10 ** (self.exponent - 9)
        else:
            fraction = ticks & ((1 << self.exponent) - 1)
            ns = (ticks >> self.exponent) * NS_PER_S + round(fraction * (NS_PER_S / 2.0**self.exponent))
        ns += self.offset_ns
        return (ns + (1 << 63)) % (1 << 64) - (1 << 63)  # wrap like int64 arrays do (lying timestamps)

    def to_ns(self, ticks: np.ndarray) -> np.ndarray:
        """ticks: uint64 array -> int64 nanoseconds."""
        if self.base == 10:
            if self.exponent <= 9:
                ns = ticks.astype(np.int64) * (10 ** (9 - self.exponent))
            else:
                ns = (ticks // np.uint64(10 ** (self.exponent - 9))).astype(np.int64)
        else:
            shift = np.uint64(self.exponent)
            seconds = (ticks >> shift).astype(np.int64)
            fraction = (ticks & np.uint64((1 << self.exponent) - 1)).astype(np.float64)
            ns = seconds * NS_PER_S + np.rint(fraction * (NS_PER_S / 2.0**self.exponent)).astype(np.int64)
        return ns + self.offset_ns if self.offset_ns else ns


class InterfaceTable:
    """One section's interfaces as numpy columns, for lookups by the interface ids of many packets.

    Appends are amortised O(1) and timestamp conversion loops over distinct clock kinds present,
    not over interfaces: a crafted file with thousands of interfaces costs no more per packet.
    """

    def __init__(self) -> None:
        self.clocks: list[Clock] = []
        self.snaplens: list[int] = []
        self.linktypes: list[int] = []
        self._linktype = np.zeros(4, dtype=np.uint16)
        self._kind = np.zeros(4, dtype=np.int64)  # index into `kinds`
        self._offset_ns = np.zeros(4, dtype=np.int64)
        self._kinds: dict[tuple[int, int], int] = {}
        self._any_offset = False

    def __len__(self) -> int:
        return len(self.clocks)

    def add(self, linktype: int, snaplen: int, clock: Clock) -> None:
        index = len(self.clocks)
        if index == len(self._linktype):
            grow = 2 * index
            self._linktype = np.resize(self._linktype, grow)
            self._kind = np.resize(self._kind, grow)
            self._offset_ns = np.resize(self._offset_ns, grow)
        self.clocks.append(clock)
        self.snaplens.append(snaplen)
        self.linktypes.append(linktype)
        self._linktype[index] = linktype
        self._kind[index] = self._kinds.setdefault((clock.base, clock.exponent), len(self._kinds))
        self._offset_ns[index] = clock.offset_ns
        self._any_offset = self._any_offset or clock.offset_ns != 0

    def linktype(self, iface: np.ndarray) -> np.ndarray:
        return self._linktype[iface]

    def to_ns(self, iface: np.ndarray, ticks: np.ndarray) -> np.ndarray:
        kinds = list(self._kinds)
        if len(kinds) == 1:
            ns = Clock(*kinds[0]).to_ns(ticks)
        else:
            kind = self._kind[iface]
            ns = np.empty(len(ticks), dtype=np.int64)
            for k in np.unique(kind):
                mine = kind == k
                ns[mine] = Clock(*kinds[int(k)]).to_ns(ticks[mine])
        return ns + self._offset_ns[iface] if self._any_offset else ns


def walk_epbs(view: memoryview, pos: int, unpack_header: struct.Struct, append: object) -> int:
    """Append the positions of consecutive well-formed EPBs from `pos`; return where the run stops.

    The last appended block may extend beyond the view; the caller checks it.
    """
    unpack = unpack_header.unpack_from
    add = append
    try:
        while True:
            block_type, length = unpack(view, pos)
            if block_type != EPB or length < 32 or length & 3:
                return pos
            add(pos)  # type: ignore[operator]
            pos += length
    except struct.error:
        return pos


class _EpbRun:
    """Positions of the EPBs waiting to be decoded together, with their header words when the C walk
    read them (then numpy need not gather them again)."""

    def __init__(self) -> None:
        self._offsets: list[np.ndarray] = []
        self._words: list[np.ndarray | None] = []
        self.count = 0

    def add(self, offsets: np.ndarray, words: np.ndarray | None) -> None:
        if len(offsets):
            self._offsets.append(offsets)
            self._words.append(None if words is None else words[: len(offsets)])
            self.count += len(offsets)

    def positions(self) -> np.ndarray:
        return self._offsets[0] if len(self._offsets) == 1 else np.concatenate(self._offsets)

    def header_words(self) -> np.ndarray | None:
        if any(w is None for w in self._words):
            return None
        return self._words[0] if len(self._words) == 1 else np.concatenate(self._words)  # type: ignore[arg-type]

    def clear(self) -> None:
        self._offsets.clear()
        self._words.clear()
        self.count = 0


def options(body: bytes, order: str) -> dict[int, bytes]:
    """The first value of each option code in an options area (bounds-checked)."""
    found: dict[int, bytes] = {}
    pos = 0
    while pos + 4 <= len(body):
        code, length = struct.unpack_from(order + "HH", body, pos)
        if code == OPT_END:
            break
        value = body[pos + 4 : pos + 4 + length]
        if len(value) < length:
            break
        found.setdefault(code, value)
        pos += 4 + ((length + 3) & ~3)
    return found


class PcapngFile(CaptureFile):
    format = "pcapng"

    def __init__(self, stream: ByteStream, name: str, header: bytes, **kwargs: Any) -> None:
        super().__init__(stream, name, **kwargs)
        if len(header) < 12 or header[8:12] not in BYTE_ORDERS:
            shown = header[8:12].hex(" ") or "nothing"
            raise CaptureError(
                f"pcapng section header without a byte-order magic (found {shown}); file damaged?",
                path=name,
            )
        self._set_order(BYTE_ORDERS[header[8:12]])
        self._section = 0
        self._interfaces = InterfaceTable()
        self._resync = False
        self._last_ts = 0
        self._records = load("netdetect.capture._records")  # the compiled record walks, if on
        self._warned: set[str] = set()

    # -- state -------------------------------------------------------------------------------------
    def _set_order(self, order: str) -> None:
        self._order = order
        self._header = struct.Struct(order + "II")
        self._u32 = np.dtype(order + "u4")

    def _warn_once(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            self.stats.warn(message)

    def _bad_block(self, where: int, why: str) -> None:
        self.stats.bad_records += 1
        self.stats.warn(f"section {self._section}: {why}; skipping to the next section header")
        self._resync = True

    # -- chunk -------------------------------------------------------------------------------------
    def _parse(self, chunk: np.ndarray, end: int, at_eof: bool) -> ChunkResult:
        view = chunk.data[:end]
        data = chunk[:end]
        parts: list[PacketColumns] = []
        singles: list[Row] = []  # packets from SPB/PB blocks; they always precede `run`
        run = _EpbRun()  # EPBs decoded together; blocks that change nothing don't end a run
        pos = 0
        need = 0
        header = self._header
        while True:
            if self._resync:
                section_at = chunk[pos:end].tobytes().find(SHB_MAGIC)  # rare: only after damage
                if section_at < 0:
                    pos = max(pos, end - 11)  # a section header may start in the last bytes
                    break
                pos += section_at
                self._resync = False
            words = None
            if self._records is not None:
                found_bytes, words_bytes, stop = self._records.walk_epbs(view, end, pos, self._order == ">")
                found = np.frombuffer(found_bytes, np.int64)
                words = np.frombuffer(words_bytes, np.uint32).reshape(-1, 8)
            else:
                positions: list[int] = []
                stop = walk_epbs(view, pos, header, positions.append)
                found = np.array(positions, dtype=np.int64)
            if len(found) and stop > end:  # the last block continues in the next chunk
                stop = int(found[-1])
                found = found[:-1]
            run.add(found, words)
            pos = stop
            if pos + 12 > end:
                break
            (block_type,) = struct.unpack_from(self._order + "I", view, pos)
            if block_type not in STATEFUL_BLOCKS:
                step = self._block(chunk, data, pos, end, singles)
            else:
                damaged_at = self._flush(view, data, run, singles, parts)
                if damaged_at is not None:
                    pos = damaged_at + 4
                    continue
                step = self._block(chunk, data, pos, end, singles)
                header = self._header  # a section header may have changed the byte order
            if step < 0:  # block continues in the next chunk
                need = -step
                break
            pos += step
        damaged_at = self._flush(view, data, run, singles, parts)
        if damaged_at is not None:
            pos, need = damaged_at + 4, 0
        columns = PacketColumns.concat(parts) if parts else EMPTY_COLUMNS
        columns = self._fill_missing_ts(columns)
        return ChunkResult(columns, pos, need=need)

    def _flush(
        self,
        view: memoryview,
        data: np.ndarray,
        run: _EpbRun,
        singles: list[Row],
        parts: list[PacketColumns],
    ) -> int | None:
        """Decode pending packets into `parts`, in file order; return where a damaged EPB was found."""
        damaged_at = None
        if 0 < run.count < SMALL_RUN:  # numpy's fixed cost would dominate: decode one by one
            damaged_at = self._decode_few_epbs(view, run.positions().tolist(), singles)
            run.clear()
        if singles:
            parts.append(self._singles(singles))
            singles.clear()
        if run.count:
            columns, damaged_at = self._decode_epbs(data, run.positions(), run.header_words())
            run.clear()
            parts.append(columns)
        if damaged_at is not None:
            self._bad_block(damaged_at, "enhanced packet block with mismatched trailing length")
        return damaged_at

    def _decode_few_epbs(self, view: memoryview, run: list[int], singles: list[Row]) -> int | None:
        """`_decode_epbs` for a handful of blocks, in Python, appending rows to `singles`."""
        fields = struct.Struct(self._order + "7I").unpack_from
        word = struct.Struct(self._order + "I").unpack_from
        table = self._interfaces
        for pos in run:
            _type, length, iface, high, low, caplen, wirelen = fields(view, pos)
            if word(view, pos + length - 4)[0] != length:
                return pos
            if iface >= len(table) or caplen > length - 32 or caplen > MAX_CAPLEN:
                self.stats.bad_records += 1
                self._warn_once("epb", UNUSABLE_EPB)
                continue
            if wirelen < caplen:
                self.stats.bad_records += 1
                self._warn_once("wirelen", CAPLEN_ABOVE_WIRELEN)
                wirelen = caplen
            ts = table.clocks[iface].ns_of((high << 32) | low)
            singles.append((pos + 28, caplen, wirelen, ts, table.linktypes[iface]))
        return None

    def _block(
        self,
        chunk: np.ndarray,
        data: np.ndarray,
        pos: int,
        end: int,
        singles: list[Row],
    ) -> int:
        """Handle the block at `pos`: bytes to skip, 4 after damage, or -length when it is incomplete."""
        head = chunk[pos : pos + 12].tobytes()
        if head[:4] == SHB_MAGIC:
            order = BYTE_ORDERS.get(head[8:12])
            if order is None:
                self._bad_block(pos, "section header without byte-order magic")
                return 4
            self._set_order(order)
        block_type, length = self._header.unpack_from(head)
        if length < MIN_BLOCK.get(block_type, 12) or length & 3 or length > MAX_BLOCK:
            self._bad_block(pos, f"block type {block_type:#x} with impossible length {length}")
            return 4
        if pos + length > end:
            return -length
        (trailer,) = struct.unpack_from(self._order + "I", chunk.data, pos + length - 4)
        if trailer != length:
            self._bad_block(pos, f"block type {block_type:#x}: length {length} but trailing length {trailer}")
            return 4
        if block_type == SHB:
            self._section_header(chunk, pos)
        elif block_type == IDB:
            self._interface(chunk[pos + 8 : pos + length - 4].tobytes())
        elif block_type == EPB:
            columns, damaged_at = self._decode_epbs(data, np.array([pos], dtype=np.int64))
            for row in zip(*columns, strict=True):
                singles.append(tuple(int(v) for v in row))  # type: ignore[arg-type]
        elif block_type == SPB:
            self._simple_packet(chunk, pos, length, singles)
        elif block_type == PB:
            self._legacy_packet(chunk, pos, length, singles)
        elif block_type not in IGNORED_BLOCKS:
            self.stats.skipped_blocks += 1
        return length

    # -- blocks ------------------------------------------------------------------------------------
    def _section_header(self, chunk: np.ndarray, pos: int) -> None:
        major, minor = struct.unpack_from(self._order + "HH", chunk.data, pos + 12)
        self._section += 1
        self._interfaces = InterfaceTable()
        if major != 1:
            self._warn_once("version", f"pcapng version {major}.{minor} (expected 1.0); reading it as 1.0")

    def _interface(self, body: bytes) -> None:
        linktype, _reserved, snaplen = struct.unpack_from(self._order + "HHI", body)
        found = options(body[8:], self._order)
        resolution = found.get(OPT_IF_TSRESOL, b"\x06")[:1] or b"\x06"
        offset_raw = found.get(OPT_IF_TSOFFSET, b"")
        offset_s = struct.unpack(self._order + "q", offset_raw)[0] if len(offset_raw) == 8 else 0
        if abs(offset_s) > MAX_TS_OFFSET_S:
            self._warn_once("tsoffset", f"interface with impossible timestamp offset {offset_s} s; ignored")
            offset_s = 0
        clock = Clock.from_tsresol(resolution[0], offset_s)
        if (clock.base == 10 and clock.exponent > 18) or (clock.base == 2 and clock.exponent > 63):
            self._warn_once(
                "tsresol", f"interface with impossible timestamp resolution {clock.label}; using 1e-6"
            )
            clock = Clock(offset_ns=clock.offset_ns)
        fcs = found.get(OPT_IF_FCSLEN, b"")
        name = found.get(OPT_IF_NAME, b"")[:256].decode("utf-8", "replace")
        index = len(self._interfaces)
        if index >= MAX_INTERFACES:
            self.stats.bad_records += 1
            self._warn_once("interfaces", f"more than {MAX_INTERFACES} interfaces in one section (ignored)")
            return
        self._interfaces.add(linktype, snaplen, clock)
        self.stats.interfaces.append(
            Interface(
                linktype=linktype,
                snaplen=snaplen,
                name=name,
                section=self._section,
                ts_resolution=clock.label,
                ts_offset_s=offset_s,
                fcs_bytes=fcs[0] if fcs else 0,
            )
        )
        if linktype not in linktypes.SUPPORTED:
            self.stats.warn(
                f"section {self._section} interface {index}: unsupported {linktypes.describe(linktype)}; "
                "its packets are passed on undecoded"
            )

    def _simple_packet(self, chunk: np.ndarray, pos: int, length: int, singles: list[Row]) -> None:
        table = self._interfaces
        if not len(table):
            self.stats.bad_records += 1
            self._warn_once("spb", "simple packet block before any interface description (skipped)")
            return
        (wirelen,) = struct.unpack_from(self._order + "I", chunk.data, pos + 8)
        caplen = min(wirelen, length - 16, MAX_CAPLEN)
        if table.snaplens[0]:
            caplen = min(caplen, table.snaplens[0])
        linktype = int(table.linktype(np.zeros(1, dtype=np.int64))[0])
        singles.append((pos + 12, caplen, max(wirelen, caplen), int(NO_TS), linktype))

    def _legacy_packet(self, chunk: np.ndarray, pos: int, length: int, singles: list[Row]) -> None:
        iface, _drops, high, low, caplen, wirelen = struct.unpack_from(
            self._order + "HHIIII", chunk.data, pos + 8
        )
        table = self._interfaces
        if iface >= len(table) or caplen > length - 32 or caplen > MAX_CAPLEN:
            self.stats.bad_records += 1
            return
        if wirelen < caplen:
            self.stats.bad_records += 1
            wirelen = caplen
        ticks = np.array([(high << 32) | low], dtype=np.uint64)
        which = np.array([iface], dtype=np.int64)
        ts = int(table.to_ns(which, ticks)[0])
        singles.append((pos + 28, caplen, wirelen, ts, int(table.linktype(which)[0])))

    def _decode_epbs(
        self, data: np.ndarray, offset: np.ndarray, words: np.ndarray | None = None
    ) -> tuple[PacketColumns, int | None]:
        """Decode a run of complete EPBs; also return where a damaged block (lying trailer) ends the run.

        `words`: the blocks' seven header words and trailing length, when the C walk already read them."""
        if words is not None:
            fields = words[:, :7].astype(np.int64)
            length = fields[:, 1]
            trailer = words[:, 7]
        else:
            fields = gather_u32(data, offset, 7, self._u32).astype(np.int64)
            length = fields[:, 1]
            trailer = gather_u32(data, offset + length - 4, 1, self._u32)[:, 0]
        damaged_at = None
        mismatch = trailer != length
        if mismatch.any():
            first = int(np.argmax(mismatch))
            damaged_at = int(offset[first])
            fields, offset, length = fields[:first], offset[:first], length[:first]
        iface, caplen, wirelen = fields[:, 2], fields[:, 5], fields[:, 6]
        table = self._interfaces
        usable = (iface < len(table)) & (caplen <= length - 32) & (caplen <= MAX_CAPLEN)
        if not usable.all():
            self.stats.bad_records += int((~usable).sum())
            self._warn_once("epb", UNUSABLE_EPB)
            fields, offset = fields[usable], offset[usable]
            iface, caplen, wirelen = fields[:, 2], fields[:, 5], fields[:, 6]
        short = wirelen < caplen
        if short.any():
            self.stats.bad_records += int(short.sum())
            self._warn_once("wirelen", CAPLEN_ABOVE_WIRELEN)
            wirelen = np.maximum(wirelen, caplen)
        ticks = (fields[:, 3].astype(np.uint64) << np.uint64(32)) | fields[:, 4].astype(np.uint64)
        ts_ns = table.to_ns(iface, ticks)
        columns = PacketColumns(offset + 28, caplen, wirelen, ts_ns, table.linktype(iface))
        return columns, damaged_at

    def _singles(self, rows: list[Row]) -> PacketColumns:
        table = np.array(rows, dtype=np.int64).reshape(-1, 5)
        return PacketColumns(
            table[:, 0], table[:, 1], table[:, 2], table[:, 3], table[:, 4].astype(np.uint16)
        )

    def _fill_missing_ts(self, columns: PacketColumns) -> PacketColumns:
        ts = columns.ts_ns
        if not len(ts):
            return columns
        missing = ts == NO_TS
        if missing.any():
            source = np.where(missing, -1, np.arange(len(ts)))
            source = np.maximum.accumulate(source)
            ts = np.where(source < 0, self._last_ts, ts[np.maximum(source, 0)])
            columns = columns._replace(ts_ns=ts)
        self._last_ts = int(ts[-1])
        return columns

    def _at_end(self, chunk: np.ndarray, end: int) -> None:
        if self._resync:
            return  # the damage was counted when found
        self.stats.truncated_records += 1
        self.stats.warn(f"last block cut short ({end} bytes left at the end of the file)")
