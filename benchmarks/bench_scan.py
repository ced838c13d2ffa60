"""Side-by-side speed of a full `netdetect scan` against what users try first, on one generated capture.

    python benchmarks/bench_scan.py --size 200M          # generates benchmarks/out/bench.pcap (seeded)
    python benchmarks/bench_scan.py --capture FILE       # or time an existing capture

Times, in one run and on the same file: netdetect scan (events, connections, scoring, intel
matching) as a user runs it, the same with `--min-score 0` (every group becomes a finding and is
written out: thousands of report records), netdetect's extraction alone (in this process: reading,
headers, flows, events), tshark field extraction of the same fields (DNS names, SNI, addresses,
ports), and a per-packet dpkt loop doing the same extraction. Prints packets/s and ratios to the
netdetect scan. Peak RSS of the netdetect scan is reported too. Nothing is asserted: figures belong
in the notes, not in tests. `python benchmarks/profile_scan.py CAPTURE` breaks extraction down.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def run_netdetect(
    capture: Path, jobs: int, extra: tuple[str, ...] = (), *, native: bool = True, repeat: int = 1
) -> tuple[float, float, int]:
    """Best wall seconds of `repeat` runs, with that run's CPU seconds and peak RSS (KiB)."""
    cmd = [
        sys.executable,
        "-m",
        "netdetect",
        "scan",
        "--quiet",
        "--format",
        "jsonl",
        *extra,
        "-o",
        os.devnull,
        "--jobs",
        str(jobs),
        str(capture),
    ]
    env = dict(os.environ, NETDETECT_NATIVE="1" if native else "0")
    best = (float("inf"), 0.0, 0)
    for _ in range(repeat):
        t = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env)
        _pid, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t
        if status:
            raise SystemExit(f"netdetect scan failed (status {status})")
        best = min(best, (wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss))
    return best


def run_tshark(capture: Path) -> float | None:
    if not shutil.which("tshark"):
        return None
    cmd = [
        "tshark",
        "-n",
        "-r",
        str(capture),
        "-T",
        "fields",
        "-e",
        "frame.time_epoch",
        "-e",
        "ip.src",
        "-e",
        "ip.dst",
        "-e",
        "tcp.srcport",
        "-e",
        "tcp.dstport",
        "-e",
        "udp.srcport",
        "-e",
        "udp.dstport",
        "-e",
        "dns.qry.name",
        "-e",
        "tls.handshake.extensions_server_name",
    ]
    t = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t


DPKT_LOOP = r"""
import sys, dpkt
names = snis = 0
with open(sys.argv[1], "rb") as f:
    for ts, buf in dpkt.pcap.Reader(f):
        try:
            eth = dpkt.ethernet.Ethernet(buf)
        except dpkt.dpkt.UnpackError:
            continue
        ip = eth.data
        if not isinstance(ip, (dpkt.ip.IP, dpkt.ip6.IP6)):
            continue
        l4 = ip.data
        if isinstance(l4, dpkt.udp.UDP) and 53 in (l4.sport, l4.dport):
            try:
                names += len(dpkt.dns.DNS(l4.data).qd)
            except Exception:
                pass
        elif isinstance(l4, dpkt.tcp.TCP) and l4.data[:1] == b"\x16":
            try:
                rec = dpkt.ssl.TLSRecord(l4.data)
                hs = dpkt.ssl.TLSHandshake(rec.data)
                if isinstance(hs.data, dpkt.ssl.TLSClientHello):
                    snis += 1
            except Exception:
                pass
print(names, snis)
"""


def run_dpkt(capture: Path) -> float:
    t = time.perf_counter()
    subprocess.run([sys.executable, "-c", DPKT_LOOP, str(capture)], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t


def run_extraction(capture: Path) -> float:
    sys.path.insert(0, str(HERE.parent))
    from netdetect.pipeline import extract_files

    t = time.perf_counter()
    extract_files([str(capture)])
    return time.perf_counter() - t


def count_packets(capture: Path) -> int:
    sys.path.insert(0, str(HERE.parent))
    from netdetect.capture.files import open_capture

    n = 0
    with open_capture(capture) as cap:
        for b in cap.batches():
            n += len(b)
    return n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--capture", type=Path)
    ap.add_argument("--size", default="200M", help="size of the generated capture (e.g. 200M, 1G)")
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--skip", action="append", default=[], choices=["tshark", "dpkt", "reference"])
    ap.add_argument("--repeat", type=int, default=3, help="netdetect scan runs; the best is reported")
    args = ap.parse_args()
    capture = args.capture
    if capture is None:
        out = HERE / "out"
        out.mkdir(exist_ok=True)
        capture = out / f"bench-{args.size}.pcap"
        if not capture.exists():
            subprocess.run(
                [sys.executable, str(HERE / "make_capture.py"), str(capture), "--size", args.size], check=True
            )
    # pip compiles an installed netdetect's bytecode; do the same for a checkout, or a shell with
    # PYTHONDONTWRITEBYTECODE set would recompile the sources (~75 ms) in every timed run.
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(HERE.parent / "netdetect")], check=True)
    packets = count_packets(capture)
    size_mb = capture.stat().st_size / 1e6
    print(f"capture {capture} {size_mb:,.0f} MB, {packets:,} packets")
    nd, nd_cpu, peak = run_netdetect(capture, args.jobs, repeat=args.repeat)
    every_group = run_netdetect(capture, args.jobs, ("--min-score", "0"))[0]
    rows = [
        ("netdetect scan", nd),
        ("  with --min-score 0", every_group),
        ("  extraction alone", run_extraction(capture)),
    ]
    if "reference" not in args.skip:  # the numpy/Python path, as an install without a C compiler runs
        rows.append(("  without the C core", run_netdetect(capture, args.jobs, native=False)[0]))
    if "tshark" not in args.skip:
        ts = run_tshark(capture)
        if ts is not None:
            rows.append(("tshark -T fields", ts))
    if "dpkt" not in args.skip:
        rows.append(("dpkt per-packet loop", run_dpkt(capture)))
    print(f"{'tool':<26}{'seconds':>10}{'packets/s':>14}{'netdetect scan is':>20}")
    for name, secs in rows:
        print(f"{name:<26}{secs:>10.2f}{packets / secs:>14,.0f}{secs / nd:>19.1f}x")
    print(f"netdetect scan: {nd_cpu:.2f} s CPU ({packets / nd_cpu:,.0f} packets per CPU second), "
          f"peak RSS {peak / 1024:,.0f} MiB, best of {args.repeat}")


if __name__ == "__main__":
    main()
