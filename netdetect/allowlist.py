"""Allowlists of known benign periodic services, applied when findings are reported.

File format (one entry per line, `#` starts a comment; see docs/intel.md):

    time.windows.com              a name, exactly
    *.windowsupdate.com           a name and all its subdomains, the apex too
    192.0.2.0/24                  server addresses (a bare address is a /32 or /128)
    10.0.0.5 -> 192.0.2.1         one client to one server (either side may be a CIDR, the client `*`)
    10.0.0.0/8 -> *.example.com   clients to a server name pattern

The default list ships in signatures/allowlist/default.txt. Matching is pure and cheap, so reports
re-apply it without a rescan. The caller must never suppress an intel match with it: an allowlisted
service that a threat actor abuses is exactly what intel is for (documented contract, not enforced here).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from netdetect.errors import IntelError
from netdetect.intel.indicator import BadValue, normalize_name, parse_name
from netdetect.intel.store import bundled_signatures_dir

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def default_allowlist_path() -> Path:
    return bundled_signatures_dir() / "allowlist" / "default.txt"


@dataclass(frozen=True, slots=True)
class NamePattern:
    name: str
    subdomains: bool

    def matches(self, normal: str) -> bool:
        if normal == self.name:
            return True
        return self.subdomains and normal.endswith(self.name) and normal[-len(self.name) - 1] == "."


@dataclass(slots=True)
class Entry:
    text: str
    source: str
    line: int
    client: list[Network] | None = None  # None: any client
    servers: list[Network] = field(default_factory=list)
    name: NamePattern | None = None

    @property
    def label(self) -> str:
        return f"{self.text} ({Path(self.source).name}:{self.line})"


def _network(text: str) -> Network:
    text = text.strip()
    try:
        net = ipaddress.ip_network(text, strict=False)
    except ValueError as exc:
        raise BadValue(f"not an address or CIDR: {text!r}") from exc
    if isinstance(net, ipaddress.IPv6Network) and net.network_address.ipv4_mapped and net.prefixlen >= 96:
        return ipaddress.IPv4Network((net.network_address.ipv4_mapped, net.prefixlen - 96))
    return net


def _is_address_like(text: str) -> bool:
    return text[:1].isdigit() and all(c.isdigit() or c in "./" for c in text) or ":" in text


def parse_entry(text: str, source: str, line: int) -> Entry:
    """One allowlist line (comment removed) -> Entry. Raises BadValue."""
    entry = Entry(text=text, source=source, line=line)
    if "->" in text:
        left, _, right = (part.strip() for part in text.partition("->"))
        if not left or not right:
            raise BadValue("a pair needs 'client -> server'")
        entry.client = None if left == "*" else [_network(left)]
        target = right
    else:
        target = text
    if _is_address_like(target):
        entry.servers = [_network(target)]
    else:
        name, wildcard = parse_name(target)
        if "." not in name and not wildcard:
            raise BadValue(f"single-label name {name!r}")
        entry.name = NamePattern(name, wildcard)
    return entry


@lru_cache(maxsize=1 << 16)  # groups repeat clients and servers: parse each address once
def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        ip = ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def _inside(ip: ipaddress.IPv4Address | ipaddress.IPv6Address, nets: Sequence[Network]) -> bool:
    return any(ip.version == n.version and ip in n for n in nets)


class Allowlist:
    def __init__(self, entries: Iterable[Entry] = (), problems: Iterable[str] = ()) -> None:
        self.entries: list[Entry] = list(entries)
        self.problems: list[str] = list(problems)
        # Plain names (no client restriction) get a dict: the common case stays O(labels).
        self._by_name: dict[str, Entry] = {}
        self._others: list[Entry] = []
        self._names_seen: dict[str, str | None] = {}
        for e in self.entries:
            if e.client is None and e.name is not None:
                self._by_name.setdefault(("*." if e.name.subdomains else "") + e.name.name, e)
            else:
                self._others.append(e)

    @classmethod
    def load(
        cls, paths: Sequence[str | Path] = (), include_default: bool = True, *, strict: bool = False
    ) -> Allowlist:
        """Read allowlist files. Bad lines are skipped and listed in `.problems` as `path:line: message`,
        or raise IntelError with strict."""
        files = ([default_allowlist_path()] if include_default else []) + [Path(p) for p in paths]
        entries: list[Entry] = []
        problems: list[str] = []
        for path in files:
            try:
                text = path.read_text(encoding="utf-8", errors="replace")
            except OSError as exc:
                raise IntelError(f"cannot read allowlist: {exc.strerror or exc}", path=str(path)) from exc
            for lineno, raw in enumerate(text.splitlines(), 1):
                line = raw.split("#", 1)[0].strip()
                if not line:
                    continue
                try:
                    entries.append(parse_entry(line, str(path), lineno))
                except BadValue as exc:
                    if strict:
                        raise IntelError(str(exc), path=str(path), line=lineno) from exc
                    problems.append(f"{path}:{lineno}: {exc}")
        return cls(entries, problems)

    def __len__(self) -> int:
        return len(self.entries)

    def match(
        self, src_ip: str | None, dst_ips: Sequence[str] | str | None, server_name: str | None
    ) -> str | None:
        """The entry that allows this (client, servers, name) group, as `text (file:line)`, or None.

        A name entry needs the group's server name; an address entry needs every server address of the
        group inside it (a group that also talks to an unlisted address is not allowed)."""
        if isinstance(dst_ips, str):
            dst_ips = [dst_ips]
        name = normalize_name(server_name) if server_name else None
        if name:
            label = self._name_label(name)
            if label is not None:
                return label
        servers = [ip for ip in (_address(d) for d in dst_ips or ()) if ip is not None]
        client = _address(src_ip) if src_ip else None
        for entry in self._others:
            if entry.client is not None and (client is None or not _inside(client, entry.client)):
                continue
            if entry.name is not None:
                if name and entry.name.matches(name):
                    return entry.label
            elif servers and all(_inside(ip, entry.servers) for ip in servers):
                return entry.label
        return None

    def match_names(self, server_names: Sequence[str | None]) -> list[str | None] | None:
        """`match(client, servers, name)` of many groups whose clients and servers are address texts
        (as analysis makes them), when only plain name entries are loaded (the bundled list): then the
        answer depends on the name alone. None when other entries need the full `match`."""
        if self._others:
            return None
        out: list[str | None] = []
        seen: dict[str, str | None] = {}
        for server_name in server_names:
            if not server_name:
                out.append(None)
                continue
            label = seen.get(server_name, _UNSEEN)
            if label is _UNSEEN:
                name = normalize_name(server_name)
                label = seen[server_name] = self._name_label(name) if name else None
            out.append(label)  # type: ignore[arg-type]
        return out

    def _name_label(self, name: str) -> str | None:
        """The plain name entry (exact, else the nearest wildcard) that allows this normal name.
        Remembered per name: a scan asks for the same server names over and over (every client)."""
        known = self._names_seen.get(name, _UNSEEN)
        if known is not _UNSEEN:
            return known  # type: ignore[return-value]
        label = None
        exact = self._by_name.get(name)
        if exact is not None:
            label = exact.label
        else:
            for candidate in _parents(name):
                wild = self._by_name.get("*." + candidate)
                if wild is not None:
                    label = wild.label
                    break
        if len(self._names_seen) >= _NAMES_SEEN_MAX:
            self._names_seen.clear()
        self._names_seen[name] = label
        return label


_UNSEEN = object()
_NAMES_SEEN_MAX = 1 << 17


def _parents(name: str) -> Iterable[str]:
    yield name
    dot = name.find(".")
    while dot >= 0:
        yield name[dot + 1 :]
        dot = name.find(".", dot + 1)
