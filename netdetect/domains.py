"""Registered domains (eTLD+1) of DNS names, from the public suffix list bundled with the
`publicsuffixlist` package (no download at run time).

Names come from the wire and are attacker-controlled: anything that is not a plausible internet
name (empty labels, over-long names, no public suffix, reverse and special-use names) has no
registered domain, and nothing here raises on garbage. Work is done once per distinct pool value,
never per row.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from netdetect.tables.events import ValuePool

MAX_NAME_CHARS = 1024  # text form, escapes included (255 wire bytes can render up to ~1000 chars)
MAX_LABEL_CHARS = 4 * 63  # a 63-byte label where every byte is rendered as a \DDD escape
# Not internet DNS even where the list knows the suffix: reverse zones and RFC 6761/6762/8375 names.
SPECIAL_USE_SUFFIXES = ("arpa", "local", "localhost", "onion", "test", "invalid", "example", "alt")


@lru_cache(maxsize=1)
def _suffix_list():  # noqa: ANN202 - the third-party type, loaded once on first use
    import publicsuffixlist

    # accept_unknown=False: a name under a suffix the list does not know (.corp, .lan, .internal,
    # single labels) is not an internet name.
    path = getattr(publicsuffixlist, "PSLFILE", None)
    if path is None:
        return publicsuffixlist.PublicSuffixList(accept_unknown=False)
    # The same rules the package makes, at half the cost of a scan's start: it punycodes every rule
    # (10,000 IDNA encodes); only the few hundred non-ASCII rules need a punycoded twin.
    rules: list[str] = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            rule = line.split(" ", 1)[0].strip().lower()
            if not rule or rule.startswith("//"):
                continue
            rules.append(rule)
            if not rule.isascii():
                bare = rule.lstrip("!")
                rules.append(rule[: len(rule) - len(bare)] + publicsuffixlist.encode_idn(bare))
    return publicsuffixlist.PublicSuffixList(source=rules, accept_unknown=False, accept_encoded_idn=False)


@lru_cache(maxsize=1)
def _deep_tails() -> frozenset[str]:
    """Two-label endings under which the list has longer rules (kawasaki.jp, amazonaws.com): only
    names ending otherwise can take their registered domain from their last two labels."""
    rules = getattr(_suffix_list(), "_publicsuffix", None)
    if rules is None:  # another version of the package: every name takes the full lookup
        return frozenset()
    return frozenset(".".join(r.lstrip("!").split(".")[-2:]) for r in rules if r.count(".") >= 2)


class DomainCache:
    """registered_domain for many names: a name whose last two labels T are a registered domain
    with no deeper rule under it (most names) takes T from a dict instead of a list lookup."""

    def __init__(self) -> None:
        self.tail_is_domain: dict[str, bool] = {}
        self.deep = _deep_tails()
        self.fast = bool(self.deep)

    def __call__(self, name: object) -> str | None:
        if not isinstance(name, str) or not name or len(name) > MAX_NAME_CHARS:
            return None
        name = name.lower().rstrip(".")
        labels = name.split(".")
        if len(labels) < 2 or labels[-1] in SPECIAL_USE_SUFFIXES:
            return None
        if "" in labels or max(map(len, labels)) > MAX_LABEL_CHARS:
            return None
        tail = f"{labels[-2]}.{labels[-1]}"
        if self.fast and tail not in self.deep:
            known = self.tail_is_domain.get(tail)
            if known is None:
                # T is its own registered domain: so is every name ending in it. Otherwise (T is a
                # public suffix: co.uk, github.io) each name needs the full lookup.
                known = self.tail_is_domain[tail] = _private_suffix(tail) == tail
            if known:
                return tail
        return _private_suffix(name)


def _private_suffix(name: str) -> str | None:
    try:
        return _suffix_list().privatesuffix(name)
    except Exception:  # noqa: BLE001 - a hostile name must not stop the analysis
        return None


def registered_domain(name: object) -> str | None:
    """The registered domain (eTLD+1, private suffixes included: x.duckdns.org) of a DNS name, or
    None when the name is not an internet name or not well formed."""
    return DomainCache()(name)


@dataclass
class NameParts:
    """Per distinct name of a pool id column: its registered domain and the part in front of it."""

    pool_ids: np.ndarray  # i8 sorted distinct pool ids that were split
    domain: np.ndarray  # i8 domain id per pool id (-1: not an internet name)
    domains: list[str]  # domain id -> registered domain
    subdomain: list[str]  # per pool id: the labels before the registered domain ("" for the domain itself)

    def rows(self, pool_ids: np.ndarray) -> np.ndarray:
        """Index into this table of each row's pool id (every id must be among `pool_ids`)."""
        return np.searchsorted(self.pool_ids, pool_ids)


def split_names(pool: ValuePool, pool_ids: np.ndarray) -> NameParts:
    """Registered domain and subdomain part of every distinct pool id in `pool_ids` (once each)."""
    present = np.flatnonzero(np.bincount(np.asarray(pool_ids, np.int64) + 1, minlength=1)) - 1
    present = present[present >= 0]
    domains: list[str] = []
    index: dict[str, int] = {}
    domain = np.full(len(present), -1, np.int64)
    subdomain: list[str] = []
    values = pool.values
    registered = DomainCache()
    for i, pid in enumerate(present.tolist()):
        name = values[pid]
        reg = registered(name)
        if reg is None:
            subdomain.append("")
            continue
        d = index.get(reg)
        if d is None:
            d = index[reg] = len(domains)
            domains.append(reg)
        domain[i] = d
        name = name.lower().rstrip(".")
        subdomain.append(name[: len(name) - len(reg) - 1] if len(name) > len(reg) else "")
    return NameParts(present.astype(np.int64), domain, domains, subdomain)
