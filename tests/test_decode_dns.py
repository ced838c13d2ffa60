"""DNS decoder: names, compression, hostile pointers, record types, TCP framing."""

from __future__ import annotations

import struct

import pytest

from netdetect.decode import fastpath
from netdetect.decode.dns import parse_dns, read_name, split_tcp_dns
from netdetect.decode.errors import DecodeError


def name(text: str) -> bytes:
    out = b""
    for label in text.split(".") if text else []:
        raw = label.encode("latin-1")
        out += bytes([len(raw)]) + raw
    return out + b"\x00"


def header(
    txid: int = 0x1234, flags: int = 0x0100, qd: int = 1, an: int = 0, ns: int = 0, ar: int = 0
) -> bytes:
    return struct.pack("!6H", txid, flags, qd, an, ns, ar)


def question(qname: bytes, qtype: int = 1, qclass: int = 1) -> bytes:
    return qname + struct.pack("!HH", qtype, qclass)


def rr(owner: bytes, rtype: int, rdata: bytes, ttl: int = 300, rclass: int = 1) -> bytes:
    return owner + struct.pack("!HHIH", rtype, rclass, ttl, len(rdata)) + rdata


PTR_QNAME = b"\xc0\x0c"  # pointer to the question name at offset 12


def test_query_name_lower_cased_without_trailing_dot() -> None:
    msg = parse_dns(header() + question(name("WWW.Example.COM"), qtype=28))
    assert (msg.txid, msg.is_response, msg.opcode, msg.rcode) == (0x1234, False, 0, 0)
    assert msg.questions == [("www.example.com", "AAAA")]
    assert msg.query == "www.example.com" and msg.qtype == "AAAA"
    assert msg.answers == [] and msg.error is None


def test_root_query_and_unknown_type() -> None:
    msg = parse_dns(header() + question(b"\x00", qtype=65534))
    assert msg.questions == [("", "TYPE65534")]


def test_response_with_compressed_cname_chain_and_ttls() -> None:
    q = question(name("www.example.com"))
    cname_target = name("cdn.example.net")
    # Second record's owner points at the CNAME target inside the first record's rdata.
    first = rr(PTR_QNAME, 5, cname_target, ttl=300)
    target_offset = 12 + len(q) + 2 + 10
    second = rr(struct.pack("!H", 0xC000 | target_offset), 1, bytes([93, 184, 216, 34]), ttl=60)
    msg = parse_dns(header(flags=0x8183, an=2) + q + first + second)
    assert msg.is_response and msg.rcode == 3
    assert [(a.name, a.rtype, a.value, a.ttl) for a in msg.answers] == [
        ("www.example.com", "CNAME", "cdn.example.net", 300),
        ("cdn.example.net", "A", "93.184.216.34", 60),
    ]


def test_aaaa_mx_txt_srv_soa_and_generic() -> None:
    q = question(name("example.com"), qtype=255)
    records = [
        rr(PTR_QNAME, 28, bytes.fromhex("20010db8000000000000000000000001")),
        rr(PTR_QNAME, 15, struct.pack("!H", 10) + name("mail")[:-1] + PTR_QNAME),
        rr(PTR_QNAME, 16, b"\x07v=spf1 \x03a\x01b"),
        rr(PTR_QNAME, 33, struct.pack("!HHH", 1, 2, 5060) + name("sip.example.com")),
        rr(
            PTR_QNAME,
            6,
            name("ns1.example.com") + name("root.example.com") + struct.pack("!5I", 1, 2, 3, 4, 5),
        ),
        rr(PTR_QNAME, 99 + 1000, b"\xde\xad"),
    ]
    msg = parse_dns(header(flags=0x8180, an=len(records)) + q + b"".join(records))
    assert msg.error is None
    assert [(a.rtype, a.value) for a in msg.answers] == [
        ("AAAA", "2001:db8::1"),
        ("MX", "10 mail.example.com"),
        ("TXT", "v=spf1  a\\x01b"),
        ("SRV", "1 2 5060 sip.example.com"),
        ("SOA", "ns1.example.com root.example.com 1 2 3 4 5"),
        ("TYPE1099", "\\# 2 dead"),
    ]


