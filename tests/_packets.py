"""Tiny captures for tests: scapy packets -> PacketBatch or a pcap file."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import numpy as np

from netdetect.capture import open_capture
from netdetect.capture.batch import PacketBatch
from netdetect.testing.writer import PcapWriter

# The third-party captures (../shared/corpus/pcaps), when they are there.
CORPUS_PCAPS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "pcaps"


def corpus_files() -> list[Path]:
    return sorted(p for p in CORPUS_PCAPS.glob("*") if p.is_file()) if CORPUS_PCAPS.is_dir() else []


def corpus_batches() -> list[tuple[Path, list[PacketBatch]]]:
    """Every corpus capture the reader accepts, with all its batches (the rest are the capture tests'
    business)."""
    out = []
    for path in corpus_files():
        try:
            with open_capture(path) as cap:
                out.append((path, list(cap.batches())))
        except Exception:  # noqa: BLE001
            continue
    return out


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


def load_script(path: Path) -> ModuleType:
    """A script of the repository (benchmarks/, pcaps/) imported as a module under its file name."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module
    spec.loader.exec_module(module)
    return module
