"""The formatter contract and the registry of formats by name (`--format NAME`)."""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from typing import Any, ClassVar, TextIO

from netdetect.gcpause import collections_paused
from netdetect.model import Report
from netdetect.registry import Registry

# The module of each format: a run imports only the one it writes.
FORMAT_REGISTRY: Registry[Formatter] = Registry(
    "output format",
    {name: f"netdetect.output.{module}" for name, module in
     {"csv": "csvfmt", "ecs": "ecs", "eve": "eve", "jsonl": "jsonl", "table": "table"}.items()},
    unknown="unknown {what} {name!r} (known: {sorted})",
)  # fmt: skip
FORMATS = FORMAT_REGISTRY.classes  # the formatters imported so far (all of them: `all_formats`)
FORMAT_MODULES = FORMAT_REGISTRY.modules
register = FORMAT_REGISTRY.register  # class decorator: a formatter available under its `name`


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
    return FORMAT_REGISTRY.get(fmt)


def all_formats() -> dict[str, type[Formatter]]:
    """Every formatter by name."""
    return FORMAT_REGISTRY.all()
