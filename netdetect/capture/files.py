"""Opening a capture: a path or "-" for stdin, compressed or not, told apart by magic bytes."""

from __future__ import annotations

import bz2
import errno
import gzip
import io
import lzma
import mmap
import os
import stat
import sys
from collections.abc import Callable
from typing import Any, cast

from netdetect.capture.pcap import VARIANTS as PCAP_VARIANTS
from netdetect.capture.pcap import PcapFile
from netdetect.capture.pcapng import SHB_MAGIC, PcapngFile
from netdetect.capture.reader import (
    DEFAULT_CHUNK_BYTES,
    STREAM_ERRORS,
    ByteStream,
    CaptureFile,
    ReadStats,
    ReplayStream,
)
from netdetect.errors import CaptureError

__all__ = ["CaptureFile", "ReadStats", "open_capture", "sniff", "STDIN"]

STDIN = "-"


def _zstd_reader(stream: ByteStream) -> ByteStream:
    import zstandard

    reader: ByteStream = zstandard.ZstdDecompressor().stream_reader(stream, read_across_frames=True)  # type: ignore[arg-type]
    return reader


# Compression by the magic bytes of the stream, never by file name extension.
# The decompressors are owned by the CaptureFile, which closes them.
COMPRESSIONS: dict[str, tuple[bytes, Callable[[Any], ByteStream]]] = {
    "gzip": (b"\x1f\x8b", lambda s: gzip.GzipFile(fileobj=s, mode="rb")),  # noqa: SIM115
    "bzip2": (b"BZh", lambda s: bz2.BZ2File(s, mode="rb")),  # noqa: SIM115
    "xz": (b"\xfd7zXZ\x00", lambda s: lzma.LZMAFile(s, mode="rb")),  # noqa: SIM115
    "zstd": (b"\x28\xb5\x2f\xfd", _zstd_reader),
}

# Formats people mistake for pcap: name them instead of printing bytes only.
OTHER_FORMATS: dict[bytes, str] = {
    b"snoop\x00\x00\x00": "a Sun snoop capture",
    b"GMBU": "a Microsoft Network Monitor capture",
    b"XCP\x00": "a NetXRay/Sniffer capture",
    b"PK\x03\x04": "a zip archive (unzip it first)",
    b"7z\xbc\xaf": "a 7-Zip archive (extract it first)",
}
CONVERT_HINT = "; convert it with `editcap -F pcapng IN OUT`"

SNIFF_BYTES = 24
IS_A_DIRECTORY = "is a directory (give the files in it, or use a glob)"


def sniff(head: bytes) -> str | None:
    """'pcap', 'pcapng' or a compression name for the first bytes of a stream; None if none fits."""
    if head[:4] in PCAP_VARIANTS:
        return "pcap"
    if head[:4] == SHB_MAGIC:
        return "pcapng"
    for name, (magic, _) in COMPRESSIONS.items():
        if head.startswith(magic):
            return name
    return None


def describe_bytes(head: bytes) -> str:
    """What the first bytes looked like, for the error message (hex and printable text)."""
    if not head:
        return "the file is empty"
    for magic, what in OTHER_FORMATS.items():
        if head.startswith(magic):
            return f"it is {what}" + ("" if "archive" in what else CONVERT_HINT)
    shown = head[:8]
    text = "".join(chr(b) if 32 <= b < 127 else "." for b in shown)
    return f"it starts with {shown.hex(' ')} ({text!r})"


def _read_exactly(stream: ByteStream, size: int) -> bytes:
    parts: list[bytes] = []
    left = size
    while left > 0:
        got = stream.read(left)
        if not got:
            break
        parts.append(got)
        left -= len(got)
    return b"".join(parts)


