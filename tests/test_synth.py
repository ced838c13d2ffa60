"""netdetect.testing.synth writes what dpkt and scapy read back, field for field; it is deterministic."""

from __future__ import annotations

import hashlib
import io
import json
import random
import struct
from pathlib import Path

import dpkt
import pytest
from _packets import load_script
from scapy.layers.dns import DNS
from scapy.layers.inet import IP, TCP, UDP, in4_chksum
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import CookedLinux, Dot1AD, Dot1Q, Ether
from scapy.layers.tls.all import TLS
from scapy.utils import checksum as scapy_checksum
from scapy.utils import rdpcap

from netdetect.capture import linktypes, pcapng
from netdetect.testing import synth
from netdetect.testing import writer as writer_module

ROOT = Path(__file__).resolve().parent.parent
CLIENT, SERVER, RESOLVER = "10.1.0.5", "93.184.216.34", "10.1.0.2"


def _records(raw: bytes) -> list[tuple[float, bytes, int]]:
    return [(float(ts), bytes(buf), 0) for ts, buf in dpkt.pcap.Reader(io.BytesIO(raw))]


def _checksums_ok(ip: dpkt.ip.IP | dpkt.ip6.IP6) -> bool:
    """Verify on the raw bytes: a correct checksum makes the sum over the covered bytes zero."""
    raw = bytes(ip)
    if isinstance(ip, dpkt.ip.IP):
        if synth.checksum(raw[:20]) != 0:
            return False
        src, dst, l4 = raw[12:16], raw[16:20], raw[20 : ip.len]
        proto = ip.p
    else:
        src, dst, l4, proto = raw[8:24], raw[24:40], raw[40:], ip.nxt
    return synth.checksum(synth._pseudo_header(src, dst, proto, len(l4)) + l4) == 0


def _tls_session(snaplen: int | None = None, **kwargs: object) -> tuple[bytes, synth.SessionStats, bytes]:
    buf = io.BytesIO()
    hello = synth.client_hello(
        "www.example.com", alpn=("h2", "http/1.1"), post_quantum=True, rng=random.Random(3)
    )
    with synth.TrafficWriter(buf, snaplen=snaplen, seed=5) as writer:
        stats = writer.tcp_session(
            100.0,
            CLIENT,
            SERVER,
            50123,
            443,
            [hello, 700],
            server_payloads=[4200],
            server_bytes=9000,
            **kwargs,  # type: ignore[arg-type]
        )
    return buf.getvalue(), stats, hello


def test_tcp_session_fields_sequence_numbers_and_byte_counts() -> None:
    raw, stats, hello = _tls_session()
    seen = {"out": [0, 0, 0], "in": [0, 0, 0]}  # packets, IP bytes, payload bytes
    next_seq = {"out": stats.client_isn, "in": stats.server_isn}
    flags = []
    for _, buf in dpkt.pcap.Reader(io.BytesIO(raw)):
        ip = dpkt.ethernet.Ethernet(buf).data
        seg = ip.data
        assert _checksums_ok(ip)
        way = "out" if ip.src == synth.packed_ip(CLIENT) else "in"
        assert seg.seq == next_seq[way]  # no gaps, no overlaps
        next_seq[way] = (
            seg.seq + len(seg.data) + (1 if seg.flags & (synth.SYN | synth.FIN) else 0)
        ) & 0xFFFFFFFF
        if seg.flags & synth.ACK:
            assert seg.ack == next_seq["in" if way == "out" else "out"]
        seen[way][0] += 1
        seen[way][1] += ip.len
        seen[way][2] += len(seg.data)
        flags.append(seg.flags)
    assert seen["out"] == [stats.packets_out, stats.bytes_out, stats.payload_out]
    assert seen["in"] == [stats.packets_in, stats.bytes_in, stats.payload_in]
    assert stats.payload_out == len(hello) + 700
    assert stats.payload_in == 4200 + 9000
    assert flags[:3] == [synth.SYN, synth.SYN | synth.ACK, synth.ACK]
    assert flags[-3:] == [synth.FIN | synth.ACK, synth.FIN | synth.ACK, synth.ACK]
    assert len(hello) > 1460  # the post-quantum hello spans two segments


