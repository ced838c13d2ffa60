"""Event engines: where DNS/TLS/HTTP events come from. `--engine NAME` picks one from ENGINES.

"native" is the project's own bulk decoder (`netdetect.pipeline`); "tshark" takes the events
from tshark's dissectors as a cross-check. Every engine keeps the native connection table.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from typing import Protocol

from netdetect.errors import UsageError
from netdetect.pipeline import extract_files, extract_parallel
from netdetect.tables.extraction import Extraction


class Engine(Protocol):
    name: str
    description: str

    def check(self) -> None:
        """Raise a NetdetectError if the engine cannot run here (missing tools)."""

    def extract(self, paths: Sequence[str], progress: Callable[[int], None] | None = None) -> Extraction:
        """One capture stream (a file or a rotated set, in time order)."""
        ...

    def extract_parallel(
        self, groups: Sequence[Sequence[str]], jobs: int, progress: Callable[[int], None] | None = None
    ) -> Extraction:
        """Independent capture sets on `jobs` processes, merged."""
        ...


class NativeEngine:
    """The project's own decoders: numpy over record headers, Python only for event packets."""

    name = "native"
    description = "netdetect's own decoders (fast; default)"

    def check(self) -> None:
        return None

    def extract(self, paths: Sequence[str], progress: Callable[[int], None] | None = None) -> Extraction:
        return extract_files(paths, progress)

    def extract_parallel(
        self, groups: Sequence[Sequence[str]], jobs: int, progress: Callable[[int], None] | None = None
    ) -> Extraction:
        return extract_parallel(groups, jobs, progress)


# Name -> "module:class"; an engine module is imported only when its engine is picked (the tshark
# engine's imports cost a tenth of a second on every native scan otherwise).
ENGINES: dict[str, str] = {
    NativeEngine.name: f"{__name__}:NativeEngine",
    "tshark": "netdetect.engines.tshark:TsharkEngine",
}


def engine_class(name: str) -> type[Engine]:
    target = ENGINES.get(name)
    if target is None:
        raise UsageError(f"unknown engine {name!r}; choose one of {', '.join(ENGINES)}")
    module, _, attr = target.partition(":")
    cls: type[Engine] = getattr(importlib.import_module(module), attr)
    return cls


def get_engine(name: str) -> Engine:
    """The engine registered under `name`, checked to be runnable (UsageError / TsharkUnavailable)."""
    engine = engine_class(name)()
    engine.check()
    return engine
