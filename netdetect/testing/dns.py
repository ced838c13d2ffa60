"""Labelled DNS traffic: tunnel and C2-over-DNS shapes, and the ordinary look-alikes that must stay
quiet, as `DnsEvent` lists (queries and their responses) for tests and for `evaluate_dns`.

Tunnels: dnscat2-like (hex labels up to 63 chars, TXT/CNAME/MX mix, several queries per second),
dns2tcp-like (TXT polls of short labels, some base64 data), iodine-like (NULL records, base128-ish
labels whose high bytes render as \\DDD escapes), slow exfiltration (a few queries per minute of
base32 labels), and DNS beacons (periodic lookups, new subdomain each time or NXDOMAIN streams).
Look-alikes: CDN hash names over many hosts, browsing thousands of domains, anti-virus reputation
lookups (hash labels under one vendor domain, many hosts), DNSBL lookups by a mail server, NTP
pool names, Windows/Apple/Google telemetry.
"""

from __future__ import annotations

import base64
import string
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from netdetect.model import DnsAnswer, DnsEvent

RESOLVER = "10.0.0.53"
START = 1_700_000_000.0
HEX = "0123456789abcdef"
ALNUM = string.ascii_lowercase + string.digits


def exchange(
    ts: float,
    client: str,
    name: str,
    qtype: str = "A",
    answers: list[DnsAnswer] | None = None,
    rcode: int = 0,
    txid: int = 0,
    rtt: float = 0.02,
) -> list[DnsEvent]:
    """A query and its response."""
    port = 40000 + txid % 20000
    txid %= 1 << 16
    query = DnsEvent(ts, client, RESOLVER, port, 53, "udp", txid, name, qtype, False)
    response = DnsEvent(
        ts + rtt, client, RESOLVER, port, 53, "udp", txid, name, qtype, True, rcode, answers or []
    )
    return [query, response]


def hex_data(rng: np.random.Generator, n_bytes: int) -> str:
    return rng.bytes(n_bytes).hex()


def _labels(text: str, size: int = 63) -> str:
    return ".".join(text[i : i + size] for i in range(0, len(text), size))


def token(rng: np.random.Generator, n: int, alphabet: str = ALNUM) -> str:
    return "".join(alphabet[i] for i in rng.integers(0, len(alphabet), n))


def _times(rng: np.random.Generator, start: float, duration_s: float, per_s: float) -> np.ndarray:
    n = rng.poisson(per_s * duration_s)
    return np.sort(start + rng.uniform(0, duration_s, n))


# -- tunnels ------------------------------------------------------------------------------------
def dnscat2(
    rng: np.random.Generator, client: str, domain: str = "skullseclabs.org", start: float = START,
    duration_s: float = 600.0, per_s: float = 3.0,
) -> list[DnsEvent]:  # fmt: skip
    """dnscat2-like: hex-encoded packets (9-byte header plus data) as up to 63-char labels, asked as
    TXT, CNAME or MX (some A), answered in kind with hex data."""
    out: list[DnsEvent] = []
    for i, t in enumerate(_times(rng, start, duration_s, per_s)):
        data = 0 if rng.random() < 0.4 else int(rng.integers(1, 110))  # 40% polls without data
        name = f"{_labels(hex_data(rng, 9 + data))}.{domain}"
        qtype = str(rng.choice(["TXT", "CNAME", "MX", "A"], p=[0.5, 0.2, 0.2, 0.1]))
        down = hex_data(rng, 9 + int(rng.integers(0, 100)))
        if qtype == "TXT":
            answer = DnsAnswer(name, "TXT", down, 1)
        elif qtype == "CNAME":
            answer = DnsAnswer(name, "CNAME", f"{_labels(down)}.{domain}", 1)
        elif qtype == "MX":
            answer = DnsAnswer(name, "MX", f"10 {_labels(down)}.{domain}", 1)
        else:
            answer = DnsAnswer(name, "A", f"10.{rng.integers(0, 255)}.{rng.integers(0, 255)}.1", 1)
        out += exchange(float(t), client, name, qtype, [answer], txid=i)
    return out


def _base128ish(rng: np.random.Generator, n: int) -> str:
    """iodine's base128 uses letters, digits and bytes 0xbc-0xfd; the decoder renders those as \\DDD."""
    out = []
    for v in rng.integers(0, 128, n).tolist():
        out.append(ALNUM[v] if v < len(ALNUM) else f"\\{0xBC + v - len(ALNUM):03d}")
    return "".join(out)


