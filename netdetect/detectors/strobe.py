"""Strobes: a client that connects to one server so often that it is a flood, not a schedule.

RITA calls a (client, server address) pair with 86,400 or more connections in its day of data a
strobe, and leaves it out of beacon analysis; without this detector such a pair scores 0 as a
beacon and vanishes. Here the rule is a rate, so it works on captures of any length:

- the threshold is `per_day` connections (setting, default 86,400 like RITA: one a second) scaled
  to the covered seconds between the subject's first and last connection (`ctx.covered_s`: gaps
  between captures do not count, wall clock does not matter);
- but never fewer than `min_connections` (setting, default 1,000): at one a second, a 5-minute
  capture would otherwise call 300 connections a strobe, which a busy web page can open in a
  burst. 1,000 connections to one server is well past any page load and still catches a flood
  that lasts only seconds;
- the subject is each ctx group (client and server name, or address when there is no name) and
  also each (client, server address) pair, RITA's unit: grouping by name could split a flood to
  one address over several names (SNI rotation) or merge a name's addresses. A pair is reported
  on the group holding most of its connections, when it is the stronger of the two (`basis`);
- score: 0 up to half the threshold, 0.5 at the threshold, 1.0 from twice the threshold (linear
  in between), so `DEFAULT_THRESHOLD` = 0.5 reports exactly the subjects at or over it.

A strobe is not also a beacon: rows whose score reaches the analysis threshold carry
`supersedes_beacon` = True, and the finding stage drops the beacon detector's row for that group
(one finding per group, of kind "strobe"), as RITA skips strobes in its beacon analysis.

Work is a few sorts and bincounts over the connection columns, no Python per row or group: a
5 M-connection SYN flood costs seconds, whatever its sources.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from netdetect.analysis.context import AnalysisContext
from netdetect.arrays import distinct_keys, hash_columns, split_address
from netdetect.detectors.base import Detections, Detector, register
from netdetect.errors import UsageError
from netdetect.output.text import human_duration
from netdetect.scoring.segments import reduce_by_group

PER_DAY = 86_400  # RITA's strobe threshold (connections per day of data)
MIN_CONNECTIONS = 1_000
DAY_S = 86_400.0
# Score at these multiples of the threshold (linear in between, 0 below, 1 above).
RAMP_RATIOS = (0.5, 1.0, 2.0)
RAMP_SCORES = (0.0, 0.5, 1.0)
PORT_TABLE_ROWS = 64  # up to this many reported rows, distinct ports by a flag table (4 MB)
UNANSWERED_NOTED = 0.5  # from this share of unanswered connections the `why` says so


@register
class StrobeDetector(Detector):
    name: ClassVar[str] = "strobe"
    kind: ClassVar[str] = "strobe"
    description: ClassVar[str] = (
        "connection floods: a client-server pair with more connections than `per_day` (86,400, RITA's "
        "strobe rule) scaled to the covered time it spans, at least `min_connections` (1,000)"
    )
    settings: ClassVar[dict[str, float]] = {"per_day": PER_DAY, "min_connections": MIN_CONNECTIONS}

    def run(self, ctx: AnalysisContext) -> Detections:
        per_day = _positive(self.name, "per_day", ctx.options.setting(self.name, "per_day", PER_DAY))
        floor = _positive(
            self.name, "min_connections", ctx.options.setting(self.name, "min_connections", MIN_CONNECTIONS)
        )
        conns, group, n_groups = ctx.conns, ctx.groups.index, len(ctx.groups)
        finite = np.isfinite(conns["ts"])
        if not finite.all():  # a hostile capture's times: such rows have no place in a rate
            conns, group = conns[finite], group[finite]
        if not len(conns):
            return Detections.empty(self.name, self.kind)
        ts = conns["ts"]

        def rates(index: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            """(connections, covered span s, connections / threshold) per subject; span and ratio
            0 for subjects too small to reach the ramp, whatever their span (most of them: a flood
            from random sources is millions of one-connection subjects)."""
            count = np.bincount(index, minlength=n)
            span, ratio = np.zeros(n), np.zeros(n)
            hopeful = count >= RAMP_RATIOS[0] * floor  # the threshold is at least the floor
            if hopeful.any():
                rows = np.flatnonzero(hopeful[index])
                first, last = reduce_by_group(ts[rows], index[rows], n, (np.minimum, np.maximum), np.nan)
                span[hopeful] = ctx.covered_s(first[hopeful], last[hopeful])
                ratio[hopeful] = count[hopeful] / np.maximum(floor, per_day * span[hopeful] / DAY_S)
            return count, span, ratio

        g_count, g_span, g_ratio = rates(group, n_groups)
        if ctx.options.group_by != "port" and (ctx.name_id < 0).all():
            # Every group is a (client, server address) pair already.
            pair, n_pairs = group, n_groups
            p_count, p_span, p_ratio = g_count, g_span, g_ratio
        else:
            c_hi, c_lo = split_address(conns["client"])
            s_hi, s_lo = split_address(conns["server"])
            pair = distinct_keys(hash_columns(c_hi, c_lo, s_hi, s_lo))[2]
            n_pairs = int(pair.max()) + 1
            p_count, p_span, p_ratio = rates(pair, n_pairs)

        # Each pair close to a strobe speaks on the group holding most of its connections, when it
        # is stronger there than the group itself.
        by_pair = np.full(n_groups, -1, np.int64)
        strong = p_ratio >= RAMP_RATIOS[0]
        if strong.any() and pair is not group:
            rows = np.flatnonzero(strong[pair])
            _, first, _, combo_count = distinct_keys(pair[rows] * n_groups + group[rows])
            combo_pair, combo_group = pair[rows][first], group[rows][first]
            # Per pair, its largest combination: sort by (pair, count) and keep each pair's last.
            order = np.lexsort((combo_count, combo_pair))
            last_of_pair = np.r_[combo_pair[order][1:] != combo_pair[order][:-1], True]
            home_pair, home_group = combo_pair[order][last_of_pair], combo_group[order][last_of_pair]
            better = p_ratio[home_pair] > g_ratio[home_group]
            home_pair, home_group = home_pair[better], home_group[better]
            # Several pairs on one group (a name over several addresses): the strongest one.
            order = np.lexsort((p_ratio[home_pair], home_group))
            home_pair, home_group = home_pair[order], home_group[order]
            last_of_group = np.r_[home_group[1:] != home_group[:-1], True][: len(home_group)]
            by_pair[home_group[last_of_group]] = home_pair[last_of_group]

        ratio = np.where(by_pair >= 0, p_ratio[np.maximum(by_pair, 0)], g_ratio)
        reported = np.flatnonzero(ratio >= RAMP_RATIOS[0])
        if not len(reported):
            return Detections.empty(self.name, self.kind)
        via_pair = by_pair[reported] >= 0
        pair_of = by_pair[reported]
        count = np.where(via_pair, p_count[np.maximum(pair_of, 0)], g_count[reported])
        span = np.where(via_pair, p_span[np.maximum(pair_of, 0)], g_span[reported])
        needed = np.maximum(floor, per_day * span / DAY_S)

        # Evidence rows: each reported subject's own connections (its group's, or its pair's).
        row_of_group = np.full(n_groups, -1, np.int64)
        row_of_group[reported[~via_pair]] = np.flatnonzero(~via_pair)
        row_of_pair = np.full(n_pairs, -1, np.int64)
        row_of_pair[pair_of[via_pair]] = np.flatnonzero(via_pair)
        client_ports = np.zeros(len(reported), np.int64)
        server_ports = np.zeros(len(reported), np.int64)
        unanswered = np.zeros(len(reported))
        for row_of_conn in (row_of_group[group], row_of_pair[pair]):
            mine = np.flatnonzero(row_of_conn >= 0)
            if not len(mine):
                continue
            row, n = row_of_conn[mine], len(reported)
            client_ports += _distinct_per_row(row, conns["client_port"][mine], n)
            server_ports += _distinct_per_row(row, conns["server_port"][mine], n)
            silent = (conns["packets_in"][mine] <= 0) & (conns["bytes_in"][mine] <= 0)
            unanswered += np.bincount(row, weights=silent, minlength=n)
        unanswered /= np.maximum(count, 1)

        score = np.interp(ratio[reported], RAMP_RATIOS, RAMP_SCORES)
        per_hour = count * 3600.0 / np.maximum(span, 1.0)
        needed_per_hour = needed * 3600.0 / np.maximum(span, 1.0)
        why = [
            f"{c:,} connections in {human_duration(s)} ({h:,.0f}/h; threshold {t:,.0f}/h)"
            + (f" to {p:,} ports" if p > 1 else "")  # scan-like
            + (f", {u:.0%} unanswered" if u >= UNANSWERED_NOTED else "")  # SYN flood or closed port
            for c, s, h, t, p, u in zip(
                count.tolist(),
                span.tolist(),
                per_hour.tolist(),
                needed_per_hour.tolist(),
                server_ports.tolist(),
                unanswered.tolist(),
                strict=True,
            )
        ]
        return Detections(
            self.name,
            self.kind,
            score,
            groups=reported.astype(np.int64),
            evidence={
                "connections": count,
                "span_s": span,
                "per_hour": per_hour,
                "threshold": needed,
                "threshold_per_hour": needed_per_hour,
                "client_ports": client_ports,
                "server_ports": server_ports,
                "unanswered_share": unanswered,
                "basis": ["address" if v else "group" for v in via_pair.tolist()],
                "supersedes_beacon": score >= ctx.options.threshold,
            },
            why=why,
        )


def _distinct_per_row(row: np.ndarray, value: np.ndarray, n_rows: int) -> np.ndarray:
    """Number of distinct 16-bit values (ports) per row index."""
    if n_rows <= PORT_TABLE_ROWS:  # a (rows x 65,536) table of flags: no sort of millions of rows
        seen = np.zeros((n_rows, 1 << 16), bool)
        seen[row, value] = True
        return seen.sum(axis=1)
    keys = distinct_keys(row.astype(np.uint64) << np.uint64(16) | value.astype(np.uint64))[0]
    return np.bincount((keys >> np.uint64(16)).astype(np.int64), minlength=n_rows)


def _positive(detector: str, key: str, value: object) -> float:
    """A setting as a positive finite number."""
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        number = float("nan")
    if not (np.isfinite(number) and number > 0):
        raise UsageError(f"{detector} setting {key} must be a positive number, not {value!r}")
    return number
