"""HTTP/1.x request line and the headers that identify a client: Host and User-Agent.

Plaintext C2 and proxies (CONNECT host:port) show up here. Lines may end in CRLF or bare LF; at most
MAX_HEADER_BYTES of the stream are scanned, so an endless header block costs a bounded amount of work.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from netdetect.decode.errors import DecodeError, safe_text

MAX_HEADER_BYTES = 16 * 1024
MAX_TEXT = 2048  # characters of URI / header value kept

METHODS = (
    b"GET", b"POST", b"HEAD", b"PUT", b"DELETE", b"OPTIONS", b"CONNECT", b"TRACE", b"PATCH",
    b"PROPFIND", b"PROPPATCH", b"MKCOL", b"COPY", b"MOVE", b"LOCK", b"UNLOCK", b"SEARCH", b"REPORT",
    b"MKACTIVITY", b"CHECKOUT", b"MERGE", b"NOTIFY", b"SUBSCRIBE", b"UNSUBSCRIBE", b"M-SEARCH",
    b"PURGE", b"LINK", b"UNLINK", b"BPROPFIND", b"SSTP_DUPLEX_POST", b"RPC_IN_DATA", b"RPC_OUT_DATA",
)  # fmt: skip
METHOD_PREFIXES = tuple(m + b" " for m in METHODS)
_VERSION = re.compile(rb"HTTP/\d(?:\.\d)?")


@dataclass(slots=True)
class HttpRequest:
    method: str
    uri: str  # request-target as sent (origin, absolute, authority or asterisk form), escaped
    version: str  # "HTTP/1.1"
    host: str | None  # Host header value, escaped; None if absent
    user_agent: str | None
    headers_complete: bool = True  # False: the header block was cut (stream prefix ends or cap reached)


def looks_like_http(prefix: bytes) -> bool:
    """The stream starts with a known request method followed by a space."""
    return bytes(prefix[:20]).startswith(METHOD_PREFIXES)


def _split_request_line(line: bytes) -> tuple[bytes, bytes, bytes]:
    """METHOD SP target SP version; the target may hold raw spaces (malware does that), HTTP/0.9 has no
    version."""
    method, _, rest = line.partition(b" ")
    rest = rest.strip(b" ")
    cut = rest.rfind(b" ")
    if cut >= 0 and _VERSION.fullmatch(rest[cut + 1 :]):
        uri, version = rest[:cut].strip(b" "), rest[cut + 1 :]
    elif cut < 0 and not rest.startswith(b"HTTP/"):
        uri, version = rest, b"HTTP/0.9"
    else:
        raise DecodeError("http.bad_request_line", "no HTTP version")
    if not uri:
        raise DecodeError("http.bad_request_line", "empty request-target")
    return method, uri, version


def parse_http_request(stream: bytes) -> HttpRequest | None:
    """The first request of a client->server stream; None if it is not HTTP or the request line is not
    complete yet. Raises DecodeError for a malformed request line."""
    if not looks_like_http(stream):
        return None
    window = bytes(stream[:MAX_HEADER_BYTES])
    line_end = window.find(b"\n")
    if line_end < 0:
        if len(window) >= MAX_HEADER_BYTES:
            raise DecodeError("http.line_too_long")
        return None
    method, uri, version = _split_request_line(window[:line_end].rstrip(b"\r"))
    request = HttpRequest(
        method=method.decode("ascii"),
        uri=safe_text(uri, limit=MAX_TEXT),
        version=version.decode("ascii"),
        host=None,
        user_agent=None,
        headers_complete=False,
    )
    pos = line_end + 1
    last: str | None = None
    while True:
        nl = window.find(b"\n", pos)
        if nl < 0:
            break  # header block cut: keep what was read, flag it
        line = window[pos:nl].rstrip(b"\r")
        pos = nl + 1
        if not line:
            request.headers_complete = True
            break
        if line[:1] in (b" ", b"\t"):  # obsolete line folding continues the previous value
            if last == "host" and request.host is not None:
                request.host = (request.host + " " + safe_text(line.strip(), MAX_TEXT)).strip()[:MAX_TEXT]
            elif last == "user-agent" and request.user_agent is not None:
                request.user_agent = (request.user_agent + " " + safe_text(line.strip(), MAX_TEXT))[:MAX_TEXT]
            continue
        name, sep, value = line.partition(b":")
        if not sep:
            last = None
            continue  # not a header line; tolerated like most servers do
        key = name.strip().lower()
        last = key.decode("latin-1")
        if key == b"host" and request.host is None:
            request.host = safe_text(value.strip(), MAX_TEXT)
        elif key == b"user-agent" and request.user_agent is None:
            request.user_agent = safe_text(value.strip(), MAX_TEXT)
    return request
