"""What every capture file reader shares: chunked reading, statistics, and batch slicing.

A reader fills a big byte buffer from the (possibly decompressed) stream, walks its record
headers in a tight loop, decodes the fields of all records with numpy, and hands out
`PacketBatch`es that are views over that buffer. A record cut by the end of the buffer is
carried into the next one.
"""

from __future__ import annotations

import contextlib
import lzma
import mmap
import os
import select
import time
import zlib
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO, NamedTuple, Protocol

import numpy as np
from numpy.lib.stride_tricks import as_strided

from netdetect.capture.batch import PacketBatch

try:  # zstd errors are caught like the stdlib's; the package is a dependency but stay importable without it
    from zstandard import ZstdError
except ImportError:  # pragma: no cover
    ZstdError = OSError  # type: ignore[misc,assignment]

DEFAULT_CHUNK_BYTES = 32 << 20
MAX_CAPLEN = 256 << 10  # libpcap refuses bigger records; a larger value means the header lies
NS_PER_S = 1_000_000_000
COMPRESSED_PIECE = 64 << 10
# A pipe's packets are handed over when the writer pauses this long, or after at most PIPE_MAX_DELAY_S.
PIPE_PAUSE_S = 0.1
PIPE_MAX_DELAY_S = 1.0
# Map a window's pages in one call (Linux) instead of one fault per 64 KiB as the walk reaches them.
_MAP_FLAGS = mmap.MAP_SHARED | getattr(mmap, "MAP_POPULATE", 0)

# What a broken or cut compressed stream raises while reading (gzip/bz2 raise OSError or EOFError).
STREAM_ERRORS: tuple[type[BaseException], ...] = (OSError, EOFError, zlib.error, lzma.LZMAError, ZstdError)


@dataclass(slots=True)
class CapturedBatch(PacketBatch):
    """A PacketBatch that also keeps exact integer timestamps (float64 seconds lose the nanoseconds)."""

    ts_ns: np.ndarray | None = None  # int64 nanoseconds since the epoch


@dataclass(slots=True)
class Interface:
    """One capture interface: a classic pcap file has one, a pcapng section any number."""

    linktype: int
    snaplen: int
    name: str = ""
    section: int = 0
    ts_resolution: str = "1e-6"  # as written in the file: "1e-9", "2^-20" ...
    ts_offset_s: int = 0
    fcs_bytes: int = 0  # frame check sequence at the end of each packet (0: none or unknown)


@dataclass(slots=True)
class ReadStats:
    packets: int = 0
    bytes_read: int = 0  # of the (decompressed) capture stream
    truncated_records: int = 0  # final record cut short by the end of the file
    bad_records: int = 0  # records or blocks whose lengths lie
    skipped_blocks: int = 0  # pcapng blocks of unknown type
    dropped: int = 0  # live capture: packets the kernel dropped
    interfaces: list[Interface] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def warn(self, message: str) -> None:
        if len(self.warnings) < 100:  # a hostile file must not grow this without bound
            self.warnings.append(message)


class PacketColumns(NamedTuple):
    """Decoded record headers of one chunk, in file order."""

    offset: np.ndarray  # int64, where the packet bytes start in the chunk
    caplen: np.ndarray  # int64
    wirelen: np.ndarray  # int64
    ts_ns: np.ndarray  # int64
    linktype: np.ndarray  # uint16

    @staticmethod
    def concat(parts: list[PacketColumns]) -> PacketColumns:
        if len(parts) == 1:
            return parts[0]
        return PacketColumns(*(np.concatenate(column) for column in zip(*parts, strict=True)))


EMPTY_COLUMNS = PacketColumns(
    np.empty(0, np.int64),
    np.empty(0, np.int64),
    np.empty(0, np.int64),
    np.empty(0, np.int64),
    np.empty(0, np.uint16),
)


@dataclass(slots=True)
class ChunkResult:
    columns: PacketColumns
    consumed: int  # bytes of the chunk fully used; the rest is carried to the next chunk
    need: int = 0  # bytes the carried record needs in one buffer (a block larger than a chunk)
    stop: bool = False  # the stream cannot be read further (a lying length in classic pcap)


class ByteStream(Protocol):
    """What the readers need of a (decompressing) stream: file objects, GzipFile, BZ2File, zstd readers."""

    def readinto(self, buffer: Any, /) -> int | None: ...

    def read(self, size: int = ..., /) -> bytes: ...

    def close(self) -> None: ...


