"""The event tables' columns, declared once: everything else about a table is derived from here.

Each table is a tuple of `Column(name, dtype, meaning)` (dpkt's `__hdr__` style). From it come:

- the numpy dtype (packed, in declaration order: `Schema.dtype`);
- the row builder the decoders call (`Schema.adder`: one tuple per row, text values interned into the
  extraction's pool) and the row <-> event dataclass conversions (`Schema.from_event`, `Schema.to_events`);
- the row layout the compiled event core writes: `python -m netdetect.tables` prints the C header
  `netdetect/decode/_tables.h` (offsets as named constants, and the layout the module reports back), and
  `Schema.layout()` is what the loaded module's report is checked against (`netdetect.native.load`).

A column whose dtype is `POOL` holds an int32 id into the extraction's `ValuePool` (-1: none); `ADDRESS`
is a 16-byte address (v4-mapped). `field` names the event dataclass attribute when it differs from the
column name (None: the column is not in the dataclass), and `to_row` / `to_event` convert a value
between the two when they differ in kind (a flag on the row, a word in the dataclass).
"""

from __future__ import annotations

import keyword
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from functools import lru_cache
from typing import Any

import numpy as np

from netdetect.addr import from_text, to_text
from netdetect.model import DnsAnswer, DnsEvent, HttpEvent, TlsEvent

POOL = "pool"  # dtype of a column of ValuePool ids
ADDRESS = "S16"
_NUMPY_DTYPE = {POOL: "i4"}


@dataclass(frozen=True)
class Column:
    name: str
    dtype: str  # numpy dtype code, POOL or ADDRESS
    meaning: str
    field: str | None = ""  # the event dataclass attribute; "" = same as name; None = not in the dataclass
    to_row: Callable[[Any], Any] | None = None  # event value -> row value (before pool interning)
    to_event: Callable[[Any], Any] | None = None  # row value (after pool lookup) -> event value

    @property
    def attribute(self) -> str | None:
        return self.name if self.field == "" else self.field

    @property
    def numpy_dtype(self) -> np.dtype:
        return np.dtype(_NUMPY_DTYPE.get(self.dtype, self.dtype))


