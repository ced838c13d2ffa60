#!/usr/bin/env python3
"""Write the demo capture: a 40-host office over 26 hours, with three 3CX-infected hosts.

    python pcaps/make_demo.py                       # pcaps/demo-office.pcap, .truth.json, README.md
    python pcaps/make_demo.py --hours 3 --out /tmp/x.pcap

Seeded: the same seed and options give the same bytes. Everything a detector should find is written
to `<out>.truth.json` (and the README table), computed from the packets actually generated.

What is in it (times are UTC; "office hours" 08:00-18:00):
- browsing in bursts during office hours: DNS (with the host's own cache honouring TTLs), then TLS
  with SNI to many names, Chrome-like ClientHellos (some with post-quantum key shares spanning two
  segments), a little plaintext HTTP (OCSP, connectivity checks);
- fleet-wide benign periodic services: NTP to the domain controller every 1024 s, Windows settings and
  telemetry check-ins, Windows Update, Defender, each with a small jitter;
- three infected hosts: the 3CX loader fetches its icon from raw.githubusercontent.com, then checks in
  over HTTPS to one listed 3CX domain every 1200-2400 s (uniform: 1800 s +-33 %);
- one unlisted host checking in every ~90 s (+-5 %) to a bare IP, 203.0.113.50:8443 (TLS, no SNI, no DNS);
- one host whose lookups of journalide.org (listed) are answered, but which never connects to it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import random
import statistics
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a clone without installing

from netdetect.testing import synth  # noqa: E402

START = datetime(2025, 3, 10, 6, 0, tzinfo=UTC).timestamp()  # Monday 06:00 UTC
RESOLVER = "10.1.0.2"  # domain controller: DNS and NTP
OFFICE_PREFIX = "10.1.0."
SNAPLEN = 64  # data packets keep Ethernet/IP/TCP headers and the start of the payload
LOCAL_DOMAIN = "corp.acme.example"

CHROME_102_UA = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "3CXDesktopApp/18.11.1197 Chrome/102.0.5005.167 Electron/19.1.9 Safari/537.36"
)

# (host last octet, 3CX C2 domain, its address, on overnight?) - the C2 addresses are TEST-NET-2
# and unlisted, so intel matches come from names (DNS query, SNI) only.
INFECTED = (
    (21, "msstorageboxes.com", "198.51.100.21", True),
    (33, "officestoragebox.com", "198.51.100.33", False),  # laptop: app closed overnight
    (45, "pbxsources.com", "198.51.100.45", True),
)
CHECKIN_MIN_S, CHECKIN_MAX_S = 1200.0, 2400.0  # loader argument "1200 2400" read as min/max seconds
BARE_IP_HOST, BARE_IP, BARE_PORT, BARE_PERIOD_S, BARE_JITTER = 37, "203.0.113.50", 8443, 90.0, 0.05
BLOCKED_HOST, BLOCKED_NAME, BLOCKED_ANSWER, BLOCKED_PERIOD_S, BLOCKED_JITTER = (
    28,
    "journalide.org",
    "172.93.201.88",
    600.0,
    0.2,
)
GITHUB_RAW_IPS = ["185.199.108.133", "185.199.109.133", "185.199.110.133", "185.199.111.133"]

# Browsing: a site is the page name and the names its page pulls in.
SITES: tuple[tuple[str, ...], ...] = (
    ("www.bbc.co.uk", "static.files.bbci.co.uk", "ichef.bbci.co.uk"),
    ("www.theguardian.com", "assets.guim.co.uk", "i.guim.co.uk", "api.nextgen.guardianapps.co.uk"),
    ("www.google.com", "www.gstatic.com", "fonts.googleapis.com", "apis.google.com"),
    ("www.youtube.com", "i.ytimg.com", "yt3.ggpht.com", "rr3---sn-q4fl6nsr.googlevideo.com"),
    ("outlook.office.com", "res.cdn.office.net", "login.microsoftonline.com", "substrate.office.com"),
    ("teams.microsoft.com", "statics.teams.cdn.office.net", "presence.teams.microsoft.com"),
    ("www.linkedin.com", "static.licdn.com", "media.licdn.com"),
    ("github.com", "github.githubassets.com", "avatars.githubusercontent.com", "raw.githubusercontent.com"),
    ("stackoverflow.com", "cdn.sstatic.net", "i.sstatic.net"),
    ("en.wikipedia.org", "upload.wikimedia.org"),
    ("www.amazon.com", "m.media-amazon.com", "images-na.ssl-images-amazon.com"),
    ("docs.python.org",),
    ("www.reddit.com", "www.redditstatic.com", "preview.redd.it"),
    ("acme.my.salesforce.com", "acme.lightning.force.com", "static.lightning.force.com"),
    ("www.nytimes.com", "static01.nyt.com"),
    ("app.slack.com", "a.slack-edge.com", "wss-primary.slack.com"),
    ("zoom.us", "st1.zoom.us"),
    ("www.dropbox.com", "cfl.dropboxstatic.com"),
    ("www.3cx.com",),
    ("acme.3cx.eu",),
    ("www.weather.com", "s.w-x.co"),
    ("news.ycombinator.com",),
    ("www.office.com", "www.microsoft.com"),
)
TRACKERS = (
    "www.googletagmanager.com",
    "www.google-analytics.com",
    "cdn.jsdelivr.net",
    "cdnjs.cloudflare.com",
)
CNAMES = {
    "www.linkedin.com": "www-linkedin-com.l-0005.l-msedge.net",
    "outlook.office.com": "outlook.ms-acdc.office.com",
    "www.microsoft.com": "www.microsoft.com-c-3.edgekey.net",
    "www.bbc.co.uk": "www.bbc.co.uk.pri.bbc.co.uk",
    "static01.nyt.com": "nyt.map.fastly.net",
    "www.reddit.com": "reddit.map.fastly.net",
    "settings-win.data.microsoft.com": "atm-settingsfe-prod-geo2.trafficmanager.net",
    "fe3cr.delivery.mp.microsoft.com": "glb.cws.prod.dcat.dsp.mp.microsoft.com",
}
CDN_PREFIXES = ("13.107.", "23.72.", "104.18.", "142.250.", "151.101.", "52.113.", "20.190.", "172.217.")


@dataclass(frozen=True)
class PeriodicService:
    """A check-in every host (or a share of hosts) makes on a timer."""

    name: str  # server name, or an IP for services without DNS
    port: int
    proto: str  # "tls" | "http" | "ntp"
    period_s: float
    jitter: float  # uniform +- share of the period
    share: float  # share of hosts that run it
    request: int  # client bytes after the handshake
    response: int  # server bytes


FLEET_SERVICES = (
    PeriodicService(RESOLVER, 123, "ntp", 1024.0, 0.01, 1.0, 48, 48),
    PeriodicService("settings-win.data.microsoft.com", 443, "tls", 14400.0, 0.05, 0.9, 900, 2600),
    PeriodicService("v10.events.data.microsoft.com", 443, "tls", 10800.0, 0.1, 0.8, 5200, 420),
    PeriodicService("wdcp.microsoft.com", 443, "tls", 21600.0, 0.1, 0.8, 1800, 600),
    PeriodicService("fe3cr.delivery.mp.microsoft.com", 443, "tls", 79200.0, 0.1, 1.0, 3000, 18000),
    PeriodicService("ctldl.windowsupdate.com", 80, "http", 86400.0, 0.05, 1.0, 0, 7800),
)


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def server_ip(name: str) -> str:
    """A stable public address per name, in CDN-like ranges (none of them in the 3CX lists)."""
    digest = hashlib.sha256(name.encode()).digest()
    return CDN_PREFIXES[digest[0] % len(CDN_PREFIXES)] + f"{digest[1] % 250 + 2}.{digest[2] % 250 + 2}"


@dataclass
class Host:
    address: str
    desktop: bool  # desktops stay on overnight; laptops come and go
    arrive: list[float] = field(default_factory=list)  # per day: when the user arrives
    leave: list[float] = field(default_factory=list)
    post_quantum: bool = False
    dns_cache: dict[str, float] = field(default_factory=dict)
    tls_seen: dict[str, float] = field(default_factory=dict)  # name -> last full handshake (for resumption)

    def online(self, t: float) -> bool:
        if self.desktop:
            return True
        return any(a <= t < b for a, b in zip(self.arrive, self.leave, strict=True))


class DemoOffice:
    def __init__(self, writer: synth.TrafficWriter, rng: random.Random, start: float, end: float) -> None:
        self.w = writer
        self.rng = rng
        self.start, self.end = start, end
        self.hosts: list[Host] = []
        for octet in range(10, 50):
            desktop = octet in (21, 28, 37, 45) or (octet != 33 and rng.random() < 0.6)
            host = Host(f"{OFFICE_PREFIX}{octet}", desktop, post_quantum=rng.random() < 0.15)
            day = START - 6 * 3600  # midnight of day 1
            while day < end:
                host.arrive.append(day + 3600 * rng.uniform(7.6, 9.3))
                host.leave.append(day + 3600 * rng.uniform(16.8, 18.8))
                day += 86400
            self.hosts.append(host)
        self.by_octet = {int(h.address.rsplit(".", 1)[1]): h for h in self.hosts}
        laptop = self.by_octet[33]  # the infected laptop: a long first day, so its series is not tiny
        laptop.arrive[0], laptop.leave[0] = START + 1.7 * 3600, START + 13.6 * 3600
        self.lookups: dict[tuple[str, str], list[float]] = {}  # (client, name) -> query times
        self.sessions: dict[tuple[str, str, int], list[tuple[float, int, int]]] = {}  # -> (ts, out, in)

    # -- building blocks
    def answers(self, name: str) -> list[str]:
        if name == BLOCKED_NAME:
            return [BLOCKED_ANSWER]
        if name == "raw.githubusercontent.com":
            return GITHUB_RAW_IPS
        for _, c2, address, _ in INFECTED:
            if name == c2:
                return [address]
        chain = [CNAMES[name]] if name in CNAMES else []
        return [*chain, server_ip(name)]

    def ttl(self, name: str) -> int:
        return 300 if name in (BLOCKED_NAME, *(c2 for _, c2, _, _ in INFECTED)) else 3600

    def resolve(self, host: Host, name: str, t: float) -> tuple[str, float]:
        """The address the host connects to, looking it up first when its cache has expired."""
        answers = self.answers(name)
        address = self.rng.choice([a for a in answers if a[0].isdigit()])
        if host.dns_cache.get(name, 0.0) > t:
            return address, t
        ttl = self.ttl(name)
        self.w.dns_exchange(
            t, host.address, RESOLVER, name, answers, ttl=ttl, rtt=self.rng.uniform(0.004, 0.03)
        )
        self.lookups.setdefault((host.address, name), []).append(t)
        host.dns_cache[name] = t + ttl
        return address, t + 0.035

    def tls(
        self,
        host: Host,
        t: float,
        name: str | None,
        address: str,
        port: int,
        request: int,
        response: int,
        *,
        profile: str = "chrome",
        duration: float | None = None,
        alpn: tuple[str, ...] = ("h2", "http/1.1"),
        post_quantum: bool = False,
    ) -> None:
        key = name or address
        resumed = t - host.tls_seen.get(key, -1e18) < 7200
        if not resumed:
            host.tls_seen[key] = t
        hello = synth.client_hello(
            name,
            alpn=alpn,
            profile="chrome" if profile == "chrome" else "schannel",
            post_quantum=post_quantum,
            versions=(0x0304, 0x0303) if profile == "chrome" else (0x0303,),
            rng=self.rng,
        )
        server_hello = self.rng.randint(180, 260) if resumed else self.rng.randint(3200, 5200)
        stats = self.w.tls_session(
            t,
            host.address,
            address,
            None,
            port,
            hello,
            80 + request,
            server_hello,
            response,
            duration=duration,
            rtt=self.rng.uniform(0.008, 0.06),
        )
        self.sessions.setdefault((host.address, key, port), []).append((t, stats.bytes_out, stats.bytes_in))

    def http(
        self, host: Host, t: float, name: str, address: str, uri: str, response: int, user_agent: str
    ) -> None:
        request = synth.http_request(
            "GET", name, uri, user_agent=user_agent, headers=(("Accept", "*/*"), ("Connection", "Keep-Alive"))
        )
        head = synth.http_response(
            body_length=response, headers=(("Content-Type", "application/octet-stream"),)
        )
        stats = self.w.tcp_session(
            t,
            host.address,
            address,
            None,
            80,
            [request],
            server_payloads=[head],
            server_bytes=response,
            rtt=self.rng.uniform(0.008, 0.05),
        )
        self.sessions.setdefault((host.address, name, 80), []).append((t, stats.bytes_out, stats.bytes_in))

    # -- behaviours
    def browsing(self) -> None:
        for host in self.hosts:
            for arrive, leave in zip(host.arrive, host.leave, strict=True):
                t = max(arrive, self.start) + self.rng.expovariate(1 / 600)
                stop = min(leave, self.end)
                if t < stop:  # morning connectivity check, as Windows does at logon
                    self.http(
                        host,
                        t,
                        "www.msftconnecttest.com",
                        server_ip("www.msftconnecttest.com"),
                        "/connecttest.txt",
                        22,
                        "Microsoft NCSI",
                    )
                while t < stop:
                    self.burst(host, t)
                    t += self.rng.expovariate(1 / 7200)  # a burst every ~2 h

    def burst(self, host: Host, t: float) -> None:
        for _ in range(self.rng.choice((1, 1, 2))):
            site = self.rng.choice(SITES)
            names = [site[0], *(n for n in site[1:] if self.rng.random() < 0.5)]
            names += [n for n in TRACKERS if self.rng.random() < 0.1]
            if "raw.githubusercontent.com" in names and self.rng.random() < 0.7:
                names.remove("raw.githubusercontent.com")  # only some GitHub pages pull raw content
            if self.rng.random() < 0.03:  # a typo: NXDOMAIN, no connection
                typo = site[0].replace(".", "", 1) + ".co"
                self.w.dns_exchange(t, host.address, RESOLVER, typo, rcode=3, rtt=0.02)
                t += 2.0
            for i, name in enumerate(names):
                address, at = self.resolve(host, name, t + i * self.rng.uniform(0.05, 0.4))
                self.tls(
                    host,
                    at + 0.001,
                    name,
                    address,
                    443,
                    self.rng.randint(300, 900),
                    int(min(self.rng.lognormvariate(math.log(5000), 1.0), 300_000)),
                    duration=self.rng.uniform(1, 90),
                    post_quantum=host.post_quantum,
                )
            if self.rng.random() < 0.1:
                self.http(
                    host,
                    t + 0.2,
                    "ocsp.digicert.com",
                    server_ip("ocsp.digicert.com"),
                    "/MFEwTzBNMEswSTAJBgUrDgMCGgUABBQ50otx%2Fh0Ztl%2Bz8SiPI7wEWVxDlQQU",
                    471,
                    "Microsoft-CryptoAPI/10.0",
                )
            t += self.rng.uniform(20, 240)

    def fleet_services(self) -> list[dict[str, object]]:
        truth = []
        for service in FLEET_SERVICES:
            hosts = [h for h in self.hosts if self.rng.random() < service.share]
            for host in hosts:
                t = self.start + self.rng.uniform(0, min(service.period_s, self.end - self.start))
                while t < self.end:
                    if host.online(t):
                        self.check_in(host, t, service)
                    t += service.period_s * (1 + self.rng.uniform(-service.jitter, service.jitter))
            truth.append(
                {
                    "server": service.name,
                    "dst_port": service.port,
                    "protocol": service.proto,
                    "period_s": service.period_s,
                    "jitter": service.jitter,
                    "hosts": [h.address for h in hosts],
                }
            )
        return truth

    def check_in(self, host: Host, t: float, service: PeriodicService) -> None:
        if service.proto == "ntp":
            request = synth.ntp_request(self.rng)
            self.w.udp_exchange(
                t,
                host.address,
                service.name,
                123,
                123,
                request,
                synth.ntp_reply(request, self.rng),
                rtt=0.0008,
            )
            self.sessions.setdefault((host.address, service.name, 123), []).append((t, 76, 76))
            return
        address, at = self.resolve(host, service.name, t)
        if service.proto == "http":
            self.http(
                host,
                at,
                service.name,
                address,
                "/msdownload/update/v3/static/trustedr/en/authrootstl.cab",
                service.response,
                "Microsoft-CryptoAPI/10.0",
            )
        else:
            self.tls(
                host,
                at,
                service.name,
                address,
                service.port,
                service.request,
                service.response,
                profile="schannel",
                alpn=("http/1.1",),
            )

    def infected(self) -> list[dict[str, object]]:
        truth: list[dict[str, object]] = []
        for octet, c2, address, overnight in INFECTED:
            host = self.by_octet[octet]
            first = self.start + 3600 * self.rng.uniform(1.0, 7.0)  # the 7-day timer ends during the capture
            if not overnight:  # the laptop's app starts once its user is in
                first = max(first, host.arrive[0] + self.rng.uniform(300, 1800))
            icon = int.from_bytes(hashlib.sha256(host.address.encode()).digest()[:2], "big") % 15
            gh_address, at = self.resolve(host, "raw.githubusercontent.com", first)
            self.tls(
                host,
                at,
                "raw.githubusercontent.com",
                gh_address,
                443,
                420,
                self.rng.randint(30_000, 60_000),
                alpn=("http/1.1",),
            )
            t = at + self.rng.uniform(5, 40)
            checkins: list[float] = []
            while t < self.end:
                if overnight or host.online(t):
                    c2_address, at = self.resolve(host, c2, t)
                    self.tls(
                        host,
                        at,
                        c2,
                        c2_address,
                        443,
                        self.rng.randint(620, 760),
                        self.rng.randint(180, 420),
                        alpn=("http/1.1",),
                    )
                    checkins.append(at)
                t += self.rng.uniform(CHECKIN_MIN_S, CHECKIN_MAX_S)
            truth.append(
                {
                    "role": "3cx-infected",
                    "src_ip": host.address,
                    "server_name": c2,
                    "dst_ip": address,
                    "dst_port": 443,
                    "period_s": (CHECKIN_MIN_S + CHECKIN_MAX_S) / 2,
                    "jitter": (CHECKIN_MAX_S - CHECKIN_MIN_S) / (CHECKIN_MAX_S + CHECKIN_MIN_S),
                    "interval_model": f"uniform({CHECKIN_MIN_S:.0f} s, {CHECKIN_MAX_S:.0f} s)",
                    "active": "all day" if overnight else "only while the laptop is on (gaps overnight)",
                    "stage1": {
                        "server_name": "raw.githubusercontent.com",
                        "ts": _iso(first),
                        "url_if_decrypted": f"https://raw.githubusercontent.com/IconStorages/images/main/icon{icon}.ico",
                    },
                    "intel": [{"indicator": c2, "fields": ["dns_query", "sni"]}],
                    **self.measured(checkins),
                }
            )
        return truth

    def bare_ip(self) -> dict[str, object]:
        host = self.by_octet[BARE_IP_HOST]
        t = self.start + self.rng.uniform(0, BARE_PERIOD_S)
        checkins = []
        while t < self.end:
            self.tls(
                host,
                t,
                None,
                BARE_IP,
                BARE_PORT,
                self.rng.randint(150, 190),
                self.rng.randint(60, 90),
                profile="schannel",
                alpn=(),
            )
            checkins.append(t)
            t += BARE_PERIOD_S * (1 + self.rng.uniform(-BARE_JITTER, BARE_JITTER))
        return {
            "role": "unlisted-bare-ip-beacon",
            "src_ip": host.address,
            "server_name": None,
            "dst_ip": BARE_IP,
            "dst_port": BARE_PORT,
            "period_s": BARE_PERIOD_S,
            "jitter": BARE_JITTER,
            "interval_model": f"uniform +-{BARE_JITTER:.0%} around {BARE_PERIOD_S:.0f} s",
            "notes": "TLS without SNI and without a DNS lookup (IP literal)",
            "intel": [],
            **self.measured(checkins),
        }

    def blocked_lookup(self) -> dict[str, object]:
        host = self.by_octet[BLOCKED_HOST]
        t = self.start + self.rng.uniform(0, BLOCKED_PERIOD_S)
        lookups = []
        while t < self.end:
            self.w.dns_exchange(t, host.address, RESOLVER, BLOCKED_NAME, [BLOCKED_ANSWER], ttl=60, rtt=0.02)
            lookups.append(t)
            t += BLOCKED_PERIOD_S * (1 + self.rng.uniform(-BLOCKED_JITTER, BLOCKED_JITTER))
        measured = self.measured(lookups)
        measured["lookups"] = measured.pop("connections")
        return {
            "role": "blocked-lookup",
            "src_ip": host.address,
            "server_name": BLOCKED_NAME,
            "dst_ip": None,
            "dst_port": None,
            "dns_answers": [BLOCKED_ANSWER],
            "period_s": BLOCKED_PERIOD_S,
            "jitter": BLOCKED_JITTER,
            "connections_to_answer": 0,
            "notes": "answered lookups, never followed by a connection (blocked at the firewall)",
            "intel": [
                {"indicator": BLOCKED_NAME, "fields": ["dns_query"]},
                {"indicator": BLOCKED_ANSWER, "fields": ["dns_answer"]},
            ],
            **measured,
        }

    @staticmethod
    def measured(times: list[float]) -> dict[str, object]:
        gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
        return {
            "connections": len(times),
            "first_seen": _iso(times[0]) if times else None,
            "last_seen": _iso(times[-1]) if times else None,
            "median_interval_s": round(statistics.median(gaps), 1) if gaps else None,
            # overnight gaps excluded: what a period estimate should come close to
            "mean_interval_s": round(statistics.mean(g for g in gaps if g < 3 * CHECKIN_MAX_S), 1)
            if gaps
            else None,
        }


def generate(out: Path, *, seed: int = 7, hours: float = 26.0) -> dict[str, Any]:
    rng = random.Random(seed)
    end = START + hours * 3600
    with synth.TrafficWriter(out, "pcap", snaplen=SNAPLEN, seed=rng.getrandbits(32)) as writer:
        office = DemoOffice(writer, rng, START, end)
        suspicious = [*office.infected(), office.bare_ip(), office.blocked_lookup()]
        benign = office.fleet_services()
        office.browsing()
        writer.flush()
        packets, size = writer.packets_written, writer.bytes_written
    return {
        "capture": out.name,
        "generator": "pcaps/make_demo.py",
        "seed": seed,
        "start": _iso(START),
        "end": _iso(end),
        "hours": hours,
        "packets": packets,
        "bytes": size,
        "snaplen_data_packets": SNAPLEN,
        "office": {
            "hosts": [h.address for h in office.hosts],
            "resolver": RESOLVER,
            "ntp": RESOLVER,
            "desktops": [h.address for h in office.hosts if h.desktop],
        },
        "suspicious": suspicious,
        "benign_periodic": benign,
        "tcp_connections": sum(len(v) for (_, _, port), v in office.sessions.items() if port != 123),
        "dns_lookups": sum(len(v) for v in office.lookups.values()),
    }


def readme(truth: dict[str, Any]) -> str:
    rows = []
    for item in truth["suspicious"]:
        target = item["server_name"] or f"{item['dst_ip']}:{item['dst_port']}"
        count = item.get("connections", item.get("lookups"))
        intel = ", ".join(f"{i['indicator']} ({'/'.join(i['fields'])})" for i in item["intel"]) or "none"
        rows.append(
            f"| {item['src_ip']} | {item['role']} | {target} | {item['period_s']:.0f} s "
            f"+-{item['jitter']:.0%} | {count} | {intel} |"
        )
    benign = [
        f"| {b['server']}:{b['dst_port']} ({b['protocol']}) | {b['period_s']:.0f} s +-{b['jitter']:.0%} "
        f"| {len(b['hosts'])} |"
        for b in truth["benign_periodic"]
    ]
    return f"""# Demo capture

