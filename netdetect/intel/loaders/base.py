"""What every loader shares: the result type, the problem sink, the registry and format sniffing."""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from netdetect.errors import IntelError
from netdetect.intel.indicator import BadValue, Indicator, make_indicator, type_counts
from netdetect.registry import Registry

HEAD_BYTES = 8192


@dataclass(slots=True)
class PackInfo:
    """Provenance of one loaded feed or pack, for `intel list` and the report summary."""

    name: str
    path: str
    format: str
    description: str | None = None
    sources: list[str] = field(default_factory=list)
    created: str | None = None
    updated: str | None = None
    default_confidence: str | int | None = None
    license: str | None = None
    counts: dict[str, int] = field(default_factory=dict)
    behaviours: list[dict[str, object]] = field(default_factory=list)


class Problems:
    """Collects bad lines as `path:line: message` (skipped), or raises IntelError in strict mode.

    `unsupported` is separate: content the format allows but netdetect cannot match (a STIX pattern
    with AND, a file hash in MISP). It is counted and reported, never fatal, even in strict mode.
    """

    def __init__(self, path: str | Path, strict: bool = False) -> None:
        self.path = str(path)
        self.strict = strict
        self.bad: list[str] = []
        self.unsupported: Counter[str] = Counter()
        self.notices: list[str] = []
        self.skipped: Counter[str] = Counter()  # deliberate skips: to_ids false, revoked, deleted

    def where(self, line: int | None) -> str:
        return f"{self.path}:{line}" if line is not None else self.path

    def add(self, line: int | None, message: str) -> None:
        if self.strict:
            raise IntelError(message, path=self.path, line=line)
        self.bad.append(f"{self.where(line)}: {message}")

    def unsupported_item(self, line: int | None, kind: str, detail: str) -> None:
        self.unsupported[kind] += 1
        if len(self.notices) < 200:  # a feed of 1 M hashes must not produce 1 M messages
            self.notices.append(f"{self.where(line)}: unsupported {kind}: {detail}")


@dataclass(slots=True)
class LoadResult:
    indicators: list[Indicator]
    pack: PackInfo
    problems: list[str] = field(default_factory=list)
    unsupported: dict[str, int] = field(default_factory=dict)
    notices: list[str] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)


class Loader(ABC):
    """One feed format. Subclasses register themselves by `name`."""

    name: ClassVar[str]
    extensions: ClassVar[tuple[str, ...]] = ()

    def __init__(
        self,
        path: str | Path,
        *,
        strict: bool = False,
        pack: str | None = None,
        include_non_ids: bool = False,
    ) -> None:
        self.path = Path(path)
        self.strict = strict
        self.pack_name = pack or default_pack_name(self.path)
        self.include_non_ids = include_non_ids
        self.problems = Problems(path, strict)

    @classmethod
    @abstractmethod
    def sniff(cls, path: Path, head: str) -> int:
        """How sure this loader is that it reads `path` (0 = no, 100 = certain)."""

    @abstractmethod
    def read(self) -> tuple[list[Indicator], PackInfo]:
        """Parse the file; report bad lines through self.problems."""

    def load(self) -> LoadResult:
        indicators, info = self.read()
        info.counts = type_counts(indicators)
        return LoadResult(
            indicators,
            info,
            self.problems.bad,
            dict(self.problems.unsupported),
            self.problems.notices,
            dict(self.problems.skipped),
        )

    def build(self, line: int | None, value: str, type_: str | None, **fields: Any) -> Indicator | None:
        """make_indicator with the problem reported (and None returned) on a bad value."""
        try:
            return make_indicator(
                value, type_, self.pack_name, source_path=self.problems.path, line=line, **fields
            )
        except BadValue as exc:
            self.problems.add(line, str(exc))
            return None

    def read_text(self, path: Path | None = None) -> str:
        path = path or self.path
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise IntelError(f"cannot read: {exc.strerror or exc}", path=str(path)) from exc
        if data.startswith(b"\xef\xbb\xbf"):
            data = data[3:]
        return data.decode("utf-8", errors="replace")

    def read_json(self, path: Path | None = None) -> tuple[object, str]:
        path = path or self.path
        text = self.read_text(path)
        try:
            return json.loads(text), text
        except json.JSONDecodeError as exc:
            raise IntelError(f"not valid JSON: {exc.msg}", path=str(path), line=exc.lineno) from exc


# The module of each format, in sniffing order (a tie goes to the first). A module is imported when its
# format is first needed, so a scan with the bundled pack does not import the STIX, MISP, CSV and Zeek
# parsers.
LOADER_REGISTRY: Registry[Loader] = Registry(
    "intel format",
    {name: f"netdetect.intel.loaders.{module}" for name, module in
     {"csv": "csvfile", "misp": "misp", "pack": "pack", "jsonl": "pack", "stix": "stix", "text": "text",
      "zeek": "zeek"}.items()},
    unknown="unknown {what} {name!r} (known: {sorted})",
)  # fmt: skip
LOADERS = LOADER_REGISTRY.classes  # the loaders imported so far (all of them: `all_loaders`)
LOADER_MODULES = LOADER_REGISTRY.modules
register = LOADER_REGISTRY.register


def loader_class(fmt: str) -> type[Loader]:
    """The loader of a format name (KeyError when there is none)."""
    if fmt not in LOADER_REGISTRY:
        raise KeyError(fmt)
    return LOADER_REGISTRY.get(fmt)


def all_loaders() -> dict[str, type[Loader]]:
    """Every loader by format name, in sniffing order."""
    return LOADER_REGISTRY.all()


def default_pack_name(path: Path) -> str:
    return (path.name if path.is_dir() else path.stem) or str(path)


def line_of(text: str, needle: str, start: int = 0) -> int | None:
    """1-based line of the first occurrence of `needle` (JSON loaders point at objects this way)."""
    if not needle:
        return None
    pos = text.find(needle, start)
    return None if pos < 0 else text.count("\n", 0, pos) + 1


def read_head(path: Path) -> str:
    try:
        with path.open("rb") as fh:
            return fh.read(HEAD_BYTES).decode("utf-8", errors="replace").lstrip("\ufeff")
    except OSError as exc:
        raise IntelError(f"cannot read: {exc.strerror or exc}", path=str(path)) from exc


def sniff_format(path: Path) -> str:
    """The registered format that claims `path` most strongly (text as the fallback)."""
    if not path.exists():
        raise IntelError("no such file or directory", path=str(path))
    if path.is_dir() and (path / "pack.toml").is_file():
        return "pack"  # the pack loader's certain claim, and no other loader reads such a directory
    head = "" if path.is_dir() else read_head(path)
    best, best_score = "", 0
    for name, cls in all_loaders().items():
        score = cls.sniff(path, head)
        if score > best_score:
            best, best_score = name, score
    if not best:
        raise IntelError("not an intel feed or pack netdetect can read", path=str(path))
    return best


def load_path(
    path: str | Path,
    *,
    format: str | None = None,
    strict: bool = False,
    pack: str | None = None,
    include_non_ids: bool = False,
) -> LoadResult:
    """Load one feed file, pack or feed directory; the format is sniffed unless given."""
    path = Path(path)
    fmt = format or sniff_format(path)
    try:
        cls = loader_class(fmt)
    except KeyError:
        raise IntelError(str(LOADER_REGISTRY.unknown(fmt)), path=str(path)) from None
    return cls(path, strict=strict, pack=pack, include_non_ids=include_non_ids).load()
