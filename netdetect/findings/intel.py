"""Intel evidence for findings: which group each hit explains, the address pairs to match, and the
lookups behind hits that no connection group explains."""

from __future__ import annotations

import ipaddress
from collections import defaultdict

import numpy as np

from netdetect.addr import to_text
from netdetect.analysis.context import Groups
from netdetect.analysis.names import DnsChains
from netdetect.arrays import distinct_keys, hash_columns, split_address
from netdetect.model import IntelHit
from netdetect.tables.extraction import Extraction


def attach_hits(
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


def server_pairs(conns: np.ndarray, intel) -> np.ndarray:
    """Unique (client, server) pairs with first/last time and count, for address matching: only those
    whose server matches an indicator (the matcher reads no other row)."""
    from netdetect.intel.match import SERVER_DTYPE

    if len(conns):
        conns = conns[[row for row, _ in intel.match_addresses16(conns["server"])]]
    if not len(conns):
        return np.zeros(0, SERVER_DTYPE)
    c_hi, c_lo = split_address(conns["client"])
    s_hi, s_lo = split_address(conns["server"])
    key = hash_columns(c_hi, c_lo, s_hi, s_lo)
    uniq, first, inverse, counts = distinct_keys(key)
    out = np.zeros(len(uniq), SERVER_DTYPE)
    out["client"], out["server"], out["count"] = conns["client"][first], conns["server"][first], counts
    out["first"], out["last"] = np.inf, -np.inf
    np.minimum.at(out["first"], inverse, conns["ts"])
    np.maximum.at(out["last"], inverse, conns["end_ts"])
    return out


def lookup_times(ex: Extraction, wanted) -> dict[tuple[str, str], list[float]]:
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
