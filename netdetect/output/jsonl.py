"""`--format jsonl`: the project's own finding records (docs/findings.schema.json)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from netdetect.model import Report
from netdetect.output.base import JsonLinesFormatter, chunks, register
from netdetect.output.columns import RecordColumns
from netdetect.output.records import finding_record


@register
class JsonlFormatter(JsonLinesFormatter):
    name = "jsonl"
    description = "one JSON object per finding (docs/findings.schema.json)"

    def records(self, report: Report) -> Iterator[dict[str, Any]]:
        for rank, finding in enumerate(report.findings, start=1):
            yield finding_record(finding, rank)

    def lines(self, report: Report) -> Iterator[list[str]]:
        for start, findings in chunks(report.findings):
            yield RecordColumns(findings, start).json()
