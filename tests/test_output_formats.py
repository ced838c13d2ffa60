"""Machine formats (jsonl, csv, ecs, eve): values, schema validity, hostile and broken inputs."""

from __future__ import annotations

import csv
import functools
import io
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource

from netdetect.errors import UsageError
from netdetect.model import Finding, IntelHit, Report, Summary
from netdetect.output import FORMATS, write_report
from netdetect.output.csvfmt import COLUMNS
from netdetect.testing.sample import HOSTILE_NAMES, sample_report

DOCS = Path(__file__).resolve().parent.parent / "docs"
START = 1680084000.0  # 2023-03-29T10:00:00Z


def load_schema(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


FINDINGS_SCHEMA = load_schema(DOCS / "findings.schema.json")
SCHEMAS = {
    "jsonl": FINDINGS_SCHEMA,
    "ecs": load_schema(DOCS / "schemas" / "ecs.schema.json"),
    "eve": load_schema(DOCS / "schemas" / "eve.schema.json"),
    "csv": load_schema(DOCS / "schemas" / "csv.schema.json"),
}
REGISTRY = Registry().with_resources(
    (schema["$id"], Resource.from_contents(schema)) for schema in SCHEMAS.values()
)


@functools.cache
def validator(fmt: str) -> Draft202012Validator:
    schema = SCHEMAS[fmt]
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, registry=REGISTRY, format_checker=FormatChecker())


def render(report: Report, fmt: str) -> str:
    stream = io.StringIO()
    write_report(report, fmt, stream)
    return stream.getvalue()


def records(report: Report, fmt: str) -> list[dict[str, Any]]:
    text = render(report, fmt)
    if fmt == "csv":
        return list(csv.DictReader(io.StringIO(text)))
    return [json.loads(line) for line in text.splitlines()]


def finding(**overrides: Any) -> Finding:
    values: dict[str, Any] = dict(
        kind="beacon",
        src_ip="10.0.0.5",
        dst_ip="192.0.2.10",
        dst_ips=["192.0.2.10", "192.0.2.11"],
        dst_port=443,
        server_name="c2.example",
        score=0.91,
        beacon=True,
        period_s=60.0,
        jitter=0.05,
        connections=120,
        first_seen=START,
        last_seen=START + 7200.5,
        subscores={"interval": 0.95, "size": 0.8},
        dns_names=["c2.example"],
        proto="tcp",
    )
    values.update(overrides)
    return Finding(**values)


def hit(**overrides: Any) -> IntelHit:
    values: dict[str, Any] = dict(
        indicator="c2.example",
        type="domain",
        pack="3cx",
        confidence="high",
        field="sni",
        value="www.c2.example",
        client="10.0.0.5",
        first_seen=START + 60,
        last_seen=START + 7200,
        count=42,
    )
    values.update(overrides)
    return IntelHit(**values)


def report_of(*findings: Finding) -> Report:
    return Report(summary=Summary(captures=["a.pcap"]), findings=list(findings), threshold=0.7)


def broken_report() -> Report:
    """NaN and infinities everywhere a number can be, empty lists, missing destination."""
    nan = float("nan")
    return report_of(
        finding(
            score=nan,
            period_s=nan,
            jitter=math.inf,
            first_seen=nan,
            last_seen=math.inf,
            subscores={"interval": nan, "size": -math.inf},
            missed_share=nan,
            interval_histogram=[1, 2],
            interval_bin_edges_s=[0.0, nan, 2.0],
            times=np.array([nan, 1.0]),
        ),
        finding(
            kind="intel",
            dst_ip=None,
            dst_ips=[],
            dst_port=None,
            server_name=None,
            proto=None,
            score=0.0,
            beacon=False,
            connections=0,
            subscores={},
            dns_names=[],
            period_s=None,
            jitter=None,
            intel=[hit(field="dns_query", value="c2.example", confidence=None, first_seen=nan)],
        ),
    )


