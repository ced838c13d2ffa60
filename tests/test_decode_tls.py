"""TLS ClientHello decoder, record reassembly, and the JA3 / JA4 fingerprints against published vectors."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netdetect.decode import fastpath
from netdetect.decode.errors import DecodeError
from netdetect.decode.fingerprint import is_grease, ja3_hash, ja4_alpn
from netdetect.decode.tls import extract_client_hello, looks_like_tls, parse_client_hello


def ext(ext_type: int, body: bytes) -> bytes:
    return struct.pack("!HH", ext_type, len(body)) + body


def u16s(values: list[int]) -> bytes:
    return b"".join(struct.pack("!H", v) for v in values)


def sni_ext(host: bytes) -> bytes:
    entry = b"\x00" + struct.pack("!H", len(host)) + host
    return ext(0, struct.pack("!H", len(entry)) + entry)


def alpn_ext(protocols: list[bytes]) -> bytes:
    body = b"".join(bytes([len(p)]) + p for p in protocols)
    return ext(16, struct.pack("!H", len(body)) + body)


def list16_ext(ext_type: int, values: list[int]) -> bytes:
    return ext(ext_type, struct.pack("!H", 2 * len(values)) + u16s(values))


def hello_body(
    ciphers: list[int],
    extensions: list[bytes] | None,
    version: int = 0x0303,
    session_id: bytes = b"\x11" * 32,
) -> bytes:
    body = struct.pack("!H", version) + b"\x22" * 32 + bytes([len(session_id)]) + session_id
    body += struct.pack("!H", 2 * len(ciphers)) + u16s(ciphers) + b"\x01\x00"
    if extensions is not None:
        blob = b"".join(extensions)
        body += struct.pack("!H", len(blob)) + blob
    return body


def records(body: bytes, split_at: list[int] | None = None) -> bytes:
    """Handshake message for `body`, cut into TLS records at the given handshake offsets."""
    msg = b"\x01" + len(body).to_bytes(3, "big") + body
    cuts = [0, *(split_at or []), len(msg)]
    return b"".join(
        b"\x16\x03\x01" + struct.pack("!H", b - a) + msg[a:b] for a, b in zip(cuts, cuts[1:], strict=False)
    )


# FoxIO technical_details/JA4.md example (also rust/ja4/src/tls.rs test_client_stats_into_out):
# these ciphers, extensions (wire order) and signature algorithms give t13d1516h2_8daaf6152771_e5627efa2ab1.
SPEC_CIPHERS = [0x1301, 0x1302, 0x1303, 0xC02B, 0xC02F, 0xC02C, 0xC030, 0xCCA9, 0xCCA8, 0xC013, 0xC014,
                0x009C, 0x009D, 0x002F, 0x0035]  # fmt: skip
SPEC_SIGALGS = [0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601]


def spec_extensions(grease: bool) -> list[bytes]:
    exts = [
        ext(0x001B, b"\x02\x00\x02"),
        sni_ext(b"example.com"),
        ext(0x0033, b"\x00\x00"),
        alpn_ext([b"h2", b"http/1.1"]),
        ext(0x4469, b"\x00\x03\x02h2"),
        ext(0x0017, b""),
        ext(0x002D, b"\x01\x01"),
        list16_ext(0x000D, ([0x1A1A] if grease else []) + SPEC_SIGALGS),
        ext(0x0005, b"\x01\x00\x00\x00\x00"),
        ext(0x0023, b""),
        ext(0x0012, b""),
        ext(0x002B, bytes([6 + 2 * grease]) + u16s(([0xBABA] if grease else []) + [0x0304, 0x0303, 0x0302])),
        ext(0xFF01, b"\x00"),
        ext(0x000B, b"\x01\x00"),
        list16_ext(0x000A, ([0x4A4A] if grease else []) + [0x001D, 0x0017, 0x0018]),
        ext(0x0015, b"\x00" * 8),
    ]
    if grease:
        exts = [ext(0x0A0A, b""), *exts, ext(0xFAFA, b"\x00")]
    return exts


def spec_hello(grease: bool = True) -> bytes:
    ciphers = ([0x2A2A] if grease else []) + SPEC_CIPHERS
    return hello_body(ciphers, spec_extensions(grease))


def test_ja4_matches_the_published_foxio_example() -> None:
    hello = parse_client_hello(spec_hello(grease=True))
    assert hello.ja4 == "t13d1516h2_8daaf6152771_e5627efa2ab1"
    assert hello.ja4_raw() == (
        "t13d1516h2_002f,0035,009c,009d,1301,1302,1303,c013,c014,c02b,c02c,c02f,c030,cca8,cca9_0005,000a,000b,"
        "000d,0012,0015,0017,001b,0023,002b,002d,0033,4469,ff01_0403,0804,0401,0503,0805,0501,0806,0601"
    )
    assert hello.ja4_for("q").startswith("q13d1516h2_8daaf6152771_")
    assert parse_client_hello(spec_hello(grease=False)).ja4 == hello.ja4  # GREASE never changes JA4


def test_client_hello_fields() -> None:
    hello = parse_client_hello(spec_hello(grease=True))
    assert hello.legacy_version == 0x0303
    assert hello.sni == "example.com"
    assert hello.alpn == ["h2", "http/1.1"]
    assert hello.versions == [0x0304, 0x0303, 0x0302]  # GREASE removed
    assert hello.groups == [0x4A4A, 0x001D, 0x0017, 0x0018]
    assert hello.ec_point_formats == [0]
    assert hello.ciphers[0] == 0x2A2A and hello.ciphers[1:] == SPEC_CIPHERS
    assert hello.extensions[0] == 0x0A0A and hello.extensions[-1] == 0xFAFA
    assert not hello.ech


def test_ja3_drops_grease_and_keeps_wire_order() -> None:
    hello = parse_client_hello(spec_hello(grease=True))
    assert hello.ja3 == (
        "771,4865-4866-4867-49195-49199-49196-49200-52393-52392-49171-49172-156-157-47-53,"
        "27-0-51-16-17513-23-45-13-5-35-18-43-65281-11-10-21,29-23-24,0"
    )
    assert hello.ja3_hash == ja3_hash(hello.ja3) and len(hello.ja3_hash) == 32


def test_ja3_matches_the_published_salesforce_examples() -> None:
    # salesforce/ja3 README: the two example strings and their md5.
    ciphers = [47, 53, 5, 10, 49161, 49162, 49171, 49172, 50, 56, 19, 4]
    exts = [sni_ext(b"example.com"), list16_ext(10, [23, 24, 25]), ext(11, b"\x01\x00")]
    hello = parse_client_hello(hello_body(ciphers, exts, version=0x0301))
    assert hello.ja3 == "769,47-53-5-10-49161-49162-49171-49172-50-56-19-4,0-10-11,23-24-25,0"
    assert hello.ja3_hash == "ada70206e40642a3e4461f35503241d5"
    bare = parse_client_hello(hello_body([4, 5, 10, 9, 100, 98, 3, 6, 19, 18, 99], None, version=0x0301))
    assert bare.ja3 == "769,4-5-10-9-100-98-3-6-19-18-99,,,"
    assert bare.ja3_hash == "de350869b8c85de67a350c8d186f11e6"
    # No SNI, no ALPN, no signature algorithms, no supported_versions: JA4 header from the hello version.
    assert bare.ja4.startswith("t10i1100")
    assert bare.ja4.endswith("_000000000000")


def test_ech_and_quic_transport_parameters_flags() -> None:
    hello = parse_client_hello(
        hello_body([0x1301], [sni_ext(b"public.example"), ext(0xFE0D, b"\x00" * 9), ext(0x39, b"")])
    )
    assert hello.ech and hello.quic_transport_parameters
    assert hello.sni == "public.example"


def test_sni_and_alpn_bytes_are_escaped() -> None:
    hello = parse_client_hello(hello_body([0x1301], [sni_ext(b"evil\x1b[31m\n.com"), alpn_ext([b"\xffx"])]))
    assert hello.sni == "evil\\x1b[31m\\x0a.com"
    assert hello.alpn == ["\\xffx"]


@pytest.mark.parametrize(
    ("alpn", "expected"),
    [(b"h2", "h2"), (b"http/1.1", "h1"), (b"h", "hh"), (b"", "00"), (None, "00"), (b"\xab", "ab"),
     (b"\xab\xcd", "ad"), (b"\x30\xab", "3b"), (b"\x30\x31\xab\xcd", "3d"), (b"\x30\xab\xcd\x31", "01")],
)  # fmt: skip
def test_ja4_alpn_characters_follow_the_spec_examples(alpn: bytes | None, expected: str) -> None:
    assert ja4_alpn(alpn) == expected


def test_grease_values() -> None:
    assert all(is_grease(v) for v in (0x0A0A, 0x1A1A, 0xFAFA))
    assert not any(is_grease(v) for v in (0x0A1A, 0x1301, 0x0000, 0xAAAB))


def test_extract_waits_for_all_records_and_segments() -> None:
    body = spec_hello()
    stream = records(body, split_at=[100, 101, len(body) - 10])  # four records, one of a single byte
    for cut in (0, 3, 5, 50, 105, 200, len(stream) - 1):
        assert extract_client_hello(stream[:cut]) is None, cut
    hello = extract_client_hello(stream + b"\x17\x03\x03\x00\x05hello")  # data after the hello is ignored
    assert hello is not None and hello.sni == "example.com"
    assert looks_like_tls(stream)


@pytest.mark.parametrize(
    ("stream", "reason"),
    [
        (b"GET / HTTP/1.1\r\n\r\n", "tls.not_tls"),
        (b"\x16\x03\x01\x00\x05\x02\x00\x00\x01\x00", "tls.not_client_hello"),
        (b"\x16\x03\x01\x00\x00", "tls.bad_record_length"),
        (b"\x16\x03\x01\xff\xff", "tls.bad_record_length"),
        (b"\x16\x07\x01\x00\x05", "tls.not_tls"),
        # a complete first record holding part of the hello, then an alert record
        (
            records(hello_body([0x1301], []), split_at=[9])[:14] + b"\x15\x03\x03\x00\x02\x02\x28",
            "tls.interrupted",
        ),
        (b"\x16\x03\x01\x00\x04\x01\x02\x00\x00", "tls.too_long"),
        (bytes.fromhex("8055010301003d00000010000039000038000035"), "tls.bad_sslv2_hello"),  # 61-byte specs
    ],
)
def test_extract_rejects_non_tls_and_broken_records(stream: bytes, reason: str) -> None:
    with pytest.raises(DecodeError) as info:
        extract_client_hello(stream)
    assert info.value.reason == reason


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"\x03\x03" + bytes(10), "tls.truncated"),
        (b"\x01\x00" + bytes(40), "tls.bad_version"),
        (b"\x03\x03" + bytes(32) + b"\x21" + bytes(40), "tls.bad_session_id"),
        (hello_body([0x1301], [ext(0, b"\x00\x10\x00")]), "tls.bad_extension"),  # SNI list longer than ext
        (hello_body([0x1301], [ext(43, b"\x03\x03\x04\x03")]), "tls.bad_extension"),  # odd version list
        (hello_body([0x1301], [])[:-2] + b"\x00\x05\x00\x00", "tls.bad_extension"),  # block past the end
    ],
)
def test_parse_rejects_malformed_hellos(body: bytes, reason: str) -> None:
    with pytest.raises(DecodeError) as info:
        parse_client_hello(body)
    assert info.value.reason == reason


def test_change_cipher_spec_before_a_second_hello_is_skipped() -> None:
    # TLS 1.3 middlebox compatibility after HelloRetryRequest (seen in zeek tls/hrr.pcap, steam captures)
    stream = b"\x14\x03\x03\x00\x01\x01" + records(spec_hello())
    hello = extract_client_hello(stream)
    assert hello is not None and hello.sni == "example.com"
    assert extract_client_hello(stream[:4]) is None


def test_looks_like_tls_is_cheap_and_strict() -> None:
    assert looks_like_tls(b"\x16\x03\x01\x02\x00\x01")
    assert not looks_like_tls(b"\x16\x03\x01\x02\x00\x02")  # ServerHello
    assert not looks_like_tls(b"\x17\x03\x03\x00\x10\x01")
    assert not looks_like_tls(b"\x16\x03")


# The SSLv2-format CLIENT-HELLO of Zeek's ssl.v3.pcap (a TLS 1.0 client); tshark lists the same 20 specs.
SSLV2_HELLO = bytes.fromhex(
    "8055010301003c0000001000003900003800003500003300003200000400000500002f00001600001300feff00000a0000150000"
    "1200fefe000009000064000062000003000006e6b8efdf91cf44f7eae43c83398fdcb2")


def test_sslv2_client_hello_is_decoded() -> None:
    hello = extract_client_hello(SSLV2_HELLO)
    assert hello is not None and hello.sslv2_format
    assert (hello.legacy_version, hello.versions, hello.sni, hello.alpn, hello.extensions) == (
        0x0301, [0x0301], None, [], [])
    assert hello.ciphers == [0x39, 0x38, 0x35, 0x33, 0x32, 0x04, 0x05, 0x2F, 0x16, 0x13, 0xFEFF, 0x0A, 0x15,
                             0x12, 0xFEFE, 0x09, 0x64, 0x62, 0x03, 0x06]
    # JA3 as Salesforce's Zeek script computes it (cipher specs as numbers, no extensions); no JA4.
    assert hello.ja3 == "769,57-56-53-51-50-4-5-47-22-19-65279-10-21-18-65278-9-100-98-3-6,,,"
    assert hello.ja3_hash == ja3_hash(hello.ja3) and hello.ja4 == ""
    assert fastpath.extract_client_hello(SSLV2_HELLO) == hello
    for cut in range(len(SSLV2_HELLO)):  # waits for the whole record
        assert extract_client_hello(SSLV2_HELLO[:cut]) is None, cut


def test_sslv2_hello_with_ssl2_cipher_specs_and_grease() -> None:
    specs = bytes.fromhex("0700c0" "010080" "000a0a" "00002f")  # SSL2 3DES, SSL2 RC4, a GREASE suite, AES128
    body = struct.pack("!BHHHH", 1, 0x0002, len(specs), 16, 16) + specs + bytes(16) + bytes(range(16))
    hello = extract_client_hello(struct.pack("!H", 0x8000 | len(body)) + body + b"trailing data")
    assert hello is not None and (hello.versions, hello.ciphers) == ([2], [0x0700C0, 0x010080, 0x0A0A, 0x2F])
    assert hello.ja3 == "2,458944-65664-47,,,"


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ((0x0200, 3, 0, 16), "tls.bad_version"),
        ((0x0301, 3, 33, 16), "tls.bad_session_id"),
        ((0x0301, 4, 0, 16), "tls.bad_sslv2_hello"),
        ((0x0301, 0, 0, 16), "tls.bad_sslv2_hello"),
        ((0x0301, 3, 0, 8), "tls.bad_sslv2_hello"),
        ((0x0301, 0x7FF8, 0, 32), "tls.truncated"),  # fields longer than the record
    ],
)
def test_sslv2_hello_with_lying_lengths_is_rejected(fields: tuple[int, int, int, int], reason: str) -> None:
    body = struct.pack("!BHHHH", 1, *fields) + bytes(40)
    with pytest.raises(DecodeError) as info:
        extract_client_hello(struct.pack("!H", 0x8000 | len(body)) + body)
    assert info.value.reason == reason


@settings(max_examples=300, deadline=None)
@given(raw=st.binary(min_size=0, max_size=80), length=st.integers(0, 0x7FFF))
def test_sslv2_hostile_bytes_only_raise_decode_errors(raw: bytes, length: int) -> None:
    stream = struct.pack("!HB", 0x8000 | length, 1) + raw
    try:
        hello = extract_client_hello(stream)
    except DecodeError:
        return
    assert hello is None or hello.sslv2_format