def test_scapy_reads_the_same_fields_and_the_client_hello() -> None:
    raw, stats, hello = _tls_session()
    packets = rdpcap(io.BytesIO(raw))
    syn = packets[0]
    assert (
        syn[IP].src == CLIENT and syn[IP].dst == SERVER and syn[TCP].dport == 443 and syn[TCP].sport == 50123
    )
    assert syn[TCP].seq == stats.client_isn and dict(syn[TCP].options)["MSS"] == 1460
    # scapy's own checksum code over the written bytes gives what synth wrote.
    for pkt in packets:
        header = bytearray(bytes(pkt[IP])[:20])
        segment = bytearray(bytes(pkt[TCP]))
        header[10:12] = segment[16:18] = b"\x00\x00"
        assert scapy_checksum(bytes(header)) == pkt[IP].chksum
        assert in4_chksum(6, pkt[IP], bytes(segment)) == pkt[TCP].chksum
    payload = b"".join(bytes(p[TCP].payload) for p in packets[3:5])
    assert payload == hello
    tls = TLS(hello)
    exts = {type(e).__name__: e for e in tls.msg[0].ext}
    assert exts["TLS_Ext_ServerName"].servernames[0].servername == b"www.example.com"
    assert [p.protocol for p in exts["TLS_Ext_ALPN"].protocols] == [b"h2", b"http/1.1"]
    assert 0x11EC in [s.group for s in exts["TLS_Ext_KeyShare_CH"].client_shares]


def test_client_hello_variants_with_dpkt() -> None:
    for kwargs, versions in (
        ({"versions": (0x0303,), "profile": "schannel"}, None),
        ({"ech": True}, [0x0304, 0x0303]),
    ):
        record = synth.client_hello("api.example.org", rng=random.Random(1), **kwargs)
        tls = dpkt.ssl.TLS(record)
        hello = dpkt.ssl.TLSHandshake(tls.records[0].data).data
        assert isinstance(hello, dpkt.ssl.TLSClientHello)
        exts = dict(hello.extensions)
        assert exts[0][5:] == b"api.example.org"
        if versions is None:
            assert 43 not in exts and 51 not in exts
        else:
            listed = struct.unpack(f"!{exts[43][0] // 2}H", exts[43][1:])
            assert [v for v in listed if v not in synth.GREASE_VALUES] == versions
            assert 0xFE0D in exts
    bare = dpkt.ssl.TLSHandshake(dpkt.ssl.TLS(synth.client_hello(None, alpn=())).records[0].data).data
    assert [t for t, _ in bare.extensions if t in (0, 16)] == []  # an IP-literal hello: no SNI, no ALPN


def test_dns_answers_cname_chain_compression_and_nxdomain() -> None:
    response = synth.dns_response(
        "www.example.com", "A", ["edge.example.net", "93.184.216.34", "93.184.216.35"], txid=0x1234, ttl=120
    )
    msg = dpkt.dns.DNS(response)
    assert msg.id == 0x1234 and msg.qr == 1 and msg.rcode == 0
    assert [(a.name, a.type) for a in msg.an] == [
        ("www.example.com", dpkt.dns.DNS_CNAME),
        ("edge.example.net", dpkt.dns.DNS_A),
        ("edge.example.net", dpkt.dns.DNS_A),
    ]
    assert msg.an[0].cname == "edge.example.net" and msg.an[1].rdata == bytes([93, 184, 216, 34])
    assert all(a.ttl == 120 for a in msg.an)
    assert response.count(b"\x04edge") == 1  # later owners point back to it
    aaaa = dpkt.dns.DNS(synth.dns_response("v6.example.com", "AAAA", ["2001:db8::7"]))
    assert aaaa.an[0].type == dpkt.dns.DNS_AAAA and aaaa.an[0].ip6 == synth.packed_ip("2001:db8::7")
    nx = DNS(synth.dns_response("nope.example.com", rcode=3))
    assert nx.rcode == 3 and nx.ancount == 0 and nx.nscount == 1 and nx.ns[0].type == 6
    query = DNS(synth.dns_query("Mixed.Example.COM", "HTTPS", txid=7))
    assert query.qd[0].qname == b"Mixed.Example.COM." and query.qd[0].qtype == 65 and query.id == 7


