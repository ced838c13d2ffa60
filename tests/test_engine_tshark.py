"""`--engine tshark`: the same events from tshark's dissectors as from the native decoders.

A generated capture checks every event field against the values put on the wire; the shared
corpus (184 third-party captures) checks that both engines find the same server names and port-53
query names, with each known difference listed and checked against the corpus answers.
"""

from __future__ import annotations

import hashlib
import io
import json
import lzma
import os
import struct
import sys
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from pathlib import Path

import pytest

from netdetect.engines import ENGINES, get_engine
from netdetect.engines import tshark as engine
from netdetect.errors import NetdetectError, UsageError
from netdetect.model import DnsEvent, HttpEvent, TlsEvent
from netdetect.pipeline import extract_files
from netdetect.testing import synth
from netdetect.testing.writer import PcapWriter

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"


def _tshark_missing() -> str | None:
    try:
        engine.find_tshark()
    except engine.TsharkUnavailable as exc:
        return str(exc)
    return None


MISSING = _tshark_missing()
needs_tshark = pytest.mark.skipif(MISSING is not None, reason=f"tshark or pyshark missing: {MISSING}")


# ------------------------------------------------------------------------------------ registry and errors


def test_registry_names_engines() -> None:
    assert set(ENGINES) == {"native", "tshark"}
    assert get_engine("native").name == "native"
    with pytest.raises(UsageError, match="unknown engine 'wireshark'"):
        get_engine("wireshark")


