"""Application events from the few packets that carry them: DNS, TLS/QUIC ClientHellos, HTTP requests.

Candidates are chosen in bulk from the decoded headers (ports and the first payload bytes of every
segment, so a ClientHello after STARTTLS or inside a client's WebSocket frame is found too); only
those reach the Python parsers. TCP payloads are reassembled per direction from the stream start
(by sequence number, so out-of-order and retransmitted segments are fine, and segments that
overtook their start across a batch boundary are held for it) until the ClientHello or request
headers are complete; bounded buffers keep floods from growing memory.
"""

from __future__ import annotations

import struct
from collections import OrderedDict
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from netdetect.capture.batch import PacketBatch
from netdetect.decode import dns as dns_mod
from netdetect.decode import fastpath
from netdetect.decode import http as http_mod
from netdetect.decode import quic as quic_mod
from netdetect.decode import tls as tls_mod
from netdetect.decode.errors import DecodeError
from netdetect.decode.fragments import FragmentReassembler
from netdetect.decode.headers import Headers, decode_headers, payload_prefix
from netdetect.flows import hash_columns
from netdetect.tables import EventSet

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
            out += self.segments[rel][len(out) - rel:]
        return bytes(out)


Ends = tuple[bytes, bytes, int, int]  # src, dst (16 bytes, v4-mapped), sport, dport


@dataclass
class EventTables(EventSet):
    """What extraction produced so far: the columnar event tables (rows added straight from the
    decoders, no object per event) and the count of what could not be decoded, by reason."""

    errors: dict[str, int] = field(default_factory=dict)


