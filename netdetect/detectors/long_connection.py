"""Long connections: groups holding a connection open for hours (RITA lists those over an hour).

A long connection alone is context, not an alarm (an irregular 14 h media stream is normal), so its
score stays below the default threshold (setting `context_score`, default 0.2): it shows with
`--min-score 0`. When the heartbeat detector found the group's connection pinging on a schedule,
the row takes the heartbeat's score; an intel match is raised by the findings stage.

Settings: `min_duration_s` (default 3600, RITA's), counted on covered time only (a gap between
captures is not time the connection was seen), and `context_score`.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from netdetect.analysis.context import AnalysisContext
from netdetect.detectors.base import Detections, Detector, register
from netdetect.detectors.heartbeat import still_open
from netdetect.output.text import human_bytes, human_duration

MIN_DURATION_S = 3600.0
CONTEXT_SCORE = 0.2


@register
class LongConnectionDetector(Detector):
    name: ClassVar[str] = "long_connection"
    kind: ClassVar[str] = "long_connection"
    description: ClassVar[str] = "connections held open for hours, with the heartbeat result beside them"
    settings: ClassVar[dict[str, float]] = {"min_duration_s": MIN_DURATION_S, "context_score": CONTEXT_SCORE}

    def run(self, ctx: AnalysisContext) -> Detections:
        min_duration = float(ctx.options.setting(self.name, "min_duration_s", MIN_DURATION_S))
        context_score = float(ctx.options.setting(self.name, "context_score", CONTEXT_SCORE))
        conns = ctx.conns
        if not len(conns):
            return Detections.empty(self.name, self.kind)
        covered = ctx.covered_s(conns["ts"], conns["end_ts"])
        long_rows = np.flatnonzero(covered >= min_duration)
        if not len(long_rows):
            return Detections.empty(self.name, self.kind)
        group = ctx.groups.index[long_rows]
        groups, inverse = np.unique(group, return_inverse=True)
        n = len(groups)
        longest = np.zeros(n)
        np.maximum.at(longest, inverse, covered[long_rows])
        count = np.bincount(inverse, minlength=n).astype(np.int64)
        c = conns[long_rows]
        bytes_out = np.bincount(inverse, weights=np.maximum(c["bytes_out"], 0), minlength=n).astype(np.int64)
        bytes_in = np.bincount(inverse, weights=np.maximum(c["bytes_in"], 0), minlength=n).astype(np.int64)
        open_at_end = np.bincount(inverse, weights=still_open(ctx, c), minlength=n) > 0

        hb_score, hb_period, hb_jitter, hb_side = _heartbeat_of(ctx, groups)
        periodic = hb_score >= ctx.options.threshold
        score = np.where(periodic, hb_score, np.minimum(context_score, ctx.options.threshold))
        why = [
            _why(k, s, b_o + b_i, o, p, j, side if ok else None)
            for k, s, b_o, b_i, o, p, j, side, ok in zip(
                count,
                longest,
                bytes_out,
                bytes_in,
                open_at_end,
                hb_period,
                hb_jitter,
                hb_side,
                periodic,
                strict=True,
            )
        ]
        return Detections(
            self.name,
            self.kind,
            score,
            groups=groups.astype(np.int64),
            evidence={
                "longest_s": longest,
                "connections": count,
                "bytes_out": bytes_out,
                "bytes_in": bytes_in,
                "open_at_end": open_at_end,
                "heartbeat_score": hb_score,
                "heartbeat_period_s": hb_period,
                "heartbeat_jitter": hb_jitter,
                "heartbeat_side": hb_side,
            },
            why=why,
        )


def _heartbeat_of(
    ctx: AnalysisContext, groups: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str | None]]:
    """The heartbeat detector's score, period, jitter and side per group (0 / nan / None without one)."""
    n = len(groups)
    score, period, jitter = np.zeros(n), np.full(n, np.nan), np.full(n, np.nan)
    side: list[str | None] = [None] * n
    hb = ctx.results.get("heartbeat")
    if hb is None or hb.groups is None or not len(hb):
        return score, period, jitter, side
    pos = np.minimum(np.searchsorted(groups, hb.groups), n - 1)
    found = groups[pos] == hb.groups
    at, rows = pos[found], np.flatnonzero(found)
    score[at] = hb.score[rows]
    period[at] = np.asarray(hb.evidence["period_s"], np.float64)[rows]
    jitter[at] = np.asarray(hb.evidence["jitter"], np.float64)[rows]
    sides = hb.evidence["side"]
    for a, r in zip(at.tolist(), rows.tolist(), strict=True):
        side[a] = sides[r]
    return score, period, jitter, side


def _why(
    count: int,
    longest: float,
    total_bytes: int,
    open_at_end: bool,
    period: float,
    jitter: float,
    side: str | None,
) -> str:
    held = f"{count} connection{'s' if count > 1 else ''} held up to {human_duration(longest)}"
    if open_at_end:
        held += " (open at capture end)"
    held += f", {human_bytes(total_bytes)}"
    if side is None:
        return held + ", no regular heartbeat"
    jit = f" jitter {jitter:.2f}" if np.isfinite(jitter) else ""
    return held + f", {side} pings every {period:.1f}s{jit}"
