"""Application events from the few packets that carry them: DNS, TLS/QUIC ClientHellos, HTTP requests.

Candidates are chosen in bulk from the decoded headers (ports and the first payload bytes of every
segment, so a ClientHello after STARTTLS or inside a client's WebSocket frame is found too); only
those reach the Python parsers. TCP payloads are reassembled per direction from the stream start
(by sequence number, so out-of-order and retransmitted segments are fine, and segments that
overtook their start across a batch boundary are held for it) until the ClientHello or request
headers are complete; bounded buffers keep floods from growing memory.

With the compiled core built, the candidate pass and the DNS, ClientHello and request walks of the bulk
path run in `_events.c`, which adds the rows to the tables itself; the tables are byte for byte those
of the Python path (an extractor made inside `netdetect.native.reference_path()`, or `NETDETECT_NATIVE=0`).
"""

from __future__ import annotations

import struct
from collections import OrderedDict
from dataclasses import dataclass, field
from functools import lru_cache
from types import ModuleType

import numpy as np

from netdetect.arrays import hash_columns
from netdetect.capture.batch import PacketBatch
from netdetect.decode import dns as dns_mod
from netdetect.decode import fastpath
from netdetect.decode import http as http_mod
from netdetect.decode import quic as quic_mod
from netdetect.decode import tls as tls_mod
from netdetect.decode.errors import DecodeError
from netdetect.decode.fragments import FragmentReassembler
from netdetect.decode.headers import Headers, decode_headers, payload_prefix
from netdetect.native import column, load
from netdetect.tables import ANSWER_DTYPE, DNS_DTYPE, HTTP_DTYPE, TLS_DTYPE, EventSet

DNS_PORTS = (53, 5353, 5355)
HTTP_METHODS = (b"GET ", b"POST", b"HEAD", b"PUT ", b"CONN", b"OPTI", b"DELE", b"PATC", b"TRAC")
_METHOD_WORDS = np.array([int.from_bytes(m, "big") for m in HTTP_METHODS], np.int64)
MAX_STREAM_BYTES = 64 * 1024  # a ClientHello with post-quantum key shares is ~2 KB; leave room, bound floods
MAX_STREAMS = 100_000
MAX_SEGMENTS = 64
_STREAM_KINDS = {1: "tls", 2: "http", 3: "dns"}
HTTP_MAX_WAIT = 16384  # request header bytes buffered before parsing what is there
# A segment that overtakes its stream's start across a batch boundary must wait for that start. Held: TCP
# payload from the last EARLY_TAIL_ROWS packets of a batch, in directions without a stream, the first
# EARLY_PER_DIRECTION of each (a ClientHello's first flight is 1-3 segments; the client then waits for the
# server), for EARLY_MAX_AGE seconds of capture time; past EARLY_MAX_SEGMENTS or EARLY_MAX_BYTES the oldest
# are shed, counted.
EARLY_TAIL_ROWS = 256
EARLY_PER_DIRECTION = 4
EARLY_MAX_SEGMENTS = 8192
EARLY_MAX_BYTES = 16 << 20  # segments of a capture with TSO/GRO may be 64 KiB each
EARLY_MAX_AGE = 1.0


@dataclass
class _Stream:
    kind: str  # "tls" | "http" | "dns"
    base_seq: int
    ts: float
    ends: Ends  # src, dst, sport, dport of this direction
    segments: dict[int, bytes] = field(default_factory=dict)

    def add(self, seq: int, payload: bytes) -> None:
        rel = (seq - self.base_seq) & 0xFFFFFFFF
        if rel < MAX_STREAM_BYTES and len(self.segments) < MAX_SEGMENTS and rel not in self.segments:
            self.segments[rel] = payload

    def contiguous(self) -> bytes:
        out = bytearray()
        for rel in sorted(self.segments):
            if rel > len(out):
                break
            out += self.segments[rel][len(out) - rel :]
        return bytes(out)


Ends = tuple[bytes, bytes, int, int]  # src, dst (16 bytes, v4-mapped), sport, dport


@dataclass
class EventTables(EventSet):
    """What extraction produced so far: the columnar event tables (rows added straight from the
    decoders, no object per event) and the count of what could not be decoded, by reason."""

    errors: dict[str, int] = field(default_factory=dict)

    def snapshot(self) -> tuple:
        """Every table's bytes, the pool in id order and the error counts: two extractions agree when
        their snapshots are equal (the compiled core and the reference path are compared this way)."""
        return (
            self.dns.rows.tobytes(),
            self.dns.answers.tobytes(),
            self.tls.rows.tobytes(),
            self.http.rows.tobytes(),
            list(self.pool.ids.items()),
            list(self.errors.items()),
        )


