"""DNS detectors on hand-made tables: registered domains, the per-(client, domain) table, DNS beacons
and tunnels, the look-alikes that must stay quiet, hostile names, a capture and the corpus."""

from __future__ import annotations

import numpy as np
import pytest
from _packets import DST_MAC, corpus_files, write_pcap

from netdetect.addr import to_text
from netdetect.analysis.context import AnalysisOptions, build_context
from netdetect.analysis.dns_domains import domain_lookups
from netdetect.detectors.base import DETECTORS
from netdetect.detectors.dns_beacon import DnsBeacon
from netdetect.detectors.dns_tunnel import DnsTunnel
from netdetect.domains import registered_domain, split_names
from netdetect.model import CONN_DTYPE, DnsAnswer, DnsEvent
from netdetect.tables.events import EventSet
from netdetect.tables.extraction import Extraction
from netdetect.testing import dns as gen

RNG_SEED = 7


def context(events: list[DnsEvent], min_score: float | None = 0.0):
    """The context of these events; by default every scored row is kept (`--min-score 0`), so tests
    see the scores under the threshold too."""
    events = sorted(events, key=lambda e: e.ts)
    ex = Extraction(
        np.zeros(0, CONN_DTYPE), EventSet.of(events), first_ts=events[0].ts, last_ts=events[-1].ts
    )
    return build_context(ex, AnalysisOptions(min_score=min_score))


def found(detections, threshold: float = 0.5) -> dict[tuple[str, str], float]:
    s = detections.subjects
    return {
        (to_text(c), n): float(sc)
        for c, n, sc in zip(s.client.tolist(), s.name, detections.score.tolist(), strict=True)
        if sc >= threshold
    }


def rng() -> np.random.Generator:
    return np.random.default_rng(RNG_SEED)


# -- registered domains -----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "domain"),
    [
        ("www.example.com", "example.com"),
        ("a.b.example.co.uk", "example.co.uk"),
        ("WWW.Example.COM.", "example.com"),
        ("d1a2b3c4.cloudfront.net", "d1a2b3c4.cloudfront.net"),  # private suffix: each distribution
        ("4.3.2.1.zen.spamhaus.org", "spamhaus.org"),
        ("1.2.3.4.in-addr.arpa", None),
        ("x.home.arpa", None),
        ("printer.local", None),
        ("fileserver.corp", None),
        ("nas.lan", None),
        ("db.internal", None),
        ("wpad", None),
        ("com", None),
        ("", None),
        ("a..example.com", None),
        ("x" * 300 + ".com", None),
        (None, None),
    ],
)
def test_registered_domain(name, domain):
    assert registered_domain(name) == domain


def test_domain_cache_agrees_with_the_list():
    """The two-label shortcut gives what the full list lookup gives, around deeper rules too."""
    from netdetect.domains import DomainCache, _private_suffix

    r = rng()
    ends = ["com", "co.uk", "kawasaki.jp", "city.kawasaki.jp", "amazonaws.com", "s3.amazonaws.com", "ck",
            "www.ck", "github.io", "cloudfront.net", "blogspot.com", "de", "example.org"]  # fmt: skip
    names = [f"{gen.token(r, 3)}.{gen.token(r, 2)}.{ends[i % len(ends)]}" for i in range(3000)]
    names += [f"x.{e}" for e in ends] + ends
    cache = DomainCache()
    assert [cache(n) for n in names] == [_private_suffix(n) for n in names]


def test_registered_domain_survives_garbage():
    r = np.random.default_rng(1)
    for _ in range(2000):
        raw = r.bytes(int(r.integers(0, 80)))
        name = raw.decode("latin-1")
        out = registered_domain(name)
        assert out is None or isinstance(out, str)
    assert registered_domain("\\000\\255.evil.com") == "evil.com"
    assert registered_domain("ünïcode.例え.jp") in (None, "例え.jp")


