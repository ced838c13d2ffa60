"""IntelStore: every loaded indicator in hash tables, so a lookup costs a few dict probes, not a scan.

- names: one dict from normal name to indicators; a lookup probes the name and each parent
  (a.b.example.com, b.example.com, example.com, com), so a listed domain matches its subdomains and
  nothing else (`notexample.com` and `example.com.evil.net` probe other keys).
- addresses: one dict per prefix length in the 128-bit (IPv4-mapped) space, keyed by the masked
  address; a batch of 16-byte addresses is matched with numpy (mask, searchsorted) per prefix length.
- URLs: host -> [(path prefix, indicator)], compared on segment boundaries.
- fingerprints: (kind, value) dict.
"""

from __future__ import annotations

import socket
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from netdetect.errors import IntelError
from netdetect.intel.indicator import (
    NAME_TYPES,
    BadValue,
    Indicator,
    format_time,
    infer_type,
    normalize_fingerprint,
    normalize_host,
    normalize_name,
    normalize_path,
    parse_address,
    parse_url,
    path_has_prefix,
    refang,
)
from netdetect.intel.loaders import LoadResult, PackInfo, load_path

V4_MAPPED = b"\x00" * 10 + b"\xff\xff"
NUMPY_BATCH_MIN = 2048  # below this the per-name dict walk is cheaper than building arrays
NUMPY_CHUNK = 1 << 16  # bounds memory: rows x widest name in the chunk
MAX_NAME_BYTES = 254  # longer cannot be a DNS name, so cannot match a listed one


def _odd_multipliers(count: int, seed: int = 0x1D1) -> np.ndarray:
    """Fixed odd 64-bit multipliers for the row hash: splitmix64 of a seed (numpy.random would add
    ~5 ms of import to every run)."""
    mask, out, x = (1 << 64) - 1, [], seed
    for _ in range(count):
        x = (x + 0x9E3779B97F4A7C15) & mask
        z = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & mask
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
        out.append((z ^ (z >> 31)) | 1)
    return np.array(out, dtype=np.uint64)