def test_dns_exchange_over_udp_and_tcp() -> None:
    buf = io.BytesIO()
    with synth.TrafficWriter(buf, seed=2) as writer:
        udp_stats = writer.dns_exchange(
            10.0, CLIENT, RESOLVER, "a.example.com", ["1.2.3.4"], txid=9, sport=40000
        )
        tcp_stats = writer.dns_exchange(20.0, CLIENT, RESOLVER, "b.example.com", ["5.6.7.8"], transport="tcp")
    packets = rdpcap(io.BytesIO(buf.getvalue()))
    assert (
        packets[0][UDP].sport == 40000
        and packets[0][DNS].id == 9
        and packets[1][DNS].an[0].rdata == "1.2.3.4"
    )
    assert packets[1].time - packets[0].time == pytest.approx(0.012, abs=1e-6)
    assert udp_stats.packets_out == udp_stats.packets_in == 1
    tcp_payloads = [bytes(p[TCP].payload) for p in packets if TCP in p and len(p[TCP].payload)]
    (length,) = struct.unpack("!H", tcp_payloads[1][:2])
    assert dpkt.dns.DNS(tcp_payloads[1][2 : 2 + length]).an[0].rdata == bytes([5, 6, 7, 8])
    assert tcp_stats.payload_out == len(tcp_payloads[0])


@pytest.mark.parametrize("byteorder", ["little", "big"])
@pytest.mark.parametrize("resolution", ["us", "ns"])
def test_classic_pcap_headers_and_timestamps(byteorder: str, resolution: str) -> None:
    buf = io.BytesIO()
    with synth.TrafficWriter(buf, ts_resolution=resolution, byteorder=byteorder) as writer:  # type: ignore[arg-type]
        writer.udp(1_700_000_000.123456, CLIENT, SERVER, 1000, 2000, b"hello")
    raw = buf.getvalue()
    magic = {"us": 0xA1B2C3D4, "ns": 0xA1B23C4D}[resolution]
    end = "<" if byteorder == "little" else ">"
    assert struct.unpack(end + "IHHiIII", raw[:24]) == (magic, 2, 4, 0, 0, 262144, 1)
    sec, frac, caplen, wirelen = struct.unpack(end + "IIII", raw[24:40])
    assert sec == 1_700_000_000 and frac == (123456 if resolution == "us" else 123456000)
    assert caplen == wirelen == len(raw) - 40
    pkt = rdpcap(io.BytesIO(raw))[0]
    assert pkt[UDP].load == b"hello" and float(pkt.time) == pytest.approx(1_700_000_000.123456, abs=1e-6)


@pytest.mark.parametrize("byteorder", ["little", "big"])
def test_pcapng_blocks_interfaces_and_tsresol(byteorder: str) -> None:
    buf = io.BytesIO()
    writer = writer_module.PcapngWriter(buf, byteorder=byteorder)  # type: ignore[arg-type]
    eth = writer.add_interface(linktypes.ETHERNET, tsresol=9, name="eth0")
    raw_if = writer.add_interface(linktypes.RAW)  # default µs
    frame = synth.ethernet(
        b"\x02" * 6, b"\x04" * 6, synth.ETH_IPV4, synth.ip_packet(CLIENT, SERVER, 17, b"x" * 8)
    )
    writer.write(1_700_000_000_123_456_789, frame, interface=eth)
    writer.write_block(0x0BADC0DE, b"unknown block")
    writer.write(
        1_700_000_001_000_001_000, synth.ip_packet(CLIENT, SERVER, 17, b"y" * 8), wirelen=90, interface=raw_if
    )
    raw = buf.getvalue()
    end = "<" if byteorder == "little" else ">"
    assert struct.unpack(end + "I", raw[:4])[0] == pcapng.SHB
    assert struct.unpack(end + "I", raw[8:12])[0] == writer_module.PCAPNG_BYTE_ORDER_MAGIC
    assert len(raw) == writer.bytes_written
    reader = dpkt.pcapng.Reader(io.BytesIO(raw))
    records = list(reader)
    assert len(records) == 2
    packets = rdpcap(io.BytesIO(raw))
    assert packets[0].time == pytest.approx(1_700_000_000.123456789, abs=1e-9)
    assert packets[1].wirelen == 90 and packets[1][IP].dst == SERVER


