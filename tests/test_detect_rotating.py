"""The rotating-C2 detector on hand-made tables: one client, port and fingerprint over several
addresses, and the look-alikes (browsers, CDNs, one-address beacons, round-robin load balancers)."""

from __future__ import annotations

import numpy as np
import pytest
from _tables import conn_rows, context, http_events, tls_events

from netdetect.detectors import rotating
from netdetect.detectors.base import DETECTORS
from netdetect.detectors.rotating import RotatingDetector, request_shape
from netdetect.errors import UsageError
from netdetect.model import TlsEvent

T0 = 1_700_000_000.0
CLIENT = "10.0.0.5"
C2 = [f"203.0.113.{i}" for i in range(1, 6)]


def _checkins(n: int = 60, period: float = 300.0, jitter: float = 0.1, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return T0 + np.arange(n) * period + rng.uniform(-jitter, jitter, n) * period


def _rotation(order: str = "turn", seed: int = 1, client: str = CLIENT, addresses=C2) -> np.ndarray:
    times = _checkins(seed=seed)
    rng = np.random.default_rng(seed + 100)
    if order == "turn":
        servers = [addresses[i % len(addresses)] for i in range(len(times))]
    else:  # the next address at random, as after failures in a fallback list
        servers = [addresses[k] for k in rng.integers(0, len(addresses), len(times))]
    return conn_rows(times, client, servers)


def _browser(n: int, addresses: int, client: str = "10.0.0.6", seed: int = 7) -> np.ndarray:
    rng = np.random.default_rng(seed)
    times = T0 + np.sort(rng.uniform(0, 60 * 300.0, n))
    servers = [f"198.51.{k // 250}.{k % 250 + 1}" for k in rng.integers(0, addresses, n)]
    return conn_rows(times, client, servers)


@pytest.mark.parametrize("order", ["turn", "random"])
def test_a_client_rotating_over_five_addresses_is_one_finding(order):
    rows = _rotation(order)
    ctx = context([rows], tls=tls_events(rows, ja3_hash="e7d705a3286e19ea42f587b344ee6865"))
    assert len(ctx.groups) == 5
    found = RotatingDetector().run(ctx)
    assert len(found) == 1 and found.detector == found.kind == "rotating"
    row = found.evidence_row(0)
    assert sorted(row["addresses"]) == C2 and sum(row["per_address_checkins"]) == 60
    assert row["per_address_checkins"] == sorted(row["per_address_checkins"], reverse=True)
    assert row["fingerprint"] == "ja3:e7d705a3286e19ea42f587b344ee6865"
    assert row["period_s"] == pytest.approx(300.0, rel=0.02) and row["checkins"] == 60
    assert found.score[0] >= 0.5 and row["names"] == []
    assert sorted(found.members[0].tolist()) == list(range(5)) and found.groups[0] == found.members[0][0]
    assert (
        found.why[0].startswith("checks in every 5m00s jitter ")
        and "over 5 addresses in turn (same JA3 e7d7" in (found.why[0])
    )
    if order == "random":
        # The case RITA's per-pair scoring misses: no address alone is a beacon.
        assert row["best_member_score"] < 0.5


def test_connections_of_one_check_in_count_once_on_the_address_that_began_it():
    rows = _rotation(addresses=C2[:3])
    retry = rows.copy()  # each check-in retried 0.3 s later on the next address
    retry["ts"] += 0.3
    retry["server"] = np.roll(rows["server"], -1)
    retry["client_port"] += 1
    both = np.concatenate([rows, retry])
    found = RotatingDetector().run(context([both], tls=tls_events(both, ja3_hash="j")))
    assert found.evidence["checkins"].tolist() == [60] and found.evidence["connections"].tolist() == [120]
    assert found.evidence["per_address_checkins"] == [[20, 20, 20]]


def test_ja4_is_preferred_to_ja3_which_browsers_shuffle():
    rows = _rotation()
    tls = tls_events(rows, ja3_hash=None, ja4="t13d1516h2_8daaf6152771_02713d6af862")
    for i, event in enumerate(tls):
        event.ja3_hash = f"shuffled{i}"
    found = RotatingDetector().run(context([rows], tls=tls))
    assert found.evidence["fingerprint"] == ["ja4:t13d1516h2_8daaf6152771_02713d6af862"]


def test_a_rotation_over_http_is_joined_by_its_request_shape():
    rows = _rotation(addresses=C2[:3])
    rng = np.random.default_rng(3)
    uris = [f"/api/v2/{rng.bytes(8).hex()}/check?session={rng.integers(1e9)}" for _ in rows]
    found = RotatingDetector().run(
        context([rows], http=http_events(rows, "POST", uris, "Mozilla/4.0 (compatible)"))
    )
    assert len(found) == 1
    assert found.evidence["fingerprint"] == ["http:POST /api/v{n}/{hex}/check Mozilla/4.0 (compatible)"]
    assert sorted(found.evidence["addresses"][0]) == C2[:3]


def test_distinct_requests_past_the_bound_are_counted(monkeypatch):
    monkeypatch.setattr(rotating, "MAX_REQUEST_SHAPES", 10)
    rows = _rotation(addresses=C2[:3])
    uris = [f"/gate/{i}" for i in range(len(rows))]  # one shape, 60 distinct requests
    found = RotatingDetector().run(context([rows], http=http_events(rows, "GET", uris, "UA")))
    assert found.skipped["http_requests_unshaped"] == 50 and len(found) == 0


def test_request_shapes_collapse_ids_and_bound_hostile_text():
    assert request_shape("GET", "/gate/1234/a1b2c3d4e5f6?x=1", "UA") == "GET /gate/{n}/{hex} UA"
    assert request_shape("GET", "/q/SGVsbG8gV29ybGQhIDEyMzQ1Ng==", None) == "GET /q/{encoded} -"
    assert (
        request_shape("GET", "/wp-content/themes/administration", "UA")
        == "GET /wp-content/themes/administration UA"
    )
    assert request_shape(None, None, None) == "- / -"
    long = request_shape("GET", "/" + "a/" * 100_000, "\x1b[2J" * 100_000)
    assert len(long) < 500


def test_a_busy_browser_with_one_fingerprint_stays_quiet():
    rows = _browser(900, 40)
    ctx = context([rows], tls=tls_events(rows, ja3_hash="chrome"))
    found = RotatingDetector().run(ctx)
    assert len(found) == 0 and found.skipped["sets_over_max_members"] == 0


def test_sets_too_large_to_be_one_channel_are_counted_not_scored():
    rows = _browser(3000, 400)
    found = RotatingDetector().run(context([rows], tls=tls_events(rows, ja3_hash="chrome")))
    assert len(found) == 0
    assert (
        found.skipped["sets_over_max_members"] == 1 and found.skipped["connections_in_skipped_sets"] == 3000
    )
    # ... and the bound is a setting.
    wider = context(
        [rows], tls=tls_events(rows, ja3_hash="chrome"), settings={"rotating": {"max_members": 1000}}
    )
    assert RotatingDetector().run(wider).skipped["sets_over_max_members"] == 0
    for bad in (1, "64", 2.5, True):
        with pytest.raises(UsageError):
            RotatingDetector().run(context([rows], settings={"rotating": {"max_members": bad}}))


def test_a_cdn_backed_service_is_one_group_already():
    rows = _rotation()
    ctx = context([rows], tls=tls_events(rows, ja3_hash="j", sni="updates.example.com"))
    assert len(ctx.groups) == 1
    assert len(RotatingDetector().run(ctx)) == 0


def test_a_beacon_to_one_address_is_not_reported_again():
    beacon = conn_rows(_checkins(), CLIENT, "192.0.2.77")
    rng = np.random.default_rng(4)
    strays = conn_rows(T0 + rng.uniform(0, 60 * 300.0, 8), CLIENT, "192.0.2.78")
    ctx = context([beacon, strays], tls=tls_events(beacon, ja3_hash="j") + tls_events(strays, ja3_hash="j"))
    assert len(RotatingDetector().run(ctx)) == 0


def test_different_ports_or_prints_are_different_sets():
    rows = _rotation()
    rows["server_port"] = 1000 + np.arange(len(rows))  # a scan of sorts: every connection its own port
    assert len(RotatingDetector().run(context([rows], tls=tls_events(rows, ja3_hash="j")))) == 0
    rows = _rotation()
    tls = tls_events(rows[::2], ja3_hash="a") + tls_events(rows[1::2], ja3_hash="b")
    found = RotatingDetector().run(context([rows], tls=tls))
    # Each print on its own is every other check-in: two sets with twice the period.
    assert sorted(found.evidence["fingerprint"]) == ["ja3:a", "ja3:b"]
    assert found.evidence["checkins"].tolist() == [30, 30]
    assert found.evidence["period_s"].tolist() == pytest.approx([600.0, 600.0], rel=0.02)


def test_a_round_robin_load_balancer_follows_the_same_score_rules():
    # A legitimate update check every 5 minutes, DNS round robin over 4 addresses: named, it is one
    # group; seen by address only it IS one periodic client-port-print set, and reported as such.
    rows = _rotation(addresses=C2[:4])
    named = context([rows], tls=tls_events(rows, ja3_hash="j", sni="lb.example.org"))
    assert len(RotatingDetector().run(named)) == 0
    bare = RotatingDetector().run(context([rows], tls=tls_events(rows, ja3_hash="j")))
    assert len(bare) == 1 and bare.score[0] >= 0.5
    # The same rotation with Poisson timing (ordinary use) is not.
    poisson = conn_rows(
        T0 + np.sort(np.random.default_rng(9).uniform(0, 60 * 300.0, 60)), CLIENT, C2[:4] * 15
    )
    assert len(RotatingDetector().run(context([poisson], tls=tls_events(poisson, ja3_hash="j")))) == 0


def test_only_fingerprinted_connections_form_sets_and_hostile_events_do_not_crash():
    rows = _rotation()
    assert len(RotatingDetector().run(context([rows]))) == 0  # no TLS, no HTTP: no print
    tls = tls_events(rows, ja3_hash="j")
    tls += [TlsEvent(float("nan"), CLIENT, C2[0], 1, 443, "tcp", "\x00evil", ja3_hash="\x1b[31m")]
    tls += [TlsEvent(T0, "not an address", C2[0], 1, 443, "tcp", None, ja3_hash="x")]
    rows["ts"][:3] = np.nan
    found = RotatingDetector().run(context([rows], tls=tls, window=(T0, T0 + 60 * 300.0)))
    assert len(found) == 1 and found.evidence["connections"][0] == 57
    assert len(RotatingDetector().run(context([], window=(T0, T0 + 10.0)))) == 0


def test_registered():
    assert DETECTORS.get("rotating") is RotatingDetector


def test_a_rotation_over_names_on_one_address_lists_the_names():
    rows = conn_rows(_checkins(), CLIENT, C2[0])
    names = [f"cdn{k}.badexample.net" for k in range(4)]
    tls = []
    for k, name in enumerate(names):
        tls += tls_events(rows[k::4], ja3_hash="j", sni=name)
    ctx = context([rows], tls=tls)
    assert len(ctx.groups) == 4
    found = RotatingDetector().run(ctx)
    assert len(found) == 1 and sorted(found.evidence["names"][0]) == names
    assert found.evidence["addresses"] == [[C2[0]]] and "over 4 names in turn" in found.why[0]


def test_a_new_address_for_every_check_in_is_not_a_rotation():
    # One visit to each of 40 addresses is what browsing looks like; a set must come back to its
    # addresses (2 connections per member on average), even when the times are regular.
    times = _checkins(n=40)
    rows = conn_rows(times, CLIENT, [f"198.51.100.{i + 1}" for i in range(40)])
    assert len(RotatingDetector().run(context([rows], tls=tls_events(rows, ja3_hash="j")))) == 0
    twice = conn_rows(times, CLIENT, [f"198.51.100.{i // 2 + 1}" for i in range(40)])
    assert len(RotatingDetector().run(context([twice], tls=tls_events(twice, ja3_hash="j")))) == 1
