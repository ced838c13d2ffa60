"""HTTP/1.x request decoder: request line, Host, User-Agent, bare LF, CONNECT, caps, hostile bytes."""

from __future__ import annotations

import pytest

from netdetect.decode.errors import DecodeError
from netdetect.decode.http import MAX_HEADER_BYTES, looks_like_http, parse_http_request


def test_get_with_host_and_user_agent() -> None:
    req = parse_http_request(
        b"GET /beacon?id=42 HTTP/1.1\r\nhOsT: c2.example.net:8080\r\nUser-Agent:  Mozilla/5.0 (X11)\r\n"
        b"Accept: */*\r\n\r\nbody"
    )
    assert req is not None
    assert (req.method, req.uri, req.version) == ("GET", "/beacon?id=42", "HTTP/1.1")
    assert req.host == "c2.example.net:8080"
    assert req.user_agent == "Mozilla/5.0 (X11)"
    assert req.headers_complete


def test_connect_through_a_proxy() -> None:
    req = parse_http_request(b"CONNECT login.example.com:443 HTTP/1.1\r\nHost: login.example.com:443\r\n\r\n")
    assert req is not None and req.method == "CONNECT" and req.uri == "login.example.com:443"


def test_bare_lf_and_first_header_wins() -> None:
    req = parse_http_request(b"POST /submit HTTP/1.0\nHost: a.example\nHost: b.example\nUser-Agent: x\n\n")
    assert req is not None and req.host == "a.example" and req.user_agent == "x" and req.version == "HTTP/1.0"


def test_missing_headers_are_none() -> None:
    req = parse_http_request(b"GET / HTTP/1.1\r\n\r\n")
    assert req is not None and req.host is None and req.user_agent is None


def test_header_block_cut_short_is_flagged() -> None:
    req = parse_http_request(b"GET /x HTTP/1.1\r\nHost: h.example\r\nUser-Ag")
    assert req is not None and req.host == "h.example" and req.user_agent is None
    assert not req.headers_complete


def test_request_line_not_complete_yet() -> None:
    assert parse_http_request(b"GET /very/long/path") is None


def test_not_http() -> None:
    assert parse_http_request(b"\x16\x03\x01\x02\x00\x01") is None
    assert parse_http_request(b"SSH-2.0-OpenSSH_9.6\r\n") is None
    assert parse_http_request(b"get / HTTP/1.1\r\n\r\n") is None  # methods are case-sensitive
    assert not looks_like_http(b"GETX / HTTP/1.1")
    assert looks_like_http(b"OPTIONS * HTTP/1.1\r\n")


def test_raw_spaces_in_target_and_http09() -> None:
    req = parse_http_request(b"GET /a b c HTTP/1.1\r\n\r\n")
    assert req is not None and req.uri == "/a b c"
    req = parse_http_request(b"GET /old\r\n")
    assert req is not None and req.version == "HTTP/0.9" and req.uri == "/old"


def test_hostile_bytes_are_escaped() -> None:
    req = parse_http_request(
        b"GET /\x1b[2J HTTP/1.1\r\nHost: ev\xffil\x00\r\nUser-Agent: a\x1b]0;pwn\x07\r\n\r\n"
    )
    assert req is not None
    assert req.uri == "/\\x1b[2J"
    assert req.host == "ev\\xffil\\x00"
    assert req.user_agent == "a\\x1b]0;pwn\\x07"


def test_folded_user_agent() -> None:
    req = parse_http_request(b"GET / HTTP/1.1\r\nUser-Agent: part1\r\n part2\r\n\r\n")
    assert req is not None and req.user_agent == "part1 part2"


@pytest.mark.parametrize("stream", [b"GET  HTTP/1.1\r\n\r\n", b"GET /a HTTPX\r\n\r\n"])
def test_malformed_request_line(stream: bytes) -> None:
    with pytest.raises(DecodeError) as info:
        parse_http_request(stream)
    assert info.value.reason == "http.bad_request_line"


def test_endless_request_line_and_headers_are_capped() -> None:
    with pytest.raises(DecodeError) as info:
        parse_http_request(b"GET /" + b"a" * (MAX_HEADER_BYTES + 10))
    assert info.value.reason == "http.line_too_long"
    req = parse_http_request(
        b"GET / HTTP/1.1\r\n" + b"X-Pad: aaaaaaaa\r\n" * 5000 + b"Host: late.example\r\n\r\n"
    )
    assert req is not None and req.host is None and not req.headers_complete
