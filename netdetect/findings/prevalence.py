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
        name_row = {name: i for i, name in enumerate(ctx.names)}
        by_name: dict[int, int] = {}
        by_addr: dict[bytes, int] = {}
        for g, (nid, server) in enumerate(
            zip(groups._name_id.tolist(), groups._server_raw.tolist(), strict=True)
        ):
            if nid >= 0:
                by_name.setdefault(nid, g)
            else:
                by_addr.setdefault(server, g)
    for f in findings:
        g = None
        if n:
            if f.server_name is not None and f.server_name in name_row:
                g = by_name.get(name_row[f.server_name])
            elif f.dst_ip is not None:
                g = by_addr.get(addr16(f.dst_ip).rstrip(b"\0"))  # tolist() drops trailing NULs too
        if g is not None:
            d = dest_of_group[g]
            f.prevalence = int(clients[d])
            first = float(dest_first[d])
            f.dst_first_seen = first if np.isfinite(first) else None
            continue
        for ev in f.evidence.values():  # DNS subjects say how many clients looked the domain up
            count = ev.get("clients_of_domain")
            if count is not None:
                f.prevalence = int(count)
                break
