"""CSV (or TSV) with a header row.

Columns are recognised by common names, then checked against the content, because feeds disagree:
Volexity has `value,entity_type,description`, Sophos has `Indicator,Data,Note` where "Indicator" holds
the type label and "Data" the value. The value column is the named candidate whose cells look most like
indicators; types come from the value when the label lies (Sophos files bare domains under "URL").
Columns netdetect has no field for are kept in the notes as `name=value`.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from pathlib import Path

from netdetect.intel.indicator import (
    METADATA_LABELS,
    TYPE_ALIASES,
    BadValue,
    Indicator,
    infer_type,
    parse_time,
    refang,
)
from netdetect.intel.loaders.base import Loader, PackInfo, register

VALUE_NAMES = (
    "value",
    "indicator",
    "ioc",
    "data",
    "observable",
    "ioc_value",
    "indicator_value",
    "entity",
    "domain",
    "url",
    "ip",
    "hostname",
    "host",
    "address",
    "name",
)
TYPE_NAMES = ("type", "entity_type", "indicator_type", "ioc_type", "kind", "category", "indicator")
FIELD_NAMES: dict[str, str] = {
    **dict.fromkeys(("confidence", "score", "severity_score"), "confidence"),
    **dict.fromkeys(
        ("first_reported", "first_seen", "firstseen", "date", "published", "created"), "first_reported"
    ),
    **dict.fromkeys(("valid_from",), "valid_from"),
    **dict.fromkeys(("valid_until", "expires", "expiration", "expiry", "valid_to"), "valid_until"),
    **dict.fromkeys(("benign", "is_benign", "context_only"), "benign"),
    **dict.fromkeys(("stage", "phase", "kill_chain_phase"), "stage"),
    **dict.fromkeys(("sources", "source", "reference", "references", "ref", "link"), "sources"),
    **dict.fromkeys(("notes", "note", "description", "desc", "comment", "comments", "context"), "notes"),
    **dict.fromkeys(("tags", "labels", "tag"), "tags"),
}
SAMPLE_ROWS = 200


def _norm_header(name: str) -> str:
    return name.strip().strip("#").strip().lower().replace(" ", "_").replace("-", "_")


def _is_type_label(cell: str) -> bool:
    low = cell.strip().lower()
    return low in TYPE_ALIASES or low in METADATA_LABELS


def _looks_like_value(cell: str) -> bool:
    cell = cell.strip()
    return bool(cell) and not _is_type_label(cell) and infer_type(refang(cell)) is not None


@register
class CsvLoader(Loader):
    name = "csv"
    extensions = (".csv", ".tsv")

    @classmethod
    def sniff(cls, path: Path, head: str) -> int:
        if path.is_dir():
            return 0
        first = next((ln for ln in head.splitlines() if ln.strip() and not ln.startswith("#")), "")
        headers = {_norm_header(h) for h in first.replace("\t", ",").split(",")}
        named = bool(headers & set(VALUE_NAMES)) and ("," in first or "\t" in first)
        if path.suffix.lower() in cls.extensions:
            return 60 if named else 30
        return 40 if named else 0

    def read(self) -> tuple[list[Indicator], PackInfo]:
        text = self.read_text()
        delimiter = "\t" if self.path.suffix.lower() == ".tsv" else ","
        rows = csv.reader(io.StringIO(text), delimiter=delimiter)
        info = PackInfo(self.pack_name, str(self.path), self.name)
        header: list[str] | None = None
        body: list[tuple[int, list[str]]] = []
        for row in rows:
            lineno = rows.line_num
            if not row or all(not c.strip() for c in row) or row[0].lstrip().startswith("#"):
                continue
            if header is None:
                header = [_norm_header(h) for h in row]
                known = set(VALUE_NAMES) | set(TYPE_NAMES) | set(FIELD_NAMES)
                if not known.intersection(header) and any(_looks_like_value(c) for c in row):
                    # no header at all: the first row is data
                    header = [f"column{i + 1}" for i in range(len(row))]
                    body.append((lineno, row))
            else:
                body.append((lineno, row))
        if header is None:
            return [], info
        value_col, type_col = self._pick_columns(header, body[:SAMPLE_ROWS])
        if value_col is None:
            self.problems.add(1, f"no value column found in header {header!r}")
            return [], info
        indicators: list[Indicator] = []
        for lineno, row in body:
            self._row(lineno, row, header, value_col, type_col, indicators, info)
        return indicators, info

    @staticmethod
    def _pick_columns(
        header: list[str], sample: list[tuple[int, list[str]]]
    ) -> tuple[int | None, int | None]:
        def share(col: int, test: Callable[[str], bool]) -> float:
            cells = [r[col] for _, r in sample if col < len(r) and r[col].strip()]
            return sum(1 for c in cells if test(c)) / len(cells) if cells else 0.0

        value_scores = {i: share(i, _looks_like_value) for i in range(len(header))}
        named = [i for i, h in enumerate(header) if h in VALUE_NAMES]
        candidates = [i for i in named if value_scores[i] > 0] or named
        if not candidates:
            candidates = [i for i, s in value_scores.items() if s >= 0.5]
        value_col = max(candidates, key=lambda i: value_scores[i], default=None)
        type_candidates = [i for i, h in enumerate(header) if i != value_col and h in TYPE_NAMES]
        type_candidates += [
            i
            for i in range(len(header))
            if i != value_col and i not in type_candidates and share(i, _is_type_label) >= 0.5
        ]
        type_col = max(type_candidates, key=lambda i: share(i, _is_type_label), default=None)
        return value_col, type_col

    def _row(
        self,
        lineno: int,
        row: list[str],
        header: list[str],
        value_col: int,
        type_col: int | None,
        out: list[Indicator],
        info: PackInfo,
    ) -> None:
        if value_col >= len(row) or not row[value_col].strip():
            self.problems.add(lineno, "row has no value")
            return
        value = row[value_col].strip()
        label = row[type_col].strip() if type_col is not None and type_col < len(row) else None
        if label and label.lower() in METADATA_LABELS:  # Sophos' "Description,<blog url>" row
            info.sources.append(value)
            return
        fields: dict[str, object] = {}
        extra_notes: list[str] = []
        for i, cell in enumerate(row):
            if i in (value_col, type_col) or not cell.strip():
                continue
            name = header[i] if i < len(header) else f"column{i + 1}"
            target = FIELD_NAMES.get(name)
            cell = cell.strip()
            if target is None or target in fields and target not in ("notes", "sources"):
                extra_notes.append(f"{name}={cell}")
            elif target == "confidence":
                fields[target] = int(cell) if cell.isdigit() else cell
            elif target == "benign":
                fields[target] = cell.lower() in ("1", "true", "yes", "y")
            elif target in ("sources", "tags"):
                fields[target] = tuple(s.strip() for s in cell.replace(";", "|").split("|") if s.strip())
            elif target in ("valid_from", "valid_until"):
                try:
                    fields[target] = parse_time(cell)
                except BadValue as exc:
                    self.problems.add(lineno, f"{name}: {exc}")
                    return
            else:
                fields[target] = cell
        if extra_notes:
            fields["notes"] = "; ".join(filter(None, [fields.get("notes"), *extra_notes]))  # type: ignore[list-item]
        values = [value]
        labelled = TYPE_ALIASES.get(label.lower()) if label else None
        if labelled == "hash" and "," in value:  # Volexity packs "sha256,sha1,md5" into one cell
            values = [v for v in value.split(",") if v.strip()]
        for v in values:
            ind = self.build(lineno, v, label or None, **fields)
            if ind is not None:
                out.append(ind)
