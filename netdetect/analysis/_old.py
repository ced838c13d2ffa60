"""From tables to findings: name attribution, grouping, scoring, intel evidence, allowlist, ranking.

Works on an `Extraction` (numpy connection and event tables) only, so it runs the same on
a capture, a sensor window or tables read back from Parquet.
"""

from __future__ import annotations

import ipaddress
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from netdetect.addr import to_text
from netdetect.arrays import distinct_addresses, distinct_keys, hash_columns
from netdetect.gcpause import collections_paused
from netdetect.model import Finding, IntelHit, Report, Summary
from netdetect.scoring import (
    DEFAULT_THRESHOLD,
    MIN_EVENTS,
    interval_histogram,
    interval_histograms,
    score_groups,
)
from netdetect.tables import ValuePool, addr16
from netdetect.tables.extraction import Extraction

CONFIDENCE_RANK = {"high": 0, "medium": 1, "low": 2}
DNS_CLOCK_SLACK_S = 1.0  # an answer logged a hair after the SYN (capture clock skew) still counts
PLOT_DETAIL_TOP = 50
SPAN_INDEX_AFTER = 64  # DNS chain lookups after which indexing every (client, query) pair pays off
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


class Groups:
    """Connections assigned to groups, and each group's identity, read per group (a scan reports a few
    of its groups: their texts are made when asked for)."""

    def __init__(
        self,
        conns: np.ndarray,
        index: np.ndarray,
        first: np.ndarray,
        named: np.ndarray,
        names: list[str],
        name_id: np.ndarray,
        by_port: bool,
    ) -> None:
        self.index = index  # group id per connection
        self.names = names  # name table, name_id -> name
        self.name_id = name_id  # per connection, -1 when unknown
        self.client_raw = conns["client"][first]  # per group, like the columns below
        self._server_raw = conns["server"][first]
        self._name_id = np.where(named[first], name_id[first], -1)
        self._port = conns["server_port"][first] if by_port else None

    def __len__(self) -> int:
        return len(self.client_raw)

    def client(self, g: int) -> str:
        return to_text(self.client_raw[g])

    def name(self, g: int) -> str | None:
        i = int(self._name_id[g])
        return self.names[i] if i >= 0 else None

    def server(self, g: int) -> str | None:
        """The server address of a group made by address (None for a group made by name)."""
        return None if self._name_id[g] >= 0 else to_text(self._server_raw[g])

    def port(self, g: int) -> int | None:
        return None if self._port is None else int(self._port[g])

    def of_clients(self, clients: Iterable[str]) -> list[int]:
        """The groups of these clients, in id order."""
        wanted = np.array([raw for raw in {addr16(c) for c in clients} if raw], "S16")
        return np.flatnonzero(np.isin(self.client_raw, wanted)).tolist() if len(wanted) else []