def iodine(
    rng: np.random.Generator, client: str, domain: str = "pirate-tunnel.net", start: float = START,
    duration_s: float = 600.0, per_s: float = 4.0,
) -> list[DnsEvent]:  # fmt: skip
    """iodine-like: NULL queries of base128-ish upstream labels under t.<domain>, NULL answers with
    up to ~1 KB of raw downstream data."""
    out: list[DnsEvent] = []
    for i, t in enumerate(_times(rng, start, duration_s, per_s)):
        poll = rng.random() < 0.3
        body = token(rng, 6) if poll else _base128ish(rng, int(rng.integers(40, 180)))
        name = f"{'p' if poll else 'a'}{_labels(body, 60)}.t.{domain}"
        size = int(rng.integers(0, 1100))
        answer = DnsAnswer(name, "NULL", f"\\# {size} {rng.bytes(min(size, 256)).hex()}", 0)
        out += exchange(float(t), client, name, "NULL", [answer], txid=i)
    return out


def dns2tcp(
    rng: np.random.Generator, client: str, domain: str = "tunnel-relay.com", start: float = START,
    duration_s: float = 60.0, per_s: float = 8.0,
) -> list[DnsEvent]:  # fmt: skip
    """dns2tcp-like: TXT queries under srv.<domain>, mostly 10-character polls, some base64 data
    labels; TXT answers in base64, mostly short."""
    b64 = string.ascii_lowercase + string.digits + "+/"
    out: list[DnsEvent] = []
    for i, t in enumerate(_times(rng, start, duration_s, per_s)):
        poll = rng.random() < 0.7
        body = token(rng, 10) if poll else _labels(token(rng, int(rng.integers(40, 180)), b64))
        name = f"{body}.srv.{domain}"
        down = base64.b64encode(rng.bytes(int(rng.integers(8, 24 if poll else 160)))).decode()
        out += exchange(float(t), client, name, "TXT", [DnsAnswer(name, "TXT", down, 0)], txid=i)
    return out


def slow_exfil(
    rng: np.random.Generator, client: str, domain: str = "cdn-metrics-sync.com", start: float = START,
    duration_s: float = 3600.0, per_min: float = 3.0,
) -> list[DnsEvent]:  # fmt: skip
    """A few A queries per minute, each carrying 60-150 bytes as base32 labels; NXDOMAIN answers."""
    out: list[DnsEvent] = []
    for i, t in enumerate(_times(rng, start, duration_s, per_min / 60.0)):
        chunk = base64.b32encode(rng.bytes(int(rng.integers(60, 150)))).decode().rstrip("=").lower()
        name = f"{_labels(chunk)}.{domain}"
        out += exchange(float(t), client, name, "A", rcode=3, txid=i)
    return out


def dns_beacon(
    rng: np.random.Generator, client: str, domain: str = "update-check.net", start: float = START,
    duration_s: float = 3600.0, period_s: float = 60.0, jitter: float = 0.1, new_names: bool = True,
    nxdomain: bool = False,
) -> list[DnsEvent]:  # fmt: skip
    """Periodic lookups (uniform jitter of ±jitter*period): a new short subdomain each time or one
    fixed name; answered with an address or NXDOMAIN."""
    out: list[DnsEvent] = []
    t, i = start + float(rng.uniform(0, period_s)), 0
    while t < start + duration_s:
        name = f"{token(rng, 8, HEX)}.{domain}" if new_names else f"api.{domain}"
        # C2 servers answer with short TTLs so that every check-in reaches them.
        answers = [] if nxdomain else [DnsAnswer(name, "A", "198.51.100.7", 5)]
        out += exchange(t, client, name, "A", answers, rcode=3 if nxdomain else 0, txid=i)
        t += period_s * (1.0 + jitter * float(rng.uniform(-1, 1)))
        i += 1
    return out


# -- look-alikes --------------------------------------------------------------------------------
def cdn_hashes(
    rng: np.random.Generator, clients: list[str], start: float = START, duration_s: float = 3600.0
) -> list[DnsEvent]:
    """CDN names with hash-like tokens: each host asks a few of them, at random times."""
    makers: list[Callable[[], str]] = [
        lambda: f"d{token(rng, 13)}.cloudfront.net",
        lambda: f"e{rng.integers(1000, 99999)}.{rng.choice(['a', 'b', 'dscb', 'dsca'])}.akamaiedge.net",
        lambda: f"r{rng.integers(1, 9)}---sn-{token(rng, 8)}.googlevideo.com",
        lambda: f"{token(rng, 12, HEX)}.azureedge.net",
        lambda: f"scontent-{token(rng, 3)}{rng.integers(1, 3)}-1.xx.fbcdn.net",
    ]
    out: list[DnsEvent] = []
    for c in clients:
        for _ in range(int(rng.integers(3, 20))):
            name = makers[int(rng.integers(0, len(makers)))]()
            t = start + float(rng.uniform(0, duration_s))
            out += exchange(t, c, name, "A", [DnsAnswer(name, "A", "203.0.113.9", 60)], txid=len(out))
    return out


