"""Indicators and the normalisation every loader and the matcher share.

One normal form per kind of value, so "AkamaiContainer.com.", "akamaicontainer[.]com" and the
Unicode and punycode spellings of an IDN all land on the same dictionary key:

- names: lower case, no trailing dot, IDN labels in punycode (UTS #46 via `idna` when installed);
- addresses: `ipaddress` compressed text, IPv4-mapped IPv6 folded to IPv4, CIDRs as networks;
- URLs: scheme and host normalised, path kept as written (matching folds case, see `url_key`);
- JA3 hashes: lower-case md5 hex (a full JA3 string is hashed, as JA3 defines);
- JA4 and other fingerprints: lower case.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
import socket
import time
import unicodedata
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import lru_cache
from operator import attrgetter
from typing import Any
from urllib.parse import unquote

# Kinds of values the matcher looks up on the wire.
NAME_TYPES = frozenset({"domain", "hostname"})
ADDRESS_TYPES = frozenset({"ip", "cidr"})
FINGERPRINT_TYPES = frozenset({"ja3", "ja4"})
NETWORK_TYPES = NAME_TYPES | ADDRESS_TYPES | FINGERPRINT_TYPES | {"url"}
# Kept as data (reported by `intel list`, shown by `intel check`), never matched on the wire.
CONTEXT_TYPES = frozenset({"email", "hash", "user-agent", "ja3s", "ja4s", "jarm", "x509", "http-header"})
KNOWN_TYPES = NETWORK_TYPES | CONTEXT_TYPES

# Type labels found in feeds -> our type. Values still decide when the label lies (Sophos files
# bare domains under "URL"): see `resolve_type`.
TYPE_ALIASES: dict[str, str] = {
    **{k: "domain" for k in ("domain", "domain-name", "domainname", "dns", "fqdn", "zone", "intel::domain")},
    **{k: "hostname" for k in ("hostname", "host", "intel::hostname")},
    **{
        k: "ip"
        for k in (
            "ip",
            "ipv4",
            "ipv6",
            "ip-dst",
            "ip-src",
            "ipv4-addr",
            "ipv6-addr",
            "address",
            "addr",
            "ip-address",
            "ipaddress",
            "intel::addr",
        )
    },
    **{k: "cidr" for k in ("cidr", "subnet", "network", "netblock", "ip-range", "intel::subnet")},
    **{k: "url" for k in ("url", "uri", "link-url", "intel::url")},
    **{
        k: "email"
        for k in (
            "email",
            "e-mail",
            "emailwhois",
            "whois-registrant-email",
            "email-src",
            "email-dst",
            "intel::email",
        )
    },
    **{
        k: "hash"
        for k in (
            "hash",
            "file",
            "md5",
            "sha1",
            "sha256",
            "sha-1",
            "sha-256",
            "sha512",
            "filehash",
            "file-hash",
            "intel::file_hash",
        )
    },
    **{k: "ja3" for k in ("ja3", "ja3-fingerprint-md5", "ja3_hash", "ja3-hash", "intel::ja3")},
    **{k: "ja4" for k in ("ja4", "ja4-fingerprint", "intel::ja4")},
    "ja3s": "ja3s",
    "ja3s-fingerprint-md5": "ja3s",
    "ja4s": "ja4s",
    "jarm": "jarm",
    "jarm-fingerprint": "jarm",
    **{k: "user-agent" for k in ("user-agent", "useragent", "http-user-agent", "ua", "intel::software")},
    "x509-fingerprint-sha1": "x509",
    "intel::cert_hash": "x509",
    "http-header-substring": "http-header",
}
TYPE_ALIASES.update({t: t for t in KNOWN_TYPES})
# Labels that mark a row as metadata about the list, not an indicator (Sophos' first row).
METADATA_LABELS = frozenset(
    {
        "description",
        "comment",
        "comments",
        "reference",
        "references",
        "note",
        "notes",
        "source",
        "title",
        "author",
        "blog",
    }
)

_HEX32 = re.compile(r"[0-9a-f]{32}")
_HEX_HASH = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}|[0-9a-f]{128}")
_JA4 = re.compile(r"[tqd][0-9s]{2}[di][0-9]{4}[a-z0-9]{2}_[0-9a-f]{12}_[0-9a-f]{12}")
_EMAIL = re.compile(r"[^@\s/]+@[^@\s/]+\.[^@\s/]+")
_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*://", re.IGNORECASE)
# A host name as it may appear in intel: letters, digits, '-', '_', '*', IDN; at least one dot.
_NAME_CHARS = re.compile(r"^(\*\.)?[^\s/\\:@?#\[\]()<>'\",;]+$")
_V4_MAPPED = b"\x00" * 10 + b"\xff\xff"
# Full stops other than '.' that UTS #46 maps to '.'.
_DOTS = str.maketrans({"\u3002": ".", "\uff0e": ".", "\uff61": "."})


class BadValue(ValueError):
    """A value that cannot be an indicator of the claimed type (loaders turn it into a problem)."""


# ---------------------------------------------------------------- refanging

_REFANG_RULES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"^h(?:xx|\*\*|XX)p(s?)", re.IGNORECASE), r"http\1"),
    (re.compile(r"^fxp", re.IGNORECASE), "ftp"),
    (re.compile(r"\[\s*:\s*//\s*\]|\[://\]"), "://"),
    (re.compile(r"\[\s*:\s*\]|\(\s*:\s*\)"), ":"),
    (re.compile(r"\[\s*(?:\.|dot)\s*\]|\(\s*(?:\.|dot)\s*\)|\{\s*(?:\.|dot)\s*\}", re.IGNORECASE), "."),
    (re.compile(r"\[\s*(?:@|at)\s*\]|\(\s*(?:@|at)\s*\)", re.IGNORECASE), "@"),
    (re.compile(r"\[/\]"), "/"),
]


_DEFANG_HINT = re.compile(r"[\[({`+]|^(?:h(?:xx|\*\*)p|fxp)", re.IGNORECASE)


def refang(text: str) -> str:
    """Undo the usual defanging (`[.]`, `(.)`, `[dot]`, `hxxp`, `[:]`, `[@]`) and AsciiDoc quoting."""
    text = text.strip()
    if not _DEFANG_HINT.search(text):  # the common case on million-line feeds: nothing to undo
        return text
    text = text.strip("`").strip()
    if len(text) > 2 and text[0] == "+" and text[-1] == "+":  # AsciiDoc passthrough `+...+`
        text = text[1:-1]
    if "[" in text or "(" in text or "{" in text or "x" in text[:4].lower():
        for pattern, repl in _REFANG_RULES:
            text = pattern.sub(repl, text)
    return text


# ---------------------------------------------------------------- names


@lru_cache(maxsize=1)
def _idna_module() -> Any:
    """IDNA 2008 + UTS #46 mapping, as browsers and resolvers use today; imported for the first
    non-ASCII label (most runs meet none)."""
    try:
        import idna
    except ImportError:  # pragma: no cover - exercised only without the optional dependency
        return None
    return idna


def _label_to_ascii(label: str) -> str:
    _idna = _idna_module()
    if _idna is not None:
        try:
            return _idna.encode(label, uts46=True).decode("ascii")
        except (_idna.IDNAError, UnicodeError, ValueError):
            pass
    # Fallback (no idna, or a label IDNA 2008 refuses, e.g. symbols): NFKC + case fold + punycode.
    folded = unicodedata.normalize("NFKC", label).casefold()
    if folded.isascii():
        return folded
    return "xn--" + folded.encode("punycode").decode("ascii")


def normalize_name(name: str) -> str:
    """Canonical DNS name: lower case, no trailing dot, punycode labels. Never raises on wire input."""
    if name.isascii():
        name = name.lower()
    else:
        name = name.translate(_DOTS)
        name = ".".join(
            _label_to_ascii(label) if not label.isascii() else label.lower() for label in name.split(".")
        )
    if name.endswith("."):
        name = name.rstrip(".")
    return name


def parse_name(text: str) -> tuple[str, bool]:
    """An intel name -> (normal form without `*.`, had_wildcard). Raises BadValue."""
    text = text.strip()
    wildcard = text.startswith("*.")
    if wildcard:
        text = text[2:]
    if text.startswith("."):  # ".example.com", a common "and subdomains" spelling
        text = text[1:]
        wildcard = True
    if not text or not _NAME_CHARS.match(text) or "*" in text:
        raise BadValue(f"not a domain name: {text!r}")
    name = normalize_name(text)
    if not name or ".." in name or len(name) > 253 or name.rpartition(".")[2].isdigit():
        # An all-numeric last label is a mistyped address (999.1.1.1), never a host name (RFC 3696 2).
        raise BadValue(f"not a domain name: {text!r}")
    return name, wildcard


# ---------------------------------------------------------------- addresses


def parse_address(text: str) -> tuple[str, str]:
    """An address or CIDR -> (type "ip" | "cidr", normal text). Raises BadValue."""
    text = text.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    try:
        if "/" in text:
            net = ipaddress.ip_network(text, strict=False)
            if (
                isinstance(net, ipaddress.IPv6Network)
                and net.network_address.ipv4_mapped
                and net.prefixlen >= 96
            ):
                net = ipaddress.IPv4Network((net.network_address.ipv4_mapped, net.prefixlen - 96))
            if net.num_addresses == 1:
                return "ip", str(net.network_address)
            return "cidr", str(net)
        ip = ipaddress.ip_address(text)
    except ValueError as exc:
        raise BadValue(f"not an IP address or CIDR: {text!r}") from exc
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return "ip", str(ip)


def looks_like_address(text: str) -> bool:
    try:
        parse_address(text)
    except BadValue:
        return False
    return True


# ---------------------------------------------------------------- URLs


@dataclass(frozen=True, slots=True)
class UrlKey:
    """What a URL indicator matches: host (name or address, normalised) and a path prefix (case folded)."""

    host: str
    path: str


def _split_url(text: str) -> tuple[str, str, str]:
    """-> (scheme or "", authority, path+query). Tolerates a missing scheme."""
    scheme = ""
    m = _SCHEME.match(text)
    if m:
        scheme = m.group(0)[:-3].lower()
        text = text[m.end() :]
    slash = min((i for i in (text.find("/"), text.find("?"), text.find("#")) if i >= 0), default=len(text))
    return scheme, text[:slash], text[slash:]


def _host_of(authority: str) -> str:
    authority = authority.rpartition("@")[2]  # drop userinfo
    if authority.startswith("["):
        return authority[1 : authority.find("]")] if "]" in authority else authority[1:]
    if authority.count(":") == 1:
        authority = authority.partition(":")[0]
    return authority


def normalize_path(path: str) -> str:
    """Path for prefix comparison: fragment dropped, percent-decoded, case folded, '/' if empty."""
    path = path.partition("#")[0]
    if "%" in path:
        path = unquote(path)
    if not path.startswith("/"):
        path = "/" + path
    return path.lower()


def normalize_host(host: str) -> str:
    """A host from a URL, Host header or SNI: address text if it is an address, else a normal name."""
    host = host.strip()
    if host.startswith("[") and "]" in host:
        host = host[1 : host.find("]")]
    elif host.count(":") == 1:
        host = host.partition(":")[0]
    if host and (host[0].isdigit() or ":" in host):
        try:
            return parse_address(host)[1]
        except BadValue:
            pass
    return normalize_name(host)


def parse_url(text: str) -> tuple[str, UrlKey]:
    """A URL indicator -> (normal text, match key). Raises BadValue."""
    text = text.strip()
    scheme, authority, rest = _split_url(text)
    host_text = _host_of(authority)
    if not host_text:
        raise BadValue(f"URL without a host: {text!r}")
    fast = fast_classify(host_text)
    if fast is not None and fast[0] == "domain" and not host_text.startswith("*"):
        host = display_host = fast[1]
    else:
        try:
            host_type, host = parse_address(host_text)
            if host_type != "ip":
                raise BadValue(f"URL host is a network: {text!r}")
            display_host = f"[{host}]" if ":" in host else host
        except BadValue:
            host, _ = parse_name(host_text)
            display_host = host
    port = ""
    tail = authority.rpartition("@")[2]
    if tail.startswith("["):
        tail = tail[tail.find("]") + 1 :]
    if tail.count(":") == 1:
        port = tail.partition(":")[2]
        if (scheme, port) in (("http", "80"), ("https", "443")) or not port:
            port = ""
        elif not port.isdigit():
            raise BadValue(f"bad port in URL: {text!r}")
    rest = rest.partition("#")[0]
    normal = f"{scheme + '://' if scheme else ''}{display_host}{':' + port if port else ''}{rest}"
    return normal, UrlKey(host, normalize_path(rest))


def path_has_prefix(path: str, prefix: str) -> bool:
    """Prefix match on a segment boundary: '/exchange' matches '/exchange', '/exchange/x', '/exchange?a'."""
    if not path.startswith(prefix):
        return False
    if len(path) == len(prefix) or prefix.endswith("/") or prefix == "/":
        return True
    return path[len(prefix)] in "/?;&"


# ---------------------------------------------------------------- fingerprints


def normalize_fingerprint(kind: str, text: str) -> str:
    text = text.strip().lower()
    if kind in ("ja3", "ja3s"):
        if _HEX32.fullmatch(text):
            return text
        if re.fullmatch(r"[0-9,\-]+", text) and text.count(",") == 4:  # full JA3 string: JA3 is its md5
            return hashlib.md5(text.encode()).hexdigest()
        raise BadValue(f"not a JA3 hash or string: {text!r}")
    if not text or any(c.isspace() for c in text):
        raise BadValue(f"not a {kind} fingerprint: {text!r}")
    return text


# ---------------------------------------------------------------- type inference


def infer_type(value: str) -> str | None:
    """Guess the type of a (refanged) value; None when nothing fits."""
    v = value.strip()
    if not v:
        return None
    low = v.lower()
    if _SCHEME.match(v):
        return "url"
    if looks_like_address(v):
        return parse_address(v)[0]
    if _EMAIL.fullmatch(v):
        return "email"
    if _JA4.fullmatch(low):
        return "ja4"
    if _HEX32.fullmatch(low) or _HEX_HASH.fullmatch(low):
        return "hash"  # a bare md5 is far more often a file hash than a JA3; a label can say otherwise
    if "/" in v:
        head = v.partition("/")[0]
        try:
            parse_name(head)
            return "url"
        except BadValue:
            if looks_like_address(head) or looks_like_address(v.partition("/")[0].partition(":")[0]):
                return "url"
            return None
    try:
        parse_name(v)
    except BadValue:
        return None
    return "domain" if "." in v else None


def resolve_type(label: str | None, value: str) -> str | None:
    """Type from a feed's label and the value. The value wins for names/addresses/URLs, since feeds mislabel
    them; the label decides for what a value cannot show (hash vs JA3, hostname vs domain)."""
    labelled = TYPE_ALIASES.get(label.strip().lower()) if label else None
    inferred = infer_type(value)
    if labelled is None:
        return inferred
    if labelled == "ja3" and inferred in ("hash", None):
        return "ja3"
    if labelled in ("ja3s", "jarm", "x509", "hash", "user-agent", "http-header", "email", "ja4", "ja4s"):
        return labelled
    if labelled == "hostname" and inferred == "domain":
        return "hostname"
    if labelled == "cidr" and inferred == "ip":
        return "ip"
    return inferred or labelled


def normalize_value(type_: str, raw: str) -> tuple[str, str]:
    """(type, raw value) -> (type, normal value); the type may be refined (ip -> cidr). Raises BadValue."""
    raw = raw.strip()
    if not raw:
        raise BadValue("empty value")
    if type_ in NAME_TYPES:
        name, wildcard = parse_name(raw)
        return type_, name
    if type_ in ADDRESS_TYPES:
        return parse_address(raw)
    if type_ == "url":
        return "url", parse_url(raw)[0]
    if type_ in ("ja3", "ja3s", "ja4", "ja4s", "jarm"):
        return type_, normalize_fingerprint(type_, raw)
    if type_ == "email":
        if not _EMAIL.fullmatch(raw):
            raise BadValue(f"not an e-mail address: {raw!r}")
        return "email", raw.lower()
    if type_ == "hash":
        low = raw.lower()
        if not (_HEX32.fullmatch(low) or _HEX_HASH.fullmatch(low)):
            raise BadValue(f"not a hex hash: {raw!r}")
        return "hash", low
    if type_ in KNOWN_TYPES:
        return type_, raw
    raise BadValue(f"unknown indicator type {type_!r}")


# ---------------------------------------------------------------- dates


def parse_time(value: object) -> float | None:
    """ISO 8601 date/time, a date, or epoch seconds -> epoch seconds (UTC). Raises BadValue."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise BadValue(f"not a time: {value!r}")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC).timestamp()
    text = str(value).strip()
    if text.isdigit():
        return float(text)
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError as exc:
        raise BadValue(f"not a date: {text!r}") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def format_time(ts: float | None) -> str | None:
    if ts is None:
        return None
    dt = datetime.fromtimestamp(ts, tz=UTC)
    if dt.hour == dt.minute == dt.second == dt.microsecond == 0:
        return dt.date().isoformat()
    return dt.isoformat().replace("+00:00", "Z")


