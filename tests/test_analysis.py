"""Analysis shortcuts give what the plain computation gives: the sort and join helpers against numpy
and brute force, scoring only the groups that can be reported against scoring all of them, and the
DNS chain lookups of a few groups against the index of every pair."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netdetect.addr import from_text, to_text
from netdetect.allowlist import Allowlist
from netdetect.analysis import (
    INTERNAL_DEFAULT,
    AnalysisOptions,
    analyze,
    attribute_names,
    in_networks,
    latest_before,
)
from netdetect.analysis.names import SPAN_INDEX_AFTER, _key_time_order
from netdetect.arrays import distinct_addresses, distinct_keys, distinct_values
from netdetect.intel import IntelStore
from netdetect.intel.match import _distinct_requests
from netdetect.output.records import finding_record
from netdetect.pipeline import extract_files

DEMO = Path(__file__).resolve().parents[1] / "pcaps" / "demo-office.pcap"

keys = st.lists(st.integers(0, 6), max_size=60).map(lambda v: np.array(v, np.uint64))


@pytest.fixture(scope="module")
def demo():
    return extract_files([str(DEMO)])


@given(keys)
def test_distinct_keys_is_np_unique(key: np.ndarray) -> None:
    want = np.unique(key, return_index=True, return_inverse=True, return_counts=True)
    for got, expected in zip(distinct_keys(key), want, strict=True):
        np.testing.assert_array_equal(got, expected)


@given(keys, st.data())
def test_key_time_order_is_lexsort(key: np.ndarray, data) -> None:
    times = st.sampled_from([0.0, 1.0, 2.5, np.nan])
    ts = np.array(data.draw(st.lists(times, min_size=len(key), max_size=len(key))))
    np.testing.assert_array_equal(_key_time_order(key, ts), np.lexsort((ts, key)))


@settings(max_examples=200)
@given(keys, st.data())
def test_latest_before_is_the_latest_earlier_row_with_the_key(ref_key: np.ndarray, data) -> None:
    times = st.integers(0, 20).map(float)
    ref_ts = np.array(data.draw(st.lists(times, min_size=len(ref_key), max_size=len(ref_key))), float)
    q_key = data.draw(keys)
    q_ts = np.array(data.draw(st.lists(times, min_size=len(q_key), max_size=len(q_key))), float)
    got = latest_before(ref_key, ref_ts, q_key, q_ts)
    for k, t, row in zip(q_key.tolist(), q_ts.tolist(), got.tolist(), strict=True):
        earlier = [i for i in range(len(ref_key)) if ref_key[i] == k and ref_ts[i] <= t]
        if not earlier:
            assert row == -1
        else:  # the latest time; among equal times the last row, as the sorted search takes it
            latest = max(ref_ts[i] for i in earlier)
            assert row == max(i for i in earlier if ref_ts[i] == latest)


ADDRESSES = [
    "10.1.2.3", "9.255.255.255", "172.16.0.1", "172.32.0.1", "192.168.1.1", "100.64.0.1", "100.128.0.1",
    "127.0.0.1", "169.254.3.3", "224.0.0.1", "240.0.0.1", "255.255.255.255", "0.0.0.0", "0.0.0.1",
    "8.8.8.8", "fc00::1", "fe80::1", "fec0::1", "ff02::1", "::1", "::", "::2", "2001:db8::1", "64:ff9b::1",
]  # fmt: skip
NETWORKS = [
    INTERNAL_DEFAULT,
    ("10.0.0.0/8", "10.1.0.0/16", "11.0.0.0/8", "9.255.255.255/32"),
    ("::ffff:0:0/96",),
    ("::ffff:10.0.0.0/104", "2001:db8::/32"),
    ("0.0.0.0/0",),
    ("::/0",),
    (),
]


@pytest.mark.parametrize("cidrs", NETWORKS)
def test_in_networks_is_ipaddress_membership(cidrs: tuple[str, ...]) -> None:
    column = np.array([from_text(a) for a in ADDRESSES], "S16")
    nets = [ipaddress.ip_network(c) for c in cidrs]

    def inside(text: str) -> bool:
        ip = ipaddress.ip_address(text)
        mapped = ipaddress.ip_address(b"\0" * 10 + b"\xff\xff" + ip.packed) if ip.version == 4 else ip
        return any(ip in n or mapped in n for n in nets if n.version in (ip.version, 6))

    assert in_networks(column, cidrs).tolist() == [inside(a) for a in ADDRESSES]


def test_distinct_addresses_and_values_are_np_unique(demo) -> None:
    for column in (demo.conns["client"], demo.conns["server"], demo.dns.answers["addr"]):
        np.testing.assert_array_equal(distinct_addresses(column), np.unique(column))
    odd = np.array([b"", b"\0" * 15 + b"\1", b" \1" + b"\0" * 14, b" \1" + b"\0" * 14], "S16")
    np.testing.assert_array_equal(distinct_addresses(odd), np.unique(odd))
    np.testing.assert_array_equal(distinct_values(demo.dns.rows["query"]), np.unique(demo.dns.rows["query"]))


def test_distinct_requests_is_np_unique_on_the_key_record(demo) -> None:
    rows = demo.http.rows
    key = np.zeros(len(rows), [("host", "i4"), ("uri", "i4"), ("server", "S16")])
    key["host"], key["uri"], key["server"] = rows["host"], rows["uri"], rows["server"]
    distinct, inverse = np.unique(key, return_inverse=True)
    got_inverse, hosts, uris, servers = _distinct_requests(rows)
    np.testing.assert_array_equal(got_inverse, inverse.ravel())
    assert (hosts, uris) == (distinct["host"].tolist(), distinct["uri"].tolist())
    assert servers == distinct["server"].tolist()


def test_naming_the_outside_connections_names_them_as_naming_all(demo) -> None:
    outside = ~in_networks(demo.conns["server"], INTERNAL_DEFAULT)
    every, names, _ = attribute_names(demo)
    some, some_names, _ = attribute_names(demo, demo.conns[outside])
    assert some_names == names
    np.testing.assert_array_equal(some, every[outside])


@pytest.mark.parametrize("group_by", ["name", "addr", "port"])
def test_scoring_the_reportable_groups_reports_what_scoring_all_does(demo, group_by: str) -> None:
    """Above a zero minimum only groups with enough connections or an intel hit are scored; their
    findings must equal those of the run that scores every group."""
    intel, allowlist = IntelStore.load(), Allowlist.load()
    few = analyze(demo, intel, allowlist, AnalysisOptions(group_by=group_by, min_score=0.3))
    every = analyze(demo, intel, allowlist, AnalysisOptions(group_by=group_by, min_score=0.0))
    assert few.findings
    expected = [finding_record(f, 0) for f in every.findings if f.score >= 0.3 or f.kind == "intel"]
    assert [finding_record(f, 0) for f in few.findings] == expected


def test_chain_lookups_of_a_few_groups_match_the_index_of_every_pair(demo) -> None:
    _, names, chains = attribute_names(demo)
    _, _, indexed = attribute_names(demo)
    indexed._lookups = SPAN_INDEX_AFTER  # every lookup takes the index
    clients = sorted({to_text(c) for c in demo.dns.rows["client"].tolist()})
    asked = {demo.events.pool.get(q) for q in set(demo.dns.rows["query"].tolist())}
    queries = sorted((set(names) | asked) - {None})
    found = 0
    for client in clients:
        for query in queries:
            few = chains.get((client, query))
            assert few == indexed.get((client, query)), (client, query)
            found += bool(few)
    assert found