def browsing(
    rng: np.random.Generator,
    client: str,
    n_domains: int = 3000,
    start: float = START,
    duration_s: float = 3600.0,
) -> list[DnsEvent]:
    """Thousands of distinct registered domains, a few names each (www, cdn, static...)."""
    words = ["news", "shop", "blog", "mail", "photo", "video", "travel", "food", "tech", "sport"]
    out: list[DnsEvent] = []
    for d in range(n_domains):
        suffix = rng.choice(["com", "org", "de", "co.uk"])
        domain = f"{words[d % len(words)]}{token(rng, 5, string.ascii_lowercase)}.{suffix}"
        t = start + float(rng.uniform(0, duration_s))
        for host in rng.choice(
            ["www", "cdn", "static", "img", "api", "m"], int(rng.integers(1, 4)), replace=False
        ):
            name = f"{host}.{domain}"
            cname = DnsAnswer(name, "CNAME", f"{domain}.cdn.cloudflare.net", 300)
            out += exchange(
                t, client, name, "A", [cname, DnsAnswer(name, "A", "192.0.2.80", 300)], txid=len(out)
            )
            t += float(rng.uniform(0.01, 0.5))
    return out


def av_lookups(
    rng: np.random.Generator, clients: list[str], vendor: str = "sophosxl.net", start: float = START,
    duration_s: float = 3600.0, per_min: float = 0.5,
) -> list[DnsEvent]:  # fmt: skip
    """File-reputation lookups: a 32- or 40-hex-char hash label under the vendor's domain, from
    many hosts, answered 127.0.0.x."""
    out: list[DnsEvent] = []
    for c in clients:
        for t in _times(rng, start, duration_s, per_min / 60.0):
            name = f"{hex_data(rng, int(rng.choice([16, 20])))}.sxl4.{vendor}"
            out += exchange(float(t), c, name, "A", [DnsAnswer(name, "A", "127.0.0.1", 300)], txid=len(out))
    return out


def dnsbl(
    rng: np.random.Generator, mail_server: str, start: float = START, duration_s: float = 3600.0,
    per_min: float = 6.0,
) -> list[DnsEvent]:  # fmt: skip
    """A mail server checking each sender's address: reversed IPv4 labels under zen.spamhaus.org."""
    out: list[DnsEvent] = []
    for t in _times(rng, start, duration_s, per_min / 60.0):
        octets = rng.integers(1, 255, 4).tolist()
        name = ".".join(str(o) for o in reversed(octets)) + ".zen.spamhaus.org"
        listed = rng.random() < 0.1
        answers = [DnsAnswer(name, "A", "127.0.0.2", 60)] if listed else []
        out += exchange(float(t), mail_server, name, "A", answers, rcode=0 if listed else 3, txid=len(out))
    return out


def ntp_pool(
    rng: np.random.Generator, clients: list[str], start: float = START, duration_s: float = 3600.0
) -> list[DnsEvent]:
    """Pool names re-resolved every 1024 s or so."""
    out: list[DnsEvent] = []
    for c in clients:
        for k in range(4):
            name = f"{k}.{rng.choice(['pool', 'debian.pool', 'ubuntu.pool'])}.ntp.org"
            t = start + float(rng.uniform(0, 1024))
            while t < start + duration_s:
                out += exchange(t, c, name, "A", [DnsAnswer(name, "A", "192.0.2.123", 150)], txid=len(out))
                t += 1024.0 + float(rng.uniform(-30, 30))
    return out


TELEMETRY_NAMES = (
    "v10.events.data.microsoft.com", "v20.events.data.microsoft.com", "self.events.data.microsoft.com",
    "settings-win.data.microsoft.com", "watson.telemetry.microsoft.com", "mobile.events.data.microsoft.com",
    "ctldl.windowsupdate.com", "login.live.com", "gsp-ssl.ls.apple.com", "gateway.icloud.com",
    "init.itunes.apple.com", "configuration.apple.com", "mesu.apple.com", "clients4.google.com",
    "update.googleapis.com", "safebrowsing.googleapis.com", "android.clients.google.com",
)  # fmt: skip