# ---------------------------------------------------------------- the indicator


@dataclass(slots=True, eq=False)
class Indicator:
    """One piece of intel. `value` is normalised; `raw` keeps what the feed said when it differs."""

    value: str
    type: str
    pack: str
    confidence: str | int | None = None
    first_reported: str | None = None
    valid_from: float | None = None
    valid_until: float | None = None
    benign: bool = False
    stage: str | None = None
    sources: tuple[str, ...] = ()
    notes: str | None = None
    tags: tuple[str, ...] = ()
    raw: str | None = None
    source_path: str | None = None  # the file it came from (shared string) ...
    line: int | None = None  # ... and the line, for "path:line" in messages
    url_key: UrlKey | None = None  # (host, path prefix) of a URL indicator, parsed once
    extra: dict[str, object] | None = None  # format-specific leftovers (STIX id, MISP uuid, resolves ...)

    def add_extra(self, **items: object) -> None:
        if self.extra is None:
            self.extra = {}
        self.extra.update(items)

    @property
    def origin(self) -> str | None:
        if self.source_path is None:
            return None
        return f"{self.source_path}:{self.line}" if self.line is not None else self.source_path

    @property
    def matchable(self) -> bool:
        return self.type in NETWORK_TYPES

    def expired_at(self, ts: float | None = None) -> bool:
        """True when `ts` (default: now) is past valid_until."""
        if self.valid_until is None:
            return False
        return (time.time() if ts is None else ts) > self.valid_until

    def describe(self) -> str:
        bits = [f"{self.type} {self.value}", f"pack {self.pack}"]
        if self.confidence is not None:
            bits.append(f"confidence {self.confidence}")
        if self.benign:
            bits.append("benign (context only)")
        if self.stage:
            bits.append(f"stage {self.stage}")
        if self.valid_until is not None:
            bits.append(f"valid until {format_time(self.valid_until)}")
        return ", ".join(bits)


