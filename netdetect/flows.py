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

Activity marks (`take_marks()`, MARK_DTYPE rows linked to connections by uid): both engines note,
per connection and per side, when that side starts sending again after an idle gap, so periodic
check-ins inside one long connection (RAT heartbeats, WebSocket or HTTP/2 pings) can be timed even
though the connection starts only once. A mark is a packet of that side with at least
MARK_MIN_PAYLOAD payload bytes more than MARK_GAP_S after the side's previous such packet; the
side's first payload is a mark. Pure ACKs and TCP keep-alive probes (0 or 1 byte) are neither marks
nor activity, so an idle pooled connection probed by its stack stays quiet, while a keep-alive an
application writes itself (a chat client's ping) counts. A connection keeps its latest
MAX_MARKS_PER_CONN marks (older ones are shed, counted in `stats.marks_shed`), and all open
connections together at most `max_held_marks` (see MAX_HELD_MARKS); when a connection closes, a
side's marks leave only if that side has MIN_SIDE_MARKS or more (fewer cannot be timed, and most
connections have one or two), which keeps the table small. The open connections' per-side last
payload time is in STATE_DTYPE and their marks in the saved state's "marks" rows (OPEN_MARK_DTYPE).
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
from netdetect.tables.connections import idle_timeout, sort_connections
from netdetect.tables.marks import MARK_DTYPE, MAX_MARKS_PER_CONN, sort_marks

MARK_GAP_S = 1.0  # a side silent longer than this that sends again makes a mark
MARK_MIN_PAYLOAD = 2  # payload bytes: pure ACKs (0) and TCP keep-alive probes (0 or 1) are not activity
MIN_SIDE_MARKS = 4  # a closed connection hands over a side's marks only from this many
# Marks all open connections may hold (~40 MB of rings at most): past it, after a batch, every
# connection keeps only its latest L marks, the largest L that fits (the longest rings give way first).
MAX_HELD_MARKS = 4_000_000

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
        ("last_payload_ab", "f8"),  # per side, its last payload time (-inf before any): the mark rule
        ("last_payload_ba", "f8"),
    ]
)

# Marks of open connections in saved state: per key, oldest first.
OPEN_MARK_DTYPE = np.dtype([("key", "u8"), ("ts", "f8"), ("from_b", "?")])


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
    return idle_timeout(proto)


@dataclass
class TrackerStats:
    packets: int = 0
    connections: int = 0
    shed: int = 0  # open flows dropped because the table was full (counted, never silent)
    marks_shed: int = 0  # activity marks dropped past MAX_MARKS_PER_CONN (counted, never silent)


class FlowTracker:
    """Turns batches of decoded headers into connection rows; the open ones may be saved and restored.

    `FlowTracker(max_open)` makes a NativeFlowTracker when the C engine is built and the compiled core
    is switched on (`netdetect.native`), else a ReferenceFlowTracker."""

    max_open: int
    stats: TrackerStats

    def __new__(cls, max_open: int = 2_000_000, max_held_marks: int = MAX_HELD_MARKS) -> FlowTracker:
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

    def take_marks(self) -> np.ndarray:
        """Activity marks of the connections completed since the last call, as MARK_DTYPE rows sorted
        by `sort_marks` (with `take()`: a mark's connection is in the same or an earlier take)."""
        return sort_marks(self._take_mark_rows())

    @property
    def open_marks(self) -> np.ndarray:
        """The open connections' marks: OPEN_MARK_DTYPE rows by key, each key's oldest first."""
        raise NotImplementedError

    def save_state(self) -> dict[str, np.ndarray]:
        st = self.stats
        return {
            "state": self.state.copy(),
            "stats": np.array([st.packets, st.connections, st.shed, st.marks_shed], np.int64),
            "marks": self.open_marks.copy(),
        }

    def load_state(self, saved: dict[str, np.ndarray]) -> None:
        counts = [int(x) for x in saved["stats"]] + [0]  # states saved before marks have three counts
        self.stats = TrackerStats(*counts[:4])
        marks = saved.get("marks")
        self._restore(
            saved["state"].astype(STATE_DTYPE),
            np.zeros(0, OPEN_MARK_DTYPE) if marks is None else np.asarray(marks).astype(OPEN_MARK_DTYPE),
        )

    def _take_rows(self) -> np.ndarray:
        raise NotImplementedError

    def _take_mark_rows(self) -> np.ndarray:
        raise NotImplementedError

    def _restore(self, state: np.ndarray, marks: np.ndarray) -> None:
        raise NotImplementedError


