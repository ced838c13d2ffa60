"""Extraction: capture batches -> connection and event tables, usable on a file or a stream.

`Extractor.feed()` takes one PacketBatch at a time and keeps only bounded state (open flows,
incomplete handshakes), so the same object serves a whole file, a rotated set or a sensor's
stream. Its result, `Extraction`, is the table hand-off to scoring.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import numpy as np

from netdetect import native
from netdetect.capture.batch import PacketBatch
from netdetect.decode.extract import EventExtractor
from netdetect.decode.headers import decode_headers
from netdetect.flows import FlowTracker
from netdetect.tables.connections import sort_connections
from netdetect.tables.extraction import Extraction
from netdetect.tables.marks import sort_marks


class Extractor:
    def __init__(self) -> None:
        self.flows = FlowTracker()
        self.events = EventExtractor()
        self.packets = 0
        self.bytes = 0
        self.first_ts: float | None = None
        self.last_ts: float | None = None
        self.errors: dict[str, int] = {}
        self._conns: list[np.ndarray] = []
        self._marks: list[np.ndarray] = []

    def feed(self, batch: PacketBatch) -> None:
        if not len(batch):
            return
        self.packets += len(batch)
        self.bytes += int(batch.wirelen.sum())
        lo, hi = float(batch.ts.min()), float(batch.ts.max())
        self.first_ts = lo if self.first_ts is None else min(self.first_ts, lo)
        self.last_ts = hi if self.last_ts is None else max(self.last_ts, hi)
        h = decode_headers(batch)
        for k, v in h.counts.items():
            self.errors[k] = self.errors.get(k, 0) + v
        # Non-first fragments carry no ports: they join the flow table only through reassembly.
        whole = ~(h.fragment & (h.frag_off > 0))
        self.flows.add(_subset(h, whole) if not whole.all() else h)
        self.events.process(batch, h)
        if self.flows.open_flows > 50_000:
            self.flows.expire(hi)
        if self.flows.completed_chunks > 64:  # concatenate now and then, not per batch
            self._conns.append(self.flows.take())
            self._marks.append(self.flows.take_marks())

    def finish(self, captures: Sequence[str] = ()) -> Extraction:
        self.flows.flush()
        self._conns.append(self.flows.take())
        self._marks.append(self.flows.take_marks())
        # Each chunk is sorted already; a single one needs no second pass.
        conns = self._conns[0] if len(self._conns) == 1 else sort_connections(np.concatenate(self._conns))
        marks = self._marks[0] if len(self._marks) == 1 else sort_marks(np.concatenate(self._marks))
        errors = dict(self.errors)
        for k, v in self.events.out.errors.items():
            errors[k] = errors.get(k, 0) + v
        errors.pop("non_ip", None)  # ARP, LLDP ... are not decode errors
        if self.flows.stats.shed:
            errors["flows.shed"] = self.flows.stats.shed
        # A compiled module refused by its layout check: this extraction ran those stages on the reference
        # path (slower, same results); counted and said here as well as warned on stderr when it was loaded.
        refused = native.problems()
        if refused:
            errors["native.layout_mismatch"] = len(refused)
        if self.flows.stats.marks_shed:
            errors["flows.marks_shed"] = self.flows.stats.marks_shed
        self.events.out.finish()
        return Extraction(
            conns,
            self.events.out,
            list(captures),
            self.packets,
            self.bytes,
            self.first_ts,
            self.last_ts,
            errors,
            [f"compiled core not used: {name}: {problem}" for name, problem in refused.items()],
            spans=[(self.first_ts, self.last_ts)]
            if self.first_ts is not None and self.last_ts is not None
            else [],
            marks=marks,
        )


def _subset(h, mask: np.ndarray):
    from dataclasses import fields, replace

    cols = {f.name: getattr(h, f.name)[mask] for f in fields(h) if f.name != "counts"}
    return replace(h, **cols)


@contextmanager
def fewer_collections(gen0: int = 20_000) -> Iterator[None]:
    """Run the cyclic GC less often while extracting: a batch makes ~10^4 short-lived event objects
    and no cycles, and the default threshold (700) spent ~5% of extraction in collections."""
    before = gc.get_threshold()
    gc.set_threshold(max(gen0, before[0]), *before[1:])
    try:
        yield
    finally:
        gc.set_threshold(*before)


def extract_files(paths: Sequence[str], progress: Callable[[int], None] | None = None) -> Extraction:
    """Read one stream of captures (a rotated set, or overlapping files merged in time order)."""
    from netdetect.capture.inputs import iter_batches

    ex = Extractor()
    stats: dict = {}
    done = 0
    with fewer_collections():
        for batch in iter_batches(list(paths), stats=stats):
            ex.feed(batch)
            if progress is not None:
                done += int(batch.caplen.sum()) + 16 * len(batch)
                progress(done)
    warnings: list[str] = []
    for name, st in stats.items():
        warnings += [f"{name}: {w}" for w in getattr(st, "warnings", [])]
        for key, value in (
            ("capture.truncated_records", st.truncated_records),
            ("capture.bad_records", st.bad_records),
        ):
            if value:
                ex.errors[key] = ex.errors.get(key, 0) + value
    result = ex.finish(list(stats) or list(paths))
    result.decode_errors = {k: v for k, v in result.decode_errors.items() if v}
    result.warnings += warnings
    return result


def extract_parallel(
    groups: Sequence[Sequence[str]], jobs: int, progress: Callable[[int], None] | None = None
) -> Extraction:
    """Extract independent captures (or rotated sets) on several cores and merge the tables."""
    if jobs <= 1 or len(groups) <= 1:
        return Extraction.merge([extract_files(g, progress if len(groups) == 1 else None) for g in groups])
    from concurrent.futures import ProcessPoolExecutor  # only here: its import costs ~12 ms of every scan

    # This process extracts the first group itself while the workers take the rest: one process fewer to
    # start and one part less to pickle back. The parts are merged in input order, as with one job.
    workers = min(jobs, len(groups), os.cpu_count() or 1) - 1
    if workers < 1:
        return Extraction.merge([extract_files(g) for g in groups])
    with ProcessPoolExecutor(max_workers=workers) as pool:
        rest = pool.map(extract_files, groups[1:])
        first = extract_files(groups[0])
        parts = [first, *rest]
    return Extraction.merge(parts)
