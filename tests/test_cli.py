"""The CLI end to end on tiny generated captures, and every bad-input case of issue 2."""

from __future__ import annotations

import gzip
import json
import struct
from pathlib import Path

import pytest
from _packets import write_pcap
from click.testing import CliRunner

from netdetect.cli.main import cli
from netdetect.testing import synth

C2 = "officestoragebox.com"
T0 = 1_700_000_000.0


def _beacon_capture(path: Path, *, period: float = 300.0, count: int = 30) -> Path:
    """A client resolving a listed 3CX domain, then checking in over TLS every `period` s,
    a second host beaconing to a bare IP, and a third looking up a listed name and never connecting."""
    client, resolver, c2_ip = "10.0.0.5", "10.0.0.2", "198.51.100.7"
    with synth.TrafficWriter(path, seed=1) as w:
        w.dns_exchange(T0, client, resolver, C2, [c2_ip])
        for i in range(count):
            w.tcp_session(T0 + 1 + i * period, client, c2_ip, 40000 + i, 443, [synth.client_hello(C2)], 3000)
        for i in range(int(count * period / 90)):  # as long as the other check-ins: not a short burst
            w.tcp_session(T0 + 7 + i * 90.0, "10.0.0.6", "203.0.113.9", 30000 + i, 8443, [200], 100)
        w.dns_exchange(T0 + 50, "10.0.0.7", resolver, "www.journalide.org", ["172.93.201.88"])
    return path


@pytest.fixture(scope="module")
def capture(tmp_path_factory) -> Path:
    return _beacon_capture(tmp_path_factory.mktemp("cap") / "beacon.pcap")


def _jsonl(result) -> list[dict]:
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


def test_scan_jsonl_finds_intel_beacon_bare_ip_and_blocked_lookup(capture):
    res = CliRunner().invoke(cli, ["scan", "--format", "jsonl", str(capture)])
    assert res.exit_code == 0, res.output
    rows = _jsonl(res)
    by_src = {r["src_ip"]: r for r in rows}
    c2 = by_src["10.0.0.5"]
    assert c2["kind"] == "intel" and c2["server_name"] == C2 and c2["beacon"] is True
    assert c2["connections"] == 30 and c2["dst_ip"] == "198.51.100.7" and c2["dst_port"] == 443
    assert abs(c2["period_s"] - 300) < 30
    assert {h["field"] for h in c2["intel"]} >= {"sni", "dns_query"}
    assert all(h["indicator"] == C2 and h["pack"] == "3cx" for h in c2["intel"] if h["field"] == "sni")
    bare = by_src["10.0.0.6"]
    assert bare["kind"] == "beacon" and bare["server_name"] is None and bare["dst_ip"] == "203.0.113.9"
    assert abs(bare["period_s"] - 90) < 9 and bare["intel"] == []
    blocked = by_src["10.0.0.7"]
    assert blocked["kind"] == "intel" and blocked["connections"] == 0
    assert {h["indicator"] for h in blocked["intel"]} >= {"www.journalide.org", "172.93.201.88"} or {
        h["value"] for h in blocked["intel"]
    } >= {"www.journalide.org", "172.93.201.88"}
    assert [r["src_ip"] for r in rows][:2] == ["10.0.0.5", "10.0.0.7"]  # intel first, then beacons by score


def test_scan_min_score_zero_emits_every_group_and_fail_on_findings(capture):
    res = CliRunner().invoke(
        cli, ["scan", "-f", "jsonl", "--min-score", "0", "--score-internal", str(capture)]
    )
    rows = _jsonl(res)
    assert any(r["dst_ip"] == "10.0.0.2" for r in rows)  # the resolver group is scored too
    assert CliRunner().invoke(cli, ["scan", "--fail-on-findings", str(capture)]).exit_code == 1


def test_table_output_explains_why(capture):
    res = CliRunner().invoke(cli, ["scan", str(capture)])
    assert res.exit_code == 0
    assert C2 in res.output and "203.0.113.9" in res.output and "period" in res.output


def test_events_jsonl(capture):
    res = CliRunner().invoke(cli, ["events", str(capture), "-t", "dns", "-t", "tls"])
    rows = _jsonl(res)
    assert {r["type"] for r in rows} == {"dns", "tls"}
    assert sum(r["type"] == "tls" and r["sni"] == C2 for r in rows) == 30
    assert rows[0]["ts"].endswith("Z")


