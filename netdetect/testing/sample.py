"""A small, seeded example report: the source of the examples in docs/ and of output tests.

    python -m netdetect.testing.sample docs/examples    # regenerate the documented examples

It mirrors the demo capture's story (a 3CX-infected host beaconing with ~30% jitter, an unlisted
90 s check-in to a bare IP, a listed name looked up but never connected to, a benign fleet
service), so the docs show what a real scan prints. `hostile=True` swaps in attacker-style names.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from netdetect.model import Finding, IntelHit, Report, Summary

START = 1680084000.0  # 2023-03-29T10:00:00Z
DAY = 86400.0

HOSTILE_NAMES = (
    "<img src=x onerror=\"document.title='pwned'\">",
    "\"><script>document.title='pwned'</script>",
    "evil\x1b[31m.example\x1b[0m\u202eexe.com",
    "<svg/onload=alert(1)>.example",
)


def check_ins(rng: np.random.Generator, period: float, jitter: float, start: float, end: float) -> np.ndarray:
    """Check-in times every `period` seconds, each interval scaled by 1 +- `jitter` (uniform)."""
    count = int((end - start) / period) + 2
    gaps = period * (1.0 + rng.uniform(-jitter, jitter, count))
    times = start + np.cumsum(gaps)
    return times[times < end]


def histogram_of(times: np.ndarray, bins: int = 30) -> tuple[list[int], list[float]]:
    gaps = np.diff(times)
    counts, edges = np.histogram(gaps, bins=bins, range=(float(gaps.min()) * 0.8, float(gaps.max()) * 1.05))
    return [int(c) for c in counts], [round(float(e), 3) for e in edges]


def _beacon(
    *,
    src: str,
    name: str | None,
    dst: str,
    port: int,
    times: np.ndarray,
    sizes: np.ndarray,
    score: float,
    beacon: bool,
    intel: list[IntelHit],
    subscores: dict[str, float],
    dns_names: list[str],
    allowlisted: str | None = None,
) -> Finding:
    gaps = np.diff(times)
    period = float(np.median(gaps))
    counts, edges = histogram_of(times)
    return Finding(
        kind="beacon",
        src_ip=src,
        dst_ip=dst,
        dst_ips=[dst],
        dst_port=port,
        server_name=name,
        score=score,
        beacon=beacon,
        period_s=round(period, 1),
        jitter=round(float(np.std(gaps) / np.mean(gaps)), 3),
        connections=int(times.size),
        first_seen=float(times[0]),
        last_seen=float(times[-1]),
        subscores=subscores,
        intel=intel,
        missed_share=round(float(np.mean(gaps > 1.8 * period)), 3),
        interval_histogram=counts,
        interval_bin_edges_s=edges,
        dns_names=dns_names,
        allowlisted=allowlisted,
        proto="tcp",
        times=times,
        sizes=sizes,
    )


def sample_report(*, hostile: bool = False, seed: int = 20230329) -> Report:
    rng = np.random.default_rng(seed)
    c2 = HOSTILE_NAMES[0] if hostile else "msstorageboxes.com"
    # 3CX: the implant sleeps a randomised ~30 min between check-ins, over 2 days.
    beacon_times = check_ins(rng, 1830.0, 0.3, START + 3 * 3600, START + 2 * DAY)
    beacon_sizes = rng.normal(5200, 400, beacon_times.size).round()
    client, first, last = "10.1.4.23", float(beacon_times[0]), float(beacon_times[-1])
    c2_hits = [
        IntelHit(c2, "domain", "3cx", "high", "sni", c2, client, first, last, count=int(beacon_times.size)),
        IntelHit(
            c2,
            "domain",
            "3cx",
            "high",
            "dns_query",
            c2,
            client,
            first,
            last,
            count=int(beacon_times.size) // 5,
        ),
    ]
    bare_times = check_ins(rng, 90.0, 0.05, START, START + 6 * 3600)
    bare = _beacon(
        src="10.1.7.50",
        name=None,
        dst="203.0.113.77",
        port=8443,
        times=bare_times,
        sizes=rng.normal(900, 30, bare_times.size).round(),
        score=0.88,
        beacon=True,
        intel=[],
        subscores={"interval": 0.95, "size": 0.93, "duration": 0.71, "persistence": 0.84},
        dns_names=[],
    )
    blocked_name = HOSTILE_NAMES[2] if hostile else "akamaicontainer.com"
    blocked = Finding(
        kind="intel",
        src_ip="10.1.9.12",
        dst_ip=None,
        dst_ips=[],
        dst_port=None,
        server_name=blocked_name,
        score=0.0,
        beacon=False,
        period_s=None,
        jitter=None,
        connections=0,
        first_seen=START + 7200.0,
        last_seen=START + 7200.0 + 11 * 1800.0,
        intel=[
            IntelHit(
                blocked_name,
                "domain",
                "3cx",
                "high",
                "dns_query",
                blocked_name,
                "10.1.9.12",
                START + 7200.0,
                START + 7200.0 + 11 * 1800.0,
                count=12,
            ),
            IntelHit(
                blocked_name,
                "domain",
                "3cx",
                "high",
                "dns_answer",
                blocked_name,
                "10.1.9.12",
                START + 7200.0,
                START + 7200.0 + 11 * 1800.0,
                count=12,
                notes="answered, never connected to",
            ),
        ],
        dns_names=[blocked_name],
    )
    fleet_times = check_ins(rng, 3600.0, 0.01, START, START + 2 * DAY)
    fleet = _beacon(
        src="10.1.2.8",
        name=HOSTILE_NAMES[3] if hostile else "ctldl.windowsupdate.com",
        dst="93.184.221.240",
        port=80,
        times=fleet_times,
        sizes=rng.normal(1500, 10, fleet_times.size).round(),
        score=0.91,
        beacon=True,
        intel=[],
        subscores={"interval": 0.99, "size": 0.98, "duration": 0.9, "persistence": 1.0, "prevalence": 0.05},
        dns_names=["ctldl.windowsupdate.com"],
        allowlisted="ctldl.windowsupdate.com (fleet-wide service)",
    )
    fleet.beacon = False
    findings = [
        _beacon(
            src="10.1.4.23",
            name=c2,
            dst="198.51.100.23",
            port=443,
            times=beacon_times,
            sizes=beacon_sizes,
            score=0.93,
            beacon=True,
            intel=c2_hits,
            subscores={"interval": 0.81, "size": 0.9, "duration": 0.97, "persistence": 0.95, "intel": 1.0},
            dns_names=[c2, HOSTILE_NAMES[1] if hostile else "raw.githubusercontent.com"],
        ),
        bare,
        blocked,
        fleet,
    ]
    summary = Summary(
        captures=["pcaps/office-3cx-demo.pcapng"],
        packets=1_482_113,
        bytes=311_540_227,
        first_ts=START,
        last_ts=START + 2 * DAY,
        hosts=48,
        connections=61_220,
        groups_scored=1_930,
        dns_events=40_118,
        tls_events=17_422,
        http_events=2_310,
        decode_errors={"truncated_record": 1, "bad_ip_length": 3},
        allowlisted=1,
        intel_indicators=98,
        intel_packs=["3cx"],
    )
    return Report(summary=summary, findings=findings, threshold=0.7)


def write_examples(directory: Path) -> list[Path]:
    """Write one example per format (and the HTML page) into `directory`."""
    from netdetect.output import FORMATS, write_html, write_report

    directory.mkdir(parents=True, exist_ok=True)
    report = sample_report()
    written = []
    suffix = {"table": "txt", "jsonl": "jsonl", "csv": "csv", "ecs": "ecs.jsonl", "eve": "eve.jsonl"}
    for name in FORMATS:
        path = directory / f"findings.{suffix.get(name, name)}"
        with path.open("w", encoding="utf-8", newline="") as stream:
            write_report(report, name, stream, color=False)
        written.append(path)
    html_path = directory / "report.html"
    write_html(report, html_path)
    written.append(html_path)
    return written


if __name__ == "__main__":
    for written_path in write_examples(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/examples")):
        print(written_path)