@dataclass(frozen=True)
class Schema:
    name: str  # the C prefix and the key of the compiled module's layout report
    columns: tuple[Column, ...]
    event: type | None  # the dataclass a row reads as

    def __post_init__(self) -> None:
        for col in self.columns:
            if not col.name.isidentifier() or keyword.iskeyword(col.name):
                raise ValueError(f"{self.name}: column name {col.name!r} is not an identifier")
        if len({c.name for c in self.columns}) != len(self.columns):
            raise ValueError(f"{self.name}: a column is declared twice")
        if self.event is not None:
            # Events are built positionally from the mapped columns: their order must be the dataclass's.
            mapped = [c.attribute for c in self.columns if c.attribute is not None]
            declared = [f.name for f in fields(self.event)][: len(mapped)]
            if mapped != declared:
                event = self.event.__name__
                raise ValueError(f"{self.name}: columns map to {mapped}, {event} has {declared}")

    @property
    def dtype(self) -> np.dtype:
        return np.dtype([(c.name, c.numpy_dtype) for c in self.columns])

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def text_columns(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.dtype == POOL)

    def layout(self) -> dict[str, tuple[int, str]]:
        """{column: (byte offset, kind and size such as "i4"), "": (row size, "")}, as the C core
        reports it."""
        dtype = self.dtype
        columns = dtype.fields
        assert columns is not None  # a structured dtype
        out = {name: (offset, f"{sub.kind}{sub.itemsize}") for name, (sub, offset, *_) in columns.items()}
        return {**out, "": (dtype.itemsize, "")}

    def adder(self, skip: int = 0) -> Callable[..., tuple]:
        """A function of the columns' values (from column `skip` on) that returns the row tuple, text
        values interned into the pool whose id dict is passed first."""
        cols = self.columns[skip:]
        source = f"def row(ids, {self._args(cols)}):\n    sd = ids.setdefault\n    return {self._row(cols)}\n"
        return self._compiled(source, "row")

    def add_method(self, children: str | None = None) -> Callable[..., None]:
        """A table's `add(self, <columns>)`: the row tuple, text values interned into `self.pool`, queued
        on `self._pending`. With `children`, a keyword-only argument of that name whose truthy value goes to
        `self._add_children(row number, value)` (a DNS message's answers). Generated from the declaration
        so a row costs what a hand-written tuple did: the Python decode path makes every row."""
        cols = self.columns
        tail = f", *, {children}=()" if children else ""
        lines = [
            f"def add(self, {self._args(cols)}{tail}):",
            "    ids = self.pool.ids",
            "    sd = ids.setdefault",
            f"    self._pending.append({self._row(cols)})",
            "    event = self._count",
            "    self._count = event + 1",
        ]
        if children:
            lines += [f"    if {children}:", f"        self._add_children(event, {children})"]
        return self._compiled("\n".join(lines) + "\n", "add")

    @staticmethod
    def _args(cols: Sequence[Column]) -> str:
        return ", ".join(c.name for c in cols)

    @staticmethod
    def _row(cols: Sequence[Column]) -> str:
        items = (f"sd({c.name}, len(ids) - 1)" if c.dtype == POOL else c.name for c in cols)
        return "(" + ", ".join(items) + ",)"

    def _compiled(self, source: str, name: str) -> Any:
        namespace: dict[str, Any] = {}
        exec(compile(source, f"<{self.name} {name}>", "exec"), namespace)  # noqa: S102 - names checked above
        return namespace[name]

    def from_event(self, event: Any, skip: int = 0) -> list[Any]:
        """The row values of an event dataclass (text not yet interned), from column `skip` on."""
        out = []
        for c in self.columns[skip:]:
            if c.to_row is not None:
                out.append(c.to_row(event))
            else:
                out.append(getattr(event, c.attribute or c.name))
        return out

    def event_columns(self, rows: np.ndarray, lookup: Callable[[np.ndarray], list[Any]]) -> list[list[Any]]:
        """The dataclass values of `rows`, one list per mapped column, in dataclass order."""
        out = []
        for c in self.columns:
            if c.attribute is None:
                continue
            column = rows[c.name]
            if c.dtype == POOL:
                values = lookup(column)
            elif c.dtype == ADDRESS:
                values = list(map(to_text, column.tolist()))
            else:
                values = column.tolist()
            out.append(values if c.to_event is None else list(map(c.to_event, values)))
        return out


@lru_cache(maxsize=1 << 16)
def addr16(text: str) -> bytes:
    """Event address text -> 16-byte table value (empty bytes when it is not an address)."""
    try:
        return from_text(text)
    except ValueError:
        return b""


def _ends() -> tuple[Column, ...]:
    return (
        Column("ts", "f8", "capture time of the packet, seconds since the epoch"),
        Column("client", ADDRESS, "the host that asked", to_row=lambda e: addr16(e.client)),
        Column("server", ADDRESS, "the host that answered", to_row=lambda e: addr16(e.server)),
        Column("client_port", "u2", "the client's port"),
        Column("server_port", "u2", "the server's port"),
    )


def _addr_of_answer(a: DnsAnswer) -> bytes:
    return addr16(a.value) if a.rtype in ("A", "AAAA") else b""


