"""From tables to findings: name attribution, grouping, scoring, intel evidence, allowlist, ranking.

Works on an `Extraction` (numpy connection and event tables) only, so it runs the same on
a capture, a sensor window or tables read back from Parquet.
"""

from __future__ import annotations

import ipaddress
import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from netdetect.addr import from_text, to_text
from netdetect.flows import hash_columns
from netdetect.model import Finding, IntelHit, Report, Summary
from netdetect.pipeline import Extraction
from netdetect.scoring import DEFAULT_THRESHOLD, interval_histogram, score_groups
from netdetect.tables import ValuePool, addr16

CONFIDENCE_RANK = {"high": 0, "medium": 1, "low": 2}
DNS_CLOCK_SLACK_S = 1.0  # an answer logged a hair after the SYN (capture clock skew) still counts
PLOT_DETAIL_TOP = 50
# Address space that is not "outside": private, CGNAT, loopback, link-local, multicast, ULA.
INTERNAL_DEFAULT = (
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "224.0.0.0/4",
    "255.255.255.255/32",
    "0.0.0.0/32",
    "fc00::/7",
    "fe80::/10",
    "ff00::/8",
    "::1/128",
    "::/128",
)  # findings that carry per-connection times for plots and `show`


@dataclass
class AnalysisOptions:
    threshold: float = DEFAULT_THRESHOLD
    min_score: float | None = None  # None: report beacons at or above the threshold
    group_by: str = "name"
    include_benign_intel: bool = True
    show_allowlisted: bool = False
    top: int | None = None
    internal: tuple[str, ...] = INTERNAL_DEFAULT
    score_internal: bool = False  # RITA's default too: only connections to outside addresses are scored


@dataclass
class Groups:
    """Connections assigned to groups, with each group's identity."""

    index: np.ndarray  # group id per connection
    client: list[str]
    name: list[str | None]
    server: list[str | None]  # when grouped by address
    port: list[int | None]  # when grouped by port
    names: list[str]  # name table, name_id -> name
    name_id: np.ndarray  # per connection, -1 when unknown


