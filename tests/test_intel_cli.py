"""`netdetect intel list | check | validate` through click's CliRunner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from netdetect.cli.intel_cmd import intel_group

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "intel" / "3cx" / "formats"


def run(*args: str):
    return CliRunner().invoke(intel_group, list(args), catch_exceptions=False)


def test_list_shows_pack_counts_sources_and_dates() -> None:
    result = run("list")
    assert result.exit_code == 0
    assert "3cx  (pack," in result.output
    assert (
        "indicators: 98 (domain 29, email 5, hostname 2, ip 22, url 40); benign/context: 4" in result.output
    )
    assert "dates: 2023-03-16 .. 2023-04-20" in result.output
    packs = [json.loads(line) for line in run("list", "--json").output.splitlines()]
    assert [(p["name"], p["indicators"], p["behaviours"]) for p in packs] == [("3cx", 98, 8)]
    assert len(packs[0]["sources"]) > 10


def test_list_with_extra_feed_and_no_bundled(tmp_path: Path) -> None:
    feed = tmp_path / "mine.txt"
    feed.write_text("evil.example\n10.9.8.0/24\n")
    result = run("list", "--no-bundled", "--intel", str(feed))
    assert result.exit_code == 0
    assert "mine  (text," in result.output and "total: 2 indicators in 1 pack(s)" in result.output


def test_check_explains_matches_and_exit_status() -> None:
    result = run("check", "a.msstorageboxes[.]com", "notmsstorageboxes.com")
    assert result.exit_code == 0
    assert (
        "a.msstorageboxes[.]com: MATCH domain msstorageboxes.com, pack 3cx, confidence high" in result.output
    )
    assert "why: name is a subdomain of listed msstorageboxes.com" in result.output
    assert "notmsstorageboxes.com: no match" in result.output
    assert run("check", "raw.githubusercontent.com", "192.0.2.1").exit_code == 1


def test_check_benign_url_and_context_values() -> None:
    benign = run("check", "www.tradingtechnologies.com")
    assert benign.exit_code == 1  # context only: not a hit
    assert "BENIGN context only" in benign.output
    url = run("check", "--json", "hxxps://raw.githubusercontent[.]com/IconStorages/images/main/icon9.ico")
    rows = [json.loads(line) for line in url.output.splitlines()]
    assert url.exit_code == 0
    assert sorted(r["indicator"] for r in rows) == [
        "https://raw.githubusercontent.com/IconStorages/images/main/",
        "https://raw.githubusercontent.com/IconStorages/images/main/icon9.ico",
    ]
    email = run("check", "philip.je@proton.me")
    assert email.exit_code == 1 and "not matched on the wire" in email.output


def test_check_expiry_with_at(tmp_path: Path) -> None:
    feed = tmp_path / "exp.jsonl"
    feed.write_text('{"value": "old.example", "type": "domain", "valid_until": "2023-01-01"}\n')
    now = run("check", "--no-bundled", "--intel", str(feed), "old.example")
    assert now.exit_code == 1 and "EXPIRED" in now.output
    then = run("check", "--no-bundled", "--intel", str(feed), "--at", "2022-12-01", "old.example")
    assert then.exit_code == 0 and "EXPIRED" not in then.output


@pytest.mark.skipif(not FIXTURES.is_dir(), reason="../shared/intel/3cx not present")
def test_validate_clean_fixtures_exit_zero() -> None:
    result = run("validate", str(FIXTURES / "misp_feed"), str(FIXTURES / "3cx_network_defanged.txt"))
    assert result.exit_code == 0
    assert (
        "misp: 66 indicators (domain 23, hostname 2, ip 2, url 39), 0 bad line(s), 0 unsupported, "
        "2 skipped (to_ids false)" in result.output
    )
    assert "text: 66 indicators" in result.output


def test_validate_reports_each_bad_line_and_fails(tmp_path: Path) -> None:
    feed = tmp_path / "feed.txt"
    feed.write_text("good.example\nbad value here\n1.2.3.4;x\n")
    result = run("validate", str(feed))
    assert result.exit_code == 1
    assert f"{feed}:2: cannot tell what kind of indicator 'bad value here' is" in result.output
    assert f"{feed}:3: score after ';' is not a number: 'x'" in result.output
    strict = run("validate", "--strict", str(feed))
    assert strict.exit_code == 1
    assert f"{feed}:2:" in strict.output and f"{feed}:3:" not in strict.output


def test_validate_strict_fails_on_unsupported_and_missing_file_is_2(tmp_path: Path) -> None:
    feed = tmp_path / "x.intel"
    feed.write_text("#fields\tindicator\tindicator_type\tmeta.source\nbob\tIntel::USER_NAME\tlab\n")
    assert run("validate", str(feed)).exit_code == 0
    assert run("validate", "--strict", str(feed)).exit_code == 1
    assert run("validate", str(tmp_path / "missing.csv")).exit_code == 2