class ReplayStream:
    """A binary stream that first replays bytes already read (sniffed magic) - stdin cannot seek back."""

    def __init__(self, prefix: bytes, rest: ByteStream, *, closes: bool = True) -> None:
        self._prefix = memoryview(prefix)
        self._rest = rest
        self._closes = closes  # False for stdin: not ours to close

    def readable(self) -> bool:
        return True

    def readinto(self, target: memoryview | bytearray) -> int:
        view = memoryview(target).cast("B")
        if self._prefix:
            n = min(len(view), len(self._prefix))
            view[:n] = self._prefix[:n]
            self._prefix = self._prefix[n:]
            return n
        return self._rest.readinto(view) or 0

    def readinto1(self, target: memoryview | bytearray) -> int:
        """At most one read of the underlying stream: returns what a pipe has now instead of waiting."""
        if self._prefix:
            return self.readinto(target)
        read_once = getattr(self._rest, "readinto1", self._rest.readinto)
        return read_once(memoryview(target).cast("B")) or 0

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            return bytes(self._prefix) + self._rest.read()
        buf = bytearray(size)
        return bytes(buf[: self.readinto(buf)])

    def close(self) -> None:
        if self._closes:
            self._rest.close()


class CaptureFile(ABC):
    """A capture being read: `batches()` yields its packets once, in file order."""

    format: str = ""

    def __init__(
        self,
        stream: ByteStream,
        name: str,
        *,
        compression: str | None = None,
        total_bytes: int | None = None,
        raw: BinaryIO | None = None,
        chunk_bytes: int = DEFAULT_CHUNK_BYTES,
        mapped: BinaryIO | None = None,
        mapped_from: int = 0,
        pipe: int | None = None,
    ) -> None:
        self.name = name
        self.compression = compression
        self.total_bytes = total_bytes
        self.stats = ReadStats()
        self._stream = stream
        self._raw = raw  # the file on disk, for progress (compressed position)
        self._chunk_bytes = max(chunk_bytes, 1 << 12)
        self._eof = False
        self._consumed = False
        # A plain file is memory-mapped one chunk at a time: chunks are windows of the page cache, not
        # copies (~25x cheaper than readinto), and each window is unmapped with its last batch, so
        # resident memory does not grow with the file. `_window` is the file offset of the chunk.
        self._mapped = mapped
        self._mapped_size = os.fstat(mapped.fileno()).st_size if mapped is not None else 0
        self._window = mapped_from
        # Reading a pipe (`tcpdump -U -w - | netdetect ... -`): hand over what has arrived as soon as the
        # writer pauses instead of waiting for a full chunk. The file descriptor, for select().
        self._pipe = pipe

    # -- public ------------------------------------------------------------------------------------
    @property
    def position(self) -> int | None:
        """Bytes consumed of the file on disk (compressed), to compare with `total_bytes`."""
        if self._mapped is not None:
            return self._window
        try:
            return self._raw.tell() if self._raw is not None else None
        except (OSError, ValueError):
            return None

    @property
    def linktypes(self) -> list[int]:
        """Link types of the interfaces seen so far (pcapng declares interfaces as it goes)."""
        return sorted({interface.linktype for interface in self.stats.interfaces})

    def batches(self, max_packets: int = 65536) -> Iterator[CapturedBatch]:
        if self._consumed:
            raise RuntimeError(f"{self.name}: a capture can be read only once")
        self._consumed = True
        max_packets = max(1, max_packets)
        carry = np.empty(0, dtype=np.uint8)
        need = 0
        frame = 0
        while True:
            chunk, end = self._fill(carry, need)
            if end == len(carry) and self._eof:
                if end:
                    self._at_end(chunk, end)
                return
            result = self._parse(chunk, end, self._eof)
            columns = result.columns
            n = len(columns.offset)
            self.stats.packets += n
            data = chunk[:end]
            for first in range(0, n, max_packets):
                yield self._slice(data, columns, first, min(n, first + max_packets), frame + first)
            frame += n
            if result.stop:
                return
            carry = chunk[result.consumed : end]
            self._window += result.consumed
            need = result.need

    def close(self) -> None:
        try:
            self._stream.close()
        finally:
            if self._raw is not None:
                self._raw.close()

    def __enter__(self) -> CaptureFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} {self.format} compression={self.compression}>"

    # -- for the formats ---------------------------------------------------------------------------
    @abstractmethod
    def _parse(self, chunk: np.ndarray, end: int, at_eof: bool) -> ChunkResult:
        """Decode every complete record of chunk[:end]."""

    @abstractmethod
    def _at_end(self, chunk: np.ndarray, end: int) -> None:
        """The stream ended with chunk[:end] unused: count the cut record."""

    # -- machinery ---------------------------------------------------------------------------------
    def _fill(self, carry: np.ndarray, need: int) -> tuple[np.ndarray, int]:
        """A fresh buffer (batches keep views of the old one) holding the carry, then new stream bytes."""
        size = max(self._chunk_bytes, len(carry) + need, 2 * len(carry))
        if self._mapped is not None:
            return self._map_window(len(carry), size)
        chunk = np.empty(size, dtype=np.uint8)  # not zeroed: ~2x cheaper than bytearray(size)
        end = len(carry)
        chunk[:end] = carry
        if self._eof:
            return chunk, end
        view = chunk.data
        # A cut compressed stream raises instead of returning what one call decompressed: small calls
        # lose little. Plain files are read in one call.
        piece = COMPRESSED_PIECE if self.compression else size
        read = self._stream.readinto
        if self._pipe is not None and isinstance(self._stream, ReplayStream):
            read = self._stream.readinto1
        started = time.monotonic()
        while end < size:
            if self._pipe is not None and end > len(carry):
                waited = time.monotonic() - started
                if waited >= PIPE_MAX_DELAY_S or not _readable(
                    self._pipe, min(PIPE_PAUSE_S, PIPE_MAX_DELAY_S - waited)
                ):
                    break
            try:
                got = read(view[end : end + piece])
            except STREAM_ERRORS as exc:  # cut or corrupt compressed stream: keep what was read
                self.stats.warn(f"stream ended early ({type(exc).__name__}: {exc}); stopped reading")
                got = 0
            if not got:
                self._eof = True
                break
            end += got
            self.stats.bytes_read += got
        return chunk, end

    def _map_window(self, carried: int, size: int) -> tuple[np.ndarray, int]:
        begin = self._window
        stop = min(self._mapped_size, begin + size)
        self.stats.bytes_read += max(0, stop - begin - carried)
        self._eof = stop >= self._mapped_size
        if stop <= begin:
            return np.empty(0, dtype=np.uint8), 0
        aligned = begin - begin % mmap.ALLOCATIONGRANULARITY
        assert self._mapped is not None
        try:
            fd = self._mapped.fileno()
            mapping = mmap.mmap(fd, stop - aligned, flags=_MAP_FLAGS, prot=mmap.PROT_READ, offset=aligned)
        except (OSError, ValueError) as exc:  # the file shrank since it was opened
            self.stats.warn(f"file changed while being read ({exc}); stopped reading")
            self._eof = True
            return np.empty(0, dtype=np.uint8), 0
        with contextlib.suppress(AttributeError, OSError):
            mapping.madvise(mmap.MADV_SEQUENTIAL)
        window = np.frombuffer(mapping, dtype=np.uint8)[begin - aligned :]
        return window, len(window)

    def _slice(self, data: np.ndarray, columns: PacketColumns, lo: int, hi: int, frame: int) -> CapturedBatch:
        offset = columns.offset[lo:hi]
        caplen = columns.caplen[lo:hi]
        start = int(offset[0])
        stop = int(offset[-1] + caplen[-1])
        ts_ns = columns.ts_ns[lo:hi]
        return CapturedBatch(
            data=data[start:stop],
            offset=offset - start,
            caplen=caplen,
            wirelen=columns.wirelen[lo:hi],
            ts=ns_to_seconds(ts_ns),
            linktype=columns.linktype[lo:hi],
            source=self.name,
            first_index=frame,
            ts_ns=ts_ns,
        )


def _readable(fd: int, timeout: float) -> bool:
    try:
        return bool(select.select([fd], [], [], max(0.0, timeout))[0])
    except (OSError, ValueError):
        return True  # cannot tell: keep reading as for a file


def ns_to_seconds(ts_ns: np.ndarray) -> np.ndarray:
    """Epoch seconds as float64, rounded once (whole seconds + fraction, not ns / 1e9 of a huge int)."""
    seconds, fraction = np.divmod(ts_ns, NS_PER_S)
    return seconds.astype(np.float64) + fraction.astype(np.float64) * 1e-9


def gather_u32(data: np.ndarray, positions: np.ndarray, words: int, dtype: np.dtype) -> np.ndarray:
    """`words` consecutive 32-bit fields at each of `positions` (unaligned), as an (n, words) array.

    Rows of a sliding-window view are gathered whole: one index per record instead of one per byte
    (~3x faster than indexing bytes).
    """
    width = 4 * words
    if len(positions) == 0 or len(data) < width:
        return np.empty((0, words), dtype=dtype)
    windows = as_strided(data, shape=(len(data) - width + 1, width), strides=(1, 1), writeable=False)
    return windows[positions].view(dtype).reshape(len(positions), words)
