"""Capture reading speed: netdetect's readers against a dpkt loop over the same generated files.

    python benchmarks/bench_read.py [--packets 1500000] [--seed 7] [--keep DIR]

Generates (seeded, in a temporary directory unless --keep) a classic pcap and a pcapng of small
packets with raw record writes, then times: the header walk alone (the only per-record Python
loop), full reading into PacketBatches (also of a zstd-compressed copy of the pcap), and dpkt's
Reader loops. Prints records per CPU second (one core) and ratios to dpkt; best of 3 runs.
"""

from __future__ import annotations

import argparse
import struct
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import zstandard

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from netdetect.capture import open_capture  # noqa: E402
from netdetect.capture.pcap import walk_records  # noqa: E402
from netdetect.capture.pcapng import walk_epbs  # noqa: E402

T0 = 1_680_000_000


def packet_sizes(count: int, seed: int) -> np.ndarray:
    """Mostly small packets (ACKs, DNS), some full-size: the shape of a real mixed capture's headers."""
    rng = np.random.default_rng(seed)
    sizes = rng.choice(
        [54, 60, 66, 74, 90, 120, 250, 590, 1514],
        size=count,
        p=[0.3, 0.2, 0.15, 0.1, 0.08, 0.07, 0.04, 0.03, 0.03],
    )
    return sizes.astype(np.int64)


def records(
    sizes: np.ndarray, header: int, write_header: Callable[[np.ndarray, np.ndarray], None]
) -> np.ndarray:
    """One buffer of records: a `header`-byte header then the packet bytes, padded as the format wants."""
    total = header + sizes
    out = np.zeros(int(total.sum()), dtype=np.uint8)
    starts = np.zeros(len(sizes), dtype=np.int64)
    starts[1:] = np.cumsum(total)[:-1]
    write_header(out, starts)
    return out


def put_u32(out: np.ndarray, positions: np.ndarray, values: np.ndarray) -> None:
    out[positions[:, None] + np.arange(4)] = values.astype("<u4").view(np.uint8).reshape(-1, 4)


def make_pcap(path: Path, sizes: np.ndarray) -> None:
    ts = T0 + np.arange(len(sizes)) * 0.0005

    def header(out: np.ndarray, starts: np.ndarray) -> None:
        put_u32(out, starts, ts.astype(np.int64))
        put_u32(out, starts + 4, ((ts % 1) * 1e6).astype(np.int64))
        put_u32(out, starts + 8, sizes)
        put_u32(out, starts + 12, sizes)

    with path.open("wb") as handle:
        handle.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))
        handle.write(records(sizes, 16, header).tobytes())


def make_pcapng(path: Path, sizes: np.ndarray) -> None:
    padded = (sizes + 3) // 4 * 4
    length = 32 + padded
    ticks = (T0 * 10**6 + np.arange(len(sizes)) * 500).astype(np.uint64)

    def header(out: np.ndarray, starts: np.ndarray) -> None:
        put_u32(out, starts, np.full(len(sizes), 6))
        put_u32(out, starts + 4, length)
        put_u32(out, starts + 8, np.zeros(len(sizes)))
        put_u32(out, starts + 12, (ticks >> np.uint64(32)).astype(np.int64))
        put_u32(out, starts + 16, (ticks & np.uint64(0xFFFFFFFF)).astype(np.int64))
        put_u32(out, starts + 20, sizes)
        put_u32(out, starts + 24, sizes)
        put_u32(out, starts + length - 4, length)

    shb = struct.pack("<IIIHHq", 0x0A0D0D0A, 28, 0x1A2B3C4D, 1, 0, -1) + struct.pack("<I", 28)
    idb = struct.pack("<IIHHI", 1, 20, 1, 0, 262144) + struct.pack("<I", 20)
    with path.open("wb") as handle:
        handle.write(shb + idb)
        handle.write(records(padded, 32, header).tobytes())


def timed(label: str, count_fn: Callable[[], int], repeat: int = 3) -> tuple[str, int, float]:
    """CPU seconds (user + system) of the best of `repeat` runs.

    CPU time, not wall time: on a shared machine it measures what one core does, undisturbed by other
    jobs' use of the cores (caches and memory bandwidth are still shared).
    """
    best = float("inf")
    count = 0
    for _ in range(repeat):
        start = time.process_time()
        count = count_fn()
        best = min(best, time.process_time() - start)
    return label, count, best


def netdetect_read(path: Path) -> Callable[[], int]:
    def run() -> int:
        with open_capture(path) as capture:
            return sum(len(batch) for batch in capture.batches())

    return run


def walk_only(path: Path, kind: str) -> Callable[[], int]:
    content = path.read_bytes()

    def run() -> int:
        view = memoryview(content)
        if kind == "pcap":
            return len(walk_records(view[24:], 16, struct.Struct("<I")))
        found: list[int] = []
        walk_epbs(view, 48, struct.Struct("<II"), found.append)
        return len(found)

    return run


def dpkt_loop(path: Path, kind: str, limit: int) -> Callable[[], int]:
    """dpkt's reader over the first `limit` records (it is slow; the rate is per record)."""
    import dpkt

    def run() -> int:
        count = 0
        with path.open("rb") as handle:
            reader = dpkt.pcap.Reader(handle) if kind == "pcap" else dpkt.pcapng.Reader(handle)
            for _ts, _buf in reader:
                count += 1
                if count == limit:
                    break
        return count

    return run


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--packets", type=int, default=1_500_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--dpkt-packets", type=int, default=200_000, help="records dpkt reads (default 200k)")
    parser.add_argument("--keep", type=Path, help="write the captures here and keep them")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        where = args.keep or Path(scratch)
        where.mkdir(parents=True, exist_ok=True)
        sizes = packet_sizes(args.packets, args.seed)
        files = {"pcap": where / "bench.pcap", "pcapng": where / "bench.pcapng"}
        make_pcap(files["pcap"], sizes)
        make_pcapng(files["pcapng"], sizes)
        compressed = where / "bench.pcap.zst"
        compressed.write_bytes(zstandard.ZstdCompressor(level=1).compress(files["pcap"].read_bytes()))
        print(
            f"{args.packets:,} packets, mean {sizes.mean():.0f} bytes; "
            + ", ".join(f"{k} {p.stat().st_size / 1e6:.0f} MB" for k, p in files.items())
        )
        for kind, path in files.items():
            rows = [
                timed("header walk (Python loop only)", walk_only(path, kind)),
                timed("netdetect open_capture().batches()", netdetect_read(path)),
                timed(f"dpkt.{kind}.Reader loop", dpkt_loop(path, kind, args.dpkt_packets)),
            ]
            if kind == "pcap":
                rows.insert(2, timed("netdetect, zstd-compressed copy", netdetect_read(compressed), repeat=1))
            dpkt_rate = rows[-1][1] / rows[-1][2]
            print(f"\n{kind}:")
            for label, count, seconds in rows:
                expected = min(args.packets, args.dpkt_packets) if "dpkt" in label else args.packets
                assert count == expected, (label, count)
                rate = count / seconds
                ratio = rate / dpkt_rate
                figures = f"{rate / 1e6:6.2f} M records/s  {seconds:6.2f} CPU s  x{ratio:5.1f} dpkt"
                print(f"  {label:<38} {figures}")


if __name__ == "__main__":
    main()