def test_https_record_target_and_params() -> None:
    params = (
        struct.pack("!HH", 1, 6) + b"\x02h3\x02h2"  # alpn
        + struct.pack("!HH", 3, 2) + struct.pack("!H", 8443)  # port
        + struct.pack("!HH", 4, 8) + bytes([104, 16, 132, 229, 104, 16, 133, 229])  # ipv4hint
        + struct.pack("!HH", 5, 3) + b"\x00\x01\x02"  # ech (blob not shown)
        + struct.pack("!HH", 6, 16) + bytes.fromhex("26064700000000000000000068108429")
    )  # fmt: skip
    rdata = struct.pack("!H", 1) + b"\x00" + params
    msg = parse_dns(
        header(flags=0x8180, an=1) + question(name("crypto.cloudflare.com"), 65) + rr(PTR_QNAME, 65, rdata)
    )
    assert msg.questions == [("crypto.cloudflare.com", "HTTPS")]
    (ans,) = msg.answers
    assert ans.rtype == "HTTPS"
    assert ans.value == (
        "1 . alpn=h3,h2 port=8443 ipv4hint=104.16.132.229,104.16.133.229 ech ipv6hint=2606:4700::6810:8429"
    )


def test_https_alias_mode_target_name() -> None:
    rdata = struct.pack("!H", 0) + name("svc.example.net")
    msg = parse_dns(header(flags=0x8180, an=1) + question(name("example.net"), 65) + rr(PTR_QNAME, 65, rdata))
    assert msg.answers[0].value == "0 svc.example.net"


def test_non_printable_label_bytes_escaped() -> None:
    raw_label = b"a.b\\c D\x00\xff\x1bZ"
    msg = parse_dns(header() + question(bytes([len(raw_label)]) + raw_label + name("evil.com")))
    assert msg.questions[0][0] == "a\\.b\\\\c\\032d\\000\\255\\027z.evil.com"
    assert msg.questions[0][0].isprintable()


def test_mdns_unicast_response_bit_tolerated() -> None:
    msg = parse_dns(
        header(txid=0, flags=0) + question(name("_services._dns-sd._udp.local"), 12, qclass=0x8001)
    )
    assert msg.questions == [("_services._dns-sd._udp.local", "PTR")]


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"\x12\x34\x01\x00", "dns.short_header"),
        (header() + b"\xc0\x0c\x00\x01\x00\x01", "dns.pointer_loop"),  # pointer to itself
        (header() + b"\xc0\xff\x00\x01\x00\x01", "dns.bad_pointer"),
        (header() + b"\x05ab", "dns.truncated"),
        (header() + b"\x41abc\x00\x00\x01\x00\x01", "dns.bad_label"),  # 0x40: extended label type
        (header() + b"\x81abc\x00\x00\x01\x00\x01", "dns.bad_label"),
        (header() + (b"\x3f" + b"a" * 63) * 4 + b"\x00\x00\x01\x00\x01", "dns.name_too_long"),
        (header() + name("example.com") + b"\x00", "dns.truncated"),  # qtype cut
    ],
)
def test_malformed_header_or_question_raises(payload: bytes, reason: str) -> None:
    with pytest.raises(DecodeError) as info:
        parse_dns(payload)
    assert info.value.reason == reason


def test_two_pointers_forming_a_loop() -> None:
    # offset 12: "\x01a" then pointer to 16; offset 16: "\x01b" then pointer back to 12.
    payload = header() + b"\x01a\xc0\x10" + b"\x01b\xc0\x0c"
    with pytest.raises(DecodeError) as info:
        read_name(payload, 12)
    assert info.value.reason in ("dns.pointer_loop", "dns.name_too_long")


def test_forward_pointer_in_bounds_is_followed() -> None:
    q_at = 12
    payload = (
        header() + struct.pack("!H", 0xC000 | (q_at + 2 + 4)) + struct.pack("!HH", 1, 1) + name("fwd.example")
    )
    assert parse_dns(payload).questions == [("fwd.example", "A")]


def test_truncated_answer_keeps_question_and_earlier_answers() -> None:
    q = question(name("a.example"))
    good = rr(PTR_QNAME, 1, bytes([10, 0, 0, 1]))
    cut = rr(PTR_QNAME, 1, bytes([10, 0, 0, 2]))[:-3]
    msg = parse_dns(header(flags=0x8180, an=2) + q + good + cut)
    assert msg.questions == [("a.example", "A")]
    assert [a.value for a in msg.answers] == ["10.0.0.1"]
    assert msg.error == "dns.truncated"


