"""Where a scan's time goes, stage by stage, on one capture (CPU seconds of this process, one core).

    python benchmarks/profile_scan.py CAPTURE                # stage table
    python benchmarks/profile_scan.py CAPTURE --cprofile 25  # plus the 25 top functions by own time
    python benchmarks/profile_scan.py CAPTURE --events       # plus per-event parser costs (µs per call)

Stages: reading records into PacketBatches, bulk header decoding, connection tracking, event
extraction (candidate selection, reassembly, parsers, rows of the columnar event tables), analysis
(names, grouping, scoring, intel, allowlist) and start-up (interpreter, imports, bundled packs: a scan
of an empty capture). Batches are read once and kept in memory, so each stage is timed on its own.
Nothing is asserted: figures belong in the notes.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from netdetect.capture import open_capture  # noqa: E402
from netdetect.capture.batch import PacketBatch  # noqa: E402
from netdetect.decode.extract import EventExtractor  # noqa: E402
from netdetect.decode.headers import Headers, decode_headers  # noqa: E402
from netdetect.flows import FlowTracker  # noqa: E402

REPEAT = 1


def cpu(fn: Callable[[], object]) -> float:
    """CPU seconds of `fn`, best of REPEAT runs (the machine may be shared)."""
    best = float("inf")
    for _ in range(REPEAT):
        t = time.process_time()
        fn()
        best = min(best, time.process_time() - t)
    return best


def stage_times(path: str) -> tuple[int, dict[str, float], list[PacketBatch], list[Headers]]:
    batches: list[PacketBatch] = []

    def read() -> None:
        with open_capture(path) as cap:
            batches.extend(b for b in cap.batches())

    times = {"read": cpu(lambda: batches.clear() or read())}
    heads: list[Headers] = []
    times["headers"] = cpu(lambda: heads.clear() or heads.extend(decode_headers(b) for b in batches))

    def track() -> None:
        flows = FlowTracker()
        for h in heads:
            flows.add(h)
        flows.flush()
        flows.take()

    times["flows"] = cpu(track)
    for name, reference in (("events", False), ("events (reference path)", True)):
        extractors: list[EventExtractor] = []

        def extract(reference: bool = reference, extractors: list[EventExtractor] = extractors) -> None:
            events = EventExtractor(reference=reference)
            extractors.append(events)
            for b, h in zip(batches, heads, strict=True):
                events.process(b, h)

        times[name] = cpu(extract)
        out = extractors[-1].out
        print(f"{name}: dns {len(out.dns):,} tls {len(out.tls):,} http {len(out.http):,} errors {out.errors}")
    times["analysis"] = analysis_time(batches)
    times["imports"] = import_time()
    times["imports (bytecode cached)"] = import_time(cached_bytecode=True)
    return sum(len(b) for b in batches), times, batches, heads


def analysis_time(batches: list[PacketBatch]) -> float:
    """Grouping, scoring, name attribution, intel (bundled packs) and allowlist on the whole extraction."""
    from netdetect.allowlist import Allowlist
    from netdetect.analysis import analyze
    from netdetect.intel import IntelStore
    from netdetect.pipeline import Extractor

    extractor = Extractor()
    for b in batches:
        extractor.feed(b)
    ex = extractor.finish()
    intel, allowlist = IntelStore.load(), Allowlist.load()
    return cpu(lambda: analyze(ex, intel, allowlist))


def import_time(cached_bytecode: bool = False) -> float:
    """CPU seconds that every `netdetect scan` pays whatever the capture: a fresh interpreter, the
    imports of a scan, loading the bundled packs and allowlist, an empty analysis and report (a capture
    with no packets). Where PYTHONDONTWRITEBYTECODE is set and nothing is cached, every run compiles
    netdetect's modules too; `cached_bytecode` measures what an installed netdetect pays."""
    import resource
    import struct
    import subprocess
    import tempfile

    best = float("inf")
    with tempfile.TemporaryDirectory() as tmp:
        empty = Path(tmp) / "empty.pcap"
        empty.write_bytes(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        command = [sys.executable, "-m", "netdetect", "scan", "-q", "-f", "jsonl", "-o", os.devnull]
        command.append(str(empty))
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
        if cached_bytecode:
            env.pop("PYTHONDONTWRITEBYTECODE", None)
            env["PYTHONPYCACHEPREFIX"] = str(Path(tmp) / "pycache")
            subprocess.run(command, check=True, env=env)  # writes the bytecode
        for _ in range(REPEAT):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            subprocess.run(command, check=True, env=env)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            best = min(best, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime))
    return best


