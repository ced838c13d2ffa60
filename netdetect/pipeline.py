"""Extraction: capture batches -> connection table + event lists, usable on a file or a stream.

`Extractor.feed()` takes one PacketBatch at a time and keeps only bounded state (open flows,
incomplete handshakes), so the same object serves a whole file, a rotated set or a sensor's
stream. Its result, `Extraction`, is the table hand-off to scoring.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from netdetect.capture.batch import PacketBatch
from netdetect.decode.extract import EventExtractor
from netdetect.decode.headers import SUPPORTED_LINKTYPES, decode_headers
from netdetect.flows import FlowTracker
from netdetect.model import CONN_DTYPE, DnsEvent, HttpEvent, TlsEvent


@dataclass
class Extraction:
    conns: np.ndarray  # CONN_DTYPE rows sorted by start time
    dns: list[DnsEvent]
    tls: list[TlsEvent]
    http: list[HttpEvent]
    captures: list[str] = field(default_factory=list)
    packets: int = 0
    bytes: int = 0
    first_ts: float | None = None
    last_ts: float | None = None
    decode_errors: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @staticmethod
    def merge(parts: Sequence[Extraction]) -> Extraction:
        conns = np.concatenate([p.conns for p in parts]) if parts else np.zeros(0, CONN_DTYPE)
        conns = conns[np.argsort(conns["ts"], kind="stable")]
        out = Extraction(conns, [], [], [])
        for p in parts:
            out.dns += p.dns
            out.tls += p.tls
            out.http += p.http
            out.captures += p.captures
            out.packets += p.packets
            out.bytes += p.bytes
            out.warnings += p.warnings
            for k, v in p.decode_errors.items():
                out.decode_errors[k] = out.decode_errors.get(k, 0) + v
            if p.first_ts is not None:
                out.first_ts = p.first_ts if out.first_ts is None else min(out.first_ts, p.first_ts)
            if p.last_ts is not None:
                out.last_ts = p.last_ts if out.last_ts is None else max(out.last_ts, p.last_ts)
        for events in (out.dns, out.tls, out.http):
            events.sort(key=lambda e: e.ts)
        return out


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
        if len(self.flows.state) > 50_000:
            self.flows.expire(hi)
        if len(self.flows._done) > 64:
            self._conns.append(self.flows.take())

    def finish(self, captures: Sequence[str] = ()) -> Extraction:
        self.flows.flush()
        self._conns.append(self.flows.take())
        conns = np.concatenate(self._conns)
        conns = conns[np.argsort(conns["ts"], kind="stable")]
        errors = dict(self.errors)
        for k, v in self.events.out.errors.items():
            errors[k] = errors.get(k, 0) + v
        errors.pop("non_ip", None)  # ARP, LLDP ... are not decode errors
        if self.flows.stats.shed:
            errors["flows.shed"] = self.flows.stats.shed
        ev = self.events.out
        return Extraction(conns, ev.dns, ev.tls, ev.http, list(captures), self.packets, self.bytes,
                          self.first_ts, self.last_ts, errors)


def _subset(h, mask: np.ndarray):
    from dataclasses import fields, replace

    cols = {f.name: getattr(h, f.name)[mask] for f in fields(h) if f.name != "counts"}
    return replace(h, **cols)


def extract_files(paths: Sequence[str], progress: Callable[[int], None] | None = None) -> Extraction:
    """Read captures in time order (a rotated set is one stream) into one Extraction."""
    from netdetect.capture import files as reader

    ex = Extractor()
    warnings: list[str] = []
    names: list[str] = []
    done_bytes = 0
    for path in paths:
        with reader.open_capture(path) as cap:
            names.append(cap.name)
            _check_linktypes(cap, warnings)
            for batch in cap.batches():
                ex.feed(batch)
                if progress is not None:
                    progress(done_bytes + cap.stats.bytes_read)
            done_bytes += cap.stats.bytes_read
            warnings += _read_warnings(cap)
            ex.errors["capture.truncated_records"] = ex.errors.get("capture.truncated_records", 0) + \
                cap.stats.truncated_records
            ex.errors["capture.bad_records"] = ex.errors.get("capture.bad_records", 0) + cap.stats.bad_records
    result = ex.finish(names)
    result.decode_errors = {k: v for k, v in result.decode_errors.items() if v}
    result.warnings += warnings
    return result


def _check_linktypes(cap, warnings: list[str]) -> None:
    for lt in getattr(cap, "linktypes", ()) or ():
        if int(lt) not in SUPPORTED_LINKTYPES:
            warnings.append(f"{cap.name}: link type {lt} is not decoded; its packets are counted as errors")


def _read_warnings(cap) -> list[str]:
    return [f"{cap.name}: {w}" for w in getattr(cap.stats, "warnings", [])]


def extract_parallel(groups: Sequence[Sequence[str]], jobs: int,
                     progress: Callable[[int], None] | None = None) -> Extraction:
    """Extract independent captures (or rotated sets) on several cores and merge the tables."""
    if jobs <= 1 or len(groups) <= 1:
        return Extraction.merge([extract_files(g, progress) for g in groups])
    with ProcessPoolExecutor(max_workers=min(jobs, len(groups), os.cpu_count() or 1)) as pool:
        parts = list(pool.map(extract_files, groups))
    return Extraction.merge(parts)
