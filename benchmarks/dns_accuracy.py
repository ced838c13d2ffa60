"""DNS detectors on labelled generated traffic: per tunnel, beacon and look-alike shape, the share of
its (client, registered domain) groups flagged by dns_tunnel, dns_beacon (score >= 0.5) and RITA's
unique-subdomain rule (>= 100 distinct subdomains of the domain over all clients).

    python benchmarks/dns_accuracy.py [--seeds 5] [--duration 3600] [--rows 0]

For tunnel and beacon shapes the share is recall, for look-alikes the false-positive rate.
--rows N also times both detectors on about N DNS rows of browsing, anti-virus lookups and one
tunnel (not a test: timings depend on the machine and its load).
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np

from netdetect.testing import dns as gen


def accuracy(seeds: int, duration_s: float) -> None:
    result = gen.evaluate_dns(range(seeds), duration_s=duration_s)
    methods = ("dns_tunnel", "dns_beacon", "rita_subdomains")
    print(f"{duration_s:.0f} s of traffic, {seeds} seeds")
    print(f"{'shape':<24}{'kind':<11}{'groups':>7}" + "".join(f"{m:>17}" for m in methods))
    for shape, row in result.items():
        kind = (
            "tunnel"
            if shape in gen.TUNNEL_SHAPES
            else "beacon"
            if shape in gen.BEACON_SHAPES
            else "look-alike"
        )
        print(f"{shape:<24}{kind:<11}{row['groups']:>7}" + "".join(f"{row[m]:>17.2f}" for m in methods))


def speed(rows: int) -> None:
    from netdetect.analysis.context import AnalysisOptions, build_context
    from netdetect.detectors.dns_beacon import DnsBeacon
    from netdetect.detectors.dns_tunnel import DnsTunnel
    from netdetect.model import CONN_DTYPE
    from netdetect.tables.events import EventSet
    from netdetect.tables.extraction import Extraction

    r = np.random.default_rng(0)
    events = EventSet()
    hosts = max(1, rows // 20_000)
    for h in range(hosts):  # ~20 k rows per browsing host
        events.dns.append(
            gen.browsing(r, f"10.5.{h // 250}.{h % 250 + 1}", n_domains=3000, duration_s=86_400)
        )
    events.dns.append(gen.iodine(r, "10.2.1.1", duration_s=3600.0, per_s=10))
    events.dns.append(
        gen.av_lookups(r, [f"10.1.0.{i}" for i in range(1, 100)], duration_s=86_400, per_min=1.0)
    )
    events.sort()
    ts = events.dns.rows["ts"]
    ex = Extraction(np.zeros(0, CONN_DTYPE), events, first_ts=float(ts[0]), last_ts=float(ts[-1]))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    t0 = time.perf_counter()
    ctx = build_context(ex, AnalysisOptions())
    beacons = DnsBeacon().run(ctx)
    tunnels = DnsTunnel().run(ctx)
    took = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    print(f"{len(ts):,} DNS rows, {len(events.pool):,} pool values: {took:.1f} s")
    print(f"peak RSS {before} -> {after} MB")
    flagged = int((tunnels.score >= 0.5).sum())
    print(f"dns_beacon rows {len(beacons)}, dns_tunnel rows {len(tunnels)} (>= 0.5: {flagged})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--duration", type=float, default=3600.0)
    ap.add_argument("--rows", type=int, default=0)
    args = ap.parse_args()
    accuracy(args.seeds, args.duration)
    if args.rows:
        speed(args.rows)


if __name__ == "__main__":
    main()
