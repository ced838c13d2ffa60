"""The compiled record walks (netdetect/capture/_records.c) against the Python loops they replace."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netdetect.capture import open_capture, pcap, pcapng
from netdetect.capture.reader import gather_u32
from netdetect.native import load, reference_path

_records = load("netdetect.capture._records")
pytestmark = pytest.mark.skipif(_records is None, reason="compiled core not built (or NETDETECT_NATIVE=0)")

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "pcaps"


def _records_bytes(lengths: list[int], order: str, header: int) -> bytes:
    out = bytearray()
    for i, caplen in enumerate(lengths):
        out += struct.pack(order + "IIII", 1_700_000_000 + i, i * 7, caplen, caplen + i % 3)
        out += b"\0" * (header - 16) + bytes(range(256)) * (caplen // 256) + bytes(caplen % 256)
    return bytes(out)


@settings(max_examples=300, deadline=None)
@given(
    data=st.one_of(
        st.binary(max_size=600),
        st.builds(
            _records_bytes,
            st.lists(st.integers(0, 300), max_size=20),
            st.sampled_from("<>"),
            st.sampled_from((16, 24)),
        ),
    ),
    cut=st.integers(0, 600),
    order=st.sampled_from("<>"),
    header=st.sampled_from((16, 24)),
)
def test_pcap_walk_matches_the_python_loop(data: bytes, cut: int, order: str, header: int) -> None:
    end = min(cut, len(data))
    expected = pcap.walk_records(memoryview(data)[:end], header, struct.Struct(order + "I"))
    offsets, words = _records.walk_pcap(np.frombuffer(data, np.uint8), end, header, order == ">")
    found = np.frombuffer(offsets, np.int64)
    assert found.tolist() == expected
    whole = found[found + 16 <= end]
    gathered = gather_u32(np.frombuffer(data[:end], np.uint8), whole, 4, np.dtype(order + "u4"))
    assert np.array_equal(np.frombuffer(words, np.uint32).reshape(-1, 4), gathered.astype(np.uint32))


@settings(max_examples=300, deadline=None)
@given(
    blocks=st.lists(st.tuples(st.sampled_from((6, 6, 6, 3, 1)), st.integers(0, 80)), max_size=12),
    noise=st.binary(max_size=40),
    start=st.integers(0, 16),
    cut=st.integers(0, 1200),
    order=st.sampled_from("<>"),
)
def test_epb_walk_matches_the_python_loop(blocks, noise: bytes, start: int, cut: int, order: str) -> None:
    data = (
        bytes(start)
        + b"".join(
            struct.pack(order + "II", kind, length) + bytes(max(0, length - 8)) for kind, length in blocks
        )
        + noise
    )
    end = min(cut, len(data))
    expected: list[int] = []
    stop = pcapng.walk_epbs(memoryview(data)[:end], start, struct.Struct(order + "II"), expected.append)
    offsets, words, native_stop = _records.walk_epbs(np.frombuffer(data, np.uint8), end, start, order == ">")
    found = np.frombuffer(offsets, np.int64)
    assert (found.tolist(), native_stop) == (expected, stop)
    u32 = np.dtype(order + "u4")
    view = np.frombuffer(data[:end], np.uint8)
    whole = found[: len(found) - (native_stop > end)]
    length = gather_u32(view, whole, 7, u32)[:, 1].astype(np.int64)
    gathered = np.hstack([gather_u32(view, whole, 7, u32), gather_u32(view, whole + length - 4, 1, u32)])
    assert np.array_equal(np.frombuffer(words, np.uint32).reshape(-1, 8), gathered.astype(np.uint32))


def _columns(path: Path) -> list[np.ndarray]:
    with open_capture(path) as cap:
        batches = list(cap.batches())
    if not batches:
        return []
    fields = ("caplen", "wirelen", "ts_ns", "linktype")
    return [np.concatenate([getattr(b, f) for b in batches]) for f in fields]


@pytest.mark.skipif(not CORPUS.is_dir(), reason="needs the shared corpus")
def test_corpus_reads_alike_with_and_without_the_compiled_walks() -> None:
    paths = sorted(CORPUS.iterdir())
    native = [_columns(p) for p in paths]
    for path, fast in zip(paths, native, strict=True):
        with reference_path():
            slow = _columns(path)
        assert len(fast) == len(slow), path.name
        for a, b in zip(fast, slow, strict=True):
            assert np.array_equal(a, b), path.name
