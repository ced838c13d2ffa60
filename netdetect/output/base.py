"""The formatter contract and the registry of formats by name (`--format NAME`)."""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Iterator
from typing import Any, ClassVar, TextIO, TypeVar

from netdetect.errors import UsageError
from netdetect.model import Report

FORMATS: dict[str, type[Formatter]] = {}

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


def dumps(record: dict[str, Any]) -> str:
    """Compact ASCII JSON; `allow_nan=False` turns a NaN that slipped through into a loud bug."""
    return json.dumps(record, ensure_ascii=True, allow_nan=False, separators=(",", ":"))


class JsonLinesFormatter(Formatter):
    """One JSON object per finding, one per line, in rank order."""

    @abstractmethod
    def records(self, report: Report) -> Iterator[dict[str, Any]]: ...

    def write(self, report: Report) -> None:
        for record in self.records(report):
            self.stream.write(dumps(record))
            self.stream.write("\n")


def formatter_for(fmt: str) -> type[Formatter]:
    try:
        return FORMATS[fmt]
    except KeyError:
        known = ", ".join(sorted(FORMATS))
        raise UsageError(f"unknown output format {fmt!r} (known: {known})") from None
