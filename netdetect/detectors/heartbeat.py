"""Heartbeats inside one long connection: periodic activity marks of one side of a connection.

A RAT, a WebSocket / HTTP/2 C2 channel or a QUIC implant keeps one connection open and pings on a
schedule: connection starts show one event, so the beacon detector cannot time it. The flow tracker
notes per connection when each side starts sending after an idle gap (the marks table, see
netdetect/flows.py); here the client's marks and, apart, the server's (a server that pushes on a
schedule counts too) go through the beacon scorer's periodicity analysis: the pair test and the
interval test, the period, jitter and missed share (netdetect/scoring/periodicity.py).

What differs from connection-start beacons is the span rule: a heartbeat is timed inside its
connection, so a five-minute capture of a 5 s ping is enough. Instead of an hour of check-ins a
series needs `min_beats` marks (setting, default 8) whose longest run covers most of the time the
connection's marks could cover. Look-alikes stay quiet because of the mark rules and the tests: a
stream or a bulk transfer never idles, so it has one mark per side; typing, browsing and media
bursts are irregular and fail the pair test. Segmented video (HLS, DASH) fetches at a steady pace but
moves megabytes per beat: a series whose connection carries more than `max_beat_bytes` (setting,
default 256 KiB) per mark on average is scaled down by that ratio, as check-ins are small. A chat
client's fixed keep-alive is periodic and is reported: it is what an analyst should be able to list.

One row per connection group (ctx.groups): its best scoring connection side.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from netdetect.analysis.context import AnalysisContext
from netdetect.detectors.base import Detections, Detector, register
from netdetect.output.text import human_duration
from netdetect.scoring import periodicity
from netdetect.scoring import segments as seg
from netdetect.scoring.score import EVIDENCE_MIDPOINT, EVIDENCE_SCALE, PAIR_HOPELESS
from netdetect.tables.connections import idle_timeout
from netdetect.tables.marks import MAX_MARKS_PER_CONN, sort_marks

MIN_BEATS = 8
# Share of the connection's markable time (first to last mark it could keep) the longest regular
# run must cover for full weight; half of it gives none.
COVER_FULL = 0.6
COVER_NONE = 0.3
MAX_BEAT_BYTES = 256 * 1024  # mean bytes per mark above which a regular series is a stream, not pings
SIDES = ("client", "server")


def still_open(ctx: AnalysisContext, conns: np.ndarray) -> np.ndarray:
    """Per connection: whether its last packet is within its idle timeout of the end of its capture
    span, i.e. the flow tracker still held it open when the capture ended (a FIN in that last
    stretch is not told apart)."""
    end_ts = conns["end_ts"]
    if len(ctx.coverage):
        at = np.clip(np.searchsorted(ctx.coverage[:, 0], end_ts, "right") - 1, 0, len(ctx.coverage) - 1)
        span_end = ctx.coverage[at, 1]
    elif ctx.window is not None:
        span_end = np.full(len(end_ts), ctx.window[1])
    else:
        return np.zeros(len(end_ts), bool)
    return span_end - end_ts <= idle_timeout(conns["proto"])


@register
class HeartbeatDetector(Detector):
    name: ClassVar[str] = "heartbeat"
    kind: ClassVar[str] = "heartbeat"
    description: ClassVar[str] = (
        "periodic pings inside one long-lived connection (RAT, WebSocket, HTTP/2, QUIC)"
    )
    settings: ClassVar[dict[str, float]] = {"min_beats": MIN_BEATS, "max_beat_bytes": MAX_BEAT_BYTES}

    def run(self, ctx: AnalysisContext) -> Detections:
        min_beats = max(int(ctx.options.setting(self.name, "min_beats", MIN_BEATS)), 3)
        max_beat_bytes = float(ctx.options.setting(self.name, "max_beat_bytes", MAX_BEAT_BYTES))
        marks = sort_marks(ctx.ex.marks)
        conns = ctx.conns
        if not len(marks) or not len(conns):
            return Detections.empty(self.name, self.kind)
        marks = marks[np.isfinite(marks["ts"])]
        # Marks of the analysed connections: each connection's rows in the uid-sorted table.
        lo = np.searchsorted(marks["uid"], conns["uid"], "left")
        hi = np.searchsorted(marks["uid"], conns["uid"], "right")
        with_marks = np.flatnonzero(hi - lo >= min_beats)
        if not len(with_marks):
            return Detections.empty(self.name, self.kind)
        counts = (hi - lo)[with_marks]
        rows = np.repeat(with_marks, counts)
        picked = marks[np.repeat(lo[with_marks], counts) + _ranks(counts)]
        # One series per (connection, side), sorted by (series, time) as the analysis wants.
        series_key = rows * 2 + picked["from_server"]
        series_ids, series = np.unique(series_key, return_inverse=True)
        order = np.lexsort((picked["ts"], series))
        series, ts = series[order], picked["ts"][order]
        n = len(series_ids)
        conn_row, side = series_ids // 2, (series_ids % 2).astype(np.int64)

        timing = periodicity.analyse(series, ts, n, run_break_s=periodicity.RUN_BREAK_S)
        enough = timing.events >= min_beats
        tested = enough & (timing.llr > PAIR_HOPELESS)
        periodicity.add_interval_test(timing, tested)
        evidence = np.where(tested, np.maximum(timing.llr, timing.llr_intervals), timing.llr) - np.log(2.0)
        timing_score = 0.5 * (1.0 + np.tanh(0.5 * (evidence - EVIDENCE_MIDPOINT) / EVIDENCE_SCALE))

        # The time the marks could cover: the connection, or from its oldest kept mark when its ring
        # was full (older marks were shed).
        starts, sizes = seg.bounds(series, n)
        c = conns[conn_row]
        first_kept = np.minimum.reduceat(picked["ts"], np.r_[0, np.cumsum(counts)[:-1]])
        ring_full = counts >= MAX_MARKS_PER_CONN
        conn_first = np.where(ring_full, first_kept, -np.inf)
        index_of = np.searchsorted(with_marks, conn_row)
        markable = c["end_ts"] - np.maximum(c["ts"], conn_first[index_of])
        with np.errstate(invalid="ignore", divide="ignore"):
            cover = np.where(markable > 0, timing.longest_run_s / markable, 0.0)
        cover_weight = np.clip((cover - COVER_NONE) / (COVER_FULL - COVER_NONE), 0.0, 1.0)
        moved = np.maximum(c["bytes_out"], 0).astype(np.float64) + np.maximum(c["bytes_in"], 0)
        per_beat = moved / counts[index_of]
        with np.errstate(divide="ignore"):
            light = np.clip(max_beat_bytes / per_beat, 0.0, 1.0)
        score = np.where(enough, timing_score * cover_weight * light, 0.0)

        # Per group: the best series.
        group = ctx.groups.index[conn_row]
        best = np.lexsort((-score, group))
        first = np.ones(len(best), bool)
        first[1:] = group[best][1:] != group[best][:-1]
        pick = best[first]
        c = conns[conn_row[pick]]
        duration = c["end_ts"] - c["ts"]
        open_at_end = still_open(ctx, c)
        period, jitter = timing.period_s[pick], timing.jitter[pick]
        side_names = [SIDES[s] for s in side[pick]]
        beats = timing.events[pick]
        regular = score[pick] >= ctx.options.threshold
        why = [
            _why(d, s, p, j, b, o, r)
            for d, s, p, j, b, o, r in zip(
                duration, side_names, period, jitter, beats, open_at_end, regular, strict=True
            )
        ]
        return Detections(
            self.name,
            self.kind,
            score[pick],
            groups=group[pick].astype(np.int64),
            evidence={
                "period_s": period,
                "jitter": jitter,
                "missed_share": timing.missed_share[pick],
                "marks": sizes[pick].astype(np.int64),
                "side": side_names,
                "connection_s": duration,
                "open_at_end": open_at_end,
                "bytes_out": c["bytes_out"],
                "bytes_in": c["bytes_in"],
                "bytes_per_mark": per_beat[pick],
            },
            why=why,
        )


def _ranks(counts: np.ndarray) -> np.ndarray:
    """0..count-1 for each count in turn."""
    total = int(counts.sum())
    return np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)


def _why(
    duration: float, side: str, period: float, jitter: float, beats: int, open_at_end: bool, regular: bool
) -> str:
    held = "held" if not open_at_end else "open at capture end after"
    if not regular or not np.isfinite(period):
        return f"1 connection {held} {human_duration(duration)}, {side} resumed {beats} times, not regularly"
    jit = f" jitter {jitter:.2f}" if np.isfinite(jitter) else ""
    return f"1 connection {held} {human_duration(duration)}, {side} pings every {period:.1f}s{jit}"