def _open_raw(path: str) -> tuple[io.BufferedReader, int | None]:
    if path == STDIN:
        # The unbuffered file underneath: a BufferedReader's readinto1 still blocks on a pipe to fill a
        # large buffer, the raw file returns what has arrived. Nothing has read stdin before us.
        stream = cast(io.BufferedReader, getattr(sys.stdin.buffer, "raw", sys.stdin.buffer))
        try:
            size = os.fstat(stream.fileno()).st_size or None
        except (OSError, ValueError, AttributeError):
            size = None
        return stream, size
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        raise CaptureError("no such file", path=path) from None
    except PermissionError:
        raise CaptureError("permission denied", path=path) from None
    except IsADirectoryError:
        raise CaptureError(IS_A_DIRECTORY, path=path) from None
    except OSError as exc:
        raise CaptureError(f"cannot open: {exc.strerror or exc}", path=path) from None
    info = os.fstat(fd)
    if stat.S_ISDIR(info.st_mode):
        os.close(fd)
        raise CaptureError(IS_A_DIRECTORY, path=path)
    # A named pipe or /dev/fd/N of `<(zcat ...)` is read unbuffered, like stdin (see above).
    regular = stat.S_ISREG(info.st_mode)
    handle = cast(io.BufferedReader, open(fd, "rb", buffering=-1 if regular else 0))  # noqa: SIM115
    return handle, info.st_size if regular else None


def open_capture(path: str | os.PathLike[str], *, chunk_bytes: int = DEFAULT_CHUNK_BYTES) -> CaptureFile:
    """Open a pcap or pcapng capture (optionally gzip/bzip2/xz/zstd-compressed); "-" reads stdin.

    Raises CaptureError naming the file for anything that keeps it from being read as a capture.
    """
    name = os.fspath(path)
    raw, size = _open_raw(name)
    try:
        return _open_stream(raw, name, size, chunk_bytes)
    except BaseException:
        if name != STDIN:
            raw.close()
        raise


def _open_stream(raw: io.BufferedReader, name: str, size: int | None, chunk_bytes: int) -> CaptureFile:
    try:
        head = _read_exactly(raw, SNIFF_BYTES)
    except OSError as exc:
        if exc.errno == errno.EISDIR:
            raise CaptureError("is a directory", path=name) from None
        raise CaptureError(f"cannot read: {exc.strerror or exc}", path=name) from None
    stream: ByteStream = ReplayStream(head, raw, closes=name != STDIN)
    kind = sniff(head)
    compression = None
    if kind in COMPRESSIONS:
        compression = kind
        stream = COMPRESSIONS[kind][1](stream)
        try:
            head = _read_exactly(stream, SNIFF_BYTES)
        except STREAM_ERRORS as exc:
            raise CaptureError(f"corrupt {compression} data: {exc}", path=name) from None
        stream = ReplayStream(head, stream)
        kind = sniff(head)
        if kind in COMPRESSIONS:
            raise CaptureError(
                f"{compression} data holding {kind} data: decompress the outer layer first", path=name
            )
    if kind is None:
        inside = f"{compression}-compressed data, but " if compression else ""
        raise CaptureError(f"not a pcap or pcapng capture: {inside}{describe_bytes(head)}", path=name)
    reader = PcapFile if kind == "pcap" else PcapngFile
    header_bytes = len(head) if kind == "pcap" else 0  # pcap's file header is parsed from `head`
    if header_bytes:
        stream.read(header_bytes)
    mapped = _mappable(raw) if compression is None and name != STDIN else None
    return reader(
        stream,
        name,
        head,
        compression=compression,
        total_bytes=size,
        raw=raw if name != STDIN else None,
        chunk_bytes=chunk_bytes,
        mapped=mapped,
        mapped_from=header_bytes,
        pipe=_pipe_fd(raw) if compression is None else None,
    )


def _pipe_fd(raw: io.BufferedReader) -> int | None:
    """The descriptor of a pipe, socket or character device (not a regular file)."""
    try:
        fd = raw.fileno()
        return None if stat.S_ISREG(os.fstat(fd).st_mode) else fd
    except (OSError, ValueError, AttributeError, io.UnsupportedOperation):
        return None


def _mappable(raw: io.BufferedReader) -> io.BufferedReader | None:
    """The file itself when it is a regular file that mmap can window; None for pipes and the like."""
    try:
        info = os.fstat(raw.fileno())
        if not stat.S_ISREG(info.st_mode) or info.st_size == 0:
            return None
        mmap.mmap(
            raw.fileno(), min(info.st_size, mmap.ALLOCATIONGRANULARITY), access=mmap.ACCESS_READ
        ).close()
    except (OSError, ValueError, AttributeError):
        return None
    return raw
