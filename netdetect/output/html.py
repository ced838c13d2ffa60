"""`--html FILE`: one self-contained, offline HTML report with inline SVG plots.

No script at all, no external asset; a Content-Security-Policy meta forbids scripts, remote
loads and any style but the page's own (hash-pinned), as defence in depth behind escaping.
"""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path, PurePath

from netdetect import __version__
from netdetect.errors import NetdetectError
from netdetect.model import Finding, Report
from netdetect.output import svg
from netdetect.output.layout import Entry, Fleet, arrange
from netdetect.output.markup import Markup, el, join
from netdetect.output.records import finding_id, live_hits, severity, verdict, why
from netdetect.output.table import destination
from netdetect.output.text import finite, human_bytes, human_duration, human_time

TOP_DEFAULT = 20
MAX_TABLE_ROWS = 2000

STYLESHEET = """
:root{color-scheme:light;font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;font-size:14px;
color:#212529;background:#fff}
body{margin:0 auto;max-width:1200px;padding:16px 24px}
h1{font-size:1.6em;margin:.2em 0}h2{font-size:1.3em;border-bottom:1px solid #dee2e6;padding-bottom:4px}
h3{font-size:1.1em;margin:0 0 6px}h4{margin:12px 0 4px;font-size:1em}
table{border-collapse:collapse}td,th{padding:3px 8px;text-align:left;vertical-align:top}
table.findings th{background:#f1f3f5;position:sticky;top:0}
table.findings tr:nth-child(even) td{background:#f8f9fa}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
.name,.mono,.ip{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;overflow-wrap:anywhere}
.ip{white-space:nowrap}td.name{min-width:14em}
.kv th{color:#495057;font-weight:600}
.verdict{font-weight:600;padding:1px 6px;border-radius:3px;white-space:nowrap}
.v-beacon-intel{background:#ffe3e3;color:#c92a2a}.v-intel{background:#fff0f6;color:#a61e4d}
.v-beacon{background:#fff3bf;color:#8f5b00}.v-low,.v-allowlisted{background:#f1f3f5;color:#495057}
article.finding{border:1px solid #dee2e6;border-radius:6px;padding:12px 16px;margin:16px 0}
p.why{margin:4px 0 8px;color:#343a40}
figure{margin:8px 0}figcaption{font-weight:600;margin-bottom:2px}
svg.plot{display:block;max-width:100%;height:auto;background:#fcfcfd;border:1px solid #e9ecef}
svg text.axis{font-size:11px;fill:#495057;font-family:system-ui,sans-serif}
.muted{color:#868e96}ul.names{columns:2;margin:4px 0}footer{margin-top:32px;color:#868e96;font-size:.9em}
""".strip()

VERDICT_CLASS = {
    "beacon+intel": "v-beacon-intel",
    "beacon": "v-beacon",
    "intel": "v-intel",
    "low": "v-low",
    "allowlisted": "v-allowlisted",
}


def content_security_policy() -> str:
    digest = base64.b64encode(hashlib.sha256(STYLESHEET.encode("utf-8")).digest()).decode("ascii")
    return (
        "default-src 'none'; script-src 'none'; object-src 'none'; base-uri 'none'; form-action 'none'; "
        f"img-src 'none'; style-src 'sha256-{digest}'"
    )


def _verdict_badge(finding: Finding) -> Markup:
    label = verdict(finding)
    return el("span", {"class": f"verdict {VERDICT_CLASS[label]}"}, label)


def _kv_table(rows: list[tuple[str, object]]) -> Markup:
    return el(
        "table", {"class": "kv"}, join(el("tr", None, el("th", None, k), el("td", None, v)) for k, v in rows)
    )


def _count(value: int) -> str:
    return f"{value:,}"


