"""Hand-made tables for detector tests: connection rows and events -> an Extraction -> a context."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from netdetect.addr import to_text
from netdetect.analysis.context import AnalysisContext, AnalysisOptions, build_context
from netdetect.model import CONN_DTYPE, HttpEvent, TlsEvent
from netdetect.tables import addr16
from netdetect.tables.connections import sort_connections
from netdetect.tables.events import EventSet
from netdetect.tables.extraction import Extraction


def conn_rows(
    ts: Sequence[float] | np.ndarray,
    client: str,
    server: str | Sequence[str],
    *,
    server_port: int | Sequence[int] = 443,
    client_port: int | Sequence[int] | None = None,
    bytes_out: int = 500,
    bytes_in: int = 4000,
    answered: bool = True,
) -> np.ndarray:
    """One CONN_DTYPE row per start time; `server`, ports may be one value or one per row."""
    ts = np.asarray(ts, np.float64)
    rows = np.zeros(len(ts), CONN_DTYPE)
    rows["ts"] = ts
    rows["end_ts"] = ts + 0.5
    rows["client"] = addr16(client)
    rows["server"] = [addr16(s) for s in server] if not isinstance(server, str) else addr16(server)
    rows["client_port"] = client_port if client_port is not None else 20000 + np.arange(len(ts)) % 40000
    rows["server_port"] = server_port
    rows["proto"] = 6
    rows["bytes_out"] = bytes_out
    rows["packets_out"] = 3
    rows["bytes_in"] = bytes_in if answered else 0
    rows["packets_in"] = 3 if answered else 0
    return rows


def tls_events(rows: np.ndarray, *, ja3_hash: str | None, ja4: str | None = None, sni=None) -> list[TlsEvent]:
    """A ClientHello on each connection row, shortly after its start."""
    return [
        TlsEvent(
            float(r["ts"]) + 0.05,
            to_text(r["client"]),
            to_text(r["server"]),
            int(r["client_port"]),
            int(r["server_port"]),
            "tcp",
            sni,
            ja3=None if ja3_hash is None else "771,4865-4866,0-23,29,0",
            ja3_hash=ja3_hash,
            ja4=ja4,
        )
        for r in rows
    ]


def http_events(
    rows: np.ndarray, method: str, uris: Sequence[str], user_agent: str | None
) -> list[HttpEvent]:
    return [
        HttpEvent(
            float(r["ts"]) + 0.05,
            to_text(r["client"]),
            to_text(r["server"]),
            int(r["client_port"]),
            int(r["server_port"]),
            method,
            None,
            uri,
            user_agent,
        )
        for r, uri in zip(rows, uris, strict=True)
    ]


def context(
    parts: Sequence[np.ndarray],
    *,
    tls: Sequence[TlsEvent] = (),
    http: Sequence[HttpEvent] = (),
    window: tuple[float, float] | None = None,
    spans: Sequence[tuple[float, float]] | None = None,
    **options,
) -> AnalysisContext:
    """A context over these connection rows and events; `spans`: what each capture covered (default
    one span, the rows' own)."""
    conns = sort_connections(np.concatenate(parts)) if parts else np.zeros(0, CONN_DTYPE)
    events = EventSet.of((), tls, http)
    events.sort()
    ex = Extraction(conns, events)
    if window is None and len(conns):
        window = (float(conns["ts"].min()), float(conns["end_ts"].max()))
    if window is not None:
        ex.first_ts, ex.last_ts = window
        ex.spans = list(spans) if spans is not None else [window]
    return build_context(ex, AnalysisOptions(**options))