def test_split_names_works_once_per_distinct_pool_id(monkeypatch):
    import netdetect.domains as domains

    calls: list[str] = []
    real = domains.DomainCache.__call__
    monkeypatch.setattr(domains.DomainCache, "__call__", lambda self, n: calls.append(n) or real(self, n))
    events = EventSet.of([gen.exchange(float(i), "10.0.0.1", f"h{i % 3}.example.com")[0] for i in range(60)])
    parts = split_names(events.pool, events.dns.rows["query"])
    assert sorted(calls) == ["h0.example.com", "h1.example.com", "h2.example.com"]
    assert parts.domains == ["example.com"]
    assert sorted(parts.subdomain) == ["h0", "h1", "h2"]


# -- the lookup table -------------------------------------------------------------------------
def test_table_leaves_out_what_is_not_internet_dns():
    events = []
    for i in range(20):
        t = 1000.0 + i
        events += gen.exchange(t, "10.0.0.1", f"{i}.0.0.10.in-addr.arpa", "PTR")
        events += gen.exchange(t, "10.0.0.1", f"host{i}.corp")
        events += gen.exchange(t, "10.0.0.1", f"host{i}")
        events.append(
            DnsEvent(t, "10.0.0.1", "224.0.0.251", 5353, 5353, "udp", 0, f"s{i}.example.com", "A", False)
        )
        events.append(
            DnsEvent(t, "10.0.0.1", "224.0.0.252", 5355, 5355, "udp", 0, f"l{i}.example.com", "A", False)
        )
        events += gen.exchange(t, "10.0.0.1", f"n{i}.example.org")
    table = domain_lookups(context(events))
    assert [table.domains[d] for d in table.domain] == ["example.org"]
    assert table.lookups.tolist() == [20]
    assert table.distinct_subdomains.tolist() == [20]


def test_table_counts_responses_only_when_queries_were_not_captured():
    both = gen.exchange(10.0, "10.0.0.1", "a.one.com") + gen.exchange(20.0, "10.0.0.1", "b.one.com")
    answers_only = [
        e for t in (10.0, 20.0, 30.0) for e in gen.exchange(t, "10.0.0.2", "x.two.com") if e.is_response
    ]
    table = domain_lookups(context(both + answers_only))
    by_domain = {table.domains[d]: i for i, d in enumerate(table.domain.tolist())}
    assert table.lookups[by_domain["one.com"]] == 2
    assert table.lookups[by_domain["two.com"]] == 3
    assert table.times(by_domain["one.com"]).tolist() == [10.0, 20.0]


def test_table_features():
    events = []
    for i in range(40):
        nx = i % 4 == 0
        name = f"{'ab' * 15}{i:02d}.x.tunnel.net"
        events += gen.exchange(
            100.0 + 6 * i,
            "10.0.0.1",
            name,
            "TXT",
            [] if nx else [DnsAnswer(name, "TXT", f"{i:03d}" + "z" * 297, 0)],
            3 if nx else 0,
        )
        cname = DnsAnswer("www.tunnel.net", "CNAME", "edge.tunnel.net.cdn.example.net", 60)
        events += gen.exchange(100.0 + 6 * i, "10.0.0.2", "www.tunnel.net", "A", [cname])
    null = DnsAnswer("q.tunnel.net", "NULL", "\\# 900 " + "ab" * 256, 0)
    events += gen.exchange(400.0, "10.0.0.1", "q.tunnel.net", "NULL", [null])
    table = domain_lookups(context(events))
    g = [i for i in range(len(table)) if to_text(table.client[i]) == "10.0.0.1"][0]
    assert table.lookups[g] == 41
    assert table.distinct_subdomains[g] == 41
    assert table.nxdomain_share[g] == pytest.approx(10 / 41)
    assert table.unusual_type_share[g] == 1.0
    assert table.max_label_len[g] == 32
    assert table.answer_bytes[g] == 30 * 300 + 900  # the NULL value counts its declared rdata length
    assert table.clients_of_domain[g] == 2
    other = 1 - g
    assert table.answer_bytes[other] == len("edge.tunnel.net.cdn.example.net")  # a repeated value counts once
    assert table.subdomains_of_domain[g] == 42  # www counts once, over every client
    pooled = "".join(f"{'ab' * 15}{i:02d}x" for i in range(40)) + "q"
    _, counts = np.unique(list(pooled), return_counts=True)
    p = counts / counts.sum()
    assert table.entropy[g] == pytest.approx(-(p * np.log2(p)).sum())
    assert table.queries_per_min[g] == pytest.approx(41 / (300 / 60), rel=0.05)


