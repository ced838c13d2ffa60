"""Connection tracking over packet batches, with state that can be saved and restored.

Packets are keyed by a 64-bit hash of their unordered 5-tuple. Within a batch, packets of one
key are split into connections at idle gaps (Zeek's inactivity timeouts) and at a fresh SYN after
a FIN/RST; completed connections leave as numpy rows (CONN_DTYPE). The last connection of each
key stays open, continued by the next batch and expired when idle, so memory holds only live
flows and the tracker works the same on a file or on a sensor's stream.

Two engines give identical results: `FlowTracker()` is the compiled one (netdetect/_flows.c: each
packet against a hash table of open connections) when it is built and `netdetect.native` is switched
on, else the numpy one. `ReferenceFlowTracker()` always runs numpy (sort by key, split runs, merge with
a key-sorted state array); `NativeFlowTracker()` insists on C. Both save
their open connections as the same key-sorted STATE_DTYPE array, so a saved state restores into
either, and `take()` orders rows totally (start time, then every other column), so the two agree
row for row whatever order connections closed in.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from types import ModuleType

import numpy as np

from netdetect.arrays import hash_columns
from netdetect.decode.headers import Headers, addr_bytes
from netdetect.model import CONN_DTYPE
from netdetect.native import built, column, load
from netdetect.tables.connections import sort_connections

TCP_IDLE_S = 300.0  # Zeek tcp_inactivity_timeout
UDP_IDLE_S = 60.0  # Zeek udp_inactivity_timeout
OTHER_IDLE_S = 60.0

_FIN, _SYN, _RST, _ACK = 0x01, 0x02, 0x04, 0x10

# Open-connection state: one row per live key, sorted by key.
STATE_DTYPE = np.dtype(
    [
        ("key", "u8"),
        ("ts", "f8"),
        ("end_ts", "f8"),
        ("a_hi", "u8"),
        ("a_lo", "u8"),
        ("a_port", "u2"),
        ("b_hi", "u8"),
        ("b_lo", "u8"),
        ("b_port", "u2"),
        ("proto", "u1"),
        ("client_is_a", "?"),
        ("finrst", "?"),
        ("bytes_ab", "i8"),
        ("bytes_ba", "i8"),
        ("pk_ab", "i8"),
        ("pk_ba", "i8"),
    ]
)


def canonical(h: Headers) -> tuple[np.ndarray, ...]:
    """Order the two endpoints so both directions of a flow share one key.

    Returns (key, from_b, a..., b...)."""
    s = (h.src_hi, h.src_lo, h.sport)
    d = (h.dst_hi, h.dst_lo, h.dport)
    from_b = (s[0] > d[0]) | ((s[0] == d[0]) & ((s[1] > d[1]) | ((s[1] == d[1]) & (s[2] > d[2]))))
    a = [np.where(from_b, dv, sv) for sv, dv in zip(s, d, strict=True)]
    b = [np.where(from_b, sv, dv) for sv, dv in zip(s, d, strict=True)]
    key = hash_columns(h.proto, a[0], a[1], a[2], b[0], b[1], b[2])
    return key, from_b, a[0], a[1], a[2], b[0], b[1], b[2]


def _idle(proto: np.ndarray) -> np.ndarray:
    return np.where(proto == 6, TCP_IDLE_S, np.where(proto == 17, UDP_IDLE_S, OTHER_IDLE_S))


@dataclass
class TrackerStats:
    packets: int = 0
    connections: int = 0
    shed: int = 0  # open flows dropped because the table was full (counted, never silent)


class FlowTracker:
    """Turns batches of decoded headers into connection rows; the open ones may be saved and restored.

    `FlowTracker(max_open)` makes a NativeFlowTracker when the C engine is built and the compiled core
    is switched on (`netdetect.native`), else a ReferenceFlowTracker."""

    max_open: int
    stats: TrackerStats

    def __new__(cls, max_open: int = 2_000_000) -> FlowTracker:
        if cls is FlowTracker:
            cls = NativeFlowTracker if load("netdetect._flows") is not None else ReferenceFlowTracker
        return super().__new__(cls)

    def add(self, h: Headers) -> None:
        raise NotImplementedError

    def expire(self, now: float) -> None:
        """Close connections idle longer than their timeout at time `now` (sensor mode: on a clock)."""
        raise NotImplementedError

    def flush(self) -> None:
        """Close every open connection (end of capture)."""
        raise NotImplementedError

    @property
    def open_flows(self) -> int:
        """How many connections are open."""
        raise NotImplementedError

    @property
    def state(self) -> np.ndarray:
        """The open connections: STATE_DTYPE rows sorted by key."""
        raise NotImplementedError

    @property
    def completed_chunks(self) -> int:
        """How many chunks of completed connections wait for `take()`."""
        raise NotImplementedError

    def take(self) -> np.ndarray:
        """Completed connections since the last call, as CONN_DTYPE rows sorted by `sort_connections`."""
        return sort_connections(self._take_rows())

    def save_state(self) -> dict[str, np.ndarray]:
        return {
            "state": self.state.copy(),
            "stats": np.array([self.stats.packets, self.stats.connections, self.stats.shed], np.int64),
        }

    def load_state(self, saved: dict[str, np.ndarray]) -> None:
        self._restore(saved["state"].astype(STATE_DTYPE))
        p, c, s = (int(x) for x in saved["stats"])
        self.stats = TrackerStats(p, c, s)

    def _take_rows(self) -> np.ndarray:
        raise NotImplementedError

    def _restore(self, state: np.ndarray) -> None:
        raise NotImplementedError


class ReferenceFlowTracker(FlowTracker):
    """The numpy engine: each batch sorted by key, split into runs, merged with a key-sorted state."""

    def __init__(self, max_open: int = 2_000_000) -> None:
        self._state = np.zeros(0, STATE_DTYPE)
        self.max_open = max_open
        self.stats = TrackerStats()
        self._done: list[np.ndarray] = []

    @property
    def state(self) -> np.ndarray:
        return self._state

    @state.setter
    def state(self, value: np.ndarray) -> None:
        self._state = value

    @property
    def open_flows(self) -> int:
        return len(self._state)

    # --- public -------------------------------------------------------------------------
    def add(self, h: Headers) -> None:
        if not len(h):
            return
        self.stats.packets += len(h)
        key, from_b, a_hi, a_lo, a_port, b_hi, b_lo, b_port = canonical(h)
        order = np.argsort(key, kind="stable")
        key = key[order]
        ts = h.ts[order]
        from_b = from_b[order]
        flags = h.tcp_flags[order]
        proto = h.proto[order]
        size = h.ip_len[order]
        n = len(key)

        run_start = np.ones(n, bool)
        run_start[1:] = key[1:] != key[:-1]
        gap = np.zeros(n)
        gap[1:] = ts[1:] - ts[:-1]
        split = ~run_start & (gap > _idle(proto))
        # A fresh SYN after a FIN or RST on the same 5-tuple is a new connection (port reuse).
        pure_syn = (proto == 6) & ((flags & (_SYN | _ACK)) == _SYN)
        finrst = (proto == 6) & ((flags & (_FIN | _RST)) != 0)
        if pure_syn.any() and finrst.any():
            cum = np.concatenate(([0], np.cumsum(finrst)))
            run_pos = np.maximum.accumulate(np.where(run_start, np.arange(n), 0))
            syn_idx = np.flatnonzero(pure_syn & ~run_start)
            prev_syn = np.maximum.accumulate(np.where(pure_syn, np.arange(n), 0))
            # previous pure SYN strictly before i within the run, else the run start
            before = np.concatenate(([0], prev_syn[:-1]))[syn_idx]
            anchor = np.maximum(before, run_pos[syn_idx])
            split[syn_idx] |= (cum[syn_idx] - cum[anchor]) > 0
        seg_start_mask = run_start | split
        starts = np.flatnonzero(seg_start_mask)
        seg_id = np.cumsum(seg_start_mask) - 1
        ends = np.concatenate((starts[1:], [n])) - 1

        ab = ~from_b
        segs = np.zeros(len(starts), STATE_DTYPE)
        segs["key"] = key[starts]
        segs["ts"] = ts[starts]
        segs["end_ts"] = ts[ends]
        o = order[starts]
        fb = from_b[starts]
        segs["a_hi"] = np.where(fb, h.dst_hi[o], h.src_hi[o])
        segs["a_lo"] = np.where(fb, h.dst_lo[o], h.src_lo[o])
        segs["a_port"] = np.where(fb, h.dport[o], h.sport[o])
        segs["b_hi"] = np.where(fb, h.src_hi[o], h.dst_hi[o])
        segs["b_lo"] = np.where(fb, h.src_lo[o], h.dst_lo[o])
        segs["b_port"] = np.where(fb, h.sport[o], h.dport[o])
        segs["proto"] = proto[starts]
        segs["client_is_a"] = _client_is_sender(flags[starts], h.sport[o], h.dport[o]) ^ fb
        nseg = len(starts)
        segs["bytes_ab"] = np.bincount(seg_id, weights=size * ab, minlength=nseg).astype(np.int64)
        segs["bytes_ba"] = np.bincount(seg_id, weights=size * ~ab, minlength=nseg).astype(np.int64)
        segs["pk_ab"] = np.bincount(seg_id, weights=ab, minlength=nseg).astype(np.int64)
        segs["pk_ba"] = np.bincount(seg_id, weights=~ab, minlength=nseg).astype(np.int64)
        segs["finrst"] = np.bincount(seg_id, weights=finrst, minlength=nseg) > 0

        first_of_run = run_start[starts]
        last_of_run = np.ones(nseg, bool)
        last_of_run[:-1] = first_of_run[1:]
        first_is_syn = pure_syn[starts]
        self._merge(segs, first_of_run, last_of_run, first_is_syn)
        self._limit()

    def expire(self, now: float) -> None:
        st = self.state
        if not len(st):
            return
        idle = now - st["end_ts"] > _idle(st["proto"])
        if idle.any():
            self._emit(st[idle])
            self.state = st[~idle]

    def flush(self) -> None:
        if len(self.state):
            self._emit(self.state)
        self.state = np.zeros(0, STATE_DTYPE)

    @property
    def completed_chunks(self) -> int:
        return len(self._done)

    def _take_rows(self) -> np.ndarray:
        if not self._done:
            return np.zeros(0, CONN_DTYPE)
        out = np.concatenate(self._done)
        self._done = []
        return out

    def _restore(self, state: np.ndarray) -> None:
        self.state = state

    # --- internals ----------------------------------------------------------------------
    def _merge(
        self, segs: np.ndarray, first_of_run: np.ndarray, last_of_run: np.ndarray, first_is_syn: np.ndarray
    ) -> None:
        st = self.state
        keep_state = st
        if len(st):
            # Column gathers rather than whole packed rows: only heads whose key is open are touched.
            heads = np.flatnonzero(first_of_run)
            head_keys = segs["key"][heads]
            st_key = st["key"]
            pos = np.minimum(np.searchsorted(st_key, head_keys), len(st) - 1)
            found = st_key[pos] == head_keys
            at, fh = pos[found], heads[found]
            cont = (segs["ts"][fh] - st["end_ts"][at] <= _idle(st["proto"][at])) & ~(
                first_is_syn[fh] & st["finrst"][at]
            )
            # Continuing segments absorb the open connection's counters and identity.
            ci, co = fh[cont], at[cont]
            for col in ("bytes_ab", "bytes_ba", "pk_ab", "pk_ba"):
                segs[col][ci] += st[col][co]
            segs["finrst"][ci] |= st["finrst"][co]
            segs["ts"][ci] = st["ts"][co]
            segs["client_is_a"][ci] = st["client_is_a"][co]
            # Open connections not continued by this batch but replaced by a new one are closed.
            self._emit(st[at[~cont]])
            if len(at):
                touched = np.zeros(len(st), bool)
                touched[at] = True
                keep_state = st[~touched]
        self._emit(segs[~last_of_run])
        new_open = segs[last_of_run]
        # Both are sorted by key and share none (an open key met again was taken out above): insert.
        self.state = np.insert(keep_state, np.searchsorted(keep_state["key"], new_open["key"]), new_open)

    def _limit(self) -> None:
        """Bound memory under floods: shed the longest-idle open flows past max_open (counted)."""
        over = len(self.state) - self.max_open
        if over > 0:
            idx = np.argsort(self.state["end_ts"], kind="stable")[:over]
            mask = np.zeros(len(self.state), bool)
            mask[idx] = True
            self._emit(self.state[mask])
            self.state = self.state[~mask]
            self.stats.shed += over

    def _emit(self, rows: np.ndarray) -> None:
        if not len(rows):
            return
        ca = rows["client_is_a"]
        out = np.zeros(len(rows), CONN_DTYPE)
        out["ts"] = rows["ts"]
        out["end_ts"] = rows["end_ts"]
        a = addr_bytes(rows["a_hi"], rows["a_lo"])
        b = addr_bytes(rows["b_hi"], rows["b_lo"])
        out["client"] = np.where(ca, a, b)
        out["server"] = np.where(ca, b, a)
        out["client_port"] = np.where(ca, rows["a_port"], rows["b_port"])
        out["server_port"] = np.where(ca, rows["b_port"], rows["a_port"])
        out["proto"] = rows["proto"]
        out["bytes_out"] = np.where(ca, rows["bytes_ab"], rows["bytes_ba"])
        out["bytes_in"] = np.where(ca, rows["bytes_ba"], rows["bytes_ab"])
        out["packets_out"] = np.where(ca, rows["pk_ab"], rows["pk_ba"])
        out["packets_in"] = np.where(ca, rows["pk_ba"], rows["pk_ab"])
        self.stats.connections += len(rows)
        self._done.append(out)


class NativeFlowTracker(FlowTracker):
    """The C engine (netdetect/_flows.c): each packet in batch order against a hash table of open
    connections; closed ones accumulate in C as packed CONN_DTYPE rows until `take()`."""

    def __init__(self, max_open: int = 2_000_000) -> None:
        _native = built("netdetect._flows")
        if _native is None:
            raise RuntimeError("the compiled flow engine (netdetect._flows) is not available")
        self.max_open = max_open
        self.stats = TrackerStats()
        # A random seed places keys in the table, so crafted 5-tuples cannot aim at one probe run.
        self._tracker = _native.Tracker(seed=int.from_bytes(os.urandom(8), "little"))
        self._chunks = 0

    def add(self, h: Headers) -> None:
        if not len(h):
            return
        self.stats.packets += len(h)
        self._closed(
            self._tracker.add(
                column(h.ts, np.float64),
                column(h.src_hi, np.uint64),
                column(h.src_lo, np.uint64),
                column(h.dst_hi, np.uint64),
                column(h.dst_lo, np.uint64),
                column(h.proto, np.uint8),
                column(h.sport, np.int64),
                column(h.dport, np.int64),
                column(h.tcp_flags, np.int64),
                column(h.ip_len, np.int64),
            )
        )
        over = self._tracker.open - self.max_open
        if over > 0:  # as the reference: the longest-idle flows past max_open, counted
            self._closed(self._tracker.shed(over))
            self.stats.shed += over

    def expire(self, now: float) -> None:
        self._closed(self._tracker.expire(float(now)))

    def flush(self) -> None:
        self._closed(self._tracker.flush())

    @property
    def open_flows(self) -> int:
        return self._tracker.open

    @property
    def state(self) -> np.ndarray:
        out = np.zeros(self._tracker.open, STATE_DTYPE)
        self._tracker.export_state(out)
        return out[np.argsort(out["key"])]

    @property
    def completed_chunks(self) -> int:
        return self._chunks

    def _take_rows(self) -> np.ndarray:
        self._chunks = 0
        return np.frombuffer(self._tracker.take(), CONN_DTYPE)

    def _restore(self, state: np.ndarray) -> None:
        self._tracker.import_state(np.ascontiguousarray(state))

    def _closed(self, rows: int) -> None:
        if rows:
            self.stats.connections += rows
            self._chunks += 1  # one chunk per call that closed something, as the reference counts


def _layout(dtype: np.dtype) -> tuple[list[tuple[str, int]], int]:
    """(name, offset) of each field and the row size, as the C module reports its own."""
    return [(name, offset) for name, (_, offset, *_) in (dtype.fields or {}).items()], dtype.itemsize


def layout_problem(module: ModuleType) -> str | None:
    """A module built from a .c file that disagrees with the dtypes here would write garbage rows."""
    expected = (_layout(CONN_DTYPE), _layout(STATE_DTYPE))
    if expected != (module.CONN_LAYOUT, module.STATE_LAYOUT):
        return "CONN_DTYPE or STATE_DTYPE rows differ"
    return None


def _client_is_sender(flags: np.ndarray, sport: np.ndarray, dport: np.ndarray) -> np.ndarray:
    """Who opened the connection, judged from its first packet seen (as Zeek does without a handshake)."""
    syn = (flags & (_SYN | _ACK)) == _SYN
    synack = (flags & (_SYN | _ACK)) == (_SYN | _ACK)
    by_port = ~((sport < 1024) & (dport >= 1024))
    return np.where(syn, True, np.where(synack, False, by_port))