_HASH_MULT = _odd_multipliers(MAX_NAME_BYTES // 8 + 1)


def _lower_strip_dots(strings: np.ndarray) -> np.ndarray:
    """ASCII lower case and trailing dots removed, on the raw bytes (np.strings.lower is slow on bytes)."""
    out = np.array(strings, dtype=strings.dtype, copy=True)
    n, width = len(out), out.dtype.itemsize
    if n == 0:
        return out
    octets = out.view(np.uint8).reshape(n, width)
    upper = (octets >= 65) & (octets <= 90)
    octets[upper] += 32
    rows = np.arange(n)
    while True:
        length = np.strings.str_len(out)
        last = octets[rows, np.maximum(length - 1, 0)]
        dotted = np.flatnonzero((last == 46) & (length > 0))
        if not len(dotted):
            return out
        octets[dotted, length[dotted] - 1] = 0


def _hash_rows(strings: np.ndarray) -> np.ndarray:
    """uint64 hash of each fixed-width byte string, independent of the array width (zero padding adds 0)."""
    n, width = len(strings), strings.dtype.itemsize
    words = -(-width // 8)
    buf = np.zeros((n, words * 8), dtype=np.uint8)
    if n:
        buf[:, :width] = np.ascontiguousarray(strings).view(np.uint8).reshape(n, width)
    h = (buf.view("<u8") * _HASH_MULT[:words]).sum(axis=1, dtype=np.uint64)
    h ^= h >> np.uint64(31)
    return h


_V4_BASE = int.from_bytes(V4_MAPPED + b"\0\0\0\0", "big")
_MASKS = [((1 << 128) - 1) ^ ((1 << (128 - p)) - 1) for p in range(129)]


def bundled_signatures_dir() -> Path:
    """The packs shipped with netdetect: inside the installed package, else the repository's
    signatures/. (The package directory itself, not importlib.resources: that costs ~5 ms of imports
    per run, and the packs are read as files anyway.)"""
    package = Path(__file__).resolve().parents[1]
    shipped = package / "_signatures"
    return shipped if shipped.is_dir() else package.parent / "signatures"


def discover(path: Path) -> list[Path]:
    """A feed file, a pack or MISP feed directory, or a directory of those -> paths to load."""
    if not path.exists():
        raise IntelError("no such file or directory", path=str(path))
    if path.is_file() or (path / "pack.toml").is_file() or (path / "manifest.json").is_file():
        return [path]
    found = sorted(
        p
        for p in path.iterdir()
        if p.is_dir() and ((p / "pack.toml").is_file() or (p / "manifest.json").is_file())
    )
    if not found:
        raise IntelError("directory holds no pack (pack.toml) or MISP feed (manifest.json)", path=str(path))
    return found


def address_bytes(text: str) -> bytes | None:
    """Address text -> 16 bytes (IPv4 mapped), or None. inet_pton is ~10x faster than ipaddress."""
    try:
        return V4_MAPPED + socket.inet_pton(socket.AF_INET, text)
    except OSError:
        pass
    try:
        return socket.inet_pton(socket.AF_INET6, text.partition("%")[0])
    except (OSError, ValueError):
        return None


def _address_key(text: str) -> tuple[int, int]:
    """Normal address or CIDR text -> (prefix length in 128-bit space, network int)."""
    addr, _, plen = text.partition("/")
    raw = address_bytes(addr)
    if raw is None:
        raise BadValue(f"not an address: {text!r}")
    is_v4 = raw[:12] == V4_MAPPED and "." in addr
    prefix = 128 if not plen else int(plen) + (96 if is_v4 else 0)
    return prefix, int.from_bytes(raw, "big") & _MASKS[prefix]


def _join(bucket: list[Indicator], ind: Indicator) -> bool:
    """Append unless the same pack already listed the same value and type in this bucket."""
    for other in bucket:
        if other.pack == ind.pack and other.value == ind.value and other.type == ind.type:
            return False
    bucket.append(ind)
    return True


# (prefix length, mask: np.uint32 or 16 uint8, sorted keys: uint32 or S16, indicator lists by key)
NetTable = tuple[int, Any, np.ndarray, list[list[Indicator]]]


@dataclass(slots=True)
class Match:
    """One indicator matched by one lookup, and why (for `intel check`)."""

    indicator: Indicator
    reason: str
    expired: bool = False


class IntelStore:
    def __init__(self, *, include_expired: bool = False) -> None:
        self.include_expired = include_expired
        self.packs: list[PackInfo] = []
        self.problems: list[str] = []
        self.notices: list[str] = []
        self.unsupported: Counter[str] = Counter()
        self.skipped: Counter[str] = Counter()
        self.indicators: list[Indicator] = []
        self._names: dict[str, list[Indicator]] = {}
        self._nets: dict[int, dict[int, list[Indicator]]] = {}
        self._urls: dict[str, list[tuple[str, Indicator]]] = {}
        self._fingerprints: dict[tuple[str, str], list[Indicator]] = {}
        self._context: dict[tuple[str, str], list[Indicator]] = {}
        self._net_tables: list[NetTable] | None = None
        self._name_hash_table: tuple[np.ndarray, np.ndarray] | None = None

    # ------------------------------------------------------------ loading

    @classmethod
    def load(
        cls,
        paths: Sequence[str | Path] | None = None,
        *,
        include_default: bool | None = None,
        strict: bool = False,
        include_expired: bool = False,
        include_non_ids: bool = False,
    ) -> IntelStore:
        """Load feeds and packs. `include_default` (default: only when `paths` is None) adds the bundled
        packs. Bad lines are skipped and listed in `.problems`, or raise IntelError with strict."""
        store = cls(include_expired=include_expired)
        if include_default is None:
            include_default = paths is None
        roots = ([bundled_signatures_dir()] if include_default else []) + [Path(p) for p in paths or ()]
        for root in roots:
            for path in discover(root):
                store.add_result(load_path(path, strict=strict, include_non_ids=include_non_ids))
        store.prepare()
        return store

    def prepare(self) -> None:
        """Build the numpy lookup tables now (else the first batch lookup does)."""
        self._tables()
        self._name_hashes()

    def add_result(self, result: LoadResult) -> None:
        self.packs.append(result.pack)
        self.problems.extend(result.problems)
        self.notices.extend(result.notices)
        self.unsupported.update(result.unsupported)
        self.skipped.update(result.skipped)
        self.add(result.indicators)

    def add(self, indicators: Iterable[Indicator]) -> None:
        """Index indicators. The same value listed twice in one pack is kept once (counted in notices)."""
        names, kept = self._names, self.indicators
        hosts = self._nets.setdefault(128, {})
        duplicates: Counter[str] = Counter()
        for ind in indicators:
            value = ind.value
            if ind.type == "domain" and "." in value:  # the bulk of large feeds: inline
                found = names.get(value)
                if found is None:
                    names[value] = [ind]
                elif not _join(found, ind):
                    duplicates[ind.pack] += 1
                    continue
                kept.append(ind)
                continue
            if ind.type == "ip" and ":" not in value:  # IPv4 host, already normal
                try:
                    key = _V4_BASE | int.from_bytes(socket.inet_pton(socket.AF_INET, value), "big")
                except OSError:
                    self.problems.append(f"{ind.origin or ind.pack}: not an address: {value!r}")
                    continue
                found = hosts.get(key)
                if found is None:
                    hosts[key] = [ind]
                elif not _join(found, ind):
                    duplicates[ind.pack] += 1
                    continue
                kept.append(ind)
                continue
            try:
                if not self._index(ind):
                    duplicates[ind.pack] += 1
                    continue
            except BadValue as exc:
                self.problems.append(f"{ind.origin or ind.pack}: {exc}")
                continue
            kept.append(ind)
        for pack, count in duplicates.items():
            self.notices.append(f"pack {pack}: {count} duplicate indicator(s) ignored")
        self._net_tables = None
        self._name_hash_table = None

    def _index(self, ind: Indicator) -> bool:
        """Put one indicator in its table; False when the pack already listed it."""
        t = ind.type
        if t in NAME_TYPES:
            if "." not in ind.value:
                raise BadValue(f"single-label name {ind.value!r} would match a whole top-level domain")
            return _join(self._names.setdefault(ind.value, []), ind)
        if t in ("ip", "cidr"):
            prefix, key = _address_key(ind.value)
            return _join(self._nets.setdefault(prefix, {}).setdefault(key, []), ind)
        if t == "url":
            url_key = ind.url_key or parse_url(ind.value)[1]
            entries = self._urls.setdefault(url_key.host, [])
            if any(o.pack == ind.pack and o.value == ind.value for _, o in entries):
                return False
            entries.append((url_key.path, ind))
            if url_key.path == "/" and "?" not in ind.value:
                # A bare "https://host/" lists the host itself, so it also matches by DNS/SNI/address.
                if address_bytes(url_key.host) is not None:
                    prefix, key = _address_key(url_key.host)
                    self._nets.setdefault(prefix, {}).setdefault(key, []).append(ind)
                elif "." in url_key.host:
                    self._names.setdefault(url_key.host, []).append(ind)
            return True
        if t in ("ja3", "ja4"):
            return _join(self._fingerprints.setdefault((t, ind.value), []), ind)
        return _join(self._context.setdefault((t, ind.value.lower()), []), ind)

    def __len__(self) -> int:
        return len(self.indicators)

    # ------------------------------------------------------------ raw lookups (no expiry filter)

    def names_for(self, normal_name: str) -> list[Indicator]:
        """Indicators listing this normal name or one of its parents."""
        names = self._names
        found = names.get(normal_name)
        out = list(found) if found else []
        dot = normal_name.find(".")
        while dot >= 0:
            found = names.get(normal_name[dot + 1 :])
            if found:
                out.extend(found)
            dot = normal_name.find(".", dot + 1)
        return out

    def addresses_for(self, raw16: bytes) -> list[Indicator]:
        n = int.from_bytes(raw16, "big")
        out: list[Indicator] = []
        for prefix, table in self._nets.items():
            found = table.get(n & _MASKS[prefix])
            if found:
                out.extend(found)
        return out

    def urls_for(self, host: str, path: str) -> list[Indicator]:
        """URL indicators on exactly this (normal) host whose path is a prefix of `path` (normalised)."""
        entries = self._urls.get(host)
        if not entries:
            return []
        return [ind for prefix, ind in entries if path_has_prefix(path, prefix)]

    def fingerprints_for(self, kind: str, normal_value: str) -> list[Indicator]:
        return self._fingerprints.get((kind, normal_value), [])

    # ------------------------------------------------------------ public lookups

    def _live(self, indicators: list[Indicator], at: float | None) -> list[Indicator]:
        if not indicators or self.include_expired:
            return indicators
        when = time.time() if at is None else at
        return [i for i in indicators if i.valid_until is None or when <= i.valid_until]

    def match_name(self, name: str, at: float | None = None) -> list[Indicator]:
        """Domain/hostname indicators matching a DNS name, SNI or Host (subdomains included).
        Expired indicators (at `at`, default now) only with include_expired."""
        return self._live(self.names_for(normalize_name(name)), at)

    def match_ip(self, ip_text: str, at: float | None = None) -> list[Indicator]:
        raw = address_bytes(ip_text.strip().strip("[]"))
        return self._live(self.addresses_for(raw), at) if raw is not None else []

    def match_url(self, host: str, path: str, at: float | None = None) -> list[Indicator]:
        """URL indicators for an HTTP request (host + path prefix). Over TLS only the host is known:
        use match_name for that, so a URL under a shared host never flags the whole host."""
        return self._live(self.urls_for(normalize_host(host), normalize_path(path)), at)

    def match_fingerprint(self, kind: str, value: str, at: float | None = None) -> list[Indicator]:
        kind = kind.lower()
        try:
            normal = normalize_fingerprint(kind, value)
        except BadValue:
            return []
        return self._live(self._fingerprints.get((kind, normal), []), at)

    # ------------------------------------------------------------ batch

    def match_names(self, names: Iterable[str]) -> dict[str, list[Indicator]]:
        """Names -> matching indicators (no expiry filter); names without a match are absent.

        Large batches run in numpy: each name and each parent suffix is hashed (one multiply-add per
        8 bytes) and searched in the sorted hashes of the listed names; only hash hits are confirmed
        in the dict, so a crafted hash collision costs a probe, never a false match."""
        batch = names if isinstance(names, list) else list(names)
        if len(batch) < NUMPY_BATCH_MIN or not self._names:
            return self._match_names_python(batch)
        out: dict[str, list[Indicator]] = {}
        if max(map(len, batch)) > MAX_NAME_BYTES:  # a 64 KB SNI must not widen the whole batch's array
            batch = [n for n in batch if len(n) <= MAX_NAME_BYTES]
        try:
            encoded = np.array(batch, dtype="S")
            plain, odd = batch, []
        except UnicodeEncodeError:  # some non-ASCII (IDN in Unicode form): those take the Python path
            plain = [n for n in batch if n.isascii()]
            odd = [n for n in batch if not n.isascii()]
            encoded = np.array(plain, dtype="S") if plain else np.array([], dtype="S1")
        for start in range(0, len(plain), NUMPY_CHUNK):
            chunk = plain[start : start + NUMPY_CHUNK]
            for row, found in self._match_name_array(encoded[start : start + NUMPY_CHUNK]):
                out[chunk[row]] = found
        out.update(self._match_names_python(odd))
        return out

    def _match_names_python(self, names: Iterable[str]) -> dict[str, list[Indicator]]:
        out: dict[str, list[Indicator]] = {}
        names_for = self.names_for
        for name in set(names):
            normal = name.lower().rstrip(".") if name.isascii() else normalize_name(name)
            found = names_for(normal)
            if found:
                out[name] = found
        return out

    def _name_hashes(self) -> tuple[np.ndarray, np.ndarray]:
        """(sorted hashes of the listed names, bitmap over the hashes' low bits). The bitmap rejects most
        misses with one gather, so only a few percent of probes pay for the binary search."""
        if self._name_hash_table is None:
            keys = np.array(list(self._names), dtype="S") if self._names else np.array([], dtype="S1")
            hashes = np.sort(_hash_rows(keys))
            size = 1 << max(16, min(27, (8 * len(hashes)).bit_length()))
            bitmap = np.zeros(size, dtype=bool)
            bitmap[hashes & np.uint64(size - 1)] = True
            self._name_hash_table = (hashes, bitmap)
        return self._name_hash_table

    def _match_name_array(self, encoded: np.ndarray) -> list[tuple[int, list[Indicator]]]:
        table, bitmap = self._name_hashes()
        low_bits = np.uint64(len(bitmap) - 1)
        current = _lower_strip_dots(encoded)
        dot = np.strings.find(current, b".")
        keep = dot >= 0  # single-label names cannot match (refused at load)
        current, dot, rows = current[keep], dot[keep], np.flatnonzero(keep)
        hits: dict[int, list[Indicator]] = {}
        names = self._names
        while len(current):
            hashes = _hash_rows(current)
            maybe = np.flatnonzero(bitmap[hashes & low_bits])
            probe = hashes[maybe]
            pos = np.minimum(np.searchsorted(table, probe), len(table) - 1)
            candidates = maybe[table[pos] == probe]
            for name, row in zip(current[candidates].tolist(), rows[candidates].tolist(), strict=True):
                found = names.get(name.decode("ascii"))
                if found:
                    hits.setdefault(row, []).extend(found)
            parent = np.strings.slice(current, dot + 1, None)
            dot = np.strings.find(parent, b".")
            keep = dot >= 0
            current, dot, rows = parent[keep], dot[keep], rows[keep]
        return sorted(hits.items())

    def _tables(self) -> list[NetTable]:
        """Per prefix length: (prefix, mask, sorted keys, indicator lists). IPv4 keys (prefix >= 96 inside
        ::ffff:0:0/96) are uint32, which numpy searches far faster than 16-byte strings."""
        if self._net_tables is None:
            tables: list[NetTable] = []
            v4_base = int.from_bytes(V4_MAPPED + b"\0\0\0\0", "big")
            for prefix, table in sorted(self._nets.items()):
                keys = sorted(table)
                v4 = [k for k in keys if prefix >= 96 and k >> 32 == v4_base >> 32]
                other = [k for k in keys if not (prefix >= 96 and k >> 32 == v4_base >> 32)]
                if v4:
                    mask32 = np.uint32(_MASKS[prefix] & 0xFFFFFFFF)
                    tables.append(
                        (
                            prefix,
                            mask32,
                            np.array([k & 0xFFFFFFFF for k in v4], dtype=np.uint32),
                            [table[k] for k in v4],
                        )
                    )
                if other:
                    mask = np.frombuffer(_MASKS[prefix].to_bytes(16, "big"), dtype=np.uint8)
                    tables.append(
                        (
                            prefix,
                            mask,
                            np.array([k.to_bytes(16, "big") for k in other], dtype="S16"),
                            [table[k] for k in other],
                        )
                    )
            self._net_tables = tables
        return self._net_tables

    def match_addresses16(self, column: np.ndarray) -> list[tuple[int, list[Indicator]]]:
        """Vectorised: 16-byte addresses (CONN_DTYPE 'client'/'server' column, S16) -> (row, indicators)
        for rows that match (no expiry filter)."""
        if len(column) == 0 or not self._nets:
            return []
        raw = np.ascontiguousarray(column, dtype="S16")
        octets = raw.view(np.uint8).reshape(-1, 16)
        # IPv4-mapped rows from the two 8-byte halves: word compares, not 12 byte compares per row
        halves = raw.view(">u8").reshape(-1, 2)
        low = halves[:, 1].astype(np.uint64)
        v4_rows = np.flatnonzero((halves[:, 0] == 0) & (low >> np.uint64(32) == 0xFFFF))
        v4_values = (low[v4_rows] & np.uint64(0xFFFFFFFF)).astype(np.uint32)
        hits: dict[int, list[Indicator]] = {}
        for prefix, mask, keys, lists in self._tables():
            if keys.dtype == np.uint32:
                rows, probe = v4_rows, v4_values & mask
            else:
                rows = None
                probe = raw if prefix == 128 else np.ascontiguousarray(octets & mask).view("S16").ravel()
            if len(probe) == 0:
                continue
            pos = np.minimum(np.searchsorted(keys, probe), len(keys) - 1)
            matched = np.flatnonzero(keys[pos] == probe)
            matched_rows = (rows[matched] if rows is not None else matched).tolist()
            for row, where in zip(matched_rows, pos[matched].tolist(), strict=True):
                hits.setdefault(row, []).extend(lists[where])
        return sorted(hits.items())

    def match_ips(self, addresses: Iterable[str]) -> dict[str, list[Indicator]]:
        """Distinct address texts -> matching indicators (no expiry filter), via the vectorised path."""
        distinct = list(set(addresses))
        parsed = [(text, address_bytes(text)) for text in distinct]
        valid = [(text, raw) for text, raw in parsed if raw is not None]
        if not valid:
            return {}
        column = np.array([raw for _, raw in valid], dtype="S16")
        return {valid[row][0]: found for row, found in self.match_addresses16(column)}

    # ------------------------------------------------------------ explanation (intel check)

    def check(self, value: str, at: float | None = None) -> list[Match]:
        """Everything a value matches, with the reason, including benign and expired indicators."""
        text = refang(value)
        kind = infer_type(text)
        when = time.time() if at is None else at
        found: list[tuple[Indicator, str]] = []
        if kind == "url":
            _, key = parse_url(text)
            for ind in self.urls_for(key.host, key.path):
                found.append((ind, f"URL path prefix {parse_url(ind.value)[1].path} on host {key.host}"))
            found += self._explain_host(key.host, "URL host")
        elif kind in ("ip", "cidr"):
            normal = parse_address(text)[1]
            if kind == "cidr":
                prefix, network = _address_key(normal)
                found += [(i, "same range listed") for i in self._nets.get(prefix, {}).get(network, [])]
            else:
                found += self._explain_host(normal, "address")
        elif kind in ("domain", "hostname"):
            found += self._explain_host(normalize_name(text.lstrip("*.")), "name")
        elif kind in ("hash", "ja4"):
            low = text.lower()
            for fp_kind in ("ja3", "ja4"):
                found += [(i, f"{fp_kind} fingerprint") for i in self._fingerprints.get((fp_kind, low), [])]
            found += [
                (i, "listed as context (not matched on the wire)")
                for i in self._context.get(("hash", low), [])
            ]
        else:
            found += [
                (i, "listed as context (not matched on the wire)")
                for (t, v), inds in self._context.items()
                if v == text.lower()
                for i in inds
            ]
        return [Match(ind, reason, ind.expired_at(when)) for ind, reason in found]

    def _explain_host(self, host: str, what: str) -> list[tuple[Indicator, str]]:
        raw = address_bytes(host)
        if raw is not None:
            out = []
            for ind in self.addresses_for(raw):
                reason = "address listed" if ind.type == "ip" else f"{what} inside listed range {ind.value}"
                out.append((ind, reason))
            return out
        out = []
        for ind in self.names_for(host):
            if ind.value == host:
                out.append((ind, f"{what} listed exactly"))
            else:
                out.append((ind, f"{what} is a subdomain of listed {ind.value}"))
        return out

    # ------------------------------------------------------------ summary

    def describe_pack(self, pack: PackInfo) -> dict[str, object]:
        now = time.time()
        members = [i for i in self.indicators if i.pack == pack.name]
        return {
            "name": pack.name,
            "path": pack.path,
            "format": pack.format,
            "description": pack.description,
            "indicators": len(members),
            "by_type": pack.counts,
            "benign": sum(1 for i in members if i.benign),
            "expired": sum(1 for i in members if i.expired_at(now)),
            "sources": pack.sources,
            "created": pack.created,
            "updated": pack.updated,
            "behaviours": len(pack.behaviours),
            "valid_until_max": format_time(
                max((i.valid_until for i in members if i.valid_until), default=None)
            ),
        }
