"""The records of many findings at once: `finding_record` field by field over a whole list of findings,
with the per-value work (finite checks, rounding, UTC times, JSON encoding) done once per column.

`--min-score 0` writes a record for every scored group (tens of thousands on a busy capture): built one
finding at a time, the dicts, `round` calls, datetime formatting and the JSON encoder took most of the
scan. Every value here is what `finding_record` gives, and every JSON line is what
`dumps(finding_record(finding, rank))` gives, byte for byte:

- numbers go through `round_many`, `iso_utc_many` (netdetect/output/text.py), which give the scalar
  functions' results and hand any value numpy could get wrong to them;
- a JSON line is the fixed key sequence with each value encoded as `json.dumps` encodes it inside an
  object (strings by the same `encode_basestring_ascii`, floats by `float.__repr__`, ints by
  `int.__repr__`, anything unusual by `dumps` itself, which also keeps NaN a loud error);
- findings with intel hits (a handful per scan) take the per-finding functions of records.py for their
  verdict, severity and `why`, so the intel logic exists once.

tests/test_output_columns.py compares both ways on generated findings with hostile names, NaN/inf values,
intel hits and allowlisted groups.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from itertools import chain
from json.encoder import encode_basestring_ascii as _encode_string
from typing import Any

import numpy as np

from netdetect.model import Finding
from netdetect.output.base import dumps
from netdetect.output.records import (
    SCHEMA_VERSION,
    _evidence,
    _hit_record,
    _subscores,
    severity,
    simple,
    verdict,
    why,
    why_text,
)
from netdetect.output.text import (
    finite_array,
    iso_utc,
    iso_utc_many,
    nan_to_none,
    round_array,
    round_many,
    rounded_list,
)

RECORD_KEYS: tuple[str, ...] = (
    "schema_version",
    "id",
    "rank",
    "kind",
    "verdict",
    "severity",
    "src_ip",
    "dst_ip",
    "dst_ips",
    "dst_port",
    "proto",
    "server_name",
    "score",
    "beacon",
    "period_s",
    "jitter",
    "connections",
    "first_seen",
    "last_seen",
    "duration_s",
    "subscores",
    "intel",
    "missed_share",
    "interval_histogram",
    "interval_bin_edges_s",
    "dns_names",
    "allowlisted",
    "why",
    "detector",
    "evidence",
    "prevalence",
    "dst_first_seen",
)

# A JSON line: `{"key":value,...}`, one %s per key but the constant schema version.
_LINE = (
    "{"
    + ",".join(_encode_string(key) + ":%s" for key in RECORD_KEYS).replace("%s", str(SCHEMA_VERSION), 1)
    + "}"
)


def json_value(value: Any) -> str:
    """`value` as json.dumps encodes it inside an object (compact, ASCII, no NaN)."""
    if value is None:
        return "null"
    kind = type(value)
    if kind is str:
        return _encode_string(value)
    if kind is int:
        return repr(value)
    return dumps(value)


def json_strings(values: list) -> str:
    """A list as json.dumps encodes it; the common list of strings without the encoder's set-up."""
    try:
        return "[" + ",".join(map(_encode_string, values)) + "]"
    except TypeError:  # not all strings
        return dumps(values)


def _json_number(value: float | int | None) -> str:
    return "null" if value is None else repr(value)


