"""Plain-text lists: one value per line, `#` comments, optional `value;score` (signature-base c2-iocs.txt).

Defanged values are refanged. A comment line names the block that follows (signature-base puts the
source there), so it is kept as the indicators' notes.
"""

from __future__ import annotations

import re
from pathlib import Path

from netdetect.intel.indicator import Indicator, fast_classify, refang
from netdetect.intel.loaders.base import Loader, PackInfo, register

_PLAIN_LINE = re.compile(r"[A-Za-z0-9_.-]+\.[A-Za-z0-9_-]+")


@register
class TextLoader(Loader):
    name = "text"
    extensions = (".txt", ".ioc", ".list", ".lst")

    @classmethod
    def sniff(cls, path: Path, head: str) -> int:
        if path.is_dir():
            return 0
        return 20 if path.suffix.lower() in cls.extensions else 5

    def read(self) -> tuple[list[Indicator], PackInfo]:
        indicators: list[Indicator] = []
        pack, path = self.pack_name, self.problems.path
        section: str | None = None
        description: str | None = None
        plain_line = _PLAIN_LINE.fullmatch
        for lineno, line in enumerate(self.read_text().splitlines(), 1):
            if plain_line(line):  # the bulk of big feeds: a bare name or IPv4 address
                fast = fast_classify(line)
                if fast is not None:
                    raw = None if line == fast[1] else line
                    indicators.append(
                        Indicator(
                            fast[1],
                            fast[0],
                            pack,
                            None,
                            None,
                            None,
                            None,
                            False,
                            None,
                            (),
                            section,
                            (),
                            raw,
                            path,
                            lineno,
                        )
                    )
                    continue
            line = line.strip()
            if not line:
                continue
            if line.startswith("#"):
                comment = line.lstrip("#").strip()
                section = comment or section
                if description is None and comment:
                    description = comment
                continue
            value, score = line, None
            if ";" in line and not ("/" in line and not line.rpartition(";")[2].strip().isdigit()):
                value, _, tail = line.rpartition(";")
                tail = tail.strip()
                if not tail.isdigit():
                    self.problems.add(lineno, f"score after ';' is not a number: {tail!r}")
                    continue
                score = int(tail)
            elif " #" in line or "\t#" in line:  # trailing comment
                value = line.partition("#")[0]
            value = refang(value)
            fast = fast_classify(value) if value else None
            if fast is not None:  # plain name or address: build directly (million-line feeds)
                indicators.append(
                    Indicator(
                        fast[1],
                        fast[0],
                        pack,
                        score,
                        notes=section,
                        raw=None if value == fast[1] else value,
                        source_path=path,
                        line=lineno,
                    )
                )
                continue
            ind = self.build(lineno, value, None, confidence=score, notes=section)
            if ind is not None:
                indicators.append(ind)
        info = PackInfo(self.pack_name, str(self.path), self.name, description=description)
        return indicators, info
