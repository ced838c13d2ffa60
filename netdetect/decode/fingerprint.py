"""JA3 and JA4 TLS client fingerprints, from the public specifications.

- JA3 (Salesforce): `SSLVersion,Ciphers,Extensions,EllipticCurves,EllipticCurvePointFormats`, decimal values
  joined by '-', GREASE (RFC 8701) removed, then md5.
- JA4 (FoxIO, technical_details/JA4.md): `t13d1516h2_8daaf6152771_e5627efa2ab1`: transport, version, SNI
  d/i, cipher and extension counts, ALPN first+last character, then sha256[:12] of the sorted cipher list
  and of the sorted extension list (without SNI and ALPN) + '_' + signature algorithms in wire order.
"""

from __future__ import annotations

import hashlib
from collections.abc import Hashable, Iterable, Sequence
from functools import lru_cache

EXT_SERVER_NAME = 0x0000
EXT_ALPN = 0x0010
EMPTY_HASH = "000000000000"  # JA4: a list with no values is shown as zeros, not the hash of ""

JA4_VERSIONS = {
    0x0304: "13", 0x0303: "12", 0x0302: "11", 0x0301: "10", 0x0300: "s3", 0x0002: "s2",
    0xFEFF: "d1", 0xFEFD: "d2", 0xFEFC: "d3",
}  # fmt: skip
JA4_TRANSPORTS = ("t", "q", "d")  # TLS over TCP, QUIC, DTLS
MEMO_LIMIT = 1 << 12  # fingerprints remembered; clients of one software build repeat them exactly


class _Memo(dict[Hashable, str]):
    """Fingerprints by their inputs: a dict that starts over when full, so a flood of unique hellos costs
    bounded memory and the common case stays one lookup."""

    def remember(self, key: Hashable, value: str) -> str:
        if len(self) >= MEMO_LIMIT:
            self.clear()
        self[key] = value
        return value


_JA3 = _Memo()
_JA4 = _Memo()


def is_grease(value: int) -> bool:
    """RFC 8701 GREASE values: 0x0a0a, 0x1a1a ... 0xfafa."""
    return (value & 0x0F0F) == 0x0A0A and (value >> 8) == (value & 0xFF)


GREASE = frozenset(range(0x0A0A, 0x10000, 0x1010))  # the 16 values is_grease accepts


def without_grease(values: Iterable[int]) -> list[int]:
    return [v for v in values if v not in GREASE]


def ja3_string(version: int, ciphers: Sequence[int], extensions: Sequence[int], groups: Sequence[int],
               point_formats: Sequence[int]) -> str:  # fmt: skip
    # GREASE values change per connection and are not part of JA3: the key leaves them out.
    key = (
        version,
        tuple(without_grease(ciphers)),
        tuple(without_grease(extensions)),
        tuple(without_grease(groups)),
        tuple(point_formats),
    )
    known = _JA3.get(key)
    return known if known is not None else _JA3.remember(key, _ja3_string(*key))


def _ja3_string(version: int, ciphers: Sequence[int], extensions: Sequence[int], groups: Sequence[int],
                point_formats: Sequence[int]) -> str:  # fmt: skip
    fields = [
        str(version),
        "-".join(map(str, without_grease(ciphers))),
        "-".join(map(str, without_grease(extensions))),
        "-".join(map(str, without_grease(groups))),
        "-".join(map(str, point_formats)),
    ]
    return ",".join(fields)


@lru_cache(maxsize=MEMO_LIMIT)
def ja3_hash(ja3: str) -> str:
    return hashlib.md5(ja3.encode("ascii"), usedforsecurity=False).hexdigest()


def _hash12(text: str) -> str:
    return hashlib.sha256(text.encode("ascii")).hexdigest()[:12] if text else EMPTY_HASH


def ja4_version(legacy_version: int, supported_versions: Sequence[int] | None) -> str:
    """Highest non-GREASE supported_versions value when that extension is present, else the hello version."""
    offered = without_grease(supported_versions or ())
    version = max(offered) if offered else legacy_version
    return JA4_VERSIONS.get(version, "00")


def ja4_alpn(first_alpn: bytes | None) -> str:
    """First and last character of the first ALPN value; hex digits instead when either is not alnum."""
    if not first_alpn:
        return "00"
    first, last = first_alpn[0], first_alpn[-1]
    if chr(first).isascii() and chr(first).isalnum() and chr(last).isascii() and chr(last).isalnum():
        return chr(first) + chr(last)
    hexed = first_alpn.hex()
    return hexed[0] + hexed[-1]


def ja4_parts(transport: str, legacy_version: int, supported_versions: Sequence[int] | None,
              has_sni: bool, ciphers: Sequence[int], extensions: Sequence[int], first_alpn: bytes | None,
              sig_algs: Sequence[int]) -> tuple[str, str, str]:  # fmt: skip
    """(JA4_a, sorted cipher list, sorted extension list + '_' + signature algorithms): JA4_r pieces."""
    if transport not in JA4_TRANSPORTS:
        raise ValueError(f"JA4 transport must be one of {JA4_TRANSPORTS}, not {transport!r}")
    ciphers = without_grease(ciphers)
    extensions = without_grease(extensions)
    sig_algs = without_grease(sig_algs)
    head = (
        f"{transport}{ja4_version(legacy_version, supported_versions)}{'d' if has_sni else 'i'}"
        f"{min(len(ciphers), 99):02d}{min(len(extensions), 99):02d}{ja4_alpn(first_alpn)}"
    )
    cipher_list = ",".join(f"{c:04x}" for c in sorted(ciphers))
    ext_list = ",".join(
        f"{e:04x}" for e in sorted(e for e in extensions if e not in (EXT_SERVER_NAME, EXT_ALPN))
    )
    if ext_list and sig_algs:
        ext_list += "_" + ",".join(f"{s:04x}" for s in sig_algs)
    return head, cipher_list, ext_list


def ja4(transport: str, legacy_version: int, supported_versions: Sequence[int] | None, has_sni: bool,
        ciphers: Sequence[int], extensions: Sequence[int], first_alpn: bytes | None,
        sig_algs: Sequence[int]) -> str:  # fmt: skip
    # JA4 sorts ciphers and extensions and drops GREASE, so the key does too: Chrome's shuffled extension
    # order and random GREASE values still hit.
    versions = None if supported_versions is None else tuple(without_grease(supported_versions))
    key = (
        transport,
        legacy_version,
        versions,
        has_sni,
        tuple(sorted(without_grease(ciphers))),
        tuple(sorted(without_grease(extensions))),
        first_alpn,
        tuple(without_grease(sig_algs)),
    )
    known = _JA4.get(key)
    if known is not None:
        return known
    head, cipher_list, ext_list = ja4_parts(
        transport, legacy_version, supported_versions, has_sni, ciphers, extensions, first_alpn, sig_algs
    )
    return _JA4.remember(key, f"{head}_{_hash12(cipher_list)}_{_hash12(ext_list)}")


def ja4_raw(transport: str, legacy_version: int, supported_versions: Sequence[int] | None, has_sni: bool,
            ciphers: Sequence[int], extensions: Sequence[int], first_alpn: bytes | None,
            sig_algs: Sequence[int]) -> str:  # fmt: skip
    """JA4_r: the same fields before hashing (for debugging a fingerprint mismatch)."""
    return "_".join(
        ja4_parts(transport, legacy_version, supported_versions, has_sni, ciphers, extensions, first_alpn,
                  sig_algs)
    )  # fmt: skip
