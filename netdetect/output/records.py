"""One finding as plain data: the JSONL record every other format is derived from, plus the
verdict, severity and one-line "why" that tables and alerts show.
"""

from __future__ import annotations

import hashlib
import math
import time
from typing import Any

from netdetect.model import Finding, IntelHit, Report
from netdetect.output.text import finite, iso_utc, rounded, rounded_list

SCHEMA_VERSION = 2

_CONFIDENCE_RANK = {"high": 3, "medium": 2, "low": 1}


def confidence_rank(confidence: str | int | None) -> int:
    """0 unknown .. 3 high. Integers are read on the STIX 0-100 scale."""
    if isinstance(confidence, bool) or confidence is None:
        return 0
    if isinstance(confidence, int):
        return 3 if confidence >= 70 else 2 if confidence >= 30 else 1 if confidence > 0 else 0
    return _CONFIDENCE_RANK.get(str(confidence).strip().lower(), 0)


def live_hits(finding: Finding) -> list[IntelHit]:
    """Intel hits on indicators that have not expired, strongest first."""
    hits = [hit for hit in finding.intel if not hit.expired]
    return sorted(hits, key=lambda hit: (-confidence_rank(hit.confidence), -hit.count, hit.indicator))


def verdict(finding: Finding) -> str:
    """`beacon+intel`, `beacon`, `intel`, `allowlisted` or `low` (scored, below the threshold)."""
    if finding.allowlisted:
        return "allowlisted"
    intel = bool(live_hits(finding))
    if finding.beacon and intel:
        return "beacon+intel"
    if finding.beacon:
        return "beacon"
    if intel:
        return "intel"
    return "low"


def severity(finding: Finding) -> str:
    """`critical`, `high`, `medium`, `low` or `info`, from intel confidence and the beacon verdict."""
    if finding.allowlisted:
        return "info"
    best = max((confidence_rank(hit.confidence) for hit in live_hits(finding)), default=-1)
    if best >= 3:
        return "critical" if finding.beacon else "high"
    if best >= 0:  # any live hit, even of unknown confidence
        return "high" if finding.beacon else "medium"
    return "medium" if finding.beacon else "low"


def intel_labels(hits: list[IntelHit]) -> list[str]:
    """`indicator (pack, confidence, field+field)`, one per indicator, in the order given."""
    fields: dict[tuple[str, str, str], list[str]] = {}
    for hit in hits:
        confidence = "?" if hit.confidence is None else str(hit.confidence)
        seen = fields.setdefault((hit.indicator, hit.pack, confidence), [])
        if hit.field not in seen:
            seen.append(hit.field)
    return [f"{ind} ({pack}, {conf}, {'+'.join(names)})" for (ind, pack, conf), names in fields.items()]


def why(finding: Finding) -> str:
    """One line a person can act on, e.g. `intel: x.com (3cx, high, sni); period 1830s jitter 0.29`.

    Contains wire names: callers that display it pass it through `safe_text` (the HTML and the
    table do); machine formats carry it as a JSON/CSV string.
    """
    parts: list[str] = []
    hits = live_hits(finding)
    if hits:
        labels = intel_labels(hits)
        more = f" +{len(labels) - 2} more" if len(labels) > 2 else ""
        parts.append(f"intel: {', '.join(labels[:2])}{more}")
    expired = [hit for hit in finding.intel if hit.expired]
    if expired and not hits:
        parts.append(f"expired intel: {expired[0].indicator} ({expired[0].pack})")
    clause = detector_why(finding)
    if clause:
        parts.append(clause)
        parts += _why_parts(None, None, False, None, finding.allowlisted)
        return "; ".join(parts)
    lookup_only = finding.kind == "intel" and finding.connections == 0
    parts += _why_parts(
        finite(finding.period_s),
        finite(finding.jitter),
        lookup_only,
        finite(finding.missed_share),
        finding.allowlisted,
    )
    return "; ".join(parts) if parts else f"score {clamped_score(finding) or 0.0:.2f}"


def detector_why(finding: Finding) -> str | None:
    """The main detector's own clause ("1 connection held 4h, client pings every 5.0s"), when it gave
    one (the connection-start beacon gives one only for what it does not score, e.g. NTP)."""
    if finding.detector == "intel":
        return None
    clause = finding.evidence.get(finding.detector, {}).get("why")
    return str(clause) if clause else None


def simple(finding: Finding) -> bool:
    """A finding whose verdict, severity and why follow from its top-level values alone: no intel hits
    and the connection-start beacon as its detector (the column-wise writers take these in bulk)."""
    return (
        type(finding.intel) is list
        and not finding.intel
        and finding.detector == "beacon"
        and "why" not in finding.evidence.get("beacon", ())
    )


def why_text(
    period: float | None,
    jitter: float | None,
    lookup_only: bool,
    missed: float | None,
    allowlisted: object,
    score: float | None,
) -> str:
    """`why` of a finding without intel hits from its values (finite or None; `score` clamped), for the
    column-wise records, which have them at hand (tests check it against `why`)."""
    parts = _why_parts(period, jitter, lookup_only, missed, allowlisted)
    return "; ".join(parts) if parts else f"score {score or 0.0:.2f}"


