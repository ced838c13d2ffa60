"""Differential fuzzing of the compiled core against the reference path it replaces.

    python benchmarks/fuzz_native.py --seconds 300

Each case builds a few batches from packets of the shared corpus (and of the demo capture), mutated:
bytes flipped in the headers and first payload bytes, packets cut short, captured lengths that run
past the packet or the buffer, link types swapped. Every batch goes through both implementations of
each stage, and anything but equal output is a failure (the case is saved to fuzz-native-*.pkl):

- header decoding: `decode_headers` (C) and `decode_headers_reference` (numpy), every column and count;
- event extraction: `EventExtractor()` (C walks) and one made in `netdetect.native.reference_path()`,
  every table row, pool value and error count;
- connection tracking: `NativeFlowTracker` and `ReferenceFlowTracker`, connection rows,
  stats and saved state, with expiry, small `max_open` and a save/restore across engines;
- record walks: pcap and pcapng walks on the mutated file bytes.

Under AddressSanitizer, so that a read or write out of bounds stops the run even when the results
agree (build a copy of the tree so the normal build is left alone):

    cp -r . /tmp/asan && cd /tmp/asan && rm -f $(find netdetect -name '*.so')
    CFLAGS="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer" \\
        python setup.py -q build_ext --inplace
    LD_PRELOAD=$(gcc -print-file-name=libasan.so):$(gcc -print-file-name=libubsan.so) \\
        ASAN_OPTIONS=detect_leaks=0 python benchmarks/fuzz_native.py --seconds 300

The run prints the cases and packets it went through.
"""

from __future__ import annotations

import argparse
import pickle
import random
import struct
import sys
import time
from dataclasses import fields
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from netdetect.capture import open_capture, pcap, pcapng  # noqa: E402
from netdetect.capture.batch import PacketBatch  # noqa: E402
from netdetect.decode.extract import EventExtractor  # noqa: E402
from netdetect.decode.headers import Headers, decode_headers, decode_headers_reference  # noqa: E402
from netdetect.flows import FlowTracker, NativeFlowTracker, ReferenceFlowTracker  # noqa: E402
from netdetect.native import load, reference_path, status  # noqa: E402

CORPUS = REPO.parent / "shared" / "corpus" / "pcaps"
LINKTYPES = (1, 1, 1, 1, 0, 101, 113, 276, 9, 228, 229, 108)
POOL_LIMIT = 60_000


def packet_pool(corpus: Path) -> list[tuple[int, bytes, float]]:
    """(linktype, bytes, timestamp) of corpus and demo packets, capped so start-up stays short."""
    paths = sorted(corpus.glob("*")) if corpus.is_dir() else []
    paths.append(REPO / "pcaps" / "demo-office.pcap")
    pool: list[tuple[int, bytes, float]] = []
    per_file = max(200, POOL_LIMIT // max(1, len(paths)))
    for path in paths:
        try:
            with open_capture(path) as cap:
                taken = 0
                for batch in cap.batches():
                    for i in range(len(batch)):
                        pool.append((int(batch.linktype[i]), batch.packet(i), float(batch.ts[i])))
                        taken += 1
                        if taken >= per_file:
                            break
                    if taken >= per_file:
                        break
        except Exception as exc:  # a corpus file the reader rejects is not this fuzzer's subject
            print(f"skipping {path.name}: {exc}", file=sys.stderr)
    return pool


def chrome_hellos(count: int, seed: int = 5) -> list[tuple[int, bytes, float]]:
    """Ethernet frames of Chrome-like ClientHellos (fresh GREASE, shuffled extensions, some split over two
    segments as post-quantum hellos are): they take the compiled GREASE- and order-free hello memo."""
    from netdetect.testing import synth

    rng = random.Random(seed)
    frames: list[tuple[int, bytes, float]] = []
    for i in range(count):
        hello = synth.client_hello(f"h{i % 40}.example", post_quantum=i % 3 == 0, shuffle=True, rng=rng)
        cut = len(hello) if len(hello) <= 1460 else 1460
        seq = 1000 + i
        for part, at in ((hello[:cut], seq), (hello[cut:], seq + cut)):
            if not part:
                continue
            tcp = struct.pack("!HHIIBBHHH", 40000 + i % 500, 443, at, 1, 0x50, 0x18, 65535, 0, 0)
            ip = struct.pack(
                "!BBHHHBBH4s4s",
                0x45,
                0,
                20 + len(tcp) + len(part),
                i & 0xFFFF,
                0,
                64,
                6,
                0,
                bytes([10, 0, i % 200 // 100, i % 100 + 1]),
                bytes([192, 0, 2, 1]),
            )
            frames.append((1, b"\x02\0\0\0\0\x01" * 2 + b"\x08\x00" + ip + tcp + part, 0.0))
    return frames


def mutate(rng: random.Random, data: bytes) -> bytes:
    out = bytearray(data)
    for _ in range(rng.choice((0, 0, 1, 1, 2, 4, 8))):
        if not out:
            break
        where = rng.randrange(min(len(out), 96 if rng.random() < 0.8 else len(out)))
        roll = rng.random()
        if roll < 0.6:
            out[where] = rng.randrange(256)
        elif roll < 0.75:
            out[where] ^= 1 << rng.randrange(8)
        elif roll < 0.9:
            del out[where:]
        else:
            out[where:where] = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 9)))
    return bytes(out)