def _split(col: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pairs = np.ascontiguousarray(col).view(">u8").reshape(-1, 2).astype(np.uint64)
    return pairs[:, 0], pairs[:, 1]


def latest_before(ref_key: np.ndarray, ref_ts: np.ndarray, q_key: np.ndarray, q_ts: np.ndarray) -> np.ndarray:
    """For each query, the reference row with an equal key and the latest time <= the query's time
    (-1 if none). Vectorised: rows are ordered by (key, time) and searched on key rank * span + time."""
    return LatestBefore(ref_key, ref_ts).find(q_key, q_ts)


class LatestBefore:
    """`latest_before` with the reference rows ordered once, for several query sets."""

    def __init__(self, ref_key: np.ndarray, ref_ts: np.ndarray) -> None:
        self.order = _key_time_order(ref_key, ref_ts)
        self.key, self.ts = ref_key[self.order], ref_ts[self.order]
        # The key ranks without np.unique: the keys are sorted already.
        new_key = np.r_[True, self.key[1:] != self.key[:-1]] if len(self.key) else np.zeros(0, bool)
        self.uniq = self.key[new_key]
        self.rank = np.cumsum(new_key) - 1

    def find(self, q_key: np.ndarray, q_ts: np.ndarray) -> np.ndarray:
        out = np.full(len(q_key), -1, np.int64)
        rk, rt, uniq = self.key, self.ts, self.uniq
        if not len(rk) or not len(q_key):
            return out
        t0 = min(float(rt.min()), float(q_ts.min())) - 1.0
        span = max(float(rt.max()), float(q_ts.max())) - t0 + 1.0
        combined = self.rank * span + (rt - t0)
        # Queries in key order: both binary searches then walk the sorted tables in order (in cache).
        by_key = np.argsort(q_key)
        key, ts = q_key[by_key], q_ts[by_key]
        qg = np.minimum(np.searchsorted(uniq, key), len(uniq) - 1)
        known = np.flatnonzero(uniq[qg] == key)
        qg = qg[known]
        j = np.searchsorted(combined, qg * span + (ts[known] - t0), "right") - 1
        ok = j >= 0
        ok[ok] &= self.rank[j[ok]] == qg[ok]
        out[by_key[known[ok]]] = self.order[j[ok]]
        return out


def _key_time_order(key: np.ndarray, ts: np.ndarray) -> np.ndarray:
    """np.lexsort((ts, key)), several times faster when most keys are distinct: an unstable sort on the
    key, then the exact (key, time, row) sort only for the rows whose key repeats."""
    order = np.argsort(key)
    sorted_key = key[order]
    repeat = sorted_key[1:] == sorted_key[:-1]
    if repeat.any():
        in_run = np.zeros(len(key), bool)
        in_run[1:] |= repeat
        in_run[:-1] |= repeat
        at = np.flatnonzero(in_run)
        rows = order[at]  # each run of one key keeps its positions, so re-sorting the subset is enough
        order[at] = rows[np.lexsort((rows, ts[rows], sorted_key[at]))]
    return order


def attribute_names(
    ex: Extraction, conns: np.ndarray | None = None
) -> tuple[np.ndarray, list[str], DnsChains]:
    """Server name per connection: the ClientHello SNI, else the HTTP Host, else the client's own
    latest earlier DNS answer for that address. Returns (name_id per conn, names, dns chains).

    `conns`: the rows of ex.conns to name (default all). A connection's name depends only on the
    connections to the same server, so naming a set of servers' connections gives the same names."""
    if conns is None:
        conns = ex.conns
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
        """Name id per row (-1: none), cleaning each distinct pool value once (in id order)."""
        present = np.flatnonzero(np.bincount(pool_ids + 1, minlength=1)) - 1  # pool ids are >= -1
        if not len(present):
            return np.zeros(0, np.int64)
        table = np.full(int(present[-1]) + 2, -1, np.int64)
        table[present + 1] = [-1 if (v := clean(pool.get(u))) is None else nid(v) for u in present.tolist()]
        return table[pool_ids + 1]

    name_id = np.full(len(conns), -1, np.int64)
    if not len(ex.conns):
        return name_id, names, DnsChains(ex.dns.rows, ex.dns.answers[:0], pool)
    c_hi, c_lo = _split(conns["client"])
    s_hi, s_lo = _split(conns["server"])
    conn_key = hash_columns(c_hi, c_lo, s_hi, s_lo, conns["client_port"], conns["server_port"])
    connection_before = LatestBefore(conn_key, conns["ts"])

    def by_connection(rows: np.ndarray, named: np.ndarray) -> None:
        """Each still unnamed connection takes the name of its earliest event (rows are in time order)."""
        keep = np.flatnonzero(named >= 0)
        if not len(keep):
            return
        ec_hi, ec_lo = _split(rows["client"][keep])
        es_hi, es_lo = _split(rows["server"][keep])
        ekey = hash_columns(ec_hi, ec_lo, es_hi, es_lo, rows["client_port"][keep], rows["server_port"][keep])
        hit = connection_before.find(ekey, rows["ts"][keep] + DNS_CLOCK_SLACK_S)
        ok = np.flatnonzero(hit >= 0)
        conn, first, _, _ = distinct_keys(hit[ok])
        unnamed = name_id[conn] < 0
        name_id[conn[unnamed]] = named[keep[ok[first[unnamed]]]]

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
    values), looked up on demand from the answer columns: most scans ask for a handful of groups, so a
    lookup reads the answers of its query; from SPAN_INDEX_AFTER lookups on (a scan reporting every
    group) an index of every (client, query) pair pays off."""

    def __init__(self, dns: np.ndarray, answers: np.ndarray, pool: ValuePool) -> None:
        self.pool = pool
        self._dns, self._answers = dns, answers
        rtype = answers["rtype"]
        self._target = rtype == pool.find("CNAME")
        self._address = (rtype == pool.find("A")) | (rtype == pool.find("AAAA"))
        self._answer_query: np.ndarray | None = None
        self._built = False
        self._lookups = 0
        self._index: tuple[np.ndarray, dict[tuple[bytes, int], tuple[int, int]]] | None = None
        self._cache: dict[tuple[str, str], set[str]] = {}
        self._texts: list[str] | None = None
        self._order: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None

    def _build(self) -> None:
        """One row per name or address an answer gave: its owner name, CNAME target, A/AAAA value."""
        if self._built:
            return
        answers, target, address = self._answers, self._target, self._address
        event = answers["event"]
        self.event = np.concatenate([event, event[target], event[address]])
        self.value = np.concatenate([answers["name"], answers["value"][target], answers["value"][address]])
        self.clean = np.concatenate(
            [np.ones(len(event) + int(target.sum()), bool), np.zeros(int(address.sum()), bool)]
        )
        self.client = self._dns["client"][self.event]
        self.query = self._dns["query"][self.event]
        self._built = True

    def _pairs(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Rows ordered by (client, query), and per (client, query) pair in that order: its first
        position, its client and its query."""
        if self._order is None:
            self._build()
            c_hi, c_lo = _split(self.client)
            order = np.lexsort((self.query, c_lo, c_hi))
            client, query = self.client[order], self.query[order]
            starts = np.flatnonzero(np.r_[True, (client[1:] != client[:-1]) | (query[1:] != query[:-1])])
            self._order = order, starts, client[starts], query[starts]
        return self._order

    def _spans(self) -> tuple[np.ndarray, dict[tuple[bytes, int], tuple[int, int]]]:
        """Rows ordered by (client, query) and each pair's span of that order."""
        if self._index is None:
            order, starts, client, query = self._pairs()
            ends = np.r_[starts[1:], len(order)]
            keys = zip(client.tolist(), query.tolist(), strict=True)
            spans = zip(starts.tolist(), ends.tolist(), strict=True)
            self._index = order, dict(zip(keys, spans, strict=True))
        return self._index

    def _text(self, row: int) -> str:
        return _chain_text(self.pool.get(int(self.value[row])), bool(self.clean[row]))

    def get(self, key: tuple[str, str], default: set[str] | tuple = ()) -> set[str] | tuple:
        found = self._cache.get(key)
        if found is None:
            found = self._cache[key] = self._lookup(*key)
        return found or default

    def get_many(self, keys: list[tuple[bytes, str, str]]) -> list[set[str] | tuple]:
        """`get((client, query), ())` for each (client as table bytes, client, query), for a scan
        that reports many groups: through the index of every pair, with the text of each answer row
        made once."""
        if len(keys) <= SPAN_INDEX_AFTER or not len(self._answers):
            return [self.get((client, query), ()) for _, client, query in keys]
        order, starts, pair_client, pair_query = self._pairs()
        texts = self._ordered_texts()
        # Each wanted pair's span, by binary search on (client rank, query): the pairs are sorted so.
        find = self.pool.ids.get
        want_query = np.array([find(query, -1) for _, _, query in keys], np.int64)
        want_client = np.array([raw for raw, _, _ in keys], "S16")
        new_client = np.r_[True, pair_client[1:] != pair_client[:-1]]
        clients = pair_client[new_client]
        client_rank = np.minimum(np.searchsorted(clients, want_client), len(clients) - 1)
        known = (clients[client_rank] == want_client) & (want_query >= 0)
        width = int(max(int(pair_query.max()), int(want_query.max()))) + 2
        pair_key = (np.cumsum(new_client) - 1) * width + (pair_query.astype(np.int64) + 1)
        want_key = client_rank * width + (want_query + 1)
        at = np.minimum(np.searchsorted(pair_key, want_key), len(pair_key) - 1)
        known &= pair_key[at] == want_key
        ends = np.r_[starts[1:], len(order)]
        out: list[set[str] | tuple] = []
        for ok, lo, hi in zip(known.tolist(), starts[at].tolist(), ends[at].tolist(), strict=True):
            if not ok:
                out.append(())
                continue
            found = set(texts[lo:hi])
            found.discard("")
            out.append(found or ())
        return out

    def _ordered_texts(self) -> list[str]:
        """`_text` of each row, in the order of the pair index."""
        if self._texts is None:
            order = self._pairs()[0]
            value, clean = self.value[order], self.clean[order]
            key = value.astype(np.int64) * 2 + clean
            distinct, inverse = np.unique(key, return_inverse=True)
            texts = [_chain_text(self.pool.get(k >> 1), bool(k & 1)) for k in distinct.tolist()]
            self._texts = [texts[i] for i in inverse.ravel().tolist()]
        return self._texts

    def _lookup(self, client: str, query: str) -> set[str]:
        query_id = self.pool.find(query)
        if query_id < 0 or not len(self._answers):
            return set()
        raw = addr16(client)
        self._lookups += 1
        if self._lookups > SPAN_INDEX_AFTER:
            order, spans = self._spans()
            span = spans.get((raw.rstrip(b"\0"), query_id))
            rows = order[span[0] : span[1]].tolist() if span else []
            return {t for t in map(self._text, rows) if t}
        if self._answer_query is None:
            self._answer_query = self._dns["query"][self._answers["event"]]
        mine = np.flatnonzero(self._answer_query == query_id)
        mine = mine[self._dns["client"][self._answers["event"][mine]] == np.bytes_(raw)]
        return self._answer_texts(mine)

    def _answer_texts(self, rows: np.ndarray) -> set[str]:
        """What `_text` gives for the rows of these answers: names and CNAME targets cleaned, addresses
        as they are."""
        text, found = self.pool.get, set()
        answers = self._answers[rows]
        for name, value, target, address in zip(
            answers["name"].tolist(),
            answers["value"].tolist(),
            self._target[rows].tolist(),
            self._address[rows].tolist(),
            strict=True,
        ):
            found.add(_chain_text(text(name), True))
            if target or address:
                found.add(_chain_text(text(value), bool(target)))
        found.discard("")
        return found

    def owner(self, client: str, value: str) -> str:
        """The query whose answers gave `value` to `client` first (the value itself when none did)."""
        raw = addr16(client)
        if not raw:
            return value
        self._build()
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