# -- DNS beacons ------------------------------------------------------------------------------
def test_registry_knows_both_detectors():
    assert DETECTORS.get("dns_beacon") is DnsBeacon
    assert DETECTORS.get("dns_tunnel") is DnsTunnel


@pytest.mark.parametrize(
    ("kwargs", "why"),
    [
        ({"new_names": True}, "new names under update-check.net every 60s"),
        ({"new_names": True, "nxdomain": True}, "NXDOMAIN"),
        ({"new_names": False}, "lookups of api.update-check.net every 60s"),
    ],
)
def test_dns_beacon_finds_periodic_lookups(kwargs, why):
    events = gen.dns_beacon(rng(), "10.0.0.9", duration_s=3600.0, period_s=60.0, **kwargs)
    events += gen.browsing(rng(), "10.0.0.9", n_domains=200)
    d = DnsBeacon().run(context(events))
    hits = found(d)
    assert list(hits) == [("10.0.0.9", "update-check.net")]
    i = d.subjects.name.index("update-check.net")
    assert why in d.why[i]
    assert d.evidence["period_s"][i] == pytest.approx(60.0, rel=0.05)
    assert d.subjects.count[i] == 60
    assert len(d.subjects.times[i]) == 60
    assert 1 <= len(d.subjects.dns_names[i]) <= 3


def test_dns_beacon_ignores_random_lookups():
    r = rng()
    events = []
    for t in np.sort(r.uniform(0, 3600, 80)):
        events += gen.exchange(1000.0 + float(t), "10.0.0.9", f"{gen.token(r, 8)}.random-site.com")
    assert found(DnsBeacon().run(context(events))) == {}


def test_dns_beacon_lowers_cache_refresh_and_shared_fixed_names():
    telemetry = gen.telemetry(rng(), [f"10.1.0.{i}" for i in range(1, 21)])
    ntp = gen.ntp_pool(rng(), [f"10.1.0.{i}" for i in range(1, 21)])
    d = DnsBeacon().run(context(telemetry + ntp))
    assert len(found(d)) <= 1  # at most one stray among 40 hosts' periodic refreshes
    if len(d):
        assert any("cache refresh" in w or "clients" in w for w in d.why)


def test_dns_beacon_needs_min_events():
    events = gen.dns_beacon(rng(), "10.0.0.9", duration_s=300.0, period_s=60.0)
    assert len(DnsBeacon().run(context(events))) == 0


# -- tunnels ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("make", "domain"),
    [
        (lambda r: gen.dnscat2(r, "10.0.0.5", duration_s=300.0), "skullseclabs.org"),
        (lambda r: gen.iodine(r, "10.0.0.5", duration_s=300.0), "pirate-tunnel.net"),
        (lambda r: gen.slow_exfil(r, "10.0.0.5", duration_s=3600.0), "cdn-metrics-sync.com"),
        (lambda r: gen.slow_exfil(r, "10.0.0.5", duration_s=3600.0, per_min=1.0), "cdn-metrics-sync.com"),
    ],
    ids=["dnscat2", "iodine", "slow_exfil", "slow_exfil_1_per_min"],
)
def test_dns_tunnel_finds_tunnels(make, domain):
    r = rng()
    events = make(r) + gen.browsing(r, "10.0.0.5", n_domains=300)
    d = DnsTunnel().run(context(events))
    assert list(found(d)) == [("10.0.0.5", domain)]
    i = d.subjects.name.index(domain)
    assert f"distinct encoded names under {domain}" in d.why[i]
    for column in (
        "queries",
        "distinct_subdomains",
        "mean_label_len",
        "max_label_len",
        "entropy",
        "txt_share",
    ):
        assert column in d.evidence
    for column in ("name_bytes", "answer_bytes", "queries_per_min", "clients_of_domain"):
        assert column in d.evidence


