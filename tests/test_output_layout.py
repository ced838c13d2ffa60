"""Reports for people fold a fleet-wide check-in into one row and set context-only long connections
apart; machine formats keep one record per finding."""

from __future__ import annotations

import io

from netdetect.model import Finding, Report, Summary
from netdetect.output import write_report
from netdetect.output.html import render_html
from netdetect.output.layout import Fleet, arrange


def _finding(client: str, name: str, *, detector: str = "beacon", score: float = 0.9, **kw) -> Finding:
    values = dict(
        kind=detector,
        src_ip=client,
        dst_ip="198.51.100.9",
        dst_ips=["198.51.100.9"],
        dst_port=443,
        server_name=name,
        score=score,
        beacon=score >= 0.5,
        period_s=600.0,
        jitter=0.1,
        connections=100,
        first_seen=1.7e9,
        last_seen=1.7e9 + 86_400,
        detector=detector,
        evidence={detector: {"score": score, "why": f"{detector} clause"}},
    )
    values.update(kw)
    return Finding(**values)


def _report(findings: list[Finding]) -> Report:
    return Report(Summary(captures=["x.pcap"]), findings, 0.5)


def test_a_fleet_is_one_row_and_long_context_connections_stand_apart() -> None:
    fleet = [_finding(f"10.0.0.{i}", "agent.vendor.example") for i in range(1, 41)]
    lone = _finding("10.0.1.1", "c2.bad.example", score=0.95)
    two = [_finding(f"10.0.2.{i}", "pair.example") for i in (1, 2)]  # under FLEET_MIN_HOSTS: kept apart
    stream = _finding("10.0.3.1", "media.example", detector="long_connection", score=0.2)
    findings = [lone, *fleet, *two, stream]
    entries, context = arrange(findings)
    fleets = [e for e in entries if isinstance(e, Fleet)]
    assert len(fleets) == 1 and len(fleets[0].clients) == 40 and fleets[0].rank == 2
    assert [e[1].src_ip for e in entries if not isinstance(e, Fleet)] == ["10.0.1.1", "10.0.2.1", "10.0.2.2"]
    assert [f.src_ip for _, f in context] == ["10.0.3.1"]
    out = io.StringIO()
    write_report(_report(findings), "table", out, color=False)
    table = out.getvalue()
    assert "40 hosts" in table and "fleet: 40 hosts, period 10m" in table
    assert table.index("long connections (1)") > table.index("40 hosts")
    assert table.count("agent.vendor.example") == 1
    jsonl = io.StringIO()
    write_report(_report(findings), "jsonl", jsonl)
    assert len(jsonl.getvalue().splitlines()) == len(findings)  # one record per client
    html = render_html(_report(findings))
    assert "<details><summary>40 hosts</summary>" in html and 'id="long"' in html


def test_intel_is_never_folded_into_a_fleet() -> None:
    from netdetect.model import IntelHit

    hit = IntelHit(
        "agent.vendor.example", "domain", "p", "high", "sni", "agent.vendor.example", "10.0.0.1", 1.7e9, 1.7e9
    )
    fleet = [_finding(f"10.0.0.{i}", "agent.vendor.example") for i in range(1, 6)]
    fleet[0].intel = [hit]
    entries, _ = arrange(fleet)
    singles = [e for e in entries if not isinstance(e, Fleet)]
    assert [f.src_ip for _, f in singles] == ["10.0.0.1"]
    assert sum(isinstance(e, Fleet) for e in entries) == 1
