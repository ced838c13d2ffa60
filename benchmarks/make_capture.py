#!/usr/bin/env python3
"""Generate a large, seeded benchmark capture of mixed DNS, TLS, HTTP and bulk TCP traffic.

    python benchmarks/make_capture.py /tmp/bench.pcap                 # ~1 GB, ~1.9 M packets
    python benchmarks/make_capture.py /tmp/small.pcap --packets 50000 # quick runs

Speed comes from templates: a few hundred whole conversations are built once with `netdetect.testing.synth`
(correct lengths, sequence numbers and checksums), then each of the millions of sessions copies one
template and patches, with numpy over whole chunks, what differs: client address and port, the two
initial sequence numbers, the DNS id, timestamps, and the IP and TCP/UDP checksums (RFC 1624
incremental update, so they stay correct). Packets of overlapping sessions interleave in time order.
A few hosts beacon on a timer so scoring has something to find.

TLS templates hold Chrome-profile ClientHellos. Like real Chrome (since version 110), a share of the
TLS sessions (`--chrome-share`, default 0.5) sends a fresh hello per session: new GREASE values (cipher
list, extension types, supported_groups, key_share, supported_versions, the final GREASE extension), a
new permutation of the extensions (`synth.client_hello(shuffle=True)`: GREASE first and last, padding
after them), new random, session ID and key shares. The hello keeps its template's length, so sequence
numbers stay valid; the segments carrying it (one, or two with a post-quantum key share) get their TCP
checksums recomputed. The rest replay the template's hello byte for byte, as a client with a fixed
hello (curl, Windows' schannel, most libraries) does.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import math
import random
import struct
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a clone without installing

from netdetect.testing import synth  # noqa: E402
from netdetect.testing.writer import pcap_header  # noqa: E402

TEMPLATE_CLIENT_V4 = "10.0.0.1"  # placeholder replaced in every session
TEMPLATE_CLIENT_V6 = "fd00::1"
RESOLVER = "10.0.0.2"
START = 1_741_600_000.0  # 2025-03-10 09:46:40 UTC
NAMES = [
    f"{w}{i}.{d}"
    for i, (w, d) in enumerate(
        (w, d)
        for d in ("example.com", "cdn-example.net", "api-example.org", "static-example.io")
        for w in (
            "www",
            "api",
            "img",
            "edge",
            "login",
            "cdn",
            "assets",
            "app",
            "mail",
            "news",
            "shop",
            "video",
        )
    )
]


@dataclass
class Templates:
    """Every template packet as one record (16-byte pcap header placeholder + frame) plus patch metadata."""

    data: bytes  # concatenated records
    start: np.ndarray  # record offset in `data`
    size: np.ndarray  # record length (16 + frame)
    rel_ns: np.ndarray  # time since the session's first packet
    outgoing: np.ndarray  # bool: client -> server
    v6: np.ndarray  # bool
    tcp: np.ndarray  # bool (else UDP)
    has_ack: np.ndarray  # bool: TCP ACK flag (ack field is meaningful)
    seq: np.ndarray  # int64 template seq / ack values
    ack: np.ndarray
    l4_csum: np.ndarray  # int64 template checksums
    ip_csum: np.ndarray
    client_word: (
        np.ndarray
    )  # int64 (4, n): template client address low 32 bits as two 16-bit words, port, txid
    first: np.ndarray  # per session template: first record index
    count: np.ndarray  # per session template: number of records
    kind: list[str]
    # ClientHello segments: per record, an index into the hello_* arrays or -1 (not a hello segment)
    hello_seg: np.ndarray
    hello_at: np.ndarray  # offset of the segment's payload in its record
    hello_from: np.ndarray  # offset of that payload in the hello record
    hello_len: np.ndarray  # payload bytes
    hellos: list[tuple[str, bool, int] | None]  # per session template: (SNI, post-quantum, length) of TLS


def _server_ip(name: str) -> str:
    d = hashlib.sha256(name.encode()).digest()
    return f"{(23, 104, 151, 142)[d[0] % 4]}.{d[1]}.{d[2]}.{d[3] % 250 + 2}"


def build_templates(rng: random.Random, count: int, size_median: float) -> Templates:
    """Build `count` session templates with synth, then parse their packets once into patch tables."""
    records: list[bytes] = []
    meta: list[tuple[int, bool, bool, bool, bool, int, int, int, int, tuple[int, int, int, int]]] = []
    first: list[int] = []
    counts: list[int] = []
    kinds: list[str] = []
    hellos: list[tuple[str, bool, int] | None] = []
    segments: list[tuple[int, int, int, int]] = []  # (record, payload offset, offset in hello, length)
    for i in range(count):
        roll = rng.random()
        kind = "dns" if roll < 0.40 else "tls" if roll < 0.85 else "http" if roll < 0.95 else "bulk"
        v6 = kind != "dns" and rng.random() < 0.15
        client = TEMPLATE_CLIENT_V6 if v6 else TEMPLATE_CLIENT_V4
        name = rng.choice(NAMES)
        server = f"2001:db8:{i % 97:x}::{i % 251 + 1:x}" if v6 else _server_ip(name)
        buf = io.BytesIO()
        writer = synth.TrafficWriter(
            buf, "pcap", ts_resolution="ns", seed=rng.getrandbits(32), mss=1440 if v6 else 1460
        )
        size = int(min(rng.lognormvariate(math.log(size_median), 1.1), 4_000_000))
        if kind == "dns":
            writer.dns_exchange(
                0.0,
                client,
                RESOLVER,
                name,
                ([f"e{i}.edge.cdn-example.net"] if i % 3 == 0 else []) + [_server_ip(name)],
                rtt=rng.uniform(0.002, 0.04),
            )
        elif kind == "tls":
            post_quantum = rng.random() < 0.3
            hello = synth.client_hello(name, post_quantum=post_quantum, rng=rng)
            writer.tls_session(
                0.0,
                client,
                server,
                50000,
                443,
                hello,
                rng.randint(200, 1500),
                rng.randint(3000, 5500),
                size,
                rtt=rng.uniform(0.005, 0.12),
                duration=rng.uniform(0.2, 30),
                ack_every=rng.choice((1, 2)),
            )
        elif kind == "http":
            request = synth.http_request(
                "GET", name, f"/p/{i}?q={rng.getrandbits(32):x}", user_agent="bench/1.0"
            )
            writer.tcp_session(
                0.0,
                client,
                server,
                50000,
                80,
                [request],
                server_payloads=[synth.http_response(body_length=size)],
                server_bytes=size,
                rtt=rng.uniform(0.005, 0.1),
                ack_every=1,
            )
        else:
            writer.tcp_session(
                0.0,
                client,
                server,
                50000,
                rng.choice((22, 445, 3389, 5432)),
                [rng.randint(100, 20000)],
                server_bytes=size * 4,
                rtt=rng.uniform(0.001, 0.05),
            )
        writer.close()
        first.append(len(records))
        kinds.append(kind)
        packets = _read_pcap(buf.getvalue())
        counts.append(len(packets))
        if kind == "tls":
            hellos.append((name, post_quantum, len(hello)))
            segments += [
                (len(records) + k, 16 + at, into, n)
                for k, at, into, n in _hello_segments(packets, client, hello)
            ]
        else:
            hellos.append(None)
        for ts_ns, frame in packets:
            records.append(struct.pack("<IIII", 0, 0, len(frame), len(frame)) + frame)
            meta.append(_frame_meta(ts_ns, frame, client))
    sizes = np.array([len(r) for r in records], dtype=np.int64)
    cols = list(zip(*meta, strict=True))
    hello_seg = np.full(len(records), -1, np.int64)
    seg = np.array(segments, np.int64).reshape(-1, 4)
    hello_seg[seg[:, 0]] = np.arange(len(seg))
    return Templates(
        data=b"".join(records),
        start=np.concatenate(([0], np.cumsum(sizes)[:-1])).astype(np.int64),
        size=sizes,
        rel_ns=np.array(cols[0], dtype=np.int64),
        outgoing=np.array(cols[1], dtype=bool),
        v6=np.array(cols[2], dtype=bool),
        tcp=np.array(cols[3], dtype=bool),
        has_ack=np.array(cols[4], dtype=bool),
        seq=np.array(cols[5], dtype=np.int64),
        ack=np.array(cols[6], dtype=np.int64),
        l4_csum=np.array(cols[7], dtype=np.int64),
        ip_csum=np.array(cols[8], dtype=np.int64),
        client_word=np.array(cols[9], dtype=np.int64).T.copy(),
        first=np.array(first, dtype=np.int64),
        count=np.array(counts, dtype=np.int64),
        kind=kinds,
        hello_seg=hello_seg,
        hello_at=seg[:, 1].copy(),
        hello_from=seg[:, 2].copy(),
        hello_len=seg[:, 3].copy(),
        hellos=hellos,
    )


def _hello_segments(
    packets: list[tuple[int, bytes]], client: str, hello: bytes
) -> list[tuple[int, int, int, int]]:
    """(packet index, payload offset in the frame, offset in `hello`, length) of the client segments
    that carry `hello`, the client's first payload."""
    out: list[tuple[int, int, int, int]] = []
    base = None
    for k, (_, frame) in enumerate(packets):
        v6 = frame[12:14] == b"\x86\xdd"
        if (frame[22:38] if v6 else frame[26:30]) != synth.packed_ip(client):
            continue
        if (frame[20] if v6 else frame[23]) != synth.PROTO_TCP:
            continue
        l4 = 14 + (40 if v6 else 20)
        at = l4 + (frame[l4 + 12] >> 4) * 4
        if at >= len(frame):
            continue
        (seq,) = struct.unpack_from("!I", frame, l4 + 4)
        base = seq if base is None else base
        into = (seq - base) & 0xFFFFFFFF
        if into < len(hello):
            n = min(len(frame) - at, len(hello) - into)
            assert frame[at : at + n] == hello[into : into + n], "a hello segment differs from the hello"
            out.append((k, at, into, n))
    assert sum(n for *_, n in out) == len(hello), "the hello's segments do not add up"
    return out


