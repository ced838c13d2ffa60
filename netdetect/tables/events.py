"""Columnar event tables: the hand-off from extraction to analysis.

One numpy row per DNS message, DNS answer, TLS/QUIC ClientHello and HTTP request. Addresses are
16-byte values (v4-mapped) like the connection table's; every text value (names, fingerprints,
URIs, ALPN lists) is an int32 id into one `ValuePool` shared by the tables of an extraction, so
memory grows with distinct values, not with events, and analysis joins and matches on integer and
byte columns. The columns map one to one onto Arrow/Parquet; each table's are declared once, in
`schema.py`, and everything here (dtypes, row building, reading rows as events) follows from that.

The tables still read like lists of `DnsEvent` / `TlsEvent` / `HttpEvent` (len, index, iterate):
rows are turned back into those dataclasses on demand, for `netdetect events`, `show` and tests.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, TypeVar, overload

import numpy as np

from netdetect.model import DnsAnswer, DnsEvent, HttpEvent, TlsEvent
from netdetect.tables.schema import ANSWER, DNS, HTTP, TLS, Schema, addr16  # noqa: F401 - addr16 re-exported

NONE = -1  # pool id of a missing value

# The tables' dtypes, as declared in schema.py.
DNS_DTYPE = DNS.dtype
ANSWER_DTYPE = ANSWER.dtype
TLS_DTYPE = TLS.dtype
HTTP_DTYPE = HTTP.dtype


class ValuePool:
    """Interns hashable values (strings, tuples) to dense int ids; id -1 stands for None.

    `ids` is the value -> id dict. Table building interns with `ids.setdefault(value, len(ids) - 1)`
    inline, one C call per value: a new value's id is its insertion rank. The id -> value list is
    rebuilt from the dict's order when read after growth.
    """

    def __init__(self) -> None:
        self.ids: dict[Any, int] = {None: NONE}
        self._values: list[Any] = []

    def __len__(self) -> int:
        return len(self.ids) - 1

    @property
    def values(self) -> list[Any]:
        if len(self._values) != len(self.ids) - 1:
            self._values = list(self.ids)[1:]
        return self._values

    def id(self, value: Any) -> int:
        ids = self.ids
        return ids.setdefault(value, len(ids) - 1)

    def get(self, i: int) -> Any:
        return None if i < 0 else self.values[i]

    def lookup(self, ids: np.ndarray) -> list[Any]:
        values = self.values
        return [None if i < 0 else values[i] for i in ids.tolist()]

    def find(self, value: Any) -> int:
        """The id of a value already interned, else -1."""
        return self.ids.get(value, NONE)

    def remap_from(self, other: ValuePool) -> np.ndarray:
        """Ids in this pool of every value of `other` (index -1 maps to -1: use `mapping[ids + 1]`)."""
        return np.array([NONE] + [self.id(v) for v in other.values], np.int32)


E = TypeVar("E")


class EventTable(Generic[E]):
    """Rows of one event type over a shared pool; reads as a sequence of event dataclasses.

    A subclass names its `schema`; the dtype, the pool columns and the row builder come from it."""

    schema: ClassVar[Schema]
    dtype: ClassVar[np.dtype]
    text_columns: ClassVar[tuple[str, ...]]
    # add(self, <the schema's columns in order>): one row, addresses as 16 bytes, text values as they are
    add: Callable[..., None]
    _children: ClassVar[str | None] = None  # keyword of `add` for rows of a child table

    def __init_subclass__(cls) -> None:
        super().__init_subclass__()
        cls.dtype = cls.schema.dtype
        cls.text_columns = cls.schema.text_columns
        cls.add = cls.schema.add_method(cls._children)

    def __init__(self, rows: np.ndarray | None = None, pool: ValuePool | None = None) -> None:
        # Rows added one by one wait as tuples until `flush` (the extractor flushes after each batch);
        # flushed batches wait in a list and are joined once, when the rows are read.
        self._parts: list[np.ndarray] = [rows if rows is not None else np.zeros(0, self.dtype)]
        self._pending: list[tuple] = []
        self._count = len(self._parts[0])
        self.pool = pool if pool is not None else ValuePool()

    def flush(self) -> None:
        """Turn the rows added since the last flush into an array."""
        if self._pending:
            self._parts.append(np.array(self._pending, self.dtype))
            self._pending = []

    @property
    def rows(self) -> np.ndarray:
        self.flush()
        if len(self._parts) > 1:
            self._parts = [np.concatenate(self._parts)]
        return self._parts[0]

    @rows.setter
    def rows(self, value: np.ndarray) -> None:
        self._parts = [value]
        self._pending = []
        self._count = len(value)

    def __len__(self) -> int:
        return self._count

    @overload
    def __getitem__(self, i: int) -> E: ...
    @overload
    def __getitem__(self, i: slice) -> list[E]: ...
    def __getitem__(self, i: int | slice) -> E | list[E]:
        if isinstance(i, slice):
            lo, hi, step = i.indices(len(self))
            return self.events(lo, hi)[::step] if step > 0 else [self.event(j) for j in range(lo, hi, step)]
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(i)
        return self.event(i)

    def __iter__(self) -> Iterator[E]:
        for lo in range(0, len(self), 4096):
            yield from self.events(lo, lo + 4096)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {len(self)} rows>"

    def __eq__(self, other: object) -> bool:
        """Equal to a list (or table) of the same events, in order."""
        if isinstance(other, EventTable | list | tuple):
            return len(self) == len(other) and list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def event(self, i: int) -> E:
        return self.events(i, i + 1)[0]

    def events(self, lo: int = 0, hi: int | None = None) -> list[E]:
        """Rows lo..hi as event dataclasses, built from whole columns (not field by field)."""
        rows = self.rows[lo:hi]
        return self._build(rows, lo) if len(rows) else []

    def _build(self, rows: np.ndarray, first: int) -> list[E]:
        event: Callable[..., E] = self.schema.event  # type: ignore[assignment]
        columns = self.schema.event_columns(rows, self.pool.lookup)
        return [event(*values) for values in zip(*columns, strict=True)]

    # -- building ---------------------------------------------------------------------------------
    def append(self, events: Sequence[E]) -> None:
        """Rows of event dataclasses."""
        for e in events:
            self.add(*self.schema.from_event(e))

    def _extend_rows(self, rows: np.ndarray) -> None:
        self.flush()
        self._parts.append(rows)
        self._count += len(rows)

    def add_rows(self, rows: np.ndarray) -> None:
        """Rows built elsewhere (the compiled decoders) over this table's pool, after those added so far."""
        if len(rows):
            self._extend_rows(rows)

    def _mapping(self, other: EventTable[E]) -> np.ndarray | None:
        """Ids of `other`'s pool in this table's pool (index id + 1), or None when the pool is shared."""
        return None if other.pool is self.pool else self.pool.remap_from(other.pool)

    def _remapped(self, other: EventTable[E], mapping: np.ndarray | None) -> np.ndarray:
        """`other`'s rows with their pool ids translated into this table's pool."""
        rows = other.rows.copy()
        if mapping is not None:
            for col in self.text_columns:
                rows[col] = mapping[rows[col] + 1]
        return rows

    def extend(self, other: EventTable[E]) -> None:
        """Append `other`'s rows (another extraction's), remapping their pool ids."""
        self._extend_rows(self._remapped(other, self._mapping(other)))

    def take(self, order: np.ndarray) -> None:
        """Reorder (or subset) the rows."""
        self.rows = self.rows[order]