class EventExtractor:
    """Events from batches of packets with their decoded headers, in bounded state.

    `reference=True` takes the plain path everywhere (every TCP start kept as a stream, reference
    parsers, no memo): the same events, slower; tests and benchmarks compare the two. The fast path
    runs its per-packet and per-event work in the compiled walks when they are built and the compiled
    core is on when the extractor is made (`netdetect.native.reference_path()` keeps it in Python: the
    same tables, byte for byte).
    """

    def __init__(self, max_streams: int = MAX_STREAMS, reference: bool = False) -> None:
        self.out = EventTables()
        self.streams: OrderedDict[int, _Stream] = OrderedDict()
        self.quic: OrderedDict[tuple, quic_mod.QuicCryptoAssembler] = OrderedDict()
        self.quic_done: OrderedDict[tuple, None] = OrderedDict()
        self.starts_seen: OrderedDict[tuple[int, int], None] = OrderedDict()
        # direction key -> [(seq, payload, ts)]: segments that may have overtaken their stream's start
        self.early: OrderedDict[int, list[tuple[int, bytes, float]]] = OrderedDict()
        self.early_segments = 0
        self.early_bytes = 0
        self.fragments = FragmentReassembler()
        self.max_streams = max_streams
        self.reference = reference
        self.native = None if reference else load("netdetect.decode._events")
        self.parse_dns = fastpath.dns_parsed if reference else fastpath.DnsMemo(self.native is not None).parse
        self.extract_hello = tls_mod.extract_client_hello if reference else fastpath.extract_client_hello
        # The compiled walks' memos hold pool ids: they belong to one pool.
        self._memo_pool: object = None
        self._dns_memo: dict[bytes, bytes | str] = {}
        self._shape_memo: dict[bytes, bytes] = {}
        self._ja3_memo: dict[str, bytes] = {}

    def error(self, reason: str, n: int = 1) -> None:
        self.out.errors[reason] = self.out.errors.get(reason, 0) + n

    # ------------------------------------------------------------------------------------
    def process(self, batch: PacketBatch, h: Headers) -> None:
        """Events of one batch; their rows become arrays before it returns (memory per event stays a row)."""
        self._process(batch, h)
        self.out.flush()

    def _process(self, batch: PacketBatch, h: Headers) -> None:
        if not len(h):
            return
        if self.native is not None:
            self._process_native(batch, h, self.native)
            return
        has_payload = h.payload_caplen > 0
        frag = h.fragment
        rows = np.flatnonzero(has_payload & ~frag)
        if len(frag) and frag.any():
            self._fragments(batch, h, np.flatnonzero(frag))
        if not len(rows):
            return
        pfx = payload_prefix(batch.data, h.payload_off[rows], h.payload_caplen[rows], 9).astype(np.int64)
        c = _candidates(pfx, h.proto[rows], h.sport[rows], h.dport[rows])

        udp_events = np.flatnonzero((c.udp & c.dnsport) | c.quic_initial)
        if len(udp_events):
            self._udp(batch, h, rows[udp_events], c.quic_initial[udp_events])

        if len(c.ws_hello):
            self._websocket(batch, h, rows[c.ws_hello])
        hello_start = c.tls_start | c.ccs_hello | c.sslv2_start
        start = hello_start | c.http_start | c.dns_tcp
        if self.early:
            self._expire_early(float(h.ts[rows[0]]))
        dirkey = None
        if self.streams or start.any():
            dirkey = hash_columns(
                h.src_hi[rows], h.src_lo[rows], h.dst_hi[rows], h.dst_lo[rows], h.sport[rows], h.dport[rows]
            )
            whole = None
            if not self.reference:
                tls_whole = c.in_record & (c.hs_len + 9 <= h.payload_caplen[rows])
                whole = self._single_segment_starts(batch, h, rows, tls_whole, c.tls_start, c.http_start)
            self._tcp_events(
                batch,
                h,
                rows,
                dirkey,
                _Starts(
                    c.tcp,
                    start,
                    hello_start,
                    c.tls_start,
                    c.http_start,
                    c.dns_tcp,
                    c.hs_len,
                    c.in_record,
                    whole,
                ),
            )
        self._hold_early(batch, h, rows, c.tcp & ~start, dirkey)

    def _process_native(self, batch: PacketBatch, h: Headers, ev: ModuleType) -> None:
        """`_process` with the compiled walks. One pass gives every payload row's candidate kinds,
        handshake length and direction key; DNS messages, and ClientHellos and requests decided from one
        or two segments, become table rows in C. What takes the stream path, and that path, stay as in
        Python, on the rows of the directions with a start in the batch or an open stream: no other row
        changes what they decide."""
        n = len(h)
        rows, hs_len, http_end = np.empty(n, np.int64), np.empty(n, np.int64), np.empty(n, np.int64)
        flags, dirkey = np.empty(n, np.uint16), np.empty(n, np.uint64)
        m = ev.classify(
            column(batch.data, np.uint8),
            _i64(h.payload_off),
            _i64(h.payload_caplen),
            column(h.proto, np.uint8),
            _i64(h.sport),
            _i64(h.dport),
            column(h.fragment, np.bool_),
            *_addresses(h),
            tls_mod.MAX_RECORD_LEN,
            HTTP_MAX_WAIT,
            _METHOD_WORDS,
            rows,
            flags,
            hs_len,
            dirkey,
            http_end,
        )
        frag = h.fragment
        if len(frag) and frag.any():
            self._fragments(batch, h, np.flatnonzero(frag))
        if not m:
            return
        rows, flags, hs_len, dirkey, http_end = rows[:m], flags[:m], hs_len[:m], dirkey[:m], http_end[:m]
        udp_events = np.flatnonzero(flags & (ev.F_UDP_DNS | ev.F_QUIC))
        if len(udp_events):
            self._udp_native(batch, h, rows[udp_events], (flags[udp_events] & ev.F_QUIC) != 0)
        ws_hello = np.flatnonzero(flags & ev.F_WEBSOCKET)
        if len(ws_hello):
            self._websocket(batch, h, rows[ws_hello])
        hello_bits = ev.F_TLS_START | ev.F_CCS_HELLO | ev.F_SSLV2
        start = (flags & (hello_bits | ev.F_HTTP_START | ev.F_DNS_TCP)) != 0
        tcp = (flags & ev.F_TCP) != 0
        if self.early:
            self._expire_early(float(h.ts[rows[0]]))
        if self.streams or start.any():
            open_keys = np.fromiter(self.streams.keys(), np.uint64, len(self.streams))
            keys = np.concatenate((dirkey[start], open_keys))
            near = np.empty(m, np.uint8)
            ev.member(dirkey, keys, near)
            sel = np.flatnonzero(tcp & near.view(np.bool_))
            f = flags[sel]
            self._tcp_events(
                batch,
                h,
                rows[sel],
                dirkey[sel],
                _Starts(
                    tcp[sel],
                    start[sel],
                    (f & hello_bits) != 0,
                    (f & ev.F_TLS_START) != 0,
                    (f & ev.F_HTTP_START) != 0,
                    (f & ev.F_DNS_TCP) != 0,
                    hs_len[sel],
                    (f & ev.F_IN_RECORD) != 0,
                    (f & (ev.F_WHOLE_TLS | ev.F_WHOLE_HTTP)) != 0,
                    http_end[sel],
                ),
            )
        self._hold_early(batch, h, rows, tcp & ~start, dirkey)

    def _tcp_events(
        self, batch: PacketBatch, h: Headers, rows: np.ndarray, dirkey: np.ndarray, s: _Starts
    ) -> None:
        """ClientHellos, requests and DNS over TCP of the batch's rows (their direction keys `dirkey`)."""
        tcp, start, hs_len, whole = s.tcp, s.start, s.hs_len, s.whole
        open_keys = np.fromiter(self.streams.keys(), np.uint64, len(self.streams))
        held_keys = np.fromiter(self.early.keys(), np.uint64, len(self.early))
        # A TLS record holding the whole ClientHello, or an HTTP request whose header block ends in the
        # segment, is decoded from that one packet; a ClientHello in a start segment and the segment
        # right after it (post-quantum key shares) from those two. No stream is kept, so a direction whose
        # every start is decoded so (and has no stream open) needs none of its other packets looked at.
        starts = np.flatnonzero(start)
        if self.reference:
            slow_keys = np.union1d(open_keys, dirkey[starts])
        else:
            assert whole is not None
            caplen = h.payload_caplen[rows]
            slow_keys = np.union1d(open_keys, dirkey[starts[~whole[starts]]])
            if len(held_keys):  # a start whose later segments came in an earlier batch: the stream joins them
                slow_keys = np.union1d(slow_keys, np.intersect1d(dirkey[starts], held_keys))
            single = whole & ~np.isin(dirkey, slow_keys)
            if single.any():
                idx = self._fresh_starts(np.flatnonzero(single), dirkey, h.seq[rows])
                self._single_segment(batch, h, rows, idx, s)
            waiting = np.union1d(open_keys, held_keys)
            pair_start = s.in_record & ~whole & (caplen >= 9) & ~np.isin(dirkey, waiting)
            first, second = _segment_pairs(h, rows, dirkey, tcp, start, pair_start, hs_len)
            if len(first):
                fresh = np.isin(first, self._fresh_starts(first, dirkey, h.seq[rows]))
                self._segment_pairs(batch, h, rows[first[fresh]], rows[second[fresh]], hs_len[first[fresh]])
                slow_keys = np.setdiff1d(slow_keys, dirkey[first], assume_unique=True)
        if len(slow_keys):
            pending = np.flatnonzero(tcp & np.isin(dirkey, slow_keys))
            kind = np.where(s.hello_start, 1, np.where(s.http_start, 2, np.where(s.dns_tcp, 3, 0)))
            # Stream starts first, then the rest by time: a segment that overtook the start of its
            # stream within the batch joins it instead of being dropped.
            order = pending[np.lexsort((h.ts[rows[pending]], kind[pending] == 0))]
            r = rows[order]
            buf = batch.data.data
            columns = (
                r,
                dirkey[order],
                kind[order],
                h.seq[r],
                h.ts[r],
                h.payload_off[r],
                h.payload_caplen[r],
            )
            for row, key, kind_, seq, ts, off, size in zip(*(c.tolist() for c in columns), strict=True):
                self._tcp(h, row, key, kind_, seq, ts, buf, off, size)

    def _expire_early(self, now: float) -> None:
        """Forget held segments older than EARLY_MAX_AGE at time `now` (held in time order)."""
        early = self.early
        while early and next(iter(early.values()))[0][2] < now - EARLY_MAX_AGE:
            self._forget_early(early.popitem(last=False)[1])

    def _hold_early(
        self,
        batch: PacketBatch,
        h: Headers,
        rows: np.ndarray,
        candidate: np.ndarray,
        dirkey: np.ndarray | None,
    ) -> None:
        """Keep the `candidate` segments (TCP payload, not stream starts) of the batch's last packets whose
        direction has no stream: their stream's start may come in the next batch. Bounded, see EARLY_*."""
        early = self.early
        lo = int(np.searchsorted(rows, len(h) - EARLY_TAIL_ROWS))
        idx = lo + np.flatnonzero(candidate[lo:])
        if not len(idx):
            return
        r = rows[idx]
        if dirkey is not None:
            keys = dirkey[idx]
        else:
            keys = hash_columns(h.src_hi[r], h.src_lo[r], h.dst_hi[r], h.dst_lo[r], h.sport[r], h.dport[r])
        if self.streams:
            keep = ~np.isin(keys, np.fromiter(self.streams.keys(), np.uint64, len(self.streams)))
            keys, r = keys[keep], r[keep]
        for key, seq, ts, payload in zip(
            keys.tolist(), h.seq[r].tolist(), h.ts[r].tolist(), _payloads(batch, h, r), strict=True
        ):
            held = early.get(key)
            if held is None:
                early[key] = [(seq, payload, ts)]
            elif len(held) < EARLY_PER_DIRECTION:
                held.append((seq, payload, ts))
            else:
                continue
            self.early_segments += 1
            self.early_bytes += len(payload)
        while self.early_segments > EARLY_MAX_SEGMENTS or self.early_bytes > EARLY_MAX_BYTES:
            shed = early.popitem(last=False)[1]
            self._forget_early(shed)
            self.error("tcp.early_shed", len(shed))

    def _forget_early(self, held: list[tuple[int, bytes, float]]) -> None:
        self.early_segments -= len(held)
        self.early_bytes -= sum(len(payload) for _, payload, _ in held)

    def _first_sight(self, key: int, seq: int) -> bool:
        """True the first time a stream start (direction key, sequence number) is seen; retransmissions
        of a decoded ClientHello or request would otherwise give duplicate events."""
        if (key, seq) in self.starts_seen:
            return False
        self.starts_seen[(key, seq)] = None
        _bound(self.starts_seen, self.max_streams, None, "")
        return True

    def _fresh_starts(self, idx: np.ndarray, dirkey: np.ndarray, seq: np.ndarray) -> np.ndarray:
        if self.native is not None:
            fresh = np.empty(len(idx), np.uint8)
            self.native.first_sights(
                self.starts_seen, column(dirkey[idx], np.uint64), _i64(seq[idx]), self.max_streams, fresh
            )
            return idx[fresh.view(np.bool_)].astype(np.int64)
        keep = [
            i
            for i, k, q in zip(idx.tolist(), dirkey[idx].tolist(), seq[idx].tolist(), strict=True)
            if self._first_sight(k, q)
        ]
        return np.array(keep, np.int64)

    def _single_segment_starts(
        self,
        batch: PacketBatch,
        h: Headers,
        rows: np.ndarray,
        tls_whole: np.ndarray,
        tls_start: np.ndarray,
        http_start: np.ndarray,
    ) -> np.ndarray:
        """Stream starts that decide their stream alone: `tls_whole` (a record holding the whole ClientHello),
        or an HTTP request whose header block ends in the segment."""
        whole = tls_whole.copy()
        http_rows = np.flatnonzero(http_start & ~tls_start)
        if len(http_rows):
            whole[http_rows] = [_http_header_end(p) is not None for p in _payloads(batch, h, rows[http_rows])]
        return whole

    def _segment_pairs(
        self, batch: PacketBatch, h: Headers, first: np.ndarray, second: np.ndarray, hs_len: np.ndarray
    ) -> None:
        if self.native is not None:
            self._tcp_jobs(batch, h, first, second, hs_len, np.zeros(len(first), np.uint8))
            return
        for ts, ends, head, tail, length in zip(
            h.ts[first].tolist(),
            _ends_of(h, first),
            _payloads(batch, h, first),
            _payloads(batch, h, second),
            hs_len.tolist(),
            strict=True,
        ):
            self._tls_hello((head + tail)[9 : 9 + length], ts, ends)

    # ------------------------------------------------------------------------------------
    def _native_memos(self) -> tuple[dict, dict, dict]:
        """The compiled walks' DNS, hello-shape and JA3 memos, started over if the tables' pool changed."""
        if self._memo_pool is not self.out.pool:
            self._memo_pool = self.out.pool
            self._dns_memo, self._shape_memo, self._ja3_memo = {}, {}, {}
        return self._dns_memo, self._shape_memo, self._ja3_memo

    def _udp_native(self, batch: PacketBatch, h: Headers, r: np.ndarray, quic_initial: np.ndarray) -> None:
        """`_udp` with the compiled DNS walk; QUIC candidates are called back to `_quic` in their place."""

        def quic(row: int) -> None:
            self._quic(float(h.ts[row]), _ends_of(h, np.array([row]))[0], _payload(batch, h, row))

        assert self.native is not None
        context = (
            self.out.pool.ids,
            self.out.errors,
            self._native_memos()[0],
            dns_mod.QTYPES,
            fastpath.dns_fields,
            quic,
            fastpath.MEMO_MAX_PAYLOAD,
            fastpath.MEMO_ENTRIES,
        )
        rows, answers = self.native.dns_rows(
            context, _columns(batch, h), r, quic_initial.astype(np.uint8), len(self.out.dns)
        )
        if rows:
            self.out.dns.add_rows(
                np.frombuffer(rows, DNS_DTYPE), np.frombuffer(answers, ANSWER_DTYPE) if answers else None
            )

    def _tcp_jobs(
        self,
        batch: PacketBatch,
        h: Headers,
        first: np.ndarray,
        second: np.ndarray,
        arg: np.ndarray,
        kind: np.ndarray,
    ) -> None:
        """ClientHellos (kind 0: body at payload bytes 9 .. 9 + arg, of `first`'s segment joined with
        `second`'s when that is not -1) and HTTP requests (kind 1: the first arg bytes) as table rows."""
        assert self.native is not None
        _, shapes, ja3s = self._native_memos()
        context = (
            self.out.pool.ids,
            self.out.errors,
            shapes,
            fastpath.shape_for_key,
            fastpath.hello_shape,
            DecodeError,
            http_mod.parse_http_request,
            http_mod.METHOD_PREFIXES,
            fastpath.SHAPE_MAX_BYTES,
            fastpath.SHAPE_ENTRIES,
            http_mod.MAX_HEADER_BYTES,
            http_mod.MAX_TEXT,
            ja3s,
        )
        tls_rows, http_rows = self.native.tcp_jobs(
            context, _columns(batch, h), _i64(first), _i64(second), _i64(arg), column(kind, np.uint8)
        )
        if tls_rows:
            self.out.tls.add_rows(np.frombuffer(tls_rows, TLS_DTYPE))
        if http_rows:
            self.out.http.add_rows(np.frombuffer(http_rows, HTTP_DTYPE))

    def _udp(self, batch: PacketBatch, h: Headers, r: np.ndarray, quic_initial: np.ndarray) -> None:
        parse_dns = self.parse_dns
        for ts, ends, payload, is_quic in zip(
            h.ts[r].tolist(), _ends_of(h, r), _payloads(batch, h, r), quic_initial.tolist(), strict=True
        ):
            if is_quic:
                self._quic(ts, ends, payload)
            else:
                self._dns_event(parse_dns(payload), payload, ts, ends, "udp")

    def _websocket(self, batch: PacketBatch, h: Headers, r: np.ndarray) -> None:
        """ClientHellos inside a client's WebSocket binary frames, when the frame's part in the segment holds
        the whole hello (one frame in one segment, as tunnels send it)."""
        keys = hash_columns(h.src_hi[r], h.src_lo[r], h.dst_hi[r], h.dst_lo[r], h.sport[r], h.dport[r])
        columns = (keys.tolist(), h.seq[r].tolist(), h.ts[r].tolist(), _ends_of(h, r), _payloads(batch, h, r))
        for key, seq, ts, ends, payload in zip(*columns, strict=True):
            data = _websocket_payload(payload)
            if not tls_mod.looks_like_tls(data) or not self._first_sight(key, seq):
                continue  # binary data that only began like a hello, or a retransmission
            if not self._tls_stream(data, ts, ends):
                self.error("tls.incomplete")  # the frame's hello continues in later segments

    def _single_segment(
        self, batch: PacketBatch, h: Headers, rows: np.ndarray, idx: np.ndarray, s: _Starts
    ) -> None:
        r = rows[idx]
        if self.native is not None:
            assert s.http_end is not None
            is_tls = s.tls_start[idx]
            self._tcp_jobs(
                batch,
                h,
                r,
                np.full(len(r), -1, np.int64),
                np.where(is_tls, s.hs_len[idx], s.http_end[idx]),
                (~is_tls).astype(np.uint8),
            )
            return
        for ts, ends, payload, is_tls in zip(
            h.ts[r].tolist(), _ends_of(h, r), _payloads(batch, h, r), s.tls_start[idx].tolist(), strict=True
        ):
            if is_tls:  # record and handshake lengths checked in bulk: the hello is bytes 9 .. 9 + length
                self._tls_hello(payload[9 : 9 + int.from_bytes(payload[6:9], "big")], ts, ends)
            else:
                self._http_stream(payload, _http_header_end(payload), ts, ends)

    def _dns_event(
        self, parsed: fastpath.DnsParsed | str, payload: bytes, ts: float, ends: Ends, transport: str
    ) -> None:
        if isinstance(parsed, str):
            self.error(parsed)
            return
        src, dst, sp, dp = ends
        txid = (payload[0] << 8) | payload[1]
        if parsed.is_response:  # the client is the host that asked
            rcode = -1 if parsed.rcode is None else parsed.rcode
            self.out.dns.add(
                ts,
                dst,
                src,
                dp,
                sp,
                transport == "tcp",
                txid,
                parsed.query,
                parsed.qtype,
                True,
                rcode,
                answers=parsed.answers,
            )
        else:
            self.out.dns.add(
                ts,
                src,
                dst,
                sp,
                dp,
                transport == "tcp",
                txid,
                parsed.query,
                parsed.qtype,
                False,
                -1,
                answers=parsed.answers,
            )

    def _quic(self, ts: float, ends: Ends, payload: bytes) -> None:
        if ends in self.quic_done:
            return
        asm = self.quic.get(ends)
        if asm is None:
            asm = self.quic[ends] = quic_mod.QuicCryptoAssembler()
            _bound(self.quic, self.max_streams, self, "quic.shed")
        try:
            # The assembler keeps the first Initial's keys, so later Initials sent to the server's
            # chosen connection ID still decrypt; one bad datagram does not end the flow.
            hello = asm.feed(payload)
        except DecodeError as exc:
            self.error(exc.reason)
            return
        if hello is not None:
            self.quic.pop(ends, None)
            self.quic_done[ends] = None
            _bound(self.quic_done, self.max_streams, None, "")
            self._hello_event(ts, ends, True, hello, hello.ja4_for("q"))

    def _tls_hello(self, body: bytes, ts: float, ends: Ends) -> None:
        """A ClientHello body from one or two segments: straight to the event, no ClientHello object."""
        try:
            shape, sni = fastpath.hello_shape(body)
        except DecodeError as exc:
            self.error(exc.reason)
            return
        src, dst, sp, dp = ends
        self.out.tls.add(
            ts,
            src,
            dst,
            sp,
            dp,
            False,
            sni,
            shape.alpn,
            shape.versions,
            shape.ech,
            shape.ja3,
            shape.ja3_hash,
            shape.ja4,
        )

    def _hello_event(
        self, ts: float, ends: Ends, quic: bool, hello: tls_mod.ClientHello, ja4: str | None
    ) -> None:
        src, dst, sp, dp = ends
        self.out.tls.add(
            ts,
            src,
            dst,
            sp,
            dp,
            quic,
            hello.sni,
            tuple(hello.alpn),
            tuple(hello.versions),
            hello.ech,
            hello.ja3,
            hello.ja3_hash,
            ja4 or None,
        )

    def _tls_stream(self, data: bytes, ts: float, ends: Ends) -> bool:
        """Decode the ClientHello at the start of `data`; True when the stream is finished with."""
        try:
            hello = self.extract_hello(data)
        except DecodeError as exc:
            # A ChangeCipherSpec then a handshake record is a guess at a second hello after a
            # HelloRetryRequest; mostly it is an encrypted Finished (TLS 1.2 resumption, servers), no fault.
            if not (exc.reason == "tls.not_client_hello" and data[0] == tls_mod.CONTENT_CHANGE_CIPHER_SPEC):
                self.error(exc.reason)
            return True
        if hello is None:
            return False
        self._hello_event(ts, ends, False, hello, hello.ja4)
        return True

    def _http_stream(self, data: bytes, end: int | None, ts: float, ends: Ends) -> None:
        try:
            req = http_mod.parse_http_request(data[:end] if end is not None else data)
        except DecodeError as exc:
            self.error(exc.reason)
            return
        if req is None:
            self.error("http.malformed")
        else:
            src, dst, sp, dp = ends
            self.out.http.add(ts, src, dst, sp, dp, req.method, req.host, req.uri, req.user_agent)

    def _tcp(
        self,
        h: Headers,
        r: int,
        key: int,
        kind: int,
        seq: int,
        ts: float,
        buf: memoryview,
        off: int,
        size: int,
    ) -> None:
        """One segment of a direction that has (or starts) a stream, in the batch's stream order."""
        st = self.streams.get(key)
        if st is None:
            if kind == 0:
                return  # a continuation whose stream start we never saw
            if kind in (1, 2) and not self._first_sight(key, seq):
                return  # a retransmitted start whose hello or request was already decoded
            st = _Stream(_STREAM_KINDS[kind], seq, ts, _ends_of(h, np.array([r]))[0])
            self.streams[key] = st
            _bound(self.streams, self.max_streams, self, "tcp.streams_shed")
            held = self.early.pop(key, None)
            if held:  # segments of this direction from an earlier batch that overtook this start
                self._forget_early(held)
                for held_seq, payload, _ in held:
                    st.add(held_seq, payload)
        st.add(seq, buf[off : off + size].tobytes())
        data = st.contiguous()
        if st.kind == "tls":
            if self._tls_stream(data, st.ts, st.ends):
                self.streams.pop(key, None)
            elif len(data) >= MAX_STREAM_BYTES or len(st.segments) >= MAX_SEGMENTS:
                self.error("tls.incomplete")
                self.streams.pop(key, None)
        elif st.kind == "http":
            end = _http_header_end(data)
            if end is None and len(data) < 16384 and len(st.segments) < MAX_SEGMENTS:
                return
            self._http_stream(data, end, st.ts, st.ends)
            self.streams.pop(key, None)
        else:  # DNS over TCP: length-prefixed, several per segment, split across segments
            msgs, used = dns_mod.split_tcp_dns(data)
            for m in msgs:
                self._dns_event(self.parse_dns(m), m, ts, st.ends, "tcp")
            if used:
                rest = data[used:]
                st.base_seq = (st.base_seq + used) & 0xFFFFFFFF
                st.segments = {0: rest} if rest else {}
            if len(data) - used >= MAX_STREAM_BYTES:
                self.error("dns.tcp_oversize")
                self.streams.pop(key, None)

    def _fragments(self, batch: PacketBatch, h: Headers, rows: np.ndarray) -> None:
        """Reassemble fragmented datagrams and run the whole packets through decoding again
        (DNS, QUIC, and tunnels whose outer packets were fragmented)."""
        whole: list[tuple[float, bytes]] = []
        for r in rows:
            done = self.fragments.add(
                key=(
                    int(h.src_hi[r]),
                    int(h.src_lo[r]),
                    int(h.dst_hi[r]),
                    int(h.dst_lo[r]),
                    int(h.ip_id[r]),
                    int(h.proto[r]),
                ),
                offset=int(h.frag_off[r]),
                more=bool(h.more_frags[r]),
                data=_payload(batch, h, r),
                ts=float(h.ts[r]),
            )
            if done is not None:
                whole.append((float(h.ts[r]), _ip_packet(h, r, done)))
        self.error("ip.fragments_dropped", self.fragments.take_dropped())
        if whole:
            lens = np.array([len(p) for _, p in whole], np.int64)
            starts = np.concatenate(([0], np.cumsum(lens)[:-1])).astype(np.int64)
            data = np.frombuffer(b"".join(p for _, p in whole), np.uint8)
            mini = PacketBatch(
                data,
                starts,
                lens,
                lens.copy(),
                np.array([t for t, _ in whole]),
                np.full(len(whole), 101, np.uint16),
                batch.source,
            )
            self.process(mini, decode_headers(mini))