def chrome_hello(template: tuple[str, bool, int], seed: int, session: int) -> bytes:
    """A session's own ClientHello, as Chrome sends one per connection: fresh GREASE values and random
    bytes, shuffled extensions, the template hello's length. Seeded by (seed, session)."""
    name, post_quantum, length = template
    hello = synth.client_hello(
        name, post_quantum=post_quantum, shuffle=True, rng=random.Random((seed << 40) + session)
    )
    assert len(hello) == length, "a Chrome session's hello changed length"
    return hello


def _read_pcap(raw: bytes) -> list[tuple[int, bytes]]:
    out, pos = [], 24
    while pos < len(raw):
        sec, nsec, caplen, _ = struct.unpack_from("<IIII", raw, pos)
        out.append((sec * 1_000_000_000 + nsec, raw[pos + 16 : pos + 16 + caplen]))
        pos += 16 + caplen
    return out


# Offsets inside a record (16-byte pcap header + Ethernet 14): IP header starts at 30.
IP = 30


def _client_addr_offset(v6: bool, outgoing: bool) -> int:
    """Offset of the low 32 bits of the client's address inside a record."""
    if v6:
        return IP + (8 if outgoing else 24) + 12
    return IP + (12 if outgoing else 16)


def _l4(v6: bool) -> int:
    return IP + (40 if v6 else 20)


