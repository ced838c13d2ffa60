"""`--format csv`: one flat row per finding for spreadsheets and `xsv`/`mlr`.

Lists are joined with `;` (a `;` inside an item is written `\\x3b`), missing values are empty,
booleans are `true`/`false`, times are UTC ISO 8601. Text cells that a spreadsheet would run as a
formula (leading `=`, `+`, `-`, `@`, tab, CR) get a leading `'` (OWASP CSV-injection advice):
names in findings come from the wire.
"""

from __future__ import annotations

import csv
from typing import Any

from netdetect.model import Report
from netdetect.output.base import Formatter, register
from netdetect.output.records import finding_record

COLUMNS: tuple[str, ...] = (
    "rank",
    "kind",
    "verdict",
    "severity",
    "score",
    "beacon",
    "src_ip",
    "dst_ip",
    "dst_ips",
    "dst_port",
    "proto",
    "server_name",
    "period_s",
    "jitter",
    "connections",
    "first_seen",
    "last_seen",
    "duration_s",
    "missed_share",
    "allowlisted",
    "intel_indicators",
    "intel_packs",
    "intel_confidence",
    "intel_fields",
    "intel_values",
    "dns_names",
    "subscores",
    "interval_histogram",
    "interval_bin_edges_s",
    "why",
)

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value) if isinstance(value, float) else str(value)
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def _joined(items: list[Any]) -> str:
    if all(type(item) in (int, float) for item in items):  # histograms: no text to defuse
        return ";".join(map(_number, items))
    return ";".join(_cell(item).replace(";", "\\x3b") for item in items)


def _number(value: float) -> str:
    return repr(value) if type(value) is float else str(value)


def flat_row(record: dict[str, Any]) -> dict[str, str]:
    """The CSV row for one JSONL finding record."""
    intel = record["intel"]
    flat = {
        **{key: _cell(record.get(key)) for key in COLUMNS},
        "dst_ips": _joined(record["dst_ips"]),
        "intel_indicators": _joined([hit["indicator"] for hit in intel]),
        "intel_packs": _joined([hit["pack"] for hit in intel]),
        "intel_confidence": _joined([hit["confidence"] for hit in intel]),
        "intel_fields": _joined([hit["field"] for hit in intel]),
        "intel_values": _joined([hit["value"] for hit in intel]),
        "dns_names": _joined(record["dns_names"]),
        "subscores": _joined([f"{name}={_cell(value)}" for name, value in record["subscores"].items()]),
        "interval_histogram": _joined(record["interval_histogram"]),
        "interval_bin_edges_s": _joined(record["interval_bin_edges_s"]),
    }
    return flat


@register
class CsvFormatter(Formatter):
    name = "csv"
    description = "one flat row per finding, lists joined with ';'"

    def write(self, report: Report) -> None:
        writer = csv.DictWriter(self.stream, fieldnames=COLUMNS, lineterminator="\r\n")  # RFC 4180
        writer.writeheader()
        for rank, finding in enumerate(report.findings, start=1):
            writer.writerow(flat_row(finding_record(finding, rank)))