def test_bad_rdata_skips_that_record_only() -> None:
    q = question(name("a.example"))
    bad = rr(PTR_QNAME, 1, b"\x01\x02\x03")  # A with 3 bytes
    good = rr(PTR_QNAME, 28, bytes(15) + b"\x01")
    msg = parse_dns(header(flags=0x8180, an=2) + q + bad + good)
    assert [(a.rtype, a.value) for a in msg.answers] == [("AAAA", "::1")]
    assert msg.error == "dns.bad_rdata"


def test_split_tcp_dns_several_messages_and_a_partial_one() -> None:
    m1 = header(txid=1) + question(name("one.example"))
    m2 = header(txid=2) + question(name("two.example"))
    m3 = header(txid=3) + question(name("three.example"))
    stream = (
        struct.pack("!H", len(m1))
        + m1
        + struct.pack("!H", len(m2))
        + m2
        + struct.pack("!H", len(m3))
        + m3[:5]
    )
    msgs, used = split_tcp_dns(stream)
    assert msgs == [m1, m2]
    assert used == 4 + len(m1) + len(m2)
    rest = stream[used:] + m3[5:]
    msgs, used = split_tcp_dns(rest)
    assert [parse_dns(m).questions for m in msgs] == [[("three.example", "A")]]
    assert used == len(rest)


def test_split_tcp_dns_waits_for_the_length_prefix() -> None:
    assert split_tcp_dns(b"") == ([], 0)
    assert split_tcp_dns(b"\x00") == ([], 0)
    assert split_tcp_dns(b"\x00\x00") == ([b""], 2)


def _soa_rdata(serial: int) -> bytes:
    numbers = struct.pack("!5I", serial, 7200, 900, 86400, 300)
    return name("ns1.example.org") + name("admin.example.org") + numbers


def test_update_reports_the_zone_and_no_prerequisites_or_updates_as_answers() -> None:
    # RFC 2136 UPDATE (opcode 5): zone example.org SOA; prerequisite "host.example.org exists" (class ANY);
    # update: add host.example.org A 192.0.2.9; same framing as a response with answers.
    zone = question(name("Example.ORG"), qtype=6)
    prereq = rr(name("host.example.org"), 1, b"", ttl=0, rclass=255)
    update = rr(name("host.example.org"), 1, bytes([192, 0, 2, 9]), ttl=300)
    msg = parse_dns(header(flags=5 << 11, an=1, ns=1) + zone + prereq + update)
    assert (msg.opcode, msg.is_response) == (5, False)
    assert (msg.query, msg.qtype) == ("example.org", "SOA")
    assert msg.answers == [] and msg.error is None
    # The server's reply (QR set) echoes the zone; still no answers, rcode kept (9 = NOTAUTH).
    reply = parse_dns(header(flags=0x8000 | 5 << 11 | 9, an=1) + zone + prereq)
    assert (reply.query, reply.rcode, reply.answers) == ("example.org", 9, [])
    # The pipeline's memo gives the same.
    parsed = fastpath.DnsMemo().parse(header(flags=5 << 11, an=1, ns=1) + zone + prereq + update)
    assert not isinstance(parsed, str) and (parsed.query, parsed.answers) == ("example.org", ())


def test_notify_keeps_the_zone_as_query_and_its_soa_as_answer() -> None:
    # RFC 1996 NOTIFY (opcode 4) with the new SOA in the answer section, as BIND sends it.
    zone = question(name("example.org"), qtype=6)
    soa = rr(name("example.org"), 6, _soa_rdata(2024050201), ttl=3600)
    msg = parse_dns(header(flags=0x2400, an=1) + zone + soa)
    assert (msg.opcode, msg.is_response, msg.query, msg.qtype) == (4, False, "example.org", "SOA")
    assert [(a.name, a.rtype, a.value) for a in msg.answers] == [
        ("example.org", "SOA", "ns1.example.org admin.example.org 2024050201 7200 900 86400 300")]
    ack = parse_dns(header(flags=0xA400) + zone)
    assert (ack.is_response, ack.query, ack.answers) == (True, "example.org", [])
