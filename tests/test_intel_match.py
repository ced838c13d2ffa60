"""IntelStore lookups and batch event matching: the matching rules of issue 5."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from netdetect.addr import from_text
from netdetect.intel import IntelStore, match_events
from netdetect.intel.indicator import parse_time
from netdetect.model import DnsAnswer, DnsEvent, HttpEvent, TlsEvent

JA4 = "t13d1516h2_8daaf6152771_b186095e22b6"


@pytest.fixture(scope="module")
def bundled() -> IntelStore:
    return IntelStore.load()


@pytest.fixture()
def lab(tmp_path: Path) -> IntelStore:
    pack = tmp_path / "lab"
    pack.mkdir()
    (pack / "pack.toml").write_text('name = "lab"\n')
    records = [
        {"value": "*.wild.example", "type": "domain", "confidence": "high"},
        {"value": "bücher.example", "type": "domain"},
        {"value": "xn--caf-dma.example", "type": "domain"},
        {"value": "198.51.100.0/24", "type": "cidr"},
        {"value": "2001:db8:bad::/48", "type": "cidr"},
        {"value": "2001:db8::7", "type": "ip"},
        {"value": "old.example", "type": "domain", "valid_until": "2023-01-01T00:00:00Z"},
        {"value": "e7d705a3286e19ea42f587b344ee6865", "type": "ja3"},
        {"value": JA4, "type": "ja4"},
        {"value": "https://cdn.shared.example/evil/", "type": "url"},
        {"value": "http://bare.example/", "type": "url"},
        {"value": "context.example", "type": "domain", "benign": True},
    ]
    (pack / "indicators.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    return IntelStore.load([pack])


# ---------------------------------------------------------------- single lookups


def values(indicators) -> list[str]:
    return sorted(i.value for i in indicators)


def test_domains_subdomains_case_dot_and_no_near_misses(bundled: IntelStore) -> None:
    assert values(bundled.match_name("msstorageboxes.com")) == ["msstorageboxes.com"]
    assert values(bundled.match_name("MSStorageBoxes.COM.")) == ["msstorageboxes.com"]
    assert values(bundled.match_name("a.b.msstorageboxes.com")) == ["msstorageboxes.com"]
    assert bundled.match_name("notmsstorageboxes.com") == []
    assert bundled.match_name("msstorageboxes.com.example.net") == []
    assert bundled.match_name("storageboxes.com") == []
    assert bundled.match_name("com") == []
    # hostname www.journalide.org and domain journalide.org both apply to the www name
    assert values(bundled.match_name("www.journalide.org")) == ["journalide.org", "www.journalide.org"]


def test_wildcard_matches_apex_and_idn_forms_are_equal(lab: IntelStore) -> None:
    assert values(lab.match_name("wild.example")) == ["wild.example"]
    assert values(lab.match_name("x.wild.example")) == ["wild.example"]
    assert lab.match_name("notwild.example") == []
    assert values(lab.match_name("xn--bcher-kva.example")) == ["xn--bcher-kva.example"]
    assert values(lab.match_name("WWW.BÜCHER.example")) == ["xn--bcher-kva.example"]
    assert values(lab.match_name("café.example")) == ["xn--caf-dma.example"]


def test_addresses_and_cidrs(lab: IntelStore, bundled: IntelStore) -> None:
    assert values(bundled.match_ip("172.93.201.88")) == ["172.93.201.88"]
    assert bundled.match_ip("172.93.201.89") == []
    assert values(bundled.match_ip("::ffff:172.93.201.88")) == ["172.93.201.88"]
    assert values(lab.match_ip("198.51.100.200")) == ["198.51.100.0/24"]
    assert lab.match_ip("198.51.101.1") == []
    assert values(lab.match_ip("2001:db8:bad:1::9")) == ["2001:db8:bad::/48"]
    assert values(lab.match_ip("2001:DB8::7")) == ["2001:db8::7"]
    assert lab.match_ip("2001:db8::8") == []
    assert lab.match_ip("not an address") == []


def test_url_host_and_path_prefix(bundled: IntelStore) -> None:
    hits = bundled.match_url("raw.githubusercontent.com", "/IconStorages/images/main/icon7.ico")
    assert values(hits) == [
        "https://raw.githubusercontent.com/IconStorages/images/main/",
        "https://raw.githubusercontent.com/IconStorages/images/main/icon7.ico",
    ]
    assert bundled.match_url("raw.githubusercontent.com", "/torvalds/linux/master/README") == []
    assert values(bundled.match_url("pbxsources.com:443", "/exchange?id=1")) == [
        "https://pbxsources.com/exchange"
    ]
    assert bundled.match_url("pbxsources.com", "/exchangeX") == []
    # a URL under the shared host never turns the host itself into a hit (TLS/DNS only see the host)
    assert bundled.match_name("raw.githubusercontent.com") == []
    assert bundled.match_name("github.com") == []


def test_bare_url_lists_its_host(lab: IntelStore) -> None:
    assert values(lab.match_name("bare.example")) == ["http://bare.example/"]
    assert lab.match_name("cdn.shared.example") == []


def test_fingerprints(lab: IntelStore) -> None:
    assert values(lab.match_fingerprint("ja3", "E7D705A3286E19EA42F587B344EE6865")) == [
        "e7d705a3286e19ea42f587b344ee6865"
    ]
    assert values(lab.match_fingerprint("ja4", JA4.upper())) == [JA4]
    assert lab.match_fingerprint("ja3", "0" * 32) == []


def test_expiry_needs_the_flag(tmp_path: Path, lab: IntelStore) -> None:
    before, after = parse_time("2022-06-01"), parse_time("2023-06-01")
    assert values(lab.match_name("old.example", at=before)) == ["old.example"]
    assert lab.match_name("old.example", at=after) == []
    assert lab.match_name("old.example") == []  # now
    relaxed = IntelStore.load([tmp_path / "lab"], include_expired=True)
    assert values(relaxed.match_name("old.example")) == ["old.example"]
    check = relaxed.check("old.example")
    assert [(m.indicator.value, m.expired) for m in check] == [("old.example", True)]


def test_vectorised_address_column(lab: IntelStore) -> None:
    column = np.array(
        [
            from_text(a)
            for a in ("10.0.0.1", "198.51.100.9", "2001:db8::7", "2001:db8:bad::1", "0.0.0.0", "198.51.100.0")
        ],
        dtype="S16",
    )
    rows = {row: values(inds) for row, inds in lab.match_addresses16(column)}
    assert rows == {
        1: ["198.51.100.0/24"],
        2: ["2001:db8::7"],
        3: ["2001:db8:bad::/48"],
        5: ["198.51.100.0/24"],
    }


def test_single_label_names_are_refused(tmp_path: Path) -> None:
    feed = tmp_path / "tld.jsonl"
    feed.write_text('{"value": "com", "type": "domain"}\n{"value": "evil.example", "type": "domain"}\n')
    store = IntelStore.load([feed])
    assert len(store) == 1
    assert len(store.problems) == 1 and "whole top-level domain" in store.problems[0]


# ---------------------------------------------------------------- batch event matching

C1, C2, RESOLVER = "10.0.0.5", "10.0.0.6", "10.0.0.53"


def dns(ts: float, client: str, query: str, answers=(), response=False, txid=1) -> DnsEvent:
    return DnsEvent(
        ts,
        client,
        RESOLVER,
        50000,
        53,
        "udp",
        txid,
        query,
        "A",
        response,
        0 if response else None,
        [DnsAnswer(*a) for a in answers],
    )


def tls(
    ts: float, client: str, server: str, sni: str | None, transport="tcp", ja3=None, ja4=None
) -> TlsEvent:
    return TlsEvent(ts, client, server, 50001, 443, transport, sni, ja3_hash=ja3, ja4=ja4)


def http(ts: float, client: str, server: str, host: str | None, uri: str, method="GET") -> HttpEvent:
    return HttpEvent(ts, client, server, 50002, 80, method, host, uri, "ua")


def summary(hits) -> list[tuple]:
    return sorted((h.client, h.field, h.indicator, h.value, h.count, h.first_seen, h.last_seen) for h in hits)


def test_match_events_expected_hits_and_no_near_misses(bundled: IntelStore) -> None:
    events_dns = [
        dns(10, C1, "x.msstorageboxes.com", txid=7),
        dns(
            10.1,
            C1,
            "x.msstorageboxes.com",
            response=True,
            txid=7,
            answers=[
                ("x.msstorageboxes.com", "CNAME", "edge.pbxsources.com", 60),
                ("edge.pbxsources.com", "A", "172.93.201.88", 60),
            ],
        ),
        dns(20, C1, "notmsstorageboxes.com"),
        dns(21, C1, "msstorageboxes.com.example.net"),
        dns(30, C2, "journalide.org"),  # blocked lookup: no response, no connection
    ]
    events_tls = [
        tls(40, C1, "198.51.100.1", "raw.githubusercontent.com"),
        tls(41, C1, "198.51.100.2", "AkamaiContainer.com.", transport="quic"),
        tls(42, C2, "198.51.100.3", "www.3cx.com"),
    ]
    events_http = [
        http(50, C2, "185.199.108.133", "raw.githubusercontent.com", "/IconStorages/images/main/icon3.ico"),
        http(51, C2, "185.199.108.133", "raw.githubusercontent.com", "/torvalds/linux/README"),
        http(52, C2, "198.51.100.4", None, "http://sbmsa.wiki/blog/_insert", method="POST"),
    ]
    servers = [
        (C1, "172.93.201.88", 100.0, 160.0, 3),
        (C1, "198.51.100.1", 40.0, 40.0, 1),
        (C2, "38.108.185.79", 70.0, 70.0, 1),
    ]  # od.lk: benign context only
    hits = match_events(bundled, events_dns, events_tls, events_http, servers)
    icon = "https://raw.githubusercontent.com/IconStorages/images/main/"
    assert summary(hits) == sorted(
        [
            (C1, "dns_query", "msstorageboxes.com", "x.msstorageboxes.com", 1, 10, 10),
            (C1, "dns_cname", "pbxsources.com", "edge.pbxsources.com", 1, 10.1, 10.1),
            (C1, "dns_answer", "172.93.201.88", "172.93.201.88", 1, 10.1, 10.1),
            (C2, "dns_query", "journalide.org", "journalide.org", 1, 30, 30),
            (C1, "sni", "akamaicontainer.com", "AkamaiContainer.com.", 1, 41, 41),
            (C2, "url", icon, "raw.githubusercontent.com/IconStorages/images/main/icon3.ico", 1, 50, 50),
            (
                C2,
                "url",
                icon + "icon3.ico",
                "raw.githubusercontent.com/IconStorages/images/main/icon3.ico",
                1,
                50,
                50,
            ),
            (C2, "http_host", "sbmsa.wiki", "sbmsa.wiki", 1, 52, 52),
            (C2, "url", "https://sbmsa.wiki/blog/_insert", "sbmsa.wiki/blog/_insert", 1, 52, 52),
            (C1, "dst_ip", "172.93.201.88", "172.93.201.88", 3, 100, 160),
        ]
    )
    hit = next(h for h in hits if h.field == "sni")
    assert (hit.pack, hit.confidence, hit.type, hit.benign, hit.expired) == (
        "3cx",
        "high",
        "domain",
        False,
        False,
    )


def test_benign_indicators_are_context_only(bundled: IntelStore) -> None:
    events = [tls(1, C1, "203.0.113.1", "www.tradingtechnologies.com")]
    servers = [(C1, "38.108.185.79", 1.0, 2.0, 2)]
    assert match_events(bundled, tls=events, servers=servers) == []
    context = match_events(bundled, tls=events, servers=servers, include_benign=True)
    assert sorted((h.indicator, h.benign) for h in context) == [
        ("38.108.185.79", True),
        ("www.tradingtechnologies.com", True),
    ]


def test_hits_merge_per_client_indicator_and_field(bundled: IntelStore) -> None:
    events = [tls(t, C1, "203.0.113.9", f"n{t}.glcloudservice.com") for t in (300, 100, 200)]
    events.append(tls(150, C2, "203.0.113.9", "glcloudservice.com"))
    hits = match_events(bundled, tls=events, dns=[dns(50, C1, "glcloudservice.com")])
    assert summary(hits) == [
        (C1, "dns_query", "glcloudservice.com", "glcloudservice.com", 1, 50, 50),
        (C1, "sni", "glcloudservice.com", "n100.glcloudservice.com", 3, 100, 300),
        (C2, "sni", "glcloudservice.com", "glcloudservice.com", 1, 150, 150),
    ]


def test_expired_indicators_by_event_time(tmp_path: Path, lab: IntelStore) -> None:
    early, late = parse_time("2022-12-01"), parse_time("2023-02-01")
    assert early is not None and late is not None
    events = [dns(early, C1, "old.example"), dns(late, C2, "old.example")]
    assert summary(match_events(lab, dns=events)) == [
        (C1, "dns_query", "old.example", "old.example", 1, early, early)
    ]
    relaxed = IntelStore.load([tmp_path / "lab"], include_expired=True)
    assert sorted((h.client, h.expired) for h in match_events(relaxed, dns=events)) == [
        (C1, False),
        (C2, True),
    ]


def test_fingerprints_cidrs_and_idn_in_events(lab: IntelStore) -> None:
    events = [
        tls(1, C1, "198.51.100.77", "xn--bcher-kva.example", ja3="E7D705A3286E19EA42F587B344EE6865", ja4=JA4)
    ]
    answers = [("www.wild.example", "AAAA", "2001:db8:bad::10", 30)]
    hits = match_events(
        lab,
        tls=events,
        dns=[dns(2, C1, "www.wild.example", answers, response=True)],
        servers=[(C1, "198.51.100.77", 1.0, 1.0, 1)],
    )
    assert sorted((h.field, h.indicator, h.type) for h in hits) == [
        ("dns_answer", "2001:db8:bad::/48", "cidr"),
        ("dns_query", "wild.example", "domain"),
        ("dst_ip", "198.51.100.0/24", "cidr"),
        ("ja3", "e7d705a3286e19ea42f587b344ee6865", "ja3"),
        ("ja4", JA4, "ja4"),
        ("sni", "xn--bcher-kva.example", "domain"),
    ]


def test_hostile_wire_values_do_not_crash(bundled: IntelStore) -> None:
    weird = ["", ".", "..", "\x00evil", "a" * 5000, "xn--", "é" * 300, "*.msstorageboxes.com", "\udcff.com"]
    events = [tls(1, C1, "1.1.1.1", name) for name in weird]
    events.append(tls(2, C1, "1.1.1.1", None, ja3="not-hex"))
    http_events = [
        http(3, C1, "1.1.1.1", "[::1", "relative"),
        http(4, C1, "1.1.1.1", "host:99999", "//x"),
        http(5, C1, "1.1.1.1", None, "evil.example:443", method="CONNECT"),
    ]
    hits = match_events(bundled, tls=events, http=http_events, servers=[(C1, "garbage", 0.0, 0.0, 1)])
    assert [(h.field, h.indicator) for h in hits] == [("sni", "msstorageboxes.com")]


def test_duplicates_within_a_pack_are_kept_once(tmp_path: Path) -> None:
    feed = tmp_path / "dups.txt"
    feed.write_text(
        "evil.example\nEVIL.example.\n192.0.2.1\n192.0.2.1\nhttp://evil.example/a\nhttp://evil.example/a\n"
    )
    other = tmp_path / "other.txt"
    other.write_text("evil.example\n")
    store = IntelStore.load([feed, other])
    assert len(store) == 4
    assert store.notices == ["pack dups: 3 duplicate indicator(s) ignored"]
    assert sorted(i.pack for i in store.match_name("evil.example")) == ["dups", "other"]
    hits = match_events(
        store, tls=[tls(1, C1, "192.0.2.1", "evil.example")], servers=[(C1, "192.0.2.1", 1.0, 1.0, 1)]
    )
    assert sorted((h.pack, h.field) for h in hits) == [("dups", "dst_ip"), ("dups", "sni"), ("other", "sni")]


def test_ja3_string_without_its_hash_is_hashed_and_matched(tmp_path: Path) -> None:
    """The tshark engine gives the JA3 string only: matching hashes it, once per distinct string."""
    import hashlib

    listed = "771,4865-4866-4867,0-23-65281-10-11,29-23-24,0"
    digest = hashlib.md5(listed.encode()).hexdigest()
    pack = tmp_path / "fp"
    pack.mkdir()
    (pack / "pack.toml").write_text('name = "fp"\n')
    (pack / "indicators.jsonl").write_text(json.dumps({"value": digest, "type": "ja3"}) + "\n")
    store = IntelStore.load([pack])
    events = [
        TlsEvent(1.0, C1, "198.51.100.9", 50001, 443, "tcp", None, ja3=listed),
        TlsEvent(2.0, C1, "198.51.100.9", 50002, 443, "tcp", None, ja3=listed),
        TlsEvent(3.0, C2, "198.51.100.9", 50003, 443, "tcp", None, ja3=listed + "-1"),  # not listed
        TlsEvent(4.0, C2, "198.51.100.9", 50004, 443, "tcp", None, ja3="other", ja3_hash=digest),
    ]
    hits = match_events(store, tls=events)
    assert sorted((h.client, h.field, h.value, h.count, h.first_seen, h.last_seen) for h in hits) == [
        (C1, "ja3", digest, 2, 1.0, 2.0),
        (C2, "ja3", digest, 1, 4.0, 4.0),
    ]