class Subscores:
    """The `subscores` of each record as (names, values), values rounded as `_subscores` rounds them.

    Findings with the same subscore names (the group findings of a scan) share one layout: their values
    form one table, rounded in one pass; equal rows (bit for bit, so -0.0 and 0.0 stay apart) are
    rounded and written once: most groups of a scan are one or two connections with the same parts."""

    def __init__(self, dicts: Sequence[Any]) -> None:
        n = len(dicts)
        # Per finding: (names, rows of values, row); rows shared by the findings of one layout.
        self.layout: list[tuple[tuple[str, ...], list[list[float | None]]]] = [((), [[]])] * n
        self.row = [0] * n
        layouts: dict[tuple, list[int]] = {}
        if n and all(type(d) is dict for d in dicts):
            keys = list(map(tuple, dicts))
            if keys.count(keys[0]) == n:  # one layout (the group findings of a scan)
                layouts[keys[0]] = list(range(n))
            else:
                for i, key in enumerate(keys):
                    layouts.setdefault(key, []).append(i)
        else:
            for i, d in enumerate(dicts):
                if type(d) is dict:
                    layouts.setdefault(tuple(d), []).append(i)
                else:  # whatever the record does with it (including its error)
                    self._one(i, d)
        for names, members in layouts.items():
            if not all(type(key) is str for key in names):
                for i in members:
                    self._one(i, dicts[i])
                continue
            width = len(names)
            order = sorted(range(width), key=names.__getitem__)
            flat = list(
                chain.from_iterable(
                    map(dict.values, [dicts[i] for i in members] if len(members) < n else dicts)
                )
            )
            table = finite_array(flat).reshape(len(members), width)
            if width and len(members) > 1:
                distinct, first, inverse = np.unique(
                    np.ascontiguousarray(table).view(np.dtype((np.void, 8 * width))).ravel(),
                    return_index=True,
                    return_inverse=True,
                )
                table, rows = table[first], inverse.ravel().tolist()
            else:
                rows = list(range(len(members)))
            rounded = round_array(table[:, order], 4)
            values = rounded.tolist()
            if np.isnan(rounded).any():
                values = [[None if v != v else v for v in row] for row in values]
            layout = (tuple(names[j] for j in order), values)
            for i, row in zip(members, rows, strict=True):
                self.layout[i] = layout
                self.row[i] = row

    def _one(self, i: int, d: Any) -> None:
        record = _subscores(d)
        self.layout[i] = (tuple(record), [list(record.values())])
        self.row[i] = 0

    def values(self, i: int) -> tuple[tuple[str, ...], list[float | None]]:
        names, rows = self.layout[i]
        return names, rows[self.row[i]]

    def record(self, i: int) -> dict[str, float | None]:
        names, values = self.values(i)
        return dict(zip(names, values, strict=True))

    def json(self) -> list[str]:
        """The JSON text of each finding's subscores object."""
        texts: dict[int, list[str]] = {}
        out = []
        for layout, row in zip(self.layout, self.row, strict=True):
            done = texts.get(id(layout))
            if done is None:
                names, rows = layout
                keys = [_encode_string(name).replace("%", "%%") for name in names]
                template = "{" + ",".join(f"{key}:%s" for key in keys) + "}"
                done = texts[id(layout)] = [template % tuple(map(_json_number, values)) for values in rows]
            out.append(done[row])
        return out


def _bin_edges(lists: Sequence[Any]) -> list[list[float | None]]:
    """`rounded_list(edges, 3)` of each finding; the lists of floats in one numpy pass."""
    out: list[Any] = [[] if type(edges) is list and not edges else None for edges in lists]
    flat: list[float] = []
    spans: list[tuple[int, int, int]] = []
    for i, edges in enumerate(lists):
        if out[i] is not None:
            continue
        if type(edges) is list and set(map(type, edges)) == _FLOAT:
            spans.append((i, len(flat), len(flat) + len(edges)))
            flat.extend(edges)
        else:
            out[i] = rounded_list(edges, 3)
    if flat:
        array = np.asarray(flat, dtype="f8")
        with np.errstate(over="ignore"):  # a huge edge rounds to inf, and stays the encoder's error
            rounded = np.round(array, 3).tolist()
        bad = ~np.isfinite(array)
        for i, lo, hi in spans:
            part = rounded[lo:hi]
            if bad[lo:hi].any():
                part = [value if math.isfinite(value) else None for value in part]
            out[i] = part
    return out


_FLOAT = {float}


def clamp(score: np.ndarray) -> np.ndarray:
    """`clamped_score` of each `finite_array` value (NaN for None): min(max(score, 0.0), 1.0)."""
    with np.errstate(invalid="ignore"):
        return np.where(score < 0.0, 0.0, np.where(score > 1.0, 1.0, score))  # -0.0 stays, as in max()


def _verdicts(
    findings, plain, kind, allowlisted, beacon, connections, periods, jitters, misses, clamped
) -> tuple[list[str], list[str], list[str]]:
    """`verdict`, `severity` and `why` of each finding; without intel hits (`plain`) from the finding's
    values (periods, jitters, misses finite or None, clamped the clamped score)."""
    verdicts, severities, whys = [], [], []
    score_text: dict[float | None, str] = {}
    for i, f in enumerate(findings):
        if not plain[i]:
            verdicts.append(verdict(f))
            severities.append(severity(f))
            whys.append(why(f))
            continue
        allowed, is_beacon = allowlisted[i], beacon[i]
        verdicts.append("allowlisted" if allowed else "beacon" if is_beacon else "low")
        severities.append("info" if allowed else "medium" if is_beacon else "low")
        lookup_only = kind[i] == "intel" and connections[i] == 0
        miss = misses[i]
        if periods[i] is None and not lookup_only and not allowed and (miss is None or miss < 0.05):
            score = clamped[i]
            text = score_text.get(score)  # -0.0 and 0.0 share a key: both read "score 0.00"
            if text is None:
                text = score_text[score] = why_text(None, None, False, None, None, score)
            whys.append(text)
        else:
            whys.append(why_text(periods[i], jitters[i], lookup_only, miss, allowed, clamped[i]))
    return verdicts, severities, whys


