"""`--format eve`: Suricata EVE-style `alert` records (docs/schemas/eve.schema.json).

Pipelines that already ingest `eve.json` (Filebeat/Elastic Agent suricata module, Logstash,
Splunk TA, EveBox, Security Onion) take these lines unchanged. Signature ids sit in Suricata's
local-use range (1000000-1999999), one per kind of finding, so SIEM rules can key on them;
per-finding detail is in `alert.metadata` (string lists, as Suricata writes them) and in the
`netdetect` object (the JSONL record).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from netdetect.model import Finding, Report
from netdetect.output.base import JsonLinesFormatter, chunks, dumps, register
from netdetect.output.columns import RecordColumns, _encode_string, json_value
from netdetect.output.records import clamped_score, event_time, finding_record, live_hits, severity, verdict
from netdetect.output.text import eve_time, eve_time_many


@dataclass(frozen=True, slots=True)
class Signature:
    sid: int
    msg: str
    category: str  # a Suricata classtype description


SIGNATURES: dict[str, Signature] = {
    "beacon+intel": Signature(
        1970003,
        "NETDETECT Periodic beacon to a threat-intel listed destination",
        "A Network Trojan was detected",
    ),
    "intel": Signature(1970002, "NETDETECT Threat-intel indicator seen", "A Network Trojan was detected"),
    "beacon": Signature(1970001, "NETDETECT Periodic beacon", "Potentially Bad Traffic"),
    "low": Signature(1970004, "NETDETECT Periodic connections below the beacon threshold", "Misc activity"),
    "allowlisted": Signature(1970005, "NETDETECT Allowlisted periodic connections", "Misc activity"),
}
SIGNATURE_REV = 1

# Suricata severities: 1 high, 2 medium, 3 low.
EVE_SEVERITY = {"critical": 1, "high": 1, "medium": 2, "low": 3, "info": 3}


def _metadata(finding: Finding, record: dict[str, Any]) -> dict[str, list[str]]:
    hits = live_hits(finding)
    meta: dict[str, list[str]] = {
        "netdetect_id": [record["id"]],
        "netdetect_score": [f"{clamped_score(finding) or 0.0:.4f}"],
        "connections": [str(record["connections"])],
    }
    if record["period_s"] is not None:
        meta["period_s"] = [f"{record['period_s']:g}"]
    if record["jitter"] is not None:
        meta["jitter"] = [f"{record['jitter']:g}"]
    if hits:
        meta["intel_pack"] = sorted({hit.pack for hit in hits})
        meta["intel_indicator"] = [hit.indicator for hit in hits]
        meta["intel_confidence"] = [str(hit.confidence) for hit in hits]
        meta["intel_field"] = [hit.field for hit in hits]
    if finding.beacon:
        meta["mitre_tactic_id"] = ["TA0011"]
        meta["mitre_technique_id"] = ["T1071"]
    return meta


def _app_layer(finding: Finding) -> dict[str, Any]:
    """Suricata-shaped app-layer objects for the names the intel matched on."""
    out: dict[str, Any] = {}
    hits = live_hits(finding)
    sni = next((hit.value for hit in hits if hit.field == "sni"), None)
    host = next((hit.value for hit in hits if hit.field == "http_host"), None)
    queries = [hit.value for hit in hits if hit.field in ("dns_query", "dns_answer", "dns_cname")]
    if sni is not None:
        out["app_proto"] = "tls"
        out["tls"] = {"sni": sni}
    elif host is not None:
        out["app_proto"] = "http"
        out["http"] = {"hostname": host}
    elif queries:
        out["app_proto"] = "dns"
    if queries:
        out["dns"] = {"query": [{"type": "query", "rrname": name} for name in dict.fromkeys(queries)]}
    return out


def eve_alert(finding: Finding, rank: int, report: Report) -> dict[str, Any]:
    record = finding_record(finding, rank)
    event: dict[str, Any] = {
        "timestamp": eve_time(event_time(finding, report)),
        "flow_id": int(record["id"][:13], 16),  # 52 bits: exact in JSON readers that use doubles
        "event_type": "alert",
        "src_ip": finding.src_ip,
    }
    if finding.dst_ip is not None:
        event["dest_ip"] = finding.dst_ip
    if finding.dst_port is not None:
        event["dest_port"] = int(finding.dst_port)
    if finding.proto:
        event["proto"] = finding.proto.upper()
    alert = _alert_keys(verdict(finding), severity(finding))
    event["alert"] = {**alert, "metadata": _metadata(finding, record)}
    event.update(_app_layer(finding))
    flow = {"start": eve_time(finding.first_seen), "end": eve_time(finding.last_seen)}
    event["flow"] = {key: value for key, value in flow.items() if value is not None}
    event["netdetect"] = record
    return event


def _alert_keys(verdict_name: str, severity_name: str) -> dict[str, Any]:
    """The `alert` object's keys before its metadata."""
    signature = SIGNATURES[verdict_name]
    return {
        "action": "allowed",
        "gid": 1,
        "signature_id": signature.sid,
        "rev": SIGNATURE_REV,
        "signature": signature.msg,
        "category": signature.category,
        "severity": EVE_SEVERITY[severity_name],
    }


