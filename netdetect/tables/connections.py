"""The connection table: one CONN_DTYPE row per TCP connection or UDP flow, and its canonical order."""

from __future__ import annotations

import numpy as np

from netdetect.model import CONN_DTYPE

_CONN_COLUMNS: tuple[str, ...] = CONN_DTYPE.names or ()

# Idle time after which the flow tracker closes a connection (Zeek's inactivity timeouts): a
# connection whose last packet is closer than this to the end of its capture was still open.
TCP_IDLE_S = 300.0  # Zeek tcp_inactivity_timeout
UDP_IDLE_S = 60.0  # Zeek udp_inactivity_timeout
OTHER_IDLE_S = 60.0


def idle_timeout(proto: np.ndarray) -> np.ndarray:
    """Per row, the idle timeout of its protocol."""
    return np.where(proto == 6, TCP_IDLE_S, np.where(proto == 17, UDP_IDLE_S, OTHER_IDLE_S))


def sort_connections(conns: np.ndarray) -> np.ndarray:
    """CONN_DTYPE rows by start time, equal times ordered by the other columns in turn.

    A total order: the result depends only on the rows, not on the order they closed in (which
    differs between the engines)."""
    conns = np.ascontiguousarray(conns, CONN_DTYPE)
    order = np.argsort(conns["ts"])
    ts = conns["ts"][order]
    same = (ts[1:] == ts[:-1]) | (np.isnan(ts[1:]) & np.isnan(ts[:-1]))
    if same.any():
        # Only rows that share their start time need the full comparison; the bits of ts come
        # last, for times that compare equal but differ (-0.0 and 0.0, NaN payloads).
        tied = np.zeros(len(conns), bool)
        tied[1:] = same
        tied[:-1] |= same
        rows = order[tied]
        sub = conns[rows]
        keys = [sub["ts"].view(np.uint64)] + [sub[name] for name in reversed(_CONN_COLUMNS)]
        order[tied] = rows[np.lexsort(keys)]
    # Whole rows as opaque items: a gather of the packed structured rows is ten times slower.
    return conns.view(np.dtype((np.void, CONN_DTYPE.itemsize))).take(order).view(CONN_DTYPE)
