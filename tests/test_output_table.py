"""Terminal table, colour rules, neutralised wire names, local time, and the progress bar."""

from __future__ import annotations

import io
import re
import time

import pytest

from netdetect.model import Finding, IntelHit, Report, Summary
from netdetect.output import Progress, write_report
from netdetect.testing.sample import sample_report

START = 1680084000.0  # 2023-03-29T10:00:00Z
ANSI = re.compile(r"\x1b\[[0-9;]*m")


class FakeTty(io.StringIO):
    def isatty(self) -> bool:
        return True


def table(report: Report, **options: object) -> str:
    stream = io.StringIO()
    write_report(report, "table", stream, **options)  # type: ignore[arg-type]
    return stream.getvalue()


def test_header_summarises_the_run() -> None:
    text = table(sample_report(), color=False)
    lines = text.splitlines()
    assert lines[0] == "netdetect: 1 capture(s) read: office-3cx-demo.pcapng"
    assert lines[1] == "time span       2023-03-29 10:00:00Z .. 2023-03-31 10:00:00Z (2d00h)"
    assert "packets         1,482,113 (311.5 MB)   hosts 48   connections 61,220" in lines
    assert "decode errors 4 (bad_ip_length 3, truncated_record 1)" in lines[3]
    assert "allowlisted 1" in lines[3] and "groups scored   1,930" in lines[3]
    assert lines[4] == "intel           98 indicators from 3cx   threshold 0.70   findings 4"


def test_rows_are_ranked_with_why() -> None:
    lines = table(sample_report(), color=False).splitlines()
    head = next(i for i, line in enumerate(lines) if line.startswith("#"))
    assert lines[head].split() == [
        "#",
        "score",
        "verdict",
        "kind",
        "src",
        "destination",
        "port",
        "period",
        "jitter",
        "conns",
        "span",
        "intel",
        "why",
    ]
    first = lines[head + 1].split()
    assert first[:7] == ["1", "0.93", "beacon+intel", "beacon", "10.1.4.23", "msstorageboxes.com", "443"]
    assert "intel: msstorageboxes.com (3cx, high, sni+dns_query); period 1850s jitter 0.16" in lines[head + 1]
    assert lines[head + 2].split()[:7] == [
        "2",
        "0.88",
        "beacon",
        "beacon",
        "10.1.7.50",
        "203.0.113.77",
        "8443",
    ]
    assert "period 90s" in lines[head + 2]
    assert "lookup only, no connection followed" in lines[head + 3]
    # Columns line up: the score column ends at the same offset on every row.
    ends = {line.index("0.") + 4 for line in lines[head + 1 : head + 5]}
    assert len(ends) == 1


def test_plain_output_has_no_escape_sequences_and_color_can_be_forced() -> None:
    plain = table(sample_report())  # StringIO is not a TTY
    assert "\x1b" not in plain
    colored = table(sample_report(), color=True)
    assert "\x1b[1;31m" in colored  # beacon+intel row in bold red
    assert ANSI.sub("", colored) == plain


def test_tty_gets_color_unless_no_color(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    stream = FakeTty()
    write_report(sample_report(), "table", stream)
    assert "\x1b[" in stream.getvalue()
    monkeypatch.setenv("NO_COLOR", "1")
    stream = FakeTty()
    write_report(sample_report(), "table", stream)
    assert "\x1b" not in stream.getvalue()


def test_terminal_escapes_from_the_wire_are_shown_not_interpreted() -> None:
    hostile = Finding(
        kind="beacon",
        src_ip="10.0.0.9",
        dst_ip="192.0.2.1",
        dst_ips=["192.0.2.1"],
        dst_port=443,
        server_name="\x1b[2J\x1b[31mevil\x07.example\u202e",
        score=0.9,
        beacon=True,
        period_s=60.0,
        jitter=0.1,
        connections=10,
        first_seen=START,
        last_seen=START + 600,
        intel=[
            IntelHit(
                "evil.example", "domain", "pack\x1b]0;title\x07", "high", "sni", "x", "10.0.0.9", START, START
            )
        ],
    )
    report = Report(Summary(captures=["cap\x1b[1m.pcap"], warnings=["bad\x1b[5m line"]), [hostile], 0.7)
    for color in (False, True):
        text = ANSI.sub("", table(report, color=color))  # strip only our own colour codes
        assert "\x1b" not in text and "\x07" not in text and "\u202e" not in text
    text = table(report, color=False)
    assert "\\x1b[2J\\x1b[31mevil\\x07.example\\u202e" in text
    assert "pack\\x1b]0;title\\x07" in text
    assert "cap\\x1b[1m.pcap" in text and "warning: bad\\x1b[5m line" in text


def test_long_names_are_cut_in_the_destination_column() -> None:
    long_name = "a" * 80 + ".example"
    finding = Finding(
        kind="beacon",
        src_ip="10.0.0.1",
        dst_ip="192.0.2.1",
        dst_ips=[],
        dst_port=80,
        server_name=long_name,
        score=0.8,
        beacon=True,
        period_s=30.0,
        jitter=0.0,
        connections=5,
        first_seen=START,
        last_seen=START + 150,
    )
    text = table(Report(Summary(captures=[]), [finding], 0.7), color=False)
    assert "a" * 47 + "…" in text
    assert long_name not in text


def test_local_time_changes_only_the_display(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        text = table(sample_report(), color=False, local_time=True)
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
    assert "2023-03-29 06:00:00-0400 .. 2023-03-31 06:00:00-0400" in text


def test_empty_report_says_so() -> None:
    text = table(Report(Summary(captures=["a.pcap"]), [], 0.7), color=False)
    assert text.rstrip().endswith("no findings at or above score 0.70 and no intel matches")
    assert "time span       -" in text


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_progress_draws_bar_rate_and_eta_on_a_tty() -> None:
    clock, stream = Clock(), FakeTty()
    progress = Progress(1_000_000, True, stream=stream, clock=clock)
    clock.now += 2.0
    progress.update(250_000)
    line = stream.getvalue()
    assert line.startswith("\r[") and line.endswith("\x1b[K")
    assert "25%" in line and "250.0 kB / 1.0 MB" in line and "125.0 kB/s" in line and "ETA 0:06" in line
    assert line.count("#") == 8  # 25% of a 30-character bar, rounded
    progress.update(260_000)  # within min_interval: no redraw
    assert stream.getvalue() == line
    progress.close()
    assert stream.getvalue().endswith("\r\x1b[K")


def test_progress_is_silent_when_disabled_or_not_a_tty() -> None:
    for enabled, stream in ((False, FakeTty()), (True, io.StringIO())):
        with Progress(100, enabled, stream=stream) as progress:
            progress.update(50)
        assert stream.getvalue() == ""


def test_progress_without_total_shows_bytes_only() -> None:
    clock, stream = Clock(), FakeTty()
    progress = Progress(None, True, stream=stream, clock=clock)
    clock.now += 1.0
    progress.update(3_000_000)
    assert "read 3.0 MB  3.0 MB/s" in stream.getvalue()
    assert "ETA" not in stream.getvalue()