_FAST_LABELS = frozenset({None, "domain", "hostname", "ip", "cidr", "url"})
_PLAIN_NAME = re.compile(r"(?:\*\.)?[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)+\.?")


def fast_classify(value: str) -> tuple[str, str] | None:
    """(type, normal) for a plain ASCII name or a single address; None sends the value to the full parser."""
    if value[:1].isdigit() or ":" in value:
        addr, slash, plen = value.partition("/")
        packed = b""
        if not addr.strip("0123456789."):  # only then can it be IPv4 (exceptions are costly)
            try:  # noqa: SIM105 - contextlib.suppress costs more than the parse on million-line feeds
                packed = socket.inet_pton(socket.AF_INET, addr)
            except OSError:
                pass
        if packed and not slash:
            return "ip", addr  # inet_pton accepts only canonical dotted quads: already normal
        if packed and plen.isdigit() and int(plen) <= 32:
            bits = int(plen)
            net = int.from_bytes(packed, "big") & (((1 << 32) - 1) ^ ((1 << (32 - bits)) - 1))
            text = socket.inet_ntop(socket.AF_INET, net.to_bytes(4, "big"))
            return ("ip", text) if bits == 32 else ("cidr", f"{text}/{bits}")
        if ":" in value and "." not in value and "/" not in value and "%" not in value:
            try:
                packed = socket.inet_pton(socket.AF_INET6, value)
            except (OSError, ValueError):
                return None
            return None if packed[:12] == _V4_MAPPED else ("ip", socket.inet_ntop(socket.AF_INET6, packed))
    if _PLAIN_NAME.fullmatch(value):
        name = value.lower().rstrip(".")
        if name.startswith("*."):
            name = name[2:]
        if len(name) > 253 or name.rpartition(".")[2].isdigit():
            return None
        return "domain", name
    return None