def test_missing_pyshark_is_one_clear_project_error(monkeypatch: pytest.MonkeyPatch) -> None:
    engine.find_tshark.cache_clear()
    for name in [m for m in sys.modules if m == "pyshark" or m.startswith("pyshark.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "pyshark", None)  # import fails as if not installed
    try:
        with pytest.raises(NetdetectError) as err:
            get_engine("tshark")
        assert str(err.value) == engine.TSHARK_MISSING
        assert "apt install tshark" in str(err.value) and "netdetect[tshark]" in str(err.value)
    finally:
        engine.find_tshark.cache_clear()


def test_missing_tshark_binary_is_one_clear_project_error(monkeypatch: pytest.MonkeyPatch) -> None:
    pyshark_tshark = pytest.importorskip("pyshark.tshark.tshark")

    def not_found(*_args: object, **_kwargs: object) -> str:
        raise pyshark_tshark.TSharkNotFoundException("TShark not found")

    engine.find_tshark.cache_clear()
    monkeypatch.setattr(pyshark_tshark, "get_process_path", not_found)
    try:
        with pytest.raises(engine.TsharkUnavailable, match="apt install tshark"):
            engine.extract_files_tshark([str(Path(__file__))])
    finally:
        engine.find_tshark.cache_clear()


# ------------------------------------------------------------------------------------ ek fields -> events


def _frame(**fields: list[str]) -> engine.Frame:
    return engine.Frame({k.replace(".", "_"): v for k, v in fields.items()})


def test_several_dns_messages_in_one_frame_are_split_by_their_counts() -> None:
    """DNS over TCP: two responses in one segment; the first has an OPT record (no TTL field), so
    the second's TTLs and values must still line up."""
    frame = _frame(**{
        "frame.time_epoch": ["5.5"], "frame.protocols": ["eth:ethertype:ip:tcp:dns:dns"],
        "ip.src": ["10.0.0.53"], "ip.dst": ["10.0.0.1"], "tcp.srcport": ["53"], "tcp.dstport": ["40000"],
        "dns.id": ["0x0001", "0x0002"], "dns.flags.response": ["1", "1"], "dns.flags.rcode": ["0", "3"],
        "dns.count.queries": ["1", "1"], "dns.count.answers": ["2", "1"], "dns.count.auth_rr": ["0", "0"],
        "dns.count.add_rr": ["1", "0"],
        "dns.qry.name": ["A.example", "b.example"], "dns.qry.type": ["1", "28"],
        "dns.resp.name": ["a.example", "Cdn.Example", "<Root>", "b.example"],
        "dns.resp.type": ["5", "1", "41", "28"], "dns.resp.len": ["13", "4", "0", "16"],
        "dns.resp.ttl": ["60", "30", "7"],
        "dns.cname": ["CDN.example"], "dns.a": ["192.0.2.7"], "dns.aaaa": ["2001:db8::7"],
    })  # fmt: skip
    events = engine.TsharkEvents()
    events.feed(frame)
    got = [(e.txid, e.query, e.qtype, e.rcode, e.transport, e.client, e.server_port) for e in events.dns]
    assert got == [
        (1, "a.example", "A", 0, "tcp", "10.0.0.1", 53),
        (2, "b.example", "AAAA", 3, "tcp", "10.0.0.1", 53),
    ]
    assert [(a.name, a.rtype, a.value, a.ttl) for a in events.dns[0].answers] == [
        ("a.example", "CNAME", "cdn.example", 60), ("cdn.example", "A", "192.0.2.7", 30)]
    assert [(a.name, a.rtype, a.value, a.ttl) for a in events.dns[1].answers] == [
        ("b.example", "AAAA", "2001:db8::7", 7)]


VXLAN_QUERY = {
    "frame.time_epoch": ["1.0"], "frame.protocols": ["eth:ethertype:ip:udp:vxlan:eth:ethertype:ipv6:udp:dns"],
    "ip.src": ["172.31.0.1"], "ip.dst": ["172.31.0.2"], "ipv6.src": ["fd00::1"], "ipv6.dst": ["fd00::53"],
    "udp.srcport": ["40000", "5555"], "udp.dstport": ["4789", "53"],
    "dns.id": ["0x0009"], "dns.flags.response": ["0"], "dns.count.queries": ["1"], "dns.qry.name": ["x.test"],
    "dns.qry.type": ["1"],
}  # fmt: skip


def test_innermost_addresses_are_used_for_tunnels_and_broken_frames_are_counted() -> None:
    events = engine.TsharkEvents()
    events.feed(_frame(**VXLAN_QUERY))
    (ev,) = events.dns
    assert (ev.client, ev.server, ev.client_port, ev.server_port) == ("fd00::1", "fd00::53", 5555, 53)
    events.feed(_frame(**{"frame.protocols": ["eth:ethertype:arp"], "frame.time_epoch": ["1.0"]}))
    cut_question = {**VXLAN_QUERY, "dns.qry.name": [], "dns.qry.type": [], "dns.count.queries": ["816"],
                    "_ws.malformed": ["[Malformed Packet: DNS]"]}
    events.feed(_frame(**cut_question))
    assert events.errors == {"tshark.no_address": 1, "tshark.malformed": 1, "tshark.dns_malformed": 1}
    assert len(events.dns) == 1


def test_dns_names_take_the_native_form() -> None:
    assert engine.dns_name("<Root>") == ""
    assert engine.dns_name("WWW.Example.COM") == "www.example.com"
    assert engine.dns_name("a b\\000c") == "a\\032b\\000c"
    assert engine.dns_name("caf\u00e9") == "caf\\195\\169"


# ------------------------------------------------------------------------------------ a generated capture

CLIENT, RESOLVER, WEB = "10.0.0.1", "10.0.0.53", "93.184.216.34"
HTTPS_VALUE = (
    "1 . alpn=h3,h2 port=8443 ipv4hint=104.16.132.229,104.16.133.229 ech "
    "ipv6hint=2606:4700::6810:8429 key9=a\\x01b"
)


def _name(text: str) -> bytes:
    return b"".join(bytes([len(p)]) + p.encode() for p in text.split(".") if p) + b"\x00"


def _rr(owner: bytes, rtype: int, rdata: bytes, ttl: int = 300) -> bytes:
    return owner + struct.pack("!HHIH", rtype, 1, ttl, len(rdata)) + rdata


def _https_response() -> bytes:
    params = (
        struct.pack("!HH", 1, 6) + b"\x02h3\x02h2"
        + struct.pack("!HHH", 3, 2, 8443)
        + struct.pack("!HH", 4, 8) + bytes([104, 16, 132, 229, 104, 16, 133, 229])
        + struct.pack("!HH", 5, 3) + b"\x00\x01\x02"
        + struct.pack("!HH", 6, 16) + bytes.fromhex("26064700000000000000000068108429")
        + struct.pack("!HH", 9, 3) + b"a\x01b"
    )  # fmt: skip
    service = struct.pack("!H", 1) + b"\x00" + params
    alias_params = struct.pack("!HHH", 0, 2, 1) + struct.pack("!HH", 2, 0)
    second = struct.pack("!H", 2) + _name("svc.example.net") + alias_params
    ptr = b"\xc0\x0c"
    opt = b"\x00" + struct.pack("!HHIH", 41, 1232, 0, 0)
    return (struct.pack("!HHHHHH", 0x1234, 0x8180, 1, 4, 0, 1) + _name("crypto.cloudflare.com")
            + struct.pack("!HH", 65, 1) + _rr(ptr, 65, service) + _rr(ptr, 65, second)
            + _rr(ptr, 5, _name("Edge.Example.NET"), 77)
            + _rr(_name("edge.example.net"), 1, bytes([192, 0, 2, 9]), 20)
            + opt)  # fmt: skip


class _Capture:
    def __init__(self) -> None:
        self.buf = io.BytesIO()
        self.writer = PcapWriter(self.buf)
        self.t = 1_700_000_000.0

    def ip(self, src: str, dst: str, proto: int, l4: bytes) -> None:
        self.t += 0.25
        packet = synth.ip_packet(src, dst, proto, l4)
        ethertype = synth.ETH_IPV4 if ":" not in src else synth.ETH_IPV6
        frame = synth.ethernet(synth.mac_for(src), synth.mac_for(dst), ethertype, packet)
        self.writer.write(int(self.t * 1e9), frame)

    def udp(self, src: str, dst: str, sport: int, dport: int, payload: bytes) -> None:
        s, d = synth.packed_ip(src), synth.packed_ip(dst)
        self.ip(src, dst, 17, synth.udp(s, d, sport, dport, payload))

    def tcp(self, src: str, dst: str, sport: int, dport: int, segments: list[bytes]) -> None:
        s, d = synth.packed_ip(src), synth.packed_ip(dst)
        self.ip(src, dst, 6, synth.tcp(s, d, sport, dport, 1000, 0, 0x02))
        self.ip(dst, src, 6, synth.tcp(d, s, dport, sport, 5000, 1001, 0x12))
        seq = 1001
        for seg in segments:
            self.ip(src, dst, 6, synth.tcp(s, d, sport, dport, seq, 5001, 0x18, seg))
            seq += len(seg)


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cap = _Capture()
    cap.udp(CLIENT, RESOLVER, 40000, 53, synth.dns_query("Crypto.Cloudflare.COM", "HTTPS", txid=0x1234))
    cap.udp(RESOLVER, CLIENT, 53, 40000, _https_response())
    two = [synth.dns_query("one.example", "A", txid=1), synth.dns_query("two.example", "AAAA", txid=2)]
    cap.tcp(CLIENT, RESOLVER, 40001, 53, [b"".join(struct.pack("!H", len(m)) + m for m in two)])
    cap.udp("fd00::1", "fd00::53", 40002, 53, synth.dns_query("v6.example", "AAAA", txid=3))
    cap.udp(CLIENT, "224.0.0.251", 5353, 5353, synth.dns_query("printer.local", "PTR", txid=0))
    cap.udp(CLIENT, "224.0.0.252", 40003, 5355, synth.dns_query("wpad", "A", txid=4))
    # An ICMP error quoting a DNS query: not an event for either engine.
    quoted_udp = synth.udp(synth.packed_ip(CLIENT), synth.packed_ip("10.0.0.99"), 40004, 53,
                           synth.dns_query("quoted.example"))
    quoted = synth.ip_packet(CLIENT, "10.0.0.99", 17, quoted_udp)
    icmp = struct.pack("!BBHI", 3, 3, 0, 0) + quoted
    icmp = icmp[:2] + struct.pack("!H", synth.checksum(icmp)) + icmp[4:]
    cap.ip("10.0.0.99", CLIENT, 1, icmp)
    hello = synth.client_hello("www.example.org", post_quantum=True, ech=True)  # two segments
    cap.tcp(CLIENT, WEB, 40005, 443, [hello[:1200], hello[1200:]])
    cap.tcp(CLIENT, WEB, 40006, 443, [synth.client_hello("tls12.example.org", versions=(0x0303,),
                                                         profile="schannel", alpn=())])
    request = synth.http_request("GET", "www.example.org", "/a?b=c", user_agent="Agent/1.0")
    cap.tcp(CLIENT, WEB, 40007, 80, [request])
    cap.tcp(CLIENT, WEB, 40008, 8080, [synth.http_request("POST", None, "/submit", body=b"x=1")])
    path = tmp_path_factory.mktemp("tshark") / "generated.pcap"
    path.write_bytes(cap.buf.getvalue())
    return path


def _dns_key(e: DnsEvent) -> tuple:
    return (e.ts, e.client, e.server, e.client_port, e.server_port, e.transport, e.txid, e.query, e.qtype,
            e.is_response, e.rcode, [(a.name, a.rtype, a.value, a.ttl) for a in e.answers])


def _tls_key(e: TlsEvent) -> tuple:
    # ts left out: native stamps the first segment of a ClientHello, tshark the one completing it.
    return (e.client, e.server, e.client_port, e.server_port, e.transport, e.sni, e.alpn, e.versions, e.ech,
            e.ja3, e.ja3_hash)


def _http_key(e: HttpEvent) -> tuple:
    return (e.ts, e.client, e.server, e.client_port, e.server_port, e.method, e.host, e.uri, e.user_agent)


@needs_tshark
def test_generated_capture_gives_the_native_events(generated: Path) -> None:
    native = extract_files([str(generated)])
    ours = engine.extract_files_tshark([str(generated)])
    assert sorted(map(_dns_key, ours.dns)) == sorted(map(_dns_key, native.dns))
    assert sorted(map(_tls_key, ours.tls)) == sorted(map(_tls_key, native.tls))
    assert sorted(map(_http_key, ours.http)) == sorted(map(_http_key, native.http))

    queries = {(e.query, e.server_port, e.transport) for e in ours.dns}
    assert queries == {("crypto.cloudflare.com", 53, "udp"), ("one.example", 53, "tcp"),
                       ("two.example", 53, "tcp"), ("v6.example", 53, "udp"), ("printer.local", 5353, "udp"),
                       ("wpad", 5355, "udp")}
    (response,) = [e for e in ours.dns if e.is_response]
    assert (response.client, response.server, response.client_port) == (CLIENT, RESOLVER, 40000)
    assert response.rcode == 0
    assert [(a.name, a.rtype, a.value, a.ttl) for a in response.answers] == [
        ("crypto.cloudflare.com", "HTTPS", HTTPS_VALUE, 300),
        ("crypto.cloudflare.com", "HTTPS", "2 svc.example.net mandatory=alpn no-default-alpn", 300),
        ("crypto.cloudflare.com", "CNAME", "edge.example.net", 77),
        ("edge.example.net", "A", "192.0.2.9", 20),
    ]

    by_sni = {e.sni: e for e in ours.tls}
    modern, legacy = by_sni["www.example.org"], by_sni["tls12.example.org"]
    assert (modern.transport, modern.alpn, modern.versions, modern.ech) == ("tcp", ["h2", "http/1.1"],
                                                                            [0x0304, 0x0303], True)
    assert (legacy.alpn, legacy.versions, legacy.ech) == ([], [], False)
    for e in (modern, legacy):
        assert e.ja3 is not None and e.ja3_hash == hashlib.md5(e.ja3.encode()).hexdigest()
        assert e.ja4 is None  # tshark 4.0 has no JA4 field; a newer tshark fills it
    assert {(e.method, e.host, e.uri, e.user_agent, e.server_port) for e in ours.http} == {
        ("GET", "www.example.org", "/a?b=c", "Agent/1.0", 80), ("POST", None, "/submit", None, 8080)}

    # Connections and packet counts stay the native reader's.
    assert ours.packets == native.packets and ours.conns.tobytes() == native.conns.tobytes()
    assert not any(k.startswith(("dns.", "tls.", "http.", "quic.")) for k in ours.decode_errors)


@needs_tshark
def test_compressed_and_stdin_captures(generated: Path, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    plain = engine.extract_files_tshark([str(generated)])
    packed = tmp_path / "generated.pcap.xz"
    packed.write_bytes(lzma.compress(generated.read_bytes()))
    unpacked = engine.extract_files_tshark([str(packed)])
    assert sorted(map(_dns_key, unpacked.dns)) == sorted(map(_dns_key, plain.dns))

    with open(generated, "rb") as stdin:
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(stdin))
        from_stdin = engine.extract_files_tshark(["-"])
    assert from_stdin.captures == ["-"]
    assert sorted(map(_tls_key, from_stdin.tls)) == sorted(map(_tls_key, plain.tls))


@needs_tshark
def test_a_cut_capture_keeps_its_events_and_says_so(generated: Path, tmp_path: Path) -> None:
    data = generated.read_bytes()
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(data[: len(data) - 10])
    result = engine.extract_files_tshark([str(cut)])
    assert any("tshark" in w and "cut short" in w for w in result.warnings)
    assert {e.sni for e in result.tls} == {"www.example.org", "tls12.example.org"}


# ------------------------------------------------------------------------------------ the shared corpus

# (file, field) -> (which engine matches the corpus answer, why the other does not).
KNOWN_DIFFERENCES: dict[tuple[str, str], tuple[str, str]] = {
    ("zeek__tls__ssl-to-http-server.pcap", "sni"): (
        "native", "ClientHello sent to port 80: tshark's HTTP dissector owns the port; only "
        "`-d tcp.port==80,tls` or tcp.try_heuristic_first finds it (the latter loses a DNS-over-TCP "
        "response in zeek dns/tkey.pcap, so the engine keeps tshark's defaults)"),
    ("zeek__rdp__rdp-to-ssl.pcap", "sni"): (
        "native", "TLS after the RDP X.224 negotiation on 3389: tshark 4.0 keeps the stream as TPKT "
        "and never dissects the ClientHello (SNI is the IP literal 192.168.1.150)"),
    ("zeek__websocket__wstunnel-https.pcap", "sni"): (
        "native", "ClientHello tunnelled in WebSocket binary frames (wstunnel): tshark 4.0 shows the frame "
        "payload as data and never dissects the hello"),
}


def _load() -> tuple[dict, dict]:
    if not (CORPUS / "expected.json").is_file():
        return {}, {}
    return (json.loads((CORPUS / "expected.json").read_text()),
            json.loads((CORPUS / "manifest.json").read_text()))


EXPECTED, MANIFEST = _load()
FILES = sorted(EXPECTED)
CASES = [(name, fld) for name in FILES for fld in ("sni", "dns")]


def _sets(dns: list[DnsEvent], tls: list[TlsEvent]) -> dict[str, set[str]]:
    return {"sni": {e.sni for e in tls if e.sni is not None},
            "dns": {e.query for e in dns if e.server_port == 53}}


@lru_cache(maxsize=1)
def _tshark_corpus() -> dict[str, dict[str, set[str]]]:
    """tshark over every corpus file, a few at a time: its start-up (~0.3 s) dominates."""

    def run(name: str) -> dict[str, set[str]]:
        ev = engine.tshark_events(str(CORPUS / "pcaps" / name))
        return _sets(ev.dns, ev.tls)

    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
        return dict(zip(FILES, pool.map(run, FILES), strict=True))


@lru_cache(maxsize=8)
def _native(name: str) -> dict[str, set[str]]:
    ex = extract_files([str(CORPUS / "pcaps" / name)])
    return _sets(ex.dns, ex.tls)


@needs_tshark
@pytest.mark.slow
@pytest.mark.skipif(not EXPECTED, reason="../shared/corpus is not present")
@pytest.mark.parametrize(("name", "field"), CASES, ids=[f"{n}:{f}" for n, f in CASES])
def test_engines_agree_on_corpus(name: str, field: str) -> None:
    if (name, field) in KNOWN_DIFFERENCES:
        pytest.xfail(KNOWN_DIFFERENCES[(name, field)][1])
    native, ours = _native(name)[field], _tshark_corpus()[name][field]
    assert ours == native, f"native only {sorted(native - ours)[:9]}, tshark only {sorted(ours - native)[:9]}"


@needs_tshark
@pytest.mark.slow
@pytest.mark.skipif(not EXPECTED, reason="../shared/corpus is not present")
@pytest.mark.parametrize(("name", "field"), sorted(KNOWN_DIFFERENCES), ids=[f"{n}:{f}" for n, f in
                                                                            sorted(KNOWN_DIFFERENCES)])
def test_known_differences_name_the_right_engine(name: str, field: str) -> None:
    """Each listed difference is real, and the engine named right finds every expected value."""
    winner, _ = KNOWN_DIFFERENCES[(name, field)]
    got = {"native": _native(name)[field], "tshark": _tshark_corpus()[name][field]}
    assert got["native"] != got["tshark"], "the engines agree now: remove the entry"
    expected = set(EXPECTED[name]["sni" if field == "sni" else "dns_queries"] or ())
    loser = "tshark" if winner == "native" else "native"
    assert expected <= got[winner]
    assert not expected <= got[loser]


@needs_tshark
def test_parallel_jobs_give_the_same_events(generated: Path, tmp_path: Path) -> None:
    second = tmp_path / "second.pcap"
    second.write_bytes(generated.read_bytes())
    groups = [[str(generated)], [str(second)]]
    tshark = get_engine("tshark")
    one, two = tshark.extract_parallel(groups, 1), tshark.extract_parallel(groups, 2)
    assert sorted(map(_dns_key, two.dns)) == sorted(map(_dns_key, one.dns))
    assert sorted(map(_tls_key, two.tls)) == sorted(map(_tls_key, one.tls))
    assert len(one.dns) == 2 * len(engine.tshark_events(str(generated)).dns)