def verdict_columns(findings: Sequence[Finding]) -> tuple[list[bool], list[str], list[str]]:
    """(without intel hits, verdict, why) of each finding, for the formats that need only those."""
    fs = findings
    plain = list(map(simple, fs))
    verdicts, _, whys = _verdicts(
        fs,
        plain,
        [f.kind for f in fs],
        [f.allowlisted for f in fs],
        [f.beacon for f in fs],
        [f.connections for f in fs],
        nan_to_none(finite_array([f.period_s for f in fs])),
        nan_to_none(finite_array([f.jitter for f in fs])),
        nan_to_none(finite_array([f.missed_share for f in fs])),
        nan_to_none(clamp(finite_array([f.score for f in fs]))),
    )
    return plain, verdicts, whys


class RecordColumns:
    """The JSONL record fields of `findings` (ranked from `start`), one list per field, each entry what
    `finding_record` puts there; plus the intermediate values other formats reuse."""

    def __init__(self, findings: Sequence[Finding], start: int = 1) -> None:
        fs = list(findings)
        self.findings = fs
        n = len(fs)
        self.rank = list(range(start, start + n))
        self._fragments: dict[str, list[str]] | None = None
        self._json: list[str] | None = None
        # One pass per field: reading one attribute of every finding is several times cheaper than
        # reading every attribute of one finding into a row and transposing.
        kind = [f.kind for f in fs]
        src_ip = [f.src_ip for f in fs]
        dst_ip = [f.dst_ip for f in fs]
        dst_ips = [f.dst_ips for f in fs]
        dst_port = [f.dst_port for f in fs]
        proto = [f.proto for f in fs]
        server_name = [f.server_name for f in fs]
        score_values = [f.score for f in fs]
        beacon = [f.beacon for f in fs]
        period_values = [f.period_s for f in fs]
        jitter_values = [f.jitter for f in fs]
        connections = [f.connections for f in fs]
        first_values = [f.first_seen for f in fs]
        last_values = [f.last_seen for f in fs]
        subscores = [f.subscores for f in fs]
        intel = [f.intel for f in fs]
        missed_values = [f.missed_share for f in fs]
        histogram = [f.interval_histogram for f in fs]
        edges = [f.interval_bin_edges_s for f in fs]
        dns_names = [f.dns_names for f in fs]
        allowlisted = [f.allowlisted for f in fs]
        self.detector = [f.detector for f in fs]
        self.evidence = [_evidence(f.evidence) for f in fs]
        self.prevalence = [f.prevalence for f in fs]
        self.dst_first_seen = [iso_utc(f.dst_first_seen) for f in fs]
        # finding_id, inline (the first 16 hex digits of the digest are its first 8 bytes)
        sha = hashlib.sha256
        self.id = [
            sha(
                "\x1f".join((k, s, name or d or ",".join(dns) or "", str(p))).encode("utf-8", "surrogatepass")
            )
            .digest()[:8]
            .hex()
            for k, s, name, d, dns, p in zip(
                kind, src_ip, server_name, dst_ip, dns_names, dst_port, strict=True
            )
        ]
        self.kind, self.src_ip, self.dst_ip, self.proto = kind, src_ip, dst_ip, proto
        self.server_name, self.allowlisted = server_name, allowlisted
        self.dst_ips = list(map(list, dst_ips))
        self.dst_port = [None if p is None else int(p) for p in dst_port]
        clamped = clamp(finite_array(score_values))
        self.clamped = nan_to_none(clamped)  # clamped_score
        self.clamped_array = clamped
        self.score = round_many(clamped, 4)
        self.beacon = [bool(b) for b in beacon]
        period, jitter, missed = (
            finite_array(period_values),
            finite_array(jitter_values),
            finite_array(missed_values),
        )
        self.period_s = round_many(period, 3)
        self.jitter = round_many(jitter, 4)
        self.connections = list(map(int, connections))
        first, last = finite_array(first_values), finite_array(last_values)
        self.first_array, self.last_array = first, last
        self.first_values, self.last_values = first_values, last_values
        self.first_seen = iso_utc_many(first_values, first)
        self.last_seen = iso_utc_many(last_values, last)
        with np.errstate(invalid="ignore", over="ignore"):
            self.duration_s = round_many(last - first, 3)
        self.subscores = Subscores(subscores)
        # Findings without intel hits: their verdict, severity and why follow from a few values.
        self.plain = list(map(simple, fs))
        self.intel = [
            [] if plain else [_hit_record(hit) for hit in hits]
            for hits, plain in zip(intel, self.plain, strict=True)
        ]
        self.missed_share = round_many(missed, 4)
        self.interval_histogram = [[int(count) for count in counts] if counts else [] for counts in histogram]
        self.interval_bin_edges_s = _bin_edges(edges)
        self.dns_names = list(map(list, dns_names))
        self.verdict, self.severity, self.why = _verdicts(
            fs,
            self.plain,
            kind,
            allowlisted,
            beacon,
            connections,
            nan_to_none(period),
            nan_to_none(jitter),
            nan_to_none(missed),
            self.clamped,
        )

    def __len__(self) -> int:
        return len(self.findings)

    def record(self, i: int) -> dict[str, Any]:
        """Entry i as the `finding_record` dict."""
        out: dict[str, Any] = {"schema_version": SCHEMA_VERSION}
        for key in RECORD_KEYS[1:]:
            out[key] = self.subscores.record(i) if key == "subscores" else getattr(self, key)[i]
        return out

    def records(self) -> list[dict[str, Any]]:
        return [self.record(i) for i in range(len(self))]

    def fragments(self) -> dict[str, list[str]]:
        """The JSON text of every record value, by key (made once: the ecs and eve lines reuse it)."""
        if self._fragments is None:
            enc = _encode_string
            self._fragments = {
                "id": list(map(enc, self.id)),
                "rank": list(map(str, self.rank)),
                "kind": _json_values(self.kind),
                "verdict": list(map(enc, self.verdict)),
                "severity": list(map(enc, self.severity)),
                "src_ip": _json_values(self.src_ip),
                "dst_ip": _json_values(self.dst_ip),
                "dst_ips": _json_lists(self.dst_ips),
                "dst_port": ["null" if value is None else repr(value) for value in self.dst_port],
                "proto": _json_values(self.proto),
                "server_name": _json_values(self.server_name),
                "score": _json_numbers(self.score),
                "beacon": ["true" if value else "false" for value in self.beacon],
                "period_s": _json_numbers(self.period_s),
                "jitter": _json_numbers(self.jitter),
                "connections": list(map(str, self.connections)),
                "first_seen": _json_values(self.first_seen),
                "last_seen": _json_values(self.last_seen),
                "duration_s": _json_numbers(self.duration_s),
                "subscores": self.subscores.json(),
                "intel": ["[]" if not hits else dumps(hits) for hits in self.intel],
                "missed_share": _json_numbers(self.missed_share),
                "interval_histogram": [
                    "[" + ",".join(map(str, counts)) + "]" if counts else "[]"
                    for counts in self.interval_histogram
                ],
                "interval_bin_edges_s": [
                    _edges_json(edges) if edges else "[]" for edges in self.interval_bin_edges_s
                ],
                "dns_names": _json_lists(self.dns_names),
                "allowlisted": _json_values(self.allowlisted),
                "why": list(map(enc, self.why)),
                "detector": _json_values(self.detector),
                "evidence": list(map(dumps, self.evidence)),
                "prevalence": ["null" if v is None else str(int(v)) for v in self.prevalence],
                "dst_first_seen": _json_values(self.dst_first_seen),
            }
        return self._fragments

    def json(self) -> list[str]:
        """Each record as `dumps(finding_record(...))` writes it."""
        if self._json is None:
            fragments = self.fragments()
            line = _LINE
            self._json = [
                line % row for row in zip(*(fragments[key] for key in RECORD_KEYS[1:]), strict=True)
            ]
        return self._json


def _json_values(values: list) -> list[str]:
    """`json_value` of each value; strings and None without a call each."""
    enc = _encode_string
    return ["null" if v is None else enc(v) if type(v) is str else dumps(v) for v in values]


def _json_numbers(values: list) -> list[str]:
    """Floats (or ints) and None as JSON."""
    return ["null" if v is None else repr(v) for v in values]


def _json_lists(lists: list) -> list[str]:
    """`json_strings` of each list; the one-string lists (most) without a call each."""
    enc = _encode_string
    return ["[" + enc(v[0]) + "]" if len(v) == 1 and type(v[0]) is str else json_strings(v) for v in lists]


def _edges_json(edges: list[float | None]) -> str:
    if None in edges or not all(map(math.isfinite, edges)):  # type: ignore[arg-type]
        return dumps(edges)  # null for None; an infinity from rounding stays the encoder's error
    return "[" + ",".join(map(repr, edges)) + "]"
