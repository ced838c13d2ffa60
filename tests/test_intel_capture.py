"""Issue 5's acceptance through a capture: lookups, connections and handshakes to listed domains,
subdomains, CNAME targets, IDN names, CIDRs and URLs give exactly the expected hits, near misses none."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from netdetect.cli.main import cli
from netdetect.testing import synth

T0 = 1_680_000_000.0
DNS = "10.9.0.2"


def _capture(path: Path) -> Path:
    with synth.TrafficWriter(path, seed=3) as w:
        # A: mixed-case lookup with a trailing dot, then TLS to a subdomain of a listed domain
        w.dns_exchange(T0, "10.9.0.11", DNS, "MsStorageBoxes.com.", ["198.51.100.10"])
        w.tcp_session(
            T0 + 1, "10.9.0.11", "198.51.100.10", None, 443, [synth.client_hello("api.msstorageboxes.com")]
        )
        # B: an innocent-looking name whose CNAME chain reaches a listed domain
        w.dns_exchange(T0 + 2, "10.9.0.12", DNS, "cdn.example.net", ["officestoragebox.com", "198.51.100.11"])
        # C: plain HTTP fetch of the GitHub icon stage (URL indicator: host + path prefix)
        w.tcp_session(
            T0 + 3,
            "10.9.0.13",
            "185.199.108.133",
            None,
            80,
            [synth.http_request("GET", "raw.githubusercontent.com", "/IconStorages/images/main/icon3.ico")],
        )
        # D: a bare connection to a listed address
        w.tcp_session(T0 + 4, "10.9.0.14", "172.93.201.88", None, 443, [200], 100)
        # E: an IDN lookup in punycode of a name listed in Unicode, and a server inside a listed CIDR
        w.dns_exchange(T0 + 5, "10.9.0.15", DNS, "xn--bcher-c2-65a.example", ["203.0.113.77"])
        w.tcp_session(T0 + 6, "10.9.0.15", "203.0.113.77", None, 8443, [300], 100)
        # F: near misses, a GitHub fetch outside the listed path, and TLS to raw.githubusercontent.com
        w.dns_exchange(T0 + 7, "10.9.0.16", DNS, "notmsstorageboxes.com", ["192.0.2.1"])
        w.dns_exchange(T0 + 8, "10.9.0.16", DNS, "msstorageboxes.com.example.net", ["192.0.2.2"])
        w.tcp_session(
            T0 + 9,
            "10.9.0.16",
            "185.199.108.133",
            None,
            80,
            [synth.http_request("GET", "raw.githubusercontent.com", "/someone/else/main/icon3.ico")],
        )
        w.tcp_session(
            T0 + 10,
            "10.9.0.16",
            "185.199.108.133",
            None,
            443,
            [synth.client_hello("raw.githubusercontent.com")],
        )
    return path


EXPECTED = {
    ("10.9.0.11", "msstorageboxes.com", "dns_query"),
    ("10.9.0.11", "msstorageboxes.com", "sni"),
    ("10.9.0.12", "officestoragebox.com", "dns_cname"),
    ("10.9.0.13", "https://raw.githubusercontent.com/IconStorages/images/main/", "url"),
    ("10.9.0.13", "https://raw.githubusercontent.com/IconStorages/images/main/icon3.ico", "url"),
    ("10.9.0.14", "172.93.201.88", "dst_ip"),
    ("10.9.0.15", "xn--bcher-c2-65a.example", "dns_query"),  # listed in Unicode, reported normalised
    ("10.9.0.15", "203.0.113.0/24", "dns_answer"),
    ("10.9.0.15", "203.0.113.0/24", "dst_ip"),
}


def test_capture_gives_exactly_the_expected_hits(tmp_path):
    cap = _capture(tmp_path / "intel.pcap")
    lab = tmp_path / "lab.txt"
    lab.write_text("# lab feed\nbücher-c2.example\n203.0.113.0/24\n")
    res = CliRunner().invoke(cli, ["scan", "-f", "jsonl", "--min-score", "0", "--intel", str(lab), str(cap)])
    assert res.exit_code == 0, res.output
    hits = {
        (r["src_ip"], h["indicator"], h["field"])
        for line in res.stdout.splitlines()
        for r in [json.loads(line)]
        for h in r["intel"]
        if not h.get("benign")
    }
    assert hits == EXPECTED
