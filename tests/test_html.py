"""The self-contained HTML report: structure, escaping, CSP, plots (without a browser)."""

from __future__ import annotations

import base64
import hashlib
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from netdetect.errors import NetdetectError
from netdetect.model import Finding, Report, Summary
from netdetect.output import render_html, write_html
from netdetect.output.html import STYLESHEET
from netdetect.output.markup import el, escape
from netdetect.output.svg import histogram, interval_counts, timeline
from netdetect.testing.sample import HOSTILE_NAMES, sample_report

START = 1680084000.0


class Elements(HTMLParser):
    """Collects start tags with their attributes, and all text."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(page: str) -> Elements:
    parser = Elements()
    parser.feed(page)
    parser.close()
    return parser


def test_page_is_self_contained_with_a_script_forbidding_csp() -> None:
    page = render_html(sample_report())
    parsed = parse(page)
    tags = [tag for tag, _ in parsed.tags]
    assert "script" not in tags and "link" not in tags and "img" not in tags and "iframe" not in tags
    assert not re.search(r"(src|href)=\"(https?:|//)", page)  # nothing fetched from anywhere
    assert all((attrs.get("href") or "#").startswith("#") for tag, attrs in parsed.tags if tag == "a")
    assert not any(name.startswith("on") for _, attrs in parsed.tags for name in attrs)
    csp = next(
        a["content"]
        for t, a in parsed.tags
        if t == "meta" and a.get("http-equiv") == "Content-Security-Policy"
    )
    assert csp is not None
    assert "default-src 'none'" in csp and "script-src 'none'" in csp
    digest = base64.b64encode(hashlib.sha256(STYLESHEET.encode()).digest()).decode()
    assert f"style-src 'sha256-{digest}'" in csp  # the one <style> block is the only style allowed
    assert page.count("<style>") == 1 and f"<style>{STYLESHEET}</style>" in page
    assert " style=" not in page  # inline style attributes would be blocked by the CSP


def test_summary_findings_and_details_are_present() -> None:
    page = render_html(sample_report())
    text = " ".join(parse(page).text)
    assert "office-3cx-demo.pcapng" in text and "1,482,113" in text and "groups scored" in text
    assert "Findings (4)" in text and "Top 4 findings in detail" in text
    for rank in range(1, 5):
        assert f'id="f{rank}"' in page and f'href="#f{rank}"' in page
    assert "intel: msstorageboxes.com (3cx, high, sni+dns_query); period 1850s jitter 0.16" in text
    assert "raw.githubusercontent.com" in text  # DNS names seen
    assert "Intel evidence (2 live, 0 expired)" in text
    assert "answered, never connected to" in text  # intel notes


def test_top_findings_get_plots_and_others_only_a_row() -> None:
    page = render_html(sample_report(), top=2)
    parsed = parse(page)
    articles = [a["id"] for t, a in parsed.tags if t == "article"]
    assert articles == ["f1", "f2"]
    classes = [a.get("class") for t, a in parsed.tags if t == "svg"]
    assert classes.count("plot timeline") == 2 and classes.count("plot histogram") == 2
    assert classes.count("plot drift") == 2
    assert 'href="#f3"' not in page


def test_hostile_names_render_as_text() -> None:
    page = render_html(sample_report(hostile=True))
    parsed = parse(page)
    assert [t for t, _ in parsed.tags].count("img") == 0
    assert "script" not in [t for t, _ in parsed.tags]
    assert [a.get("class") for t, a in parsed.tags if t == "svg"].count(None) == 0  # only our own SVGs
    assert "<img src=x" not in page and "<script>" not in page and "<svg/onload" not in page
    assert "&lt;img src=x onerror=&quot;document.title=&#x27;pwned&#x27;&quot;&gt;" in page
    text = "".join(parsed.text)
    assert HOSTILE_NAMES[0] in text  # shown to the reader exactly as seen on the wire
    assert HOSTILE_NAMES[1] in text
    assert "evil\\x1b[31m.example\\x1b[0m\\u202eexe.com" in text  # control characters made visible
    assert "\x1b" not in page and "\u202e" not in page


def test_markup_builder_escapes_text_and_attributes_and_refuses_handlers() -> None:
    assert (
        el("td", {"title": '"><b>'}, "<b>x</b>")
        == '<td title="&quot;&gt;&lt;b&gt;">&lt;b&gt;x&lt;/b&gt;</td>'
    )
    assert escape("a\x00b") == "a\\x00b"
    with pytest.raises(ValueError):
        el("td", {"onclick": "x"})
    with pytest.raises(ValueError):
        el("td x", None)


def test_timeline_draws_one_tick_per_pixel_column() -> None:
    times = START + np.arange(0, 86400, 60.0)  # 1440 check-ins, more than pixel columns
    sizes = np.full(times.size, 500.0)
    svg = timeline(times, sizes, START, START + 86400)
    assert svg is not None
    ticks = re.search(r'<path d="([^"]+)"[^>]*class="ticks"', svg)
    assert ticks is not None
    columns = re.findall(r"M(\d+) ", ticks.group(1))
    assert 700 < len(columns) <= 820 and len(set(columns)) == len(columns)
    assert "1440 check-ins from 2023-03-29 10:00:00Z to 2023-03-30 10:00:00Z" in svg


def test_timeline_handles_missing_and_broken_times() -> None:
    assert timeline(None, None, START, START) is None
    assert timeline(np.array([np.nan]), None, None, None) is None
    single = timeline(np.array([START]), np.array([np.nan]), START, START)
    assert single is not None and "1 check-ins" in single and "nan" not in single.lower()


def test_histogram_uses_the_findings_bins_or_computes_them() -> None:
    counts, edges = interval_counts([1, 3, 0], [0.0, 10.0, 20.0, 30.0], None) or ((), ())
    assert list(counts) == [1, 3, 0] and list(edges) == [0.0, 10.0, 20.0, 30.0]
    times = START + np.cumsum(np.full(50, 90.0))
    computed = interval_counts([1, 2], [0.0], times)  # inconsistent edges: recomputed from the times
    assert computed is not None and int(computed[0].sum()) == 49
    svg = histogram([1, 3, 0], [0.0, 10.0, 20.0, 30.0], None, 15.0)
    assert svg is not None
    assert svg.count('class="bar"') == 2  # empty bins draw nothing
    assert 'class="period"' in svg and "period 15s" in svg
    assert histogram([], [], np.array([START, START + 1]), None) is None  # too few intervals


def test_finding_without_detail_explains_missing_plots() -> None:
    finding = Finding(
        kind="intel",
        src_ip="10.0.0.1",
        dst_ip=None,
        dst_ips=[],
        dst_port=None,
        server_name="x.example",
        score=0.0,
        beacon=False,
        period_s=None,
        jitter=None,
        connections=0,
        first_seen=START,
        last_seen=START,
    )
    page = render_html(Report(Summary(captures=[]), [finding], 0.7))
    assert "No per-connection detail recorded for this finding." in page
    assert "Too few check-ins for an interval histogram." in page
    assert 'class="plot' not in page


def test_write_html_writes_utf8_and_reports_unwritable_paths(tmp_path: Path) -> None:
    target = tmp_path / "report.html"
    write_html(sample_report(), target)
    assert target.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    with pytest.raises(NetdetectError, match="cannot write HTML report") as caught:
        write_html(sample_report(), tmp_path / "missing-dir" / "r.html")
    assert caught.value.path is not None and caught.value.path.endswith("r.html")


def test_subscores_on_the_unit_scale_get_bars_and_others_only_numbers() -> None:
    finding = Finding(
        kind="beacon",
        src_ip="10.0.0.1",
        dst_ip="192.0.2.1",
        dst_ips=["192.0.2.1"],
        dst_port=443,
        server_name=None,
        score=0.9,
        beacon=True,
        period_s=60.0,
        jitter=0.1,
        connections=10,
        first_seen=START,
        last_seen=START + 600,
        subscores={"regularity": 0.75, "events": 156.0, "pair_test": 250.7213, "broken": float("nan")},
    )
    page = render_html(Report(Summary(captures=[]), [finding], 0.7))
    table = page[page.index('class="kv subscores"') :]
    table = table[: table.index("</table>")]
    rows = re.findall(r"<tr>(.*?)</tr>", table)
    assert len(rows) == 4
    by_name = {re.search(r"<th>(.*?)</th>", row).group(1): row for row in rows}  # type: ignore[union-attr]
    assert "scorebar" in by_name["regularity"] and ">0.75<" in by_name["regularity"]
    assert "scorebar" not in by_name["events"] and ">156<" in by_name["events"]
    assert "scorebar" not in by_name["pair_test"] and ">250.721<" in by_name["pair_test"]
    assert "scorebar" not in by_name["broken"] and ">-<" in by_name["broken"]
