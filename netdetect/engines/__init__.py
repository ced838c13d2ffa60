"""Event engines: where DNS/TLS/HTTP events come from. `--engine NAME` picks one from ENGINES.

"native" is the project's own bulk decoder (`netdetect.pipeline`); "tshark" takes the events
from tshark's dissectors as a cross-check. Every engine keeps the native connection table.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from netdetect.pipeline import extract_files, extract_parallel
from netdetect.registry import Registry
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
ENGINE_REGISTRY: Registry[Engine] = Registry(
    "engine",
    {NativeEngine.name: f"{__name__}:NativeEngine", "tshark": "netdetect.engines.tshark:TsharkEngine"},
)
ENGINES = ENGINE_REGISTRY.modules


def engine_class(name: str) -> type[Engine]:
    return ENGINE_REGISTRY.get(name)


def get_engine(name: str) -> Engine:
    """The engine registered under `name`, checked to be runnable (UsageError / TsharkUnavailable)."""
    engine = engine_class(name)()
    engine.check()
    return engine