def _alert_head(verdict_name: str, severity_name: str) -> str:
    """`_alert_keys` as the JSON text that opens the `alert` object, up to its metadata."""
    return json_value(_alert_keys(verdict_name, severity_name))[:-1] + ',"metadata":'


def eve_lines(columns: RecordColumns, report: Report) -> list[str]:
    """`dumps(eve_alert(finding, rank, report))` of each finding of `columns`, written key by key
    around the record's own JSON text from the record's encoded values; findings with intel hits take
    `eve_alert` itself."""
    records = columns.json()
    text = columns.fragments()
    enc = _encode_string
    first_times = eve_time_many(columns.first_values, columns.first_array)
    last_times = eve_time_many(columns.last_values, columns.last_array)
    heads: dict[tuple[str, str], str] = {}
    scores: dict[float | None, str] = {}
    protos: dict[str, str] = {}
    out = []
    fields = zip(
        columns.findings,
        columns.plain,
        columns.id,
        columns.verdict,
        columns.severity,
        columns.clamped,
        columns.period_s,
        columns.jitter,
        columns.last_seen,
        first_times,
        last_times,
        strict=True,
    )
    for i, (f, plain, record_id, verdict_name, level, clamped, period, jitter, last, start, end) in enumerate(
        fields
    ):
        if not plain:
            out.append(dumps(eve_alert(f, columns.rank[i], report)))
            continue
        stamp = end if last is not None else eve_time(event_time(f, report))
        parts = [
            '{"timestamp":' + json_value(stamp),
            f'"flow_id":{int(record_id[:13], 16)}',
            '"event_type":"alert"',
        ]
        parts.append('"src_ip":' + text["src_ip"][i])
        if f.dst_ip is not None:
            parts.append('"dest_ip":' + text["dst_ip"][i])
        if f.dst_port is not None:
            parts.append(f'"dest_port":{int(f.dst_port)}')
        proto = f.proto
        if proto:
            proto_text = protos.get(proto) if type(proto) is str else None
            if proto_text is None:
                proto_text = '"proto":' + json_value(proto.upper())
                if type(proto) is str:
                    protos[proto] = proto_text
            parts.append(proto_text)
        head = heads.get((verdict_name, level))
        if head is None:
            head = heads[(verdict_name, level)] = _alert_head(verdict_name, level)
        score = scores.get(clamped)  # -0.0 and 0.0 share a key: both read "0.0000"
        if score is None:
            score = scores[clamped] = '"netdetect_score":[' + enc(f"{clamped or 0.0:.4f}") + "]"
        meta = (
            '"netdetect_id":['
            + text["id"][i]
            + "],"
            + score
            + ',"connections":["'
            + text["connections"][i]
            + '"]'
        )
        if period is not None:
            meta += ',"period_s":[' + enc(f"{period:g}") + "]"
        if jitter is not None:
            meta += ',"jitter":[' + enc(f"{jitter:g}") + "]"
        if f.beacon:
            meta += ',"mitre_tactic_id":["TA0011"],"mitre_technique_id":["T1071"]'
        parts.append('"alert":' + head + "{" + meta + "}}")
        if start is not None and end is not None:
            parts.append('"flow":{"start":' + enc(start) + ',"end":' + enc(end) + "}")
        else:
            flow = ([f'"start":{enc(start)}'] if start is not None else []) + (
                [f'"end":{enc(end)}'] if end is not None else []
            )
            parts.append('"flow":{' + ",".join(flow) + "}")
        parts.append('"netdetect":' + records[i] + "}")
        out.append(",".join(parts))
    return out


@register
class EveFormatter(JsonLinesFormatter):
    name = "eve"
    description = "Suricata EVE-style alert records, one per line (docs/schemas/eve.schema.json)"

    def records(self, report: Report) -> Iterator[dict[str, Any]]:
        for rank, finding in enumerate(report.findings, start=1):
            yield eve_alert(finding, rank, report)

    def lines(self, report: Report) -> Iterator[list[str]]:
        for start, findings in chunks(report.findings):
            yield eve_lines(RecordColumns(findings, start), report)
