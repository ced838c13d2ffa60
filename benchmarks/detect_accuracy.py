"""Strobe and rotating-C2 detectors vs RITA's corresponding rules, on seeded, labeled tables.

    python benchmarks/detect_accuracy.py [--seed 7] [--trials 20] [--flood 5000000] [--load 2000000]

Strobes: recall and false positives of the strobe detector and of RITA's rule (a pair with
86,400 or more connections in its data, at most a day), for captures of 5 minutes, 1 hour and
24 hours. Rotating C2: recall (the set found with every address) and false positives of the
rotating detector, and what RITA gives (it has no rotating rule: its per-pair beacon score, >= 0.7,
on any one address of the rotation), with netdetect's own per-address beacon score beside it.
`--flood N`: time the strobe detector on N connections from random sources and from one source;
`--load N`: time the rotating detector on N TLS connections of many clients (memory and time must
stay bounded; the figures are printed, not asserted).
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict
from collections.abc import Callable

import numpy as np

from netdetect.analysis.context import AnalysisContext, AnalysisOptions, build_context
from netdetect.detectors.rotating import RotatingDetector
from netdetect.detectors.strobe import StrobeDetector
from netdetect.model import CONN_DTYPE
from netdetect.scoring import score_groups
from netdetect.tables import addr16
from netdetect.tables.connections import sort_connections
from netdetect.tables.events import EventSet
from netdetect.tables.extraction import Extraction
from netdetect.testing.series import browsing

T0 = 1_700_000_000.0
RITA_STROBE_PER_DAY = 86_400
RITA_BEACON = 0.7


def _address(prefix: str, k: int) -> bytes:
    return addr16(f"{prefix}.{k // 250 % 250}.{k % 250 + 1}")


class Tables:
    """Connections (and ClientHellos) of many labeled instances, one client address each."""

    def __init__(self, window: tuple[float, float]) -> None:
        self.window = window
        self.parts: list[np.ndarray] = []
        self.events = EventSet()
        self.truth: dict[bytes, tuple[str, bool]] = {}  # client -> (kind, positive)
        self.servers: dict[bytes, set[bytes]] = {}

    def add(
        self,
        kind: str,
        positive: bool,
        ts: np.ndarray,
        servers: list[bytes],
        *,
        ja3: str | None = None,
        answered: bool = True,
        server_ports: np.ndarray | None = None,
    ) -> None:
        client = _address("10.1", len(self.truth))
        self.truth[client] = (kind, positive)
        ts = np.sort(ts[(ts >= self.window[0]) & (ts <= self.window[1])])
        rows = np.zeros(len(ts), CONN_DTYPE)
        rows["ts"], rows["end_ts"] = ts, ts + 0.2
        rows["client"], rows["server"] = client, servers[: len(ts)] if len(servers) > 1 else servers[0]
        rows["client_port"] = 1024 + np.arange(len(ts)) % 60000
        rows["server_port"] = 443 if server_ports is None else server_ports[: len(ts)]
        rows["proto"], rows["bytes_out"], rows["packets_out"] = 6, 600, 4
        rows["bytes_in"], rows["packets_in"] = (5000, 4) if answered else (0, 0)
        self.parts.append(rows)
        self.servers[client] = set(rows["server"].tolist())
        if ja3 is not None:
            add = self.events.tls.add
            for r in rows.tolist():
                add(r[0] + 0.05, r[2], r[3], r[4], r[5], False, None, (), (), False, ja3, ja3, None)

    def context(self) -> AnalysisContext:
        conns = sort_connections(np.concatenate(self.parts))
        self.events.sort()
        ex = Extraction(conns, self.events, first_ts=self.window[0], last_ts=self.window[1])
        ex.spans = [self.window]
        return build_context(ex, AnalysisOptions())


def _rates(rng: np.random.Generator, lo: float, hi: float, start: float, seconds: float) -> np.ndarray:
    rate = rng.uniform(lo, hi)
    return start + np.sort(rng.uniform(0, seconds, rng.poisson(rate * seconds)))


def strobe_tables(rng: np.random.Generator, length: float, trials: int) -> Tables:
    lo, hi = T0, T0 + length
    t = Tables((lo, hi))
    server = [_address("198.51", 1)]
    for _ in range(trials):
        # Floods, 1.5-6 a second, for the whole capture.
        t.add("flood (whole capture)", True, _rates(rng, 1.5, 6.0, lo, length), server)
        # Floods of 10-50 a second for 2-20 minutes (at most the capture).
        burst = min(length, rng.uniform(120, 1200))
        t.add("flood (minutes)", True, _rates(rng, 10, 50, rng.uniform(lo, hi - burst), burst), server)
        # An unanswered SYN flood: 100 a second for 30 s, random source ports.
        t.add(
            "syn flood (30 s)",
            True,
            _rates(rng, 100, 100, rng.uniform(lo, hi - 30), 30.0),
            server,
            answered=False,
        )
        # Busy but ordinary: a page load burst (300 in 10 s), a 5 s poller, a heavy browser.
        t.add("page burst", False, _rates(rng, 30, 30, rng.uniform(lo, hi - 10), 10.0), server)
        t.add("poller every 5 s", False, lo + np.arange(0, length, 5.0) + rng.normal(0, 0.2), server)
        t.add("heavy browsing (0.3/s)", False, _rates(rng, 0.2, 0.4, lo, length), server)
        # A small vertical scan: 500 ports in 20 s (under the floor).
        t.add(
            "port scan (500 ports)",
            False,
            _rates(rng, 25, 25, rng.uniform(lo, hi - 20), 20.0),
            server,
            answered=False,
            server_ports=np.arange(1, 2000),
        )
    return t


def rotating_tables(rng: np.random.Generator, length: float, trials: int) -> Tables:
    lo, hi = T0, T0 + length
    t = Tables((lo, hi))
    for i in range(trials):
        period = float(np.exp(rng.uniform(np.log(60), np.log(900))))
        jitter = rng.choice([0.0, 0.1, 0.3])
        n = int(length / period)
        ts = lo + rng.uniform(0, period) + np.cumsum(period * rng.uniform(1 - jitter, 1 + jitter, n))
        k = int(rng.integers(2, 9))
        pool = [_address(f"203.{i % 200}", j) for j in range(k)]
        turn = [pool[j % k] for j in range(n)]
        at_random = [pool[j] for j in rng.integers(0, k, n)]
        runs = np.repeat(rng.integers(0, k, n), rng.integers(1, 6, n))[:n]  # fallback: a few on each
        fallback = [pool[j] for j in runs]
        t.add("rotation in turn", True, ts, turn, ja3=f"m{i}")
        t.add("rotation at random", True, ts, at_random, ja3=f"m{i}")
        t.add("rotation by fallback runs", True, ts, fallback, ja3=f"m{i}")
        # Look-alikes: a browser (one print, many addresses), a beacon to one address with strays of
        # the same print elsewhere, Poisson use of a service on several addresses.
        # Browsing sessions (the beacon corpus' generator) over a background of page resources.
        web = np.concatenate(
            [browsing(rng, (lo, hi), length >= 86_400), _rates(rng, 0.002, 0.01, lo, length)]
        )
        t.add(
            "browser", False, web, [_address("192.0", j) for j in rng.integers(0, 50, len(web))], ja3="chrome"
        )
        stray = rng.uniform(lo, hi, max(2, n // 12))
        order = np.argsort(np.concatenate([ts, stray]))
        servers = [pool[0] if j < n else pool[1] for j in order.tolist()]
        t.add("one-address beacon + strays", False, np.concatenate([ts, stray])[order], servers, ja3=f"b{i}")
        poisson = _rates(rng, 1 / period, 1 / period, lo, length)
        # (addresses at random: taking them strictly in turn would make each one's series Erlang,
        # i.e. regular)
        servers = [pool[j] for j in rng.integers(0, k, len(poisson))]
        t.add("several addresses, Poisson use", False, poisson, servers, ja3=f"p{i}")
    return t


def _report(title: str, kinds: dict[str, list[bool]], truth: dict[str, bool], methods: list[str]) -> None:
    print(title)
    print(f"{'kind':<30}{'n':>4}" + "".join(f"{m:>22}" for m in methods))
    for kind, flags in kinds.items():
        n = len(flags[0])
        cells = "".join(f"{sum(f) / max(n, 1):>22.2f}" for f in flags)
        print(f"{kind + (' (+)' if truth[kind] else ' (-)'):<30}{n:>4}{cells}")
    print("(+) rows: recall; (-) rows: false-positive rate")


def strobe_accuracy(rng: np.random.Generator, trials: int) -> None:
    for length, label in ((300.0, "5 min"), (3600.0, "1 h"), (86_400.0, "24 h")):
        t = strobe_tables(rng, length, trials if length < 86_400 else max(2, trials // 4))
        ctx = t.context()
        found = StrobeDetector().run(ctx)
        flagged = {
            ctx.groups.client_raw[g] for g, s in zip(found.groups, found.score, strict=True) if s >= 0.5
        }
        # RITA's rule: a (client, server) pair with >= 86,400 connections in its (at most 24 h) data;
        # every instance here has one server.
        clients, counts = np.unique(ctx.conns["client"], return_counts=True)
        rita = set(clients[counts >= RITA_STROBE_PER_DAY].tolist())
        kinds: dict[str, list[list[bool]]] = defaultdict(lambda: [[], []])
        truth = {}
        for client, (kind, positive) in t.truth.items():
            kinds[kind][0].append(client in flagged)
            kinds[kind][1].append(client in rita)
            truth[kind] = positive
        _report(f"\nStrobes, {label} capture", kinds, truth, ["netdetect strobe", "RITA >= 86,400/day"])


def rotating_accuracy(rng: np.random.Generator, trials: int) -> None:
    for length, label in ((2 * 3600.0, "2 h"), (24 * 3600.0, "24 h")):
        t = rotating_tables(rng, length, trials)
        ctx = t.context()
        found = RotatingDetector().run(ctx)
        whole: set[bytes] = set()
        for i, g in enumerate(found.groups.tolist()):
            client = ctx.groups.client_raw[g]
            if {addr16(a) for a in found.evidence["addresses"][i]} >= {s for s in t.servers[client]}:
                whole.add(client)
        table = score_groups(
            ctx.groups.index,
            ctx.conns["ts"],
            ctx.conns["bytes_out"],
            ctx.conns["bytes_in"],
            ctx.conns["end_ts"] - ctx.conns["ts"],
            len(ctx.groups),
            window=ctx.window,
        )
        rita_any, own_any = set(), set()
        for g, client in enumerate(ctx.groups.client_raw.tolist()):
            if table.subscores["rita_score"][g] >= RITA_BEACON:
                rita_any.add(client)
            if table.score[g] >= 0.5:
                own_any.add(client)
        kinds: dict[str, list[list[bool]]] = defaultdict(lambda: [[], [], []])
        truth = {}
        for client, (kind, positive) in t.truth.items():
            kinds[kind][0].append(client in whole)
            kinds[kind][1].append(client in rita_any)
            kinds[kind][2].append(client in own_any)
            truth[kind] = positive
        _report(
            f"\nRotating C2, {label} capture (skipped sets: {found.skipped})",
            kinds,
            truth,
            ["netdetect rotating", "RITA per address", "beacon per address"],
        )


def time_flood(rng: np.random.Generator, n: int) -> None:
    for sources in ("random sources", "one source"):
        rows = np.zeros(n, CONN_DTYPE)
        rows["ts"] = T0 + np.sort(rng.uniform(0, 600, n))
        raw = np.zeros((n, 16), np.uint8)
        raw[:, 10:12] = 0xFF
        raw[:, 12] = 10
        if sources == "random sources":
            raw[:, 13:] = rng.integers(0, 256, (n, 3), dtype=np.uint8)
        rows["client"] = raw.view("S16").ravel()
        rows["server"] = addr16("198.51.100.7")
        rows["client_port"] = rng.integers(1024, 65535, n)
        rows["server_port"], rows["proto"] = 80, 6
        ex = Extraction(rows, EventSet(), first_ts=T0, last_ts=T0 + 600)
        ex.spans = [(T0, T0 + 600)]
        started = time.perf_counter()
        ctx = build_context(ex, AnalysisOptions())
        built = time.perf_counter()
        found = StrobeDetector().run(ctx)
        done = time.perf_counter()
        print(
            f"\n{n:,} connections in 10 min from {sources} to one server: context {built - started:.1f} s, "
            f"strobe {done - built:.1f} s, {len(found)} rows"
        )


def time_rotating(rng: np.random.Generator, n: int, n_clients: int, per_client: int) -> None:
    """The rotating detector on n TLS connections at random times: n_clients, each to per_client
    servers (of 20,000), 5 JA4 prints. Every set found is a false positive."""
    rows = np.zeros(n, CONN_DTYPE)
    rows["ts"] = T0 + np.sort(rng.uniform(0, 86_400, n))
    clients = np.array([_address(f"10.{k // 62_500 + 1}", k) for k in range(n_clients)], "S16")
    servers = np.array([_address("198.51", k) for k in range(20_000)], "S16")
    client = rng.integers(0, len(clients), n)
    rows["client"] = clients[client]
    # Each client uses `per_client` servers of its own (few: the sets are scored; many: browsers).
    rows["server"] = servers[(client * 7 + rng.integers(0, per_client, n)) % len(servers)]
    rows["client_port"] = rng.integers(1024, 65535, n)
    rows["server_port"], rows["proto"], rows["bytes_out"] = 443, 6, 600
    events = EventSet()
    prints = [events.pool.id(f"t13d1516h2_8daaf6152771_{k:012x}") for k in range(5)]
    tls = np.zeros(n, events.tls.dtype)
    for name in ("ts", "client", "server", "client_port", "server_port"):
        tls[name] = rows[name]
    tls["ts"] += 0.05
    tls["sni"] = tls["alpn"] = tls["versions"] = tls["ja3"] = tls["ja3_hash"] = -1
    tls["ja4"] = np.array(prints)[rng.integers(0, 5, n)]
    events.tls.add_rows(tls)
    ex = Extraction(sort_connections(rows), events, first_ts=T0, last_ts=T0 + 86_400)
    ex.spans = [(T0, T0 + 86_400)]
    started = time.perf_counter()
    ctx = build_context(ex, AnalysisOptions())
    built = time.perf_counter()
    found = RotatingDetector().run(ctx)
    done = time.perf_counter()
    print(
        f"\n{n:,} TLS connections at random, {n_clients:,} clients to {per_client} servers each (5 prints): "
        f"context {built - started:.1f} s, rotating {done - built:.1f} s, {len(found)} rows (false "
        f"positives), skipped {found.skipped}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--flood", type=int, default=0, help="time the strobe detector on N connections")
    parser.add_argument("--load", type=int, default=0, help="time the rotating detector on N connections")
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    runs: list[Callable[[], None]] = []
    if args.trials > 0:
        runs += [lambda: strobe_accuracy(rng, args.trials), lambda: rotating_accuracy(rng, args.trials)]
    if args.flood:
        runs.append(lambda: time_flood(rng, args.flood))
    if args.load:
        runs.append(lambda: time_rotating(rng, args.load, 2_000, 20_000))  # sets over the bound (browsers)
        runs.append(lambda: time_rotating(rng, args.load, args.load // 100, 5))  # many small sets, scored
    for run in runs:
        run()


if __name__ == "__main__":
    main()
