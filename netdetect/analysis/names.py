"""Server names for connections: the ClientHello SNI, else the HTTP Host, else the client's own
latest DNS answer for the address; and the DNS chains (CNAMEs, addresses) each query gave."""

from __future__ import annotations

import numpy as np

from netdetect.arrays import distinct_keys, hash_columns, split_address
from netdetect.tables import ValuePool, addr16
from netdetect.tables.extraction import Extraction

DNS_CLOCK_SLACK_S = 1.0  # an answer logged a hair after the SYN (capture clock skew) still counts
SPAN_INDEX_AFTER = 64  # DNS chain lookups after which indexing every (client, query) pair pays off


def latest_before(ref_key: np.ndarray, ref_ts: np.ndarray, q_key: np.ndarray, q_ts: np.ndarray) -> np.ndarray:
    """For each query, the reference row with an equal key and the latest time <= the query's time
    (-1 if none). Vectorised: rows are ordered by (key, time) and searched on key rank * span + time."""
    return LatestBefore(ref_key, ref_ts).find(q_key, q_ts)


class LatestBefore:
    """`latest_before` with the reference rows ordered once, for several query sets."""

    def __init__(self, ref_key: np.ndarray, ref_ts: np.ndarray) -> None:
        # Rows without a finite time (hostile or broken inputs) are never found: a NaN would
        # break the time ordering the search relies on.
        finite = np.isfinite(ref_ts)
        if finite.all():
            self.order = _key_time_order(ref_key, ref_ts)
        else:
            rows = np.flatnonzero(finite)
            self.order = rows[_key_time_order(ref_key[rows], ref_ts[rows])]
        self.key, self.ts = ref_key[self.order], ref_ts[self.order]
        # The key ranks without np.unique: the keys are sorted already.
        new_key = np.r_[True, self.key[1:] != self.key[:-1]] if len(self.key) else np.zeros(0, bool)
        self.uniq = self.key[new_key]
        self.rank = np.cumsum(new_key) - 1

    def find(self, q_key: np.ndarray, q_ts: np.ndarray) -> np.ndarray:
        out = np.full(len(q_key), -1, np.int64)
        rk, rt, uniq = self.key, self.ts, self.uniq
        finite = np.isfinite(q_ts)
        if not finite.all():
            rows = np.flatnonzero(finite)
            out[rows] = self.find(q_key[rows], q_ts[rows])
            return out
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


def connection_index(conns: np.ndarray) -> LatestBefore:
    """Connections indexed by their (client, server, ports) and start time, for `connection_of_events`."""
    c_hi, c_lo = split_address(conns["client"])
    s_hi, s_lo = split_address(conns["server"])
    key = hash_columns(c_hi, c_lo, s_hi, s_lo, conns["client_port"], conns["server_port"])
    return LatestBefore(key, conns["ts"])


def connection_of_events(index: LatestBefore, rows: np.ndarray) -> np.ndarray:
    """Per event row (TLS, HTTP: any table with the connection end columns), the row of the indexed
    connections it belongs to: same ends, latest start up to the event (-1 when none)."""
    e_hi, e_lo = split_address(rows["client"])
    es_hi, es_lo = split_address(rows["server"])
    key = hash_columns(e_hi, e_lo, es_hi, es_lo, rows["client_port"], rows["server_port"])
    return index.find(key, rows["ts"] + DNS_CLOCK_SLACK_S)


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
    c_hi, c_lo = split_address(conns["client"])
    s_hi, s_lo = split_address(conns["server"])
    # Indexing the connections costs a sort of all of them: only when there are events to join.
    connection_before = connection_index(conns) if len(ex.tls) or len(ex.http) else None

    def by_connection(rows: np.ndarray, named: np.ndarray) -> None:
        """Each still unnamed connection takes the name of its earliest event (rows are in time order)."""
        keep = np.flatnonzero(named >= 0)
        if not len(keep) or connection_before is None:
            return
        hit = connection_of_events(connection_before, rows[keep])
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
        ac_hi, ac_lo = split_address(dns["client"][a_event])
        aa_hi, aa_lo = split_address(answers["addr"][addressed])
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
            c_hi, c_lo = split_address(self.client)
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