ALL_REPORTS = {
    "sample": sample_report(),
    "hostile": sample_report(hostile=True),
    "broken": broken_report(),
    "empty": report_of(),
}


def test_registry_names_the_documented_formats() -> None:
    assert set(FORMATS) == {"table", "jsonl", "csv", "ecs", "eve"}
    assert all(cls.name == name for name, cls in FORMATS.items())


def test_unknown_format_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="unknown output format 'xml'.*jsonl"):
        write_report(report_of(), "xml", io.StringIO())


@pytest.mark.parametrize("fmt", ["jsonl", "ecs", "eve", "csv"])
@pytest.mark.parametrize("name", sorted(ALL_REPORTS))
def test_every_record_validates_against_its_schema(fmt: str, name: str) -> None:
    report = ALL_REPORTS[name]
    rows = records(report, fmt)
    assert len(rows) == len(report.findings)
    check = validator(fmt)
    for row in rows:
        errors = sorted(check.iter_errors(row), key=str)
        assert not errors, [f"{list(e.absolute_path)}: {e.message}" for e in errors]


@pytest.mark.parametrize("fmt", ["jsonl", "ecs", "eve"])
def test_nan_never_reaches_json(fmt: str) -> None:
    text = render(broken_report(), fmt)
    assert "NaN" not in text and "Infinity" not in text
    for line in text.splitlines():
        json.loads(line, parse_constant=lambda token: pytest.fail(f"non-standard JSON constant {token}"))


def test_jsonl_record_values() -> None:
    report = report_of(
        finding(
            intel=[hit()],
            missed_share=0.1,
            interval_histogram=[0, 5, 100],
            interval_bin_edges_s=[0.0, 30.0, 60.0, 90.0],
        )
    )
    (row,) = records(report, "jsonl")
    assert row["rank"] == 1
    assert row["kind"] == "beacon" and row["verdict"] == "beacon+intel" and row["severity"] == "critical"
    assert (row["src_ip"], row["dst_ip"], row["dst_port"], row["proto"]) == (
        "10.0.0.5",
        "192.0.2.10",
        443,
        "tcp",
    )
    assert row["dst_ips"] == ["192.0.2.10", "192.0.2.11"]
    assert row["server_name"] == "c2.example"
    assert (row["score"], row["beacon"], row["period_s"], row["jitter"]) == (0.91, True, 60.0, 0.05)
    assert row["first_seen"] == "2023-03-29T10:00:00.000Z"
    assert row["last_seen"] == "2023-03-29T12:00:00.500Z"
    assert row["duration_s"] == 7200.5
    assert row["subscores"] == {"interval": 0.95, "size": 0.8}
    assert row["interval_histogram"] == [0, 5, 100]
    assert row["intel"] == [
        {
            "indicator": "c2.example",
            "type": "domain",
            "pack": "3cx",
            "confidence": "high",
            "field": "sni",
            "value": "www.c2.example",
            "first_seen": "2023-03-29T10:01:00.000Z",
            "last_seen": "2023-03-29T12:00:00.000Z",
            "count": 42,
            "expired": False,
            "notes": None,
        }
    ]
    assert row["why"] == "intel: c2.example (3cx, high, sni); period 60s jitter 0.05; missed 10%"
    assert len(row["id"]) == 16


def test_broken_numbers_become_null() -> None:
    first, second = records(broken_report(), "jsonl")
    assert first["score"] is None and first["period_s"] is None and first["jitter"] is None
    assert first["first_seen"] is None and first["last_seen"] is None and first["duration_s"] is None
    assert first["subscores"] == {"interval": None, "size": None}
    assert first["interval_bin_edges_s"] == [0.0, None, 2.0]
    assert second["intel"][0]["first_seen"] is None
    assert second["why"] == "intel: c2.example (3cx, ?, dns_query); lookup only, no connection followed"


