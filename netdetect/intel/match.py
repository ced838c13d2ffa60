"""Match the extraction's event tables against an IntelStore in one batch.

Each distinct value is looked up once: pool ids of names (queries, answer and CNAME names, SNI) through
`IntelStore.match_names`, 16-byte answer and server-address columns through `match_addresses16`, each
distinct (Host, URI, server) of HTTP once. Only the rows whose value hit become sightings (value, field,
client, time), merged into IntelHits keyed by (client, indicator, field).

Rules a caller can rely on:
- URL indicators match HTTP requests only (host + path prefix). Over TLS/DNS only the host is visible,
  and a URL under a shared host (raw.githubusercontent.com/IconStorages/...) must not flag the host.
  A URL whose host is itself malicious is matched on DNS/SNI through that host's own domain indicator.
- Benign (context-only) indicators produce no hit unless include_benign; then hits carry benign=True
  and must never make a finding on their own.
- An indicator past its valid_until at the event's time is skipped unless the store was loaded with
  include_expired; then the hit says expired=True (when every sighting was after expiry).
- DNS events: `client` is taken as the querying host for queries and responses alike. A response whose
  query was also captured does not count the query name twice.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from netdetect.addr import to_text
from netdetect.arrays import distinct_addresses, distinct_values
from netdetect.intel.indicator import NAME_TYPES, Indicator, normalize_host, normalize_path
from netdetect.intel.store import IntelStore, address_bytes
from netdetect.model import DnsEvent, HttpEvent, IntelHit, TlsEvent
from netdetect.tables import EventSet, HttpTable, TlsTable, ValuePool, addr16

ServerRow = tuple[str, str, float, float, int]  # client, server_ip, first_ts, last_ts, count


@dataclass(slots=True)
class Sighting:
    value: str  # as seen on the wire
    field: str
    client: str
    first: float
    last: float
    count: int = 1


def _note(ind: Indicator) -> str | None:
    if ind.stage:
        return ind.stage
    if ind.notes:
        return ind.notes if len(ind.notes) <= 200 else ind.notes[:197] + "..."
    return None


class HitMerger:
    """Accumulates (sighting, indicator) pairs into IntelHits, applying the benign and expiry rules."""

    def __init__(self, store: IntelStore, include_benign: bool) -> None:
        self.store = store
        self.include_benign = include_benign
        self.hits: dict[tuple[str, int, str], IntelHit] = {}

    def add(self, sighting: Sighting, indicators: Iterable[Indicator]) -> None:
        for ind in indicators:
            if ind.benign and not self.include_benign:
                continue
            # Valid at the time of the traffic, not at scan time: retro-hunting old captures must work.
            expired = ind.valid_until is not None and sighting.first > ind.valid_until
            if expired and not self.store.include_expired:
                continue
            key = (sighting.client, id(ind), sighting.field)
            hit = self.hits.get(key)
            if hit is None:
                self.hits[key] = IntelHit(
                    indicator=ind.value,
                    type="domain" if ind.type in NAME_TYPES else ind.type,
                    pack=ind.pack,
                    confidence=ind.confidence,
                    field=sighting.field,
                    value=sighting.value,
                    client=sighting.client,
                    first_seen=sighting.first,
                    last_seen=sighting.last,
                    count=sighting.count,
                    expired=expired,
                    notes=_note(ind),
                    benign=ind.benign,
                )
            else:
                if sighting.first < hit.first_seen:
                    hit.first_seen, hit.value = sighting.first, sighting.value
                hit.last_seen = max(hit.last_seen, sighting.last)
                hit.count += sighting.count
                hit.expired = hit.expired and expired

    def result(self) -> list[IntelHit]:
        return sorted(self.hits.values(), key=lambda h: (h.first_seen, h.client, h.field, h.indicator))


def _split_request(host: str | None, uri: str, server: str) -> tuple[str, str]:
    """(host, path) of an HTTP request, handling absolute-form (proxy) and CONNECT authority-form URIs."""
    lower = uri[:8].lower()
    if lower.startswith(("http://", "https://")):
        rest = uri.split("://", 1)[1]
        slash = rest.find("/")
        return (rest, "/") if slash < 0 else (rest[:slash], rest[slash:])
    if not uri.startswith("/") and ":" in uri and "/" not in uri:  # CONNECT host:port
        return uri, "/"
    return (host or server), uri


SERVER_DTYPE = np.dtype(
    [("client", "S16"), ("server", "S16"), ("first", "f8"), ("last", "f8"), ("count", "i8")]
)


def server_table(rows: Iterable[ServerRow]) -> np.ndarray:
    """(client, server, first, last, count) text rows -> a SERVER_DTYPE table (bad addresses: empty)."""
    return np.array(
        [(addr16(c), addr16(s), first, last, n) for c, s, first, last, n in rows], SERVER_DTYPE
    ).reshape(-1)


def match_events(
    store: IntelStore,
    dns: Sequence[DnsEvent] = (),
    tls: Sequence[TlsEvent] = (),
    http: Sequence[HttpEvent] = (),
    servers: Iterable[ServerRow] = (),
    *,
    include_benign: bool = False,
) -> list[IntelHit]:
    """`match_tables` for event dataclasses and text server rows."""
    return match_tables(
        store, EventSet.of(dns, tls, http), server_table(servers), include_benign=include_benign
    )


def match_tables(
    store: IntelStore, events: EventSet, servers: np.ndarray, *, include_benign: bool = False
) -> list[IntelHit]:
    """Every intel hit in the event tables: DNS query names, CNAME-chain names, A/AAAA answers, SNI (TLS
    and QUIC), HTTP Host and URL, JA3/JA4, and connection server addresses (`servers`: SERVER_DTYPE rows),
    merged per (client, indicator, field) into first/last/count.

    Each distinct value is looked up once (pool ids for names, 16-byte columns for addresses); Python
    touches only the rows whose value hit."""
    merger = HitMerger(store, include_benign)
    _match_names(store, events, merger)
    _match_addresses(store, events, servers, merger)
    _match_http(store, events.http, merger)
    _match_fingerprints(store, events.tls, merger)
    return merger.result()


def _hit_ids(store: IntelStore, pool: ValuePool, ids: np.ndarray) -> dict[int, list[Indicator]]:
    """Pool ids among `ids` whose name matches an indicator."""
    distinct = [i for i in distinct_values(ids).tolist() if i >= 0]
    values = [pool.values[i] for i in distinct]
    keep = [(i, v) for i, v in zip(distinct, values, strict=True) if v]
    found = store.match_names([v for _, v in keep])
    return {i: found[v] for i, v in keep if v in found}


def _match_names(store: IntelStore, events: EventSet, merger: HitMerger) -> None:
    pool = events.pool
    dns, answers, tls = events.dns.rows, events.dns.answers, events.tls.rows
    cname = pool.find("CNAME")
    chain_value = answers["rtype"] == cname
    hits = _hit_ids(
        store,
        pool,
        np.concatenate([dns["query"], answers["name"], answers["value"][chain_value], tls["sni"]]),
    )
    if not hits:
        return
    hit_ids = np.fromiter(hits, np.int64, len(hits))
    # Queries, and responses whose query was not captured (a name is not counted twice).
    rows = np.flatnonzero(np.isin(dns["query"], hit_ids))
    asked = {(bytes(r["client"]), int(r["txid"]), int(r["query"])) for r in dns[rows] if not r["is_response"]}
    for r in dns[rows]:
        q = int(r["query"])
        if not r["is_response"] or (bytes(r["client"]), int(r["txid"]), q) not in asked:
            ts = float(r["ts"])
            merger.add(Sighting(pool.values[q], "dns_query", to_text(bytes(r["client"])), ts, ts), hits[q])
    # Names of the answer/CNAME chain, once per response, other than the query itself.
    name_hit = np.isin(answers["name"], hit_ids) | (chain_value & np.isin(answers["value"], hit_ids))
    chains: dict[int, set[int]] = {}
    for a in answers[name_hit]:
        chain = chains.setdefault(int(a["event"]), set())
        for i in (int(a["name"]), int(a["value"]) if a["rtype"] == cname else -1):
            if i in hits:
                chain.add(i)
    for event, chain in sorted(chains.items()):
        r = dns[event]
        chain.discard(int(r["query"]))
        ts, client = float(r["ts"]), to_text(bytes(r["client"]))
        for name in sorted(chain, key=pool.values.__getitem__):
            merger.add(Sighting(pool.values[name], "dns_cname", client, ts, ts), hits[name])
    for r in tls[np.isin(tls["sni"], hit_ids)]:
        ts, sni = float(r["ts"]), int(r["sni"])
        merger.add(Sighting(pool.values[sni], "sni", to_text(bytes(r["client"])), ts, ts), hits[sni])


def _address_hits(store: IntelStore, column: np.ndarray) -> tuple[np.ndarray, dict[bytes, list[Indicator]]]:
    """(row mask of `column` whose address matched, address -> indicators); empty values never match."""
    distinct = distinct_addresses(column)
    distinct = distinct[distinct != b""]
    found = {bytes(distinct[row]): inds for row, inds in store.match_addresses16(distinct)}
    if not found:
        return np.zeros(len(column), bool), found
    return np.isin(column, np.array(list(found), "S16")), found


def _match_addresses(store: IntelStore, events: EventSet, servers: np.ndarray, merger: HitMerger) -> None:
    pool, dns, answers = events.pool, events.dns.rows, events.dns.answers
    mask, found = _address_hits(store, answers["addr"])  # filled for A/AAAA answers only
    for a in answers[mask]:
        r = dns[int(a["event"])]
        ts = float(r["ts"])
        value = pool.values[int(a["value"])]
        if value:
            merger.add(
                Sighting(value, "dns_answer", to_text(bytes(r["client"])), ts, ts), found[bytes(a["addr"])]
            )
    mask, found = _address_hits(store, servers["server"])
    for s in servers[mask]:
        raw = bytes(s["server"])
        merger.add(
            Sighting(
                to_text(raw),
                "dst_ip",
                to_text(bytes(s["client"])),
                float(s["first"]),
                float(s["last"]),
                int(s["count"]),
            ),
            found[raw],
        )


def _match_http(store: IntelStore, http: HttpTable, merger: HitMerger) -> None:
    """Host and URL of each request; work is per distinct (host, URI, server), rows only for hits."""
    rows = http.rows
    if not len(rows):
        return
    pool = http.pool
    inverse, hosts, uris, servers = _distinct_requests(rows)
    for k, (host_id, uri_id, server_raw) in enumerate(zip(hosts, uris, servers, strict=True)):
        header_host, uri = pool.get(host_id), pool.get(uri_id) or ""
        server = to_text(server_raw)
        host_text, path = _split_request(header_host, uri, server)
        host = normalize_host(host_text)
        checks: list[tuple[str, str, list[Indicator]]] = []
        if header_host or host_text != server:
            if address_bytes(host) is not None:
                found = store.match_ips([host]).get(host)
            else:
                found = store.match_names([host]).get(host)
            if found:
                checks.append((host, "http_host", found))
        found = store.urls_for(host, normalize_path(path))
        if found:
            checks.append((f"{host_text}{path}", "url", found))
        if not checks:
            continue
        for r in rows[inverse == k]:
            ts, client = float(r["ts"]), to_text(bytes(r["client"]))
            for value, field, inds in checks:
                merger.add(Sighting(value, field, client, ts, ts), inds)


def _distinct_requests(rows: np.ndarray) -> tuple[np.ndarray, list[int], list[int], list[bytes]]:
    """Distinct (host, URI, server) of HTTP rows in (host, URI, server) order, as np.unique on a record
    array would give them, from one integer lexsort: (distinct index per row, hosts, URIs, servers)."""
    servers = distinct_addresses(rows["server"])
    server_rank = np.searchsorted(servers, rows["server"])
    order = np.lexsort((server_rank, rows["uri"], rows["host"]))
    host, uri, rank = rows["host"][order], rows["uri"][order], server_rank[order]
    new = np.ones(len(rows), bool)
    new[1:] = (host[1:] != host[:-1]) | (uri[1:] != uri[:-1]) | (rank[1:] != rank[:-1])
    inverse = np.empty(len(rows), np.int64)
    inverse[order] = np.cumsum(new) - 1
    first = np.flatnonzero(new)
    return inverse, host[first].tolist(), uri[first].tolist(), servers[rank[first]].tolist()


def _match_fingerprints(store: IntelStore, tls: TlsTable, merger: HitMerger) -> None:
    """JA3 (the hash; hashed here when an engine gave only the string) and JA4: each distinct value is
    looked up once, rows are read only for values that hit."""
    rows, pool = tls.rows, tls.pool
    unhashed = rows[(rows["ja3_hash"] < 0) & (rows["ja3"] >= 0)]  # the tshark engine gives no hash
    for kind, column, table, prepare in (
        ("ja3", "ja3_hash", rows, str),
        ("ja3", "ja3", unhashed, lambda text: hashlib.md5(text.encode()).hexdigest()),
        ("ja4", "ja4", rows, str),
    ):
        hits: dict[int, tuple[str, list[Indicator]]] = {}
        for i in distinct_values(table[column]).tolist():
            text = pool.get(i)
            if text:
                value = prepare(text)
                found = store.fingerprints_for(kind, value.lower())
                if found:
                    hits[i] = (value, found)
        if not hits:
            continue
        for r in table[np.isin(table[column], list(hits))]:
            value, found = hits[int(r[column])]
            ts = float(r["ts"])
            merger.add(Sighting(value, kind, to_text(bytes(r["client"])), ts, ts), found)
