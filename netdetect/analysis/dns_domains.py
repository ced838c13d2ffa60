"""DNS lookups per (client, registered domain): the table both DNS detectors read.

One row per client and registered domain (eTLD+1, `netdetect.domains`) with the lookup times and
what the names and answers carry. Only internet DNS counts: mDNS, LLMNR and NBNS ports, reverse and
special-use names and names without a public suffix are left out.

Lookups are the queries; a group whose queries were not captured (only responses seen) counts its
responses instead. Name features are measured on distinct names (a name asked twice carries its
data once); answer bytes on every response.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from netdetect.addr import to_text
from netdetect.arrays import distinct_keys, distinct_values, hash_columns, split_address
from netdetect.detectors.base import Subjects
from netdetect.domains import split_names
from netdetect.scoring import segments as seg

if TYPE_CHECKING:
    from netdetect.analysis.context import AnalysisContext

DNS_PORT = 53
NOT_INTERNET_PORTS = (5353, 5355, 137)  # mDNS, LLMNR, NBNS
ADDRESS_TYPES = ("A", "AAAA", "HTTPS", "SVCB")  # what ordinary lookups ask for
RCODE_NXDOMAIN = 3
MAX_TIMES = 4096  # lookup times kept per reported row (the most recent): plots need no more
EXAMPLE_NAMES = 3
MAX_RDATA = 65535
ENTROPY_MIN_NAMES = 10  # entropy is measured for groups with at least this many distinct subdomains
ENTROPY_SAMPLE_NAMES = 512  # on at most this many of them (memory stays bounded by groups, not names)
_GENERIC_RDATA = re.compile(r"\\# (\d+)")  # RFC 3597 rendering of NULL and unknown types: "\# <len> <hex>"
_CACHE_ATTR = "dns_domain_lookups"


@dataclass
class DomainLookups:
    """Per (client, registered domain) group; every array has one entry per group."""

    client: np.ndarray  # S16
    domain: np.ndarray  # i8 id into `domains`
    domains: list[str]
    lookups: np.ndarray  # i8
    first_seen: np.ndarray  # f8
    last_seen: np.ndarray  # f8
    distinct_names: np.ndarray  # i8 distinct names looked up (the domain itself included)
    distinct_subdomains: np.ndarray  # i8 distinct names below the registered domain
    nxdomain_share: np.ndarray  # f8 share of responses that are NXDOMAIN (0 without responses)
    unusual_type_share: np.ndarray  # f8 share of lookups not for A/AAAA/HTTPS/SVCB (TXT, NULL, CNAME, MX...)
    mean_label_len: np.ndarray  # f8 over the labels of distinct subdomains
    max_label_len: np.ndarray  # i8
    long_label_share: np.ndarray  # f8 per distinct subdomain: weight of its longest label (0 short, 1 long)
    # f8 bits per character, pooled over distinct subdomains (dots left out); 0 for groups with fewer
    # than ENTROPY_MIN_NAMES of them
    entropy: np.ndarray
    name_bytes: np.ndarray  # i8 characters in distinct subdomains (dots left out)
    answer_bytes: (
        np.ndarray
    )  # i8 bytes of distinct answer values other than addresses (TXT, NULL, CNAME, MX...)
    answer_ttl: np.ndarray  # f8 median over responses of their shortest answer TTL (nan: no answers)
    queries_per_min: np.ndarray  # f8 lookups per covered minute between first and last (at least 1 min)
    clients_of_domain: np.ndarray  # i8 clients that look the domain up (prevalence)
    subdomains_of_domain: np.ndarray  # i8 distinct subdomains of the domain over every client (RITA's count)
    # Lookup rows in (group, time) order: group g's are order[starts[g] : starts[g] + lookups[g]].
    times_sorted: np.ndarray
    query_sorted: np.ndarray  # pool id per lookup, same order
    server_sorted: np.ndarray  # S16 DNS server per lookup, same order
    starts: np.ndarray
    pool_values: list

    def __len__(self) -> int:
        return len(self.client)

    def times(self, g: int) -> np.ndarray:
        lo = int(self.starts[g])
        hi = lo + int(self.lookups[g])
        return self.times_sorted[max(lo, hi - MAX_TIMES) : hi].copy()

    def subjects(self, chosen: np.ndarray) -> Subjects:
        """The detectors' subject rows for these groups."""
        return Subjects(
            client=self.client[chosen],
            name=[self.domains[int(d)] for d in self.domain[chosen]],
            first_seen=self.first_seen[chosen],
            last_seen=self.last_seen[chosen],
            count=self.lookups[chosen],
            dns_names=[self.example_names(int(g)) for g in chosen],
            dst_ips=[self.servers(int(g)) for g in chosen],
            dst_port=[DNS_PORT for _ in chosen],
            times=[self.times(int(g)) for g in chosen],
        )

    def servers(self, g: int, n: int = EXAMPLE_NAMES) -> list[str]:
        """The DNS servers the client asked, most used first (a resolver outside the network's own
        stands out)."""
        lo = int(self.starts[g])
        used: dict[bytes, int] = {}
        for raw in self.server_sorted[lo : lo + int(self.lookups[g])].tolist():
            used[raw] = used.get(raw, 0) + 1
        return [to_text(raw) for raw, _ in sorted(used.items(), key=lambda kv: -kv[1])[:n]]

    def example_names(self, g: int, n: int = EXAMPLE_NAMES) -> list[str]:
        """The most recent distinct names the client looked up under the domain."""
        lo = int(self.starts[g])
        out: list[str] = []
        for pid in self.query_sorted[lo : lo + int(self.lookups[g])][::-1].tolist():
            name = self.pool_values[pid]
            if name not in out:
                out.append(name)
                if len(out) == n:
                    break
        return out