def _frame_meta(
    ts_ns: int, frame: bytes, client: str
) -> tuple[int, bool, bool, bool, bool, int, int, int, int, tuple[int, int, int, int]]:
    v6 = frame[12:14] == b"\x86\xdd"
    src = frame[22:38] if v6 else frame[26:30]
    outgoing = src == synth.packed_ip(client)
    rec = bytes(16) + frame
    l4 = _l4(v6)
    proto = rec[IP + 6] if v6 else rec[IP + 9]
    tcp = proto == synth.PROTO_TCP
    addr = _client_addr_offset(v6, outgoing)
    port_off = l4 + (0 if outgoing else 2)
    hi, lo = struct.unpack_from("!HH", rec, addr)
    (port,) = struct.unpack_from("!H", rec, port_off)
    if tcp:
        seq, ack = struct.unpack_from("!II", rec, l4 + 4)
        has_ack = bool(rec[l4 + 13] & synth.ACK)
        (l4_csum,) = struct.unpack_from("!H", rec, l4 + 16)
        txid = 0
    else:
        seq = ack = 0
        has_ack = False
        (l4_csum,) = struct.unpack_from("!H", rec, l4 + 6)
        (txid,) = struct.unpack_from("!H", rec, l4 + 8)
    ip_csum = 0 if v6 else struct.unpack_from("!H", rec, IP + 10)[0]
    return ts_ns, outgoing, v6, tcp, has_ack, seq, ack, l4_csum, ip_csum, (hi, lo, port, txid)


# ----------------------------------------------------------------------------- vectorized patching