def summary_section(report: Report) -> Markup:
    summary = report.summary
    span = "-"
    if summary.first_ts is not None and summary.last_ts is not None:
        span = (
            f"{human_time(summary.first_ts)} .. {human_time(summary.last_ts)}"
            f" ({human_duration(summary.last_ts - summary.first_ts)})"
        )
    errors = sum(summary.decode_errors.values())
    error_detail = ", ".join(f"{name} {_count(n)}" for name, n in sorted(summary.decode_errors.items()))
    captures = el(
        "ul", {"class": "names mono"}, join(el("li", None, PurePath(c).name or c) for c in summary.captures)
    )
    rows: list[tuple[str, object]] = [
        ("captures read", join([str(len(summary.captures)), captures])),
        ("time span", span),
        ("packets", f"{_count(summary.packets)} ({human_bytes(summary.bytes)})"),
        ("hosts", _count(summary.hosts)),
        ("connections", _count(summary.connections)),
        ("groups scored", _count(summary.groups_scored)),
        ("decode errors", _count(errors) + (f" ({error_detail})" if errors else "")),
        ("allowlisted", _count(summary.allowlisted)),
        (
            "intel",
            f"{_count(summary.intel_indicators)} indicators from {', '.join(summary.intel_packs) or 'none'}",
        ),
        ("threshold", f"{report.threshold:.2f}"),
        ("findings", _count(len(report.findings))),
    ]
    rows.extend(("warning", text) for text in summary.warnings)
    return el("section", {"id": "summary"}, el("h2", None, "Summary"), _kv_table(rows))


def _num_cell(text: str) -> Markup:
    return el("td", {"class": "num"}, text)


def findings_section(report: Report, top: int) -> Markup:
    head = el(
        "tr",
        None,
        join(
            el("th", {"class": "num"} if numeric else None, title)
            for title, numeric in (
                ("#", True),
                ("score", True),
                ("verdict", False),
                ("kind", False),
                ("source", False),
                ("destination", False),
                ("port", True),
                ("period", True),
                ("jitter", True),
                ("conns", True),
                ("span", True),
                ("why", False),
            )
        ),
    )
    entries, context = arrange(report.findings[:MAX_TABLE_ROWS])
    rows = [_entry_row(entry, top) for entry in entries]
    more = len(report.findings) - MAX_TABLE_ROWS
    note = (
        el("p", {"class": "muted"}, f"{more} more findings not shown; see --format jsonl")
        if more > 0
        else None
    )
    body = el("table", {"class": "findings"}, el("thead", None, head), el("tbody", None, join(rows)))
    if not entries:
        body = el("p", None, "No findings at or above the threshold and no intel matches.")
    main = el("section", {"id": "findings"}, el("h2", None, f"Findings ({len(report.findings)})"), body, note)
    if not context:
        return main
    long_rows = [_entry_row(entry, top) for entry in context]
    table = el("table", {"class": "findings"}, el("thead", None, head), el("tbody", None, join(long_rows)))
    explain = el(
        "p",
        {"class": "muted"},
        "Connections that lasted hours without a periodic heartbeat or an intel match: context, "
        "not alarms (a media stream, a VPN, a database session).",
    )
    return join(
        [
            main,
            el(
                "section",
                {"id": "long"},
                el("h2", None, f"Long connections ({len(context)})"),
                explain,
                table,
            ),
        ]
    )


def _entry_row(entry: Entry, top: int) -> Markup:
    """A finding's row, or a fleet's: one row whose source cell expands to the member clients."""
    rank, finding = entry.members[0] if isinstance(entry, Fleet) else entry
    score = finite(finding.score)
    jitter = finite(finding.jitter)
    period, conns, span, source = finding.period_s, finding.connections, _span(finding), finding.src_ip
    text = why(finding)
    if isinstance(entry, Fleet):
        jitter = entry.median("jitter")
        period = entry.median("period_s")
        conns = sum(f.connections for _, f in entry.members)
        first = min(f.first_seen for _, f in entry.members)
        last = max(f.last_seen for _, f in entry.members)
        span = last - first if finite(first) is not None and finite(last) is not None else None
        links = join(
            el("li", None, el("a", {"href": f"#f{r}"}, f.src_ip) if r <= top else f.src_ip)
            for r, f in entry.members
        )
        source = el(
            "details", None, el("summary", None, f"{len(entry.clients)} hosts"), el("ul", None, links)
        )
        text = f"fleet: {entry.label()}; {text}"
    rank_cell = el("a", {"href": f"#f{rank}"}, str(rank)) if rank <= top else str(rank)
    return el(
        "tr",
        None,
        el("td", {"class": "num"}, rank_cell),
        _num_cell("-" if score is None else f"{score:.2f}"),
        el("td", None, _verdict_badge(finding)),
        el("td", None, finding.kind),
        el("td", {"class": "ip"}, source),
        el("td", {"class": "name"}, destination(finding)),
        _num_cell("-" if finding.dst_port is None else str(finding.dst_port)),
        _num_cell(human_duration(period)),
        _num_cell("-" if jitter is None else f"{jitter:.2f}"),
        _num_cell(str(conns)),
        _num_cell(human_duration(span)),
        el("td", None, text),
    )


