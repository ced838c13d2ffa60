"""C2 over DNS and DNS tunnels: data carried in the names one client looks up under one registered
domain, and in the answers it gets back.

RITA counts unique subdomains per domain; a mail server's DNSBL lookups or a busy CDN domain pass
that count while carrying almost nothing. Here the score is the data a group carries:
- names: characters of distinct subdomains, weighted by their alphabet (pooled character entropy,
  bits per character) and counted only as far as the labels look like encoded chunks (long labels:
  hashes, base32/hex/base128 data) rather than words or host tokens;
- answers: bytes of TXT/NULL/CNAME/MX values (downstream data);
- both as a total and as a rate over the covered time of the group's span, so a handful of long
  names in a short capture and a slow trickle over a week are both weighed by what they could carry;
- and per distinct name: tunnels fill each query (or its answer), reputation lookups carry one digest;
- or, when queries carry little each (polls, short chunks), the channel itself: many distinct names
  of the types tunnels ask for (TXT, NULL, CNAME, MX...) asked fast.
Prevalence (clients looking the domain up) lowers the score only when the names are short or
low-entropy: a tunnel run from many hosts is still a tunnel.

Settings (`AnalysisOptions.settings["dns_tunnel"]`): `min_subdomains` (default 10) distinct
subdomains below which a group scores 0; `prevalent_clients` (default 5) clients from which a
domain with short or low-entropy names counts as widely used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

import numpy as np

from netdetect.analysis.dns_domains import DomainLookups, domain_lookups
from netdetect.detectors.base import Detections, Detector, register

if TYPE_CHECKING:
    from netdetect.analysis.context import AnalysisContext

MIN_SUBDOMAINS = 10  # fewer distinct names cannot carry a channel worth reporting
# Data carried (bytes of information) where the total part of the score starts and saturates.
TOTAL_FLOOR_BYTES = 500.0
TOTAL_FULL_BYTES = 10_000.0
# Data rate (bytes of information per covered minute) where the rate part starts and saturates:
# anti-virus hash lookups carry ~10-40 B/min per host, a slow exfiltration ~300 B/min.
RATE_FLOOR = 40.0
RATE_FULL = 250.0
# Encoded text carries about half its bytes as data (hex 4 bits/char, base64 6).
ANSWER_DATA_SHARE = 0.5
# Pooled entropy (bits/char) below which names are not counted as data at all, and where they fully are.
ENTROPY_FLOOR = 2.5
ENTROPY_FULL = 3.5
# Data per distinct name (bytes of information, names and answers) where the payload part starts and
# saturates: a file-reputation lookup carries one digest (16-32 bytes), tunnels fill their names
# (60-150 bytes) or their answers.
PAYLOAD_FLOOR = 24.0
PAYLOAD_FULL = 48.0
# A channel shows even when each query carries little (polls, short chunks): many distinct names of
# the types tunnels ask for (TXT/NULL/CNAME/MX and other non-address types), asked fast.
CHANNEL_NAMES_FLOOR = 20.0
CHANNEL_NAMES_FULL = 200.0
CHANNEL_RATE_FLOOR = 5.0  # lookups per covered minute
CHANNEL_RATE_FULL = 60.0
# Prevalence modifier: domains looked up by this many clients, with short or low-entropy names.
PREVALENT_CLIENTS = 5
SHORT_LABEL = 16.0
LOW_ENTROPY = 3.3
PREVALENT_WEIGHT = 0.5
UNUSUAL_TYPES = "TXT/NULL/CNAME/MX/other"


def _ramp_log(x: np.ndarray, floor: float, full: float) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.clip(np.log(np.maximum(x, 1e-9) / floor) / np.log(full / floor), 0.0, 1.0)


def carried_bytes(table: DomainLookups) -> tuple[np.ndarray, np.ndarray]:
    """(name data, answer data) per group, in bytes of information."""
    alphabet = np.clip((table.entropy - ENTROPY_FLOOR) / (ENTROPY_FULL - ENTROPY_FLOOR), 0.0, 1.0)
    names = table.name_bytes * table.entropy / 8.0 * table.long_label_share * alphabet
    answers = table.answer_bytes * ANSWER_DATA_SHARE
    return names, answers


def tunnel_scores(table: DomainLookups, ctx: AnalysisContext) -> np.ndarray:
    """Score 0..1 per group of the table."""
    names, answers = carried_bytes(table)
    data = names + answers
    covered_min = ctx.covered_s(np.nan_to_num(table.first_seen), np.nan_to_num(table.last_seen)) / 60.0
    rate = data / np.maximum(covered_min, 1.0)
    payload = data / np.maximum(table.distinct_subdomains, 1)
    score = np.sqrt(
        _ramp_log(data, TOTAL_FLOOR_BYTES, TOTAL_FULL_BYTES) * _ramp_log(rate, RATE_FLOOR, RATE_FULL)
    )
    score = score * np.clip((payload - PAYLOAD_FLOOR) / (PAYLOAD_FULL - PAYLOAD_FLOOR), 0.0, 1.0)
    channel = (
        table.unusual_type_share
        * _ramp_log(table.distinct_subdomains, CHANNEL_NAMES_FLOOR, CHANNEL_NAMES_FULL)
        * _ramp_log(table.queries_per_min, CHANNEL_RATE_FLOOR, CHANNEL_RATE_FULL)
    )
    score = np.maximum(score, channel)
    plain_names = (table.mean_label_len < SHORT_LABEL) | (table.entropy < LOW_ENTROPY)
    prevalent_clients = ctx.options.setting(DnsTunnel.name, "prevalent_clients", PREVALENT_CLIENTS)
    prevalent = (table.clients_of_domain >= prevalent_clients) & plain_names
    score = np.where(prevalent, score * PREVALENT_WEIGHT, score)
    min_subdomains = ctx.options.setting(DnsTunnel.name, "min_subdomains", MIN_SUBDOMAINS)
    return np.where(table.distinct_subdomains >= min_subdomains, score, 0.0)


@register
class DnsTunnel(Detector):
    name = "dns_tunnel"
    kind = "dns_tunnel"
    description = "data carried in DNS names and answers under one registered domain (tunnels, C2 over DNS)"
    settings: ClassVar[dict[str, float]] = {
        "prevalent_clients": PREVALENT_CLIENTS,
        "min_subdomains": MIN_SUBDOMAINS,
    }

    def run(self, ctx: AnalysisContext) -> Detections:
        table = domain_lookups(ctx)
        score = tunnel_scores(table, ctx)
        chosen = ctx.reportable(score)
        names, answers = carried_bytes(table)
        evidence = {
            "queries": table.lookups[chosen],
            "distinct_subdomains": table.distinct_subdomains[chosen],
            "mean_label_len": table.mean_label_len[chosen],
            "max_label_len": table.max_label_len[chosen],
            "entropy": table.entropy[chosen],
            "txt_share": table.unusual_type_share[chosen],
            "name_bytes": table.name_bytes[chosen],
            "answer_bytes": table.answer_bytes[chosen],
            "queries_per_min": table.queries_per_min[chosen],
            "clients_of_domain": table.clients_of_domain[chosen],
            "data_bytes": (names + answers)[chosen],
            "rita_subdomains": table.subdomains_of_domain[chosen],
        }
        subjects = table.subjects(chosen)
        return Detections(
            self.name,
            self.kind,
            score[chosen],
            subjects=subjects,
            evidence=evidence,
            why=[_why(table, int(g)) for g in chosen],
        )


def _why(table: DomainLookups, g: int) -> str:
    domain = table.domains[int(table.domain[g])]
    parts = [
        f"{int(table.distinct_subdomains[g]):,} distinct encoded names under {domain}",
        f"label {table.mean_label_len[g]:.0f} chars",
        f"entropy {table.entropy[g]:.1f} bits",
    ]
    if table.unusual_type_share[g] >= 0.05:
        parts.append(f"{table.unusual_type_share[g]:.0%} {UNUSUAL_TYPES}")
    if table.answer_bytes[g] >= 1024:
        parts.append(f"{table.answer_bytes[g] / 1024:,.0f} KiB in answers")
    return ", ".join(parts)
