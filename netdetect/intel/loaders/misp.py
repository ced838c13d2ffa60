"""MISP: feed directories (manifest.json + one <event-uuid>.json per event) and event JSON exports.

Accepted documents: `{"Event": {...}}` (feed event), `{"response": [{"Event": {...}}, ...]}` (API
export), a list of either, or a bare event with `Attribute`. Attributes inside `Object`s count too.
Attributes with `to_ids` false are skipped unless asked (MISP's own rule for what is detection-grade),
as are deleted ones; types netdetect cannot match on the wire (file hashes...) are counted as unsupported.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from netdetect.errors import IntelError
from netdetect.intel.indicator import BadValue, Indicator, format_time, parse_time
from netdetect.intel.loaders.base import Loader, PackInfo, line_of, register

ATTRIBUTE_TYPES: dict[str, str] = {
    "domain": "domain",
    "hostname": "hostname",
    "ip-dst": "ip",
    "ip-src": "ip",
    "url": "url",
    "ja3-fingerprint-md5": "ja3",
    "ja4-fingerprint": "ja4",
    "jarm-fingerprint": "jarm",
    "hassh-md5": "hash",
    "x509-fingerprint-sha1": "x509",
    "user-agent": "user-agent",
    "email-src": "email",
    "whois-registrant-email": "email",
}
# Composite types: value "a|b" -> one indicator per part.
COMPOSITE_TYPES: dict[str, tuple[str | None, ...]] = {
    "domain|ip": ("domain", "ip"),
    "hostname|port": ("hostname", None),
    "ip-dst|port": ("ip", None),
    "ip-src|port": ("ip", None),
}
# MISP confidence taxonomies -> our labels.
CONFIDENCE_TAGS = {
    'misp:confidence-level="completely-confident"': "high",
    'misp:confidence-level="usually-confident"': "high",
    'misp:confidence-level="fairly-confident"': "medium",
    'misp:confidence-level="rarely-confident"': "low",
    'misp:confidence-level="unconfident"': "low",
    'estimative-language:confidence-in-analytic-judgment="high"': "high",
    'estimative-language:confidence-in-analytic-judgment="moderate"': "medium",
    'estimative-language:confidence-in-analytic-judgment="low"': "low",
}


def _tags(obj: dict) -> list[str]:
    return [t["name"] for t in obj.get("Tag") or [] if isinstance(t, dict) and isinstance(t.get("name"), str)]


def iter_events(doc: object) -> Iterator[dict]:
    if isinstance(doc, list):
        for item in doc:
            yield from iter_events(item)
    elif isinstance(doc, dict):
        if "response" in doc:
            yield from iter_events(doc["response"])
        elif isinstance(doc.get("Event"), dict):
            yield doc["Event"]
        elif "Attribute" in doc or "Object" in doc:
            yield doc


@register
class MispLoader(Loader):
    """One MISP event file or export, or a feed directory."""

    name = "misp"
    extensions = (".json",)

    @classmethod
    def sniff(cls, path: Path, head: str) -> int:
        if path.is_dir():
            return 90 if (path / "manifest.json").is_file() else 0
        start = head.lstrip()
        if start.startswith(("{", "[")) and (
            '"Event"' in head or '"Attribute"' in head or '"response"' in head
        ):
            return 80
        return 0

    def read(self) -> tuple[list[Indicator], PackInfo]:
        info = PackInfo(self.pack_name, str(self.path), self.name)
        indicators: list[Indicator] = []
        if self.path.is_dir():
            for event_path in self._feed_files(info):
                self._read_file(event_path, indicators, info)
        else:
            self._read_file(self.path, indicators, info)
        info.sources = sorted(set(info.sources))
        return indicators, info

    def _feed_files(self, info: PackInfo) -> list[Path]:
        manifest_path = self.path / "manifest.json"
        try:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8", errors="replace"))
        except json.JSONDecodeError as exc:
            raise IntelError(f"not valid JSON: {exc.msg}", path=str(manifest_path), line=exc.lineno) from exc
        except OSError as exc:
            raise IntelError(f"cannot read: {exc.strerror or exc}", path=str(manifest_path)) from exc
        if not isinstance(manifest, dict):
            raise IntelError("manifest is not an object keyed by event uuid", path=str(manifest_path))
        files = []
        dates = []
        for uuid, meta in manifest.items():
            event_path = self.path / f"{uuid}.json"
            if "/" in uuid or "\\" in uuid or uuid.startswith("."):  # a hostile manifest must not escape
                self.problems.add(line_of(json.dumps(manifest, indent=1), uuid), f"bad event uuid {uuid!r}")
                continue
            if not event_path.is_file():
                self.problems.add(None, f"manifest lists event {uuid} but {event_path.name} is missing")
                continue
            files.append(event_path)
            if isinstance(meta, dict):
                if isinstance(meta.get("info"), str):
                    info.description = info.description or meta["info"]
                if isinstance(meta.get("date"), str):
                    dates.append(meta["date"])
        if dates:
            info.created, info.updated = min(dates), max(dates)
        return files

    def _read_file(self, path: Path, out: list[Indicator], info: PackInfo) -> None:
        saved = self.problems.path
        self.problems.path = str(path)
        try:
            try:
                doc, text = self.read_json(path)
            except IntelError as exc:
                if self.strict or path == self.path:
                    raise
                self.problems.add(exc.line, exc.message)  # one broken event must not hide the rest of a feed
                return
            events = list(iter_events(doc))
            if not events:
                self.problems.add(1, "no MISP event found (expected Event, response or Attribute)")
            for event in events:
                self._event(event, text, out, info)
        finally:
            self.problems.path = saved

    def _event(self, event: dict, text: str, out: list[Indicator], info: PackInfo) -> None:
        org = event.get("Orgc", {}).get("name") if isinstance(event.get("Orgc"), dict) else None
        event_info = event.get("info") if isinstance(event.get("info"), str) else None
        source = " / ".join(filter(None, [org, event_info]))
        if source:
            info.sources.append(source)
        if event_info and not info.description:
            info.description = event_info
        event_tags = _tags(event)
        event_date = event.get("date") if isinstance(event.get("date"), str) else None
        attributes: list[tuple[dict, dict | None]] = [(a, None) for a in event.get("Attribute") or []]
        for obj in event.get("Object") or []:
            if isinstance(obj, dict):
                attributes.extend((a, obj) for a in obj.get("Attribute") or [])
        for attribute, obj in attributes:
            if isinstance(attribute, dict):
                self._attribute(attribute, obj, text, event_tags, event_date, source, out)
            else:
                self.problems.add(None, "attribute is not an object")

    def _attribute(
        self,
        attr: dict,
        obj: dict | None,
        text: str,
        event_tags: list[str],
        event_date: str | None,
        source: str,
        out: list[Indicator],
    ) -> None:
        uuid = attr.get("uuid")
        line = line_of(text, str(uuid)) if uuid else None
        mtype, value = attr.get("type"), attr.get("value")
        if not isinstance(mtype, str) or not isinstance(value, str):
            self.problems.add(line, "attribute without a string type and value")
            return
        if attr.get("deleted") in (True, 1, "1", "true"):
            self.problems.skipped["deleted"] += 1
            return
        if not self.include_non_ids and attr.get("to_ids") in (False, 0, "0", "false", None):
            self.problems.skipped["to_ids false"] += 1
            return
        if mtype in COMPOSITE_TYPES:
            parts = value.split("|")
            kinds = COMPOSITE_TYPES[mtype]
            if len(parts) != len(kinds):
                self.problems.add(line, f"{mtype} value {value!r} does not have {len(kinds)} parts")
                return
            pairs = [(k, p) for k, p in zip(kinds, parts, strict=True) if k is not None]
        elif mtype in ATTRIBUTE_TYPES:
            pairs = [(ATTRIBUTE_TYPES[mtype], value)]
        else:
            self.problems.unsupported_item(line, f"MISP type {mtype}", value[:120])
            return
        tags = event_tags + _tags(attr) + (_tags(obj) if obj else [])
        confidence = next((CONFIDENCE_TAGS[t] for t in tags if t in CONFIDENCE_TAGS), None)
        try:
            first_seen = parse_time(attr.get("first_seen"))
            last_seen = parse_time(attr.get("last_seen"))
        except BadValue as exc:
            self.problems.add(line, str(exc))
            return
        comment = attr.get("comment") if isinstance(attr.get("comment"), str) else None
        if obj is not None and isinstance(obj.get("name"), str):
            comment = "; ".join(filter(None, [f"object {obj['name']}", comment]))
        for kind, part in pairs:
            ind = self.build(
                line,
                part,
                kind,
                confidence=confidence,
                first_reported=format_time(first_seen) or event_date,
                sources=(source,) if source else (),
                notes=comment or None,
                tags=tuple(tags),
                benign=False,
            )
            if ind is not None:
                if last_seen is not None:
                    ind.add_extra(last_seen=format_time(last_seen))
                if uuid:
                    ind.add_extra(misp_uuid=uuid)
                out.append(ind)