def _span(finding: Finding) -> float | None:
    first, last = finite(finding.first_seen), finite(finding.last_seen)
    return None if first is None or last is None else last - first


def _intel_table(finding: Finding) -> Markup:
    if not finding.intel:
        return el("p", {"class": "muted"}, "No intel match.")
    head = el(
        "tr",
        None,
        join(
            el("th", None, t)
            for t in (
                "indicator",
                "type",
                "pack",
                "confidence",
                "matched on",
                "value seen",
                "first seen",
                "last seen",
                "count",
                "notes",
            )
        ),
    )
    rows = [
        el(
            "tr",
            {"class": "muted"} if hit.expired else None,
            el("td", {"class": "name"}, hit.indicator + (" (expired)" if hit.expired else "")),
            el("td", None, hit.type),
            el("td", None, hit.pack),
            el("td", None, "-" if hit.confidence is None else str(hit.confidence)),
            el("td", None, hit.field),
            el("td", {"class": "name"}, hit.value),
            el("td", None, human_time(hit.first_seen)),
            el("td", None, human_time(hit.last_seen)),
            _num_cell(str(hit.count)),
            el("td", None, hit.notes or ""),
        )
        for hit in finding.intel
    ]
    return el("table", {"class": "findings intel"}, el("thead", None, head), el("tbody", None, join(rows)))


def _subscores(finding: Finding) -> Markup:
    """Components on the 0..1 scale get a bar; counts and test statistics are shown as numbers."""
    if not finding.subscores:
        return el("p", {"class": "muted"}, "No sub-scores.")
    rows = []
    for name, value in sorted(finding.subscores.items()):
        number = finite(value)
        on_unit_scale = number is not None and 0.0 <= number <= 1.0
        text = "-" if number is None else f"{number:.2f}" if on_unit_scale else f"{number:,.6g}"
        bar = svg.score_bar(number) if on_unit_scale else None
        rows.append(el("tr", None, el("th", None, name), el("td", None, bar), _num_cell(text)))
    return el("table", {"class": "kv subscores"}, join(rows))


def _evidence_table(finding: Finding) -> Markup:
    """Every detector that spoke of this subject, main one first: its score, clause and measurements."""
    if not finding.evidence:
        return el("p", {"class": "muted"}, "No detector scored this subject.")
    names = sorted(finding.evidence, key=lambda name: name != finding.detector)
    rows = []
    for name in names:
        values = finding.evidence[name]
        number = finite(values.get("score"))
        clause = values.get("why") or ""
        details = ", ".join(
            f"{k} {v}" for k, v in values.items() if k not in ("score", "why") and v is not None
        )
        rows.append(
            el(
                "tr",
                None,
                el("th", None, name + (" (main)" if name == finding.detector else "")),
                _num_cell("-" if number is None else f"{number:.2f}"),
                el("td", None, clause),
                el("td", {"class": "mono"}, details),
            )
        )
    return el("table", {"class": "kv evidence"}, join(rows))


def _figure(caption: str, plot: Markup | None, missing: str) -> Markup:
    body = plot if plot is not None else el("p", {"class": "muted"}, missing)
    return el("figure", None, el("figcaption", None, caption), body)