def make_batch(rng: random.Random, pool: list[tuple[int, bytes, float]], t0: float) -> PacketBatch:
    n = rng.choice((1, 2, 5, 20, 60, 200))
    picks = [pool[rng.randrange(len(pool))] for _ in range(n)]
    if rng.random() < 0.5:  # runs of one flow's packets, so streams and flows meet themselves again
        start = rng.randrange(len(pool))
        picks = [pool[(start + i) % len(pool)] for i in range(n)]
    data = bytearray()
    offset, caplen, wirelen, ts, linktype = [], [], [], [], []
    for i, (lt, raw, _ts) in enumerate(picks):
        raw = mutate(rng, raw)
        if rng.random() < 0.03:
            lt = rng.choice(LINKTYPES)
        data += bytes(rng.randrange(3)) if rng.random() < 0.1 else b""
        offset.append(len(data))
        data += raw
        cl = len(raw)
        if rng.random() < 0.05:  # a caplen that lies: past the packet, into the next one or past the end
            cl = max(0, cl + rng.randrange(-8, 64))
        caplen.append(cl)
        wirelen.append(max(cl, len(raw)) + rng.choice((0, 0, 0, 100)))
        step = rng.choice((0.0, 0.001, 0.5, 30.0, 70.0, 400.0))
        ts.append(t0 + i * step * (1 if rng.random() < 0.97 else -1))
        linktype.append(lt)
    if offset and rng.random() < 0.3:  # the last packet runs off the end of the buffer
        del data[max(offset[-1], len(data) - rng.randrange(1, 40)) :]
    return PacketBatch(
        data=np.frombuffer(bytes(data) or b"\0", np.uint8),
        offset=np.array(offset, np.int64),
        caplen=np.array(caplen, np.int64),
        wirelen=np.array(wirelen, np.int64),
        ts=np.array(ts, np.float64),
        linktype=np.array(linktype, np.uint16),
    )


def same_headers(batch: PacketBatch) -> Headers:
    fast, ref = decode_headers(batch), decode_headers_reference(batch)
    for f in fields(Headers):
        a, b = getattr(fast, f.name), getattr(ref, f.name)
        if f.name == "counts":
            assert list(a.items()) == list(b.items()), ("counts", a, b)
        else:
            assert a.dtype == b.dtype and np.array_equal(a, b), f.name
    return fast




def whole_packets(h: Headers) -> Headers:
    """What the pipeline hands the flow tracker: non-first fragments left out."""
    keep = ~(h.fragment & (h.frag_off > 0))
    if keep.all():
        return h
    from dataclasses import replace

    return replace(h, **{f.name: getattr(h, f.name)[keep] for f in fields(h) if f.name != "counts"})


def same_connections(a: FlowTracker, b: FlowTracker) -> None:
    ca, cb = a.take(), b.take()
    assert ca.tobytes() == cb.tobytes(), "connections"
    assert a.stats == b.stats, ("stats", a.stats, b.stats)