def _chain_text(text: str | None, clean: bool) -> str:
    """A DNS chain's text of an answer value: names cleaned (lower case, no trailing dot), addresses as
    they are, "" for none."""
    text = text or ""
    return text.lower().rstrip(".") if clean else text


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
    _, first, inverse, _ = distinct_keys(key)
    return Groups(conns, inverse, first, named, names, name_id, group_by == "port")


def analyze(ex: Extraction, intel=None, allowlist=None, options: AnalysisOptions | None = None) -> Report:
    # Findings are many small objects and no cycles: with tens of thousands alive (`--min-score 0`),
    # each cyclic collection walks them all, so none runs until the report is made.
    with collections_paused():
        return _analyze(ex, intel, allowlist, options or AnalysisOptions())


def _analyze(ex: Extraction, intel, allowlist, opts: AnalysisOptions) -> Report:
    conns = ex.conns
    if not opts.score_internal and len(conns):
        conns = conns[~in_networks(conns["server"], opts.internal)]
    name_id, names, chains = attribute_names(ex, conns)
    groups = make_groups(conns, name_id, names, opts.group_by)
    n_groups = len(groups)
    window = (ex.first_ts, ex.last_ts) if ex.first_ts is not None and ex.last_ts is not None else None

    hits: list[IntelHit] = []
    if intel is not None:
        from netdetect.intel.match import match_tables

        hits = match_tables(
            intel, ex.events, _server_pairs(ex.conns, intel), include_benign=opts.include_benign_intel
        )
    # Context-only indicators (a legitimate service the actor abused, e.g. the GitHub icon stage) never
    # make a finding; they are shown beside the same client's threat findings.
    context: dict[str, list[IntelHit]] = defaultdict(list)
    for h in hits:
        if h.benign:
            context[h.client].append(h)
    hits = [h for h in hits if not h.benign]
    group_hits, orphan = _attach_hits(hits, groups, conns, chains)

    min_score = opts.threshold if opts.min_score is None else opts.min_score
    scored = _groups_to_score(groups, group_hits, min_score)
    scores = _score(groups, conns, scored, window, opts.threshold)
    reported = np.isin(scored, list(group_hits)) | ~(scores.score < min_score)
    facts = GroupFacts(groups, conns, scores, scored, np.flatnonzero(reported))
    gids = scored[reported].tolist()
    made = _group_findings(gids, groups, facts, group_hits, chains)
    findings: list[Finding] = []
    detail: dict[int, int] = {}  # id(finding) -> its entry in facts, for the per-connection detail
    suppressed = 0
    by_name = allowlist.match_names([f.server_name for f in made]) if allowlist is not None else None
    for i, (g, f, score) in enumerate(zip(gids, made, facts.score, strict=True)):
        g_hits = group_hits.get(g)
        threat = bool(g_hits) and _has_threat(f)
        if allowlist is not None and not threat:
            entry = by_name[i] if by_name is not None else allowlist.match(f.src_ip, f.dst_ips, f.server_name)
            if entry:
                f.allowlisted = str(entry)
                suppressed += 1
                if not opts.show_allowlisted:
                    continue
        if not g_hits or threat or score >= min_score:
            findings.append(f)
            detail[id(f)] = i
    lookups = _lookup_times(ex, orphan) if orphan else {}
    for (client, name), hs in orphan.items():
        findings.append(
            _orphan_finding(
                client, hs, np.array(sorted(lookups.get((client, name), []))), window, opts.threshold
            )
        )

    if context:
        for f in findings:
            if context.get(f.src_ip) and _has_threat(f):
                f.intel += _merge_hits(context[f.src_ip])
    findings.sort(key=_rank_key)
    if opts.top:
        findings = findings[: opts.top]
    for f in findings[:PLOT_DETAIL_TOP]:  # per-connection detail only where plots will use it
        at = detail.get(id(f))  # `made` keeps every group finding alive, so ids are not reused
        if at is not None:
            span = facts.span(at)
            f.times, f.sizes = facts.times[span], facts.sizes[span]
    for f in findings[PLOT_DETAIL_TOP:]:
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


