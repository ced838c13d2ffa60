"""`--format csv`: one flat row per finding for spreadsheets and `xsv`/`mlr`.

Lists are joined with `;` (a `;` inside an item is written `\\x3b`), missing values are empty,
booleans are `true`/`false`, times are UTC ISO 8601. Text cells that a spreadsheet would run as a
formula (leading `=`, `+`, `-`, `@`, tab, CR) get a leading `'` (OWASP CSV-injection advice):
names in findings come from the wire.
"""

from __future__ import annotations

import csv
import re
from typing import Any, TextIO

from netdetect.model import Report
from netdetect.output.base import Formatter, chunks, collections_paused, register
from netdetect.output.columns import RecordColumns
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


_FORMULA_FIRST = frozenset(_FORMULA_STARTS)  # all one character: startswith(...) is "first in"


def _text_cells(values: list) -> list[str]:
    """`_cell` of each value, strings and None without a call."""
    first = _FORMULA_FIRST
    return [
        "" if v is None else ("'" + v if v[:1] in first else v) if type(v) is str else _cell(v)
        for v in values
    ]


def _number_cells(values: list) -> list[str]:
    """`_cell` of floats (or ints) and None."""
    return ["" if v is None else repr(v) if type(v) is float else _cell(v) for v in values]


def _joined_cells(lists: list) -> list[str]:
    """`_joined` of each list; one-string lists (most) without a call."""
    first = _FORMULA_FIRST
    return [
        ("'" + v[0] if v[0][:1] in first else v[0]).replace(";", "\\x3b")
        if len(v) == 1 and type(v[0]) is str
        else _joined_texts(v)
        for v in lists
    ]


def _joined_texts(items: list) -> str:
    """`_joined` of a list, lists of strings without a call per item."""
    if not items or not all(type(item) is str for item in items):
        return _joined(items)
    first = _FORMULA_FIRST
    return ";".join([("'" + v if v[:1] in first else v).replace(";", "\\x3b") for v in items])


def _joined_numbers(items: list) -> str:
    """`_joined` of a list of numbers (histogram counts, bin edges)."""
    if set(map(type, items)) <= _NUMBER:
        return ";".join(map(repr, items))  # repr is _number's text of an int or a float
    return _joined(items)


_NUMBER = {int, float}
_QUOTED = re.compile('["\r\n]')  # with the delimiter, what makes the csv writer quote a cell (QUOTE_MINIMAL)


def write_rows(stream: TextIO, writer: Any, rows: list[tuple[str, ...]]) -> None:
    """`writer.writerows(rows)` for the csv writer of `stream` (excel dialect, CRLF): a row none of
    whose cells holds a comma, quote, CR or LF is its cells joined by commas; any other row is left to
    the writer."""
    quoted = _QUOTED.search
    lines: list[str] = []
    for cells in rows:
        line = ",".join(cells)
        if line.count(",") == len(cells) - 1 and quoted(line) is None:
            lines.append(line)
            lines.append("\r\n")
        else:
            if lines:
                stream.write("".join(lines))
                lines = []
            writer.writerow(cells)
    if lines:
        stream.write("".join(lines))


def csv_rows(columns: RecordColumns) -> list[tuple[str, ...]]:
    """The CSV row (cells in COLUMNS order) of each finding of `columns`: `flat_row` of its record."""
    n = len(columns)
    intel: list[list[str]] = [[""] * n for _ in range(5)]
    for i, hits in enumerate(columns.intel):
        if hits:
            for column, field in zip(
                intel, ("indicator", "pack", "confidence", "field", "value"), strict=True
            ):
                column[i] = _joined([hit[field] for hit in hits])
    subscores = columns.subscores
    texts: dict[tuple[int, int], str] = {}
    subscore_cells = []
    for layout, row in zip(subscores.layout, subscores.row, strict=True):
        seen = (id(layout), row)
        text = texts.get(seen)
        if text is None:
            names, rows = layout
            items = zip(names, rows[row], strict=True)
            text = texts[seen] = _joined([f"{name}={_cell(value)}" for name, value in items])
        subscore_cells.append(text)
    cells = {
        "rank": list(map(str, columns.rank)),
        "kind": _text_cells(columns.kind),
        "verdict": _text_cells(columns.verdict),
        "severity": _text_cells(columns.severity),
        "score": _number_cells(columns.score),
        "beacon": ["true" if b else "false" for b in columns.beacon],
        "src_ip": _text_cells(columns.src_ip),
        "dst_ip": _text_cells(columns.dst_ip),
        "dst_ips": _joined_cells(columns.dst_ips),
        "dst_port": ["" if p is None else str(p) for p in columns.dst_port],
        "proto": _text_cells(columns.proto),
        "server_name": _text_cells(columns.server_name),
        "period_s": _number_cells(columns.period_s),
        "jitter": _number_cells(columns.jitter),
        "connections": list(map(str, columns.connections)),
        "first_seen": _text_cells(columns.first_seen),
        "last_seen": _text_cells(columns.last_seen),
        "duration_s": _number_cells(columns.duration_s),
        "missed_share": _number_cells(columns.missed_share),
        "allowlisted": _text_cells(columns.allowlisted),
        "intel_indicators": intel[0],
        "intel_packs": intel[1],
        "intel_confidence": intel[2],
        "intel_fields": intel[3],
        "intel_values": intel[4],
        "dns_names": _joined_cells(columns.dns_names),
        "subscores": subscore_cells,
        "interval_histogram": [
            _joined_numbers(counts) if counts else "" for counts in columns.interval_histogram
        ],
        "interval_bin_edges_s": [
            _joined_numbers(edges) if edges else "" for edges in columns.interval_bin_edges_s
        ],
        "why": _text_cells(columns.why),
    }
    return list(zip(*(cells[key] for key in COLUMNS), strict=True))


@register
class CsvFormatter(Formatter):
    name = "csv"
    description = "one flat row per finding, lists joined with ';'"

    def write(self, report: Report) -> None:
        writer = csv.DictWriter(self.stream, fieldnames=COLUMNS, lineterminator="\r\n")  # RFC 4180
        writer.writeheader()
        with collections_paused():
            for start, findings in chunks(report.findings):
                # DictWriter.writerow(flat_row(...)) writes the row's values in COLUMNS order.
                write_rows(self.stream, writer.writer, csv_rows(RecordColumns(findings, start)))

    def write_reference(self, report: Report) -> None:
        """The same rows one finding at a time (what `write` is tested against)."""
        writer = csv.DictWriter(self.stream, fieldnames=COLUMNS, lineterminator="\r\n")
        writer.writeheader()
        for rank, finding in enumerate(report.findings, start=1):
            writer.writerow(flat_row(finding_record(finding, rank)))