def one_case(rng: random.Random, pool: list[tuple[int, bytes, float]]) -> int:
    max_open = rng.choice((3, 50, 2_000_000))
    native_flows = NativeFlowTracker(max_open)
    reference_flows = ReferenceFlowTracker(max_open)
    native_events = EventExtractor()
    with reference_path():
        python_events = EventExtractor()
    t0 = 1_700_000_000.0 + rng.random() * 1000
    packets = 0
    for _ in range(rng.choice((1, 2, 4, 8))):
        batch = make_batch(rng, pool, t0)
        t0 += rng.choice((0.0, 1.0, 100.0))
        packets += len(batch)
        h = same_headers(batch)
        native_events.process(batch, h)
        python_events.process(batch, h)
        whole = whole_packets(h)
        native_flows.add(whole)
        reference_flows.add(whole)
        roll = rng.random()
        if roll < 0.2 and len(whole):
            now = float(np.nanmax(whole.ts)) if np.isfinite(whole.ts).any() else t0
            native_flows.expire(now)
            reference_flows.expire(now)
        elif roll < 0.3:  # restart each engine from the other's saved state
            saved_native, saved_reference = native_flows.save_state(), reference_flows.save_state()
            assert saved_native["state"].tobytes() == saved_reference["state"].tobytes(), "saved state"
            same_connections(native_flows, reference_flows)
            native_flows, reference_flows = (
                NativeFlowTracker(max_open),
                ReferenceFlowTracker(max_open),
            )
            native_flows.load_state(saved_reference)
            reference_flows.load_state(saved_native)
        if rng.random() < 0.3:
            same_connections(native_flows, reference_flows)
    assert native_events.out.snapshot() == python_events.out.snapshot(), "event tables"
    native_flows.flush()
    reference_flows.flush()
    same_connections(native_flows, reference_flows)
    return packets


def walk_case(rng: random.Random, pool: list[tuple[int, bytes, float]]) -> None:
    """Record walks on mutated capture bytes (both byte orders)."""
    order = rng.choice("<>")
    body = bytearray()
    for _ in range(rng.randrange(1, 30)):
        raw = pool[rng.randrange(len(pool))][1]
        body += struct.pack(order + "IIII", 1, 2, len(raw), len(raw)) + raw
    body = bytearray(mutate(rng, bytes(body))) if rng.random() < 0.5 else body
    if body and rng.random() < 0.5:
        body[rng.randrange(len(body))] = rng.randrange(256)
    end = rng.randrange(len(body) + 1)
    records = load("netdetect.capture._records")
    assert records is not None
    raw, view, big = bytes(body), np.frombuffer(bytes(body) or b"\0", np.uint8), order == ">"
    expected = pcap.walk_records(memoryview(raw)[:end], 16, struct.Struct(order + "I"))
    found, _words = records.walk_pcap(view, end, 16, big)
    assert np.frombuffer(found, np.int64).tolist() == expected, "pcap walk"
    expected_epbs: list[int] = []
    stop = pcapng.walk_epbs(memoryview(raw)[:end], 0, struct.Struct(order + "II"), expected_epbs.append)
    found, _words, native_stop = records.walk_epbs(view, end, 0, big)
    assert (np.frombuffer(found, np.int64).tolist(), native_stop) == (expected_epbs, stop), "epb walk"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--corpus", type=Path, default=CORPUS, help="folder of captures to take packets from")
    args = ap.parse_args()
    missing = [name for name, built in status().items() if not built]
    if missing:
        raise SystemExit(f"compiled modules missing: {missing} (python setup.py build_ext --inplace)")
    seed = args.seed if args.seed is not None else random.randrange(1 << 32)
    pool = packet_pool(args.corpus) + chrome_hellos(2000)
    print(f"fuzz_native: seed {seed}, {len(pool):,} corpus packets in the pool", flush=True)
    rng = random.Random(seed)
    cases = packets = 0
    start = time.monotonic()
    while time.monotonic() - start < args.seconds:
        state = rng.getstate()
        try:
            packets += one_case(rng, pool)
            walk_case(rng, pool)
        except AssertionError as exc:
            path = Path(f"fuzz-native-{seed}-{cases}.pkl")
            path.write_bytes(pickle.dumps({"seed": seed, "case": cases, "rng_state": state}))
            raise SystemExit(f"fuzz_native: case {cases} differs ({exc}); state saved to {path}") from exc
        cases += 1
        if cases % 2000 == 0:
            print(f"  {cases:,} cases, {packets:,} packets, {time.monotonic() - start:.0f} s", flush=True)
    took = time.monotonic() - start
    print(f"fuzz_native: {cases:,} cases ({packets:,} packets) in {took:.0f} s, all equal to the reference")


if __name__ == "__main__":
    main()
