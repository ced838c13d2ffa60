"""`--format table` (default): a summary header and a ranked table for a terminal or a pager.

Every wire name passes through `safe_text`, so an SNI such as `\\x1b[2J` prints as those
characters instead of clearing the analyst's screen. Colour only on a TTY (or when forced), and
never when NO_COLOR is set (https://no-color.org).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePath

import numpy as np

from netdetect.model import Finding, Report
from netdetect.output.base import Formatter, register
from netdetect.output.columns import verdict_columns
from netdetect.output.layout import Entry, Fleet, arrange
from netdetect.output.records import live_hits, verdict, why
from netdetect.output.text import (
    display_width,
    finite,
    finite_array,
    human_bytes,
    human_duration,
    human_time,
    safe_text,
    truncate,
)

RESET = "\x1b[0m"
STYLE = {
    "beacon+intel": "\x1b[1;31m",
    "intel": "\x1b[31m",
    "beacon": "\x1b[33m",
    "low": "\x1b[2m",
    "allowlisted": "\x1b[2m",
    "header": "\x1b[1m",
    "warning": "\x1b[33m",
}
NAME_WIDTH = 48
MIN_WHY_WIDTH = 30


@dataclass(frozen=True, slots=True)
class Column:
    title: str
    right: bool = False  # numbers align right


COLUMNS: tuple[Column, ...] = (
    Column("#", right=True),
    Column("score", right=True),
    Column("verdict"),
    Column("kind"),
    Column("src"),
    Column("destination"),
    Column("port", right=True),
    Column("period", right=True),
    Column("jitter", right=True),
    Column("conns", right=True),
    Column("span", right=True),
    Column("intel", right=True),
    Column("why"),
)


def use_color(stream: object, forced: bool | None) -> bool:
    if forced is not None:
        return forced
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    return is_tty(stream)


def is_tty(stream: object) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # closed stream
        return False


def destination(finding: Finding) -> str:
    if finding.server_name:
        return finding.server_name
    if finding.dst_ip:
        return finding.dst_ip
    return finding.dns_names[0] if finding.dns_names else "-"


def row(rank: int, finding: Finding) -> list[str]:
    score = finite(finding.score)
    jitter = finite(finding.jitter)
    hits = live_hits(finding)
    span = None
    if finite(finding.first_seen) is not None and finite(finding.last_seen) is not None:
        span = finding.last_seen - finding.first_seen
    return [
        str(rank),
        "-" if score is None else f"{score:.2f}",
        verdict(finding),
        finding.kind,
        safe_text(finding.src_ip),
        truncate(safe_text(destination(finding)), NAME_WIDTH),
        "-" if finding.dst_port is None else str(finding.dst_port),
        human_duration(finding.period_s),
        "-" if jitter is None else f"{jitter:.2f}",
        str(finding.connections),
        human_duration(span),
        str(len(hits)) if hits else "-",
        safe_text(why(finding)),
    ]


def rows_of(
    findings: Sequence[Finding], ranks: Sequence[int] | None = None
) -> tuple[list[list[str]], list[str]]:
    """`row(rank, finding)` and `verdict(finding)` of every finding (ranks 1.. unless given), a column at
    a time: most cells repeat (scores, names, durations) and are made once per distinct value."""
    fs = list(findings)
    plain, verdicts, whys = verdict_columns(fs)
    scores = finite_array([f.score for f in fs])
    jitters = finite_array([f.jitter for f in fs])
    first_values = [f.first_seen for f in fs]
    last_values = [f.last_seen for f in fs]
    first, last = finite_array(first_values), finite_array(last_values)
    spans: list = []
    with np.errstate(invalid="ignore", over="ignore"):
        differences = (last - first).tolist()
    for i, (a, b) in enumerate(zip(first_values, last_values, strict=True)):
        if type(a) is float and type(b) is float:  # the numpy difference is finding.last_seen - first_seen
            spans.append(differences[i] if differences[i] == differences[i] else None)
        else:
            f = fs[i]
            both = finite(f.first_seen) is not None and finite(f.last_seen) is not None
            spans.append(f.last_seen - f.first_seen if both else None)
    columns = [
        [str(rank) for rank in (ranks if ranks is not None else range(1, len(fs) + 1))],
        _fixed_texts(scores),
        verdicts,
        [f.kind for f in fs],
        _memo([f.src_ip for f in fs], safe_text),
        _memo([destination(f) for f in fs], lambda name: truncate(safe_text(name), NAME_WIDTH)),
        ["-" if f.dst_port is None else str(f.dst_port) for f in fs],
        _durations([f.period_s for f in fs]),
        _fixed_texts(jitters),
        [str(f.connections) for f in fs],
        _durations(spans),
        [
            "-" if simple else (str(len(hits)) if (hits := live_hits(f)) else "-")
            for f, simple in zip(fs, plain, strict=True)
        ],
        _memo(whys, safe_text),
    ]
    return [list(cells) for cells in zip(*columns, strict=True)], verdicts


def _entry_rows(entries: Sequence[Entry]) -> tuple[list[list[str]], list[str]]:
    """Rows of single findings and of fleets (one row for a destination many clients check in to:
    `40 hosts` in the source column, the members' median period and jitter, their connections summed,
    the first clients named in `why`)."""
    lead = [e.members[0] if isinstance(e, Fleet) else e for e in entries]
    rows, styles = rows_of([f for _, f in lead], [rank for rank, _ in lead])
    for cells, entry in zip(rows, entries, strict=True):
        if not isinstance(entry, Fleet):
            continue
        clients = entry.clients
        jitter = entry.median("jitter")
        first = min(f.first_seen for _, f in entry.members)
        last = max(f.last_seen for _, f in entry.members)
        cells[4] = f"{len(clients)} hosts"
        cells[7] = human_duration(entry.median("period_s"))
        cells[8] = "-" if jitter is None else f"{jitter:.2f}"
        cells[9] = str(sum(f.connections for _, f in entry.members))
        cells[10] = human_duration(
            last - first if finite(first) is not None and finite(last) is not None else None
        )
        shown = ", ".join(safe_text(c) for c in clients[:3]) + (
            f" +{len(clients) - 3}" if len(clients) > 3 else ""
        )
        cells[12] = f"fleet: {entry.label()} ({shown}); {cells[12]}"
    return rows, styles


def _memo(values: list, make) -> list[str]:
    """make(value) of each value, once per distinct string (anything else each time: 1 == 1.0)."""
    done: dict[str, str] = {}
    out = []
    for value in values:
        if type(value) is not str:
            out.append(make(value))
            continue
        text = done.get(value)
        if text is None:
            text = done[value] = make(value)
        out.append(text)
    return out


def _fixed_texts(values: np.ndarray) -> list[str]:
    """`"-"` for NaN, else the value with two decimals (-0.0 keeps its sign, as format does)."""
    done: dict[float, str] = {}
    out = []
    for value in values.tolist():
        if value != value:
            out.append("-")
        elif value == 0.0:
            out.append(f"{value:.2f}")
        else:
            text = done.get(value)
            if text is None:
                text = done[value] = f"{value:.2f}"
            out.append(text)
    return out


def _durations(values: list) -> list[str]:
    """`human_duration` of each value. From 10 s on the text depends only on the whole seconds, so
    durations are written once per distinct second."""
    array = finite_array(values)
    with np.errstate(invalid="ignore"):
        whole = np.where(np.isfinite(array) & (array >= 10) & (array < 2.0**62), np.rint(array), -1)
    seconds = whole.astype(np.int64).tolist()
    done: dict[int, str] = {}
    out = []
    for value, second in zip(values, seconds, strict=True):
        if value is None:
            out.append("-")
        elif second < 0:
            out.append(human_duration(value))
        else:
            text = done.get(second)
            if text is None:
                text = done[second] = human_duration(second)
            out.append(text)
    return out


def _pad(text: str, width: int, right: bool) -> str:
    gap = " " * max(0, width - display_width(text))
    return gap + text if right else text + gap


def _count(value: int) -> str:
    return f"{value:,}"


@register
class TableFormatter(Formatter):
    name = "table"
    description = "summary header and ranked table for people (default)"

    def write(self, report: Report) -> None:
        self.color_on = use_color(self.stream, self.color)
        for line in self.header_lines(report):
            self.stream.write(line + "\n")
        self.stream.write("\n")
        if not report.findings:
            self.stream.write(f"no findings at or above score {report.threshold:.2f} and no intel matches\n")
            return
        entries, context = arrange(report.findings)
        if entries:
            self.write_table(*_entry_rows(entries))
        if context:
            self.stream.write(
                "\n"
                + self.paint(f"long connections ({len(context)}): context, below the threshold", "header")
                + "\n"
            )
            self.write_table(*rows_of([f for _, f in context], [rank for rank, _ in context]))

    def paint(self, text: str, style: str) -> str:
        return f"{STYLE[style]}{text}{RESET}" if self.color_on and style in STYLE else text

    def header_lines(self, report: Report) -> list[str]:
        summary = report.summary
        local = self.local_time
        names = [safe_text(PurePath(path).name or path) for path in summary.captures]
        shown = ", ".join(names[:3]) + (f" +{len(names) - 3} more" if len(names) > 3 else "")
        span = "-"
        if summary.first_ts is not None and summary.last_ts is not None:
            span = (
                f"{human_time(summary.first_ts, local=local)} .. {human_time(summary.last_ts, local=local)}"
                f" ({human_duration(summary.last_ts - summary.first_ts)})"
            )
        errors = sum(summary.decode_errors.values())
        error_text = _count(errors)
        if errors:
            top = sorted(summary.decode_errors.items(), key=lambda item: (-item[1], item[0]))[:4]
            error_text += " (" + ", ".join(f"{safe_text(name)} {_count(n)}" for name, n in top) + ")"
        packs = ", ".join(safe_text(pack) for pack in summary.intel_packs) or "none loaded"
        lines = [
            self.paint(f"netdetect: {len(summary.captures)} capture(s) read: {shown or '-'}", "header"),
            f"time span       {span}",
            f"packets         {_count(summary.packets)} ({human_bytes(summary.bytes)})"
            f"   hosts {_count(summary.hosts)}   connections {_count(summary.connections)}",
            f"groups scored   {_count(summary.groups_scored)}   decode errors {error_text}"
            f"   allowlisted {_count(summary.allowlisted)}",
            f"intel           {_count(summary.intel_indicators)} indicators from {packs}"
            f"   threshold {report.threshold:.2f}   findings {len(report.findings)}",
        ]
        lines.extend(self.paint(f"warning: {safe_text(text)}", "warning") for text in summary.warnings)
        return lines

    def write_table(self, rows: Sequence[list[str]], styles: Sequence[str]) -> None:
        titles = [column.title for column in COLUMNS]
        widths = [max(display_width(cell) for cell in column) for column in zip(titles, *rows, strict=True)]
        if is_tty(self.stream):  # a terminal: keep lines on screen by cutting the free-text column
            used = sum(widths[:-1]) + 2 * (len(widths) - 1)
            room = max(MIN_WHY_WIDTH, shutil.get_terminal_size((160, 24)).columns - used)
            widths[-1] = min(widths[-1], room)
            rows = [[*cells[:-1], truncate(cells[-1], room)] for cells in rows]
        header = "  ".join(_pad(t, w, c.right) for t, w, c in zip(titles, widths, COLUMNS, strict=True))
        self.stream.write(self.paint(header.rstrip(), "header") + "\n")
        # An ASCII cell is as wide as it is long: a format with the column widths pads it as _pad does.
        ascii_line = "  ".join(
            f"{{:{'>' if c.right else '<'}{w}}}" for w, c in zip(widths, COLUMNS, strict=True)
        )
        lines = []
        for cells, style in zip(rows, styles, strict=True):
            if "".join(cells).isascii():
                line = ascii_line.format(*cells)
            else:
                line = "  ".join(_pad(t, w, c.right) for t, w, c in zip(cells, widths, COLUMNS, strict=True))
            lines.append(self.paint(line.rstrip(), style) + "\n")
            if len(lines) == 4096:
                self.stream.write("".join(lines))
                lines = []
        self.stream.write("".join(lines))
