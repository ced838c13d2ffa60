"""Finding order: threat-intel matches first (by confidence), then by score; rare destinations before
fleet-wide ones; the last keys only break ties."""

from __future__ import annotations

from netdetect.model import Finding, IntelHit

CONFIDENCE_RANK = {"high": 0, "medium": 1, "low": 2}


def has_threat(f: Finding) -> bool:
    return any(not hit_is_context(h) for h in f.intel)


def hit_is_context(h: IntelHit) -> bool:
    return h.benign


def rank_key(f: Finding):
    # The last keys only break ties, so the order does not depend on internal ids.
    # Among equal scores, a destination few clients use before a fleet-wide one.
    tail = (
        -f.score,
        f.prevalence or 0,
        -f.connections,
        f.src_ip,
        f.server_name or "",
        f.dst_ip or "",
        f.dst_port or 0,
    )
    if not f.intel:
        return (1, 0, *tail)
    threat = has_threat(f)
    best_conf = min(
        (CONFIDENCE_RANK.get(str(h.confidence), 3) for h in f.intel if not hit_is_context(h)), default=9
    )
    return (0 if threat else 1, best_conf if threat else 0, *tail)