def test_verdict_and_severity_rules() -> None:
    cases = [
        (finding(), "beacon", "medium"),
        (finding(intel=[hit(confidence="medium")]), "beacon+intel", "high"),
        (finding(beacon=False, score=0.2, intel=[hit()]), "intel", "high"),
        (finding(beacon=False, score=0.2, intel=[hit(confidence=40)]), "intel", "medium"),
        (finding(beacon=False, score=0.2), "low", "low"),
        (finding(beacon=False, intel=[hit(expired=True)]), "low", "low"),  # expired intel is context only
        (finding(allowlisted="updates.example"), "allowlisted", "info"),
    ]
    rows = records(report_of(*(case[0] for case in cases)), "jsonl")
    assert [(row["verdict"], row["severity"]) for row in rows] == [case[1:] for case in cases]


def test_finding_id_is_stable_and_distinguishes_groups() -> None:
    a1, a2, b = records(report_of(finding(), finding(score=0.2), finding(src_ip="10.0.0.6")), "jsonl")
    assert a1["id"] == a2["id"] != b["id"]


def test_csv_columns_and_flattening() -> None:
    report = report_of(
        finding(
            intel=[hit(), hit(field="dns_query", value="c2.example", confidence=80)],
            dns_names=["c2.example", "weird;name.example"],
            interval_histogram=[1, 2],
            interval_bin_edges_s=[0.0, 1.5, 3.0],
        ),
        finding(server_name='=HYPERLINK("http://x")', dns_names=["-cmd"], beacon=False, score=0.3),
    )
    text = render(report, "csv")
    assert text.split("\r\n")[0].split(",") == list(COLUMNS) == SCHEMAS["csv"]["required"]
    first, second = csv.DictReader(io.StringIO(text))
    assert first["dst_ips"] == "192.0.2.10;192.0.2.11"
    assert first["intel_fields"] == "sni;dns_query"
    assert first["intel_confidence"] == "high;80"
    assert first["intel_values"] == "www.c2.example;c2.example"
    assert first["dns_names"] == "c2.example;weird\\x3bname.example"
    assert first["subscores"] == "interval=0.95;size=0.8"
    assert first["interval_bin_edges_s"] == "0.0;1.5;3.0"
    assert first["beacon"] == "true" and first["first_seen"] == "2023-03-29T10:00:00.000Z"
    # Spreadsheet formula injection from wire names is defused.
    assert second["server_name"] == '\'=HYPERLINK("http://x")'
    assert second["dns_names"] == "'-cmd"


def test_csv_keeps_embedded_newlines_inside_one_record() -> None:
    report = report_of(finding(server_name='line1\nline2,"quoted"'))
    (row,) = records(report, "csv")
    assert row["server_name"] == 'line1\nline2,"quoted"'


def test_ecs_document_fields() -> None:
    report = report_of(
        finding(
            intel=[
                hit(),
                hit(
                    type="ip", indicator="192.0.2.10", field="dst_ip", value="192.0.2.10", confidence="medium"
                ),
            ]
        )
    )
    (doc,) = records(report, "ecs")
    assert doc["@timestamp"] == "2023-03-29T12:00:00.500Z"
    assert doc["event"]["kind"] == "alert"
    assert doc["event"]["category"] == ["network", "intrusion_detection", "threat"]
    assert doc["event"]["module"] == "netdetect" and doc["event"]["dataset"] == "netdetect.findings"
    assert doc["event"]["severity"] == 99 and doc["event"]["risk_score"] == 91.0
    assert doc["event"]["duration"] == 7_200_500_000_000
    assert doc["source"] == {"ip": "10.0.0.5"}
    assert doc["destination"] == {"ip": "192.0.2.10", "port": 443, "domain": "c2.example"}
    assert doc["network"] == {"transport": "tcp"}
    assert doc["threat"]["indicator"] == {
        "provider": "3cx",
        "confidence": "High",
        "sightings": 42,
        "type": "domain-name",
        "url": {"domain": "c2.example"},
    }
    matched = [e["matched"] for e in doc["threat"]["enrichments"]]
    assert [(m["atomic"], m["field"]) for m in matched] == [
        ("www.c2.example", "tls.client.server_name"),
        ("192.0.2.10", "destination.ip"),
    ]
    assert doc["threat"]["enrichments"][1]["indicator"]["type"] == "ipv4-addr"
    assert doc["threat"]["tactic"]["id"] == ["TA0011"]
    assert doc["related"]["ip"] == ["10.0.0.5", "192.0.2.10", "192.0.2.11"]
    assert doc["netdetect"]["score"] == 0.91