@dataclass(slots=True)
class _Starts:
    """Per-row masks of a batch's TCP rows for `_tcp_events`."""

    tcp: np.ndarray
    start: np.ndarray  # a stream start of any kind
    hello_start: np.ndarray
    tls_start: np.ndarray
    http_start: np.ndarray
    dns_tcp: np.ndarray
    hs_len: np.ndarray  # the handshake length field of a TLS start
    in_record: np.ndarray  # a TLS start whose record holds its whole ClientHello
    whole: np.ndarray | None  # a start that decides its stream alone (None on the reference path)
    http_end: np.ndarray | None = None  # with the compiled walks: where an HTTP start's header block ends


@dataclass(slots=True)
class _Candidates:
    """What the first 9 payload bytes and the ports of each row say it may hold (bool masks)."""

    udp: np.ndarray
    tcp: np.ndarray
    dnsport: np.ndarray
    quic_initial: np.ndarray
    tls_start: np.ndarray
    sslv2_start: np.ndarray
    ws_hello: np.ndarray  # indexes, not a mask
    ccs_hello: np.ndarray
    http_start: np.ndarray
    dns_tcp: np.ndarray
    hs_len: np.ndarray  # int64: the handshake length field (bytes 6..8)
    in_record: np.ndarray  # a TLS start whose record holds its whole ClientHello


