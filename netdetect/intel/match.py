"""Match decoded events against an IntelStore in one batch.

Events are first reduced to sightings (value, field, client, time); distinct names and addresses are
looked up once each (names through the dict-probe path, addresses through the numpy path), then only
the sightings that hit are merged into IntelHits keyed by (client, indicator, field).

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

from netdetect.intel.indicator import NAME_TYPES, Indicator, normalize_host, normalize_path
from netdetect.intel.store import IntelStore, address_bytes
from netdetect.model import DnsEvent, HttpEvent, IntelHit, TlsEvent

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


def collect_sightings(
    dns: Sequence[DnsEvent], tls: Sequence[TlsEvent], http: Sequence[HttpEvent], servers: Iterable[ServerRow]
) -> tuple[list[Sighting], list[Sighting], list[tuple[Sighting, str, str]], list[tuple[Sighting, str, str]]]:
    """-> (name sightings, address sightings, URL sightings (with host, path), fingerprint sightings)."""
    names: list[Sighting] = []
    addresses: list[Sighting] = []
    urls: list[tuple[Sighting, str, str]] = []
    prints: list[tuple[Sighting, str, str]] = []
    asked = {(ev.client, ev.txid, ev.query) for ev in dns if not ev.is_response}
    for ev in dns:
        if ev.query and (not ev.is_response or (ev.client, ev.txid, ev.query) not in asked):
            names.append(Sighting(ev.query, "dns_query", ev.client, ev.ts, ev.ts))
        chain: set[str] = set()  # each name of the answer/CNAME chain once per response
        for answer in ev.answers:
            if answer.name:
                chain.add(answer.name)
            if answer.rtype == "CNAME" and answer.value:
                chain.add(answer.value)
            elif answer.rtype in ("A", "AAAA") and answer.value:
                addresses.append(Sighting(answer.value, "dns_answer", ev.client, ev.ts, ev.ts))
        chain.discard(ev.query)
        names.extend(Sighting(name, "dns_cname", ev.client, ev.ts, ev.ts) for name in sorted(chain))
    for tls_ev in tls:
        if tls_ev.sni:
            names.append(Sighting(tls_ev.sni, "sni", tls_ev.client, tls_ev.ts, tls_ev.ts))
        ja3 = tls_ev.ja3_hash or (hashlib.md5(tls_ev.ja3.encode()).hexdigest() if tls_ev.ja3 else None)
        if ja3:
            prints.append((Sighting(ja3, "ja3", tls_ev.client, tls_ev.ts, tls_ev.ts), "ja3", ja3.lower()))
        if tls_ev.ja4:
            prints.append(
                (Sighting(tls_ev.ja4, "ja4", tls_ev.client, tls_ev.ts, tls_ev.ts), "ja4", tls_ev.ja4.lower())
            )
    for http_ev in http:
        host_text, path = _split_request(http_ev.host, http_ev.uri, http_ev.server)
        host = normalize_host(host_text)
        if http_ev.host or host_text != http_ev.server:
            target = addresses if address_bytes(host) is not None else names
            target.append(Sighting(host, "http_host", http_ev.client, http_ev.ts, http_ev.ts))
        urls.append(
            (
                Sighting(f"{host_text}{path}", "url", http_ev.client, http_ev.ts, http_ev.ts),
                host,
                normalize_path(path),
            )
        )
    for client, server_ip, first, last, count in servers:
        addresses.append(Sighting(server_ip, "dst_ip", client, first, last, count))
    return names, addresses, urls, prints


def match_events(
    store: IntelStore,
    dns: Sequence[DnsEvent] = (),
    tls: Sequence[TlsEvent] = (),
    http: Sequence[HttpEvent] = (),
    servers: Iterable[ServerRow] = (),
    *,
    include_benign: bool = False,
) -> list[IntelHit]:
    """Every intel hit in the events: DNS query names, CNAME-chain names, A/AAAA answers, SNI (TLS and
    QUIC), HTTP Host and URL, JA3/JA4, and connection server addresses, merged per (client, indicator,
    field) into first/last/count."""
    names, addresses, urls, prints = collect_sightings(dns, tls, http, servers)
    merger = HitMerger(store, include_benign)
    name_hits = store.match_names(s.value for s in names)
    for s in names:
        found = name_hits.get(s.value)
        if found:
            merger.add(s, found)
    address_hits = store.match_ips(s.value for s in addresses)
    for s in addresses:
        found = address_hits.get(s.value)
        if found:
            merger.add(s, found)
    for s, host, path in urls:
        found = store.urls_for(host, path)
        if found:
            merger.add(s, found)
    for s, kind, value in prints:
        found = store.fingerprints_for(kind, value)
        if found:
            merger.add(s, found)
    return merger.result()
