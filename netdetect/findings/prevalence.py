"""Prevalence and first sight of each destination: a modifier, not a detector (as in RITA). A service
the whole fleet checks in to has many clients; a fresh implant's server few. Prevalence orders
findings (rare first among equal scores) and groups fleet-wide rows in reports; it never hides one."""

from __future__ import annotations

import numpy as np

from netdetect.analysis.context import AnalysisContext
from netdetect.arrays import distinct_keys, hash_columns, split_address
from netdetect.model import Finding
from netdetect.tables import addr16


def destination_prevalence(ctx: AnalysisContext, findings: list[Finding]) -> None:
    """Set `prevalence` (distinct clients of the finding's server name, else of its address, among the
    analysed connections) and `dst_first_seen` on each finding that has connections or a DNS count."""
    groups = ctx.groups
    n = len(groups)
    if n:
        named = groups._name_id >= 0
        s_hi, s_lo = split_address(groups._server_raw)
        zero = np.zeros(n, np.uint64)
        dest = hash_columns(
            named.astype(np.uint64),
            np.where(named, groups._name_id.astype(np.uint64), s_hi),
            np.where(named, zero, s_lo),
        )
        c_hi, c_lo = split_address(groups.client_raw)
        _, _, dest_of_group, _ = distinct_keys(dest)
        pair = hash_columns(dest, c_hi, c_lo)
        _, first_pair, _, _ = distinct_keys(pair)
        clients = np.bincount(dest_of_group[first_pair], minlength=int(dest_of_group.max()) + 1)
        group_first = np.full(n, np.inf)
        np.minimum.at(group_first, groups.index, ctx.conns["ts"])
        dest_first = np.full(len(clients), np.inf)
        np.minimum.at(dest_first, dest_of_group, group_first)
        # The first group of each name id, and of each address among groups made by address: what a
        # finding's server name or address is looked up in (a few searches, not a loop over groups).
        name_ids, first_named, _, _ = distinct_keys(groups._name_id)
        unnamed = np.flatnonzero(~named)
        servers, first_unnamed, _, _ = distinct_keys(groups._server_raw[unnamed])
        first_unnamed = unnamed[first_unnamed]
        name_row = {name: i for i, name in enumerate(ctx.names)}
    group_of = np.full(len(findings), -1, np.int64)  # each finding's first group of its destination
    if n:
        by_name = [name_row.get(f.server_name, -1) if f.server_name is not None else -1 for f in findings]
        wanted = np.array(by_name, np.int64)
        group_of = _first_of(name_ids, first_named, wanted, wanted >= 0)
        by_addr = np.array(
            [
                addr16(f.dst_ip) if f.dst_ip is not None and w < 0 else b""
                for f, w in zip(findings, by_name, strict=True)
            ],
            "S16",
        )
        rest = (wanted < 0) & (by_addr != b"")
        group_of = np.where(rest, _first_of(servers, first_unnamed, by_addr, rest), group_of)
        dest = np.where(group_of >= 0, dest_of_group[np.maximum(group_of, 0)], -1)
        counts = np.where(dest >= 0, clients[np.maximum(dest, 0)], 0).tolist()
        firsts = np.where(dest >= 0, dest_first[np.maximum(dest, 0)], np.nan).tolist()
    for i, f in enumerate(findings):
        if group_of[i] >= 0:
            f.prevalence = int(counts[i])
            first = firsts[i]
            f.dst_first_seen = first if first == first and abs(first) != float("inf") else None
            continue
        for ev in f.evidence.values():  # DNS subjects say how many clients looked the domain up
            count = ev.get("clients_of_domain")
            if count is not None:
                f.prevalence = int(count)
                break


def _first_of(keys: np.ndarray, first: np.ndarray, wanted: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Per wanted key (where valid): first[i] for keys[i] == key (keys sorted), else -1."""
    out = np.full(len(wanted), -1, np.int64)
    if not len(keys) or not valid.any():
        return out
    at = np.minimum(np.searchsorted(keys, wanted), len(keys) - 1)
    hit = valid & (keys[at] == wanted)
    out[hit] = first[at[hit]]
    return out