def per_event_costs(batches: list[PacketBatch], heads: list[Headers], limit: int = 3000) -> None:
    """µs per call of each parser, reference and fast, on payloads taken from the capture."""
    import numpy as np

    from netdetect.decode import dns, fastpath, http, quic, tls

    samples: dict[str, list[bytes]] = {"dns_query": [], "dns_response": [], "tls": [], "http": [], "quic": []}
    for b, h in zip(batches, heads, strict=True):
        for r in np.flatnonzero(h.payload_caplen > 0)[:20000]:
            start = int(h.payload_off[r])
            p = b.data[start : start + int(h.payload_caplen[r])].tobytes()
            if h.proto[r] == 17 and 53 in (int(h.sport[r]), int(h.dport[r])):
                samples["dns_response" if p[2:3] and p[2] & 0x80 else "dns_query"].append(p)
            elif h.proto[r] == 17 and p[:1] and p[0] & 0xC0 == 0xC0:
                samples["quic"].append(p)
            elif tls.looks_like_tls(p):
                samples["tls"].append(p)
            elif http.looks_like_http(p):
                samples["http"].append(p)
        if all(len(v) >= limit for v in samples.values()):
            break

    def guarded(fn: Callable[[bytes], object]) -> Callable[[bytes], object]:
        def call(p: bytes) -> object:
            try:
                return fn(p)
            except Exception:  # noqa: BLE001 - timing only
                return None
        return call

    memo = fastpath.DnsMemo()
    parsers: dict[str, list[tuple[str, Callable[[bytes], object]]]] = {
        "dns_query": [("reference", dns.parse_dns), ("memo", memo.parse)],
        "dns_response": [("reference", dns.parse_dns), ("memo", memo.parse)],
        "tls": [("reference", guarded(tls.extract_client_hello)),
                ("fast", guarded(fastpath.extract_client_hello))],
        "http": [("reference", http.parse_http_request)],
        "quic": [("reference", guarded(lambda p: quic.QuicCryptoAssembler().feed(p)))],
    }
    print(f"{'parser':<28}{'µs/call':>10}{'calls':>8}")
    for name, payloads in samples.items():
        payloads = payloads[:limit]
        for variant, fn in parsers[name] if payloads else ():
            t = time.perf_counter()
            for p in payloads:
                fn(p)
            per_call = (time.perf_counter() - t) / len(payloads) * 1e6
            print(f"{name + ' ' + variant:<28}{per_call:>10.1f}{len(payloads):>8}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("capture")
    ap.add_argument("--cprofile", type=int, default=0, metavar="N", help="print the N top functions")
    ap.add_argument("--events", action="store_true", help="time each parser on payloads from the capture")
    ap.add_argument("--repeat", type=int, default=3, help="best of this many runs per stage")
    args = ap.parse_args()
    global REPEAT
    REPEAT = args.repeat
    packets, times, batches, heads = stage_times(args.capture)
    total = sum(v for k, v in times.items() if "reference" not in k and "cached" not in k)
    print(f"{packets:,} packets")
    print(f"{'stage':<26}{'cpu s':>8}{'packets/s':>14}")
    for name, secs in [*times.items(), ("total (fast path)", total)]:
        print(f"{name:<26}{secs:>8.2f}{packets / secs if secs else float('inf'):>14,.0f}")
    if args.events:
        per_event_costs(batches, heads)
    if args.cprofile:
        prof = cProfile.Profile()
        events = EventExtractor()
        prof.enable()
        for b, h in zip(batches, heads, strict=True):
            events.process(b, h)
        prof.disable()
        pstats.Stats(prof).sort_stats("tottime").print_stats(args.cprofile)


if __name__ == "__main__":
    main()
