"""Per-shape detector accuracy: netdetect's findings beside RITA v5's corresponding rule, on the labeled
captures of `netdetect.testing.shapes`.

    run_benchmark(seed=7, scale=1.0) -> {shape: ShapeResult}

netdetect runs as `netdetect scan` does (its input sets -> extract_parallel -> analyze -> the JSONL
finding records) and a finding
counts at its default threshold (score >= 0.5). A finding's detector is its `detector` field, or
"beacon" for the scanner that has none. RITA's rules are re-implemented on the same extraction:

- beacons: RITA v5 score >= 0.7 per (client, server address) pair (`netdetect.scoring.rita`);
- long connections: any connection of the pair lasting >= 1 h (`LongConnectionMinimumDuration`);
- strobes: >= 86,400 connections of the pair in the analysed day (`UniqueConnectionThreshold`);
- C2 over DNS: >= 100 unique subdomains queried under one registered domain (`C2SubdomainThreshold`
  in RITA v5's config/config.go defaults), by all clients together.

A shape's positives are its labels with an expected detector. Recall counts a positive when a finding
of the expected detector (or, in `recall_any`, of any detector) reaches the threshold on it; a long
connection counts when it is listed as context (below the threshold, in its own report section: a
long irregular stream is not an alarm, and a beacon or heartbeat finding on it would be one); RITA's
recall uses the rule for that detector. False positives are findings (RITA: flagged pairs or domains)
on anything but a positive label: look-alikes and background hosts.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from netdetect.analysis import AnalysisOptions, analyze
from netdetect.analysis.context import AnalysisOptions as ContextOptions
from netdetect.analysis.context import build_context
from netdetect.arrays import distinct_values
from netdetect.cli.common import resolve_inputs
from netdetect.output.records import finding_record
from netdetect.pipeline import extract_parallel
from netdetect.scoring.rita import DAY_S, rita_scores
from netdetect.tables.extraction import Extraction
from netdetect.testing.shapes import SHAPES, Label, write_shape

THRESHOLD = 0.5  # netdetect's default report threshold
RITA_BEACON_THRESHOLD = 0.7
RITA_LONG_CONNECTION_S = 3600.0
RITA_STROBE_CONNECTIONS = 86_400
RITA_C2_SUBDOMAINS = 100

# The RITA rule that corresponds to each netdetect detector.
RITA_RULE = {
    "beacon": "beacon",
    "heartbeat": "beacon",
    "rotating": "beacon",
    "long_connection": "long_connection",
    "strobe": "strobe",
    "dns_beacon": "c2_over_dns",
    "dns_tunnel": "c2_over_dns",
}


@dataclass(frozen=True, slots=True)
class Flag:
    """One thing a method reports: who, what, by which detector or rule, how strongly."""

    client: str | None  # None: RITA's C2-over-DNS reports a domain, not a client
    server_name: str | None
    addresses: tuple[str, ...]
    detector: str
    score: float
    # A long connection listed as context (below the threshold, in its own report section): what the
    # design asks of a long irregular stream. It counts for a long_connection label, never as an alarm.
    context: bool = False


@dataclass(slots=True)
class ShapeResult:
    shape: str
    expected: str  # the detector the shape's positives call for ("none" for a look-alike)
    rita_rule: str | None
    positives: int
    labels: int
    packets: int
    seconds: float
    found: int = 0  # positives reported by the expected detector
    found_any: int = 0  # positives reported by any detector
    false_positives: int = 0
    other_detector: int = 0  # findings on a positive by a detector other than the expected one
    rita_found: int = 0
    rita_false_positives: int = 0
    missed: list[Label] = field(default_factory=list)
    false_positive_flags: list[Flag] = field(default_factory=list)
    best_scores: list[float] = field(default_factory=list)  # per positive, best expected-detector score

    @property
    def recall(self) -> float | None:
        return self.found / self.positives if self.positives else None

    @property
    def recall_any(self) -> float | None:
        return self.found_any / self.positives if self.positives else None

    @property
    def rita_recall(self) -> float | None:
        return self.rita_found / self.positives if self.positives else None


def registered_domain(name: str) -> str:
    """The registrable domain of a name (tld+1, or tld+2 under a two-letter ccTLD's co/com/org...),
    which is enough for generated names; RITA uses the public suffix list."""
    labels = name.lower().rstrip(".").split(".")
    if len(labels) >= 3 and len(labels[-1]) == 2 and labels[-2] in ("co", "com", "net", "org", "ac", "gov"):
        return ".".join(labels[-3:])
    return ".".join(labels[-2:])


def _label_matches(label: Label, flag: Flag) -> bool:
    if flag.client is not None and flag.client != label.client:
        return False
    if label.server == "*":
        return flag.client is not None
    name = (flag.server_name or "").lower().rstrip(".")
    server = label.server.lower()
    if name and (name == server or name.endswith("." + server)):
        return True
    return bool(set(flag.addresses) & ({label.server, *label.addresses}))


def netdetect_flags(records: Iterable[dict[str, Any]]) -> list[Flag]:
    """Flags from JSONL finding records at or above the threshold. The detector is the record's
    `detector`, or "beacon" for the scanner that writes none; intel-only findings are not detections."""
    flags = []
    for record in records:
        detector = record.get("detector") or (
            "beacon" if record.get("kind") == "beacon" else record.get("kind")
        )
        score = record.get("score")
        addresses = tuple(
            dict.fromkeys(a for a in (record.get("dst_ip"), *(record.get("dst_ips") or ())) if a)
        )
        who = (record.get("src_ip"), record.get("server_name"), addresses)
        if detector == "intel" or score is None or score < THRESHOLD:
            if "long_connection" in (record.get("evidence") or {}):
                flags.append(Flag(*who, "long_connection", float(score or 0.0), context=True))
            continue
        flags.append(Flag(*who, str(detector), float(score)))
    return flags


def rita_flags(ex: Extraction) -> list[Flag]:
    """RITA v5's beacon, long-connection, strobe and C2-over-DNS verdicts on one extraction."""
    flags: list[Flag] = []
    ctx = build_context(ex, ContextOptions(group_by="addr"))  # one group per (client, server address)
    conns, groups = ctx.conns, ctx.groups
    n = len(groups)
    if n and ctx.window is not None:
        # RITA analyses the last 24 h of the data set (rita_beacon_window); strobes count in it too.
        recent = conns["ts"] >= ctx.window[1] - DAY_S
        counts = np.bincount(groups.index[recent], minlength=n)
        order = np.lexsort((conns["ts"], groups.index))
        beacon = rita_scores(
            groups.index[order], conns["ts"][order], conns["bytes_out"][order], n, ctx.window
        ).score
        longest = np.zeros(n)
        np.maximum.at(longest, groups.index, conns["end_ts"] - conns["ts"])
        for g in range(n):
            who = (groups.client(g), None, (groups.server(g) or "",))
            if beacon[g] >= RITA_BEACON_THRESHOLD:
                flags.append(Flag(*who, "beacon", float(beacon[g])))
            if longest[g] >= RITA_LONG_CONNECTION_S:
                flags.append(Flag(*who, "long_connection", float(longest[g])))
            if counts[g] >= RITA_STROBE_CONNECTIONS:
                flags.append(Flag(*who, "strobe", float(counts[g])))
    dns = ex.dns.rows
    queries = dns[~dns["is_response"]]
    if len(queries):
        names = {str(q).lower().rstrip(".") for q in ex.dns.pool.lookup(_looked_up(queries["query"])) if q}
        per_domain: dict[str, int] = {}
        for name in names:
            domain = registered_domain(name)
            if name != domain:
                per_domain[domain] = per_domain.get(domain, 0) + 1
        for domain, subdomains in per_domain.items():
            if subdomains >= RITA_C2_SUBDOMAINS:
                flags.append(Flag(None, domain, (), "c2_over_dns", float(subdomains)))
    return flags


def _looked_up(ids: np.ndarray) -> np.ndarray:
    """Distinct pool ids of the query column (-1: no name)."""
    return distinct_values(ids[ids >= 0])


def _score_shape(result: ShapeResult, labels: Sequence[Label], ours: list[Flag], rita: list[Flag]) -> None:
    positives = [label for label in labels if label.positive]
    for label in positives:
        mine = [f for f in ours if _label_matches(label, f)]
        expected = [f.score for f in mine if f.detector == label.expected]
        result.best_scores.append(max(expected, default=0.0))
        result.found += bool(expected)
        result.found_any += any(not f.context or f.detector == label.expected for f in mine)
        result.other_detector += sum(f.detector != label.expected and not f.context for f in mine)
        if not expected:
            result.missed.append(label)
        rule = RITA_RULE.get(label.expected)
        result.rita_found += any(f.detector == rule and _label_matches(label, f) for f in rita)
    for flag in ours:
        if not flag.context and not any(_label_matches(label, flag) for label in positives):
            result.false_positives += 1
            result.false_positive_flags.append(flag)
    result.rita_false_positives += sum(
        not any(_label_matches(label, flag) for label in positives) for flag in rita
    )


def run_shape(shape: str, directory: str | Path, *, seed: int, scale: float) -> ShapeResult:
    started = time.perf_counter()
    capture = write_shape(shape, directory, seed=seed, scale=scale)
    expected = sorted({label.expected for label in capture.labels if label.positive}) or ["none"]
    result = ShapeResult(
        shape,
        "/".join(expected),
        "/".join(sorted({RITA_RULE[e] for e in expected if e in RITA_RULE})) or None,
        sum(label.positive for label in capture.labels),
        len(capture.labels),
        capture.packets,
        0.0,
    )
    ours: list[Flag] = []
    rita: list[Flag] = []
    for files in capture.scans:
        ex = extract_parallel(resolve_inputs(tuple(str(f) for f in files)), jobs=1)  # as `netdetect scan`
        report = analyze(ex, None, None, AnalysisOptions(min_score=0.0))
        ours += netdetect_flags(finding_record(f, rank) for rank, f in enumerate(report.findings, 1))
        rita += rita_flags(ex)
    _score_shape(result, capture.labels, ours, rita)
    result.seconds = time.perf_counter() - started
    return result


def run_benchmark(
    seed: int = 7,
    scale: float = 1.0,
    *,
    shapes: Sequence[str] | None = None,
    directory: str | Path | None = None,
) -> dict[str, ShapeResult]:
    """Generate each shape's captures (in `directory`, or a temporary one removed afterwards), scan
    them and score netdetect and RITA per shape."""
    if directory is not None:
        return {s: run_shape(s, Path(directory) / s, seed=seed, scale=scale) for s in shapes or SHAPES}
    with tempfile.TemporaryDirectory(prefix="netdetect-shapes-") as tmp:
        return {s: run_shape(s, Path(tmp) / s, seed=seed, scale=scale) for s in shapes or SHAPES}