def _candidates(pfx: np.ndarray, proto: np.ndarray, sport: np.ndarray, dport: np.ndarray) -> _Candidates:
    """The candidate kinds of rows from their payload prefixes (int64, n x 9) and transport columns."""
    udp, tcp = proto == 17, proto == 6
    dnsport = np.isin(sport, DNS_PORTS) | np.isin(dport, DNS_PORTS)
    word = (pfx[:, 0] << 24) | (pfx[:, 1] << 16) | (pfx[:, 2] << 8) | pfx[:, 3]
    version = (pfx[:, 1] << 24) | (pfx[:, 2] << 16) | (pfx[:, 3] << 8) | pfx[:, 4]
    quic_initial = udp & ~dnsport & ((pfx[:, 0] & 0xC0) == 0xC0) & (version != 0)
    tls_start = tcp & (pfx[:, 0] == 0x16) & (pfx[:, 1] == 3) & (pfx[:, 5] == 1)
    sslv2_start, ws_hello = _sslv2_and_websocket_hellos(pfx, tcp)
    # After a HelloRetryRequest the second ClientHello follows a ChangeCipherSpec record in its segment.
    ccs_hello = tcp & (word == 0x14030300) & (pfx[:, 4] == 1) & (pfx[:, 5] == 1) & (pfx[:, 6] == 0x16)
    http_start = tcp & np.isin(word, _METHOD_WORDS)
    hs_len = (pfx[:, 6] << 16) | (pfx[:, 7] << 8) | pfx[:, 8]
    rec_len = (pfx[:, 3] << 8) | pfx[:, 4]
    in_record = tls_start & (pfx[:, 2] <= 4) & (hs_len + 4 <= rec_len) & (rec_len <= tls_mod.MAX_RECORD_LEN)
    return _Candidates(
        udp,
        tcp,
        dnsport,
        quic_initial,
        tls_start,
        sslv2_start,
        ws_hello,
        ccs_hello,
        http_start,
        tcp & dnsport,
        hs_len,
        in_record,
    )


