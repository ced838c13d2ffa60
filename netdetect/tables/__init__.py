"""Columnar tables: connections, DNS / answer / TLS / HTTP events over one value pool, and the
Extraction that holds them (see docs/tables.md). No decoding code is imported from here."""

from netdetect.tables.events import (
    ANSWER_DTYPE,
    DNS_DTYPE,
    HTTP_DTYPE,
    NONE,
    TLS_DTYPE,
    DnsTable,
    EventSet,
    EventTable,
    HttpTable,
    TlsTable,
    ValuePool,
    addr16,
)

__all__ = [
    "ANSWER_DTYPE",
    "DNS_DTYPE",
    "HTTP_DTYPE",
    "NONE",
    "TLS_DTYPE",
    "DnsTable",
    "EventSet",
    "EventTable",
    "HttpTable",
    "TlsTable",
    "ValuePool",
    "addr16",
]