def _attach_hits(
    hits: list[IntelHit], groups: Groups, conns: np.ndarray, chains: DnsChains
) -> tuple[dict[int, list[IntelHit]], dict[tuple[str, str], list[IntelHit]]]:
    """Intel hits by the group they explain (same client, and the value is the group's name, a name or
    address in that name's DNS chain, or one of its server addresses), and the rest by (client, the
    name looked up): sightings with no connection group."""
    by_client_value: dict[tuple[str, str], set[int]] = defaultdict(set)
    for g in groups.of_clients(h.client for h in hits):
        c = groups.client(g)
        gname, gserver = groups.name(g), groups.server(g)
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
        bounds = np.searchsorted(groups.index[order], np.arange(len(groups) + 1))
        for g in groups.of_clients(need_dst):
            pending = need_dst[groups.client(g)]
            ips = {to_text(v) for v in set(conns["server"][order[bounds[g] : bounds[g + 1]]].tolist())}
            for hit in pending:
                if _canon_ip(hit.value) in ips:
                    group_hits[g].append(hit)
    attached = {id(h) for hs in group_hits.values() for h in hs}
    # One finding per client and looked-up name, so a listed name and the listed address it resolved
    # to read as one blocked lookup.
    for hit in hits:
        if id(hit) not in attached:
            value = hit.value.lower().rstrip(".")
            orphan[(hit.client, chains.owner(hit.client, value))].append(hit)
    return group_hits, orphan


