"""STIX 2.1 bundles (and 2.0): `indicator` objects with `pattern_type` stix.

Only patterns that are a disjunction of equality tests can be matched one value at a time:
`[domain-name:value = 'a' OR url:value = 'b'] OR [ipv4-addr:value IN ('c', 'd')]`. Each disjunct on a
network object path becomes an indicator. Conjunctions (AND), sequences (FOLLOWEDBY), qualifiers
(WITHIN, REPEATS, START/STOP) and other operators (LIKE, MATCHES, !=, ...) would over-match if split,
so such patterns are counted and reported as unsupported, as are disjuncts on other paths (file hashes).
"""

from __future__ import annotations

import re
from pathlib import Path

from netdetect.intel.indicator import BadValue, Indicator, format_time, parse_time
from netdetect.intel.loaders.base import Loader, PackInfo, line_of, register

PATH_TYPES: dict[str, str] = {
    "domain-name:value": "domain",
    "ipv4-addr:value": "ip",
    "ipv6-addr:value": "ip",
    "url:value": "url",
    "network-traffic:dst_ref.value": "ip",
    "email-addr:value": "email",
}

_TOKEN = re.compile(
    r"""\s*(?:
      (?P<string>'(?:[^'\\]|\\.)*')
    | (?P<prefixed>[thb]'(?:[^'\\]|\\.)*')
    | (?P<punct>\[|\]|\(|\)|,|!=|>=|<=|=|>|<)
    | (?P<path>[a-z0-9_-]+:[A-Za-z0-9_.\-\[\]*'"]+?(?=\s|=|!|<|>|\]|\)|$))
    | (?P<word>[A-Za-z_][A-Za-z0-9_]*)
    | (?P<number>-?\d+(?:\.\d+)?)
    )""",
    re.VERBOSE,
)
UNSUPPORTED_WORDS = {
    "AND",
    "FOLLOWEDBY",
    "WITHIN",
    "REPEATS",
    "START",
    "STOP",
    "NOT",
    "LIKE",
    "MATCHES",
    "ISSUBSET",
    "ISSUPERSET",
    "EXISTS",
    "SECONDS",
    "TIMES",
}


class PatternError(ValueError):
    pass


class Unsupported(ValueError):
    pass


def _unquote(literal: str) -> str:
    return re.sub(r"\\(.)", r"\1", literal[1:-1])


