"""The context stage: from the tables, the connections to score, their server names, the groups,
the time the inputs cover and the intel evidence per group. Every detector reads this, nothing else."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from netdetect.addr import to_text
from netdetect.analysis.names import DnsChains, attribute_names
from netdetect.arrays import distinct_keys, hash_columns, split_address
from netdetect.scoring import DEFAULT_THRESHOLD
from netdetect.scoring.coverage import covered_seconds, merge_spans
from netdetect.tables import addr16
from netdetect.tables.extraction import Extraction

if TYPE_CHECKING:
    from netdetect.detectors.base import Detections
    from netdetect.model import IntelHit

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
    detectors: tuple[str, ...] | None = None  # registry names to run (None: every registered detector)
    # Per-detector settings by detector name, e.g. {"strobe": {"per_day": 86400}} (each detector
    # documents its own keys and defaults).
    settings: dict[str, dict[str, Any]] = field(default_factory=dict)

    def setting(self, detector: str, key: str, default: Any) -> Any:
        return self.settings.get(detector, {}).get(key, default)


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


def make_groups(conns: np.ndarray, name_id: np.ndarray, names: list[str], group_by: str) -> Groups:
    c_hi, c_lo = split_address(conns["client"])
    s_hi, s_lo = split_address(conns["server"])
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


@dataclass
class AnalysisContext:
    """What detectors read. Rows of `conns` are the connections analysed (outside servers unless
    `score_internal`); `groups.index`, `name_id` are per row of `conns`."""

    ex: Extraction
    options: AnalysisOptions
    conns: np.ndarray
    name_id: np.ndarray
    names: list[str]
    chains: DnsChains
    groups: Groups
    coverage: np.ndarray  # (k, 2) f8: disjoint [start, end] intervals the inputs cover, in time order
    window: tuple[float, float] | None  # first and last packet time of all inputs
    group_hits: dict[int, list[IntelHit]] = field(default_factory=dict)  # intel hits by group id
    results: dict[str, Detections] = field(default_factory=dict)  # detections so far, by detector
    # Tables derived from the context that several detectors read (the DNS lookups per registered
    # domain): built by the first that needs one, by name.
    shared: dict[str, Any] = field(default_factory=dict)
    _sizes: np.ndarray | None = None

    @property
    def group_sizes(self) -> np.ndarray:
        """Connections per group."""
        if self._sizes is None:
            self._sizes = np.bincount(self.groups.index, minlength=len(self.groups))
        return self._sizes

    def group_servers(self, gids: np.ndarray) -> list[str]:
        """The server addresses of these groups' connections, as text, most used first."""
        rows = np.flatnonzero(np.isin(self.groups.index, gids))
        servers, counts = np.unique(self.conns["server"][rows], return_counts=True)
        return [to_text(s) for s in servers[np.argsort(-counts, kind="stable")].tolist()]

    def covered_s(self, start: np.ndarray, end: np.ndarray) -> np.ndarray:
        """Seconds of [start, end] (per row) that the inputs cover: gaps between captures do not count."""
        return covered_seconds(self.coverage, np.asarray(start, np.float64), np.asarray(end, np.float64))

    @property
    def min_score(self) -> float:
        """The score from which findings are reported (the threshold unless --min-score says otherwise)."""
        o = self.options
        return o.threshold if o.min_score is None else o.min_score

    def reportable(self, score: np.ndarray) -> np.ndarray:
        """Positions of the scores a row not about a connection group needs to be shown at: such rows
        become findings only from the minimum score on (rows about groups are evidence beside other
        detectors' rows, so a group detector keeps its low rows). Presentation work (names, why
        clauses) is then spent on these rows only."""
        floor = self.min_score
        return np.flatnonzero(score >= floor) if floor > 0 else np.flatnonzero(score > 0)

    def coverage_s(self) -> float:
        """Seconds the inputs cover in all."""
        return float((self.coverage[:, 1] - self.coverage[:, 0]).sum()) if len(self.coverage) else 0.0


def build_context(ex: Extraction, options: AnalysisOptions) -> AnalysisContext:
    conns = ex.conns
    if not options.score_internal and len(conns):
        conns = conns[~in_networks(conns["server"], options.internal)]
    name_id, names, chains = attribute_names(ex, conns)
    groups = make_groups(conns, name_id, names, options.group_by)
    window = (ex.first_ts, ex.last_ts) if ex.first_ts is not None and ex.last_ts is not None else None
    spans = ex.spans or ([window] if window is not None else [])
    return AnalysisContext(ex, options, conns, name_id, names, chains, groups, merge_spans(spans), window)


def in_networks(col: np.ndarray, cidrs: Sequence[str]) -> np.ndarray:
    """Membership of 16-byte addresses (v4-mapped) in CIDRs, vectorised: IPv4 networks as ranges searched
    in one pass, IPv6 networks by prefix mask (on the IPv4-mapped rows only if they can hold some)."""
    hi, lo = split_address(col)
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