def _groups_to_score(groups: Groups, group_hits: dict[int, list[IntelHit]], min_score: float) -> np.ndarray:
    """Ids of the groups that can be reported. Above a zero minimum score only groups with an intel hit
    or with MIN_EVENTS connections qualify: fewer connections make fewer check-ins, which score 0. Most
    groups of a capture are one or two connections, so this skips most of the scoring."""
    if not min_score > 0:
        return np.arange(len(groups))
    size = np.bincount(groups.index, minlength=len(groups))
    wanted = size >= MIN_EVENTS
    wanted[list(group_hits)] = True
    return np.flatnonzero(wanted)


def _score(groups: Groups, conns: np.ndarray, scored: np.ndarray, window, threshold: float):
    """Scores of the `scored` groups (row i for group scored[i]), as if all groups were scored: each
    group's score depends on its own connections and on the window only."""
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
        threshold=threshold,
    )


def in_networks(col: np.ndarray, cidrs: Sequence[str]) -> np.ndarray:
    """Membership of 16-byte addresses (v4-mapped) in CIDRs, vectorised: IPv4 networks as ranges searched
    in one pass, IPv6 networks by prefix mask (on the IPv4-mapped rows only if they can hold some)."""
    hi, lo = _split(col)
    mapped = (hi == 0) & (lo >> np.uint64(32) == 0xFFFF)
    out = np.zeros(len(col), bool)
    v4: list[tuple[int, int]] = []
    others: np.ndarray | None = None
    for cidr in cidrs:
        net = ipaddress.ip_network(cidr, strict=False)
        if net.version == 4:
            v4.append((int(net.network_address), int(net.broadcast_address)))
            continue
        if net.overlaps(_V4_MAPPED_SPACE):
            rows = np.arange(len(col))
        else:
            rows = others = np.flatnonzero(~mapped) if others is None else others
        plen, raw = net.prefixlen, int(net.network_address)
        n_hi, n_lo = np.uint64(raw >> 64), np.uint64(raw & ((1 << 64) - 1))
        if plen <= 64:
            mask = np.uint64(((1 << plen) - 1) << (64 - plen)) if plen else np.uint64(0)
            out[rows] |= (hi[rows] & mask) == n_hi
        else:
            mask = np.uint64(((1 << (plen - 64)) - 1) << (128 - plen))
            out[rows] |= (hi[rows] == n_hi) & ((lo[rows] & mask) == n_lo)
    if v4:
        starts, ends = _merged_ranges(v4)
        value = lo & np.uint64(0xFFFFFFFF)
        at = np.maximum(np.searchsorted(starts, value, "right") - 1, 0)
        out |= mapped & (value >= starts[at]) & (value <= ends[at])
    return out


