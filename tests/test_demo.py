"""Issue 2's acceptance on the shipped demo capture: the suspicious hosts rank above every benign
host, with the right intel matches and periods within 10% of the generator's truth."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from netdetect.cli.main import cli

PCAPS = Path(__file__).resolve().parents[1] / "pcaps"
DEMO = PCAPS / "demo-office.pcap"
TRUTH = json.loads((PCAPS / "demo-office.truth.json").read_text())


@pytest.fixture(scope="module")
def findings() -> list[dict]:
    res = CliRunner().invoke(cli, ["scan", "--format", "jsonl", "--min-score", "0", str(DEMO)])
    assert res.exit_code == 0, res.output
    return [json.loads(line) for line in res.stdout.splitlines()]


def _match(findings: list[dict], truth: dict) -> int:
    for i, f in enumerate(findings):
        if f["src_ip"] == truth["src_ip"] and (
            f["server_name"] == truth["server_name"]
            or (truth["server_name"] is None and f["dst_ip"] == truth["dst_ip"])
        ):
            return i
    raise AssertionError(f"no finding for {truth['role']} {truth['src_ip']}")


def test_suspicious_hosts_rank_above_every_benign_host(findings):
    ranks = sorted(_match(findings, t) for t in TRUTH["suspicious"])
    assert ranks == list(range(len(TRUTH["suspicious"]))), ranks
    benign = findings[len(ranks) :]
    assert all(f["kind"] != "intel" and not f["intel"] for f in benign)  # scored by any detector, no intel


@pytest.mark.parametrize(
    "truth", TRUTH["suspicious"], ids=[t["role"] + ":" + t["src_ip"] for t in TRUTH["suspicious"]]
)
def test_intel_and_period(findings, truth):
    f = findings[_match(findings, truth)]
    want = {(i["indicator"], fld) for i in truth["intel"] for fld in i["fields"]}
    got = {(h["indicator"], h["field"]) for h in f["intel"] if h["pack"] == "3cx"}
    assert want <= got, (want, got)
    assert f["kind"] == ("intel" if truth["intel"] else "beacon")
    assert f["period_s"] is not None
    assert abs(f["period_s"] - truth["period_s"]) <= 0.10 * truth["period_s"]
    if truth.get("connections_to_answer") == 0:
        assert f["connections"] == 0
    else:
        assert f["beacon"] is True and f["connections"] == truth["connections"]
        assert f["dst_ip"] == truth["dst_ip"] and f["dst_port"] == truth["dst_port"]