class DnsTable(EventTable[DnsEvent]):
    """DNS messages, and their answers in a second table whose `event` column is the message's row."""

    schema = DNS
    _children = "answers"  # add(..., answers=(DnsAnswer, ...))
    answer_text_columns = ANSWER.text_columns
    _answer_row = staticmethod(ANSWER.adder(skip=1))  # the columns after `event`

    def __init__(
        self, rows: np.ndarray | None = None, answers: np.ndarray | None = None, pool: ValuePool | None = None
    ) -> None:
        super().__init__(rows, pool)
        self._answer_parts = [answers if answers is not None else np.zeros(0, ANSWER_DTYPE)]
        self._pending_answers: list[tuple] = []
        # Decoders share one answers tuple between equal messages (memo hits): its interned rows are
        # kept by identity, the tuple itself held so that the id cannot be reused.
        self._answer_rows: dict[int, tuple[tuple, list[tuple]]] = {}

    def flush(self) -> None:
        super().flush()
        if self._pending_answers:
            self._answer_parts.append(np.array(self._pending_answers, ANSWER_DTYPE))
            self._pending_answers = []

    @property
    def answers(self) -> np.ndarray:
        self.flush()
        if len(self._answer_parts) > 1:
            self._answer_parts = [np.concatenate(self._answer_parts)]
        return self._answer_parts[0]

    @answers.setter
    def answers(self, value: np.ndarray) -> None:
        self.flush()
        self._answer_parts = [value]

    def _add_children(self, event: int, answers: Sequence[DnsAnswer]) -> None:
        """The answers of the message `add` just queued as row `event`."""
        self._pending_answers += [(event, *tail) for tail in self._answer_tails(answers)]

    def add_rows(self, rows: np.ndarray, answers: np.ndarray | None = None) -> None:
        """Messages built elsewhere (the compiled decoders) over this table's pool, after those added so
        far; `answers`' event column counts from the table's length before the call."""
        if len(rows):
            self._extend_rows(rows)
        if answers is not None and len(answers):
            self.flush()
            self._answer_parts.append(answers)

    def _answer_tails(self, answers: Sequence[DnsAnswer]) -> list[tuple]:
        shared = type(answers) is tuple
        if shared:
            known = self._answer_rows.get(id(answers))
            if known is not None and known[0] is answers:
                return known[1]
        ids = self.pool.ids
        row = self._answer_row
        tails = [row(ids, *ANSWER.from_event(a, skip=1)) for a in answers]
        if shared:
            if len(self._answer_rows) >= 1 << 14:
                self._answer_rows.clear()  # bounded like the decoders' memo
            self._answer_rows[id(answers)] = (answers, tails)  # type: ignore[assignment]
        return tails

    def append(self, events: Sequence[DnsEvent]) -> None:
        for e in events:
            self.add(*DNS.from_event(e), answers=e.answers)

    def extend(self, other: EventTable[DnsEvent]) -> None:
        assert isinstance(other, DnsTable)
        base = len(self)
        mapping = self._mapping(other)
        self._extend_rows(self._remapped(other, mapping))
        answers = other.answers.copy()
        if mapping is not None:
            for col in self.answer_text_columns:
                answers[col] = mapping[answers[col] + 1]
        answers["event"] += base
        self._answer_parts.append(answers)

    def take(self, order: np.ndarray) -> None:
        new_index = np.full(len(self.rows), -1, np.int64)
        new_index[order] = np.arange(len(order))
        super().take(order)
        answers = self.answers
        answers = answers[new_index[answers["event"]] >= 0]
        answers["event"] = new_index[answers["event"]]
        self.answers = answers[np.argsort(answers["event"], kind="stable")]

    def _build(self, rows: np.ndarray, first: int) -> list[DnsEvent]:
        answers = self.answers
        lo, hi = np.searchsorted(answers["event"], [first, first + len(rows)])
        answers = answers[lo:hi]
        by_event: dict[int, list[DnsAnswer]] = {}
        for event, values in zip(
            answers["event"].tolist(),
            zip(*ANSWER.event_columns(answers, self.pool.lookup), strict=True),
            strict=True,
        ):
            by_event.setdefault(event, []).append(DnsAnswer(*values))
        columns = DNS.event_columns(rows, self.pool.lookup)
        return [
            DnsEvent(*values, by_event.get(first + i, []))  # type: ignore[call-arg]
            for i, values in enumerate(zip(*columns, strict=True))
        ]


