"""Scoring throughput: 10 M connections in 1 M groups on one core (target: under a minute).

    python benchmarks/bench_scoring.py [--connections 10000000] [--groups 1000000] [--seed 1]

Group sizes are heavy-tailed like real traffic (most pairs talk a few times, a few talk a lot);
2% of groups are check-ins (±20% jitter), the rest random arrivals over one day. Prints the time of
each stage and connections per second. Not a test: timings depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np


def make_table(
    n_connections: int, n_groups: int, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    # heavy-tailed sizes (Pareto-like): every group at least one connection, the rest shared out
    weight = rng.pareto(1.2, n_groups) + 1.0
    sizes = 1 + rng.multinomial(n_connections - n_groups, weight / weight.sum())
    group = np.repeat(np.arange(n_groups, dtype=np.int64), sizes)
    n = group.size
    day = 86_400.0
    ts = 1.7e9 + rng.uniform(0.0, day, n)
    beacon = rng.random(n_groups) < 0.02
    rows = beacon[group]
    period = (day / np.maximum(sizes, 1))[group[rows]]
    rank = np.arange(n) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    ts[rows] = 1.7e9 + period * (rank[rows] + rng.uniform(-0.1, 0.1, rows.sum()))
    order = rng.permutation(n)  # scoring must not rely on input order
    bytes_out = rng.integers(200, 2000, n)
    bytes_in = rng.integers(200, 20_000, n)
    duration = rng.exponential(1.0, n)
    return group[order], ts[order], bytes_out[order], bytes_in[order], duration[order], beacon


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--connections", type=int, default=10_000_000)
    parser.add_argument("--groups", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    from netdetect.scoring import score_groups

    started = time.perf_counter()
    group, ts, b_out, b_in, dur, is_beacon = make_table(args.connections, args.groups, args.seed)
    n_groups = args.groups
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
    scorable = table.subscores["events"] >= 6
    print(
        f"flagged {int(table.beacon.sum()):,} groups: {int((table.beacon & is_beacon).sum()):,} of "
        f"{int((is_beacon & scorable).sum()):,} check-in groups with >= 6 check-ins, "
        f"{int((table.beacon & ~is_beacon).sum()):,} of {int((~is_beacon & scorable).sum()):,} random ones"
    )
    print("target: under 60 s on one core")


if __name__ == "__main__":
    main()