class ReferenceFlowTracker(FlowTracker):
    """The numpy engine: each batch sorted by key, split into runs, merged with a key-sorted state."""

    def __init__(self, max_open: int = 2_000_000, max_held_marks: int = MAX_HELD_MARKS) -> None:
        self._state = np.zeros(0, STATE_DTYPE)
        self._marks = np.zeros(0, OPEN_MARK_DTYPE)  # of open connections, by key, each oldest first
        self.max_open = max_open
        self.max_held_marks = max_held_marks
        self.stats = TrackerStats()
        self._done: list[np.ndarray] = []
        self._done_marks: list[np.ndarray] = []

    @property
    def state(self) -> np.ndarray:
        return self._state

    @state.setter
    def state(self, value: np.ndarray) -> None:
        self._state = value

    @property
    def open_flows(self) -> int:
        return len(self._state)

    @property
    def open_marks(self) -> np.ndarray:
        return self._marks

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
        continues, continued, met = self._continuations(segs, first_of_run, first_is_syn)
        payload = h.payload_len[order] >= MARK_MIN_PAYLOAD
        new_marks = self._mark(segs, continues, continued, seg_id, ts, from_b, payload)
        self._merge(segs, continues, continued, met, last_of_run, new_marks)
        self._trim_marks()
        self._limit()

    def expire(self, now: float) -> None:
        st = self.state
        if not len(st):
            return
        idle = now - st["end_ts"] > _idle(st["proto"])
        if idle.any():
            self._emit_open(st[idle])
            self.state = st[~idle]

    def flush(self) -> None:
        if len(self.state):
            self._emit_open(self.state)
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

    def _take_mark_rows(self) -> np.ndarray:
        out = np.concatenate(self._done_marks) if self._done_marks else np.zeros(0, MARK_DTYPE)
        self._done_marks = []
        return out

    def _restore(self, state: np.ndarray, marks: np.ndarray) -> None:
        self.state = state
        marks = marks[np.argsort(marks["key"], kind="stable")]
        pos = np.minimum(np.searchsorted(state["key"], marks["key"]), max(len(state) - 1, 0))
        known = (state["key"][pos] == marks["key"]) if len(state) else np.zeros(len(marks), bool)
        marks = marks[known]
        # as the C ring: a key's latest MAX_MARKS_PER_CONN (not counted: a saved ring holds no more)
        self._marks = marks[_rank_from_end(marks["key"]) < MAX_MARKS_PER_CONN]
        self._trim_marks()

    # --- internals ----------------------------------------------------------------------
    def _continuations(
        self, segs: np.ndarray, first_of_run: np.ndarray, first_is_syn: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Segments that continue an open connection, the state rows they continue, and every state
        row whose key the batch has; the open connections replaced by a new one are closed here."""
        st = self.state
        none = np.zeros(0, np.int64)
        if not len(st):
            return none, none, none
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
        # Open connections not continued by this batch but replaced by a new one are closed.
        self._emit_open(st[at[~cont]])
        return fh[cont], at[cont], at

    def _mark(
        self,
        segs: np.ndarray,
        continues: np.ndarray,
        continued: np.ndarray,
        seg_id: np.ndarray,
        ts: np.ndarray,
        from_b: np.ndarray,
        payload: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The batch's marks as (segment, ts, from_b) in batch order; sets the segments' last payload
        times (a continuing segment starts from its open connection's)."""
        nseg = len(segs)
        last = np.full(2 * nseg, -np.inf)  # per (segment, side): last payload time so far
        st = self.state
        last[2 * continues] = st["last_payload_ab"][continued]
        last[2 * continues + 1] = st["last_payload_ba"][continued]
        rows = np.flatnonzero(payload)
        side_group = seg_id[rows] * 2 + from_b[rows]
        by_group = np.argsort(side_group, kind="stable")
        rows, side_group = rows[by_group], side_group[by_group]
        t = ts[rows]
        first = np.ones(len(rows), bool)
        first[1:] = side_group[1:] != side_group[:-1]
        prev = np.empty(len(rows))
        prev[1:] = t[:-1]
        prev[first] = last[side_group[first]]
        with np.errstate(invalid="ignore"):  # inf - inf of hostile times: not a mark, as in C
            is_mark = t - prev > MARK_GAP_S
        final = np.ones(len(rows), bool)
        final[:-1] = first[1:]
        last[side_group[final]] = t[final]
        segs["last_payload_ab"] = last[0::2]
        segs["last_payload_ba"] = last[1::2]
        at = np.sort(rows[is_mark])  # batch order within a segment (the batch is stably sorted by key)
        return seg_id[at], ts[at], from_b[at]

    def _merge(
        self,
        segs: np.ndarray,
        continues: np.ndarray,
        continued: np.ndarray,
        met: np.ndarray,
        last_of_run: np.ndarray,
        new_marks: tuple[np.ndarray, np.ndarray, np.ndarray],
    ) -> None:
        st = self.state
        keep_state = st
        # Continuing segments absorb the open connection's counters, identity and marks.
        ci, co = continues, continued
        old_seg = np.zeros(0, np.int64)
        old_marks = np.zeros(0, OPEN_MARK_DTYPE)
        if len(st):
            for col in ("bytes_ab", "bytes_ba", "pk_ab", "pk_ba"):
                segs[col][ci] += st[col][co]
            segs["finrst"][ci] |= st["finrst"][co]
            segs["ts"][ci] = st["ts"][co]
            segs["client_is_a"][ci] = st["client_is_a"][co]
            row, old_marks = self._pop_open_marks(st["key"][co])
            old_seg = ci[row]
            if len(met):  # state rows met by this batch: continued here or closed by _continuations
                touched = np.zeros(len(st), bool)
                touched[met] = True
                keep_state = st[~touched]
        # Old marks first: a stable sort by segment keeps each connection's marks in time order.
        seg_of = np.concatenate((old_seg, new_marks[0]))
        order = np.argsort(seg_of, kind="stable")
        seg_of = seg_of[order]
        m_ts = np.concatenate((old_marks["ts"], new_marks[1]))[order]
        m_fb = np.concatenate((old_marks["from_b"], new_marks[2]))[order]
        keep = _rank_from_end(seg_of) < MAX_MARKS_PER_CONN
        self.stats.marks_shed += int((~keep).sum())
        seg_of, m_ts, m_fb = seg_of[keep], m_ts[keep], m_fb[keep]

        closed = np.flatnonzero(~last_of_run)
        in_closed = ~last_of_run[seg_of]
        self._emit(segs[closed], np.searchsorted(closed, seg_of[in_closed]), m_ts[in_closed], m_fb[in_closed])
        open_rows = np.flatnonzero(last_of_run)
        new_open = segs[open_rows]
        opened = np.zeros(int((~in_closed).sum()), OPEN_MARK_DTYPE)
        opened["key"] = segs["key"][seg_of[~in_closed]]
        opened["ts"] = m_ts[~in_closed]
        opened["from_b"] = m_fb[~in_closed]
        # Both are sorted by key and share none (an open key met again was taken out above): insert.
        self.state = np.insert(keep_state, np.searchsorted(keep_state["key"], new_open["key"]), new_open)
        self._marks = np.insert(self._marks, np.searchsorted(self._marks["key"], opened["key"]), opened)

    def _trim_marks(self) -> None:
        """Past max_held_marks, every open connection keeps its latest L marks (as _flows.c's trim_marks)."""
        om = self._marks
        if len(om) <= self.max_held_marks:
            return
        last = np.ones(len(om), bool)
        last[:-1] = om["key"][1:] != om["key"][:-1]
        lengths = np.diff(np.r_[-1, np.flatnonzero(last)])
        lo, hi = 0, MAX_MARKS_PER_CONN  # the largest L with sum(min(len, L)) <= budget
        while lo < hi:
            mid = lo + (hi - lo + 1) // 2
            lo, hi = (mid, hi) if np.minimum(lengths, mid).sum() <= self.max_held_marks else (lo, mid - 1)
        keep = _rank_from_end(om["key"]) < lo
        self.stats.marks_shed += int((~keep).sum())
        self._marks = om[keep]

    def _pop_open_marks(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Removes the open marks of these (distinct) keys: (index into `keys` per mark, the marks)."""
        om = self._marks
        if not len(om) or not len(keys):
            return np.zeros(0, np.int64), np.zeros(0, OPEN_MARK_DTYPE)
        # The few keys looked up in the many marks (sorted by key): each key's run of marks.
        lo = np.searchsorted(om["key"], keys, "left")
        hi = np.searchsorted(om["key"], keys, "right")
        counts = hi - lo
        if not counts.any():
            return np.zeros(0, np.int64), np.zeros(0, OPEN_MARK_DTYPE)
        order = np.argsort(lo, kind="stable")  # runs in table order, so the marks keep theirs
        counts = counts[order]
        at = np.repeat(lo[order], counts) + (
            np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
        )
        hit = np.zeros(len(om), bool)
        hit[at] = True
        self._marks = om[~hit]
        return np.repeat(order, counts), om[at]

    def _limit(self) -> None:
        """Bound memory under floods: shed the longest-idle open flows past max_open (counted)."""
        over = len(self.state) - self.max_open
        if over > 0:
            idx = np.argsort(self.state["end_ts"], kind="stable")[:over]
            mask = np.zeros(len(self.state), bool)
            mask[idx] = True
            self._emit_open(self.state[mask])
            self.state = self.state[~mask]
            self.stats.shed += over

    def _emit_open(self, rows: np.ndarray) -> None:
        """Close open connections (rows of the state, by key), with their marks."""
        row, marks = self._pop_open_marks(rows["key"])
        self._emit(rows, row, marks["ts"], marks["from_b"])

    def _emit(self, rows: np.ndarray, mark_row: np.ndarray, mark_ts: np.ndarray, mark_fb: np.ndarray) -> None:
        """Closed connections as CONN_DTYPE rows; their marks (row index, time, sent by b; each row's
        in time order) as MARK_DTYPE rows, of the sides with MIN_SIDE_MARKS or more."""
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
        out["uid"] = connection_uid(rows["key"], rows["ts"])
        self.stats.connections += len(rows)
        self._done.append(out)
        if len(mark_row):
            side = mark_row * 2 + mark_fb
            enough = np.bincount(side, minlength=2 * len(rows)) >= MIN_SIDE_MARKS
            kept = enough[side]
            marks = np.zeros(int(kept.sum()), MARK_DTYPE)
            marks["uid"] = out["uid"][mark_row[kept]]
            marks["ts"] = mark_ts[kept]
            marks["from_server"] = mark_fb[kept] == ca[mark_row[kept]]
            self._done_marks.append(marks)


def connection_uid(key: np.ndarray, start: np.ndarray) -> np.ndarray:
    """CONN_DTYPE's uid: the flow key hashed with the start time's bits (as the C engine)."""
    return hash_columns(key, np.ascontiguousarray(start, np.float64).view(np.uint64))


def _rank_from_end(group: np.ndarray) -> np.ndarray:
    """For a column sorted by group: each row's distance from its group's last row (0 for the last)."""
    n = len(group)
    if not n:
        return np.zeros(0, np.int64)
    last = np.ones(n, bool)
    last[:-1] = group[1:] != group[:-1]
    end = np.flatnonzero(last)
    return end[np.searchsorted(end, np.arange(n))] - np.arange(n)


class NativeFlowTracker(FlowTracker):
    """The C engine (netdetect/_flows.c): each packet in batch order against a hash table of open
    connections; closed ones accumulate in C as packed CONN_DTYPE rows until `take()`."""

    def __init__(self, max_open: int = 2_000_000, max_held_marks: int = MAX_HELD_MARKS) -> None:
        _native = built("netdetect._flows")
        if _native is None:
            raise RuntimeError("the compiled flow engine (netdetect._flows) is not available")
        self.max_open = max_open
        self.max_held_marks = max_held_marks
        self.stats = TrackerStats()
        # A random seed places keys in the table, so crafted 5-tuples cannot aim at one probe run.
        seed = int.from_bytes(os.urandom(8), "little")
        self._tracker = _native.Tracker(seed=seed, max_held_marks=max_held_marks)
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
                column(h.payload_len, np.int64),
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

    @property
    def open_marks(self) -> np.ndarray:
        out = np.frombuffer(self._tracker.export_marks(), OPEN_MARK_DTYPE)
        return out[np.argsort(out["key"], kind="stable")]

    def _take_rows(self) -> np.ndarray:
        self._chunks = 0
        return np.frombuffer(self._tracker.take(), CONN_DTYPE)

    def _take_mark_rows(self) -> np.ndarray:
        return np.frombuffer(self._tracker.take_marks(), MARK_DTYPE)

    def _restore(self, state: np.ndarray, marks: np.ndarray) -> None:
        self._tracker.import_state(np.ascontiguousarray(state))
        self._tracker.import_marks(np.ascontiguousarray(marks))
        self.stats.marks_shed += self._tracker.take_marks_shed()  # past the budget of held marks

    def _closed(self, rows: int) -> None:
        self.stats.marks_shed += self._tracker.take_marks_shed()
        if rows:
            self.stats.connections += rows
            self._chunks += 1  # one chunk per call that closed something, as the reference counts


def _layout(dtype: np.dtype) -> tuple[list[tuple[str, int]], int]:
    """(name, offset) of each field and the row size, as the C module reports its own."""
    return [(name, offset) for name, (_, offset, *_) in (dtype.fields or {}).items()], dtype.itemsize


def layout_problem(module: ModuleType) -> str | None:
    """A module built from a .c file that disagrees with the dtypes here would write garbage rows."""
    expected = (_layout(CONN_DTYPE), _layout(STATE_DTYPE), _layout(MARK_DTYPE), _layout(OPEN_MARK_DTYPE))
    found = (
        getattr(module, "CONN_LAYOUT", None),
        getattr(module, "STATE_LAYOUT", None),
        getattr(module, "MARK_LAYOUT", None),
        getattr(module, "OPEN_MARK_LAYOUT", None),
    )
    if expected != found:
        return "CONN_DTYPE, STATE_DTYPE, MARK_DTYPE or OPEN_MARK_DTYPE rows differ"
    return None


def _client_is_sender(flags: np.ndarray, sport: np.ndarray, dport: np.ndarray) -> np.ndarray:
    """Who opened the connection, judged from its first packet seen (as Zeek does without a handshake)."""
    syn = (flags & (_SYN | _ACK)) == _SYN
    synack = (flags & (_SYN | _ACK)) == (_SYN | _ACK)
    by_port = ~((sport < 1024) & (dport >= 1024))
    return np.where(syn, True, np.where(synack, False, by_port))
