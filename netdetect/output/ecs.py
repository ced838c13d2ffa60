"""`--format ecs`: one Elastic Common Schema document per finding (docs/schemas/ecs.schema.json).

Standard ECS fields carry what Elastic/Kibana (and OpenSearch, which shares the names) already
understand: who talked to whom, when, how bad; `threat.enrichments[]` lists every intel match in
the shape Elastic's indicator-match rules produce. Everything specific to netdetect lives under
`netdetect.*` with the same names as the JSONL record.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from typing import Any

import numpy as np

from netdetect.model import Finding, IntelHit, Report
from netdetect.output.base import JsonLinesFormatter, chunks, dumps, register
from netdetect.output.columns import RecordColumns, json_strings, json_value
from netdetect.output.records import (
    clamped_score,
    event_time,
    finding_record,
    live_hits,
    severity,
    verdict,
    why,
)
from netdetect.output.text import iso_utc, round_many

ECS_VERSION = "8.11.0"

# Elastic detection-rule severity levels and their numeric values.
SEVERITY_NUMBER = {"info": 1, "low": 21, "medium": 47, "high": 73, "critical": 99}

# Where on an ECS event the matched value would sit.
MATCHED_FIELD = {
    "dns_query": "dns.question.name",
    "dns_answer": "dns.answers.data",
    "dns_cname": "dns.answers.data",
    "sni": "tls.client.server_name",
    "http_host": "url.domain",
    "url": "url.full",
    "dst_ip": "destination.ip",
    "ja3": "tls.client.ja3",
    "ja4": "tls.client.ja4",
}

CONFIDENCE_NAME = {"high": "High", "medium": "Medium", "low": "Low", "none": "None"}


def ecs_confidence(confidence: str | int | None) -> str:
    """ECS threat.indicator.confidence: Not Specified, None, Low, Medium, High (ints: STIX 0-100)."""
    if confidence is None or isinstance(confidence, bool):
        return "Not Specified"
    if isinstance(confidence, int):
        return (
            "High" if confidence >= 70 else "Medium" if confidence >= 30 else "Low" if confidence else "None"
        )
    return CONFIDENCE_NAME.get(str(confidence).strip().lower(), "Not Specified")


def _indicator_type(hit: IntelHit) -> str | None:
    if hit.type == "domain":
        return "domain-name"
    if hit.type == "url":
        return "url"
    if hit.type in ("ip", "cidr"):
        try:
            network = ipaddress.ip_network(hit.indicator, strict=False)
        except ValueError:
            return None
        return "ipv4-addr" if network.version == 4 else "ipv6-addr"
    return None  # ja3/ja4 have no ECS indicator type; netdetect.intel keeps the original


def indicator(hit: IntelHit) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "provider": hit.pack,
        "confidence": ecs_confidence(hit.confidence),
        "sightings": int(hit.count),
    }
    kind = _indicator_type(hit)
    if kind is not None:
        doc["type"] = kind
    if kind == "domain-name":
        doc["url"] = {"domain": hit.indicator}
    elif kind == "url":
        doc["url"] = {"full": hit.indicator}
    elif kind in ("ipv4-addr", "ipv6-addr") and hit.type == "ip":
        doc["ip"] = hit.indicator
    if hit.notes:
        doc["description"] = hit.notes
    return doc


def enrichment(hit: IntelHit) -> dict[str, Any]:
    return {
        "indicator": indicator(hit),
        "feed": {"name": hit.pack},
        "matched": {
            "atomic": hit.value,
            "field": MATCHED_FIELD.get(hit.field, hit.field),
            "type": "indicator_match_rule",
            "occurred": iso_utc(hit.first_seen),
        },
    }


def _drop_none(doc: dict[str, Any]) -> dict[str, Any]:
    """ECS leaves absent fields out rather than null."""
    return {key: value for key, value in doc.items() if value is not None}


def ecs_document(finding: Finding, rank: int, report: Report) -> dict[str, Any]:
    record = finding_record(finding, rank)
    level = severity(finding)
    hits = live_hits(finding)
    category = ["network", "intrusion_detection"] + (["threat"] if hits else [])
    event_type = ["info"] + (["indicator"] if hits else [])
    score = clamped_score(finding) or 0.0
    alerting = verdict(finding) in ("beacon", "intel", "beacon+intel")
    doc: dict[str, Any] = {
        "@timestamp": iso_utc(event_time(finding, report)),
        "ecs": {"version": ECS_VERSION},
        "message": why(finding),
        "event": _drop_none(
            {
                "id": record["id"],
                "kind": "alert" if alerting else "event",
                "category": category,
                "type": event_type,
                "action": _action(finding.kind),
                "module": "netdetect",
                "dataset": "netdetect.findings",
                "provider": "netdetect",
                "severity": SEVERITY_NUMBER[level],
                "risk_score": round(score * 100, 2),
                "risk_score_norm": round(score * 100, 2),
                "start": record["first_seen"],
                "end": record["last_seen"],
                "duration": None if record["duration_s"] is None else int(record["duration_s"] * 1e9),
                "reason": why(finding),
            }
        ),
        "source": {"ip": finding.src_ip},
        "rule": {
            "name": f"netdetect {finding.kind}",
            "category": _rule_category(finding.kind),
            "ruleset": "netdetect",
        },
        "related": {
            "ip": sorted({finding.src_ip, *finding.dst_ips, *([finding.dst_ip] if finding.dst_ip else [])}),
            "hosts": sorted({*([finding.server_name] if finding.server_name else []), *finding.dns_names}),
        },
        "netdetect": record,
    }
    destination = _drop_none(
        {"ip": finding.dst_ip, "port": record["dst_port"], "domain": finding.server_name}
    )
    if destination:
        doc["destination"] = destination
    if finding.proto:
        doc["network"] = {"transport": finding.proto.lower()}
    if not doc["related"]["hosts"]:
        del doc["related"]["hosts"]
    threat: dict[str, Any] = {}
    if finding.beacon:
        threat.update(
            {
                "framework": "MITRE ATT&CK",
                "tactic": {"id": ["TA0011"], "name": ["Command and Control"]},
                "technique": {"id": ["T1071"], "name": ["Application Layer Protocol"]},
            }
        )
    if hits:
        threat["indicator"] = indicator(hits[0])
        threat["feed"] = {"name": hits[0].pack}
        threat["enrichments"] = [enrichment(hit) for hit in hits]
    if threat:
        doc["threat"] = threat
    return doc


_ECS = json_value({"version": ECS_VERSION})
_CATEGORY = json_value(["network", "intrusion_detection"])
_TYPE = json_value(["info"])
_BEACON_THREAT = json_value(
    {
        "framework": "MITRE ATT&CK",
        "tactic": {"id": ["TA0011"], "name": ["Command and Control"]},
        "technique": {"id": ["T1071"], "name": ["Application Layer Protocol"]},
    }
)


def _action(kind: Any) -> str:
    """`beacon-detected`, `heartbeat-detected`, `dns_tunnel-detected` ...; `intel-match` for intel."""
    return "intel-match" if kind == "intel" else f"{kind}-detected"


def _rule_category(kind: Any) -> str:
    return "threat-intel" if kind == "intel" else str(kind)


def _rule(kind: Any) -> str:
    return json_value(
        {
            "name": f"netdetect {kind}",
            "category": _rule_category(kind),
            "ruleset": "netdetect",
        }
    )


# A document without intel hits: its keys in order, optional ones (with their comma) as %s.
_DOCUMENT = (
    '{"@timestamp":%s,"ecs":'
    + _ECS
    + ',"message":%s,"event":{"id":%s,%s,"risk_score":%s,"risk_score_norm":%s'
    '%s%s%s,"reason":%s},"source":{"ip":%s},"rule":%s,"related":{"ip":%s%s},"netdetect":%s%s%s%s}'
)


def ecs_lines(columns: RecordColumns, report: Report) -> list[str]:
    """`dumps(ecs_document(finding, rank, report))` of each finding of `columns`. A document is the
    JSON object of its keys in order, so it is written key by key around the record's own JSON text,
    from the record's encoded values; findings with intel hits (threat fields) take `ecs_document`."""
    records = columns.json()
    text = columns.fragments()
    score = columns.clamped_array
    with np.errstate(invalid="ignore"):
        risk = round_many(np.where(np.isnan(score) | (score == 0.0), 0.0, score) * 100, 2)  # (score or 0.0)
    heads: dict[tuple, str] = {}
    rules: dict[str, str] = {}
    transports: dict[str, str] = {}
    out = []
    fields = zip(
        columns.findings,
        columns.plain,
        columns.verdict,
        columns.severity,
        columns.first_seen,
        columns.last_seen,
        columns.duration_s,
        columns.dst_ips,
        columns.dns_names,
        columns.dst_port,
        strict=True,
    )
    for i, (f, plain, verdict_name, level, first, last, duration, dst_ips, dns_names, port) in enumerate(
        fields
    ):
        if not plain:
            out.append(dumps(ecs_document(f, columns.rank[i], report)))
            continue
        kind, src, dst, name = f.kind, f.src_ip, f.dst_ip, f.server_name
        plain_kind = type(kind) is str
        head = heads.get((verdict_name, kind, level)) if plain_kind else None
        if head is None:
            head = ",".join(
                [
                    '"kind":"alert"'
                    if verdict_name in ("beacon", "intel", "beacon+intel")
                    else '"kind":"event"',
                    '"category":' + _CATEGORY,
                    '"type":' + _TYPE,
                    '"action":' + json_value(_action(kind)),
                    '"module":"netdetect","dataset":"netdetect.findings","provider":"netdetect"',
                    f'"severity":{SEVERITY_NUMBER[level]}',
                ]
            )
            if plain_kind:
                heads[(verdict_name, kind, level)] = head
        rule = rules.get(kind) if plain_kind else None
        if rule is None:
            rule = _rule(kind)
            if plain_kind:
                rules[kind] = rule
        # related.ip / related.hosts: sorted sets; the usual one server and one name without the sets
        if type(src) is str and type(dst) is str and len(dst_ips) == 1 and dst_ips[0] == dst:
            src_text, dst_text = text["src_ip"][i], text["dst_ip"][i]
            related = (
                "[" + src_text + "]"
                if src == dst
                else "[" + (src_text + "," + dst_text if src < dst else dst_text + "," + src_text) + "]"
            )
        else:
            related = json_strings(sorted({src, *dst_ips, *([dst] if dst else [])}))
        if type(name) is str and name and len(dns_names) == 1 and dns_names[0] == name:
            hosts = ',"hosts":[' + text["server_name"][i] + "]"
        else:
            names = sorted({*([name] if name else []), *dns_names})
            hosts = ',"hosts":' + json_strings(names) if names else ""
        destination = [
            key + value
            for key, present, value in (
                ('"ip":', dst is not None, text["dst_ip"][i]),
                ('"port":', port is not None, text["dst_port"][i]),
                ('"domain":', name is not None, text["server_name"][i]),
            )
            if present
        ]
        proto = f.proto
        network = ""
        if proto:
            known = transports.get(proto) if type(proto) is str else None
            if known is None:
                known = ',"network":{"transport":' + json_value(proto.lower()) + "}"
                if type(proto) is str:
                    transports[proto] = known
            network = known
        stamp = text["last_seen"][i] if last is not None else json_value(iso_utc(event_time(f, report)))
        why_text = text["why"][i]
        risk_text = repr(risk[i])
        out.append(
            _DOCUMENT
            % (
                stamp,
                why_text,
                text["id"][i],
                head,
                risk_text,
                risk_text,
                ',"start":' + text["first_seen"][i] if first is not None else "",
                ',"end":' + text["last_seen"][i] if last is not None else "",
                f',"duration":{int(duration * 1e9)}' if duration is not None else "",
                why_text,
                text["src_ip"][i],
                rule,
                related,
                hosts,
                records[i],
                ',"destination":{' + ",".join(destination) + "}" if destination else "",
                network,
                ',"threat":' + _BEACON_THREAT if f.beacon else "",
            )
        )
    return out


@register
class EcsFormatter(JsonLinesFormatter):
    name = "ecs"
    description = "Elastic Common Schema documents, one per line (docs/schemas/ecs.schema.json)"

    def records(self, report: Report) -> Iterator[dict[str, Any]]:
        for rank, finding in enumerate(report.findings, start=1):
            yield ecs_document(finding, rank, report)

    def lines(self, report: Report) -> Iterator[list[str]]:
        for start, findings in chunks(report.findings):
            yield ecs_lines(RecordColumns(findings, start), report)
