"""netdetect's own pack format (documented in docs/intel.md).

A pack is a directory `signatures/<name>/` holding `pack.toml` (metadata and provenance) and one or more
JSON Lines files of indicators, one object per line, so a bad line is reported by its line number.
A bare `.jsonl` file of the same records also loads, as a pack named after the file.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

from netdetect.errors import IntelError
from netdetect.intel.indicator import BadValue, Indicator, parse_time
from netdetect.intel.loaders.base import Loader, PackInfo, register

INDICATOR_KEYS = frozenset(
    {
        "value",
        "type",
        "confidence",
        "first_reported",
        "valid_from",
        "valid_until",
        "benign",
        "stage",
        "sources",
        "notes",
        "tags",
        "extra",
    }
)
PACK_KEYS = frozenset(
    {
        "name",
        "title",
        "description",
        "version",
        "created",
        "updated",
        "default_confidence",
        "license",
        "tlp",
        "sources",
        "indicators",
        "behaviours",
        "format",
    }
)
CONFIDENCE_LABELS = frozenset({"high", "medium", "low"})


def _str_tuple(value: object, what: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise BadValue(f"{what} must be a string or a list of strings")


def _confidence(value: object) -> str | int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise BadValue("confidence must be high/medium/low or 0..100")
    if isinstance(value, int) and not 0 <= value <= 100:
        raise BadValue("confidence must be high/medium/low or 0..100")
    if isinstance(value, str) and value.lower() not in CONFIDENCE_LABELS:
        raise BadValue(f"confidence {value!r} is not high/medium/low or 0..100")
    return value.lower() if isinstance(value, str) else value


class _RecordReader:
    """Reads indicator records (JSON Lines) into Indicators, reporting bad lines."""

    def __init__(self, loader: Loader, default_confidence: str | int | None) -> None:
        self.loader = loader
        self.default_confidence = default_confidence

    def read(self, path: Path) -> list[Indicator]:
        problems = self.loader.problems
        saved, problems.path = problems.path, str(path)
        out: list[Indicator] = []
        try:
            for lineno, line in enumerate(self.loader.read_text(path).splitlines(), 1):
                if not line.strip() or line.lstrip().startswith("#"):
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as exc:
                    problems.add(lineno, f"not a JSON object: {exc.msg}")
                    continue
                ind = self.record(record, lineno)
                if ind is not None:
                    out.append(ind)
        finally:
            problems.path = saved
        return out

    def record(self, record: object, lineno: int) -> Indicator | None:
        problems = self.loader.problems
        if not isinstance(record, dict):
            problems.add(lineno, "not a JSON object")
            return None
        unknown = set(record) - INDICATOR_KEYS
        if unknown:
            problems.add(
                lineno, f"unknown keys {sorted(unknown)} (known: {', '.join(sorted(INDICATOR_KEYS))})"
            )
            return None
        value, type_ = record.get("value"), record.get("type")
        if not isinstance(value, str) or not isinstance(type_, str):
            problems.add(lineno, "'value' and 'type' must be strings")
            return None
        try:
            extra = record.get("extra") or {}
            if not isinstance(extra, dict):
                raise BadValue("'extra' must be an object")
            benign = record.get("benign", False)
            if not isinstance(benign, bool):
                raise BadValue("'benign' must be true or false")
            fields = dict(
                confidence=_confidence(record.get("confidence", self.default_confidence)),
                first_reported=record.get("first_reported"),
                valid_from=parse_time(record.get("valid_from")),
                valid_until=parse_time(record.get("valid_until")),
                benign=benign,
                stage=record.get("stage"),
                sources=_str_tuple(record.get("sources"), "sources"),
                notes=record.get("notes"),
                tags=_str_tuple(record.get("tags"), "tags"),
            )
            for key in ("first_reported", "stage", "notes"):
                if fields[key] is not None and not isinstance(fields[key], str):
                    raise BadValue(f"'{key}' must be a string")
            if fields["first_reported"]:
                parse_time(fields["first_reported"])
        except BadValue as exc:
            problems.add(lineno, str(exc))
            return None
        ind = self.loader.build(lineno, value, type_, **fields)
        if ind is not None and extra:
            ind.add_extra(**extra)
        return ind


@register
class PackLoader(Loader):
    name = "pack"
    extensions = (".toml",)

    @classmethod
    def sniff(cls, path: Path, head: str) -> int:
        if path.is_dir():
            return 100 if (path / "pack.toml").is_file() else 0
        return 100 if path.name == "pack.toml" else 0

    def read(self) -> tuple[list[Indicator], PackInfo]:
        pack_dir = self.path if self.path.is_dir() else self.path.parent
        meta_path = pack_dir / "pack.toml"
        try:
            meta = tomllib.loads(self.read_text(meta_path))
        except tomllib.TOMLDecodeError as exc:
            raise IntelError(f"bad TOML: {exc}", path=str(meta_path)) from exc
        unknown = set(meta) - PACK_KEYS
        if unknown:
            self.problems.path = str(meta_path)
            self.problems.add(None, f"unknown pack keys {sorted(unknown)}")
        name = meta.get("name") or pack_dir.name
        if not isinstance(name, str) or not name:
            raise IntelError("'name' must be a non-empty string", path=str(meta_path))
        self.pack_name = name
        try:
            default_confidence = _confidence(meta.get("default_confidence"))
            sources = list(_str_tuple(meta.get("sources"), "sources"))
            files = _str_tuple(meta.get("indicators", "indicators.jsonl"), "indicators")
            behaviour_files = _str_tuple(meta.get("behaviours"), "behaviours")
        except BadValue as exc:
            raise IntelError(str(exc), path=str(meta_path)) from exc
        info = PackInfo(
            name,
            str(pack_dir),
            self.name,
            description=meta.get("description") or meta.get("title"),
            sources=sources,
            created=_text(meta.get("created")),
            updated=_text(meta.get("updated")),
            default_confidence=default_confidence,
            license=meta.get("license"),
        )
        reader = _RecordReader(self, default_confidence)
        indicators: list[Indicator] = []
        for file in files:
            indicators.extend(reader.read(self._inside(pack_dir, file, meta_path)))
        for file in behaviour_files:
            info.behaviours.extend(self._behaviours(self._inside(pack_dir, file, meta_path)))
        self.problems.path = str(self.path)
        return indicators, info

    @staticmethod
    def _inside(pack_dir: Path, file: str, meta_path: Path) -> Path:
        target = (pack_dir / file).resolve()
        if not target.is_relative_to(pack_dir.resolve()):
            raise IntelError(f"{file!r} points outside the pack", path=str(meta_path))
        return target

    def _behaviours(self, path: Path) -> list[dict[str, object]]:
        out = []
        for lineno, line in enumerate(self.read_text(path).splitlines(), 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                self.problems.path = str(path)
                self.problems.add(lineno, f"not a JSON object: {exc.msg}")
                continue
            if isinstance(record, dict):
                out.append(record)
        return out


def _text(value: object) -> str | None:
    return None if value is None else str(value)


@register
class JsonlLoader(Loader):
    """A bare JSON Lines file of pack indicator records."""

    name = "jsonl"
    extensions = (".jsonl", ".ndjson")

    @classmethod
    def sniff(cls, path: Path, head: str) -> int:
        if path.is_dir():
            return 0
        first = next((ln for ln in head.splitlines() if ln.strip()), "")
        if path.suffix.lower() in cls.extensions:
            return 70
        return 50 if first.startswith("{") and '"value"' in first and '"type"' in first else 0

    def read(self) -> tuple[list[Indicator], PackInfo]:
        indicators = _RecordReader(self, None).read(self.path)
        return indicators, PackInfo(self.pack_name, str(self.path), self.name)
