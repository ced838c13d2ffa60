"""Many captures as one time-ordered packet stream: files, directories, globs and rotated sets.

Rotated sets (tcpdump -G/-C `file.pcap`, `file.pcap1` ..., dumpcap ring buffers
`name_00001_20230329101500.pcapng`) sort wrongly by name, so files are ordered by the time of
their first packet. Files that overlap in time (several sensors, several interfaces) are merged
so that batches come in non-decreasing time order.
"""

from __future__ import annotations

import glob
import heapq
import os
import re
import stat
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from netdetect.capture.files import STDIN, open_capture
from netdetect.capture.reader import STREAM_ERRORS, CapturedBatch, CaptureFile, ReadStats
from netdetect.errors import CaptureError

__all__ = ["expand_inputs", "first_timestamp", "iter_batches"]

GLOB_CHARS = re.compile(r"[*?\[]")
PROBE_CHUNK = 256 << 10  # enough for the first packet of any file, compressed or not
READ_ERRORS: tuple[type[BaseException], ...] = (CaptureError, *STREAM_ERRORS)


def _natural_key(path: str) -> list[object]:
    """`file.pcap2` before `file.pcap10`."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path)]


def looks_like_capture(path: str) -> bool:
    """True when the file's (decompressed) first bytes are a pcap or pcapng header."""
    try:
        with open_capture(path, chunk_bytes=4096):
            return True
    except READ_ERRORS:
        return False


@lru_cache(maxsize=4096)
def _probe(path: str, size: int, mtime_ns: int) -> float | None:
    try:
        with open_capture(path, chunk_bytes=PROBE_CHUNK) as capture:
            for batch in capture.batches(max_packets=1):
                return float(batch.ts[0])
    except READ_ERRORS:
        return None
    return None


def first_timestamp(path: str) -> float | None:
    """Epoch seconds of the first packet; None if there is none, or for stdin, pipes, unreadable files."""
    if path == STDIN:
        return None
    try:
        info = os.stat(path)
    except OSError:
        return None
    if not stat.S_ISREG(info.st_mode):
        return None  # reading a named pipe would consume what the capture needs
    return _probe(path, info.st_size, info.st_mtime_ns)


def _walk_directory(directory: str) -> list[str]:
    found = []
    for root, dirs, files in os.walk(directory):
        dirs.sort()
        for name in files:
            path = os.path.join(root, name)
            if os.path.isfile(path) and looks_like_capture(path):
                found.append(path)
    return found


def expand_inputs(args: Sequence[str]) -> list[str]:
    """Capture paths from command-line arguments, in the order of their first packet.

    A file is taken as given (errors come when it is opened); a directory contributes every
    capture below it (recognised by content, not name); a glob its matches (directories among
    them expanded). "-" (stdin) stays where it is. Raises CaptureError when an argument matches
    nothing.
    """
    paths: list[str] = []
    for arg in args:
        if arg == STDIN:
            paths.append(arg)
        elif os.path.isdir(arg):
            found = _walk_directory(arg)
            if not found:
                raise CaptureError("directory holds no pcap or pcapng captures", path=arg)
            paths.extend(found)
        elif os.path.exists(arg) or not GLOB_CHARS.search(arg):
            if not os.path.exists(arg):
                raise CaptureError("no such file", path=arg)
            paths.append(arg)
        else:
            matches = sorted(glob.glob(arg, recursive=True), key=_natural_key)
            if not matches:
                raise CaptureError("no file matches this pattern", path=arg)
            for match in matches:
                paths.extend(_walk_directory(match) if os.path.isdir(match) else [match])
    unique = list(dict.fromkeys(os.path.normpath(p) if p != STDIN else p for p in paths))
    if not unique:
        raise CaptureError("no capture files given")
    rank = {path: index for index, path in enumerate(unique)}

    def order(path: str) -> tuple[float, list[object], int]:
        ts = first_timestamp(path)
        # unreadable files keep their place relative to each other and fail later with a clear error
        return (ts if ts is not None else float("inf"), _natural_key(path), rank[path])

    if STDIN in unique:
        return unique  # stdin cannot be probed: keep the order the user gave
    return sorted(unique, key=order)