def _why_parts(
    period: float | None, jitter: float | None, lookup_only: bool, missed: float | None, allowlisted: object
) -> list[str]:
    """The timing and allowlist parts of `why` (the intel parts come first)."""
    parts: list[str] = []
    if period is not None:
        text = f"period {period:.0f}s" if period >= 10 else f"period {period:.1f}s"
        if jitter is not None:
            text += f" jitter {jitter:.2f}"
        parts.append(f"lookups every {text[7:]}" if lookup_only else text)
    if lookup_only:
        parts.append("lookup only, no connection followed")
    if missed is not None and missed >= 0.05:
        parts.append(f"missed {missed:.0%}")
    if allowlisted:
        parts.append(f"allowlisted by {allowlisted}")
    return parts


def _hit_record(hit: IntelHit) -> dict[str, Any]:
    return {
        "indicator": hit.indicator,
        "type": hit.type,
        "pack": hit.pack,
        "confidence": hit.confidence,
        "field": hit.field,
        "value": hit.value,
        "first_seen": iso_utc(hit.first_seen),
        "last_seen": iso_utc(hit.last_seen),
        "count": int(hit.count),
        "expired": bool(hit.expired),
        "notes": hit.notes,
    }


def event_time(finding: Finding, report: Report) -> float:
    """The time to stamp an alert with: the last sighting, falling back on whatever time is known
    (SIEMs need one); the clock only when the capture itself had no usable time."""
    candidates = [
        finding.last_seen,
        finding.first_seen,
        *(hit.last_seen for hit in finding.intel),
        report.summary.last_ts,
        report.summary.first_ts,
    ]
    for candidate in candidates:
        number = finite(candidate)
        if number is not None and iso_utc(number) is not None:
            return number
    return time.time()


def _span(finding: Finding) -> float | None:
    first, last = finite(finding.first_seen), finite(finding.last_seen)
    return None if first is None or last is None else last - first


def clamped_score(finding: Finding) -> float | None:
    """The score limited to 0..1 (None when not a number)."""
    score = finite(finding.score)
    return None if score is None else min(max(score, 0.0), 1.0)


def finding_id(finding: Finding) -> str:
    """Stable across runs for the same group, so SIEMs can deduplicate repeated scans."""
    target = finding.server_name or finding.dst_ip or ",".join(finding.dns_names) or ""
    key = "\x1f".join((finding.kind, finding.src_ip, target, str(finding.dst_port)))
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def _subscores(subscores: dict[str, float]) -> dict[str, float | None]:
    isfinite = math.isfinite
    return {
        str(name): round(value, 4) if type(value) is float and isfinite(value) else rounded(value, 4)
        for name, value in sorted(subscores.items())
    }


def finding_record(finding: Finding, rank: int) -> dict[str, Any]:
    """The documented JSONL object (docs/findings.schema.json). NaN/inf become null."""
    score = clamped_score(finding)
    return {
        "schema_version": SCHEMA_VERSION,
        "id": finding_id(finding),
        "rank": rank,
        "kind": finding.kind,
        "verdict": verdict(finding),
        "severity": severity(finding),
        "src_ip": finding.src_ip,
        "dst_ip": finding.dst_ip,
        "dst_ips": list(finding.dst_ips),
        "dst_port": None if finding.dst_port is None else int(finding.dst_port),
        "proto": finding.proto,
        "server_name": finding.server_name,
        "score": None if score is None else round(score, 4),
        "beacon": bool(finding.beacon),
        "period_s": rounded(finding.period_s, 3),
        "jitter": rounded(finding.jitter, 4),
        "connections": int(finding.connections),
        "first_seen": iso_utc(finding.first_seen),
        "last_seen": iso_utc(finding.last_seen),
        "duration_s": rounded(_span(finding), 3),
        "subscores": _subscores(finding.subscores),
        "intel": [_hit_record(hit) for hit in finding.intel],
        "missed_share": rounded(finding.missed_share, 4),
        "interval_histogram": [int(count) for count in finding.interval_histogram],
        "interval_bin_edges_s": rounded_list(finding.interval_bin_edges_s, 3),
        "dns_names": list(finding.dns_names),
        "allowlisted": finding.allowlisted,
        "why": why(finding),
        "detector": finding.detector,
        "evidence": _evidence(finding.evidence),
        "prevalence": finding.prevalence,
        "dst_first_seen": iso_utc(finding.dst_first_seen),
    }


def _evidence(evidence: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Every detector's evidence with non-finite numbers as null. The finding stage gives them rounded
    and finite already (findings.verdicts.evidence_records), so this only copies unless one is not."""
    out = {}
    for name, values in evidence.items():
        if any(type(v) is float and not math.isfinite(v) for v in values.values()):
            values = {k: rounded(v, 4) if type(v) is float else v for k, v in values.items()}
        out[name] = values
    return out