@pytest.mark.parametrize(
    "make",
    [
        lambda r, hosts: gen.cdn_hashes(r, hosts),
        lambda r, hosts: gen.browsing(r, hosts[0], n_domains=3000),
        lambda r, hosts: gen.av_lookups(r, hosts),
        lambda r, hosts: gen.av_lookups(r, hosts[:4], vendor="mcafee.com", per_min=5.0),
        lambda r, hosts: gen.dnsbl(r, hosts[0], per_min=20.0),
        lambda r, hosts: gen.ntp_pool(r, hosts),
        lambda r, hosts: gen.telemetry(r, hosts),
        lambda r, hosts: gen.windows_hosts(r, hosts[:10]),
    ],
    ids=[
        "cdn_hashes",
        "browsing",
        "av_lookups",
        "av_lookups_busy",
        "dnsbl",
        "ntp_pool",
        "telemetry",
        "windows",
    ],
)
def test_look_alikes_stay_quiet(make):
    events = make(rng(), [f"10.1.0.{i}" for i in range(1, 31)])
    ctx = context(events)
    assert found(DnsTunnel().run(ctx)) == {}
    assert found(DnsBeacon().run(ctx)) == {}


def test_rita_rule_fires_on_look_alikes_that_stay_quiet_here():
    """The comparison the detector is built to win: DNSBL lookups pass RITA's unique-subdomain count."""
    ctx = context(gen.dnsbl(rng(), "10.1.9.25", per_min=20.0))
    table = domain_lookups(ctx)
    assert table.subdomains_of_domain.max() >= gen.RITA_SUBDOMAIN_THRESHOLD
    assert found(DnsTunnel().run(ctx)) == {}


def test_a_tunnel_on_many_hosts_is_still_found():
    r = rng()
    events = [
        e
        for k in range(12)
        for e in gen.dnscat2(r, f"10.3.0.{k + 1}", domain="shared-c2.org", duration_s=120.0)
    ]
    hits = found(DnsTunnel().run(context(events)))
    assert len(hits) == 12


def test_prevalence_lowers_short_names_only():
    """Many hosts asking many short names under one domain: the same data with long names scores higher."""
    r = rng()
    short, long_ = [], []
    for k in range(10):
        for i, t in enumerate(np.sort(r.uniform(0, 1200, 400))):
            c, txt = f"10.4.0.{k + 1}", [DnsAnswer("x", "TXT", gen.hex_data(r, 40), 0)]
            short_name = f"{gen.token(r, 14)}.{gen.token(r, 14)}.x.shortnames.com"
            short += gen.exchange(float(t), c, short_name, "TXT", txt, txid=i)
            long_ += gen.exchange(float(t), c, f"{gen.token(r, 28)}.x.longnames.com", "TXT", txt, txid=i)
    d = DnsTunnel().run(context(short + long_))
    by = {}
    for n, sc in zip(d.subjects.name, d.score.tolist(), strict=True):
        by.setdefault(n, []).append(sc)
    assert max(by["shortnames.com"]) < min(by["longnames.com"])


