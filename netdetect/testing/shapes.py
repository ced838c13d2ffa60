"""Seeded, labeled captures of each detector's shape and of the benign traffic that looks like it.

    write_shape("rat_heartbeat", directory, seed=7, scale=1.0) -> ShapeCapture(files, labels, ...)

Every generator draws what real traffic varies (periods, jitter, sizes, addresses, client counts, TLS
fingerprints, start times, TCP flags) from one `random.Random`, so a (shape, seed, scale) gives the same
bytes every time. A label names a client, the server as netdetect should report it (a name, an address
or a registered domain; "*" for any destination of that client), the shape and the detector expected to
report it ("none" for look-alikes). `scale` shrinks or grows counts and durations (0.2 for quick tests);
captures stay small: bulk data is cut to a short snaplen, the record keeps its wire length.
"""

from __future__ import annotations

import random
import string
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from netdetect.testing import synth

RESOLVER = "10.0.0.53"
SNAPLEN = 128  # enough for every header and a ClientHello's first bytes; wire lengths stay exact
DAY_S = 86_400.0
EPOCH = 1_767_225_600.0  # 2026-01-01T00:00:00Z; each scene starts at a random time in the 30 days after

NONE = "none"


@dataclass(frozen=True, slots=True)
class Label:
    client: str
    server: str  # name, address or registered domain as a finding reports it; "*": any destination
    shape: str
    expected: str  # the detector that should report it (netdetect.detectors.base registry names) or "none"
    addresses: tuple[str, ...] = ()  # server addresses the shape used (RITA groups by address)

    @property
    def positive(self) -> bool:
        return self.expected != NONE


@dataclass(slots=True)
class ShapeCapture:
    shape: str
    files: list[Path]
    labels: list[Label]
    packets: int = 0
    scans: list[list[Path]] = field(default_factory=list)  # files scanned together; default all in one


@dataclass(slots=True)
class Scene:
    """One shape's captures: a seeded rng, a start time, fresh addresses and the files written."""

    shape: str
    directory: Path
    rng: random.Random
    scale: float
    t0: float
    files: list[Path] = field(default_factory=list)
    separate_scans: bool = False  # each file is its own scan (short incident captures)
    _writers: list[synth.TrafficWriter] = field(default_factory=list)
    _used: set[str] = field(default_factory=set)

    def count(self, base: float, minimum: int = 1) -> int:
        return max(minimum, round(base * self.scale))

    def writer(self) -> synth.TrafficWriter:
        # Letters, not digits: names differing only in digits are one rotated capture to a scan.
        i = len(self.files)
        path = self.directory / f"{self.shape}-{chr(97 + i % 26) * (1 + i // 26)}.pcap"
        self.files.append(path)
        writer = synth.TrafficWriter(path, snaplen=SNAPLEN, seed=self.rng.getrandbits(32))
        self._writers.append(writer)
        return writer

    def close(self) -> int:
        """Close every writer; returns the packets written."""
        for writer in self._writers:
            writer.close()
        return sum(writer.packets_written for writer in self._writers)

    def _fresh(self, make: Callable[[], str]) -> str:
        while (address := make()) in self._used:
            pass
        self._used.add(address)
        return address

    def client(self) -> str:
        rng = self.rng
        return self._fresh(lambda: f"10.{rng.randrange(1, 250)}.{rng.randrange(256)}.{rng.randrange(2, 254)}")

    def server(self) -> str:
        rng = self.rng
        # Public unicast ranges only: the analysis scores connections to outside servers.
        first = (23, 31, 45, 52, 62, 77, 91, 104, 139, 151, 176, 185, 193, 212)
        return self._fresh(
            lambda: f"{rng.choice(first)}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
        )


# --------------------------------------------------------------------------- building blocks


def random_label(
    rng: random.Random, length: int, alphabet: str = string.ascii_lowercase + string.digits
) -> str:
    return "".join(rng.choice(alphabet) for _ in range(length))


def word_name(rng: random.Random) -> str:
    """A plausible, distinct-looking registered domain: one or two pronounceable words and a TLD."""
    syllables = ("ka", "lo", "mi", "ne", "ta", "ru", "so", "vi", "de", "pa", "xo", "ber", "lin", "tor", "gen")
    words = [
        "".join(rng.choice(syllables) for _ in range(rng.randint(2, 4))) for _ in range(rng.randint(1, 2))
    ]
    return "-".join(words) + rng.choice((".com", ".net", ".org", ".io", ".de", ".co.uk", ".info"))


