"""The formatter contract and the registry of formats by name (`--format NAME`)."""

from __future__ import annotations

import importlib
import json
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from typing import Any, ClassVar, TextIO, TypeVar

from netdetect.errors import UsageError
from netdetect.gcpause import collections_paused
from netdetect.model import Report

FORMATS: dict[str, type[Formatter]] = {}  # the formatters imported so far (all of them: `all_formats`)
# The module of each format. A run imports only the one it writes.
FORMAT_MODULES: dict[str, str] = {
    "csv": "csvfmt",
    "ecs": "ecs",
    "eve": "eve",
    "jsonl": "jsonl",
    "table": "table",
}

_F = TypeVar("_F", bound="type[Formatter]")


def register(cls: _F) -> _F:
    """Class decorator: make a formatter available under its `name`."""
    FORMATS[cls.name] = cls
    return cls


class Formatter(ABC):
    """Writes a whole report to a text stream in one format."""

    name: ClassVar[str]
    description: ClassVar[str]

    def __init__(self, stream: TextIO, *, color: bool | None = None, local_time: bool = False) -> None:
        self.stream = stream
        self.color = color
        self.local_time = local_time

    @abstractmethod
    def write(self, report: Report) -> None: ...


def dumps(record: Any) -> str:
    """Compact ASCII JSON; `allow_nan=False` turns a NaN that slipped through into a loud bug."""
    return json.dumps(record, ensure_ascii=True, allow_nan=False, separators=(",", ":"))


CHUNK = 2048  # findings whose lines are made together: column passes at numpy speed, output streamed


def chunks(items: Sequence, size: int = CHUNK) -> Iterator[tuple[int, Sequence]]:
    """(rank of the first, items) slices of `items`."""
    for start in range(0, len(items), size):
        yield start + 1, items[start : start + size]


class JsonLinesFormatter(Formatter):
    """One JSON object per finding, one per line, in rank order."""

    @abstractmethod
    def records(self, report: Report) -> Iterator[dict[str, Any]]: ...

    def lines(self, report: Report) -> Iterator[list[str]]:
        """The JSON text of the records, a chunk at a time: `dumps` of each record unless the format
        makes the same text faster."""
        batch: list[str] = []
        for record in self.records(report):
            batch.append(dumps(record))
            if len(batch) == CHUNK:
                yield batch
                batch = []
        if batch:
            yield batch

    def write(self, report: Report) -> None:
        with collections_paused():
            for batch in self.lines(report):
                self.stream.write("\n".join(batch))
                self.stream.write("\n")


def formatter_for(fmt: str) -> type[Formatter]:
    if fmt not in FORMATS and fmt in FORMAT_MODULES:
        importlib.import_module(f"netdetect.output.{FORMAT_MODULES[fmt]}")
    try:
        return FORMATS[fmt]
    except KeyError:
        known = ", ".join(sorted(FORMAT_MODULES))
        raise UsageError(f"unknown output format {fmt!r} (known: {known})") from None


def all_formats() -> dict[str, type[Formatter]]:
    """Every formatter by name."""
    return {fmt: formatter_for(fmt) for fmt in FORMAT_MODULES}
