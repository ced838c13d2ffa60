"""Connection-start beacons: the check-in times of each group (a client and one server name or
address) tested for periodicity, with RITA's sub-scores beside (netdetect.scoring)."""

from __future__ import annotations

import numpy as np

from netdetect.analysis.context import AnalysisContext
from netdetect.detectors.base import Detections, Detector, register
from netdetect.scoring import MIN_EVENTS, score_groups


@register
class BeaconDetector(Detector):
    name = "beacon"
    kind = "beacon"
    description = "periodic connection starts per client and server name (or address)"

    def run(self, ctx: AnalysisContext) -> Detections:
        scored = groups_to_score(ctx)
        scores = _score(ctx, scored)
        evidence: dict[str, np.ndarray | list] = {
            "period_s": scores.period_s,
            "jitter": scores.jitter,
            "missed_share": scores.missed_share,
            "checkins": scores.subscores.get("events", np.zeros(len(scored))),
        }
        score = scores.score
        why = None
        time_sync = _ntp_groups(ctx, scored)
        if time_sync.any():
            # Time sync polls on a timer by design; its exchanges are the protocol's fixed 48 bytes, so
            # they carry nothing a channel could use beyond the timestamps. Listed, not scored.
            evidence["service"] = np.where(time_sync, "ntp", None).tolist()
            why = [NTP_WHY if t else None for t in time_sync.tolist()]
            score = np.where(time_sync, 0.0, score)
        return Detections(
            self.name, self.kind, score, groups=scored, evidence=evidence, why=why, subscores=scores.subscores
        )


NTP_WHY = "NTP time sync (udp/123, fixed 48-byte exchanges): periodic by design, not scored"
# IP bytes of one NTP packet without extension fields: IPv4 or IPv6 header + UDP + 48.
_NTP_PACKET_BYTES = (20 + 8 + 48, 40 + 8 + 48)


def _ntp_groups(ctx: AnalysisContext, scored: np.ndarray) -> np.ndarray:
    """Per scored group: every connection is udp/123 with only plain 48-byte NTP packets both ways."""
    conns = ctx.conns
    if not len(scored) or not len(conns):
        return np.zeros(len(scored), bool)
    plain = np.zeros(len(conns), bool)
    for size in _NTP_PACKET_BYTES:
        plain |= (conns["bytes_out"] == size * conns["packets_out"]) & (
            conns["bytes_in"] == size * conns["packets_in"]
        )
    ntp = (conns["proto"] == 17) & (conns["server_port"] == 123) & plain & (conns["packets_out"] > 0)
    n = len(ctx.groups)
    other = np.bincount(ctx.groups.index, weights=~ntp, minlength=n)
    has = np.bincount(ctx.groups.index, weights=ntp, minlength=n)
    return ((other == 0) & (has > 0))[scored]


def groups_to_score(ctx: AnalysisContext) -> np.ndarray:
    """Ids of the groups worth scoring. Above a zero minimum score only groups with an intel hit or with
    MIN_EVENTS connections qualify: fewer connections make fewer check-ins, which score 0. Most groups
    of a capture are one or two connections, so this skips most of the scoring."""
    if not ctx.min_score > 0:
        return np.arange(len(ctx.groups))
    wanted = ctx.group_sizes >= MIN_EVENTS
    wanted[list(ctx.group_hits)] = True
    return np.flatnonzero(wanted)


def _score(ctx: AnalysisContext, scored: np.ndarray):
    """Scores of the `scored` groups (row i for group scored[i]), as if all groups were scored: each
    group's score depends on its own connections and on the time the inputs cover around them only."""
    conns, groups = ctx.conns, ctx.groups
    rows: slice | np.ndarray
    if len(scored) == len(groups):
        rows, slot = slice(None), groups.index
    else:
        position = np.full(len(groups), -1, np.int64)
        position[scored] = np.arange(len(scored))
        rows = np.flatnonzero(position[groups.index] >= 0)
        slot = position[groups.index[rows]]
    picked = conns[rows]
    return score_groups(
        slot,
        picked["ts"],
        picked["bytes_out"],
        picked["bytes_in"],
        picked["end_ts"] - picked["ts"],
        len(scored),
        coverage=ctx.coverage,
        threshold=ctx.options.threshold,
    )
