"""Capture file readers: pcap and pcapng variants, compression, stdin, damaged files."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import shutil
import struct
import subprocess
import sys
import threading
import time
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from netdetect.capture import CapturedBatch, CaptureFile, expand_inputs, open_capture
from netdetect.capture import linktypes as lt
from netdetect.errors import CaptureError
from netdetect.testing.writer import (
    Record,
    pcap_bytes,
    pcap_header,
    pcap_record,
    pcapng_block,
    pcapng_interface,
    pcapng_legacy_packet,
    pcapng_packet,
    pcapng_section,
    pcapng_simple_packet,
)

T0 = 1_680_000_000_123_456_789  # ns; 2023-03-28


def frames(n: int, size: int = 60) -> list[bytes]:
    """Distinct packet payloads of varying length (so offsets are not a fixed stride)."""
    return [bytes([i % 251]) * (size + i % 7) for i in range(n)]


def read_all(capture: CaptureFile, max_packets: int = 65536) -> tuple[list[bytes], CapturedBatch]:
    """Every packet's bytes, and all batches' columns concatenated into one batch-like object."""
    batches = list(capture.batches(max_packets))
    packets = [b.packet(i) for b in batches for i in range(len(b))]
    if not batches:
        empty = np.empty(0, np.int64)
        return packets, CapturedBatch(
            np.empty(0, np.uint8), empty, empty, empty, np.empty(0), empty, ts_ns=empty
        )
    merged = CapturedBatch(
        data=np.empty(0, np.uint8),
        offset=np.concatenate([b.offset for b in batches]),
        caplen=np.concatenate([b.caplen for b in batches]),
        wirelen=np.concatenate([b.wirelen for b in batches]),
        ts=np.concatenate([b.ts for b in batches]),
        linktype=np.concatenate([b.linktype for b in batches]),
        source=batches[0].source,
        ts_ns=np.concatenate([b.ts_ns for b in batches]),  # type: ignore[misc]
    )
    return packets, merged


def write(tmp_path: Path, name: str, content: bytes) -> str:
    path = tmp_path / name
    path.write_bytes(content)
    return str(path)


# -- classic pcap -------------------------------------------------------------------------------------


@pytest.mark.parametrize("byteorder", ["<", ">"])
@pytest.mark.parametrize("nanos", [False, True])
def test_pcap_variants_give_exact_fields(tmp_path: Path, byteorder: str, nanos: bool) -> None:
    data = frames(5)
    stamps = [T0 + i * 1_000_001_001 for i in range(5)]
    records = [Record(ts, d, wirelen=len(d) + 100) for ts, d in zip(stamps, data, strict=True)]
    path = write(tmp_path, "a.pcap", pcap_bytes(records, byteorder=byteorder, nanos=nanos, linktype=lt.RAW))
    with open_capture(path) as capture:
        packets, cols = read_all(capture)
        assert (capture.format, capture.compression) == ("pcap", None)
        assert capture.stats.packets == 5
        assert capture.total_bytes == os.path.getsize(path)
        assert capture.stats.bytes_read == os.path.getsize(path)
    assert packets == data
    expected_ns = stamps if nanos else [s // 1000 * 1000 for s in stamps]
    assert cols.ts_ns.tolist() == expected_ns
    assert np.allclose(cols.ts, np.array(expected_ns) / 1e9, rtol=0, atol=1e-6)
    assert cols.caplen.tolist() == [len(d) for d in data]
    assert cols.wirelen.tolist() == [len(d) + 100 for d in data]
    assert cols.linktype.tolist() == [lt.RAW] * 5


def test_pcap_fcs_bits_are_masked_from_link_type(tmp_path: Path) -> None:
    link_field = lt.ETHERNET | 0x1000_0000 | (2 << 29)  # F bit set, FCS length 2 x 16 bits
    head = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, link_field)
    path = write(tmp_path, "fcs.pcap", head + pcap_record(Record(T0, b"x" * 64)))
    with open_capture(path) as capture:
        _, cols = read_all(capture)
        assert capture.stats.interfaces[0].linktype == lt.ETHERNET
        assert capture.stats.interfaces[0].fcs_bytes == 4
    assert cols.linktype.tolist() == [lt.ETHERNET]


def test_pcap_unsupported_link_type_is_named(tmp_path: Path) -> None:
    path = write(tmp_path, "usb.pcap", pcap_bytes([Record(T0, b"x")], linktype=189))
    with pytest.raises(CaptureError, match="link type 189") as info:
        open_capture(path)
    assert info.value.path == path


def test_supported_link_types_are_the_decoders_own() -> None:
    headers = pytest.importorskip("netdetect.decode.headers")
    assert headers.SUPPORTED_LINKTYPES == lt.SUPPORTED


def test_batches_are_views_sliced_by_max_packets(tmp_path: Path) -> None:
    data = frames(10)
    path = write(tmp_path, "a.pcap", pcap_bytes([Record(T0 + i, d) for i, d in enumerate(data)], nanos=True))
    with open_capture(path) as capture:
        batches = list(capture.batches(max_packets=4))
    assert [len(b) for b in batches] == [4, 4, 2]
    assert [b.first_index for b in batches] == [0, 4, 8]
    assert all(b.source == path for b in batches)
    assert [b.packet(i) for b in batches for i in range(len(b))] == data
    assert batches[1].offset[0] == 0  # offsets are relative to the batch's own data view


@pytest.mark.parametrize("kind", ["pcap", "pcapng"])
def test_records_straddling_chunks_are_carried(tmp_path: Path, kind: str) -> None:
    data = frames(400, size=40)
    records = [Record(T0 + i * 1000, d) for i, d in enumerate(data)]
    if kind == "pcap":
        content = pcap_bytes(records, nanos=True)
    else:
        content = (
            pcapng_section()
            + pcapng_interface(tsresol=9)
            + b"".join(pcapng_packet(r, tsresol=9) for r in records)
        )
    path = write(tmp_path, "a." + kind, content)
    with open_capture(path, chunk_bytes=4096) as capture:  # 4 KiB chunks: many cut records
        packets, cols = read_all(capture, max_packets=7)
        assert capture.stats.truncated_records == capture.stats.bad_records == 0
    assert packets == data
    assert cols.ts_ns.tolist() == [r.ts_ns for r in records]


def test_pcapng_block_bigger_than_a_chunk(tmp_path: Path) -> None:
    big = b"\xab" * 20000
    content = pcapng_section() + pcapng_interface() + pcapng_packet(Record(T0 // 1000 * 1000, big))
    path = write(tmp_path, "big.pcapng", content + pcapng_packet(Record(T0 // 1000 * 1000, b"end")))
    with open_capture(path, chunk_bytes=4096) as capture:
        packets, _ = read_all(capture)
    assert packets == [big, b"end"]


# -- pcapng ------------------------------------------------------------------------------------------


def multi_section_pcapng() -> tuple[bytes, list[tuple[int, bytes, int, int]]]:
    """Two sections (little then big endian), interfaces with different link types and clocks.

    Returns the file and the expected (ts_ns, bytes, wirelen, linktype) of every packet.
    """
    expected: list[tuple[int, bytes, int, int]] = []
    le = pcapng_section(byteorder="<")
    le += pcapng_interface(lt.ETHERNET, tsresol=9, name="eth0")  # nanoseconds
    le += pcapng_interface(lt.LINUX_SLL2, tsresol=0x80 | 20)  # 2^-20 s
    le += pcapng_interface(lt.RAW, tsoffset=3600)  # default microseconds, one hour offset
    le += pcapng_block(0x0BAD, b"custom block data")  # known, ignored
    le += pcapng_block(0x1234, b"something new")  # unknown: skipped and counted
    for ts, data, iface, wirelen in [
        (T0, b"A" * 60, 0, 60),
        (1_680_000_001_500_000_000, b"B" * 61, 1, 1500),  # exactly representable in 2^-20
        (1_680_000_002_250_000_000, b"C" * 62, 2, 62),
    ]:
        le += pcapng_packet(Record(ts, data, wirelen, iface), tsresol=(9, 0x80 | 20, 6)[iface])
        expected.append((ts + (3600 * 10**9 if iface == 2 else 0), data, wirelen, (1, 276, 101)[iface]))
    le += pcapng_simple_packet(b"S" * 50)  # no timestamp: takes the previous packet's
    expected.append((expected[-1][0], b"S" * 50, 50, lt.ETHERNET))
    le += pcapng_legacy_packet(Record(1_680_000_003_000_001_000, b"L" * 44, 44, 2))
    expected.append((1_680_000_003_000_001_000 + 3600 * 10**9, b"L" * 44, 44, lt.RAW))
    be = pcapng_section(byteorder=">")
    be += pcapng_interface(lt.NULL, tsresol=3, byteorder=">")  # milliseconds, fresh interface table
    be += pcapng_packet(Record(1_680_000_004_007_000_000, b"D" * 33), tsresol=3, byteorder=">")
    expected.append((1_680_000_004_007_000_000, b"D" * 33, 33, lt.NULL))
    return le + be, expected


def test_pcapng_sections_interfaces_clocks_and_block_kinds(tmp_path: Path) -> None:
    content, expected = multi_section_pcapng()
    path = write(tmp_path, "multi.pcapng", content)
    with open_capture(path) as capture:
        packets, cols = read_all(capture)
        stats = capture.stats
        assert capture.format == "pcapng"
    assert packets == [e[1] for e in expected]
    assert cols.ts_ns.tolist() == [e[0] for e in expected]
    assert cols.wirelen.tolist() == [e[2] for e in expected]
    assert cols.linktype.tolist() == [e[3] for e in expected]
    assert stats.skipped_blocks == 1
    assert stats.bad_records == stats.truncated_records == 0
    assert [(i.section, i.linktype, i.ts_resolution) for i in stats.interfaces] == [
        (1, 1, "1e-9"),
        (1, 276, "2^-20"),
        (1, 101, "1e-6"),
        (2, 0, "1e-3"),
    ]
    assert stats.interfaces[0].name == "eth0"
    assert capture.linktypes == [lt.NULL, lt.ETHERNET, lt.RAW, lt.LINUX_SLL2]
    assert stats.interfaces[2].ts_offset_s == 3600


def test_pcapng_blocks_between_packets_keep_order_and_counts(tmp_path: Path) -> None:
    body = b""
    expected = []
    for i in range(50):
        body += pcapng_packet(Record(T0 // 1000 * 1000 + i * 1000, b"p%d" % i))
        expected.append(b"p%d" % i)
        body += pcapng_block(0x7777, b"unknown") if i % 2 else pcapng_block(5, b"\x00" * 20)  # unknown / ISB
        if i % 10 == 9:
            body += pcapng_simple_packet(b"s%d" % i)
            expected.append(b"s%d" % i)
    content = pcapng_section() + pcapng_interface() + body
    with open_capture(write(tmp_path, "mixed.pcapng", content), chunk_bytes=4096) as capture:
        packets, cols = read_all(capture)
        assert capture.stats.skipped_blocks == 25  # the unknown ones; the ISBs are known
    assert packets == expected
    assert (np.diff(cols.ts_ns) >= 0).all()  # simple packets took the previous timestamp


def test_pcapng_many_interfaces_each_with_its_own_clock(tmp_path: Path) -> None:
    resolutions = [6, 9, 3, 0x80 | 10]  # exact for whole milliseconds except 2^-10: use whole seconds there
    interfaces = b"".join(
        pcapng_interface(lt.RAW if i % 3 else lt.ETHERNET, tsresol=resolutions[i % 4], tsoffset=i)
        for i in range(300)
    )
    packets = b""
    expected = []
    for i in reversed(range(300)):  # interleaved out of interface order
        ts = T0 // 10**9 * 10**9 + i * 10**9 + (0 if i % 4 == 3 else 7 * 10**6)
        packets += pcapng_packet(Record(ts, b"%d" % i, interface=i), tsresol=resolutions[i % 4])
        expected.append((ts + i * 10**9, lt.RAW if i % 3 else lt.ETHERNET))
    content = pcapng_section() + interfaces + packets
    with open_capture(write(tmp_path, "many.pcapng", content)) as capture:
        _, cols = read_all(capture)
        assert len(capture.stats.interfaces) == 300
    assert list(zip(cols.ts_ns.tolist(), cols.linktype.tolist(), strict=True)) == expected


def test_pcapng_power_of_two_resolution_rounds_to_nearest_ns(tmp_path: Path) -> None:
    ts = 1_680_000_000_123_456_789
    content = (
        pcapng_section()
        + pcapng_interface(tsresol=0x80 | 30)
        + pcapng_packet(Record(ts, b"x"), tsresol=0x80 | 30)
    )
    with open_capture(write(tmp_path, "p2.pcapng", content)) as capture:
        _, cols = read_all(capture)
    assert abs(int(cols.ts_ns[0]) - ts) <= 1  # 2^-30 s is ~0.93 ns


def test_pcapng_against_dpkt_on_corpus_file() -> None:
    dpkt = pytest.importorskip("dpkt")
    path = Path("/work/shared/corpus/pcaps/ndpi__tls_ech.pcapng")
    if not path.exists():
        pytest.skip("shared corpus absent")
    with path.open("rb") as handle:
        reference = [(ts, bytes(buf)) for ts, buf in dpkt.pcapng.Reader(handle)]
    with open_capture(path) as capture:
        packets, cols = read_all(capture)
    assert len(reference) == len(packets) > 0
    assert packets == [buf for _, buf in reference]
    assert np.allclose(cols.ts, [ts for ts, _ in reference], rtol=0, atol=1e-6)


CORPUS = Path("/work/shared/corpus/pcaps")
CORPUS_FILES = sorted(CORPUS.glob("*")) if CORPUS.is_dir() else []


@pytest.mark.slow
@pytest.mark.parametrize("path", CORPUS_FILES or [None], ids=lambda p: p.name if p else "absent")
def test_every_corpus_file_reads_like_dpkt(path: Path | None) -> None:
    dpkt = pytest.importorskip("dpkt")
    if path is None:
        pytest.skip("shared corpus absent")
    try:
        with path.open("rb") as handle:
            is_pcapng = handle.read(4) == b"\x0a\x0d\x0d\x0a"  # not by name: one ".pcapng" is a pcap
            handle.seek(0)
            reader = dpkt.pcapng.Reader(handle) if is_pcapng else dpkt.pcap.Reader(handle)
            reference = [(ts, len(buf)) for ts, buf in reader]
    except Exception as exc:  # dpkt itself fails on some valid files
        pytest.skip(f"dpkt cannot read it: {exc!r}")
    with open_capture(path) as capture:
        _, cols = read_all(capture)
        stats = capture.stats
    assert stats.bad_records == stats.truncated_records == 0
    assert cols.caplen.tolist() == [n for _, n in reference]
    if (
        len({i.ts_resolution for i in stats.interfaces}) == 1
    ):  # dpkt applies the first interface's clock to all
        assert np.allclose(cols.ts, [ts for ts, _ in reference], rtol=0, atol=1e-6)


MIXED_CLOCK_FILES = ["ndpi__anydesk.pcapng", "ndpi__dns-google-nsid.pcapng", "ndpi__sites.pcapng"]


@pytest.mark.slow
@pytest.mark.parametrize("name", MIXED_CLOCK_FILES)
def test_interfaces_with_different_clocks_match_tshark_to_the_ns(name: str) -> None:
    """Files whose interfaces mix 1e-6 and 1e-9 resolution (dpkt applies the first clock to all)."""
    path = CORPUS / name
    if not path.exists() or shutil.which("tshark") is None:
        pytest.skip("needs the shared corpus and tshark")
    fields = ["-T", "fields", "-e", "frame.time_epoch", "-e", "frame.cap_len"]
    out = subprocess.run(["tshark", "-r", str(path), *fields], capture_output=True, text=True, check=True)
    reference = [line.split("\t") for line in out.stdout.splitlines() if line]
    with open_capture(path) as capture:
        _, cols = read_all(capture)
        assert len({i.ts_resolution for i in capture.stats.interfaces}) > 1
    assert cols.ts_ns.tolist() == [int(Decimal(ts) * 10**9) for ts, _ in reference]
    assert cols.caplen.tolist() == [int(n) for _, n in reference]


# -- compression and stdin ---------------------------------------------------------------------------

COMPRESSORS = {
    "gzip": gzip.compress,
    "bzip2": bz2.compress,
    "xz": lzma.compress,
    "zstd": lambda b: zstandard.ZstdCompressor().compress(b),
}


@pytest.mark.parametrize("compression", sorted(COMPRESSORS))
def test_compressed_files_are_recognised_by_content(tmp_path: Path, compression: str) -> None:
    content, expected = multi_section_pcapng()
    compressed = COMPRESSORS[compression](content)
    path = write(tmp_path, "capture.dat", compressed)  # the name says nothing
    with open_capture(path) as capture:
        packets, cols = read_all(capture)
        assert (capture.compression, capture.format) == (compression, "pcapng")
        assert capture.total_bytes == len(compressed)
        assert capture.stats.bytes_read == len(content)
    assert packets == [e[1] for e in expected]
    assert cols.ts_ns.tolist() == [e[0] for e in expected]


class FakeStdin:
    def __init__(self, content: bytes) -> None:
        self.buffer = io.BytesIO(content)


@pytest.mark.parametrize("compress", [False, True])
def test_stdin_dash(monkeypatch: pytest.MonkeyPatch, compress: bool) -> None:
    data = frames(3)
    content = pcap_bytes([Record(T0 + i, d) for i, d in enumerate(data)], nanos=True, byteorder=">")
    monkeypatch.setattr(sys, "stdin", FakeStdin(gzip.compress(content) if compress else content))
    with open_capture("-") as capture:
        packets, cols = read_all(capture)
        assert capture.name == "-"
        assert capture.compression == ("gzip" if compress else None)
    assert packets == data
    assert cols.ts_ns.tolist() == [T0, T0 + 1, T0 + 2]


def test_stdin_pipe_in_a_subprocess() -> None:
    content = zstandard.ZstdCompressor().compress(pcap_bytes([Record(T0, b"abc"), Record(T0 + 5000, b"de")]))
    script = (
        "from netdetect.capture import open_capture\n"
        "with open_capture('-') as c:\n"
        "    print(sum(len(b) for b in c.batches()), c.compression, c.format)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], input=content, capture_output=True, check=True)
    assert done.stdout.decode().split() == ["2", "zstd", "pcap"]


# -- bad input ----------------------------------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    path = str(tmp_path / "nope.pcap")
    with pytest.raises(CaptureError, match="no such file") as info:
        open_capture(path)
    assert info.value.path == path and path in str(info.value)


def test_directory_is_not_a_capture(tmp_path: Path) -> None:
    with pytest.raises(CaptureError, match="directory"):
        open_capture(tmp_path)


@pytest.mark.skipif(
    hasattr(os, "geteuid") and os.geteuid() == 0, reason="root reads files regardless of mode"
)
def test_permission_denied(tmp_path: Path) -> None:
    path = write(tmp_path, "secret.pcap", pcap_bytes([]))
    os.chmod(path, 0)
    with pytest.raises(CaptureError, match="permission denied"):
        open_capture(path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty"),
        (b"<!DOCTYPE html><html>", "3c 21 44 4f 43 54 59 50"),
        (b"snoop\x00\x00\x00\x00\x00\x00\x02", "snoop"),
        (gzip.compress(b"just some log lines\n"), "gzip-compressed data, but it starts with 6a 75 73 74"),
        (b"\xd4\xc3\xb2\xa1\x02\x00", "header cut short"),
        (b"\x0a\x0d\x0d\x0a\x1c\x00\x00\x00\x00\x00\x00\x00", "byte-order magic"),
    ],
    ids=["empty", "html", "snoop", "gzipped-text", "short-pcap-header", "pcapng-no-bom"],
)
def test_not_a_capture_says_what_it_saw(tmp_path: Path, content: bytes, message: str) -> None:
    path = write(tmp_path, "x.pcap", content)
    with pytest.raises(CaptureError, match=message) as info:
        open_capture(path)
    assert info.value.path == path


def test_truncated_final_record_is_counted(tmp_path: Path) -> None:
    data = frames(3)
    content = pcap_bytes([Record(T0 + i, d) for i, d in enumerate(data)], nanos=True)
    for cut in (10, 30):  # inside the last record's data, then inside its header
        path = write(tmp_path, f"cut{cut}.pcap", content[: len(content) - len(data[2]) - 16 + cut])
        with open_capture(path) as capture:
            packets, _ = read_all(capture)
            assert capture.stats.truncated_records == 1
            assert capture.stats.bad_records == 0
            assert "cut short" in capture.stats.warnings[0]
        assert packets == (data[:2] if cut < 16 + len(data[2]) else data)


def test_absurd_caplen_stops_reading_with_a_warning(tmp_path: Path) -> None:
    good = pcap_record(Record(T0, b"a" * 60))
    liar = struct.pack("<IIII", 1, 0, 10_000_000, 60) + b"b" * 60
    path = write(tmp_path, "liar.pcap", pcap_header() + good + liar + good)
    with open_capture(path) as capture:
        packets, _ = read_all(capture)
        assert capture.stats.bad_records == 1
        assert "10000000" in capture.stats.warnings[0]
        assert capture.stats.truncated_records == 0
    assert packets == [b"a" * 60]


def test_caplen_above_wirelen_is_bad_but_kept(tmp_path: Path) -> None:
    path = write(tmp_path, "w.pcap", pcap_bytes([Record(T0, b"a" * 80, wirelen=40), Record(T0, b"b" * 10)]))
    with open_capture(path) as capture:
        packets, cols = read_all(capture)
        assert capture.stats.bad_records == 1
    assert packets == [b"a" * 80, b"b" * 10]
    assert cols.wirelen.tolist() == [80, 10]


@pytest.mark.parametrize("damage", ["not-multiple-of-4", "too-small", "trailer-mismatch"])
def test_pcapng_damaged_block_ends_its_section_only(tmp_path: Path, damage: str) -> None:
    first = pcapng_packet(Record(T0 // 1000 * 1000, b"first"))
    broken = bytearray(pcapng_packet(Record(T0 // 1000 * 1000, b"lost")))
    if damage == "not-multiple-of-4":
        struct.pack_into("<I", broken, 4, len(broken) + 2)
    elif damage == "too-small":
        struct.pack_into("<I", broken, 4, 8)
    else:
        struct.pack_into("<I", broken, len(broken) - 4, 999)
    after_in_section = pcapng_packet(Record(T0 // 1000 * 1000, b"also lost"))
    second = pcapng_section() + pcapng_interface(lt.RAW) + pcapng_packet(Record(2 * 10**18, b"next section"))
    content = pcapng_section() + pcapng_interface() + first + bytes(broken) + after_in_section + second
    with open_capture(write(tmp_path, "dmg.pcapng", content)) as capture:
        packets, cols = read_all(capture)
        assert capture.stats.bad_records == 1
        assert "next section header" in capture.stats.warnings[0]
    assert packets == [b"first", b"next section"]
    assert cols.linktype.tolist() == [lt.ETHERNET, lt.RAW]


def test_pcapng_truncated_final_block(tmp_path: Path) -> None:
    content = (
        pcapng_section()
        + pcapng_interface()
        + pcapng_packet(Record(0, b"one"))
        + pcapng_packet(Record(0, b"two"))
    )
    with open_capture(write(tmp_path, "t.pcapng", content[:-6])) as capture:
        packets, _ = read_all(capture)
        assert capture.stats.truncated_records == 1
    assert packets == [b"one"]


def test_pcapng_packet_on_unknown_interface_is_bad(tmp_path: Path) -> None:
    content = pcapng_section() + pcapng_interface() + pcapng_packet(Record(0, b"x", interface=5))
    content += pcapng_packet(Record(0, b"y")) + pcapng_simple_packet(b"z" * 10)
    with open_capture(write(tmp_path, "i.pcapng", content)) as capture:
        packets, _ = read_all(capture)
        assert capture.stats.bad_records == 1
    assert packets == [b"y", b"z" * 10]


def test_truncated_gzip_keeps_what_was_read(tmp_path: Path) -> None:
    data = [os.urandom(200) for _ in range(2000)]  # incompressible: the cut lands mid-stream
    compressed = gzip.compress(pcap_bytes([Record(T0 + i, d) for i, d in enumerate(data)]))
    with open_capture(write(tmp_path, "cut.pcap.gz", compressed[: len(compressed) // 2])) as capture:
        packets, _ = read_all(capture)
        assert any("stream ended early" in w for w in capture.stats.warnings)
    assert 0 < len(packets) < len(data)
    assert packets == data[: len(packets)]


def test_corrupt_gzip_never_raises_a_traceback(tmp_path: Path) -> None:
    content = pcap_bytes([Record(T0 + i, os.urandom(100)) for i in range(300)])
    compressed = bytearray(gzip.compress(content))
    compressed[len(compressed) // 2 : len(compressed) // 2 + 64] = b"\x00" * 64
    path = write(tmp_path, "bad.pcap.gz", bytes(compressed))
    try:
        with open_capture(path) as capture:
            packets, _ = read_all(capture)
            assert capture.stats.warnings  # the damage is reported
            assert len(packets) < 300
    except CaptureError as exc:
        assert exc.path == path


@settings(
    max_examples=int(os.environ.get("ND_FUZZ_EXAMPLES", "300")),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    base=st.sampled_from(["pcap", "pcapng"]),
    edits=st.lists(st.tuples(st.integers(0, 800), st.integers(0, 255)), max_size=8),
    cut=st.integers(0, 400),
)
def test_fuzzed_captures_never_crash(
    tmp_path: Path, base: str, edits: list[tuple[int, int]], cut: int
) -> None:
    records = [Record(T0 + i * 1000, bytes([i]) * (20 + i)) for i in range(6)]
    content = bytearray(pcap_bytes(records) if base == "pcap" else multi_section_pcapng()[0])
    for position, value in edits:
        if position < len(content):
            content[position] = value
    path = write(tmp_path, "fuzz", bytes(content[: len(content) - cut]))
    try:
        capture = open_capture(path, chunk_bytes=4096)
    except CaptureError:
        return
    with capture:
        packets, cols = read_all(capture, max_packets=3)
        stats = capture.stats
    assert stats.packets == len(packets) == len(cols.caplen)
    assert all(len(p) == n for p, n in zip(packets, cols.caplen.tolist(), strict=True))
    assert (cols.caplen <= cols.wirelen).all() and (cols.caplen >= 0).all()
    # the streamed path (compressed, copied chunks) must read exactly what the mapped path read
    streamed_path = write(tmp_path, "fuzz.gz", gzip.compress(bytes(content[: len(content) - cut])))
    with open_capture(streamed_path, chunk_bytes=4096) as streamed:
        streamed_packets, streamed_cols = read_all(streamed, max_packets=5)
        counts = (streamed.stats.bad_records, streamed.stats.truncated_records, streamed.stats.skipped_blocks)
    assert streamed_packets == packets
    assert streamed_cols.ts_ns.tolist() == cols.ts_ns.tolist()
    assert counts == (stats.bad_records, stats.truncated_records, stats.skipped_blocks)


def test_stdin_pipe_hands_over_packets_before_the_writer_finishes(monkeypatch: pytest.MonkeyPatch) -> None:
    read_end, write_end = os.pipe()
    monkeypatch.setattr(sys, "stdin", type("Stdin", (), {"buffer": os.fdopen(read_end, "rb")})())
    os.write(write_end, pcap_bytes([Record(T0, b"first"), Record(T0 + 1000, b"second")]))
    got: list[list[bytes]] = []

    def consume() -> None:
        with open_capture("-") as capture:
            for batch in capture.batches():
                got.append([batch.packet(i) for i in range(len(batch))])

    reader = threading.Thread(target=consume, daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 10
        while not got and time.monotonic() < deadline:
            time.sleep(0.01)
        assert got == [[b"first", b"second"]]  # delivered while the pipe is still open
        os.write(write_end, pcap_record(Record(T0 + 2000, b"third")))
    finally:
        os.close(write_end)
    reader.join(10)
    assert not reader.is_alive()
    assert got == [[b"first", b"second"], [b"third"]]


def test_named_pipe_path(tmp_path: Path) -> None:
    fifo = tmp_path / "live.fifo"
    os.mkfifo(fifo)
    content = pcap_bytes([Record(T0, b"through a fifo")])

    def feed() -> None:
        with open(fifo, "wb") as writer:
            writer.write(content)

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    assert expand_inputs([str(fifo)]) == [str(fifo)]  # ordering must not read from the pipe
    with open_capture(fifo) as capture:
        packets, _ = read_all(capture)
        assert capture.total_bytes is None
    writer.join(10)
    assert packets == [b"through a fifo"]