def tokenize(pattern: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    pos = 0
    pattern = pattern.strip()
    while pos < len(pattern):
        m = _TOKEN.match(pattern, pos)
        if not m or m.end() == pos:
            raise PatternError(f"cannot parse pattern near {pattern[pos : pos + 30]!r}")
        kind = m.lastgroup or ""
        tokens.append((kind, m.group(kind)))
        pos = m.end()
        while pos < len(pattern) and pattern[pos].isspace():
            pos += 1
    return tokens


def disjuncts(pattern: str) -> list[tuple[str, str]]:
    """(object path, value) for each equality test of an OR-only pattern.
    Raises PatternError (malformed) or Unsupported (valid STIX that cannot be split safely)."""
    tokens = tokenize(pattern)
    depth = 0
    out: list[tuple[str, str]] = []
    i = 0
    expect_term = True
    while i < len(tokens):
        kind, text = tokens[i]
        if kind == "punct" and text in "[(":
            depth += 1
            i += 1
            continue
        if kind == "punct" and text in "])":
            depth -= 1
            if depth < 0:
                raise PatternError("unbalanced brackets")
            i += 1
            continue
        if kind == "word":
            upper = text.upper()
            if upper == "OR" and not expect_term:
                expect_term = True
                i += 1
                continue
            if upper in UNSUPPORTED_WORDS:
                raise Unsupported(f"{upper} in pattern")
            raise PatternError(f"unexpected {text!r}")
        if kind == "path" and expect_term:
            if i + 1 >= len(tokens):
                raise PatternError(f"comparison without operator after {text}")
            op_kind, op = tokens[i + 1] if i + 1 < len(tokens) else ("", "")
            if op_kind == "punct" and op == "=":
                if i + 2 >= len(tokens) or tokens[i + 2][0] != "string":
                    raise PatternError(f"'=' without a string after {text}")
                out.append((text, _unquote(tokens[i + 2][1])))
                i += 3
            elif op_kind == "word" and op.upper() == "IN":
                j = i + 2
                if j >= len(tokens) or tokens[j] != ("punct", "("):
                    raise PatternError("IN without a list")
                j += 1
                while j < len(tokens) and tokens[j][0] == "string":
                    out.append((text, _unquote(tokens[j][1])))
                    j += 1
                    if j < len(tokens) and tokens[j] == ("punct", ","):
                        j += 1
                if j >= len(tokens) or tokens[j] != ("punct", ")"):
                    raise PatternError("unterminated IN list")
                i = j + 1
            elif op_kind == "word" and op.upper() in UNSUPPORTED_WORDS or op_kind == "punct" and op != "=":
                raise Unsupported(f"operator {op} on {text}")
            else:
                raise PatternError(f"bad comparison at {text}")
            expect_term = False
            continue
        raise PatternError(f"unexpected {text!r}")
    if depth != 0:
        raise PatternError("unbalanced brackets")
    if expect_term or not out:
        raise PatternError("pattern ends without a comparison")
    return out


@register
class StixLoader(Loader):
    name = "stix"
    extensions = (".json",)

    @classmethod
    def sniff(cls, path: Path, head: str) -> int:
        if path.is_dir():
            return 0
        start = head.lstrip()[:4096]
        if (
            start.startswith("{")
            and '"bundle"' in start
            or '"spec_version"' in start
            and "indicator--" in head
        ):
            return 80
        return 0

    def read(self) -> tuple[list[Indicator], PackInfo]:
        doc, text = self.read_json()
        info = PackInfo(self.pack_name, str(self.path), self.name)
        if isinstance(doc, dict) and doc.get("type") == "bundle":
            objects = doc.get("objects") or []
        elif isinstance(doc, dict) and doc.get("type") == "indicator":
            objects = [doc]
        elif isinstance(doc, list):
            objects = doc
        else:
            self.problems.add(1, "not a STIX bundle (no type 'bundle')")
            return [], info
        identities = {
            o.get("id"): o.get("name") for o in objects if isinstance(o, dict) and o.get("type") == "identity"
        }
        indicators: list[Indicator] = []
        created: list[float] = []
        for index, obj in enumerate(objects):
            if not isinstance(obj, dict):
                self.problems.add(None, f"objects[{index}] is not an object")
                continue
            if obj.get("type") != "indicator":
                continue
            line = line_of(text, str(obj.get("id", ""))) if obj.get("id") else None
            indicators.extend(self._indicator(obj, line, identities, created))
        info.sources = sorted({name for name in identities.values() if name})
        if created:
            info.created, info.updated = format_time(min(created)), format_time(max(created))
        return indicators, info

    def _indicator(
        self, obj: dict, line: int | None, identities: dict, created: list[float]
    ) -> list[Indicator]:
        if obj.get("revoked"):
            self.problems.skipped["revoked"] += 1
            return []
        pattern_type = obj.get("pattern_type", "stix")
        pattern = obj.get("pattern")
        if pattern_type != "stix":
            self.problems.unsupported_item(line, f"pattern_type {pattern_type}", str(pattern)[:120])
            return []
        if not isinstance(pattern, str):
            self.problems.add(line, "indicator without a pattern")
            return []
        try:
            tests = disjuncts(pattern)
        except Unsupported as exc:
            self.problems.unsupported_item(line, "pattern", f"{exc}: {pattern[:160]}")
            return []
        except PatternError as exc:
            self.problems.add(line, f"bad STIX pattern ({exc}): {pattern[:160]}")
            return []
        try:
            valid_from = parse_time(obj.get("valid_from"))
            valid_until = parse_time(obj.get("valid_until"))
        except BadValue as exc:
            self.problems.add(line, str(exc))
            return []
        if valid_from is not None:
            created.append(valid_from)
        sources = [
            ref.get("url") or ref.get("description") or ref.get("source_name")
            for ref in obj.get("external_references") or []
            if isinstance(ref, dict)
        ]
        author = identities.get(obj.get("created_by_ref"))
        if author:
            sources.append(author)
        notes = obj.get("description") or obj.get("name")
        confidence = obj.get("confidence")
        fields = dict(
            confidence=confidence if isinstance(confidence, int | str) else None,
            first_reported=format_time(valid_from),
            valid_from=valid_from,
            valid_until=valid_until,
            sources=tuple(s for s in sources if isinstance(s, str)),
            notes=notes if isinstance(notes, str) else None,
            tags=tuple(str(t) for t in obj.get("labels") or []),
            benign="benign" in (obj.get("indicator_types") or []),
        )
        out: list[Indicator] = []
        for path, value in tests:
            type_ = PATH_TYPES.get(path)
            if type_ is None:
                self.problems.unsupported_item(
                    line, f"object path {path.split(':')[0]}", f"{path} = {value!r}"
                )
                continue
            ind = self.build(line, value, type_, **fields)
            if ind is not None:
                ind.add_extra(stix_id=obj.get("id"))
                out.append(ind)
        return out
