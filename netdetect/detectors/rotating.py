"""Rotating C2: one implant checking in on several addresses in turn (Emotet's fallback list).

Each address gets a part of the check-ins, so no (client, server) group is regular enough to score
as a beacon. The implant still shows one client, one server port and one client fingerprint, so:

- a candidate set is one client, one server port and one fingerprint: the TLS ClientHello's JA4
  (else its JA3 hash), or for plain HTTP the request shape (method, user agent and URI path with
  runs of digits, hex and base64 collapsed). Events are joined to their connection by ends and time
  (`netdetect.analysis.names.connection_of_events`); a connection takes its first event's print;
- a set needs at least two ctx groups (addresses, or names: one name over many addresses, a CDN,
  is one group already and no rotation), `MIN_VISITS` connections per group on average (a channel
  comes back to its addresses; one visit to each of many servers is browsing), and no group holding
  more than `MAX_TOP_SHARE` of its connections (then it is that group's beacon, not a rotation);
- its combined check-in series is scored by `netdetect.scoring.score_groups`, like every group,
  and so is each member group alone (all its connections). The set is reported when the combined
  score reaches the analysis threshold and its evidence (the scorer's log likelihood ratio, which
  does not saturate like the score) beats every member's alone by `MARGIN_NATS`: a beacon to one
  address is not reported again, and a browser's many addresses (Poisson-like) stay quiet. A strict
  round robin leaves each address periodic on its own (period times the number of addresses), so
  the beacon detector may report the members too: `members` lets the finding stage link them;
- sets with more than `max_members` groups (setting, default 64) are browsers or system TLS
  libraries, not one channel: they are not scored, and counted in `Detections.skipped`.

Known limits: an implant that shares its fingerprint with heavy ordinary traffic of the same client
and port (e.g. Windows schannel on 443) is diluted by it; HTTP paths that are random words (not
digits, hex or base64) give every request its own shape.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import ClassVar

import numpy as np

from netdetect.addr import to_text
from netdetect.analysis.context import AnalysisContext
from netdetect.analysis.names import connection_index, connection_of_events
from netdetect.arrays import distinct_keys, hash_columns, split_address
from netdetect.detectors.base import Detections, Detector, register
from netdetect.errors import UsageError
from netdetect.output.text import human_duration
from netdetect.scoring import MIN_EVENTS, ScoreTable, score_groups
from netdetect.scoring.periodicity import MERGE_GAP_S
from netdetect.scoring.segments import reduce_by_group

MAX_MEMBERS = 64
# A channel comes back to its addresses: at least this many connections per member on average. One
# connection to each of 20 servers is browsing; random times over many such sets would otherwise
# meet the beacon score by chance (0.08% of sets in benchmarks/detect_accuracy.py --load).
MIN_VISITS = 2
MAX_TOP_SHARE = 0.9  # above this share of the connections on one group, the set is that group's
MARGIN_NATS = 3.0  # the combination's evidence must beat its best member's by this (odds of 20 to 1)
TEXT_LIMIT = 200  # characters of a wire-supplied path or user agent kept in a request shape
MAX_REQUEST_SHAPES = 100_000  # distinct (method, URI, user agent) shaped per run (Python per value)

_HEX_RUN = re.compile(r"[0-9a-fA-F]{8,}")
_B64_RUN = re.compile(r"[A-Za-z0-9+=_-]{16,}")  # base64 (or url-safe) data, when it holds a digit
_DIGITS = re.compile(r"[0-9]+")


@register
class RotatingDetector(Detector):
    name: ClassVar[str] = "rotating"
    kind: ClassVar[str] = "rotating"
    description: ClassVar[str] = (
        "one client checking in on several addresses in turn: same server port and TLS fingerprint "
        "(JA4/JA3) or HTTP request shape, periodic only when combined"
    )
    settings: ClassVar[dict[str, float]] = {"max_members": MAX_MEMBERS}

    def run(self, ctx: AnalysisContext) -> Detections:
        max_members = ctx.options.setting(self.name, "max_members", MAX_MEMBERS)
        if not isinstance(max_members, int) or isinstance(max_members, bool) or max_members < 2:
            raise UsageError(f"rotating setting max_members must be an integer >= 2, not {max_members!r}")
        conns, n_groups = ctx.conns, len(ctx.groups)
        if not len(conns):
            return Detections.empty(self.name, self.kind)
        # Only a (client, server port) with connections to two groups or more, and enough of them,
        # can hold a set: events are joined and request shapes made for those connections only.
        c_hi, c_lo = split_address(conns["client"])
        _, _, client_port, client_port_size = distinct_keys(hash_columns(c_hi, c_lo, conns["server_port"]))
        _, spread_first, _, _ = distinct_keys(client_port * n_groups + ctx.groups.index)
        spread = np.bincount(client_port[spread_first], minlength=len(client_port_size))
        worth = ((spread >= 2) & (client_port_size >= MIN_EVENTS))[client_port] & np.isfinite(conns["ts"])
        prints, label, unshaped = _fingerprints(ctx, np.flatnonzero(worth))
        have = np.flatnonzero(prints >= 0)
        if not len(have):
            found = Detections.empty(self.name, self.kind)
            found.skipped = {"http_requests_unshaped": unshaped} if unshaped else {}
            return found
        c_hi, c_lo = c_hi[have], c_lo[have]
        _, _, cand, cand_size = distinct_keys(
            hash_columns(c_hi, c_lo, conns["server_port"][have], prints[have])
        )
        group = ctx.groups.index[have]
        # Members: distinct (set, group) combinations, each with its connection count.
        _, combo_first, _, combo_size = distinct_keys(cand * n_groups + group)
        combo_cand, combo_group = cand[combo_first], group[combo_first]
        n_cand = len(cand_size)
        members = np.bincount(combo_cand, minlength=n_cand)
        (top,) = reduce_by_group(combo_size, combo_cand, n_cand, (np.maximum,), 0)
        too_many = members > max_members
        eligible = (
            (members >= 2)
            & ~too_many
            & (top <= MAX_TOP_SHARE * cand_size)
            & (cand_size >= np.maximum(MIN_EVENTS, MIN_VISITS * members))
        )
        skipped = {
            "sets_over_max_members": int(too_many.sum()),
            "connections_in_skipped_sets": int(cand_size[too_many].sum()),
            "http_requests_unshaped": unshaped,
        }
        found = Detections.empty(self.name, self.kind)
        found.skipped = skipped
        if not eligible.any():
            return found

        # The combined series of each eligible set, and each member group's own series.
        set_of_cand = np.cumsum(eligible) - 1
        in_set = eligible[cand]
        rows = have[in_set]
        set_index = set_of_cand[cand[in_set]]
        n_sets = int(eligible.sum())
        combined = _score(ctx, rows, set_index, n_sets)
        # Members alone only for the sets whose combination reaches the threshold (few of them).
        passing = combined.score >= ctx.options.threshold
        if not passing.any():
            return found
        member_combo = np.flatnonzero(eligible[combo_cand])
        member_combo = member_combo[passing[set_of_cand[combo_cand[member_combo]]]]
        member_groups = np.unique(combo_group[member_combo])
        member_of_group = np.full(n_groups, -1, np.int64)
        member_of_group[member_groups] = np.arange(len(member_groups))
        member_rows = np.flatnonzero(member_of_group[ctx.groups.index] >= 0)
        alone = _score(ctx, member_rows, member_of_group[ctx.groups.index[member_rows]], len(member_groups))
        # "Better" on the evidence (nats), which keeps growing where scores saturate at 1: a strict
        # round robin leaves each address a clean (longer) period, and the set is still stronger.
        member_set = set_of_cand[combo_cand[member_combo]]
        member = member_of_group[combo_group[member_combo]]
        (best_member,) = reduce_by_group(
            alone.subscores["evidence"][member], member_set, n_sets, (np.maximum,), -np.inf
        )
        (best_score,) = reduce_by_group(alone.score[member], member_set, n_sets, (np.maximum,), 0.0)
        reported = np.flatnonzero(passing & (combined.subscores["evidence"] > best_member + MARGIN_NATS))
        if not len(reported):
            return found
        return self._detections(ctx, rows, set_index, reported, combined, best_score, label, prints, skipped)

    def _detections(
        self,
        ctx: AnalysisContext,
        rows: np.ndarray,
        set_index: np.ndarray,
        reported: np.ndarray,
        combined: ScoreTable,
        best_member: np.ndarray,
        label: Callable[[int], str],
        prints: np.ndarray,
        skipped: dict[str, int],
    ) -> Detections:
        """One row per reported set, its members and addresses listed (few rows: Python per row)."""
        keep = np.isin(set_index, reported)
        rows, set_index = rows[keep], set_index[keep]
        conns = ctx.conns
        order = np.lexsort((ctx.conns["ts"][rows], set_index))
        rows, set_index = rows[order], set_index[order]
        starts = np.flatnonzero(np.r_[True, set_index[1:] != set_index[:-1]])
        ends = np.r_[starts[1:], len(rows)]
        groups, members, addresses, names, per_address, fingerprint, why = [], [], [], [], [], [], []
        for lo, hi in zip(starts.tolist(), ends.tolist(), strict=True):
            mine = rows[lo:hi]
            member_ids, member_size = np.unique(ctx.groups.index[mine], return_counts=True)
            by_size = np.argsort(-member_size, kind="stable")
            groups.append(int(member_ids[by_size[0]]))
            members.append(member_ids[by_size].astype(np.int64))
            # Check-ins as the scorer counts them (connections within MERGE_GAP_S are one), each on
            # the address of its first connection; every address is listed, even one with none.
            begins = mine[np.r_[True, np.diff(conns["ts"][mine]) > MERGE_GAP_S]]
            server = np.unique(conns["server"][mine])
            server_checkins = np.bincount(
                np.searchsorted(server, conns["server"][begins]), minlength=len(server)
            )
            by_use = np.argsort(-server_checkins, kind="stable")
            addresses.append([to_text(server[i]) for i in by_use.tolist()])
            per_address.append(server_checkins[by_use].tolist())
            names.append(
                list(dict.fromkeys(n for g in member_ids[by_size].tolist() if (n := ctx.groups.name(g))))
            )
            fingerprint.append(label(int(prints[mine[0]])))
        at = set_index[starts]
        period, jitter = combined.period_s[at], combined.jitter[at]
        checkins = combined.subscores["events"][at].astype(np.int64)
        for p, j, addrs, member_ids, text in zip(
            period.tolist(), jitter.tolist(), addresses, members, fingerprint, strict=True
        ):
            kind, _, value = text.partition(":")
            shown = value if len(value) <= 40 else value[:37] + "..."
            # Several names on one address (domain rotation) are members too.
            over = f"{len(addrs)} addresses" if len(addrs) > 1 else f"{len(member_ids)} names"
            why.append(
                f"checks in every {human_duration(p)} jitter {j:.2f} over {over} in turn "
                f"(same {kind.upper()} {shown})"
            )
        detections = Detections(
            self.name,
            self.kind,
            combined.score[at],
            groups=np.array(groups, np.int64),
            evidence={
                "addresses": addresses,
                "names": names,
                "per_address_checkins": per_address,
                "fingerprint": fingerprint,
                "period_s": period,
                "jitter": jitter,
                "missed_share": combined.missed_share[at],
                "checkins": checkins,
                "connections": combined.connections[at],
                "best_member_score": best_member[at],
            },
            why=why,
            members=members,
        )
        detections.skipped = skipped
        return detections


def _score(ctx: AnalysisContext, rows: np.ndarray, index: np.ndarray, n: int) -> ScoreTable:
    ts = ctx.conns["ts"][rows]  # column by column: gathering whole rows costs several times more
    return score_groups(
        index,
        ts,
        ctx.conns["bytes_out"][rows],
        ctx.conns["bytes_in"][rows],
        ctx.conns["end_ts"][rows] - ts,
        n,
        window=ctx.window,
        threshold=ctx.options.threshold,
    )


def _fingerprints(
    ctx: AnalysisContext, candidates: np.ndarray
) -> tuple[np.ndarray, Callable[[int], str], int]:
    """Per row of ctx.conns a fingerprint id (-1: none; only `candidates` rows get one), the text of
    an id ("ja4:...", "ja3:...", "http:METHOD shape ua") made on demand (only reported sets need
    one), and the number of HTTP requests left without a shape (over MAX_REQUEST_SHAPES)."""
    conns, pool = ctx.conns, ctx.ex.events.pool
    prints = np.full(len(conns), -1, np.int64)
    shapes: dict[str, int] = {}
    tls, http = ctx.ex.tls.rows, ctx.ex.http.rows
    unshaped = 0

    ja4_ids: list[np.ndarray] = []  # the distinct JA4 ids, found on the first label asked for

    def label(pid: int) -> str:
        if pid > len(pool):
            return next(f"http:{text}" for text, sid in shapes.items() if sid == pid)
        if not ja4_ids:
            ja4_ids.append(np.unique(tls["ja4"]))
        is_ja4 = bool(np.isin(pid, ja4_ids[0]))
        return f"{'ja4' if is_ja4 else 'ja3'}:{pool.get(pid)}"

    if not len(candidates) or not (len(tls) or len(http)):
        return prints, label, unshaped
    index = connection_index(conns[candidates])

    def connections_of(rows: np.ndarray) -> np.ndarray:
        hit = connection_of_events(index, rows)
        return np.where(hit >= 0, candidates[np.maximum(hit, 0)], -1)

    def assign(event_conn: np.ndarray, event_print: np.ndarray) -> None:
        """Each connection without a print takes its earliest event's (event rows in time order)."""
        ok = np.flatnonzero((event_conn >= 0) & (event_print >= 0))
        conn, first, _, _ = distinct_keys(event_conn[ok])
        free = prints[conn] < 0
        prints[conn[free]] = event_print[ok[first[free]]]

    if len(tls):
        # JA4 ignores the extension order that browsers shuffle per connection; JA3 hash otherwise.
        assign(connections_of(tls), np.where(tls["ja4"] >= 0, tls["ja4"], tls["ja3_hash"]))
    if len(http):
        event_conn = connections_of(http)
        joined = np.flatnonzero(event_conn >= 0)
        rows = http[joined]
        _, first, inverse, _ = distinct_keys(hash_columns(rows["method"], rows["uri"], rows["user_agent"]))
        # Python per distinct request: bounded, the earliest requests first, the rest counted.
        shape_of_triple = np.full(len(first), -1, np.int64)
        earliest = np.argsort(first)[:MAX_REQUEST_SHAPES]
        for i, row in zip(earliest.tolist(), first[earliest].tolist(), strict=True):
            text = request_shape(
                pool.get(int(rows["method"][row])),
                pool.get(int(rows["uri"][row])),
                pool.get(int(rows["user_agent"][row])),
            )
            # Shape ids follow the pool's, so they never meet a TLS print's id.
            shape_of_triple[i] = shapes.setdefault(text, len(pool) + 1 + len(shapes))
        request_print = shape_of_triple[inverse]
        unshaped = int((request_print < 0).sum())
        assign(event_conn[joined], request_print)
    return prints, label, unshaped


def request_shape(method: str | None, uri: str | None, user_agent: str | None) -> str:
    """Method, collapsed URI path and user agent: what stays the same between an implant's requests
    when ids, counters and encoded data in the path change."""
    path = (uri or "").split("?", 1)[0].split("#", 1)[0][:TEXT_LIMIT]
    path = _HEX_RUN.sub("{hex}", path)
    path = _B64_RUN.sub(lambda m: "{encoded}" if any(c.isdigit() for c in m.group()) else m.group(), path)
    path = _DIGITS.sub("{n}", path)
    return f"{(method or '-')[:16]} {path or '/'} {(user_agent or '-')[:TEXT_LIMIT]}"