def finding_article(rank: int, finding: Finding) -> Markup:
    period = finite(finding.period_s)
    jitter = finite(finding.jitter)
    missed = finite(finding.missed_share)
    score = finite(finding.score)
    facts: list[tuple[str, object]] = [
        ("score", "-" if score is None else f"{score:.3f}"),
        ("severity", severity(finding)),
        ("kind", finding.kind),
        ("detector", finding.detector),
        (
            "prevalence",
            "-" if finding.prevalence is None else f"{finding.prevalence} client(s) of this destination",
        ),
        ("source", el("span", {"class": "name"}, finding.src_ip)),
        ("server name", el("span", {"class": "name"}, finding.server_name or "-")),
        (
            "server addresses",
            el("span", {"class": "name"}, ", ".join(finding.dst_ips) or finding.dst_ip or "-"),
        ),
        (
            "port",
            "-"
            if finding.dst_port is None
            else f"{finding.dst_port}{'/' + finding.proto if finding.proto else ''}",
        ),
        ("period", "-" if period is None else f"{human_duration(period)} ({period:.1f} s)"),
        ("jitter", "-" if jitter is None else f"{jitter:.3f}"),
        ("missed check-ins", "-" if missed is None else f"{missed:.0%}"),
        ("connections", _count(finding.connections)),
        ("first seen", human_time(finding.first_seen)),
        ("last seen", human_time(finding.last_seen)),
        ("finding id", el("span", {"class": "mono"}, finding_id(finding))),
    ]
    if finding.allowlisted:
        facts.append(("allowlisted by", el("span", {"class": "name"}, finding.allowlisted)))
    no_detail = "No per-connection detail recorded for this finding."
    names = (
        el("ul", {"class": "names name"}, join(el("li", None, name) for name in finding.dns_names))
        if finding.dns_names
        else el("p", {"class": "muted"}, "No DNS names seen.")
    )
    title = f"#{rank} {finding.src_ip} \u2192 {destination(finding)}"
    if finding.dst_port is not None:
        title += f":{finding.dst_port}"
    hits = live_hits(finding)
    return el(
        "article",
        {"class": "finding", "id": f"f{rank}"},
        el("h3", None, _verdict_badge(finding), " ", el("span", {"class": "name"}, title)),
        el("p", {"class": "why"}, why(finding)),
        _kv_table(facts),
        _figure(
            "Check-ins over time",
            svg.timeline(finding.times, finding.sizes, finding.first_seen, finding.last_seen),
            no_detail,
        ),
        _figure(
            "Intervals between check-ins",
            svg.histogram(
                finding.interval_histogram, finding.interval_bin_edges_s, finding.times, finding.period_s
            ),
            "Too few check-ins for an interval histogram.",
        ),
        _figure("Interval drift", svg.interval_drift(finding.times, finding.period_s), no_detail),
        el("h4", None, "Detector evidence"),
        _evidence_table(finding),
        el("h4", None, "Sub-scores"),
        _subscores(finding),
        el("h4", None, f"Intel evidence ({len(hits)} live, {len(finding.intel) - len(hits)} expired)"),
        _intel_table(finding),
        el("h4", None, f"DNS names seen ({len(finding.dns_names)})"),
        names,
    )


def render_html(report: Report, *, top: int = TOP_DEFAULT) -> str:
    """The whole report page as a string."""
    details = [finding_article(rank, f) for rank, f in enumerate(report.findings[:top], start=1)]
    head = el(
        "head",
        None,
        el("meta", {"charset": "utf-8"}),
        el("meta", {"http-equiv": "Content-Security-Policy", "content": content_security_policy()}),
        el("meta", {"name": "referrer", "content": "no-referrer"}),
        el("meta", {"name": "viewport", "content": "width=device-width, initial-scale=1"}),
        el("meta", {"name": "generator", "content": f"netdetect {__version__}"}),
        el("title", None, "netdetect report"),
        el("style", None, Markup(STYLESHEET)),
    )
    detail_section = (
        el(
            "section",
            {"id": "details"},
            el("h2", None, f"Top {len(details)} findings in detail"),
            join(details),
        )
        if details
        else None
    )
    body = el(
        "body",
        None,
        el("header", None, el("h1", None, "netdetect report")),
        summary_section(report),
        findings_section(report, top),
        detail_section,
        el(
            "footer",
            None,
            f"netdetect {__version__}. All times UTC. Names seen on the network are shown "
            "escaped; control characters appear as \\x.. escapes.",
        ),
    )
    return "<!DOCTYPE html>\n" + el("html", {"lang": "en"}, head, body) + "\n"


def write_html(report: Report, path: str | os.PathLike[str], *, top: int = TOP_DEFAULT) -> None:
    """Write the report page to `path` (UTF-8). Raises NetdetectError if the file cannot be written."""
    target = Path(path)
    try:
        target.write_text(render_html(report, top=top), encoding="utf-8")
    except OSError as exc:
        raise NetdetectError(f"cannot write HTML report: {exc.strerror or exc}", path=str(target)) from None