def test_hostile_names_do_not_crash():
    r = np.random.default_rng(3)
    events = []
    for i in range(400):
        raw = r.bytes(int(r.integers(0, 300))).decode("latin-1")
        name = raw if i % 3 else f"{raw}.evil.com"
        events += gen.exchange(float(i), "10.0.0.1", name, str(r.choice(["TXT", "NULL", "A", "TYPE999"])),
                               [DnsAnswer(name, "NULL", "\\# 99999999999999999999 zz", 0)])  # fmt: skip
    events.append(DnsEvent(5.0, "10.0.0.1", "10.0.0.53", 1, 53, "udp", 0, None, None, False))  # type: ignore[arg-type]
    ctx = context(events)
    DnsBeacon().run(ctx)
    DnsTunnel().run(ctx)


def test_no_dns_at_all():
    ex = Extraction(np.zeros(0, CONN_DTYPE), EventSet(), first_ts=0.0, last_ts=10.0)
    ctx = build_context(ex, AnalysisOptions())
    assert len(DnsBeacon().run(ctx)) == 0
    assert len(DnsTunnel().run(ctx)) == 0


# -- a capture, and the corpus ----------------------------------------------------------------
def test_dnscat2_like_capture_is_found(tmp_path):
    from scapy.layers.dns import DNS, DNSQR, DNSRR, DNSRRMX
    from scapy.layers.inet import IP, UDP
    from scapy.layers.l2 import Ether

    from netdetect.pipeline import extract_files

    r = rng()
    packets = []
    t = 1_700_000_000.0
    for i in range(300):
        t += float(r.exponential(0.3))
        name = f"{'.'.join(gen.hex_data(r, 60)[k : k + 60] for k in (0, 60))}.skullseclabs.org"
        qtype = ["TXT", "CNAME", "MX"][i % 3]
        eth = Ether(dst=DST_MAC)
        query = eth / IP(src="10.9.0.7", dst="10.9.0.53") / UDP(sport=40000 + i, dport=53)
        query /= DNS(id=i, rd=1, qd=DNSQR(qname=name, qtype=qtype))
        if qtype == "TXT":
            rr = DNSRR(rrname=name, type="TXT", ttl=1, rdata=gen.hex_data(r, 100))
        elif qtype == "CNAME":
            rr = DNSRR(rrname=name, type="CNAME", ttl=1, rdata=f"{gen.hex_data(r, 30)}.skullseclabs.org")
        else:
            rr = DNSRRMX(
                rrname=name, ttl=1, preference=10, exchange=f"{gen.hex_data(r, 30)}.skullseclabs.org"
            )
        response = eth / IP(src="10.9.0.53", dst="10.9.0.7") / UDP(sport=53, dport=40000 + i)
        response /= DNS(id=i, qr=1, rd=1, ra=1, qd=DNSQR(qname=name, qtype=qtype), an=rr)
        packets += [(t, query), (t + 0.02, response)]
    path = write_pcap(tmp_path / "dnscat2.pcap", packets)
    ex = extract_files([str(path)])
    assert len(ex.dns) == 600
    ctx = build_context(ex, AnalysisOptions())
    d = DnsTunnel().run(ctx)
    assert list(found(d)) == [("10.9.0.7", "skullseclabs.org")]
    assert d.evidence["answer_bytes"][0] > 100 * 100
    assert d.evidence["txt_share"][0] == 1.0


@pytest.mark.slow
@pytest.mark.skipif(
    not __import__("tests._packets", fromlist=["corpus_files"]).corpus_files(), reason="no corpus"
)
def test_corpus_raises_no_dns_finding_but_its_tunnel():
    """The ~184 third-party captures: ordinary traffic gives no DNS finding. The one exception is
    Suricata's dns/bug-1158 capture, which is dns2tcp traffic (=auth/=connect names under
    srv.tunnel.com): a real tunnel, and found as one."""
    from netdetect.pipeline import extract_files

    hits = set()
    for path in corpus_files():
        try:
            ex = extract_files([str(path)])
        except Exception:  # noqa: BLE001 - unreadable captures are the capture tests' business
            continue
        ctx = build_context(ex, AnalysisOptions())
        for det in (DnsBeacon(), DnsTunnel()):
            hits |= {(path.name, det.name, *k) for k in found(det.run(ctx))}
    assert hits == {("sv__dns__bug-1158__input.pcap", "dns_tunnel", "10.30.28.90", "tunnel.com")}