def telemetry(
    rng: np.random.Generator, clients: list[str], start: float = START, duration_s: float = 3600.0
) -> list[DnsEvent]:
    """Windows/Apple/Google telemetry and update names, refreshed as their TTLs run out."""
    out: list[DnsEvent] = []
    for c in clients:
        for name in rng.choice(TELEMETRY_NAMES, 6, replace=False).tolist():
            ttl = float(rng.choice([60, 300, 900]))
            t = start + float(rng.uniform(0, ttl))
            while t < start + duration_s:
                out += exchange(
                    t, c, name, "A", [DnsAnswer(name, "A", "192.0.2.44", int(ttl))], txid=len(out)
                )
                # Asked again when the cached answer has expired and the host next needs it.
                t += ttl + float(rng.exponential(ttl))
    return out


WINDOWS_NAMES = tuple(
    f"{host}.{zone}.microsoft.com"
    for host in ("settings-win", "v10", "v20", "self", "mobile", "watson", "umwatson", "arc", "fe3", "sls")
    for zone in ("data", "events.data")
)  # fmt: skip


def windows_hosts(
    rng: np.random.Generator, clients: list[str], start: float = START, duration_s: float = 3600.0
) -> list[DnsEvent]:
    """Windows hosts asking 20 names under microsoft.com over and over, each answered with a chain
    of long CNAMEs (Akamai, Traffic Manager) before the address: many answer bytes, all repeats."""
    out: list[DnsEvent] = []
    for c in clients:
        for name in WINDOWS_NAMES:
            chain = [
                DnsAnswer(name, "CNAME", f"{name}.akadns.net", 60),
                DnsAnswer(
                    f"{name}.akadns.net", "CNAME", f"{name.split('.')[0]}-prod-geo2.trafficmanager.net", 60
                ),
                DnsAnswer(f"{name.split('.')[0]}-prod-geo2.trafficmanager.net", "A", "192.0.2.45", 60),
            ]
            t = start + float(rng.uniform(0, 60))
            while t < start + duration_s:
                out += exchange(t, c, name, "A", chain, txid=len(out))
                t += 60.0 + float(rng.exponential(120.0))
    return out


# -- a labelled mix -----------------------------------------------------------------------------
@dataclass
class LabelledDns:
    events: list[DnsEvent] = field(default_factory=list)
    # shape -> (client, registered domain) pairs of that shape; tunnels and beacons are positives.
    shapes: dict[str, set[tuple[str, str]]] = field(default_factory=dict)
    positive: set[str] = field(default_factory=set)  # the shapes that should be found

    def add(
        self, shape: str, events: list[DnsEvent], domain_of: Callable[[str], str | None], positive: bool
    ) -> None:
        self.events += events
        pairs = self.shapes.setdefault(shape, set())
        for e in events:
            domain = domain_of(e.query)
            if domain is not None:
                pairs.add((e.client, domain))
        if positive:
            self.positive.add(shape)


