"""Safe-by-construction HTML/SVG building: text is escaped unless it is already `Markup`.

The report embeds attacker-controlled names; building every element through `el` means a
forgotten escape is impossible rather than unlikely. Tag and attribute names are code constants.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable

from netdetect.output.text import safe_text

_NAME = re.compile(r"[a-zA-Z][a-zA-Z0-9:-]*\Z")
VOID = frozenset({"meta", "br", "hr", "link", "img", "input", "col", "wbr"})


class Markup(str):
    """A string that is already valid, escaped markup."""

    __slots__ = ()


def escape(value: object) -> Markup:
    """Text (control characters shown as escapes) made safe for element content and quoted attributes."""
    if isinstance(value, Markup):
        return value
    return Markup(html.escape(safe_text(value), quote=True))


def _attribute_value(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.2f}".rstrip("0").rstrip(".")
    return str(value)


def el(tag: str, attrs: dict[str, object] | None = None, *children: object) -> Markup:
    """`<tag attr="...">children</tag>`; None attributes and children are skipped, True is a bare flag."""
    if not _NAME.match(tag):
        raise ValueError(f"bad tag name {tag!r}")
    parts = [f"<{tag}"]
    for name, value in (attrs or {}).items():
        if value is None or value is False:
            continue
        if not _NAME.match(name) or name.lower().startswith("on"):
            raise ValueError(f"refusing attribute name {name!r}")
        if value is True:
            parts.append(f" {name}")
        else:
            parts.append(f' {name}="{html.escape(safe_text(_attribute_value(value)), quote=True)}"')
    parts.append(">")
    if tag in VOID:
        return Markup("".join(parts))
    parts.extend(escape(child) for child in children if child is not None)
    parts.append(f"</{tag}>")
    return Markup("".join(parts))


def join(items: Iterable[object]) -> Markup:
    """Concatenate children (each escaped unless Markup)."""
    return Markup("".join(escape(item) for item in items if item is not None))
