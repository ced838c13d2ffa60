"""Zeek Intel framework files: tab-separated, `#fields indicator indicator_type meta.source ...`.

`-` is an unset field. Intel::URL values have no scheme in Zeek (`host/path`), which the URL parser
accepts. Types Zeek defines but netdetect cannot see on the wire (USER_NAME, FILE_NAME, PUBKEY_HASH)
are counted as unsupported.
"""

from __future__ import annotations

from pathlib import Path

from netdetect.intel.indicator import Indicator
from netdetect.intel.loaders.base import Loader, PackInfo, register

ZEEK_TYPES: dict[str, str] = {
    "Intel::ADDR": "ip",
    "Intel::SUBNET": "cidr",
    "Intel::DOMAIN": "domain",
    "Intel::URL": "url",
    "Intel::EMAIL": "email",
    "Intel::SOFTWARE": "user-agent",
    "Intel::FILE_HASH": "hash",
    "Intel::CERT_HASH": "x509",
    "Intel::JA3": "ja3",  # zeek-ja3 / ja4 packages extend the enum
    "Intel::JA4": "ja4",
}
UNSET = "-"


@register
class ZeekIntelLoader(Loader):
    name = "zeek"
    extensions = (".intel", ".dat", ".zeek")

    @classmethod
    def sniff(cls, path: Path, head: str) -> int:
        if path.is_dir():
            return 0
        for line in head.splitlines():
            if line.startswith("#fields"):
                return 95
            if line.strip() and not line.startswith("#"):
                break
        return 0

    def read(self) -> tuple[list[Indicator], PackInfo]:
        indicators: list[Indicator] = []
        info = PackInfo(self.pack_name, str(self.path), self.name)
        fields: list[str] | None = None
        separator: str = "\t"
        for lineno, line in enumerate(self.read_text().splitlines(), 1):
            if not line.strip():
                continue
            if line.startswith("#"):
                if line.startswith("#separator"):
                    sep = line.split(None, 1)[1] if len(line.split(None, 1)) > 1 else "\\x09"
                    separator = sep.encode().decode("unicode_escape") if sep.startswith("\\x") else sep
                elif line.startswith("#fields"):
                    names = line.split(separator)[1:] if separator in line else line.split()[1:]
                    fields = [n.strip() for n in names]
                    if "indicator" not in fields or "indicator_type" not in fields:
                        self.problems.add(lineno, "#fields must name 'indicator' and 'indicator_type'")
                        fields = None
                continue
            if fields is None:
                self.problems.add(lineno, "data line before a valid #fields header")
                continue
            cells = line.split(separator) if separator in line else line.split()
            if len(cells) != len(fields):
                self.problems.add(lineno, f"{len(cells)} fields, header has {len(fields)}")
                continue
            row = dict(zip(fields, cells, strict=True))
            zeek_type = row["indicator_type"].strip()
            our_type = ZEEK_TYPES.get(zeek_type)
            if our_type is None:
                if zeek_type.startswith("Intel::"):
                    self.problems.unsupported_item(lineno, f"Zeek type {zeek_type}", row["indicator"][:120])
                else:
                    self.problems.add(lineno, f"unknown indicator_type {zeek_type!r}")
                continue
            sources = tuple(
                row[k] for k in ("meta.source", "meta.url") if row.get(k, UNSET) not in (UNSET, "")
            )
            notes = [row["meta.desc"]] if row.get("meta.desc", UNSET) not in (UNSET, "") else []
            notes += [
                f"{k}={v}"
                for k, v in row.items()
                if k.startswith("meta.")
                and k not in ("meta.source", "meta.url", "meta.desc")
                and v not in (UNSET, "")
            ]
            ind = self.build(
                lineno, row["indicator"], our_type, sources=sources, notes="; ".join(notes) or None
            )
            if ind is not None:
                indicators.append(ind)
        info.sources = sorted({s for ind in indicators for s in ind.sources[:1]})[:20]
        return indicators, info
