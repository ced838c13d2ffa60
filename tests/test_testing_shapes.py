"""netdetect.testing.shapes: every generator writes captures that extract to what its labels say, the
same seed gives the same bytes, and the accuracy harness scores findings and RITA's rules as documented."""

from __future__ import annotations

from collections import Counter
from functools import cache
from pathlib import Path

import numpy as np
import pytest

from netdetect.addr import column_to_text
from netdetect.cli.common import resolve_inputs
from netdetect.pipeline import extract_parallel
from netdetect.tables.extraction import Extraction
from netdetect.testing import accuracy
from netdetect.testing.accuracy import Flag, netdetect_flags, registered_domain
from netdetect.testing.shapes import NONE, SHAPES, Label, ShapeCapture, write_shape

DETECTORS = {"beacon", "heartbeat", "long_connection", "strobe", "rotating", "dns_beacon", "dns_tunnel"}
LOOK_ALIKES = {"browsing", "cdn_hash_names", "ntp", "mail_server"}
DNS_SHAPES = {"dns_beacon", "dnscat2_tunnel", "iodine_tunnel", "slow_dns_exfil"}
SCALE = 0.2


@cache
def _generated(shape: str, root: Path) -> tuple[ShapeCapture, list[Extraction]]:
    capture = write_shape(shape, root / shape, seed=3, scale=SCALE)
    return capture, [extract_parallel(resolve_inputs(tuple(map(str, files))), 1) for files in capture.scans]


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("shapes")


def _pairs(ex: Extraction) -> Counter[tuple[str, str]]:
    conns = ex.conns
    return Counter(zip(column_to_text(conns["client"]), column_to_text(conns["server"]), strict=True))


def _queries(ex: Extraction) -> list:
    return [e for e in ex.dns.events() if not e.is_response]


@pytest.mark.parametrize("shape", list(SHAPES))
def test_labels_are_well_formed(shape: str, root: Path) -> None:
    capture, extractions = _generated(shape, root)
    assert capture.labels and capture.files and all(f.stat().st_size > 24 for f in capture.files)
    assert sum(len(files) for files in capture.scans) == len(capture.files)
    assert all(label.shape == shape for label in capture.labels)
    assert all(label.expected in DETECTORS | {NONE} for label in capture.labels)
    positives = [label for label in capture.labels if label.positive]
    assert (not positives) == (shape in LOOK_ALIKES)
    assert len({(label.client, label.server) for label in capture.labels}) == len(capture.labels)
    assert sum(ex.packets for ex in extractions) == capture.packets > 0  # every packet read back
    assert not any(ex.decode_errors for ex in extractions)


@pytest.mark.parametrize("shape", sorted(set(SHAPES) - DNS_SHAPES))
def test_connection_labels_have_their_connections(shape: str, root: Path) -> None:
    capture, extractions = _generated(shape, root)
    pairs: Counter[tuple[str, str]] = Counter()
    clients = set()
    for ex in extractions:
        pairs += _pairs(ex)
        clients |= set(column_to_text(ex.conns["client"]))
    for label in capture.labels:
        assert label.client in clients, label
        for address in label.addresses:
            assert pairs[label.client, address] >= 1, (label, address)


@pytest.mark.parametrize("shape", ["rat_heartbeat", "websocket_push", "chat_keepalive", "long_media_stream"])
def test_channels_are_one_long_connection(shape: str, root: Path) -> None:
    capture, (ex,) = _generated(shape, root)
    conns = ex.conns
    clients, servers = column_to_text(conns["client"]), column_to_text(conns["server"])
    for label in capture.labels:
        (row,) = [
            i
            for i, (c, s) in enumerate(zip(clients, servers, strict=True))
            if (c, s) == (label.client, label.addresses[0])
        ]
        duration = conns["end_ts"][row] - conns["ts"][row]
        # Exchanges inside the connection: many packets each way, pure ACKs and data.
        assert conns["packets_out"][row] >= 8 and conns["packets_in"][row] >= 8
        assert duration > (3600 if shape == "long_media_stream" else 60)


