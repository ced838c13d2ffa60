"""`--engine tshark`: DNS, TLS/QUIC ClientHello and HTTP request events taken from tshark.

A second opinion on the native decoders, with the dissectors analysts already trust. One
`tshark -T ek -e FIELD...` run per capture (binary found through pyshark's tshark discovery)
prints one JSON line per interesting frame; this module turns those lines into the same
`DnsEvent` / `TlsEvent` / `HttpEvent` objects the native extractor builds. pyshark's own
per-packet objects were measured 2.5x slower on the same frames (docs/engines.md), so only its
discovery and version check are used. The connection table still comes from the native bulk
decoder: tshark replaces the events only.

`-e` output flattens each field over the whole frame, so a frame holding several DNS messages
(DNS over TCP) or several records is split back using the per-message counts and per-record
lengths tshark also prints.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache
from typing import IO, Any

from netdetect.decode.dns import SVC_PARAM_KEYS, qtype_text
from netdetect.decode.errors import safe_text
from netdetect.decode.extract import DNS_PORTS
from netdetect.decode.fingerprint import is_grease
from netdetect.errors import CaptureError, NetdetectError
from netdetect.model import DnsAnswer, DnsEvent, HttpEvent, TlsEvent
from netdetect.pipeline import extract_files
from netdetect.tables.extraction import Extraction

TSHARK_MISSING = (
    "--engine tshark needs tshark (apt install tshark) and pyshark (pip install 'netdetect[tshark]')"
)

# Frames worth a JSON line. ICMP errors quote the packet that caused them; tshark dissects the
# quoted DNS, the native decoder does not, and neither is an event.
DISPLAY_FILTER = (
    "(dns or mdns or llmnr or tls.handshake.type == 1 or http.request) and not icmp and not icmpv6"
)

FRAME_FIELDS = (
    "frame.time_epoch", "frame.protocols", "_ws.malformed",
    "ip.src", "ip.dst", "ipv6.src", "ipv6.dst", "tcp.srcport", "tcp.dstport", "udp.srcport", "udp.dstport",
)  # fmt: skip
DNS_FIELDS = (
    "dns.id", "dns.flags.response", "dns.flags.rcode",
    "dns.count.queries", "dns.count.answers", "dns.count.auth_rr", "dns.count.add_rr",
    "dns.qry.name", "dns.qry.type",
    "dns.resp.name", "dns.resp.type", "dns.resp.ttl", "dns.resp.len",
    "dns.a", "dns.aaaa", "dns.cname", "dns.ns", "dns.ptr.domain_name",
    "dns.svcb.svcpriority", "dns.svcb.targetname", "dns.svcb.svcparam.key", "dns.svcb.svcparam.value.length",
    "dns.svcb.svcparam.value", "dns.svcb.svcparam.alpn", "dns.svcb.svcparam.alpn.length",
    "dns.svcb.svcparam.port", "dns.svcb.svcparam.ipv4hint.ip", "dns.svcb.svcparam.ipv6hint.ip",
    "dns.svcb.svcparam.mandatory.key",
)  # fmt: skip
TLS_FIELDS = (
    "tls.handshake.type", "tls.handshake.extensions_server_name", "tls.handshake.extensions_alpn_str",
    "tls.handshake.extensions.supported_version", "tls.handshake.extension.type",
)  # fmt: skip
# Present only in some tshark versions: JA3 since 3.6 (tshark's own), JA4 since 4.2.
OPTIONAL_FIELDS = ("tls.handshake.ja3_full", "tls.handshake.ja3", "tls.handshake.ja4")
HTTP_FIELDS = ("http.request.method", "http.request.uri", "http.host", "http.user_agent")

EXT_ECH = 0xFE0D
# SvcParam keys whose value tshark 4.x decodes into its own fields; others come as raw bytes.
_TSHARK_SVC_KEYS = frozenset({0, 1, 2, 3, 4, 5, 6, 32769})
# Event-decoder error counters of the native extractor; they describe events this engine replaces.
_NATIVE_EVENT_ERRORS = ("dns.", "tls.", "quic.", "http.", "tcp.streams_shed", "tcp.early_shed")
MAX_QUIC_SEEN = 100_000
MAX_HTTP_TEXT = 2048  # as netdetect.decode.http


class TsharkUnavailable(NetdetectError):
    """tshark or pyshark is not installed (or tshark does not run)."""


@dataclass(frozen=True)
class Tshark:
    path: str
    version: str
    fields: tuple[str, ...]  # the -e fields this binary knows, in request order

    def has(self, name: str) -> bool:
        return name in self.fields


@lru_cache(maxsize=1)
def find_tshark() -> Tshark:
    """The tshark binary pyshark would use, its version, and which optional fields it knows."""
    try:
        from pyshark.tshark import tshark as pyshark_tshark
    except ImportError as exc:
        raise TsharkUnavailable(TSHARK_MISSING) from exc
    try:
        path = pyshark_tshark.get_process_path()
        version = str(pyshark_tshark.get_tshark_version(path))
        known = subprocess.run([path, "-G", "fields"], capture_output=True, check=True, timeout=60).stdout
    except (pyshark_tshark.TSharkNotFoundException, OSError, subprocess.SubprocessError) as exc:
        raise TsharkUnavailable(TSHARK_MISSING) from exc
    names = {line.split(b"\t")[2].decode() for line in known.splitlines() if line.count(b"\t") >= 2}
    wanted = FRAME_FIELDS + DNS_FIELDS + TLS_FIELDS + OPTIONAL_FIELDS + HTTP_FIELDS
    return Tshark(path, version, tuple(f for f in wanted if f in names or f.startswith("_ws.")))


# ------------------------------------------------------------------------------------------ one frame


class Frame:
    """One ek line: field name -> list of text values in tree order (outer layers first)."""

    __slots__ = ("layers", "protocols")

    def __init__(self, layers: dict[str, list[str]]) -> None:
        self.layers = layers
        self.protocols = (layers.get("frame_protocols") or [""])[0].split(":")

    def all(self, name: str) -> list[str]:
        value = self.layers.get(name.replace(".", "_"))
        if value is None:
            return []
        return value if isinstance(value, list) else [value]

    def first(self, name: str) -> str | None:
        values = self.all(name)
        return values[0] if values else None

    def last(self, name: str) -> str | None:
        values = self.all(name)
        return values[-1] if values else None

    def innermost(self, *protocols: str) -> str | None:
        """Which of `protocols` is nested deepest (tunnels: VXLAN, GRE, Teredo, 6in4)."""
        for proto in reversed(self.protocols):
            if proto in protocols:
                return proto
        return None

    def ends(self) -> tuple[str, str, int, int, str] | None:
        """Source, destination, ports and transport of the innermost IP packet."""
        family = self.innermost("ip", "ipv6")
        transport = self.innermost("tcp", "udp")
        if family is None or transport is None:
            return None
        src, dst = self.last(f"{family}.src"), self.last(f"{family}.dst")
        sport, dport = self.last(f"{transport}.srcport"), self.last(f"{transport}.dstport")
        if src is None or dst is None or sport is None or dport is None:
            return None
        return src, dst, int(sport), int(dport), transport


def _int(text: str | None, default: int = 0) -> int:
    if text is None:
        return default
    try:
        return int(text, 0)
    except ValueError:
        return default


def _flag(text: str | None) -> bool:
    return text in ("1", "True", "true")


def dns_name(text: str) -> str:
    """tshark's rendering of a DNS name -> the native form: lower-case, root "", bytes escaped as \\DDD.

    tshark already writes control bytes as \\DDD; it keeps spaces and shows non-ASCII bytes as
    U+FFFD, whose original byte is lost (escaped here as its UTF-8 bytes so the text stays plain).
    """
    if text in ("<Root>", "."):
        return ""
    if text.isascii() and text.isprintable() and " " not in text:
        return text.lower()
    out = []
    for ch in text:
        if ch.isascii() and ch.isprintable() and ch != " ":
            out.append(ch.lower())
        else:
            out.extend(f"\\{b:03d}" for b in ch.encode("utf-8"))
    return "".join(out)


def wire_text(text: str, limit: int = 1024) -> str:
    """Attacker-chosen text (SNI, ALPN, HTTP headers) as the native decoders show it."""
    return safe_text(text.encode("utf-8", "surrogateescape"), limit)


# ------------------------------------------------------------------------------------------ DNS


DNS_SECTION_COUNTS = ("queries", "answers", "auth_rr", "add_rr")  # UPDATE's sections have other names


class _Cursor:
    """Reads one flattened field list in order, record by record."""

    __slots__ = ("values", "pos")

    def __init__(self, values: list[str]) -> None:
        self.values = values
        self.pos = 0

    def take(self) -> str | None:
        if self.pos >= len(self.values):
            return None
        self.pos += 1
        return self.values[self.pos - 1]

    def take_many(self, n: int) -> list[str]:
        out = self.values[self.pos : self.pos + max(n, 0)]
        self.pos += len(out)
        return out


@dataclass(slots=True)
class DnsFields:
    txid: int
    is_response: bool
    rcode: int
    qdcount: int  # from the header; more than len(questions) when the question section was cut
    questions: list[tuple[str, str]]
    answers: list[DnsAnswer]


class DnsFrameReader:
    """Splits a frame's flattened DNS fields back into messages and records."""

    def __init__(self, frame: Frame) -> None:
        self.frame = frame
        self.cur = {name: _Cursor(frame.all(name)) for name in DNS_FIELDS}

    def take(self, name: str) -> str | None:
        return self.cur[name].take()

    def messages(self) -> Iterator[DnsFields]:
        """The DNS messages of the frame, in order."""
        ids = self.frame.all("dns.id")
        many = len(ids) > 1
        for _ in range(max(len(ids), 1) if self.frame.all("dns.qry.name") or ids else 0):
            txid = _int(self.take("dns.id"))
            response = _flag(self.take("dns.flags.response"))
            rcode = _int(self.take("dns.flags.rcode"))
            counts = [_int(self.take(f"dns.count.{c}"), -1) for c in DNS_SECTION_COUNTS]
            nq = counts[0] if many and counts[0] >= 0 else len(self.frame.all("dns.qry.name"))
            names = self.cur["dns.qry.name"].take_many(nq)
            types = self.cur["dns.qry.type"].take_many(len(names))
            questions = [(dns_name(n), qtype_text(_int(t))) for n, t in zip(names, types, strict=False)]
            records = len(self.frame.all("dns.resp.type"))
            if many and min(counts[1:]) >= 0:
                records = sum(counts[1:])
            answers = [a for i in range(records) if (a := self._record()) is not None and i < counts[1]]
            yield DnsFields(txid, response, rcode, counts[0], questions, answers)

    def _record(self) -> DnsAnswer | None:
        """One resource record; the value fields it owns are consumed whether or not it is an answer."""
        owner = self.take("dns.resp.name")
        rtype_text = self.take("dns.resp.type")
        if owner is None or rtype_text is None:
            return None
        rtype = _int(rtype_text)
        rdlen = _int(self.take("dns.resp.len"))
        if rtype == 41:  # OPT: no TTL field, never an answer
            return None
        ttl = _int(self.take("dns.resp.ttl"))
        value = self._rdata(rtype, rdlen)
        if value is None:
            return None
        return DnsAnswer(dns_name(owner), qtype_text(rtype), value, ttl)

    def _rdata(self, rtype: int, rdlen: int) -> str | None:
        if rtype == 1:
            return self.take("dns.a") if rdlen == 4 else None
        if rtype == 28:
            return self.take("dns.aaaa") if rdlen == 16 else None
        single = {5: "dns.cname", 2: "dns.ns", 12: "dns.ptr.domain_name"}.get(rtype)
        if single is not None:
            value = self.take(single)
            return None if value is None else dns_name(value)
        if rtype in (64, 65):
            return self._svcb(rdlen)
        return None  # other types are not carried by this engine (docs/engines.md)

    def _svcb(self, rdlen: int) -> str | None:
        """HTTPS/SVCB rdata as the native decoder prints it. Params are assigned to this record by
        byte count (TargetName is never compressed, RFC 9460 2.2) and by key order (strictly rising)."""
        priority, target_text = self.take("dns.svcb.svcpriority"), self.take("dns.svcb.targetname")
        if priority is None or target_text is None:
            return None
        target = dns_name(target_text)
        left = rdlen - 2 - (len(target) + 2 if target else 1)
        parts = [priority, target or "."]
        keys = self.cur["dns.svcb.svcparam.key"]
        last_key = -1
        while left > 0 and keys.pos < len(keys.values):
            key = _int(keys.values[keys.pos])
            if key <= last_key:
                break
            keys.pos += 1
            last_key = key
            size = _int(self.take("dns.svcb.svcparam.value.length"))
            left -= 4 + size
            parts.append(self._svc_param(key, size))
        return " ".join(parts)

    def _svc_param(self, key: int, size: int) -> str:
        name = SVC_PARAM_KEYS.get(key, f"key{key}")
        if key == 1:
            alpns, used = [], 0
            while used < size and (alpn := self.take("dns.svcb.svcparam.alpn")) is not None:
                used += 1 + _int(self.take("dns.svcb.svcparam.alpn.length"))
                alpns.append(wire_text(alpn, 255))
            return "alpn=" + ",".join(alpns)
        if key == 3:
            return f"port={self.take('dns.svcb.svcparam.port')}"
        if key in (4, 6):
            family = 4 if key == 4 else 6
            ips = self.cur[f"dns.svcb.svcparam.ipv{family}hint.ip"].take_many(size // (4 if key == 4 else 16))
            return f"{name}=" + ",".join(ips)
        if key == 0:
            mandatory = self.cur["dns.svcb.svcparam.mandatory.key"].take_many(size // 2)
            return "mandatory=" + ",".join(SVC_PARAM_KEYS.get(_int(k), f"key{k}") for k in mandatory)
        if key in (2, 5):
            return name
        raw = self.take("dns.svcb.svcparam.value") if key not in _TSHARK_SVC_KEYS and size else ""
        try:
            value = bytes.fromhex((raw or "").replace(":", ""))
        except ValueError:
            value = (raw or "").encode()
        return f"{name}={safe_text(value, limit=64)}"


# ------------------------------------------------------------------------------------------ events


@dataclass
class TsharkEvents:
    dns: list[DnsEvent] = field(default_factory=list)
    tls: list[TlsEvent] = field(default_factory=list)
    http: list[HttpEvent] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    quic_seen: OrderedDict[tuple[str, str, int, int], None] = field(default_factory=OrderedDict)

    def error(self, reason: str) -> None:
        self.errors[reason] = self.errors.get(reason, 0) + 1

    def feed(self, frame: Frame) -> None:
        """Every event one frame carries. A frame tshark could not finish is counted, never raised."""
        if frame.layers.get("_ws_malformed") is not None:
            self.error("tshark.malformed")
        ends = frame.ends()
        if ends is None:
            self.error("tshark.no_address")
            return
        try:
            ts = float(frame.first("frame.time_epoch") or "nan")
            if frame.all("dns.id") or frame.all("dns.qry.name"):
                self._dns(frame, ts, ends)
            if "1" in frame.all("tls.handshake.type"):
                self._tls(frame, ts, ends)
            if frame.all("http.request.method") and ends[4] == "tcp":
                self._http(frame, ts, ends)
        except (ValueError, TypeError, IndexError):
            self.error("tshark.bad_field")

    def _dns(self, frame: Frame, ts: float, ends: tuple[str, str, int, int, str]) -> None:
        src, dst, sport, dport, transport = ends
        if sport not in DNS_PORTS and dport not in DNS_PORTS:
            return  # tshark's heuristic finds DNS on any UDP port; the native decoder looks at these
        for msg in DnsFrameReader(frame).messages():
            if len(msg.questions) < msg.qdcount:
                self.error("tshark.dns_malformed")  # a question tshark could not read: native drops it too
                continue
            response = msg.is_response
            client, server, cport, sport_ = (dst, src, dport, sport) if response else (src, dst, sport, dport)
            qname, qtype = msg.questions[0] if msg.questions else ("", "")
            self.dns.append(
                DnsEvent(
                    ts,
                    client,
                    server,
                    cport,
                    sport_,
                    transport,
                    msg.txid,
                    qname,
                    qtype,
                    response,
                    msg.rcode if response else None,
                    msg.answers,
                )
            )

    def _tls(self, frame: Frame, ts: float, ends: tuple[str, str, int, int, str]) -> None:
        src, dst, sport, dport, _ = ends
        quic = "quic" in frame.protocols or "gquic" in frame.protocols
        if quic:
            key = (src, dst, sport, dport)
            if key in self.quic_seen:
                return  # one event per QUIC connection attempt, as the native decoder gives
            self.quic_seen[key] = None
            while len(self.quic_seen) > MAX_QUIC_SEEN:
                self.quic_seen.popitem(last=False)
        sni = frame.first("tls.handshake.extensions_server_name")
        versions = [
            v
            for v in (_int(x) for x in frame.all("tls.handshake.extensions.supported_version"))
            if not is_grease(v)
        ]
        self.tls.append(
            TlsEvent(
                ts=ts,
                client=src,
                server=dst,
                client_port=sport,
                server_port=dport,
                transport="quic" if quic else "tcp",
                sni=None if sni is None else wire_text(sni, 255),
                alpn=[wire_text(a, 255) for a in frame.all("tls.handshake.extensions_alpn_str")],
                versions=versions,
                ech=EXT_ECH in {_int(t) for t in frame.all("tls.handshake.extension.type")},
                ja3=frame.first("tls.handshake.ja3_full"),
                ja3_hash=frame.first("tls.handshake.ja3"),
                ja4=frame.first("tls.handshake.ja4"),
            )
        )

    def _http(self, frame: Frame, ts: float, ends: tuple[str, str, int, int, str]) -> None:
        src, dst, sport, dport, _ = ends
        methods = frame.all("http.request.method")
        uris = frame.all("http.request.uri")
        hosts, agents = frame.all("http.host"), frame.all("http.user_agent")
        for i, method in enumerate(methods):
            host, agent = _header_of(hosts, i, len(methods)), _header_of(agents, i, len(methods))
            uri = uris[i] if i < len(uris) else ""
            self.http.append(
                HttpEvent(
                    ts,
                    src,
                    dst,
                    sport,
                    dport,
                    wire_text(method, 64),
                    _text_or_none(host),
                    wire_text(uri, MAX_HTTP_TEXT),
                    _text_or_none(agent),
                )
            )


def _header_of(values: list[str], i: int, requests: int) -> str | None:
    """Request i's header among a frame's flattened values. Pipelined requests in one frame can only be
    matched up when every request has the header; otherwise it is left unknown rather than misplaced."""
    if len(values) == requests:
        return values[i]
    return values[0] if requests == 1 and values else None


def _text_or_none(value: str | None) -> str | None:
    return None if value is None else wire_text(value, MAX_HTTP_TEXT)


# ------------------------------------------------------------------------------------------ running tshark


# tshark's defaults, so the engine shows what an analyst's tshark shows, with two ports added:
# LLMNR over TCP (RFC 4795 2.4), which tshark 4.0 registers for UDP only, and DNS over QUIC on
# udp/853 (RFC 9250), which tshark 4.0 gives to DNS over DTLS (RFC 8094, experimental, rare).
# `tcp.try_heuristic_first` would find TLS sent to port 80 but lets other heuristics swallow a
# DNS-over-TCP response (zeek dns/tkey.pcap), so it stays off.
DECODE_AS = ("tcp.port==5355,dns", "udp.port==853,quic")


def tshark_command(tshark: Tshark, source: str) -> list[str]:
    """One pass over the file, no name resolution, one ek line per frame that carries an event."""
    cmd = [tshark.path, "-n", "-r", source, "-Y", DISPLAY_FILTER, "-T", "ek"]
    for rule in DECODE_AS:
        cmd += ["-d", rule]
    for name in tshark.fields:
        cmd += ["-e", name]
    return cmd


def _feed_decompressed(path: str, sink: IO[bytes]) -> None:
    from netdetect.capture.files import COMPRESSIONS, sniff

    try:
        with open(path, "rb") as raw:
            kind = sniff(raw.read(8))
            raw.seek(0)
            stream: Any = COMPRESSIONS[kind][1](raw) if kind in COMPRESSIONS else raw
            shutil.copyfileobj(stream, sink, 1 << 20)
    except (OSError, EOFError, ValueError):
        pass  # tshark reports the cut stream; the native reader has already said what is wrong
    finally:
        with contextlib.suppress(OSError):
            sink.close()


def _is_compressed(path: str) -> bool:
    from netdetect.capture.files import COMPRESSIONS, sniff

    with open(path, "rb") as f:
        return sniff(f.read(8)) in COMPRESSIONS


def run_tshark(path: str, tshark: Tshark | None = None, warnings: list[str] | None = None) -> Iterator[Frame]:
    """Frames of one capture file, streamed. Compressed files are decompressed here and piped in,
    since tshark 4.0 reads gzip only. What tshark says about a damaged file goes to `warnings`; a file
    it cannot read at all raises CaptureError."""
    tshark = tshark or find_tshark()
    try:
        piped = _is_compressed(path)
    except OSError as exc:
        raise CaptureError(f"cannot open: {exc.strerror}", path=path) from exc
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(
            tshark_command(tshark, "-" if piped else path),
            stdin=subprocess.PIPE if piped else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=err,
        )
        feeder = None
        if piped:
            feeder = threading.Thread(target=_feed_decompressed, args=(path, proc.stdin), daemon=True)
            feeder.start()
        assert proc.stdout is not None
        try:
            for line in proc.stdout:
                if not line.startswith(b'{"timestamp"'):
                    continue  # the ek index lines
                try:
                    layers = json.loads(line).get("layers") or {}
                except ValueError:
                    continue
                yield Frame(layers)
        finally:
            proc.stdout.close()
            code = proc.wait()
            if feeder is not None:
                feeder.join()
        err.seek(0)
        message = _stderr_text(err.read())
        if code != 0 and message and not any(m in message for m in _DAMAGE_MESSAGES):
            raise CaptureError(f"tshark could not read it: {message}", path=path)
        if message and warnings is not None:
            warnings.append(f"{path}: tshark: {message}")


# tshark's wording for a file it read up to a damaged or cut record (wiretap/file_wrappers, wtap.c).
_DAMAGE_MESSAGES = ("cut short", "appears to be damaged or corrupt", "appears to have been cut short")
_STDERR_NOISE = ("Running as user", "This could be dangerous")


def _stderr_text(raw: bytes) -> str:
    lines = [ln.strip() for ln in raw.decode("utf-8", "replace").splitlines()]
    return " ".join(ln.removeprefix("tshark: ") for ln in lines if ln and not ln.startswith(_STDERR_NOISE))


def tshark_events(path: str, tshark: Tshark | None = None) -> TsharkEvents:
    """The events tshark finds in one capture file."""
    events = TsharkEvents()
    for frame in run_tshark(path, tshark, events.warnings):
        events.feed(frame)
    return events


def _spool_stdin() -> str:
    fd, name = tempfile.mkstemp(prefix="netdetect-stdin-", suffix=".cap")
    with os.fdopen(fd, "wb") as out:
        shutil.copyfileobj(sys.stdin.buffer, out, 1 << 20)
    return name


def extract_files_tshark(paths: Sequence[str], progress: Callable[[int], None] | None = None) -> Extraction:
    """Like `netdetect.pipeline.extract_files`, with DNS/TLS/HTTP events from tshark.

    Connections, packet counts and header errors come from the native reader; events and their
    error counts from tshark. stdin ("-") is spooled to a temporary file, since both readers need it.
    """
    tshark = find_tshark()
    spooled = _spool_stdin() if "-" in paths else None
    real = [spooled if p == "-" and spooled else p for p in paths]
    try:
        result = extract_files(real, progress)
        events = TsharkEvents()
        for path in real:
            for frame in run_tshark(path, tshark, events.warnings):
                events.feed(frame)
    finally:
        if spooled:
            os.unlink(spooled)
    if spooled:
        result.captures = ["-" if c == spooled else c for c in result.captures]
        result.warnings = [w.replace(spooled, "-") for w in result.warnings]
    result.replace_events(events.dns, events.tls, events.http)
    result.warnings += [w.replace(spooled, "-") if spooled else w for w in events.warnings]
    errors = {k: v for k, v in result.decode_errors.items() if not k.startswith(_NATIVE_EVENT_ERRORS)}
    errors.update(events.errors)
    result.decode_errors = errors
    return result


def extract_parallel_tshark(
    groups: Sequence[Sequence[str]], jobs: int, progress: Callable[[int], None] | None = None
) -> Extraction:
    """`netdetect.pipeline.extract_parallel` with tshark events: one process (and tshark) per group."""
    find_tshark()  # fail before starting workers
    if jobs <= 1 or len(groups) <= 1:
        return Extraction.merge([extract_files_tshark(g, progress) for g in groups])
    with ProcessPoolExecutor(max_workers=min(jobs, len(groups), os.cpu_count() or 1)) as pool:
        return Extraction.merge(list(pool.map(extract_files_tshark, groups)))


class TsharkEngine:
    """Events from tshark (pyshark's tshark), connections from the native decoder."""

    name = "tshark"
    description = "DNS/TLS/QUIC/HTTP events from tshark's dissectors (slow; a cross-check)"

    def check(self) -> None:
        find_tshark()

    def extract(self, paths: Sequence[str], progress: Callable[[int], None] | None = None) -> Extraction:
        return extract_files_tshark(paths, progress)

    def extract_parallel(
        self, groups: Sequence[Sequence[str]], jobs: int, progress: Callable[[int], None] | None = None
    ) -> Extraction:
        return extract_parallel_tshark(groups, jobs, progress)
