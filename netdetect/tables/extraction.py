"""Extraction: the connection table and the event tables of one scan, plus what was read to make them.

The hand-off from decoding to analysis. Nothing here imports decoding code, so analysis, a sensor
window or a Dask worker can hold tables without loading the packet path.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from netdetect.model import CONN_DTYPE, DnsEvent, HttpEvent, TlsEvent
from netdetect.tables.connections import sort_connections
from netdetect.tables.events import DnsTable, EventSet, HttpTable, TlsTable
from netdetect.tables.marks import MARK_DTYPE, sort_marks


@dataclass
class Extraction:
    conns: np.ndarray  # CONN_DTYPE rows sorted by start time
    events: EventSet  # DNS, TLS/QUIC and HTTP tables sorted by time
    captures: list[str] = field(default_factory=list)
    packets: int = 0
    bytes: int = 0
    first_ts: float | None = None
    last_ts: float | None = None
    decode_errors: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    # (first, last) packet time of each capture stream read: what the inputs cover, gaps between
    # captures left out (a beacon's evidence is measured on covered time only).
    spans: list[tuple[float, float]] = field(default_factory=list)
    # Activity marks (MARK_DTYPE, sorted by `sort_marks`): when each side of a connection started
    # sending after an idle gap, for the connections with enough of them (netdetect/flows.py).
    marks: np.ndarray = field(default_factory=lambda: np.zeros(0, MARK_DTYPE))

    @property
    def dns(self) -> DnsTable:
        return self.events.dns

    @property
    def tls(self) -> TlsTable:
        return self.events.tls

    @property
    def http(self) -> HttpTable:
        return self.events.http

    def replace_events(
        self, dns: Sequence[DnsEvent], tls: Sequence[TlsEvent], http: Sequence[HttpEvent]
    ) -> None:
        """Events from another engine (tshark) in place of the native ones."""
        self.events = EventSet.of(dns, tls, http)
        self.events.sort()

    @staticmethod
    def merge(parts: Sequence[Extraction]) -> Extraction:
        conns = np.concatenate([p.conns for p in parts]) if parts else np.zeros(0, CONN_DTYPE)
        conns = sort_connections(conns)
        marks = sort_marks(np.concatenate([p.marks for p in parts])) if parts else np.zeros(0, MARK_DTYPE)
        if len(parts) == 1:
            out = Extraction(conns, parts[0].events, marks=marks)
        else:
            out = Extraction(conns, EventSet(), marks=marks)
            for p in parts:
                out.events.extend(p.events)
        for p in parts:
            out.captures += p.captures
            out.packets += p.packets
            out.bytes += p.bytes
            out.warnings += p.warnings
            out.spans += p.spans
            for k, v in p.decode_errors.items():
                out.decode_errors[k] = out.decode_errors.get(k, 0) + v
            if p.first_ts is not None:
                out.first_ts = p.first_ts if out.first_ts is None else min(out.first_ts, p.first_ts)
            if p.last_ts is not None:
                out.last_ts = p.last_ts if out.last_ts is None else max(out.last_ts, p.last_ts)
        out.events.sort()
        return out