def test_snaplen_cuts_bulk_data_but_keeps_hello_and_original_length() -> None:
    raw, stats, hello = _tls_session(snaplen=64)
    records = []
    pos = 24
    while pos < len(raw):
        _, _, caplen, wirelen = struct.unpack_from("<IIII", raw, pos)
        records.append((caplen, wirelen, raw[pos + 16 : pos + 16 + caplen]))
        pos += 16 + caplen
    whole = [data for caplen, wirelen, data in records if caplen == wirelen and wirelen > 100]
    assert b"".join(d[54:] for d in whole[:2]) == hello  # the two hello segments, untouched
    cut = [(c, w) for c, w, _ in records if c < w]
    assert cut and all(c == 64 for c, _ in cut)
    assert sum(w - 14 for _, w, _ in records) == stats.bytes_out + stats.bytes_in


@pytest.mark.parametrize("link", ["ethernet", "raw", "sll", "sll2", "null"])
def test_link_layers_vlan_and_ipv6(link: str) -> None:
    buf = io.BytesIO()
    with synth.TrafficWriter(buf, link=link, vlan=(100, 200) if link == "ethernet" else None) as writer:  # type: ignore[arg-type]
        writer.udp(5.0, "2001:db8::5", "2001:db8:1::53", 5353, 53, synth.dns_query("six.example.com", "AAAA"))
    raw = buf.getvalue()
    linktype = struct.unpack("<I", raw[20:24])[0]
    assert linktype == {"ethernet": 1, "raw": 101, "sll": 113, "sll2": 276, "null": 0}[link]
    data = raw[40:]
    if link == "ethernet":
        pkt = Ether(data)
        assert pkt.type == 0x88A8 and pkt[Dot1AD].vlan == 100 and pkt[Dot1Q].vlan == 200
    elif link == "sll":
        assert CookedLinux(data).proto == synth.ETH_IPV6
    ip6 = IPv6(data[{"ethernet": 22, "raw": 0, "sll": 16, "sll2": 20, "null": 4}[link] :])
    assert ip6.src == "2001:db8::5" and ip6[UDP].dport == 53 and ip6[DNS].qd[0].qtype == 28
    del ip6[UDP].chksum
    assert IPv6(bytes(ip6))[UDP].chksum == IPv6(data[len(data) - len(bytes(ip6)) :])[UDP].chksum


def test_writer_orders_packets_in_time_and_flushes_partially() -> None:
    buf = io.BytesIO()
    writer = synth.TrafficWriter(buf, seed=1)
    writer.udp(30.0, CLIENT, SERVER, 1, 2, b"c")
    writer.udp(10.0, CLIENT, SERVER, 1, 2, b"a")
    writer.udp(20.0, CLIENT, SERVER, 1, 2, b"b")
    assert writer.flush(before=25.0) == 2
    writer.udp(26.0, CLIENT, SERVER, 1, 2, b"d")
    writer.close()
    loads = [
        dpkt.ethernet.Ethernet(b).data.data.data for _, b in dpkt.pcap.Reader(io.BytesIO(buf.getvalue()))
    ]
    assert loads == [b"a", b"b", b"d", b"c"]
    assert writer.packets_written == 4
    with pytest.raises(ValueError):
        writer.udp(40.0, CLIENT, SERVER, 1, 2, b"late")