`demo-office.pcap` ({truth["bytes"] / 1e6:.1f} MB, {truth["packets"]} packets) is written by `make_demo.py`
(seed {truth["seed"]}): an office of 40 hosts in 10.1.0.0/24 with one resolver and time server
(10.1.0.2), from {truth["start"]} to {truth["end"]} ({truth["hours"]:.0f} h). Regenerate with

    python pcaps/make_demo.py            # a few seconds; same seed, same bytes

Data packets are cut to {truth["snaplen_data_packets"]} bytes (the records keep the original length, so byte
counts are real); DNS, ClientHellos and HTTP requests are whole. The ground truth below is also in
`demo-office.truth.json`, computed from the packets that were written.

## What a detector should find

| host | role | server | period (jitter) | connections / lookups | intel (fields) |
|---|---|---|---|---|---|
{chr(10).join(rows)}

- The 3CX hosts first fetch their icon from `raw.githubusercontent.com` (as the loader does; the URL path
  is inside TLS, so only the name shows), then check in over HTTPS to a listed 3CX domain every
  1200-2400 s, uniformly drawn: mean 1800 s, +-33 %. The loader argument "1200 2400" read as min/max
  seconds is a guess (see `../shared/intel/3cx/NOTES.md`). 10.1.0.33 is a laptop: its app checks in
  only while the laptop is in the office, so its series is shorter. The C2 addresses are TEST-NET-2 and
  unlisted, so these hosts match on names (DNS query, SNI). `median_interval_s` and `mean_interval_s`
  in the truth file are the sample statistics of what was written.