def labelled_mix(seed: int = 0, duration_s: float = 3600.0, hosts: int = 40) -> LabelledDns:
    """One hour of a small network: every look-alike, plus each tunnel and beacon shape on its own
    hosts (the slow exfiltration and the dnscat2 shape also from several hosts at once)."""
    from netdetect.domains import registered_domain

    rng = np.random.default_rng(seed)
    lan = [f"10.1.{i // 250}.{i % 250 + 1}" for i in range(hosts)]
    mix = LabelledDns()
    mix.add("cdn_hashes", cdn_hashes(rng, lan, duration_s=duration_s), registered_domain, False)
    mix.add("browsing", browsing(rng, lan[0], duration_s=duration_s), registered_domain, False)
    mix.add("av_lookups", av_lookups(rng, lan, duration_s=duration_s), registered_domain, False)
    mix.add("dnsbl", dnsbl(rng, "10.1.9.25", duration_s=duration_s), registered_domain, False)
    mix.add("ntp_pool", ntp_pool(rng, lan, duration_s=duration_s), registered_domain, False)
    mix.add("telemetry", telemetry(rng, lan, duration_s=duration_s), registered_domain, False)
    mix.add(
        "windows_cname_chains", windows_hosts(rng, lan[:10], duration_s=duration_s), registered_domain, False
    )
    mix.add("dnscat2", dnscat2(rng, "10.2.0.1", duration_s=min(600.0, duration_s)), registered_domain, True)
    for k in range(6):  # one tunnel domain on many hosts: prevalence must not hide it
        mix.add(
            "dnscat2",
            dnscat2(rng, f"10.2.0.{k + 2}", domain="c2-dnscat.org", duration_s=300.0),
            registered_domain,
            True,
        )
    mix.add("dns2tcp", dns2tcp(rng, "10.2.1.2", duration_s=min(120.0, duration_s)), registered_domain, True)
    mix.add("iodine", iodine(rng, "10.2.1.1", duration_s=min(600.0, duration_s)), registered_domain, True)
    for k in range(6):
        mix.add(
            "slow_exfil", slow_exfil(rng, f"10.2.2.{k + 1}", duration_s=duration_s), registered_domain, True
        )
    for k in range(3):
        trickle = slow_exfil(
            rng, f"10.2.4.{k + 1}", domain="telemetry-sync.net", duration_s=duration_s, per_min=1.0
        )
        mix.add("slow_exfil_1_per_min", trickle, registered_domain, True)
    busy = av_lookups(rng, lan[:8], vendor="mcafee.com", duration_s=duration_s, per_min=5.0)
    mix.add("av_lookups_busy", busy, registered_domain, False)
    mix.add("beacon_new_names", dns_beacon(rng, "10.2.3.1", duration_s=duration_s), registered_domain, True)
    mix.add(
        "beacon_nxdomain",
        dns_beacon(
            rng, "10.2.3.2", domain="qwxkzt-dga.biz", duration_s=duration_s, period_s=120.0, nxdomain=True
        ),
        registered_domain,
        True,
    )
    mix.add(
        "beacon_fixed_name",
        dns_beacon(
            rng, "10.2.3.3", domain="status-ping.io", duration_s=duration_s, period_s=300.0, new_names=False
        ),
        registered_domain,
        True,
    )
    mix.events.sort(key=lambda e: e.ts)
    return mix


TUNNEL_SHAPES = ("dnscat2", "dns2tcp", "iodine", "slow_exfil", "slow_exfil_1_per_min")
BEACON_SHAPES = ("beacon_new_names", "beacon_nxdomain", "beacon_fixed_name")
RITA_SUBDOMAIN_THRESHOLD = 100  # RITA's unique-subdomain count for C2 over DNS (per domain, all clients)


def evaluate_dns(seeds: range = range(5), duration_s: float = 3600.0, threshold: float = 0.5) -> dict:
    """Per shape: share of its (client, domain) groups each method flags, over several seeds
    (recall for tunnel and beacon shapes, false-positive rate for look-alikes).
    Methods: dns_tunnel and dns_beacon at `threshold`, and RITA's unique-subdomain rule."""
    from netdetect.addr import to_text
    from netdetect.analysis.context import AnalysisOptions, build_context
    from netdetect.analysis.dns_domains import domain_lookups
    from netdetect.detectors.dns_beacon import DnsBeacon
    from netdetect.detectors.dns_tunnel import DnsTunnel
    from netdetect.model import CONN_DTYPE
    from netdetect.tables.events import EventSet
    from netdetect.tables.extraction import Extraction

    hits: dict[str, dict[str, list[int]]] = {}
    for seed in seeds:
        mix = labelled_mix(seed, duration_s)
        events = EventSet.of(mix.events)
        ex = Extraction(np.zeros(0, CONN_DTYPE), events, first_ts=mix.events[0].ts, last_ts=mix.events[-1].ts)
        ctx = build_context(ex, AnalysisOptions())
        flagged: dict[str, set[tuple[str, str | None]]] = {}
        for name, det in (("dns_tunnel", DnsTunnel()), ("dns_beacon", DnsBeacon())):
            d = det.run(ctx)
            s = d.subjects
            assert s is not None
            flagged[name] = {
                (to_text(c), n)
                for c, n, sc in zip(s.client.tolist(), s.name, d.score.tolist(), strict=True)
                if sc >= threshold
            }
        table = domain_lookups(ctx)
        flagged["rita_subdomains"] = {
            (to_text(c), table.domains[int(dm)])
            for c, dm, k in zip(
                table.client.tolist(), table.domain.tolist(), table.subdomains_of_domain.tolist(), strict=True
            )
            if k >= RITA_SUBDOMAIN_THRESHOLD
        }
        for shape, pairs in mix.shapes.items():
            row = hits.setdefault(shape, {m: [0, 0] for m in flagged})
            for method, got in flagged.items():
                row[method][0] += len(pairs & got)
                row[method][1] += len(pairs)
    return {
        shape: {m: (k / n if n else float("nan")) for m, (k, n) in row.items()}
        | {"groups": row["dns_tunnel"][1]}
        for shape, row in hits.items()
    }