_V4_MAPPED_SPACE = ipaddress.ip_network("::ffff:0:0/96")


def _merged_ranges(ranges: list[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
    """Sorted, disjoint (starts, ends) covering the same integers as `ranges` (inclusive ends)."""
    merged: list[list[int]] = []
    for start, end in sorted(ranges):
        if merged and start <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return np.array([m[0] for m in merged], np.uint64), np.array([m[1] for m in merged], np.uint64)


def _host_count(conns: np.ndarray) -> int:
    return len(distinct_addresses(conns["client"])) if len(conns) else 0


def _server_pairs(conns: np.ndarray, intel) -> np.ndarray:
    """Unique (client, server) pairs with first/last time and count, for address matching: only those
    whose server matches an indicator (the matcher reads no other row)."""
    from netdetect.intel.match import SERVER_DTYPE

    if len(conns):
        conns = conns[[row for row, _ in intel.match_addresses16(conns["server"])]]
    if not len(conns):
        return np.zeros(0, SERVER_DTYPE)
    c_hi, c_lo = _split(conns["client"])
    s_hi, s_lo = _split(conns["server"])
    key = hash_columns(c_hi, c_lo, s_hi, s_lo)
    uniq, first, inverse, counts = distinct_keys(key)
    out = np.zeros(len(uniq), SERVER_DTYPE)
    out["client"], out["server"], out["count"] = conns["client"][first], conns["server"][first], counts
    out["first"], out["last"] = np.inf, -np.inf
    np.minimum.at(out["first"], inverse, conns["ts"])
    np.maximum.at(out["last"], inverse, conns["end_ts"])
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
                kinds[i] = "intel" if any(not _hit_is_context(h) for h in merged) else "beacon"
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
        kind="intel" if any(not _hit_is_context(h) for h in hits) else "beacon",
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
    # The last keys only break ties, so the order does not depend on internal ids.
    tail = (-f.score, -f.connections, f.src_ip, f.server_name or "", f.dst_ip or "", f.dst_port or 0)
    if not f.intel:
        return (1, 0, *tail)
    threat = _has_threat(f)
    best_conf = min(
        (CONFIDENCE_RANK.get(str(h.confidence), 3) for h in f.intel if not _hit_is_context(h)), default=9
    )
    return (0 if threat else 1, best_conf if threat else 0, *tail)