def _sslv2_and_websocket_hellos(pfx: np.ndarray, tcp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows (by their first 9 payload bytes) starting an SSLv2-format CLIENT-HELLO (a bool mask), and rows
    holding a client's WebSocket frame that starts a ClientHello (indexes). Both are rare: the full tests
    run only on the few rows whose first bytes allow either."""
    b0 = pfx[:, 0]
    odd = np.flatnonzero(tcp & (((b0 | 0x80) == 0x82) | ((b0 >= 0x80) & (pfx[:, 2] == 1))))
    sslv2 = np.zeros(len(pfx), bool)
    if not len(odd):
        return sslv2, odd
    p = pfx[odd]
    # SSLv2: 0x80|length, type 1, version 0x0002 or 3.x, cipher-spec length a non-zero multiple of 3,
    # session id <= 32 bytes.
    specs, session = (p[:, 5] << 8) | p[:, 6], (p[:, 7] << 8) | p[:, 8]
    sslv2[odd] = (
        (p[:, 0] >= 0x80)
        & (p[:, 2] == 1)
        & (((p[:, 3] == 0) & (p[:, 4] == 2)) | ((p[:, 3] == 3) & (p[:, 4] <= 4)))
        & (specs > 0)
        & (specs % 3 == 0)
        & (session <= 32)
    )
    # WebSocket (a TLS tunnel such as wstunnel): a masked binary frame whose first unmasked bytes are
    # 0x16 0x03 (7-bit length: mask at 2, payload at 6) or 0x16 (16-bit length: mask at 4, payload at 8).
    size = p[:, 1] & 0x7F
    ws = (
        ((p[:, 0] | 0x80) == 0x82)
        & (p[:, 1] >= 0x80)
        & (
            ((size < 126) & ((p[:, 6] ^ p[:, 2]) == 0x16) & ((p[:, 7] ^ p[:, 3]) == 3))
            | ((size == 126) & ((p[:, 8] ^ p[:, 4]) == 0x16))
        )
    )
    return sslv2, odd[ws]


def _segment_pairs(
    h: Headers,
    rows: np.ndarray,
    dirkey: np.ndarray,
    tcp: np.ndarray,
    start: np.ndarray,
    candidate: np.ndarray,
    hs_len: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """(first, second) indexes into `rows`: a `candidate` start that is its direction's only start in the
    batch, and the segment the stream path would add next (the earliest other one), which continues it
    exactly and completes the ClientHello. The stream path would decode the hello from those two and
    do nothing with the direction's later segments."""
    none = np.zeros(0, np.int64)
    if not candidate.any():
        return none, none
    members = np.flatnonzero(tcp & np.isin(dirkey, dirkey[candidate]))
    # The stream path's order within a direction: starts first, then by time.
    order = members[np.lexsort((h.ts[rows[members]], ~start[members], dirkey[members]))]
    keys = dirkey[order]
    heads = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    heads = heads[(heads + 1 < len(order))]
    heads = heads[keys[heads + 1] == keys[heads]]
    first, second = order[heads], order[heads + 1]
    seq_first, seq_second = h.seq[rows[first]], h.seq[rows[second]]
    caplen_first, caplen_second = h.payload_caplen[rows[first]], h.payload_caplen[rows[second]]
    ok = (
        candidate[first]
        & ~start[second]
        & (seq_second == (seq_first + caplen_first) & 0xFFFFFFFF)
        & (hs_len[first] + 9 <= caplen_first + caplen_second)
    )
    return first[ok], second[ok]


def _i64(values: np.ndarray) -> np.ndarray:
    return column(values, np.int64)


def _addresses(h: Headers) -> tuple[np.ndarray, ...]:
    return tuple(column(c, np.uint64) for c in (h.src_hi, h.src_lo, h.dst_hi, h.dst_lo))


def _columns(batch: PacketBatch, h: Headers) -> tuple[np.ndarray, ...]:
    """The batch buffer and the header columns the compiled row builders read."""
    return (
        column(batch.data, np.uint8),
        _i64(h.payload_off),
        _i64(h.payload_caplen),
        column(h.ts, np.float64),
        *_addresses(h),
        _i64(h.sport),
        _i64(h.dport),
    )


def _ip_packet(h: Headers, r: int, payload: bytes) -> bytes:
    """A whole IP packet around a reassembled payload (options and extension headers dropped)."""
    src = int(h.src_hi[r]).to_bytes(8, "big") + int(h.src_lo[r]).to_bytes(8, "big")
    dst = int(h.dst_hi[r]).to_bytes(8, "big") + int(h.dst_lo[r]).to_bytes(8, "big")
    proto = int(h.proto[r])
    if src[:12] == b"\x00" * 10 + b"\xff\xff" and dst[:12] == src[:12]:
        total = min(20 + len(payload), 0xFFFF)
        return struct.pack("!BBHHHBBH4s4s", 0x45, 0, total, 0, 0, 64, proto, 0, src[12:], dst[12:]) + payload
    return struct.pack("!IHBB16s16s", 6 << 28, min(len(payload), 0xFFFF), proto, 64, src, dst) + payload


@lru_cache(maxsize=1 << 16)
def _addr16(hi: int, lo: int) -> bytes:
    return hi.to_bytes(8, "big") + lo.to_bytes(8, "big")


def _payload(batch: PacketBatch, h: Headers, r: int) -> bytes:
    start = int(h.payload_off[r])
    return batch.data[start : start + int(h.payload_caplen[r])].tobytes()


def _payloads(batch: PacketBatch, h: Headers, r: np.ndarray) -> list[bytes]:
    """Payload bytes of rows `r`, read without per-row numpy indexing."""
    buf = batch.data.data  # a memoryview: slicing it is cheaper than slicing the array
    return [
        buf[o : o + n].tobytes()
        for o, n in zip(h.payload_off[r].tolist(), h.payload_caplen[r].tolist(), strict=True)
    ]


def _ends_of(h: Headers, r: np.ndarray) -> list[Ends]:
    """(src, dst, sport, dport) of rows `r`, addresses as 16 bytes (the event tables' form)."""
    return list(
        zip(
            map(_addr16, h.src_hi[r].tolist(), h.src_lo[r].tolist()),
            map(_addr16, h.dst_hi[r].tolist(), h.dst_lo[r].tolist()),
            h.sport[r].tolist(),
            h.dport[r].tolist(),
            strict=True,
        )
    )


def _websocket_payload(frame: bytes) -> bytes:
    """The unmasked payload of a client's WebSocket frame (RFC 6455 5.2), cut to the bytes present."""
    size, at = frame[1] & 0x7F, 2
    if size == 126:
        size, at = int.from_bytes(frame[2:4], "big"), 4
    elif size == 127:
        return b""  # 64-bit length: far longer than any hello
    mask, data = frame[at : at + 4], frame[at + 4 : at + 4 + size]
    if len(mask) < 4:
        return b""
    key = (mask * (len(data) // 4 + 1))[: len(data)]
    return (int.from_bytes(data, "big") ^ int.from_bytes(key, "big")).to_bytes(len(data), "big")


def _http_header_end(data: bytes) -> int | None:
    """Bytes of `data` to parse as a request when its header block is complete (or too long to wait
    for); None while more bytes may complete it."""
    end = data.find(b"\r\n\r\n")
    if end < 0:
        end = data.find(b"\n\n")
    if end >= 0:
        return end + 4
    return len(data) if len(data) >= HTTP_MAX_WAIT else None


def _bound(cache: OrderedDict, limit: int, owner: EventExtractor | None, reason: str) -> None:
    while len(cache) > limit:
        cache.popitem(last=False)
        if owner is not None:
            owner.error(reason)
