#!/usr/bin/env python3
"""Intel scale benchmark (issue 5): 1 M indicators load in < 10 s, matched at > 1 M lookups/s (batch path).

    python benchmarks/bench_intel.py [--indicators 1000000] [--lookups 1000000] [--format text|jsonl]

Generates a seeded feed (70% domains, 20% IPv4, 5% CIDRs, 5% URLs) in a temporary directory, loads it
with IntelStore.load, then times the batch paths the scanner uses: distinct-name matching
(`match_names`), 16-byte address columns (`match_addresses16`, numpy) and address texts (`match_ips`).
Lookups mix 10% listed values (or subdomains of them) with 90% unlisted names/addresses.
Prints wall and CPU (process) time and the ratio to the targets, judged on CPU time so a machine shared
with other jobs does not decide the verdict; exits 1 if a target is missed.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from netdetect.intel import IntelStore  # noqa: E402
from netdetect.intel.store import V4_MAPPED  # noqa: E402


class Timer:
    """Wall and CPU seconds of a block."""

    def __enter__(self) -> Timer:
        self.wall0, self.cpu0 = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.wall0
        self.cpu = time.process_time() - self.cpu0

    def __str__(self) -> str:
        return f"{self.wall:.2f} s wall, {self.cpu:.2f} s CPU"


LOAD_TARGET_S = 10.0
LOOKUP_TARGET_PER_S = 1_000_000
TLDS = ["com", "net", "org", "info", "xyz", "top", "ru", "io", "co.uk", "online"]


def random_label(rng: random.Random, lo: int = 5, hi: int = 14) -> str:
    return "".join(rng.choices("abcdefghijklmnopqrstuvwxyz0123456789", k=rng.randint(lo, hi)))


def generate(n: int, rng: random.Random) -> tuple[list[tuple[str, str]], list[str], list[int]]:
    rows: list[tuple[str, str]] = []
    domains: list[str] = []
    ips: list[int] = []
    for i in range(n):
        r = i % 20
        if r < 14:
            name = f"{random_label(rng)}.{rng.choice(TLDS)}"
            domains.append(name)
            rows.append(("domain", name))
        elif r < 18:
            ip = rng.getrandbits(32)
            ips.append(ip)
            rows.append(("ip", ".".join(str((ip >> s) & 255) for s in (24, 16, 8, 0))))
        elif r == 18:
            net = rng.getrandbits(32) & 0xFFFFFF00
            rows.append(("cidr", ".".join(str((net >> s) & 255) for s in (24, 16, 8, 0)) + "/24"))
        else:
            rows.append(
                ("url", f"https://{random_label(rng)}.{rng.choice(TLDS)}/{random_label(rng)}/gate.php")
            )
    return rows, domains, ips


def write_feed(rows: list[tuple[str, str]], directory: Path, fmt: str) -> Path:
    if fmt == "text":
        path = directory / "bench.txt"
        path.write_text("# generated\n" + "\n".join(value for _, value in rows) + "\n")
    else:
        path = directory / "bench.jsonl"
        with path.open("w") as fh:
            for type_, value in rows:
                fh.write(json.dumps({"value": value, "type": type_, "confidence": "medium"}) + "\n")
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--indicators", type=int, default=1_000_000)
    parser.add_argument("--lookups", type=int, default=1_000_000)
    parser.add_argument("--format", choices=("text", "jsonl"), default="text")
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args()
    rng = random.Random(args.seed)

    rows, domains, ips = generate(args.indicators, rng)
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        feed = write_feed(rows, Path(tmp), args.format)
        size_mb = feed.stat().st_size / 1e6
        with Timer() as t:
            store = IntelStore.load([feed])
    print(
        f"load: {len(store):,} indicators ({args.format}, {size_mb:.1f} MB) in {t} "
        f"= {len(store) / t.cpu:,.0f}/s CPU  "
        f"[target < {LOAD_TARGET_S:.0f} s: ratio {LOAD_TARGET_S / t.cpu:.2f}x]"
    )
    ok &= t.cpu < LOAD_TARGET_S and not store.problems

    n = args.lookups
    # Names: 10% listed or subdomains of listed, 90% unlisted, all distinct (the worst case for the cache).
    names = [
        f"{random_label(rng, 3, 8)}.{rng.choice(domains)}"
        if i % 10 == 0
        else f"{random_label(rng, 3, 8)}.{random_label(rng)}.{rng.choice(TLDS)}"
        for i in range(n)
    ]
    with Timer() as t:
        found = store.match_names(names)
    print(
        f"names (numpy hash path): {n:,} distinct lookups in {t} = {n / t.cpu:,.0f}/s CPU, "
        f"{len(found):,} matched  [target > 1 M/s: ratio {n / t.cpu / LOOKUP_TARGET_PER_S:.2f}x]"
    )
    ok &= n / t.cpu > LOOKUP_TARGET_PER_S

    picks = np.array([rng.choice(ips) if i % 10 == 0 else rng.getrandbits(32) for i in range(n)], dtype=">u4")
    column = np.empty(n, dtype="S16")
    octets = column.view(np.uint8).reshape(-1, 16)
    octets[:, :12] = np.frombuffer(V4_MAPPED, dtype=np.uint8)
    octets[:, 12:] = picks.view(np.uint8).reshape(-1, 4)
    with Timer() as t:
        rows_hit = store.match_addresses16(column)
    print(
        f"addresses (16-byte column, numpy): {n:,} lookups in {t} = {n / t.cpu:,.0f}/s CPU, "
        f"{len(rows_hit):,} matched  [target > 1 M/s: ratio {n / t.cpu / LOOKUP_TARGET_PER_S:.2f}x]"
    )
    ok &= n / t.cpu > LOOKUP_TARGET_PER_S

    texts = [".".join(str((int(ip) >> s) & 255) for s in (24, 16, 8, 0)) for ip in picks]
    with Timer() as t:
        text_hits = store.match_ips(texts)
    print(
        f"addresses (text, parse + numpy): {n:,} lookups in {t} = {n / t.cpu:,.0f}/s CPU, "
        f"{len(text_hits):,} distinct matched  [ratio {n / t.cpu / LOOKUP_TARGET_PER_S:.2f}x]"
    )

    sample = names[: min(n, 200_000)]
    with Timer() as t:
        for name in sample:
            store.match_name(name)
    print(f"single match_name (not the batch path, for reference): {len(sample) / t.cpu:,.0f}/s CPU")
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