def _put16(buf: np.ndarray, pos: np.ndarray, value: np.ndarray) -> None:
    buf[pos] = (value >> 8) & 0xFF
    buf[pos + 1] = value & 0xFF


def _put32(buf: np.ndarray, pos: np.ndarray, value: np.ndarray) -> None:
    _put16(buf, pos, (value >> 16) & 0xFFFF)
    _put16(buf, pos + 2, value & 0xFFFF)


def _put32le(buf: np.ndarray, pos: np.ndarray, value: np.ndarray) -> None:
    for k in range(4):
        buf[pos + k] = (value >> (8 * k)) & 0xFF


def _csum_update(old: np.ndarray, old_words: list[np.ndarray], new_words: list[np.ndarray]) -> np.ndarray:
    """RFC 1624 eqn 3: HC' = ~(~HC + ~m + m') over every changed 16-bit word."""
    total = (~old) & 0xFFFF
    for m, m_new in zip(old_words, new_words, strict=True):
        total = total + ((~m) & 0xFFFF) + m_new
    while True:
        high = total >> 16
        if not high.any():
            break
        total = (total & 0xFFFF) + high
    return (~total) & 0xFFFF


def _words32(value: np.ndarray) -> list[np.ndarray]:
    return [(value >> 16) & 0xFFFF, value & 0xFFFF]


