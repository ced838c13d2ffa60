"""DNS beacons: periodic lookups by one client under one registered domain.

An implant that checks in over DNS (or resolves its server before each check-in) shows a regular
series of lookups, whether or not a connection follows and whether each lookup names a new
subdomain (data-carrying or cache-busting names) or gets NXDOMAIN. The lookup times of each
(client, registered domain) are scored with the project's beacon scorer, so the same minimum
check-ins and span rules apply as for connection starts.

Settings (`AnalysisOptions.settings["dns_beacon"]`): `prevalent_clients` (default 5) clients from
which a periodically asked fixed name counts as widely used (its score is lowered, not dropped).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

import numpy as np

from netdetect.analysis.dns_domains import DomainLookups, domain_lookups
from netdetect.arrays import distinct_keys
from netdetect.detectors.base import Detections, Detector, register
from netdetect.scoring import MIN_EVENTS, score_groups

if TYPE_CHECKING:
    from netdetect.analysis.context import AnalysisContext

NEW_NAME_SHARE = 0.5  # lookups naming a new subdomain at least this often: a stream of new names
# A stub resolver re-asks a name when its cached answer expires and the host needs it again: fixed
# names asked with a period between the TTL and a few TTLs may be that rhythm, not an implant's.
CACHE_TTL_MIN_S = 30.0
CACHE_PERIOD_TTLS = 2.0
CACHE_WEIGHT = 0.4
# Fixed names asked periodically by many clients (NTP pools, telemetry): less weight, still shown.
PREVALENT_CLIENTS = 5
PREVALENT_WEIGHT = 0.6


@register
class DnsBeacon(Detector):
    name = "dns_beacon"
    kind = "dns_beacon"
    description = "periodic DNS lookups under one registered domain (with or without a connection)"
    settings: ClassVar[dict[str, float]] = {"prevalent_clients": PREVALENT_CLIENTS}

    def run(self, ctx: AnalysisContext) -> Detections:
        table = domain_lookups(ctx)
        candidates = np.flatnonzero(table.lookups >= MIN_EVENTS)
        if not len(candidates):
            return Detections(self.name, self.kind, np.zeros(0), subjects=table.subjects(candidates))
        # Lookup rows of the candidate groups, renumbered 0..k-1 for the scorer.
        counts = table.lookups[candidates]
        group = np.repeat(np.arange(len(candidates)), counts)
        within = np.arange(len(group)) - np.repeat(np.cumsum(counts) - counts, counts)
        rows = table.starts[candidates][group] + within
        ts = table.times_sorted[rows]
        # The name length stands for the check-in size: constant-length names add size regularity.
        ids, _, which, _ = distinct_keys(table.query_sorted[rows])
        values = table.pool_values
        name_len = np.array([len(values[i]) if i >= 0 else 0 for i in ids.tolist()], np.float64)[which]
        zeros = np.zeros(len(rows))
        scores = score_groups(
            group,
            ts,
            name_len,
            zeros,
            zeros,
            len(candidates),
            coverage=ctx.coverage,
            threshold=ctx.options.threshold,
        )
        prevalent_clients = ctx.options.setting(self.name, "prevalent_clients", PREVALENT_CLIENTS)
        score = scores.score * _weights(table, candidates, scores.period_s, prevalent_clients)
        reported = ctx.reportable(score)
        chosen = candidates[reported]
        period = scores.period_s[reported]
        jitter = scores.jitter[reported]
        evidence: dict[str, np.ndarray | list] = {
            "period_s": period,
            "jitter": jitter,
            "missed_share": scores.missed_share[reported],
            "lookups": table.lookups[chosen],
            "distinct_subdomains": table.distinct_subdomains[chosen],
            "nxdomain_share": table.nxdomain_share[chosen],
            "answer_ttl": table.answer_ttl[chosen],
            "clients_of_domain": table.clients_of_domain[chosen],
        }
        why = _whys(table, chosen, period, jitter, prevalent_clients)
        return Detections(
            self.name,
            self.kind,
            score[reported],
            subjects=table.subjects(chosen),
            evidence=evidence,
            why=why,
        )


def _fixed_names(table: DomainLookups, groups: np.ndarray) -> np.ndarray:
    return table.distinct_subdomains[groups] < NEW_NAME_SHARE * table.lookups[groups]


def _cache_rhythm(table: DomainLookups, groups: np.ndarray, period: np.ndarray) -> np.ndarray:
    ttl = table.answer_ttl[groups]
    with np.errstate(invalid="ignore"):
        near_ttl = (ttl >= CACHE_TTL_MIN_S) & (period >= 0.9 * ttl) & (period <= CACHE_PERIOD_TTLS * ttl)
    return _fixed_names(table, groups) & near_ttl


def _prevalent(table: DomainLookups, groups: np.ndarray, prevalent_clients: int) -> np.ndarray:
    return _fixed_names(table, groups) & (table.clients_of_domain[groups] >= prevalent_clients)


def _weights(
    table: DomainLookups, groups: np.ndarray, period: np.ndarray, prevalent_clients: int
) -> np.ndarray:
    """Modifiers, never filters: a cache rhythm or a widely shared fixed name lowers the score."""
    return np.where(_cache_rhythm(table, groups, period), CACHE_WEIGHT, 1.0) * np.where(
        _prevalent(table, groups, prevalent_clients), PREVALENT_WEIGHT, 1.0
    )


def _whys(
    table: DomainLookups, groups: np.ndarray, period: np.ndarray, jitter: np.ndarray, prevalent_clients: int
) -> list[str]:
    """The why clause of each group; the modifiers' tests run once over all of them."""
    fixed = _fixed_names(table, groups).tolist()
    cache = _cache_rhythm(table, groups, period).tolist()
    shared = _prevalent(table, groups, prevalent_clients).tolist()
    out = []
    for i, g in enumerate(groups.tolist()):
        out.append(_why(table, g, float(period[i]), float(jitter[i]), fixed[i], cache[i], shared[i]))
    return out


def _why(
    table: DomainLookups, g: int, period: float, jitter: float, fixed: bool, cache: bool, shared: bool
) -> str:
    domain = table.domains[int(table.domain[g])]
    subs = int(table.distinct_subdomains[g])
    every = f"every {period:,.0f}s" if np.isfinite(period) else "at regular times"
    spread = f" jitter {jitter:.2f}" if np.isfinite(jitter) else ""
    nx = table.nxdomain_share[g]
    tail = f", {nx:.0%} NXDOMAIN" if nx >= 0.5 else ""
    if not fixed:
        what = f"lookups of {subs:,} new names under {domain}"
    elif subs > 1:
        what = f"lookups of {subs:,} names under {domain}"
    else:
        what = f"lookups of {table.example_names(g, 1)[0]}"
    if cache:
        tail += f", period near the answer TTL {table.answer_ttl[g]:,.0f}s (cache refresh?)"
    if shared:
        tail += f", asked by {int(table.clients_of_domain[g]):,} clients"
    return f"{what} {every}{spread}{tail}"