def test_detections_are_complete_and_json_ready():
    import json

    r = rng()
    events = gen.dnscat2(r, "10.0.0.5", duration_s=120.0) + gen.dns_beacon(r, "10.0.0.6", duration_s=3600.0)
    ctx = context(events)
    for d in (DnsTunnel().run(ctx), DnsBeacon().run(ctx)):
        assert len(d) == 1
        s = d.subjects
        for column in [
            s.client,
            s.name,
            s.first_seen,
            s.last_seen,
            s.count,
            s.dns_names,
            s.dst_ips,
            s.dst_port,
        ]:
            assert len(column) == len(d)
        assert all(len(column) == len(d) for column in d.evidence.values())
        assert len(d.why) == len(d)
        assert s.dst_ips[0] == [gen.RESOLVER]
        json.dumps(d.evidence_row(0))


def test_settings_change_the_thresholds():
    events = gen.slow_exfil(rng(), "10.0.0.5", duration_s=600.0, per_min=3.0)  # ~30 names
    events = sorted(events, key=lambda e: e.ts)
    ex = Extraction(
        np.zeros(0, CONN_DTYPE), EventSet.of(events), first_ts=events[0].ts, last_ts=events[-1].ts
    )
    default = DnsTunnel().run(build_context(ex, AnalysisOptions()))
    strict = DnsTunnel().run(
        build_context(ex, AnalysisOptions(settings={"dns_tunnel": {"min_subdomains": 1000}}))
    )
    assert len(default) == 1 and len(strict) == 0


def test_only_local_and_reverse_names():
    events = [e for i in range(30) for e in gen.exchange(float(i), "10.0.0.1", f"h{i}.local")]
    events += [
        e for i in range(30) for e in gen.exchange(float(i), "10.0.0.1", f"{i}.1.168.192.in-addr.arpa", "PTR")
    ]
    ctx = context(events)
    assert len(domain_lookups(ctx)) == 0
    assert len(DnsBeacon().run(ctx)) == 0
    assert len(DnsTunnel().run(ctx)) == 0


def test_rows_under_the_minimum_score_are_not_presented():
    """At the default minimum score only rows that can become findings get names and a why."""
    r = rng()
    events = []
    for k in range(10):
        for i, t in enumerate(np.sort(r.uniform(0, 1200, 400))):
            txt = [DnsAnswer("x", "TXT", gen.hex_data(r, 40), 0)]
            name = f"{gen.token(r, 14)}.{gen.token(r, 14)}.x.shortnames.com"
            events += gen.exchange(float(t), f"10.4.0.{k + 1}", name, "TXT", txt, txid=i)
    every = DnsTunnel().run(context(events))
    assert len(every) and (every.score < 0.5).any()
    shown = DnsTunnel().run(context(events, min_score=None))
    assert sorted(shown.score.tolist()) == sorted(s for s in every.score.tolist() if s >= 0.5)


def test_the_suffix_list_is_the_packages_own():
    """The faster construction gives the package's rules, punycoded twins included."""
    from publicsuffixlist import PublicSuffixList

    from netdetect.domains import _suffix_list

    ours, theirs = _suffix_list(), PublicSuffixList(accept_unknown=False)
    for name in [
        "a.b.example.co.uk",
        "x.kawasaki.jp",
        "city.kawasaki.jp",
        "foo.xn--p1ai",
        "b.s3.amazonaws.com",
    ]:
        assert ours.privatesuffix(name) == theirs.privatesuffix(name), name
    assert getattr(ours, "_publicsuffix", None) == getattr(theirs, "_publicsuffix", None)