def write_capture(
    path: Path,
    *,
    packets: int | None,
    size: int | None,
    seed: int,
    hosts: int,
    duration: float,
    beacons: int,
    templates: int,
    size_median: float,
    chunk: int = 100_000,
    chrome_share: float = 0.5,
) -> tuple[int, int]:
    rng = random.Random(seed)
    gen = np.random.default_rng(seed)
    tpl = build_templates(rng, templates, size_median)
    # Sessions: pick templates until the packet or byte target is reached.
    per_session_packets = tpl.count
    per_session_bytes = np.add.reduceat(tpl.size, tpl.first)
    mean_packets = float(per_session_packets.mean())
    mean_bytes = float(per_session_bytes.mean())
    if packets is not None:
        estimate = int(packets / mean_packets * 1.1) + 10
    else:
        estimate = int((size or 0) / mean_bytes * 1.1) + 10
    session_tpl = gen.integers(0, len(tpl.count), estimate)
    cum = np.cumsum(
        per_session_packets[session_tpl] if packets is not None else per_session_bytes[session_tpl]
    )
    limit = packets if packets is not None else size
    assert limit is not None, "give a packet count or a size"
    n_sessions = int(np.searchsorted(cum, limit, side="left")) + 1
    session_tpl = session_tpl[:n_sessions]
    start_ns = gen.integers(0, int(duration * 1e9), n_sessions) + int(START * 1e9)
    client_ids = gen.integers(0, hosts, n_sessions)
    # Beacons: a few hosts whose sessions of one template start on a timer (1-10 min, 10 % jitter).
    tls_templates = np.flatnonzero(np.array([k == "tls" for k in tpl.kind]))
    b_hosts = gen.choice(hosts, size=min(beacons, hosts), replace=False)
    b_series = []
    for host in b_hosts:
        period = gen.uniform(60, 600)
        n = int(duration // period)
        times = START + period * (np.arange(n) + gen.uniform(-0.1, 0.1, n))
        b_series.append((host, int(gen.choice(tls_templates)), (times * 1e9).astype(np.int64)))
    if b_series:
        session_tpl = np.concatenate([session_tpl] + [np.full(len(t), k) for _, k, t in b_series])
        client_ids = np.concatenate([client_ids] + [np.full(len(t), h) for h, _, t in b_series])
        start_ns = np.concatenate([start_ns] + [t for _, _, t in b_series])
        n_sessions = len(session_tpl)
    # Sessions whose ClientHello is their own (Chrome); drawn apart so the other draws do not move.
    tls_sessions = np.array([k == "tls" for k in tpl.kind])[session_tpl]
    chrome = tls_sessions & (np.random.default_rng([seed, 1]).random(n_sessions) < chrome_share)
    client_port = gen.integers(49152, 65536, n_sessions)
    client_isn = gen.integers(0, 1 << 32, n_sessions, dtype=np.int64)
    server_isn = gen.integers(0, 1 << 32, n_sessions, dtype=np.int64)
    txid = gen.integers(0, 1 << 16, n_sessions)
    # Clients: 10.<hi>.<lo> style v4 and fd00::<hi>:<lo> v6 use the same 32 low bits per host.
    client_low32 = (10 << 24) | (1 << 16) | (client_ids.astype(np.int64) + 10)

    # Expand sessions to packets and order them by time.
    counts = tpl.count[session_tpl]
    session_of = np.repeat(np.arange(n_sessions), counts)
    within = np.arange(len(session_of)) - np.repeat(np.cumsum(counts) - counts, counts)
    pkt_tpl = tpl.first[session_tpl][session_of] + within
    ts = start_ns[session_of] + tpl.rel_ns[pkt_tpl]
    order = np.argsort(ts, kind="stable")
    if packets is not None:
        order = order[:packets]
    elif size is not None:
        keep = int(np.searchsorted(np.cumsum(tpl.size[pkt_tpl[order]]), size - 24, side="right"))
        order = order[:keep]

    data = memoryview(tpl.data)
    pending: dict[int, list] = {}  # session -> [its hello, segments still to write]
    written_packets = 0
    with open(path, "wb") as out:
        out.write(pcap_header())
        written_bytes = 24
        for lo in range(0, len(order), chunk):
            idx = order[lo : lo + chunk]
            p, s = pkt_tpl[idx], session_of[idx]
            starts, sizes = tpl.start[p], tpl.size[p]
            buf = np.frombuffer(
                bytearray(
                    b"".join([data[a : a + n] for a, n in zip(starts.tolist(), sizes.tolist(), strict=True)])
                ),
                np.uint8,
            )
            off = np.concatenate(([0], np.cumsum(sizes)[:-1]))
            t = ts[idx]
            _put32le(buf, off, t // 1_000_000_000)
            _put32le(buf, off + 4, (t % 1_000_000_000) // 1000)
            v6, outgoing, tcp = tpl.v6[p], tpl.outgoing[p], tpl.tcp[p]
            addr_pos = off + np.where(
                v6, np.where(outgoing, IP + 20, IP + 36), np.where(outgoing, IP + 12, IP + 16)
            )
            l4 = off + np.where(v6, IP + 40, IP + 20)
            port_pos = l4 + np.where(outgoing, 0, 2)
            new_addr, new_port = client_low32[s], client_port[s]
            old_words = [tpl.client_word[0][p], tpl.client_word[1][p], tpl.client_word[2][p]]
            new_words = [*_words32(new_addr), new_port]
            _put32(buf, addr_pos, new_addr)
            _put16(buf, port_pos, new_port)
            # IPv4 header checksum covers the address.
            v4 = np.flatnonzero(~v6)
            _put16(
                buf,
                off[v4] + IP + 10,
                _csum_update(
                    tpl.ip_csum[p][v4], [w[v4] for w in old_words[:2]], [w[v4] for w in new_words[:2]]
                ),
            )
            # TCP: sequence numbers shift by the session's ISNs; the checksum follows every change.
            ti = np.flatnonzero(tcp)
            pt, st = p[ti], s[ti]
            own_isn = np.where(outgoing[ti], client_isn[st], server_isn[st])
            peer_isn = np.where(outgoing[ti], server_isn[st], client_isn[st])
            new_seq = (tpl.seq[pt] + own_isn) & 0xFFFFFFFF
            new_ack = np.where(tpl.has_ack[pt], (tpl.ack[pt] + peer_isn) & 0xFFFFFFFF, tpl.ack[pt])
            _put32(buf, l4[ti] + 4, new_seq)
            _put32(buf, l4[ti] + 8, new_ack)
            _put16(
                buf,
                l4[ti] + 16,
                _csum_update(
                    tpl.l4_csum[pt],
                    [w[ti] for w in old_words] + _words32(tpl.seq[pt]) + _words32(tpl.ack[pt]),
                    [w[ti] for w in new_words] + _words32(new_seq) + _words32(new_ack),
                ),
            )
            # UDP (DNS): a fresh transaction id per exchange.
            ui = np.flatnonzero(~tcp)
            pu, su = p[ui], s[ui]
            _put16(buf, l4[ui] + 8, txid[su])
            csum = _csum_update(
                tpl.l4_csum[pu],
                [w[ui] for w in old_words] + [tpl.client_word[3][pu]],
                [w[ui] for w in new_words] + [txid[su]],
            )
            _put16(buf, l4[ui] + 6, np.where(csum == 0, 0xFFFF, csum))
            # Chrome sessions: their own hello in place of the template's, TCP checksums recomputed.
            g = tpl.hello_seg[p]
            for i in np.flatnonzero((g >= 0) & chrome[s]).tolist():
                _patch_hello(
                    buf,
                    int(off[i]),
                    int(l4[i] - off[i]),
                    tpl,
                    int(g[i]),
                    int(s[i]),
                    int(session_tpl[s[i]]),
                    seed,
                    pending,
                )
            out.write(buf.tobytes())
            written_packets += len(idx)
            written_bytes += len(buf)
    return written_packets, written_bytes


def _patch_hello(
    buf: np.ndarray,
    rec: int,
    l4: int,
    tpl: Templates,
    g: int,
    session: int,
    template: int,
    seed: int,
    pending: dict[int, list],
) -> None:
    """Write session `session`'s own hello bytes into hello segment `g` of the record at `rec`, and
    recompute that segment's TCP checksum."""
    known = pending.get(session)
    if known is None:
        hello_info = tpl.hellos[template]
        assert hello_info is not None
        records = slice(tpl.first[template], tpl.first[template] + tpl.count[template])
        total = int(np.count_nonzero(tpl.hello_seg[records] >= 0))
        known = pending[session] = [chrome_hello(hello_info, seed, session), total]
    hello = known[0]
    known[1] -= 1
    if not known[1]:
        del pending[session]
    at, into, n = int(tpl.hello_at[g]), int(tpl.hello_from[g]), int(tpl.hello_len[g])
    buf[rec + at : rec + at + n] = np.frombuffer(hello, np.uint8, n, into)
    size = int.from_bytes(buf[rec + 8 : rec + 12].tobytes(), "little")  # caplen: the whole frame is there
    v6 = l4 == IP + 40
    if v6:
        src, dst = buf[rec + IP + 8 : rec + IP + 24].tobytes(), buf[rec + IP + 24 : rec + IP + 40].tobytes()
    else:
        src, dst = buf[rec + IP + 12 : rec + IP + 16].tobytes(), buf[rec + IP + 16 : rec + IP + 20].tobytes()
    end = rec + 16 + size
    buf[rec + l4 + 16 : rec + l4 + 18] = 0
    segment = buf[rec + l4 : end].tobytes()
    _put16(
        buf,
        np.array([rec + l4 + 16]),
        np.array([synth.checksum(synth._pseudo_header(src, dst, synth.PROTO_TCP, len(segment)) + segment)]),
    )


def _parse_size(text: str) -> int:
    units = {"k": 10**3, "m": 10**6, "g": 10**9}
    text = text.strip().lower().removesuffix("b")
    return int(float(text[:-1]) * units[text[-1]]) if text[-1:] in units else int(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("out", type=Path)
    target = parser.add_mutually_exclusive_group()
    target.add_argument("--size", type=_parse_size, help="target file size, e.g. 1G (default) or 50M")
    target.add_argument("--packets", type=int, help="target packet count instead of a size")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--hosts", type=int, default=2000, help="client hosts (default 2000)")
    parser.add_argument(
        "--duration", type=float, default=3600.0, help="capture span in seconds (default 3600)"
    )
    parser.add_argument("--beacons", type=int, default=20, help="hosts that check in on a timer (default 20)")
    parser.add_argument("--templates", type=int, default=600, help="distinct session templates (default 600)")
    parser.add_argument(
        "--chrome-share",
        type=float,
        default=0.5,
        help="share of TLS sessions that send their own hello, as Chrome does: fresh GREASE values and "
        "shuffled extensions (default 0.5; 0 replays every template hello byte for byte)",
    )
    parser.add_argument(
        "--size-median",
        type=float,
        default=2200.0,
        help="median response bytes; sets the mean packet size (default 2200: ~530 B per packet)",
    )
    args = parser.parse_args(argv)
    size = args.size if args.size is not None or args.packets is not None else 10**9
    started = time.perf_counter()
    packets, written = write_capture(
        args.out,
        packets=args.packets,
        size=size,
        seed=args.seed,
        hosts=args.hosts,
        duration=args.duration,
        beacons=args.beacons,
        templates=args.templates,
        size_median=args.size_median,
        chrome_share=args.chrome_share,
    )
    elapsed = time.perf_counter() - started
    print(
        f"{args.out}: {packets} packets, {written} bytes ({written / max(packets, 1):.0f} B/packet) "
        f"in {elapsed:.1f} s ({written / 1e6 / elapsed:.0f} MB/s)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