- 10.1.0.37 connects to 203.0.113.50:8443 every 90 s +-5 %: TLS without SNI, no DNS, in no intel list.
  Only its regularity gives it away.
- 10.1.0.28 looks up journalide.org (listed) every ~600 s and gets 172.93.201.88 (listed, ESET), but never
  connects: a blocked lookup is still an infected host.

## Benign traffic that must rank below them

| periodic service | period (jitter) | hosts |
|---|---|---|
{chr(10).join(benign)}

Plus browsing in bursts during office hours (08:00-18:00 UTC, laptops arrive and leave at random times)
to {len(SITES)} sites and their CDNs, some hosts fetching from raw.githubusercontent.com as developers do,
a few NXDOMAIN typos, OCSP and connectivity checks over plain HTTP, Chrome ClientHellos with post-quantum
key shares (two TCP segments) on some hosts.
"""


def main(argv: list[str] | None = None) -> int:
    here = Path(__file__).resolve().parent
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=here / "demo-office.pcap")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--hours", type=float, default=26.0, help="capture length (default 26)")
    parser.add_argument(
        "--readme",
        type=Path,
        default=None,
        help="write the ground-truth README here (default: pcaps/README.md for the default --out)",
    )
    args = parser.parse_args(argv)
    started = time.perf_counter()
    truth = generate(args.out, seed=args.seed, hours=args.hours)
    truth_path = args.out.with_name(args.out.name.removesuffix(".pcap") + ".truth.json")
    truth_path.write_text(json.dumps(truth, indent=1) + "\n")
    readme_path = args.readme or (
        here / "README.md" if args.out.resolve() == here / "demo-office.pcap" else None
    )
    if readme_path is not None:
        readme_path.write_text(readme(truth))
    print(
        f"{args.out}: {truth['packets']} packets, {truth['bytes']} bytes "
        f"in {time.perf_counter() - started:.1f} s; truth in {truth_path}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
