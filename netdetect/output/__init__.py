"""Findings output: a terminal table, machine formats for SIEMs, and a self-contained HTML report.

write_report(report, "jsonl", sys.stdout)      # any name in FORMATS
write_html(report, "report.html")
with Progress(total_bytes, enabled=not quiet) as progress: progress.update(done)
"""

from __future__ import annotations

from typing import TextIO

from netdetect.model import Report
from netdetect.output import csvfmt, ecs, eve, jsonl, table  # noqa: F401  (register the formats)
from netdetect.output.base import FORMATS, Formatter, formatter_for
from netdetect.output.html import render_html, write_html
from netdetect.output.progress import Progress
from netdetect.output.records import finding_record

DEFAULT_FORMAT = "table"


def write_report(
    report: Report, fmt: str, stream: TextIO, *, color: bool | None = None, local_time: bool = False
) -> None:
    """Write `report` to `stream` in format `fmt`. Raises UsageError for an unknown format name.

    `color`: None colours only when `stream` is a TTY (and NO_COLOR is unset); True/False force it.
    `local_time`: show local times in the terminal table; machine formats are always UTC.
    """
    formatter_for(fmt)(stream, color=color, local_time=local_time).write(report)


__all__ = [
    "DEFAULT_FORMAT",
    "FORMATS",
    "Formatter",
    "Progress",
    "finding_record",
    "formatter_for",
    "render_html",
    "write_html",
    "write_report",
]
