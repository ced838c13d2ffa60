"""Columnar event tables: the hand-off from extraction to analysis.

One numpy row per DNS message, DNS answer, TLS/QUIC ClientHello and HTTP request. Addresses are
16-byte values (v4-mapped) like the connection table's; every text value (names, fingerprints,
URIs, ALPN lists) is an int32 id into one `ValuePool` shared by the tables of an extraction, so
memory grows with distinct values, not with events, and analysis joins and matches on integer and
byte columns. The columns map one to one onto Arrow/Parquet.

The tables still read like lists of `DnsEvent` / `TlsEvent` / `HttpEvent` (len, index, iterate):
rows are turned back into those dataclasses on demand, for `netdetect events`, `show` and tests.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Generic, TypeVar, overload

import numpy as np

from netdetect.addr import from_text, to_text
from netdetect.model import DnsAnswer, DnsEvent, HttpEvent, TlsEvent

NONE = -1  # pool id of a missing value

_ENDS = [
    ("ts", "f8"),
    ("client", "S16"),
    ("server", "S16"),
    ("client_port", "u2"),
    ("server_port", "u2"),
]
DNS_DTYPE = np.dtype(
    _ENDS
    + [
        ("tcp", "?"),
        ("txid", "u2"),
        ("query", "i4"),
        ("qtype", "i4"),
        ("is_response", "?"),
        ("rcode", "i2"),  # -1: none (a query)
    ]
)
ANSWER_DTYPE = np.dtype(
    [
        ("event", "i8"),  # row of the DNS table
        ("name", "i4"),
        ("rtype", "i4"),
        ("value", "i4"),
        ("ttl", "i8"),
        ("addr", "S16"),  # A/AAAA value as 16 bytes; empty otherwise
    ]
)
TLS_DTYPE = np.dtype(
    _ENDS
    + [
        ("quic", "?"),
        ("sni", "i4"),
        ("alpn", "i4"),  # pool id of a tuple of protocol names
        ("versions", "i4"),  # pool id of a tuple of version numbers
        ("ech", "?"),
        ("ja3", "i4"),
        ("ja3_hash", "i4"),
        ("ja4", "i4"),
    ]
)
HTTP_DTYPE = np.dtype(_ENDS + [("method", "i4"), ("host", "i4"), ("uri", "i4"), ("user_agent", "i4")])


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


@lru_cache(maxsize=1 << 16)
def addr16(text: str) -> bytes:
    """Event address text -> 16-byte table value (empty bytes when it is not an address)."""
    try:
        return from_text(text)
    except ValueError:
        return b""


E = TypeVar("E")


class EventTable(Generic[E]):
    """Rows of one event type over a shared pool; reads as a sequence of event dataclasses."""

    dtype: np.dtype
    text_columns: tuple[str, ...] = ()

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
        raise NotImplementedError

    def _ends_columns(self, rows: np.ndarray) -> tuple[list, list, list, list, list]:
        return (
            rows["ts"].tolist(),
            list(map(to_text, rows["client"].tolist())),
            list(map(to_text, rows["server"].tolist())),
            rows["client_port"].tolist(),
            rows["server_port"].tolist(),
        )

    def _values(self, column: np.ndarray) -> list[Any]:
        return self.pool.lookup(column)

    # -- building ---------------------------------------------------------------------------------
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
    dtype = DNS_DTYPE
    text_columns = ("query", "qtype")
    answer_text_columns = ("name", "rtype", "value")

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

    def add(
        self,
        ts: float,
        client: bytes,
        server: bytes,
        client_port: int,
        server_port: int,
        tcp: bool,
        txid: int,
        query: str | None,
        qtype: str | None,
        is_response: bool,
        rcode: int | None,
        answers: Sequence[DnsAnswer] = (),
    ) -> None:
        """One message; addresses as 16 bytes."""
        ids = self.pool.ids
        sd = ids.setdefault
        event = self._count
        self._pending.append(
            (
                ts,
                client,
                server,
                client_port,
                server_port,
                tcp,
                txid,
                sd(query, len(ids) - 1),
                sd(qtype, len(ids) - 1),
                is_response,
                -1 if rcode is None else rcode,
            )
        )
        self._count += 1
        if answers:
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
        sd = ids.setdefault
        tails = [
            (
                sd(a.name, len(ids) - 1),
                sd(a.rtype, len(ids) - 1),
                sd(a.value, len(ids) - 1),
                a.ttl,
                addr16(a.value) if a.rtype in ("A", "AAAA") else b"",
            )
            for a in answers
        ]
        if shared:
            if len(self._answer_rows) >= 1 << 14:
                self._answer_rows.clear()  # bounded like the decoders' memo
            self._answer_rows[id(answers)] = (answers, tails)  # type: ignore[assignment]
        return tails

    def append(self, events: Sequence[DnsEvent]) -> None:
        add = self.add
        for e in events:
            add(
                e.ts,
                addr16(e.client),
                addr16(e.server),
                e.client_port,
                e.server_port,
                e.transport == "tcp",
                e.txid,
                e.query,
                e.qtype,
                e.is_response,
                e.rcode,
                e.answers,
            )

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
        ts, client, server, cport, sport = self._ends_columns(rows)
        answers = self.answers
        lo, hi = np.searchsorted(answers["event"], [first, first + len(rows)])
        answers = answers[lo:hi]
        by_event: dict[int, list[DnsAnswer]] = {}
        for event, name, rtype, value, ttl in zip(
            answers["event"].tolist(),
            self._values(answers["name"]),
            self._values(answers["rtype"]),
            self._values(answers["value"]),
            answers["ttl"].tolist(),
            strict=True,
        ):
            by_event.setdefault(event, []).append(DnsAnswer(name, rtype, value, ttl))
        columns = zip(
            ts,
            client,
            server,
            cport,
            sport,
            rows["tcp"].tolist(),
            rows["txid"].tolist(),
            self._values(rows["query"]),
            self._values(rows["qtype"]),
            rows["is_response"].tolist(),
            rows["rcode"].tolist(),
            strict=True,
        )
        return [
            DnsEvent(
                t,
                c,
                sv,
                cp,
                sp,
                "tcp" if tcp else "udp",
                txid,
                q,
                qt,
                resp,
                None if rc < 0 else rc,
                by_event.get(first + i, []),
            )
            for i, (t, c, sv, cp, sp, tcp, txid, q, qt, resp, rc) in enumerate(columns)
        ]


class TlsTable(EventTable[TlsEvent]):
    dtype = TLS_DTYPE
    text_columns = ("sni", "alpn", "versions", "ja3", "ja3_hash", "ja4")

    def add(
        self,
        ts: float,
        client: bytes,
        server: bytes,
        client_port: int,
        server_port: int,
        quic: bool,
        sni: str | None,
        alpn: tuple[str, ...],
        versions: tuple[int, ...],
        ech: bool,
        ja3: str | None,
        ja3_hash: str | None,
        ja4: str | None,
    ) -> None:
        """One ClientHello; addresses as 16 bytes."""
        ids = self.pool.ids
        sd = ids.setdefault
        self._pending.append(
            (
                ts,
                client,
                server,
                client_port,
                server_port,
                quic,
                sd(sni, len(ids) - 1),
                sd(alpn, len(ids) - 1),
                sd(versions, len(ids) - 1),
                ech,
                sd(ja3, len(ids) - 1),
                sd(ja3_hash, len(ids) - 1),
                sd(ja4, len(ids) - 1),
            )
        )
        self._count += 1

    def append(self, events: Sequence[TlsEvent]) -> None:
        add = self.add
        for e in events:
            add(
                e.ts,
                addr16(e.client),
                addr16(e.server),
                e.client_port,
                e.server_port,
                e.transport == "quic",
                e.sni,
                tuple(e.alpn),
                tuple(e.versions),
                e.ech,
                e.ja3,
                e.ja3_hash,
                e.ja4,
            )

    def _build(self, rows: np.ndarray, first: int) -> list[TlsEvent]:
        columns = zip(
            *self._ends_columns(rows),
            rows["quic"].tolist(),
            self._values(rows["sni"]),
            self._values(rows["alpn"]),
            self._values(rows["versions"]),
            rows["ech"].tolist(),
            self._values(rows["ja3"]),
            self._values(rows["ja3_hash"]),
            self._values(rows["ja4"]),
            strict=True,
        )
        return [
            TlsEvent(
                t,
                c,
                sv,
                cp,
                sp,
                "quic" if quic else "tcp",
                sni,
                list(alpn or ()),
                list(versions or ()),
                ech,
                ja3,
                ja3_hash,
                ja4,
            )
            for t, c, sv, cp, sp, quic, sni, alpn, versions, ech, ja3, ja3_hash, ja4 in columns
        ]


class HttpTable(EventTable[HttpEvent]):
    dtype = HTTP_DTYPE
    text_columns = ("method", "host", "uri", "user_agent")

    def add(
        self,
        ts: float,
        client: bytes,
        server: bytes,
        client_port: int,
        server_port: int,
        method: str | None,
        host: str | None,
        uri: str | None,
        user_agent: str | None,
    ) -> None:
        """One request; addresses as 16 bytes."""
        ids = self.pool.ids
        sd = ids.setdefault
        self._pending.append(
            (
                ts,
                client,
                server,
                client_port,
                server_port,
                sd(method, len(ids) - 1),
                sd(host, len(ids) - 1),
                sd(uri, len(ids) - 1),
                sd(user_agent, len(ids) - 1),
            )
        )
        self._count += 1

    def append(self, events: Sequence[HttpEvent]) -> None:
        add = self.add
        for e in events:
            add(
                e.ts,
                addr16(e.client),
                addr16(e.server),
                e.client_port,
                e.server_port,
                e.method,
                e.host,
                e.uri,
                e.user_agent,
            )

    def _build(self, rows: np.ndarray, first: int) -> list[HttpEvent]:
        columns = zip(
            *self._ends_columns(rows),
            self._values(rows["method"]),
            self._values(rows["host"]),
            self._values(rows["uri"]),
            self._values(rows["user_agent"]),
            strict=True,
        )
        return [HttpEvent(*values) for values in columns]


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
