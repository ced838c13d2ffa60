"""Columnar event tables: events survive the round trip, merges remap pools and keep answers linked."""

from __future__ import annotations

import numpy as np

from netdetect.addr import from_text
from netdetect.model import DnsAnswer, DnsEvent, HttpEvent, TlsEvent
from netdetect.tables import EventSet

C1, C2, S = "10.0.0.1", "2001:db8::2", "192.0.2.53"


def dns(ts: float, client: str, query: str, answers: list[DnsAnswer] | None = None) -> DnsEvent:
    return DnsEvent(
        ts,
        client,
        S,
        40000,
        53,
        "udp",
        7,
        query,
        "A",
        answers is not None,
        0 if answers else None,
        answers or [],
    )


def test_events_round_trip_through_the_tables() -> None:
    events = [
        dns(1.0, C1, "a.example"),
        dns(
            1.1,
            C1,
            "a.example",
            [
                DnsAnswer("a.example", "CNAME", "b.example", 60),
                DnsAnswer("b.example", "A", "198.51.100.7", 30),
            ],
        ),
        dns(2.0, C2, "", [DnsAnswer("", "AAAA", "2001:db8::7", 5)]),
    ]
    tls = [
        TlsEvent(
            3.0,
            C1,
            "198.51.100.7",
            50000,
            443,
            "tcp",
            "b.example",
            ["h2", "http/1.1"],
            [0x0304],
            True,
            "771,4865",
            "hash",
            "t13d",
        ),
        TlsEvent(4.0, C2, "2001:db8::7", 50001, 443, "quic", None, [], [], False, None, None, None),
    ]
    http = [HttpEvent(5.0, C1, "198.51.100.8", 50002, 80, "GET", None, "/x", "curl/8")]
    tables = EventSet.of(events, tls, http)
    assert list(tables.dns) == events
    assert list(tables.tls) == tls
    assert list(tables.http) == http
    assert tables.dns[-1] == events[-1] and tables.tls[0:1] == tls[:1]
    # A/AAAA answers also carry the 16-byte address for joins with the connection table.
    addressed = tables.dns.answers[tables.dns.answers["addr"] != b""]
    assert [bytes(a).ljust(16, b"\0") for a in addressed["addr"]] == [
        from_text("198.51.100.7"),
        from_text("2001:db8::7"),
    ]
    # One pool: a name seen in DNS and in TLS is one id.
    assert tables.pool.find("b.example") == int(tables.tls.rows["sni"][0])


def test_merge_remaps_pools_and_sort_keeps_answers_with_their_message() -> None:
    first = EventSet.of([dns(5.0, C1, "late.example", [DnsAnswer("late.example", "A", "198.51.100.1", 1)])])
    second = EventSet.of(
        [
            dns(1.0, C2, "early.example", [DnsAnswer("early.example", "A", "198.51.100.2", 2)]),
            dns(3.0, C2, "middle.example"),
        ],
        [TlsEvent(2.0, C2, S, 1, 443, "tcp", "late.example")],
    )
    merged = EventSet()
    merged.extend(first)
    merged.extend(second)
    merged.sort()
    got = [(e.ts, e.query, [(a.name, a.value) for a in e.answers]) for e in merged.dns]
    assert got == [
        (1.0, "early.example", [("early.example", "198.51.100.2")]),
        (3.0, "middle.example", []),
        (5.0, "late.example", [("late.example", "198.51.100.1")]),
    ]
    assert [e.sni for e in merged.tls] == ["late.example"]
    assert merged.pool.find("late.example") == int(merged.tls.rows["sni"][0])
    assert np.all(np.diff(merged.dns.answers["event"]) >= 0)
