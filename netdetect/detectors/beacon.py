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
        evidence = {
            "period_s": scores.period_s,
            "jitter": scores.jitter,
            "missed_share": scores.missed_share,
            "checkins": scores.subscores.get("events", np.zeros(len(scored))),
        }
        return Detections(
            self.name, self.kind, scores.score, groups=scored, evidence=evidence, subscores=scores.subscores
        )


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
    group's score depends on its own connections and on the window only."""
    conns, groups, window = ctx.conns, ctx.groups, ctx.window
    if window is None:  # what score_groups takes for all connections
        ts = conns["ts"][np.isfinite(conns["ts"])]
        window = (float(ts.min()), float(ts.max())) if len(ts) else (0.0, 0.0)
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
        window=window,
        threshold=ctx.options.threshold,
    )
