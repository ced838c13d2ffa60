"""Findings built once from every detector's rows: per connection group the facts every finding needs
(time-ordered rows, first/last seen, servers by use, top port), the main detector's verdict and each
detector's evidence; rows that are not connection groups (DNS) and intel sightings with no group."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from netdetect.addr import to_text
from netdetect.analysis.context import Groups
from netdetect.analysis.names import DnsChains
from netdetect.arrays import split_address
from netdetect.findings.rank import CONFIDENCE_RANK, hit_is_context
from netdetect.findings.verdicts import evidence_records
from netdetect.model import Finding, IntelHit
from netdetect.scoring import interval_histogram, interval_histograms, score_groups


class GroupFacts:
    """Per-group columns that every finding needs, computed for the reported groups in one numpy pass:
    time-ordered rows, first/last seen, servers (as text), top port and protocol by use, and the scores
    as Python values (numpy scalars cost a microsecond each). Entry i is group scored[reported[i]]."""

    def __init__(
        self, groups: Groups, conns: np.ndarray, scores, scored: np.ndarray, reported: np.ndarray
    ) -> None:
        entry = np.full(len(groups), -1, np.int64)
        entry[scored[reported]] = np.arange(len(reported))
        conn_entry = entry[groups.index]
        keep = np.flatnonzero(conn_entry >= 0)
        rows = keep[np.lexsort((conns["ts"][keep], conn_entry[keep]))]  # by group, then time
        group = conn_entry[rows]
        self.times = conns["ts"][rows]
        self.sizes = conns["bytes_out"][rows] + conns["bytes_in"][rows]
        # Every reported group has connections: entry i is run i of `group`.
        starts = np.flatnonzero(np.r_[True, group[1:] != group[:-1]]) if len(group) else np.zeros(0, np.int64)
        ends = np.r_[starts[1:], len(group)].astype(np.int64)
        self.starts, self.ends = starts.tolist(), ends.tolist()
        self.count = (ends - starts).tolist()
        self.first_seen = self.times[starts].tolist()
        last = np.maximum.reduceat(conns["end_ts"][rows], starts) if len(starts) else np.zeros(0)
        self.last_seen = last.tolist()
        self.servers = _texts_by_use(group, conns["server"][rows])
        self.port = _top_by_use(group, conns["server_port"][rows])
        self.proto = _top_by_use(group, conns["proto"][rows])
        self.subscores = _subscore_dicts(scores.subscores, reported)
        self.score = scores.score[reported].tolist()
        self.beacon = scores.beacon[reported].tolist()
        self.period = _finite_or_none(scores.period_s[reported])
        self.jitter = _finite_or_none(scores.jitter[reported])
        self.missed = _finite_or_none(scores.missed_share[reported])

    def span(self, i: int) -> slice:
        return slice(self.starts[i], self.ends[i])


def _subscore_dicts(subscores: dict[str, np.ndarray], reported: np.ndarray) -> list[dict[str, float]]:
    """Per reported group, its finite subscores rounded to 4 places (values as `.tolist()` gives them),
    in the scorer's order."""
    names = list(subscores)
    columns = [np.round(subscores[k][reported], 4) for k in names]
    if names and all(c.dtype == np.float64 for c in columns):
        table = np.column_stack(columns)  # rows made in finding order: later passes read them in order
        rows = table.tolist()
        finite = np.isfinite(table).all(axis=1).tolist()
    else:
        rows = [list(row) for row in zip(*(c.tolist() for c in columns), strict=True)]
        rows = rows if names else [[] for _ in range(len(reported))]
        finite = [all(math.isfinite(v) for v in row) for row in rows]
    return [
        dict(zip(names, row, strict=True))
        if ok
        else {k: v for k, v in zip(names, row, strict=True) if math.isfinite(v)}
        for row, ok in zip(rows, finite, strict=True)
    ]


def _finite_or_none(values: np.ndarray) -> list[float | None]:
    """`_num` of each value."""
    out = values.astype(np.float64).tolist()
    bad = ~np.isfinite(values)
    if bad.any():
        for i in np.flatnonzero(bad).tolist():
            out[i] = None
    return out


