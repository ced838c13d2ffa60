"""Findings output: a terminal table, machine formats for SIEMs, and a self-contained HTML report.

write_report(report, "jsonl", sys.stdout)      # any name in FORMATS
write_html(report, "report.html")
with Progress(total_bytes, enabled=not quiet) as progress: progress.update(done)
"""

from __future__ import annotations

import importlib
from typing import Any, TextIO

from netdetect.model import Report
from netdetect.output.base import Formatter, collections_paused, formatter_for

# Imported on first use (PEP 562): a scan loads the one format it writes, and HTML only with --html.
_LAZY = {
    "Progress": "netdetect.output.progress",
    "finding_record": "netdetect.output.records",
    "render_html": "netdetect.output.html",
    "write_html": "netdetect.output.html",
}


def __getattr__(name: str) -> Any:
    if name == "FORMATS":
        from netdetect.output.base import all_formats

        return all_formats()
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


DEFAULT_FORMAT = "table"


def write_report(
    report: Report, fmt: str, stream: TextIO, *, color: bool | None = None, local_time: bool = False
) -> None:
    """Write `report` to `stream` in format `fmt`. Raises UsageError for an unknown format name.

    `color`: None colours only when `stream` is a TTY (and NO_COLOR is unset); True/False force it.
    `local_time`: show local times in the terminal table; machine formats are always UTC.
    """
    formatter = formatter_for(fmt)(stream, color=color, local_time=local_time)
    with collections_paused():
        formatter.write(report)


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
