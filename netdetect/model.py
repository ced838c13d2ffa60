"""The data that flows between pipeline stages.

Everything after `capture/` and `decode/` works on these dataclasses and on
numpy column tables, never on packet-library objects, so scoring, intel and
output can be tested without captures and handed to Arrow/Dask unchanged.

Addresses are text (`ipaddress` compressed form) in events and findings, and
16-byte values (IPv4 mapped into ::ffff:0:0/96) in numpy tables.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

# One row per TCP connection or UDP flow. Column order is the Arrow/Parquet schema.
CONN_DTYPE = np.dtype(
    [
        ("ts", "f8"),  # first packet, epoch seconds
        ("end_ts", "f8"),  # last packet
        ("client", "S16"),  # initiator address, 16 bytes (v4-mapped)
        ("server", "S16"),
        ("client_port", "u2"),
        ("server_port", "u2"),
        ("proto", "u1"),  # 6 TCP, 17 UDP
        ("bytes_out", "i8"),  # IP bytes client -> server (from IP length, so snaplen does not matter)
        ("bytes_in", "i8"),  # IP bytes server -> client
        ("packets_out", "i8"),
        ("packets_in", "i8"),
        # Connection id: hash of the flow's 5-tuple key and start time (the activity marks' link).
        ("uid", "u8"),
    ]
)


@dataclass(slots=True)
class DnsAnswer:
    name: str
    rtype: str  # "A", "AAAA", "CNAME", "HTTPS", ...
    value: str
    ttl: int


@dataclass(slots=True)
class DnsEvent:
    ts: float
    client: str
    server: str
    client_port: int
    server_port: int
    transport: str  # "udp" | "tcp"
    txid: int
    query: str  # lower-case, no trailing dot; root is ""
    qtype: str
    is_response: bool
    rcode: int | None = None
    answers: list[DnsAnswer] = field(default_factory=list)


@dataclass(slots=True)
class TlsEvent:
    ts: float
    client: str
    server: str
    client_port: int
    server_port: int
    transport: str  # "tcp" | "quic"
    sni: str | None
    alpn: list[str] = field(default_factory=list)
    versions: list[int] = field(default_factory=list)
    ech: bool = False
    ja3: str | None = None
    ja3_hash: str | None = None
    ja4: str | None = None


@dataclass(slots=True)
class HttpEvent:
    ts: float
    client: str
    server: str
    client_port: int
    server_port: int
    method: str
    host: str | None
    uri: str
    user_agent: str | None


@dataclass(slots=True)
class IntelHit:
    """One indicator matched by one client; repeated sightings merge into first/last/count."""

    indicator: str
    type: str  # domain | ip | cidr | url | ja3 | ja4
    pack: str
    confidence: str | int | None
    field: str  # dns_query | dns_answer | dns_cname | sni | http_host | url | dst_ip | ja3 | ja4
    value: str  # what was seen on the wire
    client: str
    first_seen: float
    last_seen: float
    count: int = 1
    expired: bool = False
    benign: bool = (
        False  # context-only indicator (a legitimate service the actor abused): never a finding alone
    )
    notes: str | None = None


@dataclass(slots=True)
class Finding:
    kind: str  # "intel" when a threat indicator matched, else the main detector's kind (see `detector`)
    src_ip: str
    dst_ip: str | None
    dst_ips: list[str]
    dst_port: int | None
    server_name: str | None
    score: float
    beacon: bool
    period_s: float | None
    jitter: float | None
    connections: int
    first_seen: float
    last_seen: float
    subscores: dict[str, float] = field(default_factory=dict)
    intel: list[IntelHit] = field(default_factory=list)
    missed_share: float | None = None
    interval_histogram: list[int] = field(default_factory=list)
    interval_bin_edges_s: list[float] = field(default_factory=list)
    dns_names: list[str] = field(default_factory=list)
    allowlisted: str | None = None  # the allowlist entry that suppressed it
    proto: str | None = None  # "tcp" | "udp" when known (EVE proto, ECS network.transport)
    # Per-connection detail for plots and `show`; not serialised in jsonl.
    times: np.ndarray | None = field(default=None, repr=False)
    sizes: np.ndarray | None = field(default=None, repr=False)
    # The detector whose score the finding carries ("beacon", "heartbeat", "dns_tunnel" ...; "intel" for
    # a sighting no detector scored), and the evidence of every detector that spoke of this subject.
    detector: str = "beacon"
    evidence: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Internal clients that contacted this destination (server name, else address) in the inputs, and
    # when the first of them did: a fleet-wide service has many, a fresh implant few.
    prevalence: int | None = None
    dst_first_seen: float | None = None


@dataclass(slots=True)
class Summary:
    captures: list[str]
    packets: int = 0
    bytes: int = 0
    first_ts: float | None = None
    last_ts: float | None = None
    hosts: int = 0
    connections: int = 0
    groups_scored: int = 0
    dns_events: int = 0
    tls_events: int = 0
    http_events: int = 0
    decode_errors: dict[str, int] = field(default_factory=dict)
    allowlisted: int = 0
    intel_indicators: int = 0
    intel_packs: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    detections: dict[str, int] = field(default_factory=dict)  # rows each detector scored, by detector
    detector_skipped: dict[str, int] = field(default_factory=dict)  # "rotating.sets_over_max": n left out


@dataclass(slots=True)
class Report:
    summary: Summary
    findings: list[Finding]
    threshold: float
    extra: dict[str, Any] = field(default_factory=dict)