def _use_order(group: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct (group, value) pairs, ranked by group, then most used first, ties in order of first use
    (rows are in time order): (earliest row of each pair, in that order; its group)."""
    n = len(group)
    position = np.arange(n)
    if values.dtype.kind == "S":
        hi, lo = split_address(values)
        order = np.lexsort((position, lo, hi, group))
        same = (hi[order][1:] == hi[order][:-1]) & (lo[order][1:] == lo[order][:-1])
    else:
        order = np.lexsort((position, values, group))
        same = values[order][1:] == values[order][:-1]
    same &= group[order][1:] == group[order][:-1]
    starts = np.flatnonzero(np.r_[True, ~same])
    counts = np.diff(np.r_[starts, n])
    first = order[starts]  # the earliest row of each (group, value) pair
    pair_group = group[first]
    ranked = np.lexsort((first, -counts, pair_group))
    return first[ranked], pair_group[ranked]


def _top_by_use(group: np.ndarray, values: np.ndarray) -> list:
    """Per group (entry order), its most used value."""
    if not len(group):
        return []
    rows, pair_group = _use_order(group, values)
    head = np.r_[True, pair_group[1:] != pair_group[:-1]]
    return values[rows[head]].tolist()


def _texts_by_use(group: np.ndarray, values: np.ndarray) -> list[list[str]]:
    """Per group (entry order), its distinct addresses as text, most used first."""
    if not len(group):
        return []
    rows, pair_group = _use_order(group, values)
    distinct, inverse = np.unique(values[rows], return_inverse=True)
    texts = [to_text(v) for v in distinct.tolist()]
    flat = [texts[k] for k in inverse.ravel().tolist()]
    bounds = np.flatnonzero(np.r_[True, pair_group[1:] != pair_group[:-1], True]).tolist()
    return [flat[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


def _by_use_per_group(group: np.ndarray, values: np.ndarray) -> dict[int, list]:
    """Distinct values per group, most used first; ties in order of first use (rows are in time order).
    The plain form of `_top_by_use` and `_texts_by_use` (tests compare them)."""
    if not len(group):
        return {}
    rows, pair_group = _use_order(group, values)
    out: dict[int, list] = {}
    for g, value in zip(pair_group.tolist(), values[rows].tolist(), strict=True):
        out.setdefault(g, []).append(value)
    return out


def _group_findings(
    gids: list[int],
    groups: Groups,
    facts: GroupFacts,
    group_hits: dict[int, list[IntelHit]],
    chains: DnsChains,
) -> list[Finding]:
    """The finding of each group gids[i] (entry i of `facts`), built column by column. Per-connection
    times and sizes are left out: `_analyze` adds them to the top findings once they are ranked."""
    n = len(gids)
    g_array = np.array(gids, np.int64)
    client_raws = groups.client_raw[g_array].tolist() if n else []
    clients = [to_text(raw) for raw in client_raws]
    name_ids = groups._name_id[g_array].tolist() if n else []
    names: list[str | None] = [groups.names[i] if i >= 0 else None for i in name_ids]
    # dns_names: the name first, then the names and addresses its DNS chain gave this client.
    named = [(i, name) for i, name in enumerate(names) if name]
    found = chains.get_many([(client_raws[i], clients[i], name) for i, name in named])
    dns_names: list[list[str]] = [[] for _ in range(n)]
    for (i, name), seen in zip(named, found, strict=True):
        if not seen or (len(seen) == 1 and name in seen):
            dns_names[i] = [name]
        else:
            dns_names[i] = sorted(set(seen) | {name}, key=_name_first(name))
    periods = facts.period
    counts = facts.count
    wide = [i for i in range(n) if counts[i] > 2]
    hist_counts, hist_edges = interval_histograms(
        facts.times,
        [facts.starts[i] for i in wide],
        [facts.ends[i] for i in wide],
        [periods[i] for i in wide],
    )
    histograms: list[list] = [[] for _ in range(n)]
    bin_edges: list[list] = [[] for _ in range(n)]
    for i, c, e in zip(wide, hist_counts, hist_edges, strict=True):
        histograms[i], bin_edges[i] = c, e
    intel: list[list[IntelHit]] = [[] for _ in range(n)]
    kinds = ["beacon"] * n
    if group_hits:
        for i, g in enumerate(gids):
            hits = group_hits.get(g)
            if hits:
                intel[i] = merged = _merge_hits(hits)
                kinds[i] = "intel" if any(not hit_is_context(h) for h in merged) else "beacon"
    servers = facts.servers
    proto_name = {6: "tcp", 17: "udp"}
    return list(
        map(
            Finding,
            kinds,
            clients,
            [ips[0] if ips else None for ips in servers],
            [list(ips) for ips in servers],
            [int(p) for p in facts.port],
            names,
            facts.score,
            [bool(b) for b in facts.beacon],
            periods,
            facts.jitter,
            counts,
            facts.first_seen,
            facts.last_seen,
            facts.subscores,
            intel,
            facts.missed,
            histograms,
            bin_edges,
            dns_names,
            [None] * n,
            [proto_name.get(int(p)) for p in facts.proto],
        )
    )


def _name_first(name: str):
    """Sort key: the name itself, then the others in order."""
    return lambda v: (v != name, v)


def _group_finding(
    g: int, i: int, groups: Groups, facts: GroupFacts, hits: list[IntelHit], chains: DnsChains
) -> Finding:
    """The finding of group g, entry i of `facts`, one at a time: what `_group_findings` gives for it
    (kept as the plain statement of it; tests compare the two)."""
    span = facts.span(i)
    times = facts.times[span]
    dst_ips = list(facts.servers[i])
    period = _num(np.nan if facts.period[i] is None else facts.period[i])
    hist, edges = interval_histogram(times, period) if len(times) > 2 else ([], [])
    name, client = groups.name(g), groups.client(g)
    dns_names = sorted(
        set(chains.get((client, name), ())) | {name} if name else set(),
        key=lambda v: (v != name, v),
    )
    hits = _merge_hits(hits)
    return Finding(
        kind="intel" if any(not hit_is_context(h) for h in hits) else "beacon",
        src_ip=client,
        dst_ip=dst_ips[0] if dst_ips else None,
        dst_ips=dst_ips,
        dst_port=int(facts.port[i]),
        server_name=name,
        score=facts.score[i],
        proto={6: "tcp", 17: "udp"}.get(int(facts.proto[i])),
        beacon=bool(facts.beacon[i]),
        period_s=period,
        jitter=facts.jitter[i],
        connections=len(times),
        first_seen=float(times[0]),
        last_seen=facts.last_seen[i],
        subscores=dict(facts.subscores[i]),
        intel=hits,
        missed_share=facts.missed[i],
        interval_histogram=list(hist),
        interval_bin_edges_s=list(edges),
        dns_names=dns_names,
        times=times,
        sizes=facts.sizes[span],
    )


def _orphan_finding(
    client: str, hits: list[IntelHit], lookup_times: np.ndarray, coverage: np.ndarray, threshold: float
) -> Finding:
    """A lookup or sighting of listed infrastructure with no connection group to hang it on
    (a blocked or sinkholed lookup is still an infected host). Repeated lookups are scored for
    periodicity like connections: a blocked implant keeps asking on its schedule."""
    hits = _merge_hits(hits)
    names = sorted({h.value for h in hits})
    first = min(h.first_seen for h in hits)
    last = max(h.last_seen for h in hits)
    ips = sorted({h.value for h in hits if h.field in ("dst_ip", "dns_answer")})
    f = Finding(
        kind="intel" if any(not hit_is_context(h) for h in hits) else "beacon",
        src_ip=client,
        dst_ip=ips[0] if ips else None,
        dst_ips=ips,
        dst_port=None,
        server_name=next((h.value for h in hits if h.field in ("dns_query", "sni", "http_host")), None),
        score=0.0,
        beacon=False,
        period_s=None,
        jitter=None,
        connections=0,
        first_seen=first,
        last_seen=last,
        intel=hits,
        dns_names=names,
        detector="intel",
    )
    if len(lookup_times) >= 3:
        zeros = np.zeros(len(lookup_times), np.int64)
        s = score_groups(
            zeros, lookup_times, zeros, zeros, zeros.astype(float), 1, coverage=coverage, threshold=threshold
        )
        f.score, f.beacon = float(s.score[0]), bool(s.beacon[0])
        f.period_s, f.jitter, f.missed_share = _num(s.period_s[0]), _num(s.jitter[0]), _num(s.missed_share[0])
        f.subscores = {k: round(float(v[0]), 4) for k, v in s.subscores.items() if np.isfinite(v[0])}
        f.subscores["lookups"] = float(len(lookup_times))
        counts, edges = interval_histogram(lookup_times, f.period_s)
        f.interval_histogram, f.interval_bin_edges_s = list(counts), list(edges)
        f.times = lookup_times
    return f


def _merge_hits(hits: Sequence[IntelHit]) -> list[IntelHit]:
    merged: dict[tuple, IntelHit] = {}
    for h in hits:
        k = (h.client, h.indicator, h.pack, h.field, h.value)
        m = merged.get(k)
        if m is None:
            merged[k] = IntelHit(**{f: getattr(h, f) for f in h.__slots__})
        else:
            m.first_seen = min(m.first_seen, h.first_seen)
            m.last_seen = max(m.last_seen, h.last_seen)
            m.count += h.count
    return sorted(merged.values(), key=lambda h: (CONFIDENCE_RANK.get(str(h.confidence), 3), h.first_seen))


def _num(v) -> float | None:
    v = float(v)
    return v if math.isfinite(v) else None


def subject_findings(
    ctx, findings: list[Finding], min_score: float, allowlist, show_allowlisted: bool
) -> tuple[list[Finding], int]:
    """Findings of detector rows that are not connection groups (DNS: a client and a registered domain).

    Rows of several detectors about one (client, domain) make one finding (best score main). A row
    whose domain already has a finding of the same client (a connection group to a name under it, or
    an intel sighting of it) adds its evidence there instead of a second finding, and carries it when
    its score is higher and either no connection was made or it lifts the finding over the threshold.
    Returns the new findings and how many the allowlist suppressed."""
    threshold = ctx.options.threshold
    merged: dict[tuple[str, str | None], list[tuple[object, int, dict]]] = {}
    for det in ctx.results.values():
        if det.subjects is None:
            continue
        rows = np.flatnonzero(~(det.score < min_score)) if min_score > 0 else np.arange(len(det))
        records = evidence_records(det, rows)  # a column at a time, for all rows at once
        clients = [to_text(raw) for raw in det.subjects.client[rows].tolist()]
        for i, client, record in zip(rows.tolist(), clients, records, strict=True):
            merged.setdefault((client, det.subjects.name[i]), []).append((det, i, record))
    if not merged:
        return [], 0
    under = _findings_under(findings, set(merged))
    out: list[Finding] = []
    suppressed = 0
    for (client, name), parts in merged.items():
        if len(parts) > 1:
            parts.sort(key=lambda p: -float(p[0].score[p[1]]))  # type: ignore[attr-defined]
        evidence = {det.detector: record for det, _, record in parts}  # type: ignore[attr-defined]
        main, row, _ = parts[0]
        score = float(main.score[row])  # type: ignore[attr-defined]
        home = under.get((client, name)) if name else None
        if home is not None:
            home.evidence.update(evidence)
            # The lookups before a connection group's check-ins are the same check-ins: the DNS row
            # carries the finding only when it changes the verdict, or when no connection was made.
            if score > home.score and (home.connections == 0 or home.score < threshold <= score):
                home.score, home.beacon, home.detector = score, score >= threshold, main.detector
                if home.kind != "intel":
                    home.kind = main.kind
            continue
        f = _subject_finding(main, row, client, score, threshold)
        f.evidence = evidence
        if allowlist is not None:
            entry = allowlist.match(f.src_ip, f.dst_ips, f.server_name)
            if entry:
                f.allowlisted = str(entry)
                suppressed += 1
                if not show_allowlisted:
                    continue
        out.append(f)
    return out, suppressed


def _findings_under(findings: list[Finding], wanted: set) -> dict[tuple[str, str], Finding]:
    """(client, domain) -> the finding of that client whose server name (else looked-up names) lies
    under the domain (the name itself or any parent of it): the most scored one, a connection group
    before a sighting. Only the `wanted` (client, domain) keys are kept, so a DNS row finds its home in one
    lookup and findings of clients without DNS rows cost one set test."""
    best: dict[tuple[str, str], Finding] = {}
    clients = {client for client, _ in wanted}
    for f in findings:
        if f.src_ip not in clients:
            continue
        rank = (f.connections > 0, f.score)
        # The server name says where a group goes; the looked-up names only when it has none.
        names = (f.server_name,) if f.server_name else f.dns_names
        for name in names:
            if not name:
                continue
            name = name.lower().rstrip(".")
            while name:
                key = (f.src_ip, name)
                if key in wanted:
                    held = best.get(key)
                    if held is None or (held.connections > 0, held.score) < rank:
                        best[key] = f
                dot = name.find(".")
                name = name[dot + 1 :] if dot >= 0 else ""
    return best


def _subject_finding(det, row: int, client: str, score: float, threshold: float) -> Finding:
    s = det.subjects
    ev = det.evidence

    def timing(name: str) -> float | None:
        column = ev.get(name)
        return None if column is None else _num(column[row])

    dst_ips = list(s.dst_ips[row]) if s.dst_ips else []
    times = s.times[row] if s.times is not None else None
    period = timing("period_s")
    f = Finding(
        kind=det.kind,
        src_ip=client,
        dst_ip=dst_ips[0] if dst_ips else None,
        dst_ips=dst_ips,
        dst_port=s.dst_port[row] if s.dst_port else None,
        server_name=s.name[row],
        score=score,
        beacon=score >= threshold,
        period_s=period,
        jitter=timing("jitter"),
        connections=0,
        first_seen=float(s.first_seen[row]),
        last_seen=float(s.last_seen[row]),
        missed_share=timing("missed_share"),
        dns_names=list(s.dns_names[row]) if s.dns_names else [],
        detector=det.detector,
        times=times,
    )
    if times is not None and len(times) > 2 and period is not None:
        counts, edges = interval_histogram(np.sort(np.asarray(times, np.float64)), period)
        f.interval_histogram, f.interval_bin_edges_s = list(counts), list(edges)
    return f
