"""Bulk link/network/transport header decoding of a whole PacketBatch.

Most packets only ever need their addresses, ports, flags and lengths. Tunnels a tap or cloud
mirror delivers (VXLAN, Geneve, GRE, ERSPAN, IP-in-IP) are peeled, so the flow tables see the
inner packet.

`decode_headers` runs the compiled decoder (`_headers.c`, one pass per packet) when it is built,
else `decode_headers_reference`: one numpy pass per layer over the batch, with further passes over
the rows that carry a tunnel. The reference defines the results; both give identical columns and
counts (tests/test_headers_native.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import ModuleType

import numpy as np

from netdetect.capture.batch import PacketBatch
from netdetect.native import load

# Link types (tcpdump.org/linktypes.html)
LINKTYPE_NULL = 0
LINKTYPE_ETHERNET = 1
LINKTYPE_PPP = 9
LINKTYPE_RAW_BSD = 12
LINKTYPE_RAW_OPENBSD = 14
LINKTYPE_PPP_HDLC = 50
LINKTYPE_RAW = 101
LINKTYPE_LOOP = 108
LINKTYPE_LINUX_SLL = 113
LINKTYPE_IPV4 = 228
LINKTYPE_IPV6 = 229
LINKTYPE_LINUX_SLL2 = 276
RAW_IP_LINKTYPES = (LINKTYPE_RAW, LINKTYPE_RAW_BSD, LINKTYPE_RAW_OPENBSD, LINKTYPE_IPV4, LINKTYPE_IPV6)
SUPPORTED_LINKTYPES = frozenset(
    (
        LINKTYPE_NULL,
        LINKTYPE_ETHERNET,
        LINKTYPE_PPP,
        LINKTYPE_PPP_HDLC,
        LINKTYPE_LOOP,
        LINKTYPE_LINUX_SLL,
        LINKTYPE_LINUX_SLL2,
        *RAW_IP_LINKTYPES,
    )
)

# Per-row parse state.
_ETH, _IP, _L4, _DONE, _NONIP, _BAD = 1, 2, 3, 4, 5, 6

VXLAN_PORT = 4789
GENEVE_PORT = 6081
GRE_IN_UDP_PORT = 4754
MAX_TUNNEL_DEPTH = 3


@dataclass(slots=True)
class Headers:
    """One row per packet that decoded down to TCP or UDP (other IP protocols kept with ports 0)."""

    index: np.ndarray  # int64 row of the packet in its batch
    ts: np.ndarray  # float64
    src_hi: np.ndarray  # uint64: address bytes 0..7 (IPv4 is v4-mapped)
    src_lo: np.ndarray  # uint64: address bytes 8..15
    dst_hi: np.ndarray
    dst_lo: np.ndarray
    proto: np.ndarray  # uint8
    sport: np.ndarray  # uint16 (as int64)
    dport: np.ndarray
    tcp_flags: np.ndarray  # uint8 (0 for UDP)
    seq: np.ndarray  # uint32 as int64 (TCP)
    ip_len: np.ndarray  # int64: IP bytes on the wire (header + payload), from the IP header
    payload_off: np.ndarray  # int64: absolute offset of the L4 payload in the batch buffer
    payload_caplen: np.ndarray  # int64: payload bytes actually captured
    payload_len: np.ndarray  # int64: payload bytes on the wire (from IP length)
    fragment: (
        np.ndarray
    )  # bool: IP fragment (more-fragments or offset > 0); payload_off is then the L4 header
    ip_id: np.ndarray  # int64: IPv4 id / IPv6 fragment id
    frag_off: np.ndarray  # int64: fragment offset in bytes
    more_frags: np.ndarray  # bool
    tunnelled: np.ndarray  # bool: decoded from inside a tunnel
    counts: dict[str, int] = field(default_factory=dict)  # packets not decoded, by reason

    def __len__(self) -> int:
        return len(self.index)


def _reader(data: np.ndarray):
    """Gather helpers reading big-endian fields at many offsets at once.

    Out-of-range reads clip (callers bound-check)."""

    def u8(pos: np.ndarray) -> np.ndarray:
        return data.take(pos, mode="clip").astype(np.int64)

    def u16(pos: np.ndarray) -> np.ndarray:
        return (u8(pos) << 8) | u8(pos + 1)

    def u32(pos: np.ndarray) -> np.ndarray:
        return (u16(pos) << 16) | u16(pos + 2)

    def u64(pos: np.ndarray) -> np.ndarray:
        idx = pos[:, None] + np.arange(8)
        raw = np.ascontiguousarray(data.take(idx, mode="clip"))
        return raw.view(">u8").reshape(-1).astype(np.uint64)

    return u8, u16, u32, u64


def _count(counts: dict[str, int], reason: str, mask: np.ndarray) -> None:
    k = int(np.count_nonzero(mask))
    if k:
        counts[reason] = counts.get(reason, 0) + k


# The compiled decoder's output columns (the Headers fields, in order) and its count slots: each
# error reason per tunnel depth, so the counts dict keys come in the order the reference meets them.
_COLUMNS = (
    ("index", np.int64),
    ("ts", np.float64),
    ("src_hi", np.uint64),
    ("src_lo", np.uint64),
    ("dst_hi", np.uint64),
    ("dst_lo", np.uint64),
    ("proto", np.uint8),
    ("sport", np.int64),
    ("dport", np.int64),
    ("tcp_flags", np.int64),
    ("seq", np.int64),
    ("ip_len", np.int64),
    ("payload_off", np.int64),
    ("payload_caplen", np.int64),
    ("payload_len", np.int64),
    ("fragment", np.bool_),
    ("ip_id", np.int64),
    ("frag_off", np.int64),
    ("more_frags", np.bool_),
    ("tunnelled", np.bool_),
)
_DEPTH_REASONS = (
    "truncated_link",
    "bad_ipv4_header",
    "bad_ipv6_header",
    "bad_ip_version",
    "truncated_tcp",
    "truncated_udp",
)
_COUNT_SLOTS = (
    "unsupported_linktype",
    *(_DEPTH_REASONS * (MAX_TUNNEL_DEPTH + 1)),
    "tunnel_too_deep",
    "non_ip",
)


def layout_problem(module: ModuleType) -> str | None:
    """What a built `_headers` module disagrees on with the columns and count slots here (it would fill
    the wrong ones), or None."""
    built = (module.N_OUTPUTS, module.N_COUNTS, module.MAX_TUNNEL_DEPTH)
    expected = (len(_COLUMNS), len(_COUNT_SLOTS), MAX_TUNNEL_DEPTH)
    if built != expected:
        return f"(columns, count slots, tunnel depth) {built}, expected {expected}"
    return None


def _empty_columns(n: int) -> tuple[np.ndarray, ...]:
    """The output columns as views of one allocation (8-byte columns first, so each stays aligned).

    A batch's block is large enough for numpy to ask for huge pages: writing it costs far fewer page
    faults than twenty separate arrays (bench-1G with every batch's Headers kept: 0.146 -> 0.12 s)."""
    block = np.empty(n * _ROW_BYTES, np.uint8)
    views: dict[int, np.ndarray] = {}
    at = 0
    for i in _BY_ITEMSIZE:
        dtype = np.dtype(_COLUMNS[i][1])
        views[i] = block[at : at + n * dtype.itemsize].view(dtype)
        at += n * dtype.itemsize
    return tuple(views[i] for i in range(len(_COLUMNS)))


_ROW_BYTES = sum(np.dtype(dtype).itemsize for _, dtype in _COLUMNS)
_BY_ITEMSIZE = sorted(range(len(_COLUMNS)), key=lambda i: -np.dtype(_COLUMNS[i][1]).itemsize)


def decode_headers(batch: PacketBatch) -> Headers:
    """Headers of every packet in `batch` that decodes to TCP, UDP or another IP protocol.

    Compiled when `netdetect.decode._headers` is built (and `netdetect.native` is switched on), otherwise
    `decode_headers_reference`; the results are identical (the compiled path's columns share one
    allocation unless most rows were dropped)."""
    n = len(batch)
    compiled = load("netdetect.decode._headers")
    if compiled is None or (n and not len(batch.data)):
        # An empty buffer has no byte to clip a read to: the reference's behaviour (IndexError) stands.
        return decode_headers_reference(batch)
    columns = _empty_columns(n)
    slots = np.zeros(len(_COUNT_SLOTS), np.int64)
    kept = 0
    if n:
        kept = compiled.decode(
            np.ascontiguousarray(batch.data, np.uint8),
            np.asarray(batch.offset, np.int64),  # strided columns are read in place
            np.asarray(batch.caplen, np.int64),
            np.asarray(batch.linktype, np.uint16),
            np.asarray(batch.ts, np.float64),
            columns,
            slots,
        )
    if kept < n:
        # A copy when most rows went, so the trimmed columns do not hold the batch-sized block.
        columns = tuple(c[:kept].copy() if kept < n // 2 else c[:kept] for c in columns)
    counts: dict[str, int] = {}
    for reason, k in zip(_COUNT_SLOTS, slots.tolist(), strict=True):
        if k:
            counts[reason] = counts.get(reason, 0) + k
    return Headers(*columns, counts=counts)  # type: ignore[misc, arg-type]  # the columns in field order


def decode_headers_reference(batch: PacketBatch) -> Headers:
    """The reference decoder in numpy: each layer for every row, then the next layer.

    It defines what `decode_headers` returns, quirks included: reads are clipped to the batch buffer
    (take(mode="clip")), not to the packet, so a header that runs past caplen reads the bytes after it."""
    data = batch.data
    n = len(batch)
    u8, u16, u32, u64 = _reader(data)
    start = batch.offset.astype(np.int64)
    end = start + batch.caplen.astype(np.int64)
    pos = start.copy()
    state = np.zeros(n, np.int8)
    ipver = np.zeros(n, np.int64)  # which IP version the _IP state expects (0 = from the nibble)
    counts: dict[str, int] = {}
    lt = batch.linktype.astype(np.int64)

    state[lt == LINKTYPE_ETHERNET] = _ETH
    raw = np.isin(lt, RAW_IP_LINKTYPES)
    state[raw] = _IP

    sll = lt == LINKTYPE_LINUX_SLL
    if sll.any():
        _ethertype_to_state(u16(start[sll] + 14), sll, state, ipver)
        pos[sll] += 16
    sll2 = lt == LINKTYPE_LINUX_SLL2
    if sll2.any():
        _ethertype_to_state(u16(start[sll2]), sll2, state, ipver)
        pos[sll2] += 20
    null = (lt == LINKTYPE_NULL) | (lt == LINKTYPE_LOOP)
    if null.any():
        # Address family in host byte order for NULL, network order for LOOP: accept both.
        fam_be = u32(start[null])
        fam_le = (
            ((fam_be & 0xFF) << 24) | ((fam_be & 0xFF00) << 8) | ((fam_be >> 8) & 0xFF00) | (fam_be >> 24)
        )
        fam = np.where(fam_be < 256, fam_be, fam_le)
        v4 = fam == 2
        v6 = np.isin(fam, (10, 24, 28, 30))
        sub = np.where(v4, _IP, np.where(v6, _IP, _NONIP)).astype(np.int8)
        state[null] = sub
        ipver[null] = np.where(v4, 4, np.where(v6, 6, 0))
        pos[null] += 4
    ppp = (lt == LINKTYPE_PPP) | (lt == LINKTYPE_PPP_HDLC)
    if ppp.any():
        p = pos[ppp]
        p = np.where(u16(p) == 0xFF03, p + 2, p)
        proto = u16(p)
        state[ppp] = np.where(np.isin(proto, (0x0021, 0x0057)), _IP, _NONIP).astype(np.int8)
        ipver[ppp] = np.where(proto == 0x0021, 4, np.where(proto == 0x0057, 6, 0))
        pos[ppp] = p + 2
    _count(counts, "unsupported_linktype", state == 0)
    state[state == 0] = _BAD

    # Output columns, filled as rows reach them.
    ip = _IpStage(n, end, (u8, u16, u32, u64), state, pos, counts)
    src_hi, src_lo, dst_hi, dst_lo = ip.src_hi, ip.src_lo, ip.dst_hi, ip.dst_lo
    proto_col, ip_len, ip_end, ip_id = ip.proto_col, ip.ip_len, ip.ip_end, ip.ip_id
    frag_off, more_frags = ip.frag_off, ip.more_frags
    tunnelled = np.zeros(n, bool)
    sport = np.zeros(n, np.int64)
    dport = np.zeros(n, np.int64)
    flags = np.zeros(n, np.int64)
    seq = np.zeros(n, np.int64)
    poff = np.zeros(n, np.int64)

    for depth in range(MAX_TUNNEL_DEPTH + 1):
        # --- Ethernet, 802.1Q / QinQ ---
        eth = np.flatnonzero(state == _ETH)
        if len(eth):
            p = pos[eth]
            short = p + 14 > end[eth]
            et = u16(p + 12)
            p = p + 14
            for _ in range(3):  # up to triple tagging
                tagged = np.isin(et, (0x8100, 0x88A8, 0x9100))
                if not tagged.any():
                    break
                et = np.where(tagged, u16(p + 2), et)
                p = np.where(tagged, p + 4, p)
            pos[eth] = p
            state[eth] = np.where(short, _BAD, np.where(np.isin(et, (0x0800, 0x86DD)), _IP, _NONIP))
            ipver[eth] = np.where(et == 0x0800, 4, np.where(et == 0x86DD, 6, 0))
            _count(counts, "truncated_link", short)

        # --- IPv4 / IPv6 ---
        rows = np.flatnonzero(state == _IP)
        if len(rows):
            p = pos[rows]
            v = u8(p) >> 4
            expect = ipver[rows]
            v = np.where((expect != 0) & (v != expect), -1, v)
            ip.v4(rows[v == 4], p[v == 4])
            ip.v6(rows[v == 6], p[v == 6])
            bad_v = rows[(v != 4) & (v != 6)]
            state[bad_v] = _BAD
            _count(counts, "bad_ip_version", np.ones(len(bad_v), bool))

        # --- Transport and tunnels ---
        rows = np.flatnonzero(state == _L4)
        if not len(rows):
            break
        p = pos[rows]
        pr = proto_col[rows]
        fr = frag_off[rows] > 0  # non-first fragments carry no transport header
        first_frag = more_frags[rows] & ~fr  # has ports, but its payload is reassembled from the L4 header on
        state[rows[fr]] = _DONE
        poff[rows[fr]] = p[fr]

        tcp = (pr == 6) & ~fr
        if tcp.any():
            r, q = rows[tcp], p[tcp]
            doff = (u8(q + 12) >> 4) * 4
            bad = (q + 20 > end[r]) | (doff < 20)
            sport[r] = u16(q)
            dport[r] = u16(q + 2)
            seq[r] = u32(q + 4)
            flags[r] = u8(q + 13)
            poff[r] = q + doff
            state[r] = np.where(bad, _BAD, _DONE)
            _count(counts, "truncated_tcp", bad)
        udp = (pr == 17) & ~fr
        if udp.any():
            r, q = rows[udp], p[udp]
            bad = q + 8 > end[r]
            sport[r] = u16(q)
            dport[r] = u16(q + 2)
            poff[r] = q + 8
            state[r] = np.where(bad, _BAD, _DONE)
            _count(counts, "truncated_udp", bad)
            if depth < MAX_TUNNEL_DEPTH:
                ok = ~bad & ~first_frag[udp]
                vx = ok & (dport[r] == VXLAN_PORT) & ((u8(q + 8) & 0x08) != 0)
                _enter_tunnel(r[vx], q[vx] + 16, _ETH, 0, state, pos, ipver, tunnelled)
                gn = ok & (dport[r] == GENEVE_PORT) & ((u8(q + 8) >> 6) == 0)
                if gn.any():
                    gq = q[gn]
                    inner_at = gq + 16 + (u8(gq + 8) & 0x3F) * 4
                    ptype = u16(gq + 10)
                    _enter_ethertype(r[gn], inner_at, ptype, state, pos, ipver, tunnelled)
        gre = (pr == 47) & ~fr
        if udp.any() and depth < MAX_TUNNEL_DEPTH:  # GRE-in-UDP (RFC 8086) joins the GRE path below
            gu = np.zeros(len(rows), bool)
            gu[udp] = (dport[rows[udp]] == GRE_IN_UDP_PORT) & (state[rows[udp]] == _DONE)
            p = np.where(gu, p + 8, p)
            gre |= gu
        if gre.any() and depth < MAX_TUNNEL_DEPTH:
            r, q = rows[gre], p[gre]
            fl = u16(q)
            ptype = u16(q + 2)
            # Version 1 is PPTP's enhanced GRE: key always present, optional ack number (A bit).
            hlen = 4 + 4 * (
                ((fl & 0x8000) != 0).astype(np.int64)
                + ((fl & 0x2000) != 0)
                + ((fl & 0x1000) != 0)
                + (((fl & 0x0007) == 1) & ((fl & 0x0080) != 0))
            )
            inner = q + hlen
            state[r] = _DONE
            poff[r] = inner
            erspan2 = (ptype == 0x88BE) & ((fl & 0x1000) != 0)  # type II carries an 8-byte header
            erspan1 = (ptype == 0x88BE) & ((fl & 0x1000) == 0)  # type I: Ethernet right after GRE
            erspan3 = ptype == 0x22EB
            if erspan3.any():
                o_bit = (u8(inner[erspan3] + 11) & 0x01) != 0
                _enter_tunnel(
                    r[erspan3], inner[erspan3] + 12 + 8 * o_bit, _ETH, 0, state, pos, ipver, tunnelled
                )
            _enter_tunnel(r[erspan2], inner[erspan2] + 8, _ETH, 0, state, pos, ipver, tunnelled)
            _enter_tunnel(r[erspan1], inner[erspan1], _ETH, 0, state, pos, ipver, tunnelled)
            ppp = ptype == 0x880B
            if ppp.any():  # PPP in PPTP: optional address/control, then a 1- or 2-byte protocol field
                pq = inner[ppp]
                pq = np.where(u16(pq) == 0xFF03, pq + 2, pq)
                first = u8(pq)
                pproto = np.where((first & 1) == 1, first, u16(pq))
                pq = np.where((first & 1) == 1, pq + 1, pq + 2)
                eq = np.where(pproto == 0x21, 0x0800, np.where(pproto == 0x57, 0x86DD, 0))
                _enter_ethertype(r[ppp], pq, eq, state, pos, ipver, tunnelled)
            plain = ~(erspan1 | erspan2 | erspan3 | ppp)
            _enter_ethertype(r[plain], inner[plain], ptype[plain], state, pos, ipver, tunnelled)
        ipip = ((pr == 4) | (pr == 41)) & ~fr
        if ipip.any() and depth < MAX_TUNNEL_DEPTH:
            r = rows[ipip]
            _enter_tunnel(r, p[ipip], _IP, 0, state, pos, ipver, tunnelled)
            ipver[r] = np.where(pr[ipip] == 4, 4, 6)
        poff[rows[first_frag]] = p[first_frag]
        other = ~(tcp | udp | fr | ((pr == 47) | (pr == 4) | (pr == 41)))
        state[rows[other]] = _DONE
        poff[rows[other]] = p[other]
        # Rows still in a tunnel-pending state at max depth stop here.
    still = np.isin(state, (_ETH, _IP, _L4))
    _count(counts, "tunnel_too_deep", still)
    state[still] = _BAD
    _count(counts, "non_ip", state == _NONIP)

    keep = np.flatnonzero(state == _DONE)
    cap_end = end[keep]
    wire_end = ip_end[keep]
    po = poff[keep]
    payload_len = np.maximum(wire_end - po, 0)
    payload_caplen = np.clip(np.minimum(cap_end, wire_end) - po, 0, None)
    frag = more_frags[keep] | (frag_off[keep] > 0)
    return Headers(
        index=keep,
        ts=batch.ts[keep],
        src_hi=src_hi[keep],
        src_lo=src_lo[keep],
        dst_hi=dst_hi[keep],
        dst_lo=dst_lo[keep],
        proto=proto_col[keep].astype(np.uint8),
        sport=sport[keep],
        dport=dport[keep],
        tcp_flags=flags[keep],
        seq=seq[keep],
        ip_len=ip_len[keep],
        payload_off=po,
        payload_caplen=payload_caplen,
        payload_len=payload_len,
        fragment=frag,
        ip_id=ip_id[keep],
        frag_off=frag_off[keep],
        more_frags=more_frags[keep],
        tunnelled=tunnelled[keep],
        counts=counts,
    )


def _ethertype_to_state(et: np.ndarray, mask: np.ndarray, state: np.ndarray, ipver: np.ndarray) -> None:
    state[mask] = np.where(np.isin(et, (0x0800, 0x86DD)), _IP, _NONIP)
    ipver[mask] = np.where(et == 0x0800, 4, np.where(et == 0x86DD, 6, 0))


def _enter_tunnel(rows, inner_pos, new_state, version, state, pos, ipver, tunnelled) -> None:
    if len(rows):
        state[rows] = new_state
        pos[rows] = inner_pos
        ipver[rows] = version
        tunnelled[rows] = True


def _enter_ethertype(rows, inner_pos, ptype, state, pos, ipver, tunnelled) -> None:
    """GRE/Geneve payload by protocol type: Ethernet bridging or IP; anything else ends decoding there."""
    if not len(rows):
        return
    is_eth = ptype == 0x6558
    is_ip = np.isin(ptype, (0x0800, 0x86DD))
    _enter_tunnel(rows[is_eth], inner_pos[is_eth], _ETH, 0, state, pos, ipver, tunnelled)
    _enter_tunnel(rows[is_ip], inner_pos[is_ip], _IP, 0, state, pos, ipver, tunnelled)
    ipver[rows[is_ip]] = np.where(ptype[is_ip] == 0x0800, 4, 6)


_V4_MAPPED_HI = np.uint64(0)
_V4_MAPPED_LO_BASE = np.uint64(0xFFFF_0000_0000)


_IP6_EXT_GENERIC = (0, 43, 60)  # hop-by-hop, routing, destination options: length in 8-octet units


class _IpStage:
    """IPv4/IPv6 header decoding for many rows at once, filling the shared output columns."""

    def __init__(
        self, n: int, end: np.ndarray, read, state: np.ndarray, pos: np.ndarray, counts: dict[str, int]
    ) -> None:
        self.end, self.state, self.pos, self.counts = end, state, pos, counts
        self.u8, self.u16, self.u32, self.u64 = read
        self.src_hi = np.zeros(n, np.uint64)
        self.src_lo = np.zeros(n, np.uint64)
        self.dst_hi = np.zeros(n, np.uint64)
        self.dst_lo = np.zeros(n, np.uint64)
        self.proto_col = np.zeros(n, np.int64)
        self.ip_len = np.zeros(n, np.int64)
        self.ip_end = np.zeros(n, np.int64)  # where the IP packet ends per its own length (may exceed caplen)
        self.ip_id = np.zeros(n, np.int64)
        self.frag_off = np.zeros(n, np.int64)
        self.more_frags = np.zeros(n, bool)

    def v4(self, rows: np.ndarray, p: np.ndarray) -> None:
        if not len(rows):
            return
        ihl = (self.u8(p) & 0x0F) * 4
        total = self.u16(p + 2)
        bad = (ihl < 20) | (p + 20 > self.end[rows]) | (total < ihl)
        # A zero total length happens with TSO-offloaded captures: trust the captured length then.
        tso = (total == 0) & (ihl >= 20)
        total = np.where(tso, self.end[rows] - p, total)
        bad &= ~tso
        ff = self.u16(p + 6)
        self.src_hi[rows] = _V4_MAPPED_HI
        self.dst_hi[rows] = _V4_MAPPED_HI
        self.src_lo[rows] = _V4_MAPPED_LO_BASE | self.u32(p + 12).astype(np.uint64)
        self.dst_lo[rows] = _V4_MAPPED_LO_BASE | self.u32(p + 16).astype(np.uint64)
        self.proto_col[rows] = self.u8(p + 9)
        self.ip_len[rows] = total
        self.ip_end[rows] = p + total
        self.ip_id[rows] = self.u16(p + 4)
        self.frag_off[rows] = (ff & 0x1FFF) * 8
        self.more_frags[rows] = (ff & 0x2000) != 0
        self.pos[rows] = p + ihl
        self.state[rows] = np.where(bad, _BAD, _L4)
        _count(self.counts, "bad_ipv4_header", bad)

    def v6(self, rows: np.ndarray, p: np.ndarray) -> None:
        if not len(rows):
            return
        plen = self.u16(p + 4)
        nh = self.u8(p + 6)
        bad = p + 40 > self.end[rows]
        self.src_hi[rows] = self.u64(p + 8)
        self.src_lo[rows] = self.u64(p + 16)
        self.dst_hi[rows] = self.u64(p + 24)
        self.dst_lo[rows] = self.u64(p + 32)
        jumbo_or_tso = plen == 0
        plen = np.where(jumbo_or_tso, self.end[rows] - p - 40, plen)
        self.ip_len[rows] = plen + 40
        self.ip_end[rows] = p + 40 + plen
        q = p + 40
        fo = np.zeros(len(rows), np.int64)
        mf = np.zeros(len(rows), bool)
        fid = np.zeros(len(rows), np.int64)
        for _ in range(8):  # bounded walk of the extension-header chain
            generic = np.isin(nh, _IP6_EXT_GENERIC)
            frag = nh == 44
            ah = nh == 51
            if not (generic.any() or frag.any() or ah.any()):
                break
            step = np.where(
                generic,
                (self.u8(q + 1) + 1) * 8,
                np.where(frag, 8, np.where(ah, (self.u8(q + 1) + 2) * 4, 0)),
            )
            fw = self.u16(q + 2)
            fo = np.where(frag, (fw >> 3) * 8, fo)
            mf = np.where(frag, (fw & 1) != 0, mf)
            fid = np.where(frag, self.u32(q + 4), fid)
            nh = np.where(generic | frag | ah, self.u8(q), nh)
            q = q + step
        still_ext = np.isin(nh, (*_IP6_EXT_GENERIC, 44, 51))
        bad |= still_ext | (q > self.end[rows])
        self.proto_col[rows] = nh
        self.frag_off[rows] = fo
        self.more_frags[rows] = mf
        self.ip_id[rows] = fid
        self.pos[rows] = q
        self.state[rows] = np.where(bad, _BAD, _L4)
        _count(self.counts, "bad_ipv6_header", bad)


def addr_bytes(hi: np.ndarray, lo: np.ndarray) -> np.ndarray:
    """(hi, lo) uint64 pairs to an 'S16' column of packed addresses."""
    out = np.empty((len(hi), 2), dtype=">u8")
    out[:, 0] = hi
    out[:, 1] = lo
    return out.view("S16").reshape(-1)


def payload_prefix(data: np.ndarray, off: np.ndarray, caplen: np.ndarray, width: int) -> np.ndarray:
    """First `width` payload bytes of each row as an (n, width) uint8 array, zero past the captured end."""
    idx = off[:, None] + np.arange(width)
    out = data.take(idx, mode="clip")
    out[np.arange(width)[None, :] >= caplen[:, None]] = 0
    return out