def test_rotating_c2_uses_one_hello_without_sni_over_several_addresses(root: Path) -> None:
    capture, (ex,) = _generated("rotating_c2", root)
    hellos = ex.tls.events()
    for label in capture.labels:
        assert 3 <= len(label.addresses) <= 8
        mine = [h for h in hellos if h.client == label.client]
        assert {h.server for h in mine} == set(label.addresses)
        assert {h.sni for h in mine} == {None} and len({h.ja4 for h in mine}) == 1
        assert len({h.server_port for h in mine}) == 1


def test_few_check_ins_are_short_captures_scanned_alone(root: Path) -> None:
    capture, extractions = _generated("few_check_ins", root)
    assert len(capture.scans) == len(capture.files) >= 2
    for ex in extractions:
        assert 600 - 5 <= ex.last_ts - ex.first_ts <= 1800 + 5
    positives = [label for label in capture.labels if label.positive]
    counts = [sum(_pairs(ex)[p.client, p.addresses[0]] for ex in extractions) for p in positives]
    assert all(3 <= n <= 5 for n in counts), counts


def test_beacon_across_captures_has_gaps_between_them(root: Path) -> None:
    capture, (ex,) = _generated("beacon_multi_capture", root)
    assert len(capture.files) == 3 and len(capture.scans) == 1
    spans = sorted(ex.spans)
    assert len(spans) == 3 and all(b[0] - a[1] >= 3600 for a, b in zip(spans, spans[1:], strict=False))


def test_strobe_and_fleet_counts(root: Path) -> None:
    capture, (ex,) = _generated("strobe", root)
    pairs = _pairs(ex)
    assert all(pairs[label.client, label.server] >= 2000 for label in capture.labels)
    capture, (ex,) = _generated("fleet_agent", root)
    assert (
        len({label.client for label in capture.labels}) == 40
        and len({label.server for label in capture.labels}) == 1
    )
    names = {h.client for h in ex.tls.events() if h.sni == capture.labels[0].server}
    assert names == {label.client for label in capture.labels}


@pytest.mark.parametrize(
    ("shape", "qtypes"),
    [
        ("dns_beacon", {"A"}),
        ("dnscat2_tunnel", {"TXT", "CNAME", "MX"}),
        ("iodine_tunnel", {"NULL", "TYPE10"}),  # as the decoder names it, or will
        ("slow_dns_exfil", {"A"}),
    ],
)
def test_dns_shapes_query_new_names_under_their_domain(shape: str, qtypes: set[str], root: Path) -> None:
    capture, (ex,) = _generated(shape, root)
    assert len(ex.conns[~np.isin(column_to_text(ex.conns["server"]), ["10.0.0.53"])]) == 0  # no connection
    queries = _queries(ex)
    for label in capture.labels:
        mine = [q for q in queries if q.client == label.client]
        assert mine and all(registered_domain(q.query) == label.server for q in mine)
        assert {q.qtype for q in mine} <= qtypes
        assert len({q.query for q in mine}) >= 0.9 * len(mine)  # ever-new subdomains
    if shape == "dnscat2_tunnel":
        assert {q.qtype for q in queries} == qtypes
    if shape == "dns_beacon":
        rcodes = Counter(e.rcode for e in ex.dns.events() if e.is_response)
        assert rcodes[3] > 0  # NXDOMAIN answers


def test_look_alikes_have_their_traits(root: Path) -> None:
    capture, (ex,) = _generated("mail_server", root)
    queries = _queries(ex)
    assert any(q.query.endswith(".zen.spamhaus.org") for q in queries) and any(
        q.qtype == "MX" for q in queries
    )
    assert 25 in set(ex.conns["server_port"].tolist())
    capture, (ex,) = _generated("ntp", root)
    assert set(ex.conns["server_port"].tolist()) == {123} and set(ex.conns["proto"].tolist()) == {17}
    capture, (ex,) = _generated("browsing", root)
    assert len({q.query for q in _queries(ex)}) >= 50
    capture, (ex,) = _generated("cdn_hash_names", root)
    assert len({q.client for q in _queries(ex)}) >= 5
    assert {registered_domain(q.query) for q in _queries(ex)} <= {
        "cloudfront.net",
        "akamaized.net",
        "googlevideo.com",
    }


