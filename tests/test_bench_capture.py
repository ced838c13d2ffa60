"""The benchmark generator's Chrome sessions (benchmarks/make_capture.py --chrome-share) and the
`shuffle` option of synth.client_hello they use: per session fresh GREASE values and extension order,
lengths, sequence numbers and checksums intact (also for hellos in two segments), seeded output."""

from __future__ import annotations

import random
import struct
from collections import Counter
from pathlib import Path

import dpkt
import pytest
from _packets import load_script

from netdetect.capture import open_capture
from netdetect.decode import fingerprint, tls
from netdetect.decode.extract import EventExtractor
from netdetect.decode.headers import decode_headers
from netdetect.testing import synth

ROOT = Path(__file__).resolve().parent.parent


def _extensions(record: bytes) -> list[tuple[int, bytes]]:
    body = tls.client_hello_body(record)
    assert body is not None
    pos = 35 + body[34]
    pos += 2 + int.from_bytes(body[pos : pos + 2], "big")
    pos += 1 + body[pos]
    end = pos + 2 + int.from_bytes(body[pos : pos + 2], "big")
    pos += 2
    out = []
    while pos < end:
        ext_type, size = struct.unpack_from("!HH", body, pos)
        out.append((ext_type, body[pos + 4 : pos + 4 + size]))
        pos += 4 + size
    assert pos == end == len(body)
    return out


@pytest.mark.parametrize("kwargs", [{}, {"post_quantum": True}, {"ech": True, "alpn": ()}, {"sni": None},
                                    {"profile": "schannel"}, {"versions": (0x0303,)}])
def test_shuffled_hellos_keep_length_grease_places_and_fingerprints(kwargs: dict) -> None:
    sni = kwargs.pop("sni", "s.example")
    chrome = kwargs.get("profile", "chrome") == "chrome"
    plain = synth.client_hello(sni, rng=random.Random(7), **kwargs)
    assert synth.client_hello(sni, rng=random.Random(7), shuffle=False, **kwargs) == plain  # the default
    reference = tls.extract_client_hello(plain)
    orders = set()
    for seed in range(30):
        record = synth.client_hello(sni, rng=random.Random(seed), shuffle=True, **kwargs)
        assert len(record) == len(plain)
        exts = _extensions(record)
        types = [t for t, _ in exts]
        padded = types[-1] == 21
        if chrome:  # GREASE first and last, then padding when there is any
            assert fingerprint.is_grease(types[0]) and fingerprint.is_grease(types[-2 if padded else -1])
        assert sorted(t for t in types if not fingerprint.is_grease(t)) == sorted(
            t for t, _ in _extensions(plain) if not fingerprint.is_grease(t))
        orders.add(tuple(t for t in types if not fingerprint.is_grease(t)))
        hello = tls.extract_client_hello(record)
        assert hello is not None and reference is not None
        assert (hello.ja4, hello.sni, hello.alpn, hello.versions) == (
            reference.ja4, reference.sni, reference.alpn, reference.versions)
        assert hello.ja3 == fingerprint.ja3_string(hello.legacy_version, hello.ciphers, hello.extensions,
                                                   hello.groups, hello.ec_point_formats)
    assert len(orders) > 20


def _scan(path: Path) -> tuple[list, dict, list[bytes]]:
    """TLS events, extraction errors, and each TCP connection's first client payload (by dpkt)."""
    ex = EventExtractor()
    with open_capture(path) as cap:
        for batch in cap.batches():
            ex.process(batch, decode_headers(batch))
    first: dict[tuple, bytes] = {}
    for _, frame in dpkt.pcap.Reader(path.open("rb")):
        ip = dpkt.ethernet.Ethernet(frame).data
        seg = ip.data
        if isinstance(seg, dpkt.tcp.TCP) and seg.dport == 443 and seg.data:
            first.setdefault((ip.src, seg.sport), bytes(seg.data))
        assert _checksums_ok(ip)
    return list(ex.out.tls), dict(ex.out.errors), list(first.values())


def _checksums_ok(ip: dpkt.ip.IP | dpkt.ip6.IP6) -> bool:
    raw = bytes(ip)
    if isinstance(ip, dpkt.ip.IP):
        if synth.checksum(raw[:20]) != 0:
            return False
        src, dst, l4, proto = raw[12:16], raw[16:20], raw[20 : ip.len], ip.p
    else:
        src, dst, l4, proto = raw[8:24], raw[24:40], raw[40:], ip.nxt
    return synth.checksum(synth._pseudo_header(src, dst, proto, len(l4)) + l4) == 0


def test_generator_gives_chrome_sessions_their_own_hellos(tmp_path: Path) -> None:
    bench = load_script(ROOT / "benchmarks" / "make_capture.py")
    args = {"packets": 6000, "size": None, "seed": 5, "hosts": 40, "duration": 120.0, "beacons": 2,
            "templates": 30, "size_median": 1500.0}
    runs = {}
    for share in (0.0, 0.5, 1.0):
        path = tmp_path / f"share{share}.pcap"
        assert bench.write_capture(path, chrome_share=share, **args)[0] == 6000
        runs[share] = (path, *_scan(path))
    assert bench.write_capture(tmp_path / "again.pcap", chrome_share=0.5, **args)[0] == 6000
    assert (tmp_path / "again.pcap").read_bytes() == runs[0.5][0].read_bytes()  # seeded
    # The same sessions, packets and lengths at every share; only hello bytes differ.
    assert runs[0.0][0].stat().st_size == runs[1.0][0].stat().st_size
    replayed, own = runs[0.0][1], runs[1.0][1]
    assert len(replayed) == len(own) > 60 and runs[0.0][2] == runs[1.0][2] == {}
    assert len({e.ja4 for e in own}) == len({e.ja4 for e in replayed})  # GREASE and order do not count
    assert len({e.ja3 for e in replayed}) <= len({e.ja4 for e in replayed})
    assert len({e.ja3 for e in own}) > 0.9 * len(own)  # a new extension order per session
    names = [sorted((e.sni, e.alpn, e.versions) for e in events) for events in (own, replayed)]
    assert names[0] == names[1]
    two_segment = [p for p in runs[1.0][3] if p[:1] == b"\x16" and len(p) < 5 + int.from_bytes(p[3:5], "big")]
    assert two_segment  # post-quantum hellos span two segments, and decode (no errors above)

    def repeats(payloads: list[bytes]) -> int:  # sessions whose client random another session sent too
        hellos = [p for p in payloads if p[:1] == b"\x16"]
        count = Counter(p[11:43] for p in hellos)
        return sum(1 for p in hellos if count[p[11:43]] > 1)

    assert repeats(runs[1.0][3]) == 0 < repeats(runs[0.5][3]) < repeats(runs[0.0][3])