def domain_lookups(ctx: AnalysisContext) -> DomainLookups:
    """The table for this context, built once and shared by the DNS detectors."""
    table = ctx.shared.get(_CACHE_ATTR)
    if table is None:
        table = ctx.shared[_CACHE_ATTR] = build_domain_lookups(ctx)
    return table


def label_weight(longest_label: np.ndarray) -> np.ndarray:
    """How much a name looks like carried data by its longest label: 0 up to 10 characters (words,
    CDN and host tokens), 1 from 24 (hashes, encoded chunks)."""
    return np.clip((longest_label - 10.0) / 14.0, 0.0, 1.0)


def build_domain_lookups(ctx: AnalysisContext) -> DomainLookups:
    dns = ctx.ex.dns
    rows = dns.rows
    pool = ctx.ex.events.pool
    internet_port = ~(
        np.isin(rows["server_port"], NOT_INTERNET_PORTS) | np.isin(rows["client_port"], NOT_INTERNET_PORTS)
    )
    keep = np.flatnonzero(internet_port & (rows["query"] >= 0))
    parts = split_names(pool, rows["query"][keep])
    at = parts.rows(rows["query"][keep]) if len(keep) else np.zeros(0, np.int64)
    domain = parts.domain[at] if len(at) else np.zeros(0, np.int64)
    internet = domain >= 0
    keep, at, domain = keep[internet], at[internet], domain[internet]

    c_hi, c_lo = split_address(rows["client"][keep])
    key = hash_columns(c_hi, c_lo, domain.astype(np.uint64))
    _, first, group, _ = distinct_keys(key)
    n = len(first)
    is_response = rows["is_response"][keep]
    has_query = np.bincount(group[~is_response], minlength=n) > 0
    lookup = ~is_response | ~has_query[group]

    # Lookups in (group, time) order.
    lk = np.flatnonzero(lookup)
    ts = rows["ts"][keep]
    order = lk[seg.sort_within_groups(group[lk], ts[lk], n)]
    starts, lookups = seg.bounds(group[order], n)
    times_sorted = ts[order]
    has = lookups > 0
    first_seen = seg.take_or_nan(times_sorted, starts, has)
    last_seen = seg.take_or_nan(times_sorted, starts + lookups - 1, has)

    # Query types, by distinct pool id.
    qtype = rows["qtype"][keep][order]
    usual_ids = np.array([pool.find(t) for t in ADDRESS_TYPES], np.int64)
    unusual = ~np.isin(qtype, usual_ids[usual_ids >= 0])
    with np.errstate(invalid="ignore", divide="ignore"):
        unusual_share = np.where(has, seg.segment_sum(unusual, group[order], n) / lookups, 0.0)

    # NXDOMAIN share of the responses.
    resp = np.flatnonzero(is_response)
    responses = np.bincount(group[resp], minlength=n)
    nx = np.bincount(group[resp], weights=rows["rcode"][keep][resp] == RCODE_NXDOMAIN, minlength=n)
    nxdomain_share = np.where(responses > 0, nx / np.maximum(responses, 1), 0.0)

    # Distinct (group, name) pairs and their name features.
    pair_key = (group.astype(np.int64) << 32) | at.astype(np.int64)
    pairs = distinct_values(pair_key)
    pair_group, pair_at = pairs >> 32, pairs & 0xFFFFFFFF
    sub = parts.subdomain
    sub_chars = np.array([len(s) - s.count(".") for s in sub], np.int64)
    sub_labels = np.array([s.count(".") + 1 if s else 0 for s in sub], np.int64)
    longest = np.array([max(map(len, s.split("."))) if s else 0 for s in sub], np.int64)
    is_sub = sub_labels[pair_at] > 0
    pg, pa = pair_group[is_sub], pair_at[is_sub]
    distinct_names = np.bincount(pair_group, minlength=n)
    distinct_subdomains = np.bincount(pg, minlength=n)
    name_bytes = np.bincount(pg, weights=sub_chars[pa], minlength=n).astype(np.int64)
    labels = np.bincount(pg, weights=sub_labels[pa], minlength=n)
    mean_label_len = np.where(labels > 0, name_bytes / np.maximum(labels, 1), 0.0)
    max_label_len = np.zeros(n, np.int64)
    np.maximum.at(max_label_len, pg, longest[pa])
    long_weight = np.bincount(pg, weights=label_weight(longest[pa].astype(np.float64)), minlength=n)
    long_label_share = np.where(
        distinct_subdomains > 0, long_weight / np.maximum(distinct_subdomains, 1), 0.0
    )
    # The alphabet shows in a few hundred names; groups with few names are no channel to measure.
    sample = (distinct_subdomains[pg] >= ENTROPY_MIN_NAMES) & (_rank_in_run(pg) < ENTROPY_SAMPLE_NAMES)
    entropy = _pooled_entropy(pg[sample], pa[sample], sub, n)

    # Bytes carried by answers other than addresses, joined to their response's group.
    answers = dns.answers
    row_group = np.full(len(rows), -1, np.int64)
    row_group[keep] = group
    a_group = row_group[answers["event"]] if len(answers) else np.zeros(0, np.int64)
    a_keep = np.flatnonzero(a_group >= 0)
    # Each distinct value once per group: a tunnel's answers are new each time, while a CNAME chain
    # asked again and again carries nothing new.
    a_value = answers["value"][a_keep].astype(np.int64)
    _, a_first, _, _ = distinct_keys((a_group[a_keep] << 32) | (a_value & 0xFFFFFFFF))
    a_len = _value_lengths(pool, a_value[a_first], answers["rtype"][a_keep][a_first])
    answer_bytes = np.bincount(a_group[a_keep][a_first], weights=a_len, minlength=n).astype(np.int64)
    answer_ttl = _median_answer_ttl(answers["event"][a_keep], answers["ttl"][a_keep], row_group, n)

    covered_min = ctx.covered_s(np.nan_to_num(first_seen), np.nan_to_num(last_seen)) / 60.0
    queries_per_min = lookups / np.maximum(covered_min, 1.0)
    g_domain = domain[first] if n else np.zeros(0, np.int64)
    clients_of_domain = np.bincount(g_domain, minlength=len(parts.domains))[g_domain] if n else g_domain
    domain_names = distinct_values(parts.domain[pa] * len(parts.subdomain) + pa) if n else pa
    per_domain = np.bincount(domain_names // max(len(parts.subdomain), 1), minlength=len(parts.domains))
    subdomains_of_domain = per_domain[g_domain] if n else g_domain

    query_sorted = rows["query"][keep][order]
    return DomainLookups(
        client=rows["client"][keep][first] if n else np.zeros(0, "S16"),
        domain=g_domain,
        domains=parts.domains,
        lookups=lookups,
        first_seen=first_seen,
        last_seen=last_seen,
        distinct_names=distinct_names,
        distinct_subdomains=distinct_subdomains,
        nxdomain_share=nxdomain_share,
        unusual_type_share=unusual_share,
        mean_label_len=mean_label_len,
        max_label_len=max_label_len,
        long_label_share=long_label_share,
        entropy=entropy,
        name_bytes=name_bytes,
        answer_bytes=answer_bytes,
        answer_ttl=answer_ttl,
        queries_per_min=queries_per_min,
        clients_of_domain=clients_of_domain,
        subdomains_of_domain=subdomains_of_domain,
        times_sorted=times_sorted,
        query_sorted=query_sorted,
        server_sorted=rows["server"][keep][order],
        starts=starts,
        pool_values=pool.values,
    )


def _rank_in_run(sorted_keys: np.ndarray) -> np.ndarray:
    """Position of each element within its run of equal values (the array is sorted)."""
    if not len(sorted_keys):
        return np.zeros(0, np.int64)
    new = np.r_[True, sorted_keys[1:] != sorted_keys[:-1]]
    run_start = np.maximum.accumulate(np.where(new, np.arange(len(sorted_keys)), 0))
    return np.arange(len(sorted_keys)) - run_start


def _pooled_entropy(pair_group: np.ndarray, pair_at: np.ndarray, sub: list[str], n: int) -> np.ndarray:
    """Shannon entropy (bits per character) of the characters of each group's distinct subdomains
    taken together: one short name says little, hundreds of encoded ones show their alphabet."""
    out = np.zeros(n, np.float64)
    if not len(pair_at):
        return out
    names, _, which, _ = distinct_keys(pair_at)  # only the names sampled, each encoded once
    encoded = [sub[i].replace(".", "").encode("utf-8", "replace") for i in names.tolist()]
    lengths = np.array([len(b) for b in encoded], np.int64)
    offsets = np.r_[0, np.cumsum(lengths)[:-1]]
    joined = np.frombuffer(b"".join(encoded), np.uint8)
    # Characters of every pair, without a Python loop per pair.
    counts = lengths[which]
    total = int(counts.sum())
    if not total:
        return out
    char_group = np.repeat(pair_group, counts)
    within = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
    chars = joined[np.repeat(offsets[which], counts) + within]
    # Groups with characters get compact ranks so the (group, byte) histogram stays small.
    groups_with, _, rank, _ = distinct_keys(char_group)
    hist = np.bincount(rank * 256 + chars, minlength=len(groups_with) * 256).reshape(-1, 256)
    total_per = hist.sum(axis=1, keepdims=True)
    p = hist / total_per
    with np.errstate(divide="ignore", invalid="ignore"):
        h = -np.nansum(np.where(p > 0, p * np.log2(p), 0.0), axis=1)
    out[groups_with] = h
    return out


def _median_answer_ttl(event: np.ndarray, ttl: np.ndarray, row_group: np.ndarray, n: int) -> np.ndarray:
    """Per group, the median over its responses of the shortest TTL in each response: how long a
    stub resolver may cache the answer before it must ask again."""
    if not len(event):
        return np.full(n, np.nan)
    events, _, which, _ = distinct_keys(event)
    shortest = np.full(len(events), np.iinfo(np.int64).max, np.int64)
    np.minimum.at(shortest, which, ttl.astype(np.int64))
    group = row_group[events]
    order = seg.sort_within_groups(group, shortest.astype(np.float64), n)
    starts, counts = seg.bounds(group[order], n)
    return seg.median(shortest[order].astype(np.float64), starts, counts)


def _value_lengths(pool, value_ids: np.ndarray, rtype_ids: np.ndarray) -> np.ndarray:
    """Bytes per answer value other than addresses: the declared rdata length of generic (\\# n hex)
    values, the text length of the rest (TXT, CNAME, MX...); 0 for A/AAAA. Once per distinct value."""
    out = np.zeros(len(value_ids), np.float64)
    address_types = np.array([pool.find(t) for t in ("A", "AAAA")], np.int64)
    carry = ~np.isin(rtype_ids, address_types[address_types >= 0]) & (value_ids >= 0)
    ids = value_ids[carry].astype(np.int64)
    if not len(ids):
        return out
    uniq, _, inverse, _ = distinct_keys(ids)
    values = pool.values
    lengths = np.array([_value_length(values[i]) for i in uniq.tolist()], np.float64)
    out[carry] = lengths[inverse]
    return out


def _value_length(value: object) -> int:
    if not isinstance(value, str):
        return 0
    generic = _GENERIC_RDATA.match(value)
    # rdata is at most 65535 bytes, whatever a hostile text claims.
    return min(int(generic.group(1)[:6]), MAX_RDATA) if generic else len(value)
