"""Tiny captures for tests: scapy packets -> PacketBatch or a pcap file."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from netdetect.capture.batch import PacketBatch
from netdetect.synth import PcapWriter


def batch_of(packets: list[tuple[float, bytes]], linktype: int = 1) -> PacketBatch:
    raw = [bytes(p) for _, p in packets]
    lens = np.array([len(p) for p in raw], np.int64)
    offs = np.concatenate(([0], np.cumsum(lens)[:-1])).astype(np.int64)
    return PacketBatch(
        data=np.frombuffer(b"".join(raw), np.uint8),
        offset=offs,
        caplen=lens.copy(),
        wirelen=lens.copy(),
        ts=np.array([t for t, _ in packets], np.float64),
        linktype=np.full(len(raw), linktype, np.uint16),
    )


def write_pcap(path: Path, packets: list[tuple[float, bytes]], linktype: int = 1) -> Path:
    """Classic little-endian microsecond pcap."""
    with path.open("wb") as f:
        writer = PcapWriter(f, linktype=linktype, snaplen=65535)
        for ts, pkt in packets:
            writer.write(round(ts * 1e9), bytes(pkt))
    return path


# An explicit destination MAC: without one scapy ARPs for every Ether() it builds (seconds each).
DST_MAC = "02:00:00:00:00:02"