def make_indicator(
    raw_value: str,
    type_: str | None,
    pack: str,
    *,
    refang_value: bool = True,
    **fields: Any,
) -> Indicator:
    """Build an Indicator from a feed value and label (type resolved from both). Raises BadValue."""
    value = refang(raw_value) if refang_value else raw_value.strip()
    labelled = TYPE_ALIASES.get(type_.strip().lower()) if type_ else None
    if labelled in _FAST_LABELS:
        fast = fast_classify(value)
        if fast is not None:  # plain names and addresses: one cheap pass (1 M-line feeds)
            fast_type = "hostname" if labelled == "hostname" and fast[0] == "domain" else fast[0]
            return Indicator(
                value=fast[1],
                type=fast_type,
                pack=pack,
                raw=raw_value if raw_value != fast[1] else None,
                **fields,
            )
    resolved = resolve_type(type_, value)
    if resolved is None:
        raise BadValue(
            f"cannot tell what kind of indicator {value!r} is" + (f" (label {type_!r})" if type_ else "")
        )
    final_type, normal = normalize_value(resolved, value)
    ind = Indicator(
        value=normal, type=final_type, pack=pack, raw=raw_value if raw_value != normal else None, **fields
    )
    if final_type == "url":
        ind.url_key = parse_url(normal)[1]
    return ind


def type_counts(indicators: Iterable[Indicator]) -> dict[str, int]:
    return dict(sorted(Counter(map(attrgetter("type"), indicators)).items()))