def test_show_timeline(capture):
    res = CliRunner().invoke(cli, ["show", str(capture), "--src", "10.0.0.6", "--dst", "203.0.113.9"])
    assert res.exit_code == 0 and "100 connections" in res.output and "90.0" in res.output


# --- bad input ----------------------------------------------------------------------------


def _err(args: list[str]):
    res = CliRunner().invoke(cli, args)
    return res.exit_code, res.output


def test_missing_file(tmp_path):
    code, out = _err(["scan", str(tmp_path / "nope.pcap")])
    assert code == 2 and "nope.pcap" in out and "Traceback" not in out


def test_not_a_capture(tmp_path):
    bad = tmp_path / "notes.txt"
    bad.write_text("hello, not a capture\n")
    code, out = _err(["scan", str(bad)])
    assert code == 2 and "notes.txt" in out and "Traceback" not in out


def test_truncated_final_record_is_counted(capture, tmp_path):
    data = capture.read_bytes()
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(data[:-7])
    res = CliRunner().invoke(cli, ["scan", "--min-score", "0", str(cut)])
    assert res.exit_code == 0
    assert "truncated" in res.output


def test_lying_header_lengths_are_counted(tmp_path):
    a, b = synth.packed_ip("10.0.0.1"), synth.packed_ip("198.51.100.1")
    ip = bytearray(synth.ip_packet("10.0.0.1", "198.51.100.1", 17, synth.udp(a, b, 1, 53, b"\x00" * 12)))
    ip[0] = 0x4F  # IHL says 60 bytes of header: longer than the packet
    good = synth.ip_packet("10.0.0.1", "198.51.100.1", 6, synth.tcp(a, b, 1, 2, 0, 0, synth.SYN))
    path = write_pcap(tmp_path / "lies.pcap", [(T0, bytes(ip)), (T0 + 1, good)], linktype=101)
    res = CliRunner().invoke(cli, ["events", "-t", "conn", str(path)])
    assert res.exit_code == 0
    assert len(_jsonl(res)) == 1
    assert "bad_ipv4_header=1" in res.stderr


def test_record_with_absurd_caplen(tmp_path):
    hdr = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
    rec = struct.pack("<IIII", 1, 0, 0x7FFFFFFF, 60) + b"\x00" * 60
    path = tmp_path / "absurd.pcap"
    path.write_bytes(hdr + rec)
    res = CliRunner().invoke(cli, ["scan", str(path)])
    assert res.exit_code == 0 and "Traceback" not in res.output


def test_gzip_capture_and_bad_option(capture, tmp_path):
    gz = tmp_path / "c.pcap.gz"
    gz.write_bytes(gzip.compress(capture.read_bytes()))
    res = CliRunner().invoke(cli, ["scan", "-f", "jsonl", str(gz)])
    assert res.exit_code == 0 and len(_jsonl(res)) >= 3
    code, out = _err(["scan", "--min-score", "7", str(capture)])
    assert code == 2 and "min-score" in out


def test_debug_shows_traceback_only_when_asked(tmp_path):
    code, out = _err(["scan", str(tmp_path / "missing.pcap")])
    assert "Traceback" not in out


def test_allowlist_suppresses_beacons_but_never_intel(capture, tmp_path):
    allow = tmp_path / "allow.txt"
    allow.write_text("203.0.113.0/24\n10.0.0.5 -> *.officestoragebox.com\n")
    res = CliRunner().invoke(cli, ["scan", "-f", "jsonl", "--allowlist", str(allow), str(capture)])
    rows = _jsonl(res)
    assert "10.0.0.6" not in {r["src_ip"] for r in rows}  # the bare-IP beacon is allowlisted
    assert any(r["src_ip"] == "10.0.0.5" and r["kind"] == "intel" for r in rows)  # intel is never suppressed
    shown = _jsonl(
        CliRunner().invoke(
            cli, ["scan", "-f", "jsonl", "--allowlist", str(allow), "--show-allowlisted", str(capture)]
        )
    )
    bare = next(r for r in shown if r["src_ip"] == "10.0.0.6")
    assert bare["allowlisted"] and "203.0.113.0/24" in bare["allowlisted"]
    table = CliRunner().invoke(cli, ["scan", "--allowlist", str(allow), str(capture)])
    assert "allowlisted 1" in table.output


