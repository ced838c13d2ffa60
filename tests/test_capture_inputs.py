"""Many captures: directories, globs, rotated sets in time order, overlapping files merged."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from netdetect.capture import ReadStats, expand_inputs, first_timestamp, iter_batches
from netdetect.errors import CaptureError
from netdetect.testing.writer import Record, pcap_bytes, pcapng_interface, pcapng_packet, pcapng_section

S = 1_000_000_000  # ns per second
T0 = 1_680_000_000 * S


def pcap_at(seconds: list[float], tag: bytes = b"p") -> bytes:
    return pcap_bytes([Record(T0 + int(s * S), tag + bytes([i])) for i, s in enumerate(seconds)], nanos=True)


def test_rotated_tcpdump_set_is_ordered_by_first_packet(tmp_path: Path) -> None:
    # tcpdump -C names: file.pcap, file.pcap1, ..., file.pcap10 (sorts before file.pcap2 by name)
    names = ["file.pcap", "file.pcap1", "file.pcap2", "file.pcap10"]
    for index, name in enumerate(names):
        (tmp_path / name).write_bytes(pcap_at([index * 10, index * 10 + 1]))
    (tmp_path / "notes.txt").write_text("not a capture")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "late.pcapng.gz").write_bytes(
        gzip.compress(
            pcapng_section()
            + pcapng_interface(tsresol=9)
            + pcapng_packet(Record(T0 + 99 * S, b"z"), tsresol=9)
        )
    )
    found = expand_inputs([str(tmp_path)])
    assert [Path(p).name for p in found] == names + ["late.pcapng.gz"]


def test_dumpcap_ring_buffer_glob(tmp_path: Path) -> None:
    # ring buffer file numbers wrap: the file numbered 00001 may hold the newest packets
    files = {
        "ring_00003_20230329101500.pcapng": 0,
        "ring_00001_20230329103000.pcapng": 20,
        "ring_00002_20230329100000.pcapng": 10,
    }
    for name, start in files.items():
        content = pcapng_section() + pcapng_interface(tsresol=9)
        content += b"".join(pcapng_packet(Record(T0 + (start + i) * S, b"x"), tsresol=9) for i in range(3))
        (tmp_path / name).write_bytes(content)
    found = expand_inputs([str(tmp_path / "ring_*.pcapng")])
    assert [Path(p).name[:10] for p in found] == ["ring_00003", "ring_00002", "ring_00001"]


def test_nothing_matches(tmp_path: Path) -> None:
    with pytest.raises(CaptureError, match="no file matches"):
        expand_inputs([str(tmp_path / "*.pcap")])
    with pytest.raises(CaptureError, match="no pcap or pcapng"):
        expand_inputs([str(tmp_path)])
    with pytest.raises(CaptureError, match="no such file"):
        expand_inputs([str(tmp_path / "missing.pcap")])


def test_stdin_is_kept_in_place(tmp_path: Path) -> None:
    (tmp_path / "a.pcap").write_bytes(pcap_at([1]))
    assert expand_inputs(["-", str(tmp_path / "a.pcap")]) == ["-", str(tmp_path / "a.pcap")]


def test_first_timestamp(tmp_path: Path) -> None:
    (tmp_path / "a.pcap").write_bytes(pcap_at([5.25, 6]))
    (tmp_path / "empty.pcap").write_bytes(pcap_at([]))
    assert first_timestamp(str(tmp_path / "a.pcap")) == pytest.approx(1_680_000_005.25)
    assert first_timestamp(str(tmp_path / "empty.pcap")) is None
    assert first_timestamp(str(tmp_path / "missing.pcap")) is None


def test_sequential_files_are_not_cut(tmp_path: Path) -> None:
    paths = []
    for index in range(3):
        path = tmp_path / f"part{index}.pcap"
        path.write_bytes(pcap_at([index * 100 + i for i in range(10)]))
        paths.append(str(path))
    stats: dict[str, ReadStats] = {}
    batches = list(iter_batches(list(reversed(paths)), max_packets=4, stats=stats))
    assert [(Path(b.source).name, b.first_index, len(b)) for b in batches] == [
        (f"part{f}.pcap", first, size) for f in range(3) for first, size in ((0, 4), (4, 4), (8, 2))
    ]
    assert {Path(p).name: s.packets for p, s in stats.items()} == {f"part{i}.pcap": 10 for i in range(3)}


def test_overlapping_files_are_merged_in_time_order(tmp_path: Path) -> None:
    a = tmp_path / "sensor_a.pcap"
    b = tmp_path / "sensor_b.pcap"
    a.write_bytes(pcap_at([0, 1, 2, 5, 6, 7, 8], tag=b"a"))
    b.write_bytes(pcap_at([1.5, 3, 4, 7.5, 20], tag=b"b"))
    batches = list(iter_batches([str(a), str(b)], max_packets=3))
    ts = np.concatenate([batch.ts for batch in batches])
    assert (np.diff(ts) >= 0).all()
    assert len(ts) == 12
    starts = [batch.ts[0] for batch in batches]
    assert starts == sorted(starts)
    # each piece keeps its source and frame numbers
    for batch in batches:
        tag = b"a" if batch.source.endswith("sensor_a.pcap") else b"b"
        assert [batch.packet(i) for i in range(len(batch))] == [
            tag + bytes([batch.first_index + i]) for i in range(len(batch))
        ]


def test_a_bad_file_in_the_set_raises_capture_error(tmp_path: Path) -> None:
    good = tmp_path / "good.pcap"
    good.write_bytes(pcap_at([1, 2]))
    bad = tmp_path / "bad.pcap"
    bad.write_bytes(b"hello world, no capture here")
    with pytest.raises(CaptureError) as info:
        list(iter_batches([str(good), str(bad)]))
    assert info.value.path == str(bad)
