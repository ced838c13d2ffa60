"""Bulk header decoding on tiny hand-built packets: every link type, VLANs, IPv6 extension headers, tunnels."""

from __future__ import annotations

import numpy as np
import pytest
from _packets import DST_MAC, batch_of
from scapy.all import (  # type: ignore[attr-defined]
    DNS,
    DNSQR,
    GRE,
    IP,
    TCP,
    UDP,
    VXLAN,
    CookedLinux,
    Dot1AD,
    Dot1Q,
    Ether,
    IPv6,
    IPv6ExtHdrFragment,
    IPv6ExtHdrHopByHop,
    Raw,
)

from netdetect.addr import to_text
from netdetect.decode.headers import addr_bytes, decode_headers


def _addr(h, i, which="src"):
    hi, lo = (h.src_hi, h.src_lo) if which == "src" else (h.dst_hi, h.dst_lo)
    return to_text(bytes(addr_bytes(hi[i : i + 1], lo[i : i + 1])[0]))


def test_ethernet_ipv4_tcp_fields():
    p = (
        Ether(dst=DST_MAC)
        / IP(src="10.0.0.1", dst="192.0.2.9")
        / TCP(sport=5000, dport=443, flags="PA", seq=123456)
        / Raw(b"x" * 33)
    )
    h = decode_headers(batch_of([(1.5, p)]))
    assert len(h) == 1
    assert (_addr(h, 0), _addr(h, 0, "dst")) == ("10.0.0.1", "192.0.2.9")
    assert (int(h.sport[0]), int(h.dport[0]), int(h.proto[0])) == (5000, 443, 6)
    assert int(h.seq[0]) == 123456 and int(h.tcp_flags[0]) == 0x18
    assert int(h.ip_len[0]) == 20 + 20 + 33
    assert int(h.payload_len[0]) == 33 and int(h.payload_caplen[0]) == 33
    assert h.ts[0] == 1.5


def test_vlan_qinq_and_ipv6_extension_headers():
    pkts = [
        (
            1.0,
            Ether(dst=DST_MAC)
            / Dot1Q(vlan=7)
            / IP(src="10.0.0.2", dst="10.0.0.3")
            / UDP(sport=1, dport=53)
            / Raw(b"ab"),
        ),
        (
            2.0,
            Ether(dst=DST_MAC)
            / Dot1AD(vlan=3)
            / Dot1Q(vlan=4)
            / IP(src="10.0.0.4", dst="10.0.0.5")
            / UDP(sport=2, dport=3),
        ),
        (
            3.0,
            Ether(dst=DST_MAC)
            / IPv6(src="2001:db8::1", dst="2001:db8::2")
            / IPv6ExtHdrHopByHop()
            / TCP(sport=7, dport=8),
        ),
    ]
    h = decode_headers(batch_of(pkts))
    assert len(h) == 3
    assert [_addr(h, i) for i in range(3)] == ["10.0.0.2", "10.0.0.4", "2001:db8::1"]
    assert list(h.proto) == [17, 17, 6]
    assert list(h.dport) == [53, 3, 8]
    assert int(h.payload_caplen[0]) == 2


def test_linux_cooked_capture_v1():
    p = (
        CookedLinux(pkttype=0, lladdrtype=1, lladdrlen=6, proto=0x0800)
        / IP(src="10.1.1.1", dst="10.1.1.2")
        / UDP(sport=9, dport=10)
    )
    h = decode_headers(batch_of([(1.0, p)], linktype=113))
    assert len(h) == 1 and _addr(h, 0) == "10.1.1.1" and int(h.dport[0]) == 10


def test_raw_ip_and_null_loopback():
    ip = bytes(IP(src="10.2.2.2", dst="10.2.2.3") / TCP(sport=1, dport=2))
    ip6 = bytes(IPv6(src="::1", dst="::2") / UDP(sport=3, dport=4))
    h = decode_headers(batch_of([(1.0, ip), (2.0, ip6)], linktype=101))
    assert [_addr(h, i) for i in range(2)] == ["10.2.2.2", "::1"]
    null_v4 = (2).to_bytes(4, "little") + ip  # BSD loopback: family in host order
    null_v6 = (30).to_bytes(4, "little") + ip6
    h = decode_headers(batch_of([(1.0, null_v4), (2.0, null_v6)], linktype=0))
    assert [_addr(h, i) for i in range(2)] == ["10.2.2.2", "::1"]


def test_vxlan_and_gre_inner_packets_are_decoded():
    inner = (
        Ether(dst=DST_MAC)
        / IP(src="172.16.0.9", dst="198.51.100.7")
        / UDP(sport=5353, dport=53)
        / DNS(qd=DNSQR(qname="x.test"))
    )
    vx = Ether(dst=DST_MAC) / IP(src="10.0.0.1", dst="10.0.0.2") / UDP(sport=40000, dport=4789) / VXLAN(vni=42) / inner
    gre = (
        Ether(dst=DST_MAC)
        / IP(src="10.0.0.1", dst="10.0.0.2")
        / GRE(proto=0x0800)
        / IP(src="172.16.0.10", dst="198.51.100.8")
        / TCP(sport=1, dport=443)
    )
    h = decode_headers(batch_of([(1.0, vx), (2.0, gre)]))
    assert len(h) == 2
    assert [_addr(h, i) for i in range(2)] == ["172.16.0.9", "172.16.0.10"]
    assert list(h.dport) == [53, 443]
    assert h.tunnelled.all()