def test_bad_allowlist_line_names_file_and_line(capture, tmp_path):
    allow = tmp_path / "allow.txt"
    allow.write_text("good.example.com\n10.0.0.0/33\n")
    res = CliRunner().invoke(cli, ["scan", "--strict", "--allowlist", str(allow), str(capture)])
    assert res.exit_code == 2 and f"{allow}:2" in res.output and "Traceback" not in res.output
    res = CliRunner().invoke(cli, ["scan", "--allowlist", str(allow), str(capture)])
    assert res.exit_code == 0  # skipped and reported, not fatal


def test_bad_intel_line_strict_fails_with_file_and_line(capture, tmp_path):
    feed = tmp_path / "feed.txt"
    feed.write_text("msstorageboxes.com\nthis is not an indicator!!\n")
    res = CliRunner().invoke(cli, ["scan", "--strict", "--intel", str(feed), str(capture)])
    assert res.exit_code == 2 and f"{feed}:2" in res.output


def test_jobs_give_the_same_findings_as_one_core(capture, tmp_path):
    other = _beacon_capture(tmp_path / "branch-office.pcap", period=120.0, count=40)
    one = CliRunner().invoke(cli, ["scan", "-f", "jsonl", "--min-score", "0", str(capture), str(other)])
    two = CliRunner().invoke(
        cli, ["scan", "-f", "jsonl", "--min-score", "0", "--jobs", "2", str(capture), str(other)]
    )
    assert one.exit_code == two.exit_code == 0
    assert one.stdout == two.stdout and len(_jsonl(one)) >= 3


def test_rotated_set_is_one_stream(capture, tmp_path):
    """A capture cut in two by tcpdump -C keeps its connections whole."""
    from netdetect.capture.files import open_capture

    with open_capture(capture) as cap:
        batch = next(iter(cap.batches()))
    packets = [(float(batch.ts[i]), batch.packet(i)) for i in range(len(batch))]
    half = len(packets) // 2
    write_pcap(tmp_path / "trace.pcap", packets[:half])
    write_pcap(tmp_path / "trace.pcap1", packets[half:])
    whole = _jsonl(CliRunner().invoke(cli, ["scan", "-f", "jsonl", "--min-score", "0", str(capture)]))
    split = _jsonl(CliRunner().invoke(cli, ["scan", "-f", "jsonl", "--min-score", "0", str(tmp_path)]))
    strip = lambda rows: [{k: v for k, v in r.items() if k != "id"} for r in rows]  # noqa: E731
    assert strip(whole) == strip(split)


@pytest.mark.skipif(__import__("shutil").which("tshark") is None, reason="tshark is not installed")
def test_engine_tshark_gives_the_same_findings(capture):
    native = _jsonl(CliRunner().invoke(cli, ["scan", "-f", "jsonl", str(capture)]))
    tshark = _jsonl(CliRunner().invoke(cli, ["scan", "-f", "jsonl", "--engine", "tshark", str(capture)]))
    key = lambda rows: [(r["src_ip"], r["server_name"], r["connections"], r["kind"]) for r in rows]  # noqa: E731
    assert key(native) == key(tshark)


def test_allowlist_apply_to_saved_findings_needs_no_rescan(capture, tmp_path):
    saved = tmp_path / "all.jsonl"
    res = CliRunner().invoke(cli, ["scan", "-f", "jsonl", "-o", str(saved), str(capture)])
    assert res.exit_code == 0
    allow = tmp_path / "allow.txt"
    allow.write_text("203.0.113.9/32\n*.officestoragebox.com\n")
    res = CliRunner().invoke(cli, ["allowlist", "apply", str(saved), "--allowlist", str(allow)])
    rows = _jsonl(res)
    assert {r["src_ip"] for r in rows} == {"10.0.0.5", "10.0.0.7"}  # bare-IP beacon gone, intel kept
    assert "1 allowlisted" in res.stderr
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"src_ip": "10.0.0.1"}\nnot json\n')
    res = CliRunner().invoke(cli, ["allowlist", "apply", str(bad), "--no-default-allowlist"])
    assert res.exit_code == 2 and f"{bad}:2" in res.output