def _split(col: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pairs = np.ascontiguousarray(col).view(">u8").reshape(-1, 2).astype(np.uint64)
    return pairs[:, 0], pairs[:, 1]


def latest_before(ref_key: np.ndarray, ref_ts: np.ndarray, q_key: np.ndarray, q_ts: np.ndarray) -> np.ndarray:
    """For each query, the reference row with an equal key and the latest time <= the query's time
    (-1 if none). Vectorised: rows are ordered by (key, time) and searched on key rank * span + time."""
    out = np.full(len(q_key), -1, np.int64)
    if not len(ref_key) or not len(q_key):
        return out
    order = np.lexsort((ref_ts, ref_key))
    rk, rt = ref_key[order], ref_ts[order]
    uniq, grp = np.unique(rk, return_inverse=True)
    t0 = min(float(rt.min()), float(q_ts.min())) - 1.0
    span = max(float(rt.max()), float(q_ts.max())) - t0 + 1.0
    combined = grp * span + (rt - t0)
    qg = np.minimum(np.searchsorted(uniq, q_key), len(uniq) - 1)
    known = uniq[qg] == q_key
    j = np.searchsorted(combined, qg * span + (q_ts - t0), "right") - 1
    ok = known & (j >= 0)
    ok[ok] &= grp[j[ok]] == qg[ok]
    out[ok] = order[j[ok]]
    return out


def attribute_names(ex: Extraction) -> tuple[np.ndarray, list[str], DnsChains]:
    """Server name per connection: the ClientHello SNI, else the HTTP Host, else the client's own
    latest earlier DNS answer for that address. Returns (name_id per conn, names, dns chains)."""
    conns = ex.conns
    n = len(conns)
    names: list[str] = []
    ids: dict[str, int] = {}
    pool = ex.events.pool

    def nid(name: str) -> int:
        i = ids.get(name)
        if i is None:
            i = ids[name] = len(names)
            names.append(name)
        return i

    def name_ids(pool_ids: np.ndarray, clean) -> np.ndarray:
        """Name id per row (-1: none), cleaning each distinct pool value once."""
        uniq, inverse = np.unique(pool_ids, return_inverse=True)
        mapped = [-1 if (v := clean(pool.get(int(u)))) is None else nid(v) for u in uniq]
        return np.array(mapped, np.int64)[inverse.ravel()] if len(uniq) else np.zeros(0, np.int64)

    name_id = np.full(n, -1, np.int64)
    if not n:
        return name_id, names, DnsChains(ex.dns.rows, ex.dns.answers[:0], pool)
    c_hi, c_lo = _split(conns["client"])
    s_hi, s_lo = _split(conns["server"])
    conn_key = hash_columns(c_hi, c_lo, s_hi, s_lo, conns["client_port"], conns["server_port"])

    def by_connection(rows: np.ndarray, named: np.ndarray) -> None:
        """Each still unnamed connection takes the name of its earliest event (rows are in time order)."""
        keep = named >= 0
        rows, named = rows[keep], named[keep]
        if not len(rows):
            return
        ec_hi, ec_lo = _split(rows["client"])
        es_hi, es_lo = _split(rows["server"])
        ekey = hash_columns(ec_hi, ec_lo, es_hi, es_lo, rows["client_port"], rows["server_port"])
        hit = latest_before(conn_key, conns["ts"], ekey, rows["ts"] + DNS_CLOCK_SLACK_S)
        ok = np.flatnonzero(hit >= 0)
        conn, first = np.unique(hit[ok], return_index=True)
        unnamed = name_id[conn] < 0
        name_id[conn[unnamed]] = named[ok[first[unnamed]]]

    tls, http = ex.tls.rows, ex.http.rows
    by_connection(tls, name_ids(tls["sni"], _clean_name))
    by_connection(http, name_ids(http["host"], lambda h: _clean_name(_host_only(h))))

    # DNS answers: (client, address) -> latest query name answered before the connection.
    dns, answers = ex.dns.rows, ex.dns.answers
    query = name_ids(dns["query"], lambda q: q or None)
    event = answers["event"]
    valid = dns["is_response"][event] & (query[event] >= 0)
    answers, event = answers[valid], event[valid]
    chains = DnsChains(dns, answers, pool)
    addressed = answers["addr"] != b""  # A/AAAA answers (the tables fill `addr` for those only)
    todo = np.flatnonzero(name_id < 0)
    if addressed.any() and len(todo):
        a_event = event[addressed]
        ac_hi, ac_lo = _split(dns["client"][a_event])
        aa_hi, aa_lo = _split(answers["addr"][addressed])
        akey = hash_columns(ac_hi, ac_lo, aa_hi, aa_lo)
        ckey = hash_columns(c_hi[todo], c_lo[todo], s_hi[todo], s_lo[todo])
        hit = latest_before(akey, dns["ts"][a_event], ckey, conns["ts"][todo] + DNS_CLOCK_SLACK_S)
        ok = hit >= 0
        name_id[todo[ok]] = query[a_event][hit[ok]]
    return name_id, names, chains


class DnsChains:
    """(client, query) -> every name and address its answers gave (owner names, CNAME targets, A/AAAA
    values), looked up on demand from the answer columns: most scans ask for a handful of groups."""

    def __init__(self, dns: np.ndarray, answers: np.ndarray, pool: ValuePool) -> None:
        rtype, event = answers["rtype"], answers["event"]
        target = rtype == pool.find("CNAME")
        address = (rtype == pool.find("A")) | (rtype == pool.find("AAAA"))
        self.event = np.concatenate([event, event[target], event[address]])
        self.value = np.concatenate([answers["name"], answers["value"][target], answers["value"][address]])
        self.clean = np.concatenate(
            [np.ones(len(event) + int(target.sum()), bool), np.zeros(int(address.sum()), bool)]
        )
        self.client = dns["client"][self.event]
        self.query = dns["query"][self.event]
        self.pool = pool
        self._index: tuple[np.ndarray, dict[tuple[bytes, int], tuple[int, int]]] | None = None
        self._cache: dict[tuple[str, str], set[str]] = {}

    def _spans(self) -> tuple[np.ndarray, dict[tuple[bytes, int], tuple[int, int]]]:
        """Rows ordered by (client, query) and each pair's span of that order; built on the first lookup."""
        if self._index is None:
            c_hi, c_lo = _split(self.client)
            order = np.lexsort((self.query, c_lo, c_hi))
            client, query = self.client[order], self.query[order]
            starts = np.flatnonzero(np.r_[True, (client[1:] != client[:-1]) | (query[1:] != query[:-1])])
            ends = np.r_[starts[1:], len(client)]
            keys = zip(client[starts].tolist(), query[starts].tolist(), strict=True)
            spans = zip(starts.tolist(), ends.tolist(), strict=True)
            self._index = order, dict(zip(keys, spans, strict=True))
        return self._index

    def _text(self, row: int) -> str:
        text = self.pool.get(int(self.value[row])) or ""
        return text.lower().rstrip(".") if self.clean[row] else text

    def get(self, key: tuple[str, str], default: set[str] | tuple = ()) -> set[str] | tuple:
        found = self._cache.get(key)
        if found is None:
            found = self._cache[key] = self._lookup(*key)
        return found or default

    def _lookup(self, client: str, query: str) -> set[str]:
        order, spans = self._spans()
        span = spans.get((addr16(client).rstrip(b"\0"), self.pool.find(query)))
        if span is None:
            return set()
        return {t for t in map(self._text, order[span[0] : span[1]].tolist()) if t}

    def owner(self, client: str, value: str) -> str:
        """The query whose answers gave `value` to `client` first (the value itself when none did)."""
        raw = addr16(client)
        if not raw:
            return value
        mine = np.flatnonzero(self.client == self.client.dtype.type(raw))
        for row in mine[np.argsort(self.event[mine], kind="stable")].tolist():
            query = self.pool.get(int(self.query[row]))
            if query == value or self._text(row) == value:
                return query
        return value


def _host_only(host: str | None) -> str | None:
    if not host:
        return None
    host = host.strip()
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    if host.count(":") == 1:
        host = host.split(":", 1)[0]
    return host


def _clean_name(name: str | None) -> str | None:
    if not name:
        return None
    return name.strip().rstrip(".").lower() or None


def make_groups(conns: np.ndarray, name_id: np.ndarray, names: list[str], group_by: str) -> Groups:
    c_hi, c_lo = _split(conns["client"])
    s_hi, s_lo = _split(conns["server"])
    named = name_id >= 0 if group_by == "name" else np.zeros(len(conns), bool)
    zero = np.zeros(len(conns), np.uint64)
    port = conns["server_port"].astype(np.uint64) if group_by == "port" else zero
    key = hash_columns(
        c_hi,
        c_lo,
        np.where(named, name_id.astype(np.uint64) + np.uint64(1), zero),
        np.where(named, zero, s_hi),
        np.where(named, zero, s_lo),
        port,
    )
    uniq, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    client = list(map(to_text, conns["client"][first].tolist()))
    first_named, first_name = named[first].tolist(), name_id[first].tolist()
    gname = [names[i] if is_named else None for i, is_named in zip(first_name, first_named, strict=True)]
    server = [
        None if is_named else to_text(raw)
        for raw, is_named in zip(conns["server"][first].tolist(), first_named, strict=True)
    ]
    gport = conns["server_port"][first].tolist() if group_by == "port" else [None] * len(first)
    return Groups(inverse.astype(np.int64), client, gname, server, gport, names, name_id)


def analyze(ex: Extraction, intel=None, allowlist=None, options: AnalysisOptions | None = None) -> Report:
    opts = options or AnalysisOptions()
    name_id, names, chains = attribute_names(ex)
    conns = ex.conns
    if not opts.score_internal and len(conns):
        outside = ~in_networks(conns["server"], opts.internal)
        conns, name_id = conns[outside], name_id[outside]
    groups = make_groups(conns, name_id, names, opts.group_by)
    n_groups = len(groups.client)
    window = (ex.first_ts, ex.last_ts) if ex.first_ts is not None and ex.last_ts is not None else None
    scores = score_groups(
        groups.index,
        conns["ts"],
        conns["bytes_out"],
        conns["bytes_in"],
        conns["end_ts"] - conns["ts"],
        n_groups,
        window=window,
        threshold=opts.threshold,
    )

    hits: list[IntelHit] = []
    if intel is not None:
        from netdetect.intel.match import match_tables

        hits = match_tables(
            intel, ex.events, _server_pairs(ex.conns), include_benign=opts.include_benign_intel
        )
    # Context-only indicators (a legitimate service the actor abused, e.g. the GitHub icon stage) never
    # make a finding; they are shown beside the same client's threat findings.
    context: dict[str, list[IntelHit]] = defaultdict(list)
    for h in hits:
        if h.benign:
            context[h.client].append(h)
    hits = [h for h in hits if not h.benign]

    min_score = opts.threshold if opts.min_score is None else opts.min_score
    # Attach intel hits to the groups they explain: same client, and the value is the group's name,
    # a name or address in that name's DNS chain, or one of its server addresses.
    by_client_value: dict[tuple[str, str], set[int]] = defaultdict(set)
    hit_clients = {h.client for h in hits}
    for g in range(n_groups):
        c = groups.client[g]
        if c not in hit_clients:
            continue
        gname, gserver = groups.name[g], groups.server[g]
        if gname is not None:
            by_client_value[(c, gname)].add(g)
            for v in chains.get((c, gname), ()):
                by_client_value[(c, v)].add(g)
        elif gserver is not None:
            by_client_value[(c, gserver)].add(g)
    group_hits: dict[int, list[IntelHit]] = defaultdict(list)
    orphan: dict[tuple[str, str], list[IntelHit]] = defaultdict(list)
    need_dst: dict[str, list[IntelHit]] = defaultdict(list)
    for hit in hits:
        value = hit.value.lower().rstrip(".")
        targets = by_client_value.get((hit.client, value), set())
        if hit.field == "dst_ip" or not targets:
            need_dst[hit.client].append(hit)
            continue
        for g in targets:
            group_hits[g].append(hit)
    if need_dst:
        order = np.argsort(groups.index, kind="stable")
        bounds = np.searchsorted(groups.index[order], np.arange(n_groups + 1))
        for g in range(n_groups):
            pending = need_dst.get(groups.client[g])
            if not pending:
                continue
            ips = {to_text(bytes(v)) for v in np.unique(conns["server"][order[bounds[g] : bounds[g + 1]]])}
            for hit in pending:
                if _canon_ip(hit.value) in ips:
                    group_hits[g].append(hit)
    attached = {id(h) for hs in group_hits.values() for h in hs}
    # Sightings with no connection group: one finding per client and looked-up name, so a listed
    # name and the listed address it resolved to read as one blocked lookup.
    for hit in hits:
        if id(hit) not in attached:
            value = hit.value.lower().rstrip(".")
            orphan[(hit.client, chains.owner(hit.client, value))].append(hit)

    findings: list[Finding] = []
    suppressed = 0
    reported = ~(scores.score < min_score)
    reported[list(group_hits)] = True
    facts = GroupFacts(groups, conns, scores, np.flatnonzero(reported))
    for g in np.flatnonzero(reported).tolist():
        g_hits = group_hits.get(g, [])
        score = facts.score[g]
        f = _group_finding(g, groups, facts, g_hits, chains)
        if allowlist is not None and not _has_threat(f):
            entry = allowlist.match(f.src_ip, f.dst_ips, f.server_name)
            if entry:
                f.allowlisted = str(entry)
                suppressed += 1
                if not opts.show_allowlisted:
                    continue
        if not g_hits or _has_threat(f) or score >= min_score:
            findings.append(f)
    lookups = _lookup_times(ex, orphan) if orphan else {}
    for (client, name), hs in orphan.items():
        findings.append(
            _orphan_finding(
                client, hs, np.array(sorted(lookups.get((client, name), []))), window, opts.threshold
            )
        )

    for f in findings:
        if context.get(f.src_ip) and _has_threat(f):
            f.intel += _merge_hits(context[f.src_ip])
    findings.sort(key=_rank_key)
    if opts.top:
        findings = findings[: opts.top]
    for f in findings[PLOT_DETAIL_TOP:]:  # per-connection detail only where plots will use it
        f.times = None
        f.sizes = None

    summary = Summary(
        captures=list(ex.captures),
        packets=ex.packets,
        bytes=ex.bytes,
        first_ts=ex.first_ts,
        last_ts=ex.last_ts,
        hosts=_host_count(ex.conns),
        connections=len(ex.conns),
        groups_scored=n_groups,
        dns_events=len(ex.dns),
        tls_events=len(ex.tls),
        http_events=len(ex.http),
        decode_errors=dict(ex.decode_errors),
        allowlisted=suppressed,
        intel_indicators=len(intel) if intel is not None else 0,
        intel_packs=[p.name for p in getattr(intel, "packs", [])] if intel is not None else [],
        warnings=list(ex.warnings)
        + [str(p) for p in getattr(intel, "problems", [])][:20]
        + [str(p) for p in getattr(allowlist, "problems", [])][:20],
    )
    return Report(summary=summary, findings=findings, threshold=opts.threshold)


def in_networks(col: np.ndarray, cidrs: Sequence[str]) -> np.ndarray:
    """Membership of 16-byte addresses (v4-mapped) in CIDRs, vectorised."""
    hi, lo = _split(col)
    out = np.zeros(len(col), bool)
    for cidr in cidrs:
        net = ipaddress.ip_network(cidr, strict=False)
        plen = net.prefixlen + (96 if net.version == 4 else 0)
        raw = int.from_bytes(from_text(str(net.network_address)), "big")
        n_hi, n_lo = np.uint64(raw >> 64), np.uint64(raw & ((1 << 64) - 1))
        if plen <= 64:
            mask = np.uint64(((1 << plen) - 1) << (64 - plen)) if plen else np.uint64(0)
            out |= (hi & mask) == n_hi
        else:
            mask = np.uint64(((1 << (plen - 64)) - 1) << (128 - plen))
            out |= (hi == n_hi) & ((lo & mask) == n_lo)
    return out


def _host_count(conns: np.ndarray) -> int:
    return int(len(np.unique(conns["client"]))) if len(conns) else 0


def _server_pairs(conns: np.ndarray) -> np.ndarray:
    """Unique (client, server) pairs with first/last time and count, for address matching."""
    from netdetect.intel.match import SERVER_DTYPE

    if not len(conns):
        return np.zeros(0, SERVER_DTYPE)
    c_hi, c_lo = _split(conns["client"])
    s_hi, s_lo = _split(conns["server"])
    key = hash_columns(c_hi, c_lo, s_hi, s_lo)
    uniq, first, inverse, counts = np.unique(key, return_index=True, return_inverse=True, return_counts=True)
    out = np.zeros(len(uniq), SERVER_DTYPE)
    out["client"], out["server"], out["count"] = conns["client"][first], conns["server"][first], counts
    out["first"], out["last"] = np.inf, -np.inf
    np.minimum.at(out["first"], inverse.ravel(), conns["ts"])
    np.maximum.at(out["last"], inverse.ravel(), conns["end_ts"])
    return out


def _lookup_times(ex: Extraction, wanted) -> dict[tuple[str, str], list[float]]:
    """Times of the DNS queries (not responses) for the wanted (client, name) pairs."""
    dns, pool = ex.dns.rows, ex.events.pool
    query_ids = np.array([pool.find(name) for _, name in wanted], np.int64)
    rows = dns[~dns["is_response"] & np.isin(dns["query"], query_ids)]
    out: dict[tuple[str, str], list[float]] = defaultdict(list)
    for r in rows:
        key = (to_text(bytes(r["client"])), pool.get(int(r["query"])))
        if key in wanted:
            out[key].append(float(r["ts"]))
    return out


def _canon_ip(value: str) -> str:
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return value


def _has_threat(f: Finding) -> bool:
    return any(not _hit_is_context(h) for h in f.intel)


def _hit_is_context(h: IntelHit) -> bool:
    return h.benign


class GroupFacts:
    """Per-group columns that every finding needs, computed for the reported groups in one numpy pass:
    time-ordered rows, first/last seen, servers, ports and protocols ordered by use, and the scores as
    Python values (numpy scalars cost a microsecond each)."""

    def __init__(self, groups: Groups, conns: np.ndarray, scores, wanted: np.ndarray) -> None:
        keep = np.flatnonzero(np.isin(groups.index, wanted))
        rows = keep[np.lexsort((conns["ts"][keep], groups.index[keep]))]  # by group, then time
        group = groups.index[rows]
        ids, spans = _starts_and_ends(group)
        self.bounds = dict(zip(ids, spans, strict=True))
        self.times = conns["ts"][rows]
        self.sizes = conns["bytes_out"][rows] + conns["bytes_in"][rows]
        starts = np.array([lo for lo, _ in spans], np.int64)
        last = np.maximum.reduceat(conns["end_ts"][rows], starts) if len(starts) else np.zeros(0)
        self.last_seen = dict(zip(ids, last.tolist(), strict=True))
        self.servers = _by_use_per_group(group, conns["server"][rows])
        self.ports = _by_use_per_group(group, conns["server_port"][rows])
        self.protos = _by_use_per_group(group, conns["proto"][rows])
        self.subscores = {k: np.round(v, 4).tolist() for k, v in scores.subscores.items()}
        self.score = scores.score.tolist()
        self.beacon = scores.beacon.tolist()
        self.period = scores.period_s.tolist()
        self.jitter = scores.jitter.tolist()
        self.missed = scores.missed_share.tolist()

    def span(self, g: int) -> slice:
        lo, hi = self.bounds[g]
        return slice(lo, hi)


def _starts_and_ends(group: np.ndarray) -> tuple[list[int], list[tuple[int, int]]]:
    """For a sorted group column: the group ids and the (start, end) of each run."""
    if not len(group):
        return [], []
    starts = np.flatnonzero(np.r_[True, group[1:] != group[:-1]])
    ends = np.r_[starts[1:], len(group)]
    return group[starts].tolist(), list(zip(starts.tolist(), ends.tolist(), strict=True))


def _by_use_per_group(group: np.ndarray, values: np.ndarray) -> dict[int, list]:
    """Distinct values per group, most used first; ties in order of first use (rows are in time order)."""
    n = len(group)
    if not n:
        return {}
    position = np.arange(n)
    if values.dtype.kind == "S":
        hi, lo = _split(values)
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
    out: dict[int, list] = {}
    for g, value in zip(pair_group[ranked].tolist(), values[first[ranked]].tolist(), strict=True):
        out.setdefault(g, []).append(value)
    return out


def _group_finding(
    g: int, groups: Groups, facts: GroupFacts, hits: list[IntelHit], chains: DnsChains
) -> Finding:
    span = facts.span(g)
    times = facts.times[span]
    dst_ips = [to_text(v) for v in facts.servers[g]]
    period = _num(facts.period[g])
    hist, edges = interval_histogram(times, period) if len(times) > 2 else ([], [])
    name = groups.name[g]
    dns_names = sorted(
        set(chains.get((groups.client[g], name), ())) | {name} if name else set(),
        key=lambda v: (v != name, v),
    )
    hits = _merge_hits(hits)
    return Finding(
        kind="intel" if any(not _hit_is_context(h) for h in hits) else "beacon",
        src_ip=groups.client[g],
        dst_ip=dst_ips[0] if dst_ips else None,
        dst_ips=dst_ips,
        dst_port=int(facts.ports[g][0]),
        server_name=name,
        score=facts.score[g],
        proto={6: "tcp", 17: "udp"}.get(int(facts.protos[g][0])),
        beacon=bool(facts.beacon[g]),
        period_s=period,
        jitter=_num(facts.jitter[g]),
        connections=len(times),
        first_seen=float(times[0]),
        last_seen=facts.last_seen[g],
        subscores={k: v[g] for k, v in facts.subscores.items() if math.isfinite(v[g])},
        intel=hits,
        missed_share=_num(facts.missed[g]),
        interval_histogram=list(hist),
        interval_bin_edges_s=list(edges),
        dns_names=dns_names,
        times=times,
        sizes=facts.sizes[span],
    )


def _orphan_finding(
    client: str, hits: list[IntelHit], lookup_times: np.ndarray, window, threshold: float
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
        kind="intel" if any(not _hit_is_context(h) for h in hits) else "beacon",
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
    )
    if len(lookup_times) >= 3:
        zeros = np.zeros(len(lookup_times), np.int64)
        s = score_groups(
            zeros, lookup_times, zeros, zeros, zeros.astype(float), 1, window=window, threshold=threshold
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


def _rank_key(f: Finding):
    threat = _has_threat(f)
    best_conf = min(
        (CONFIDENCE_RANK.get(str(h.confidence), 3) for h in f.intel if not _hit_is_context(h)), default=9
    )
    # The last keys only break ties, so the order does not depend on internal ids.
    return (
        0 if threat else 1,
        best_conf if threat else 0,
        -f.score,
        -f.connections,
        f.src_ip,
        f.server_name or "",
        f.dst_ip or "",
        f.dst_port or 0,
    )