class EventExtractor:
    """Events from batches of packets with their decoded headers, in bounded state.

    `reference=True` takes the plain path everywhere (every TCP start kept as a stream, reference
    parsers, no memo): the same events, slower; tests and benchmarks compare the two.
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
        self.parse_dns = fastpath.dns_parsed if reference else fastpath.DnsMemo().parse
        self.extract_hello = tls_mod.extract_client_hello if reference else fastpath.extract_client_hello

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
        has_payload = h.payload_caplen > 0
        frag = h.fragment
        rows = np.flatnonzero(has_payload & ~frag)
        if len(frag) and frag.any():
            self._fragments(batch, h, np.flatnonzero(frag))
        if not len(rows):
            return
        pfx = payload_prefix(batch.data, h.payload_off[rows], h.payload_caplen[rows], 9).astype(np.int64)
        proto = h.proto[rows]
        sport, dport = h.sport[rows], h.dport[rows]
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
        dns_tcp = tcp & dnsport

        udp_events = np.flatnonzero((udp & dnsport) | quic_initial)
        if len(udp_events):
            self._udp(batch, h, rows[udp_events], quic_initial[udp_events])

        if len(ws_hello):
            self._websocket(batch, h, rows[ws_hello])
        hello_start = tls_start | ccs_hello | sslv2_start
        start = hello_start | http_start | dns_tcp
        if self.early:
            self._expire_early(float(h.ts[rows[0]]))
        dirkey = None
        if self.streams or start.any():
            dirkey = self._tcp_events(batch, h, rows, pfx, tcp, start, hello_start, tls_start, http_start,
                                      dns_tcp)
        self._hold_early(batch, h, rows, tcp & ~start, dirkey)

    def _tcp_events(self, batch: PacketBatch, h: Headers, rows: np.ndarray, pfx: np.ndarray, tcp: np.ndarray,
                    start: np.ndarray, hello_start: np.ndarray, tls_start: np.ndarray, http_start: np.ndarray,
                    dns_tcp: np.ndarray) -> np.ndarray:
        """ClientHellos, requests and DNS over TCP of the batch's rows; returns the rows' direction keys."""
        sport, dport = h.sport[rows], h.dport[rows]
        dirkey = hash_columns(h.src_hi[rows], h.src_lo[rows], h.dst_hi[rows], h.dst_lo[rows], sport, dport)
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
            hs_len = (pfx[:, 6] << 16) | (pfx[:, 7] << 8) | pfx[:, 8]
            rec_len = (pfx[:, 3] << 8) | pfx[:, 4]
            in_record = tls_start & (pfx[:, 2] <= 4) & (hs_len + 4 <= rec_len)
            in_record &= rec_len <= tls_mod.MAX_RECORD_LEN
            caplen = h.payload_caplen[rows]
            whole = self._single_segment_starts(batch, h, rows, in_record & (hs_len + 9 <= caplen), tls_start,
                                                http_start)
            slow_keys = np.union1d(open_keys, dirkey[starts[~whole[starts]]])
            if len(held_keys):  # a start whose later segments came in an earlier batch: the stream joins them
                slow_keys = np.union1d(slow_keys, np.intersect1d(dirkey[starts], held_keys))
            single = whole & ~np.isin(dirkey, slow_keys)
            if single.any():
                idx = self._fresh_starts(np.flatnonzero(single), dirkey, h.seq[rows])
                self._single_segment(batch, h, rows, idx, tls_start)
            waiting = np.union1d(open_keys, held_keys)
            pair_start = in_record & ~whole & (caplen >= 9) & ~np.isin(dirkey, waiting)
            first, second = _segment_pairs(h, rows, dirkey, tcp, start, pair_start, hs_len)
            if len(first):
                fresh = np.isin(first, self._fresh_starts(first, dirkey, h.seq[rows]))
                self._segment_pairs(batch, h, rows[first[fresh]], rows[second[fresh]], hs_len[first[fresh]])
                slow_keys = np.setdiff1d(slow_keys, dirkey[first], assume_unique=True)
        if len(slow_keys):
            pending = np.flatnonzero(tcp & np.isin(dirkey, slow_keys))
            kind = np.where(hello_start, 1, np.where(http_start, 2, np.where(dns_tcp, 3, 0)))
            # Stream starts first, then the rest by time: a segment that overtook the start of its
            # stream within the batch joins it instead of being dropped.
            order = pending[np.lexsort((h.ts[rows[pending]], kind[pending] == 0))]
            r = rows[order]
            buf = batch.data.data
            columns = (r, dirkey[order], kind[order], h.seq[r], h.ts[r], h.payload_off[r],
                       h.payload_caplen[r])
            for row, key, kind_, seq, ts, off, size in zip(*(c.tolist() for c in columns), strict=True):
                self._tcp(h, row, key, kind_, seq, ts, buf, off, size)
        return dirkey

    def _expire_early(self, now: float) -> None:
        """Forget held segments older than EARLY_MAX_AGE at time `now` (held in time order)."""
        early = self.early
        while early and next(iter(early.values()))[0][2] < now - EARLY_MAX_AGE:
            self._forget_early(early.popitem(last=False)[1])

    def _hold_early(self, batch: PacketBatch, h: Headers, rows: np.ndarray, candidate: np.ndarray,
                    dirkey: np.ndarray | None) -> None:
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
        for key, seq, ts, payload in zip(keys.tolist(), h.seq[r].tolist(), h.ts[r].tolist(),
                                         _payloads(batch, h, r), strict=True):
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
        keep = [i for i, k, q in zip(idx.tolist(), dirkey[idx].tolist(), seq[idx].tolist(), strict=True)
                if self._first_sight(k, q)]
        return np.array(keep, np.int64)

    def _single_segment_starts(self, batch: PacketBatch, h: Headers, rows: np.ndarray, tls_whole: np.ndarray,
                               tls_start: np.ndarray, http_start: np.ndarray) -> np.ndarray:
        """Stream starts that decide their stream alone: `tls_whole` (a record holding the whole ClientHello),
        or an HTTP request whose header block ends in the segment."""
        whole = tls_whole.copy()
        http_rows = np.flatnonzero(http_start & ~tls_start)
        if len(http_rows):
            whole[http_rows] = [_http_header_end(p) is not None for p in _payloads(batch, h, rows[http_rows])]
        return whole

    def _segment_pairs(self, batch: PacketBatch, h: Headers, first: np.ndarray, second: np.ndarray,
                       hs_len: np.ndarray) -> None:
        for ts, ends, head, tail, length in zip(h.ts[first].tolist(), _ends_of(h, first),
                                                _payloads(batch, h, first), _payloads(batch, h, second),
                                                hs_len.tolist(), strict=True):
            self._tls_hello((head + tail)[9 : 9 + length], ts, ends)

    # ------------------------------------------------------------------------------------
    def _udp(self, batch: PacketBatch, h: Headers, r: np.ndarray, quic_initial: np.ndarray) -> None:
        parse_dns = self.parse_dns
        for ts, ends, payload, is_quic in zip(h.ts[r].tolist(), _ends_of(h, r), _payloads(batch, h, r),
                                              quic_initial.tolist(), strict=True):
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

    def _single_segment(self, batch: PacketBatch, h: Headers, rows: np.ndarray, idx: np.ndarray,
                        tls_start: np.ndarray) -> None:
        r = rows[idx]
        for ts, ends, payload, is_tls in zip(h.ts[r].tolist(), _ends_of(h, r), _payloads(batch, h, r),
                                             tls_start[idx].tolist(), strict=True):
            if is_tls:  # record and handshake lengths checked in bulk: the hello is bytes 9 .. 9 + length
                self._tls_hello(payload[9 : 9 + int.from_bytes(payload[6:9], "big")], ts, ends)
            else:
                self._http_stream(payload, _http_header_end(payload), ts, ends)

    def _dns_event(self, parsed: fastpath.DnsParsed | str, payload: bytes, ts: float, ends: Ends,
                   transport: str) -> None:
        if isinstance(parsed, str):
            self.error(parsed)
            return
        src, dst, sp, dp = ends
        txid = (payload[0] << 8) | payload[1]
        if parsed.is_response:  # the client is the host that asked
            self.out.dns.add(ts, dst, src, dp, sp, transport == "tcp", txid, parsed.query, parsed.qtype, True,
                             parsed.rcode, parsed.answers)
        else:
            self.out.dns.add(ts, src, dst, sp, dp, transport == "tcp", txid, parsed.query, parsed.qtype,
                             False, None, parsed.answers)

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
        self.out.tls.add(ts, src, dst, sp, dp, False, sni, shape.alpn, shape.versions, shape.ech, shape.ja3,
                         shape.ja3_hash, shape.ja4)

    def _hello_event(self, ts: float, ends: Ends, quic: bool, hello: tls_mod.ClientHello,
                     ja4: str | None) -> None:
        src, dst, sp, dp = ends
        self.out.tls.add(ts, src, dst, sp, dp, quic, hello.sni, tuple(hello.alpn), tuple(hello.versions),
                         hello.ech, hello.ja3, hello.ja3_hash, ja4 or None)

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

    def _tcp(self, h: Headers, r: int, key: int, kind: int, seq: int, ts: float, buf: memoryview, off: int,
             size: int) -> None:
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
        st.add(seq, buf[off:off + size].tobytes())
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
                key=(int(h.src_hi[r]), int(h.src_lo[r]), int(h.dst_hi[r]), int(h.dst_lo[r]), int(h.ip_id[r]),
                     int(h.proto[r])),
                offset=int(h.frag_off[r]), more=bool(h.more_frags[r]), data=_payload(batch, h, r),
                ts=float(h.ts[r]))
            if done is not None:
                whole.append((float(h.ts[r]), _ip_packet(h, r, done)))
        self.error("ip.fragments_dropped", self.fragments.take_dropped())
        if whole:
            lens = np.array([len(p) for _, p in whole], np.int64)
            starts = np.concatenate(([0], np.cumsum(lens)[:-1])).astype(np.int64)
            data = np.frombuffer(b"".join(p for _, p in whole), np.uint8)
            mini = PacketBatch(data, starts, lens, lens.copy(),
                               np.array([t for t, _ in whole]), np.full(len(whole), 101, np.uint16),
                               batch.source)
            self.process(mini, decode_headers(mini))


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
    sslv2[odd] = ((p[:, 0] >= 0x80) & (p[:, 2] == 1)
                  & (((p[:, 3] == 0) & (p[:, 4] == 2)) | ((p[:, 3] == 3) & (p[:, 4] <= 4)))
                  & (specs > 0) & (specs % 3 == 0) & (session <= 32))
    # WebSocket (a TLS tunnel such as wstunnel): a masked binary frame whose first unmasked bytes are
    # 0x16 0x03 (7-bit length: mask at 2, payload at 6) or 0x16 (16-bit length: mask at 4, payload at 8).
    size = p[:, 1] & 0x7F
    ws = ((p[:, 0] | 0x80) == 0x82) & (p[:, 1] >= 0x80) & (
        ((size < 126) & ((p[:, 6] ^ p[:, 2]) == 0x16) & ((p[:, 7] ^ p[:, 3]) == 3))
        | ((size == 126) & ((p[:, 8] ^ p[:, 4]) == 0x16)))
    return sslv2, odd[ws]


def _segment_pairs(h: Headers, rows: np.ndarray, dirkey: np.ndarray, tcp: np.ndarray, start: np.ndarray,
                   candidate: np.ndarray, hs_len: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
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
    ok = (candidate[first] & ~start[second] & (seq_second == (seq_first + caplen_first) & 0xFFFFFFFF)
          & (hs_len[first] + 9 <= caplen_first + caplen_second))
    return first[ok], second[ok]


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
    return batch.data[start:start + int(h.payload_caplen[r])].tobytes()


def _payloads(batch: PacketBatch, h: Headers, r: np.ndarray) -> list[bytes]:
    """Payload bytes of rows `r`, read without per-row numpy indexing."""
    buf = batch.data.data  # a memoryview: slicing it is cheaper than slicing the array
    return [buf[o:o + n].tobytes() for o, n in zip(h.payload_off[r].tolist(), h.payload_caplen[r].tolist(),
                                                   strict=True)]


def _ends_of(h: Headers, r: np.ndarray) -> list[Ends]:
    """(src, dst, sport, dport) of rows `r`, addresses as 16 bytes (the event tables' form)."""
    return list(zip(map(_addr16, h.src_hi[r].tolist(), h.src_lo[r].tolist()),
                    map(_addr16, h.dst_hi[r].tolist(), h.dst_lo[r].tolist()),
                    h.sport[r].tolist(), h.dport[r].tolist(), strict=True))


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
