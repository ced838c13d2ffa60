"""Live capture in a throw-away network namespace with a veth pair (needs root; skipped otherwise)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

pytestmark = pytest.mark.network

SCRIPT = r"""
import json, sys
from scapy.all import Ether, IP, UDP, Raw, sendp, get_if_hwaddr
from netdetect.capture.live import LiveSource

with LiveSource("vb", bpf="udp and dst port 5555", batch_packets=2, batch_seconds=0.5) as source:
    frame = (Ether(src=get_if_hwaddr("va"), dst=get_if_hwaddr("vb")) / IP(src="10.77.0.1", dst="10.77.0.2"))
    for i in range(5):
        payload = Raw(b"x" * 20 + b"beacon-%d" % i)
        sendp(frame / UDP(sport=4000 + i, dport=5555) / payload, iface="va", verbose=False)
    sendp(frame / UDP(sport=4000, dport=6666) / Raw(b"filtered out"), iface="va", verbose=False)
    batches = list(source.batches(duration=1.5))
    packets = [b.packet(i) for b in batches for i in range(len(b))]
    print(json.dumps({
        "sizes": [len(b) for b in batches],
        "payloads": [p[-8:].decode("latin-1") for p in packets],
        "linktypes": sorted({int(t) for b in batches for t in b.linktype}),
        "first_index": [b.first_index for b in batches],
        "monotonic": all((b.ts_ns[1:] >= b.ts_ns[:-1]).all() for b in batches),
        "packets": source.stats.packets,
    }))
"""


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=60)


@pytest.fixture
def namespace() -> str:
    pytest.importorskip("scapy")
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        pytest.skip("live capture test needs root (network namespace, raw sockets)")
    if shutil.which("ip") is None:
        pytest.skip("iproute2 `ip` command not installed")
    name = f"ndtest-{uuid.uuid4().hex[:8]}"
    made = run("ip", "netns", "add", name)
    if made.returncode:
        pytest.skip(f"cannot create a network namespace here: {made.stderr.strip()}")
    try:
        for command in (
            "ip link add va type veth peer name vb",
            "ip addr add 10.77.0.1/24 dev va",
            "ip addr add 10.77.0.2/24 dev vb",
            "ip link set va up",
            "ip link set vb up",
            "ip link set lo up",
        ):
            done = run("ip", "netns", "exec", name, *command.split())
            if done.returncode:
                pytest.skip(f"cannot set up veth pair in namespace: {done.stderr.strip()}")
        yield name
    finally:
        run("ip", "netns", "del", name)


def test_live_source_batches_filtered_packets(namespace: str) -> None:
    repo = str(Path(__file__).resolve().parents[1])
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([repo, *sys.path]))
    done = subprocess.run(
        ["ip", "netns", "exec", namespace, sys.executable, "-c", SCRIPT],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["payloads"] == [f"beacon-{i}" for i in range(5)]  # the BPF filter dropped port 6666
    assert result["packets"] == 5
    assert result["linktypes"] == [1]
    assert all(size <= 2 for size in result["sizes"])
    assert result["first_index"] == [sum(result["sizes"][:i]) for i in range(len(result["sizes"]))]
    assert result["monotonic"]