def tls_profile(rng: random.Random) -> dict[str, Any]:
    """One client's TLS stack: browser or Windows system TLS, with or without ALPN / post-quantum."""
    chrome = rng.random() < 0.6
    return {
        "profile": "chrome" if chrome else "schannel",
        "alpn": rng.choice((("h2", "http/1.1"), ("http/1.1",), ())),
        "versions": (0x0304, 0x0303) if chrome or rng.random() < 0.5 else (0x0303,),
        "post_quantum": chrome and rng.random() < 0.3,
    }


def tls_session(
    w: synth.TrafficWriter,
    rng: random.Random,
    t: float,
    client: str,
    server: str,
    name: str | None,
    profile: dict[str, Any],
    request: int,
    response: int,
    *,
    port: int = 443,
    duration: float | None = None,
) -> synth.SessionStats:
    """A TLS connection: ClientHello (SNI `name`), server hello flight, one request and response."""
    hello = synth.client_hello(name, rng=rng, **profile)
    server_hello = rng.randint(2800, 5200)
    return w.tls_session(
        t,
        client,
        server,
        None,
        port,
        hello,
        request,
        server_hello,
        response,
        duration=duration,
        rtt=rng.uniform(0.01, 0.09),
    )


def lookup(
    w: synth.TrafficWriter, rng: random.Random, t: float, client: str, name: str, address: str
) -> float:
    """Resolve `name` to `address`; returns when the answer is in."""
    w.dns_exchange(t, client, RESOLVER, name, [address], ttl=rng.choice((60, 300, 3600)))
    return t + 0.04


def check_in_times(rng: random.Random, start: float, end: float, period: float, jitter: float) -> list[float]:
    """Times every `period` s, each gap scaled by 1 +- `jitter` (uniform), from a random phase."""
    times, t = [], start + rng.uniform(0, period)
    while t < end:
        times.append(t)
        t += period * (1 + rng.uniform(-jitter, jitter))
    return times


def noise(scene: Scene, w: synth.TrafficWriter, start: float, end: float, visits: int) -> list[Label]:
    """An ordinary host browsing a few sites across the capture, so its extent is the scene's."""
    rng, client = scene.rng, scene.client()
    profile = tls_profile(rng)
    times = sorted([start + 1, end - 1, *(rng.uniform(start, end) for _ in range(max(0, visits - 2)))])
    for t in times:
        name, server = "www." + word_name(rng), scene.server()
        at = lookup(w, rng, t, client, name, server)
        tls_session(
            w, rng, at, client, server, name, profile, rng.randint(300, 900), rng.randint(2000, 90000)
        )
    return [Label(client, "*", scene.shape, NONE)]


# --------------------------------------------------------------------------- shapes


def _heartbeat_channel(
    scene: Scene, w: synth.TrafficWriter, *, period: tuple[float, float], jitter: tuple[float, float]
) -> tuple[str, str, str | None, float, float, float]:
    rng = scene.rng
    client, server = scene.client(), scene.server()
    name = f"{random_label(rng, rng.randint(5, 10))}.{rng.choice(('ddns.net', 'duckdns.org', 'hopto.org'))}"
    named = rng.random() < 0.5
    start = scene.t0 + rng.uniform(0, 600)
    if named:
        lookup(w, rng, start - 0.05, client, name, server)
    return client, server, name if named else None, start, rng.uniform(*period), rng.uniform(*jitter)


def rat_heartbeat(scene: Scene) -> list[Label]:
    """RAT pings inside one long TCP connection: 5 min to 2 h, a ping every 2-60 s (0-30% jitter),
    each answered by a pong, with an occasional bigger command exchange."""
    rng, labels = scene.rng, []
    with scene.writer() as w:
        for _ in range(scene.count(6, 2)):
            client, server, name, start, period, jitter = _heartbeat_channel(
                scene, w, period=(2, 60), jitter=(0, 0.3)
            )
            # 5 min to 2 h; at least 20 pings whatever the scale, so the shape stays a heartbeat
            duration = max(min(rng.uniform(300, 7200) * scene.scale, period * 1500), 300.0, period * 20)
            times = check_in_times(rng, start + 1, start + duration, period, jitter)
            ping, pong = rng.randint(16, 120), rng.randint(16, 120)
            requests: list[bytes | int] = [rng.randint(200, 1200)]  # the victim's system information
            replies: list[bytes | int] = [rng.randint(40, 400)]
            for _ in times:
                big = rng.random() < 0.03
                requests.append(rng.randint(300, 3000) if big else ping)
                replies.append(rng.randint(2000, 60000) if big else pong)
            w.tcp_session(
                start,
                client,
                server,
                None,
                rng.choice((443, 1604, 4444, 5552, 8080)),
                requests,
                server_payloads=replies,
                exchange_times=[start + 0.5, *times],
                rtt=rng.uniform(0.02, 0.2),
                close=rng.choice(("fin", "rst", None)),
            )
            labels.append(Label(client, name or server, scene.shape, "heartbeat", (server,)))
    return labels