@dataclass(order=True)
class _Cursor:
    """One open file in the merge: its current batch and how far into it we are."""

    head_ts: float
    seq: int
    capture: CaptureFile = field(compare=False)
    iterator: Iterator[CapturedBatch] = field(compare=False)
    batch: CapturedBatch = field(compare=False)
    start: int = field(default=0, compare=False)
    running_max: np.ndarray = field(default_factory=lambda: np.empty(0), compare=False)

    def advance(self) -> bool:
        """Move to the next batch; False when the file is done."""
        for batch in self.iterator:
            if len(batch):
                self.batch, self.start = batch, 0
                self.head_ts = float(batch.ts[0])
                self.running_max = np.maximum.accumulate(batch.ts)
                return True
        return False

    def take(self, bound: float | None) -> CapturedBatch:
        """The packets from `start` up to the first one later than `bound` (at least one)."""
        batch, start = self.batch, self.start
        stop = len(batch)
        if bound is not None:
            # the first packet later than bound is where the running maximum first passes it
            stop = max(start + 1, int(np.searchsorted(self.running_max, bound, side="right")))
        self.start = stop
        if stop < len(batch):
            self.head_ts = float(batch.ts[stop])
        return batch if (start == 0 and stop == len(batch)) else slice_batch(batch, start, stop)


def slice_batch(batch: CapturedBatch, start: int, stop: int) -> CapturedBatch:
    """Packets start..stop of a batch, still a view of the same bytes."""
    offset = batch.offset[start:stop]
    caplen = batch.caplen[start:stop]
    lo = int(offset[0])
    hi = int(offset[-1] + caplen[-1])
    return CapturedBatch(
        data=batch.data[lo:hi],
        offset=offset - lo,
        caplen=caplen,
        wirelen=batch.wirelen[start:stop],
        ts=batch.ts[start:stop],
        linktype=batch.linktype[start:stop],
        source=batch.source,
        first_index=batch.first_index + start,
        ts_ns=None if batch.ts_ns is None else batch.ts_ns[start:stop],
    )


def iter_batches(
    paths: Sequence[str],
    max_packets: int = 65536,
    *,
    stats: dict[str, ReadStats] | None = None,
) -> Iterator[CapturedBatch]:
    """Batches of all `paths` in time order; files are opened only when the merge reaches them.

    Where files overlap in time their batches are cut so that each batch starts no earlier than
    the one before it ended (packets inside one file keep the file's order). `stats`, when
    given, receives each file's ReadStats once the file is done.
    """
    pending = sorted(
        ((first_timestamp(path), index, path) for index, path in enumerate(paths)),
        key=lambda item: (item[0] if item[0] is not None else float("-inf"), item[1]),
    )  # unprobeable files (stdin, unreadable) first: they open and fail or stream right away
    active: list[_Cursor] = []
    opened: list[CaptureFile] = []
    seq = 0
    try:
        while pending or active:
            while pending and (not active or pending[0][0] is None or pending[0][0] <= active[0].head_ts):
                _ts, _index, path = pending.pop(0)
                capture = open_capture(path)
                opened.append(capture)
                iterator = capture.batches(max_packets)
                cursor = _Cursor(0.0, seq, capture, iterator, CapturedBatch(*_EMPTY))
                seq += 1
                if cursor.advance():
                    heapq.heappush(active, cursor)
                else:
                    _finish(capture, stats)
            if not active:
                continue
            cursor = heapq.heappop(active)
            bounds = [other.head_ts for other in active[:1]]
            if pending and pending[0][0] is not None:
                bounds.append(pending[0][0])
            bound = min(bounds) if bounds else None
            yield cursor.take(bound)
            if cursor.start < len(cursor.batch) or cursor.advance():
                heapq.heappush(active, cursor)
            else:
                _finish(cursor.capture, stats)
    finally:  # also when the consumer stops early or a file fails mid-way
        for capture in opened:
            capture.close()


def _finish(capture: CaptureFile, stats: dict[str, ReadStats] | None) -> None:
    capture.close()
    if stats is not None:
        stats[capture.name] = capture.stats


_EMPTY = (
    np.empty(0, np.uint8),
    np.empty(0, np.int64),
    np.empty(0, np.int64),
    np.empty(0, np.int64),
    np.empty(0, np.float64),
    np.empty(0, np.uint16),
)