def test_fragments_are_flagged():
    big = IP(src="10.0.0.1", dst="10.0.0.2", id=77) / UDP(sport=53, dport=3000) / Raw(b"z" * 3000)
    from scapy.all import fragment  # type: ignore[attr-defined]

    frags = [(1.0 + i * 0.001, Ether(dst=DST_MAC) / f) for i, f in enumerate(fragment(big, fragsize=1000))]
    h = decode_headers(batch_of(frags))
    assert h.fragment.all()
    assert int(h.frag_off[0]) == 0 and int(h.frag_off[1]) == 1000 and bool(h.more_frags[0])
    assert int(h.sport[0]) == 53  # the first fragment still shows its ports
    v6 = (
        Ether(dst=DST_MAC) / IPv6(src="::1", dst="::2") / IPv6ExtHdrFragment(offset=0, m=1, id=9) / UDP(sport=1, dport=2)
    )
    h = decode_headers(batch_of([(1.0, v6)]))
    assert bool(h.fragment[0]) and int(h.ip_id[0]) == 9 and int(h.proto[0]) == 17


@pytest.mark.parametrize("cut", [5, 14, 20, 30, 40])
def test_truncated_and_lying_headers_are_counted_not_raised(cut):
    p = bytes(Ether(dst=DST_MAC) / IP(src="10.0.0.1", dst="10.0.0.2") / TCP(sport=1, dport=2) / Raw(b"abc"))
    h = decode_headers(batch_of([(1.0, p[:cut])]))
    assert len(h) == 0
    assert sum(h.counts.values()) == 1


def test_ip_length_not_caplen_gives_byte_counts():
    """A snaplen-truncated packet still counts its wire bytes from the IP header."""
    p = bytes(Ether(dst=DST_MAC) / IP(src="10.0.0.1", dst="10.0.0.2") / TCP(sport=1, dport=2) / Raw(b"a" * 1000))
    b = batch_of([(1.0, p[:64])])
    b.wirelen[:] = len(p)
    h = decode_headers(b)
    assert int(h.ip_len[0]) == 1040 and int(h.payload_len[0]) == 1000 and int(h.payload_caplen[0]) == 10


def test_non_ip_is_not_an_error_but_bad_ip_version_is():
    arp = bytes(Ether(dst=DST_MAC, type=0x0806) / Raw(b"\x00" * 28))
    bad = bytes(Ether(dst=DST_MAC, type=0x0800) / Raw(b"\x55" * 40))
    h = decode_headers(batch_of([(1.0, arp), (2.0, bad)]))
    assert len(h) == 0
    assert h.counts == {"non_ip": 1, "bad_ip_version": 1}
    assert np.all(h.index >= 0)


def test_sll2_ppp_loop_and_more_tunnels():
    from scapy.all import PPP, CookedLinuxV2  # type: ignore[attr-defined]
    from scapy.contrib.erspan import ERSPAN_II
    from scapy.contrib.geneve import GENEVE

    inner = IP(src="172.16.5.5", dst="198.51.100.5") / UDP(sport=1111, dport=53)
    sll2 = CookedLinuxV2(proto=0x0800) / inner
    h = decode_headers(batch_of([(1.0, sll2)], linktype=276))
    assert _addr(h, 0) == "172.16.5.5"
    ppp = bytes(PPP(proto=0x0021) / inner)
    h = decode_headers(batch_of([(1.0, b"\xff\x03" + ppp)], linktype=9))
    assert _addr(h, 0) == "172.16.5.5" and int(h.dport[0]) == 53
    loop = (2).to_bytes(4, "big") + bytes(inner)  # OpenBSD loopback: network byte order
    h = decode_headers(batch_of([(1.0, loop)], linktype=108))
    assert _addr(h, 0) == "172.16.5.5"
    outer = Ether(dst=DST_MAC) / IP(src="10.0.0.1", dst="10.0.0.2")
    geneve = outer / UDP(sport=5000, dport=6081) / GENEVE(proto=0x6558) / Ether(dst=DST_MAC) / inner
    erspan = outer / GRE(proto=0x88BE, seqnum_present=1, sequence_number=1) / ERSPAN_II() / Ether(dst=DST_MAC) / inner
    six4 = Ether(dst=DST_MAC) / IPv6(src="2001:db8::1", dst="2001:db8::2", nh=4) / inner
    h = decode_headers(batch_of([(1.0, geneve), (2.0, erspan), (3.0, six4)]))
    assert [_addr(h, i) for i in range(len(h))] == ["172.16.5.5"] * 3
    assert h.tunnelled.all()