def _push_channel(scene: Scene, shape_expected: str, *, client_pings: bool) -> list[Label]:
    rng, labels = scene.rng, []
    with scene.writer() as w:
        for _ in range(scene.count(4, 2)):
            client, server = scene.client(), scene.server()
            name = rng.choice(("push", "ws", "rtm", "gateway", "chat")) + "." + word_name(rng)
            start = scene.t0 + rng.uniform(0, 900)
            lookup(w, rng, start - 0.05, client, name, server)
            if client_pings:  # a chat client's keep-alive: a fixed interval, a near-constant ping
                period, jitter = rng.choice((15.0, 20.0, 30.0, 45.0, 60.0)), rng.uniform(0, 0.02)
            else:  # a server push channel (notifications, tickers)
                period, jitter = rng.uniform(5, 60), rng.uniform(0, 0.1)
            duration = max(rng.uniform(1800, 5400) * scene.scale, 300.0, period * 20)
            times = check_in_times(rng, start + 2, start + duration, period, jitter)
            if client_pings:  # plus a few messages typed at random times
                times = sorted(
                    times + [rng.uniform(start + 2, start + duration) for _ in range(len(times) // 8)]
                )
            size = rng.randint(30, 90)
            requests: list[bytes | int] = [synth.client_hello(name, rng=rng, **tls_profile(rng))]
            replies: list[bytes | int] = [rng.randint(2800, 5200)]
            for _ in times:
                if client_pings:
                    requests.append(size + rng.randint(0, 2))
                    replies.append(size + rng.randint(0, 2))
                else:
                    requests.append(0)  # the client only ACKs what the server pushes
                    replies.append(rng.randint(60, 900))
            w.tcp_session(
                start,
                client,
                server,
                None,
                443,
                requests,
                server_payloads=replies,
                exchange_times=[start, *times],
                rtt=rng.uniform(0.01, 0.1),
            )
            labels.append(Label(client, name, scene.shape, shape_expected, (server,)))
    return labels


def websocket_push(scene: Scene) -> list[Label]:
    """A WebSocket-like channel: the server pushes every 5-60 s inside one TLS connection."""
    return _push_channel(scene, "heartbeat", client_pings=False)


def chat_keepalive(scene: Scene) -> list[Label]:
    """Look-alike worth showing: a chat client's keep-alive at a fixed interval (truly periodic)."""
    return _push_channel(scene, "heartbeat", client_pings=True)


def long_media_stream(scene: Scene) -> list[Label]:
    """Look-alike: one TLS connection over 1-3 h with irregular media bursts. A long connection,
    not a beacon."""
    rng, labels = scene.rng, []
    with scene.writer() as w:
        for _ in range(scene.count(3, 2)):
            client, server = scene.client(), scene.server()
            name = rng.choice(("media", "video", "stream", "live")) + "." + word_name(rng)
            start = scene.t0 + rng.uniform(0, 600)
            lookup(w, rng, start - 0.05, client, name, server)
            end = start + rng.uniform(3900, 10800)  # over an hour whatever the scale: that is the shape
            times, t = [], start + 1
            while t < end:
                times.append(t)
                t += rng.expovariate(1 / rng.choice((3.0, 10.0, 30.0)))
            requests: list[bytes | int] = [synth.client_hello(name, rng=rng, **tls_profile(rng))]
            replies: list[bytes | int] = [rng.randint(2800, 5200)]
            for _ in times:
                requests.append(rng.choice((0, 0, 0, rng.randint(40, 400))))
                replies.append(int(min(rng.lognormvariate(9, 1.2), 2_000_000)))
            w.tcp_session(
                start,
                client,
                server,
                None,
                443,
                requests,
                server_payloads=replies,
                exchange_times=[start, *times],
            )
            labels.append(Label(client, name, scene.shape, "long_connection", (server,)))
    return labels


def _c2_name(rng: random.Random) -> str:
    return f"{rng.choice(('api', 'cdn', 'update', 'static', 'login'))}.{word_name(rng)}"


def beacon_multi_capture(scene: Scene) -> list[Label]:
    """Several captures in one scan: a TLS beacon seen in 3 captures of 1-3 h with hours between them."""
    rng = scene.rng
    actors = []
    for _ in range(scene.count(4, 2)):
        client, server, name = scene.client(), scene.server(), _c2_name(rng)
        actors.append((client, server, name, tls_profile(rng), rng.uniform(60, 600), rng.uniform(0, 0.2)))
    t = scene.t0
    for _ in range(3):
        length = rng.uniform(3600, 10800) * max(scene.scale, 0.34)
        with scene.writer() as w:
            for client, server, name, profile, period, jitter in actors:
                request, response = rng.randint(200, 900), rng.randint(300, 3000)
                for at in check_in_times(rng, t, t + length, period, jitter):
                    at = lookup(w, rng, at, client, name, server) if rng.random() < 0.2 else at
                    tls_session(
                        w, rng, at, client, server, name, profile, request, response + rng.randint(0, 40)
                    )
            noise(scene, w, t, t + length, 6)
        t += length + rng.uniform(3600, 6 * 3600)
    return [Label(c, name, scene.shape, "beacon", (s,)) for c, s, name, *_ in actors]


def few_check_ins(scene: Scene) -> list[Label]:
    """Short incident captures (10-30 min) holding only 3-5 check-ins, exact or jittered."""
    rng, labels = scene.rng, []
    scene.separate_scans = True
    for i in range(scene.count(6, 2)):
        length = rng.uniform(600, 1800)
        start = scene.t0 + i * DAY_S
        with scene.writer() as w:
            client, server, name = scene.client(), scene.server(), _c2_name(rng)
            n = rng.randint(3, 5)
            period = rng.uniform(length / (n + 1), length / n)
            jitter = 0.0 if i % 2 == 0 else rng.uniform(0.05, 0.25)
            first = start + rng.uniform(0, length - period * (n - 1) * (1 + jitter))
            times = [first]
            for _ in range(n - 1):
                times.append(times[-1] + period * (1 + rng.uniform(-jitter, jitter)))
            profile, request, response = tls_profile(rng), rng.randint(200, 900), rng.randint(300, 3000)
            lookup(w, rng, times[0] - 0.1, client, name, server)
            for at in times:
                tls_session(w, rng, at, client, server, name, profile, request, response)
            labels += noise(scene, w, start, start + length, rng.randint(4, 12))
            labels.append(Label(client, name, scene.shape, "beacon", (server,)))
    return labels


def empire_jitter(scene: Scene) -> list[Label]:
    """Empire-style HTTP agent: sleeps uniform 0-15 s (delay 7.5 s, jitter 1.0), a new connection per
    check-in, identical request and response sizes when there is no tasking."""
    rng, labels = scene.rng, []
    with scene.writer() as w:
        for _ in range(scene.count(4, 2)):
            client, server = scene.client(), scene.server()
            name = word_name(rng)
            start = scene.t0 + rng.uniform(0, 600)
            end = start + rng.uniform(1200, 3600) * scene.scale + 300
            uri = rng.choice(("/admin/get.php", "/news.php", "/login/process.php"))
            cookie = "session=" + random_label(rng, 28, string.ascii_letters + string.digits + "+/") + "="
            request = synth.http_request(
                "GET",
                name,
                uri,
                user_agent="Mozilla/5.0 (Windows NT 10.0; Win64; x64; Trident/7.0; rv:11.0) like Gecko",
                headers=(("Cookie", cookie),),
            )
            head = synth.http_response(body_length=0, headers=(("Server", "Microsoft-IIS/7.5"),))
            lookup(w, rng, start - 0.1, client, name, server)
            t = start
            while t < end:
                w.tcp_session(
                    t, client, server, None, 80, [request], server_payloads=[head], rtt=rng.uniform(0.02, 0.1)
                )
                t += 0.3 + rng.uniform(0, 15)
            labels.append(Label(client, name, scene.shape, "beacon", (server,)))
    return labels


def rotating_c2(scene: Scene) -> list[Label]:
    """Emotet-like fallback list: check-ins rotate over 3-8 addresses (round-robin or random), same
    port, the same ClientHello without SNI, the same request shape."""
    rng, labels = scene.rng, []
    with scene.writer() as w:
        for _ in range(scene.count(4, 2)):
            client = scene.client()
            addresses = tuple(scene.server() for _ in range(rng.randint(3, 8)))
            port = rng.choice((443, 8080, 7080, 4143))
            profile = tls_profile(rng) | {"alpn": ()}
            hello_seed = rng.getrandbits(32)  # one hello for every check-in: the same fingerprint
            period, jitter = rng.uniform(60, 900), rng.uniform(0, 0.2)
            start = scene.t0 + rng.uniform(0, 600)
            end = start + max(rng.uniform(6, 24) * 3600 * scene.scale, period * 12)
            round_robin = rng.random() < 0.5
            request = rng.randint(300, 1200)
            for i, t in enumerate(check_in_times(rng, start, end, period, jitter)):
                server = addresses[i % len(addresses)] if round_robin else rng.choice(addresses)
                hello = synth.client_hello(None, rng=random.Random(hello_seed), **profile)
                w.tcp_session(
                    t,
                    client,
                    server,
                    None,
                    port,
                    [hello, request + rng.randint(0, 16)],
                    server_payloads=[rng.randint(2800, 3400)],
                    server_bytes=rng.randint(100, 400),
                    rtt=rng.uniform(0.03, 0.2),
                )
            labels.append(Label(client, addresses[0], scene.shape, "rotating", addresses))
    return labels


def _dns_actor(scene: Scene) -> tuple[str, str]:
    return scene.client(), word_name(scene.rng)


def dns_beacon(scene: Scene) -> list[Label]:
    """Periodic lookups (every 30-300 s) of ever-new random subdomains under one domain; some or all
    NXDOMAIN; no connection follows."""
    rng, labels = scene.rng, []
    with scene.writer() as w:
        for _ in range(scene.count(5, 2)):
            client, domain = _dns_actor(scene)
            period, jitter = rng.uniform(30, 300), rng.uniform(0, 0.2)
            nx_share = rng.choice((0.1, 0.3, 1.0))
            answer = scene.server()
            start = scene.t0 + rng.uniform(0, 600)
            end = start + max(rng.uniform(2, 12) * 3600 * scene.scale, period * 12)
            alphabet = rng.choice((string.ascii_lowercase + string.digits, "0123456789abcdef"))
            for t in check_in_times(rng, start, end, period, jitter):
                name = f"{random_label(rng, rng.randint(8, 16), alphabet)}.{domain}"
                nx = rng.random() < nx_share
                w.dns_exchange(
                    t, client, RESOLVER, name, [] if nx else [answer], rcode=3 if nx else 0, ttl=60
                )
            labels.append(Label(client, domain, scene.shape, "dns_beacon"))
    return labels


def _tunnel_names(rng: random.Random, domain: str, payload: int, alphabet: str, prefix: str = "") -> str:
    """Up to `payload` encoded characters in labels of <= 63, under `domain` (name <= 253)."""
    room = min(payload, 250 - len(domain) - 4)
    data = prefix + random_label(rng, max(room, 4) - len(prefix), alphabet)
    labels = [data[i : i + 63] for i in range(0, len(data), 63)]
    return ".".join(labels) + "." + domain


def dnscat2_tunnel(scene: Scene) -> list[Label]:
    """dnscat2-like: hex-encoded labels, TXT/CNAME/MX queries answered in kind, polling every ~1 s."""
    rng, labels = scene.rng, []
    with scene.writer() as w:
        for _ in range(scene.count(3, 2)):
            client, domain = _dns_actor(scene)
            start = scene.t0 + rng.uniform(0, 600)
            end = start + rng.uniform(600, 1800) * scene.scale + 120
            t = start
            while t < end:
                qtype = rng.choice(("TXT", "CNAME", "MX"))
                busy = rng.random() < 0.2
                name = _tunnel_names(
                    rng, domain, rng.randint(120, 230) if busy else rng.randint(18, 40), "0123456789abcdef"
                )
                reply = _tunnel_names(rng, domain, rng.randint(18, 200), "0123456789abcdef")
                if qtype == "TXT":
                    answers: list[str | synth.DnsRecord] = [synth.DnsRecord(name, "TXT", reply.split(".")[0])]
                elif qtype == "MX":
                    answers = [synth.DnsRecord(name, "MX", synth.mx_rdata(10, reply))]
                else:
                    answers = [synth.DnsRecord(name, "CNAME", reply)]
                w.dns_exchange(
                    t, client, RESOLVER, name, answers, qtype=qtype, ttl=0, rtt=rng.uniform(0.03, 0.2)
                )
                t += rng.uniform(0.05, 0.3) if busy else rng.uniform(0.8, 1.3)
            labels.append(Label(client, domain, scene.shape, "dns_tunnel"))
    return labels


def iodine_tunnel(scene: Scene) -> list[Label]:
    """iodine-like: NULL queries with long base32/base128-style labels under a short tunnel zone."""
    rng, labels = scene.rng, []
    alphabet = string.ascii_lowercase + string.digits + "-"
    with scene.writer() as w:
        for _ in range(scene.count(3, 2)):
            client, domain = scene.client(), "t." + word_name(rng)
            start = scene.t0 + rng.uniform(0, 600)
            end = start + rng.uniform(600, 1800) * scene.scale + 120
            t = start
            while t < end:
                busy = rng.random() < 0.3
                size = rng.randint(150, 220) if busy else rng.randint(6, 20)
                name = _tunnel_names(rng, domain, size, alphabet, prefix=rng.choice(string.ascii_lowercase))
                rdata = rng.randbytes(rng.randint(100, 1100) if busy else rng.randint(4, 30))
                w.dns_exchange(
                    t, client, RESOLVER, name, [synth.DnsRecord(name, "NULL", rdata, 0)], qtype="NULL"
                )
                t += rng.uniform(0.02, 0.2) if busy else rng.uniform(3.5, 4.5)  # lazy-mode polling
            labels.append(Label(client, domain.split(".", 1)[1], scene.shape, "dns_tunnel"))
    return labels


def slow_dns_exfil(scene: Scene) -> list[Label]:
    """Slow exfiltration: one long base32 label every 20-120 s (heavy jitter) for hours."""
    rng, labels = scene.rng, []
    alphabet = string.ascii_lowercase + "234567"
    with scene.writer() as w:
        for _ in range(scene.count(4, 2)):
            client, domain = _dns_actor(scene)
            period, jitter = rng.uniform(20, 120), rng.uniform(0.3, 0.6)
            start = scene.t0 + rng.uniform(0, 600)
            end = start + max(rng.uniform(4, 12) * 3600 * scene.scale, period * 20)
            for t in check_in_times(rng, start, end, period, jitter):
                name = f"{random_label(rng, rng.randint(48, 63), alphabet)}.{domain}"
                nx = rng.random() < 0.5
                w.dns_exchange(t, client, RESOLVER, name, [] if nx else ["0.0.0.0"], rcode=3 if nx else 0)
            labels.append(Label(client, domain, scene.shape, "dns_tunnel"))
    return labels


def strobe(scene: Scene) -> list[Label]:
    """Connection floods: tens of thousands of short connections from one client to one server
    (refused with RST, or a short exchange), over 10-60 min."""
    rng, labels = scene.rng, []
    with scene.writer() as w:
        for _ in range(max(1, round(1.5 * min(scene.scale, 1.0)))):
            client, server = scene.client(), scene.server()
            port = rng.choice((80, 443, 445, 3389, 8443))
            count = scene.count(rng.randint(15_000, 30_000), 2000)
            start = scene.t0 + rng.uniform(0, 600)
            rate = count / rng.uniform(600, 3600)
            t, refused = start, rng.random() < 0.5
            for _ in range(count):
                if refused:
                    w.tcp_session(t, client, server, None, port, (), handshake=True, close="rst", rtt=0.002)
                else:
                    w.tcp_session(
                        t, client, server, None, port, [rng.randint(20, 80)], server_bytes=64, rtt=0.002
                    )
                t += rng.expovariate(rate)
                if w.queued > 50_000:  # bounded memory: write what no later packet precedes
                    w.flush(before=t - 1.0)
            labels.append(Label(client, server, scene.shape, "strobe", (server,)))
    return labels


def fleet_agent(scene: Scene) -> list[Label]:
    """One agent checking in from 40 hosts to one name: same period, fingerprint and sizes."""
    rng = scene.rng
    name, server = _c2_name(rng), scene.server()
    profile = tls_profile(rng)
    period, jitter = rng.uniform(300, 900), rng.uniform(0.02, 0.15)
    request, response = rng.randint(300, 900), rng.randint(400, 2000)
    start = scene.t0
    end = start + max(rng.uniform(4, 8) * 3600 * scene.scale, period * 10)
    labels = []
    with scene.writer() as w:
        for _ in range(40):
            client = scene.client()
            for i, t in enumerate(check_in_times(rng, start, end, period, jitter)):
                if i % 6 == 0:
                    lookup(w, rng, t - 0.05, client, name, server)
                tls_session(w, rng, t, client, server, name, profile, request, response + rng.randint(0, 30))
            labels.append(Label(client, name, scene.shape, "beacon", (server,)))
    return labels


# --------------------------------------------------------------------------- look-alikes


def browsing(scene: Scene) -> list[Label]:
    """Browsing with thousands of distinct names: lookups and short TLS connections at random times."""
    rng, labels = scene.rng, []
    with scene.writer() as w:
        for _ in range(scene.count(3, 1)):
            client, profile = scene.client(), tls_profile(rng)
            names = [
                rng.choice(("www.", "", "cdn.", "img.", "api.")) + word_name(rng)
                for _ in range(scene.count(1500, 50))
            ]
            t = scene.t0 + rng.uniform(0, 600)
            for name in names:
                server = scene.server()
                at = lookup(w, rng, t, client, name, server)
                tls_session(
                    w,
                    rng,
                    at,
                    client,
                    server,
                    name,
                    profile,
                    rng.randint(300, 1500),
                    int(rng.lognormvariate(9, 1.3)),
                )
                t += rng.expovariate(1 / rng.choice((1.0, 4.0, 15.0)))
            labels.append(Label(client, "*", scene.shape, NONE))
    return labels


def cdn_hash_names(scene: Scene) -> list[Label]:
    """CDN hash names (cloudfront, akamaized, googlevideo) spread over many hosts, irregularly."""
    rng, labels = scene.rng, []
    patterns: Sequence[Callable[[], str]] = (
        lambda: f"d{random_label(rng, 13)}.cloudfront.net",
        lambda: f"a{random_label(rng, 12, '0123456789abcdef')}.akamaized.net",
        lambda: f"rr{rng.randint(1, 8)}---sn-{random_label(rng, 8)}.googlevideo.com",
    )
    start = scene.t0
    end = start + rng.uniform(2, 4) * 3600 * max(scene.scale, 0.25)
    with scene.writer() as w:
        for _ in range(scene.count(30, 5)):
            client, profile = scene.client(), tls_profile(rng)
            t = start + rng.uniform(0, 900)
            while t < end:
                name, server = rng.choice(patterns)(), scene.server()
                at = lookup(w, rng, t, client, name, server)
                tls_session(
                    w,
                    rng,
                    at,
                    client,
                    server,
                    name,
                    profile,
                    rng.randint(300, 1200),
                    int(rng.lognormvariate(11, 1.0)),
                )
                t += rng.expovariate(1 / rng.uniform(30, 400))
            labels.append(Label(client, "*", scene.shape, NONE))
    return labels


def ntp(scene: Scene) -> list[Label]:
    """NTP clients: udp/123 polls every 64-1024 s (ntpd doubling its poll interval, or a fixed one)."""
    rng, labels = scene.rng, []
    start = scene.t0
    end = start + rng.uniform(6, 12) * 3600 * max(scene.scale, 0.25)
    with scene.writer() as w:
        pool = [scene.server() for _ in range(4)]
        for _ in range(scene.count(8, 2)):
            client = scene.client()
            servers = rng.sample(pool, rng.randint(1, 4))
            for server in servers:
                poll = 64.0 if rng.random() < 0.6 else rng.choice((256.0, 1024.0))
                t = start + rng.uniform(0, 64)
                while t < end:
                    request = synth.ntp_request(rng)
                    w.udp_exchange(
                        t,
                        client,
                        server,
                        123,
                        123,
                        request,
                        synth.ntp_reply(request, rng),
                        rtt=rng.uniform(0.005, 0.05),
                    )
                    t += poll * rng.uniform(0.98, 1.02)
                    poll = min(poll * 2, 1024.0) if rng.random() < 0.3 else poll
                labels.append(Label(client, server, scene.shape, NONE, (server,)))
    return labels


def mail_server(scene: Scene) -> list[Label]:
    """A mail server: MX and A lookups of many recipient domains then SMTP, and DNSBL lookups of each
    sender under zen.spamhaus.org (mostly NXDOMAIN)."""
    rng, labels = scene.rng, []
    start = scene.t0
    end = start + rng.uniform(4, 8) * 3600 * max(scene.scale, 0.25)
    with scene.writer() as w:
        for _ in range(max(1, round(2 * min(scene.scale, 1.0)))):
            client = scene.client()
            domains = [word_name(rng) for _ in range(scene.count(500, 40))]
            t = start + rng.uniform(0, 60)
            while t < end:
                if rng.random() < 0.5:  # outbound: MX, A, SMTP
                    domain = domains[min(int(rng.paretovariate(1.2)) - 1, len(domains) - 1)]
                    mx, server = f"mx{rng.randint(1, 3)}.{domain}", scene.server()
                    w.dns_exchange(
                        t,
                        client,
                        RESOLVER,
                        domain,
                        [synth.DnsRecord(domain, "MX", synth.mx_rdata(10, mx))],
                        qtype="MX",
                    )
                    at = lookup(w, rng, t + 0.05, client, mx, server)
                    w.tcp_session(
                        at,
                        client,
                        server,
                        None,
                        25,
                        [rng.randint(60, 200), int(rng.lognormvariate(9, 1.5))],
                        server_payloads=[rng.randint(80, 300), 40],
                        rtt=rng.uniform(0.02, 0.15),
                    )
                else:  # inbound: DNSBL check of the sender's address
                    sender = scene.server()
                    reversed_ip = ".".join(reversed(sender.split(".")))
                    listed = rng.random() < 0.1
                    w.dns_exchange(
                        t,
                        client,
                        RESOLVER,
                        f"{reversed_ip}.zen.spamhaus.org",
                        ["127.0.0.2"] if listed else [],
                        rcode=0 if listed else 3,
                    )
                t += rng.expovariate(1 / rng.uniform(10, 60))
            labels.append(Label(client, "*", scene.shape, NONE))
    return labels


# --------------------------------------------------------------------------- registry

Generator = Callable[[Scene], list[Label]]

SHAPES: dict[str, Generator] = {
    "rat_heartbeat": rat_heartbeat,
    "websocket_push": websocket_push,
    "beacon_multi_capture": beacon_multi_capture,
    "few_check_ins": few_check_ins,
    "empire_jitter": empire_jitter,
    "rotating_c2": rotating_c2,
    "dns_beacon": dns_beacon,
    "dnscat2_tunnel": dnscat2_tunnel,
    "iodine_tunnel": iodine_tunnel,
    "slow_dns_exfil": slow_dns_exfil,
    "strobe": strobe,
    "fleet_agent": fleet_agent,
    # look-alikes
    "long_media_stream": long_media_stream,
    "chat_keepalive": chat_keepalive,
    "browsing": browsing,
    "cdn_hash_names": cdn_hash_names,
    "ntp": ntp,
    "mail_server": mail_server,
}


def write_shape(shape: str, directory: str | Path, *, seed: int, scale: float = 1.0) -> ShapeCapture:
    """Write one shape's capture(s) into `directory`; the same (shape, seed, scale) gives the same bytes."""
    if shape not in SHAPES:
        raise ValueError(f"unknown shape {shape!r}; known: {', '.join(SHAPES)}")
    if not 0 < scale <= 10:
        raise ValueError(f"scale must be in (0, 10], got {scale}")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed * 1_000_003 + zlib.crc32(shape.encode()))
    scene = Scene(shape, directory, rng, scale, EPOCH + rng.uniform(0, 30 * DAY_S))
    try:
        labels = SHAPES[shape](scene)
    finally:
        packets = scene.close()
    scans = [[f] for f in scene.files] if scene.separate_scans else [list(scene.files)]
    return ShapeCapture(shape, scene.files, labels, packets, scans)


def write_shapes(
    directory: str | Path, *, seed: int, scale: float = 1.0, shapes: Sequence[str] | None = None
) -> Iterator[ShapeCapture]:
    for shape in shapes or SHAPES:
        yield write_shape(shape, Path(directory) / shape, seed=seed, scale=scale)