def test_same_seed_same_bytes_and_http_request() -> None:
    def build(seed: int) -> bytes:
        buf = io.BytesIO()
        with synth.TrafficWriter(buf, seed=seed) as writer:
            request = synth.http_request("POST", "c2.example", "/exchange", user_agent="UA/1", body=b"k=v")
            writer.tcp_session(1.0, CLIENT, SERVER, None, 80, [request], server_bytes=100)
        return buf.getvalue()

    assert build(4) == build(4) != build(5)
    first_payload = next(
        p[TCP].load for p in rdpcap(io.BytesIO(build(4))) if TCP in p and len(p[TCP].payload)
    )
    request = dpkt.http.Request(first_payload)
    assert (request.method, request.uri, request.headers["host"], request.body) == (
        "POST",
        "/exchange",
        "c2.example",
        b"k=v",
    )


def test_demo_generator_is_deterministic_and_truth_matches(tmp_path: Path) -> None:
    demo = load_script(ROOT / "pcaps" / "make_demo.py")
    digests = []
    for name in ("a.pcap", "b.pcap"):
        assert demo.main(["--out", str(tmp_path / name), "--hours", "3"]) == 0
        digests.append(hashlib.sha256((tmp_path / name).read_bytes()).hexdigest())
    assert digests[0] == digests[1]
    truth = json.loads((tmp_path / "a.truth.json").read_text())
    roles = [s["role"] for s in truth["suspicious"]]
    assert (
        roles.count("3cx-infected") == 3 and "unlisted-bare-ip-beacon" in roles and "blocked-lookup" in roles
    )
    bare = next(s for s in truth["suspicious"] if s["role"] == "unlisted-bare-ip-beacon")
    # What the truth file claims is what the capture holds.
    syns = sum(
        1
        for _, buf in dpkt.pcap.Reader(open(tmp_path / "a.pcap", "rb"))  # noqa: SIM115
        if (ip := dpkt.ethernet.Ethernet(buf).data)
        and isinstance(ip.data, dpkt.tcp.TCP)
        and ip.data.flags == synth.SYN
        and ip.data.dport == 8443
    )
    assert syns == bare["connections"] > 100
    assert truth["packets"] > 1000
    assert (tmp_path / "a.pcap").stat().st_size == truth["bytes"]


def test_committed_demo_capture_matches_its_generator(tmp_path: Path) -> None:
    committed = ROOT / "pcaps" / "demo-office.pcap"
    if not committed.exists():
        pytest.skip("demo capture not generated yet")
    demo = load_script(ROOT / "pcaps" / "make_demo.py")
    demo.main(["--out", str(tmp_path / "demo-office.pcap")])
    assert (tmp_path / "demo-office.pcap").read_bytes() == committed.read_bytes()
    assert committed.stat().st_size < 5_000_000
    assert json.loads((tmp_path / "demo-office.truth.json").read_text()) == json.loads(
        (ROOT / "pcaps" / "demo-office.truth.json").read_text()
    )


def test_benchmark_generator_small_capture(tmp_path: Path) -> None:
    bench = load_script(ROOT / "benchmarks" / "make_capture.py")
    out = tmp_path / "bench.pcap"
    packets, size = bench.write_capture(
        out,
        packets=3000,
        size=None,
        seed=3,
        hosts=50,
        duration=60.0,
        beacons=2,
        templates=40,
        size_median=2000.0,
    )
    assert packets == 3000 and out.stat().st_size == size
    last = 0.0
    clients = set()
    for ts, buf in dpkt.pcap.Reader(open(out, "rb")):  # noqa: SIM115
        assert ts >= last
        last = ts
        ip = dpkt.ethernet.Ethernet(buf).data
        assert _checksums_ok(ip)
        clients.add(ip.src if isinstance(ip.data, dpkt.udp.UDP) and ip.data.dport == 53 else None)
    assert len(clients) > 10  # the template client address was replaced per session
    same = bench.write_capture(
        tmp_path / "again.pcap",
        packets=3000,
        size=None,
        seed=3,
        hosts=50,
        duration=60.0,
        beacons=2,
        templates=40,
        size_median=2000.0,
    )
    assert same == (packets, size) and (tmp_path / "again.pcap").read_bytes() == out.read_bytes()
