"""Extraction against third-party captures with known answers (Zeek, Suricata and nDPI test suites).

Complete answers (`full:`) must equal our sets; partial ones (`subset:`) must all be found.
Files we cannot match are listed in KNOWN_GAPS with the reason.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import pytest

from netdetect.pipeline import extract_files

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"
if not CORPUS.is_dir():
    CORPUS = Path(__file__).resolve().parents[1] / ".." / "shared" / "corpus"

# file -> (field, reason): answers we do not reproduce, and why.
KNOWN_GAPS: dict[tuple[str, str], str] = {
    (
        "zeek__dns__dns_notify2.pcap",
        "dns_queries",
    ): "disputed answer: Zeek leaves the query of one DS response unset; its question on the wire is "
    "aei.mpg.de (tshark agrees with us)",
    (
        "zeek__dns__dynamic-update.pcap",
        "dns_queries",
    ): "disputed answer: for DNS UPDATE Zeek logs the updated RR owners; we log the zone in the question "
    "section (stratolab.org), as tshark does",
}


def _load() -> tuple[dict, dict]:
    if not (CORPUS / "expected.json").is_file():
        return {}, {}
    return (
        json.loads((CORPUS / "expected.json").read_text()),
        json.loads((CORPUS / "manifest.json").read_text()),
    )


EXPECTED, MANIFEST = _load()
CASES = [
    (name, fld)
    for name in sorted(EXPECTED)
    for fld in ("sni", "dns_queries")
    if EXPECTED[name].get(fld) is not None
]


@lru_cache(maxsize=4)
def _extract(name: str):
    ex = extract_files([str(CORPUS / "pcaps" / name)])
    sni = {e.sni for e in ex.tls if e.sni is not None}
    dns = {e.query for e in ex.dns if e.server_port == 53 or (e.client_port == 53 and e.server_port == 53)}
    return sni, dns


@pytest.mark.skipif(not EXPECTED, reason="../shared/corpus is not present")
@pytest.mark.parametrize(("name", "field"), CASES, ids=[f"{n}:{f}" for n, f in CASES])
def test_corpus_answers(name: str, field: str) -> None:
    if (name, field) in KNOWN_GAPS:
        pytest.xfail(KNOWN_GAPS[(name, field)])
    expected = set(EXPECTED[name][field])
    sni, dns = _extract(name)
    got = sni if field == "sni" else dns
    coverage = MANIFEST.get(name, {}).get("sni_coverage" if field == "sni" else "dns_coverage") or ""
    if coverage.startswith("full"):
        assert got == expected, f"missing {sorted(expected - got)[:10]} extra {sorted(got - expected)[:10]}"
    else:
        assert expected <= got, f"missing {sorted(expected - got)[:10]}"
