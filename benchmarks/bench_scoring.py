"""Scoring throughput: 10 M connections in 1 M groups on one core (target: under a minute).

    python benchmarks/bench_scoring.py [--connections 10000000] [--groups 1000000] [--seed 1]

Group sizes are heavy-tailed like real traffic (most pairs talk a few times, a few talk a lot);
2% of groups are jittered check-ins, the rest random arrivals over one day. Prints the time of
each stage and connections per second. Not a test: timings depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np


def make_table(
    n_connections: int, n_groups: int, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    rng = np.random.default_rng(seed)
    # heavy-tailed sizes (Pareto-like), scaled to the requested total
    raw = rng.pareto(1.2, n_groups) + 1.0
    sizes = np.maximum(1, np.floor(raw * n_connections / raw.sum())).astype(np.int64)
    deficit = n_connections - int(sizes.sum())
    if deficit > 0:
        sizes[rng.integers(0, n_groups, deficit)] += 1
    elif deficit < 0:
        big = np.argsort(sizes)[::-1]
        take = np.minimum(sizes[big] - 1, -deficit)
        take[np.cumsum(take) > -deficit] = 0
        sizes[big] -= take
    group = np.repeat(np.arange(n_groups, dtype=np.int64), sizes)
    n = group.size
    day = 86_400.0
    ts = 1.7e9 + rng.uniform(0.0, day, n)
    beacon = rng.random(n_groups) < 0.02
    rows = beacon[group]
    period = (day / np.maximum(sizes, 1))[group[rows]]
    rank = np.arange(n) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    ts[rows] = 1.7e9 + period * (rank[rows] + rng.uniform(-0.3, 0.3, rows.sum()))
    order = rng.permutation(n)  # scoring must not rely on input order
    bytes_out = rng.integers(200, 2000, n)
    bytes_in = rng.integers(200, 20_000, n)
    duration = rng.exponential(1.0, n)
    return group[order], ts[order], bytes_out[order], bytes_in[order], duration[order], n_groups


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--connections", type=int, default=10_000_000)
    parser.add_argument("--groups", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    from netdetect.scoring import score_groups

    started = time.perf_counter()
    group, ts, b_out, b_in, dur, n_groups = make_table(args.connections, args.groups, args.seed)
    made = time.perf_counter() - started
    print(f"generated {ts.size:,} connections in {n_groups:,} groups in {made:.1f} s")

    cpu0, wall0 = time.process_time(), time.perf_counter()
    table = score_groups(group, ts, b_out, b_in, dur, n_groups, window=(float(ts.min()), float(ts.max())))
    wall = time.perf_counter() - wall0
    cpu = time.process_time() - cpu0
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"scored in {wall:.1f} s wall, {cpu:.1f} s CPU ({ts.size / wall:,.0f} connections/s wall); "
        f"load average {load:.1f}"
    )
    print(f"groups flagged: {int(table.beacon.sum()):,} of {n_groups:,}; target: under 60 s on one core")


if __name__ == "__main__":
    main()