@pytest.mark.parametrize("shape", ["rat_heartbeat", "rotating_c2", "dnscat2_tunnel", "few_check_ins"])
def test_same_seed_same_bytes(shape: str, tmp_path: Path) -> None:
    def build(seed: int, where: str) -> tuple[list[bytes], list[Label]]:
        capture = write_shape(shape, tmp_path / where, seed=seed, scale=SCALE)
        return [f.read_bytes() for f in capture.files], capture.labels

    assert build(5, "a") == build(5, "b")
    assert build(5, "a")[0] != build(6, "c")[0]


def test_write_shape_rejects_unknown_shapes_and_scales(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown shape"):
        write_shape("nope", tmp_path, seed=1)
    with pytest.raises(ValueError, match="scale"):
        write_shape("ntp", tmp_path, seed=1, scale=0)


def test_finding_records_to_flags() -> None:
    records = [
        {
            "kind": "beacon",
            "score": 0.9,
            "src_ip": "10.0.0.1",
            "dst_ip": "192.0.2.1",
            "dst_ips": [],
            "server_name": "a.example",
        },
        {
            "kind": "beacon",
            "score": 0.49,
            "src_ip": "10.0.0.1",
            "dst_ip": "192.0.2.2",
            "dst_ips": [],
            "server_name": None,
        },
        {
            "kind": "intel",
            "score": 0.0,
            "src_ip": "10.0.0.1",
            "dst_ip": None,
            "dst_ips": [],
            "server_name": "bad.example",
        },
        {
            "kind": "beacon",
            "detector": "heartbeat",
            "score": 0.7,
            "src_ip": "10.0.0.2",
            "dst_ip": None,
            "dst_ips": ["192.0.2.3", "192.0.2.4"],
            "server_name": None,
        },
    ]
    flags = netdetect_flags(records)
    assert [(f.detector, f.client, f.addresses) for f in flags] == [
        ("beacon", "10.0.0.1", ("192.0.2.1",)),
        ("heartbeat", "10.0.0.2", ("192.0.2.3", "192.0.2.4")),
    ]


def test_scoring_counts_recall_false_positives_and_other_detectors() -> None:
    labels = [
        Label("10.0.0.1", "c2.example", "s", "heartbeat", ("192.0.2.1",)),
        Label("10.0.0.2", "192.0.2.9", "s", "heartbeat", ("192.0.2.9",)),
        Label("10.0.0.3", "*", "s", NONE),
    ]
    ours = [
        Flag("10.0.0.1", "api.c2.example", ("192.0.2.1",), "heartbeat", 0.8),  # found
        Flag("10.0.0.2", None, ("192.0.2.9",), "beacon", 0.6),  # another detector only
        Flag("10.0.0.3", "ntp.example", ("192.0.2.5",), "beacon", 0.9),  # a look-alike
        Flag("10.0.0.9", "x.example", (), "beacon", 0.9),  # an unlabeled host
    ]
    rita = [
        Flag("10.0.0.2", None, ("192.0.2.9",), "beacon", 0.8),
        Flag(None, "example", (), "c2_over_dns", 120.0),
    ]
    result = accuracy.ShapeResult("s", "heartbeat", "beacon", 2, 3, 0, 0.0)
    accuracy._score_shape(result, labels, ours, rita)
    assert (result.found, result.found_any, result.other_detector, result.false_positives) == (1, 2, 1, 2)
    assert (result.rita_found, result.rita_false_positives) == (1, 1)
    assert result.recall == 0.5 and result.missed == [labels[1]] and result.best_scores == [0.8, 0.0]


def test_registered_domain() -> None:
    assert registered_domain("a.b.Example.COM.") == "example.com"
    assert registered_domain("x.y.shop.co.uk") == "shop.co.uk"
    assert registered_domain("1.2.0.192.zen.spamhaus.org") == "spamhaus.org"


def test_run_benchmark_applies_ritas_rules(tmp_path: Path) -> None:
    results = accuracy.run_benchmark(3, SCALE, shapes=["long_media_stream", "ntp"], directory=tmp_path)
    media, ntp = results["long_media_stream"], results["ntp"]
    assert media.rita_rule == "long_connection" and media.rita_recall == 1.0  # every stream lasts > 1 h
    assert media.positives == len(media.best_scores) == media.found + len(media.missed)
    assert ntp.positives == 0 and ntp.recall is None and ntp.expected == NONE
    assert (tmp_path / "ntp" / "ntp-a.pcap").is_file()