def test_ecs_low_finding_is_an_event_without_threat() -> None:
    (doc,) = records(report_of(finding(beacon=False, score=0.3)), "ecs")
    assert doc["event"]["kind"] == "event"
    assert "threat" not in doc
    assert doc["event"]["category"] == ["network", "intrusion_detection"]


def test_eve_alert_fields() -> None:
    report = report_of(
        finding(intel=[hit()]),
        finding(
            kind="intel",
            dst_ip=None,
            dst_ips=[],
            dst_port=None,
            proto=None,
            beacon=False,
            score=0.0,
            connections=0,
            intel=[hit(field="dns_query", value="c2.example", confidence="medium")],
        ),
        finding(beacon=False, score=0.1),
    )
    first, second, third = records(report, "eve")
    assert first["event_type"] == "alert"
    assert first["timestamp"] == "2023-03-29T12:00:00.500000+0000"
    assert (first["src_ip"], first["dest_ip"], first["dest_port"], first["proto"]) == (
        "10.0.0.5",
        "192.0.2.10",
        443,
        "TCP",
    )
    assert first["alert"]["signature_id"] == 1970003 and first["alert"]["severity"] == 1
    assert first["alert"]["category"] == "A Network Trojan was detected"
    assert first["alert"]["metadata"]["intel_indicator"] == ["c2.example"]
    assert first["app_proto"] == "tls" and first["tls"] == {"sni": "www.c2.example"}
    assert first["flow"] == {
        "start": "2023-03-29T10:00:00.000000+0000",
        "end": "2023-03-29T12:00:00.500000+0000",
    }
    assert "dest_ip" not in second and "proto" not in second
    assert second["alert"]["signature_id"] == 1970002 and second["alert"]["severity"] == 2
    assert second["dns"] == {"query": [{"type": "query", "rrname": "c2.example"}]}
    assert third["alert"]["signature_id"] == 1970004 and third["alert"]["severity"] == 3
    assert first["flow_id"] == int(first["netdetect"]["id"][:13], 16)


def test_hostile_names_survive_as_data_in_machine_formats() -> None:
    rows = records(sample_report(hostile=True), "jsonl")
    assert rows[0]["server_name"] == HOSTILE_NAMES[0]
    assert rows[2]["server_name"] == HOSTILE_NAMES[2]  # JSON escapes control characters itself
    text = render(sample_report(hostile=True), "jsonl")
    assert "\x1b" not in text and "\u202e" not in text
    assert all(ord(ch) < 128 for ch in text)


wire_text = st.text(min_size=0, max_size=40)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=wire_text,
    dns=st.lists(wire_text, max_size=3),
    value=wire_text,
    score=st.floats(allow_nan=True, allow_infinity=True),
)
def test_arbitrary_wire_strings_and_numbers_always_validate(
    name: str, dns: list[str], value: str, score: float
) -> None:
    report = report_of(finding(server_name=name, dns_names=dns, score=score, intel=[hit(value=value)]))
    for fmt in ("jsonl", "ecs", "eve", "csv"):
        for row in records(report, fmt):
            assert not list(validator(fmt).iter_errors(row)), fmt
    (row,) = records(report, "jsonl")
    assert row["server_name"] == name and row["dns_names"] == dns and row["intel"][0]["value"] == value