def _declare() -> tuple[Schema, Schema, Schema, Schema]:
    ends = _ends()
    dns = Schema(
        "dns",
        ends
        + (
            Column("tcp", "?", "over TCP (else UDP)", field="transport",
                   to_row=lambda e: e.transport == "tcp", to_event=lambda tcp: "tcp" if tcp else "udp"),
            Column("txid", "u2", "transaction ID"),
            Column("query", POOL, "queried name: lower case, no trailing dot, escaped"),
            Column("qtype", POOL, "query type name (A, TXT, TYPE65280 ...)"),
            Column("is_response", "?", "a response (else a query)"),
            Column("rcode", "i2", "response code; -1 for a query",
                   to_row=lambda e: -1 if e.rcode is None else e.rcode,
                   to_event=lambda rc: None if rc < 0 else rc),
        ),
        DnsEvent,
    )  # fmt: skip
    answer = Schema(
        "answer",
        (
            Column("event", "i8", "row of the DNS table this answer belongs to", field=None),
            Column("name", POOL, "owner name"),
            Column("rtype", POOL, "record type name"),
            Column("value", POOL, "record data as text (TXT in full, other types as dig shows them)"),
            Column("ttl", "i8", "time to live, seconds"),
            Column("addr", ADDRESS, "A/AAAA value as 16 bytes; empty otherwise",
                   field=None, to_row=_addr_of_answer),
        ),
        DnsAnswer,
    )  # fmt: skip
    tls = Schema(
        "tls",
        ends
        + (
            Column("quic", "?", "a QUIC Initial (else TLS over TCP)", field="transport",
                   to_row=lambda e: e.transport == "quic", to_event=lambda quic: "quic" if quic else "tcp"),
            Column("sni", POOL, "server name indication"),
            Column("alpn", POOL, "tuple of offered protocol names",
                   to_row=lambda e: tuple(e.alpn), to_event=lambda v: list(v or ())),
            Column("versions", POOL, "tuple of supported_versions numbers",
                   to_row=lambda e: tuple(e.versions), to_event=lambda v: list(v or ())),
            Column("ech", "?", "an encrypted_client_hello extension is present"),
            Column("ja3", POOL, "JA3 string"),
            Column("ja3_hash", POOL, "MD5 of the JA3 string"),
            Column("ja4", POOL, "JA4 fingerprint"),
        ),
        TlsEvent,
    )  # fmt: skip
    http = Schema(
        "http",
        ends
        + (
            Column("method", POOL, "request method"),
            Column("host", POOL, "Host header"),
            Column("uri", POOL, "request target"),
            Column("user_agent", POOL, "User-Agent header"),
        ),
        HttpEvent,
    )
    return dns, answer, tls, http


DNS, ANSWER, TLS, HTTP = _declare()
SCHEMAS: dict[str, Schema] = {s.name: s for s in (DNS, ANSWER, TLS, HTTP)}
ENDS_COLUMNS = 5  # ts, client, server, client_port, server_port: the first columns of DNS, TLS and HTTP


def layout_problem(module: Any) -> str | None:
    """What the compiled event core's reported row layouts (`LAYOUTS`) disagree on with the
    declarations here, or None when they agree."""
    reported = getattr(module, "LAYOUTS", None)
    if not isinstance(reported, dict):
        return "it reports no row layouts"
    for name, schema in SCHEMAS.items():
        built = reported.get(name)
        expected = schema.layout()
        if built != expected:
            if not isinstance(built, dict):
                return f"no {name} table"
            names = dict.fromkeys([*expected, *built])
            differ = [k or "row size" for k in names if built.get(k) != expected.get(k)]
            return f"{name} table columns differ: {', '.join(differ)}"
    return None


def c_header(schemas: Sequence[Schema] = tuple(SCHEMAS.values())) -> str:
    """The C header the compiled event core is built with: each column's offset as a named constant
    (`DNS_QUERY`), each row's size (`DNS_ROW`), and each table's layout as `<TABLE>_LAYOUT` for the
    module to report back (checked against `Schema.layout()` when it is loaded)."""
    lines = [
        "/* Generated from netdetect/tables/schema.py by `python -m netdetect.tables > "
        "netdetect/decode/_tables.h`:",
        " * do not edit (tests/test_schema.py checks it is current). */",
        "#ifndef NETDETECT_TABLES_H",
        "#define NETDETECT_TABLES_H",
    ]
    for schema in schemas:
        layout = schema.layout()
        size = layout.pop("")[0]
        lines.append("")
        lines.append(f"#define {schema.name.upper()}_ROW {size}")
        for name, (offset, _) in layout.items():
            lines.append(f"#define {schema.name.upper()}_{name.upper()} {offset}")
        items = ", ".join(f'{{"{name}", {offset}, "{kind}"}}' for name, (offset, kind) in layout.items())
        lines.append(f'#define {schema.name.upper()}_LAYOUT {{{items}, {{NULL, {size}, ""}}}}')
    lines += ["", "#endif", ""]
    return "\n".join(lines)