class TlsTable(EventTable[TlsEvent]):
    schema = TLS


class HttpTable(EventTable[HttpEvent]):
    schema = HTTP


@dataclass
class EventSet:
    """The three event tables of one extraction, over one pool."""

    pool: ValuePool = field(default_factory=ValuePool)
    dns: DnsTable = field(init=False)
    tls: TlsTable = field(init=False)
    http: HttpTable = field(init=False)

    def __post_init__(self) -> None:
        self.dns = DnsTable(pool=self.pool)
        self.tls = TlsTable(pool=self.pool)
        self.http = HttpTable(pool=self.pool)

    @classmethod
    def of(
        cls, dns: Iterable[DnsEvent] = (), tls: Iterable[TlsEvent] = (), http: Iterable[HttpEvent] = ()
    ) -> EventSet:
        out = cls()
        out.dns.append(list(dns))
        out.tls.append(list(tls))
        out.http.append(list(http))
        return out

    def extend(self, other: EventSet) -> None:
        self.dns.extend(other.dns)
        self.tls.extend(other.tls)
        self.http.extend(other.http)

    def flush(self) -> None:
        for table in (self.dns, self.tls, self.http):
            table.flush()

    def finish(self) -> None:
        """Extraction is over: rows to arrays, and drop what only speeds up adding rows (it would
        otherwise travel with the tables to another process)."""
        self.flush()
        self.dns._answer_rows.clear()

    def sort(self) -> None:
        """Time order (stable, so same-time events keep their decode order)."""
        for table in (self.dns, self.tls, self.http):
            if len(table):
                table.take(np.argsort(table.rows["ts"], kind="stable"))
