"""The event tables' declarations (netdetect/tables/schema.py): what is derived from them, and the compiled
core's layout check (loud when it fails) behind the one switch between it and the reference path."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from _packets import batch_of

from netdetect import native
from netdetect.decode.extract import EventExtractor
from netdetect.model import DnsAnswer
from netdetect.pipeline import Extractor
from netdetect.tables import ANSWER_DTYPE, DNS_DTYPE, HTTP_DTYPE, TLS_DTYPE
from netdetect.tables.schema import DNS, POOL, SCHEMAS, Column, Schema, c_header, layout_problem
from netdetect.testing import synth

ROOT = Path(__file__).resolve().parents[1]
EVENTS = "netdetect.decode._events"
compiled_events = native.built(EVENTS)
needs_events = pytest.mark.skipif(
    compiled_events is None, reason="compiled core not built (or NETDETECT_NATIVE=0)"
)

_ENDS = [
    ("ts", "<f8"),
    ("client", "|S16"),
    ("server", "|S16"),
    ("client_port", "<u2"),
    ("server_port", "<u2"),
]


def test_the_declarations_give_the_tables_their_historic_bytes() -> None:
    # Rows are compared byte for byte between the decode paths and saved by users: the layout is a format.
    assert DNS_DTYPE.descr == _ENDS + [
        ("tcp", "|b1"), ("txid", "<u2"), ("query", "<i4"), ("qtype", "<i4"), ("is_response", "|b1"),
        ("rcode", "<i2"),
    ]  # fmt: skip
    assert ANSWER_DTYPE.descr == [
        ("event", "<i8"), ("name", "<i4"), ("rtype", "<i4"), ("value", "<i4"), ("ttl", "<i8"),
        ("addr", "|S16"),
    ]  # fmt: skip
    assert TLS_DTYPE.descr == _ENDS + [
        ("quic", "|b1"), ("sni", "<i4"), ("alpn", "<i4"), ("versions", "<i4"), ("ech", "|b1"), ("ja3", "<i4"),
        ("ja3_hash", "<i4"), ("ja4", "<i4"),
    ]  # fmt: skip
    assert HTTP_DTYPE.descr == _ENDS + [
        ("method", "<i4"),
        ("host", "<i4"),
        ("uri", "<i4"),
        ("user_agent", "<i4"),
    ]
    assert [DNS_DTYPE.itemsize, ANSWER_DTYPE.itemsize, TLS_DTYPE.itemsize, HTTP_DTYPE.itemsize] == [
        58,
        44,
        70,
        60,
    ]
    assert DNS.text_columns == ("query", "qtype")


def test_the_c_header_is_generated_from_the_declarations() -> None:
    header = (ROOT / "netdetect" / "decode" / "_tables.h").read_text()
    assert header == c_header(), "stale: run `python -m netdetect.tables > netdetect/decode/_tables.h`"
    assert "#define DNS_QUERY 47\n" in header and "#define ANSWER_ROW 44\n" in header


@needs_events
def test_the_built_core_reports_the_declared_layouts() -> None:
    assert layout_problem(compiled_events) is None
    assert compiled_events.LAYOUTS["dns"]["rcode"] == (56, "i2")


def _module_reporting(layouts: dict) -> ModuleType:
    fake = ModuleType(EVENTS)
    fake.LAYOUTS = layouts  # type: ignore[attr-defined]
    return fake


def test_a_layout_mismatch_is_named() -> None:
    good = {name: schema.layout() for name, schema in SCHEMAS.items()}
    assert layout_problem(_module_reporting(good)) is None
    moved = {**good, "dns": {**good["dns"], "rcode": (57, "i2")}}
    assert layout_problem(_module_reporting(moved)) == "dns table columns differ: rcode"
    retyped = {**good, "http": {**good["http"], "uri": (52, "u4")}}
    assert layout_problem(_module_reporting(retyped)) == "http table columns differ: uri"
    grown = {**good, "answer": {**good["answer"], "size": (44, "i4"), "": (48, "")}}
    assert layout_problem(_module_reporting(grown)) == "answer table columns differ: row size, size"
    assert layout_problem(_module_reporting({})) == "no dns table"
    assert layout_problem(ModuleType("bare")) == "it reports no row layouts"


@pytest.fixture
def mismatched_core(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """A compiled event core built from other sources: its DNS rows one byte longer."""
    layouts = {name: schema.layout() for name, schema in SCHEMAS.items()}
    layouts["dns"][""] = (59, "")
    fake = _module_reporting(layouts)
    monkeypatch.setitem(sys.modules, EVENTS, fake)
    monkeypatch.setattr(native, "_ENV_OFF", False)
    monkeypatch.setattr(native, "_built", {})
    monkeypatch.setattr(native, "_problems", {})
    return fake


def _dns_batch():
    query = synth.dns_query("a.example", txid=7)
    response = synth.dns_response("a.example", "A", ["192.0.2.1"], txid=7)
    return batch_of([(1.0, _udp("10.0.0.1", "10.0.0.53", 40000, 53, query)),
                     (1.1, _udp("10.0.0.53", "10.0.0.1", 53, 40000, response))])  # fmt: skip


def _udp(src: str, dst: str, sport: int, dport: int, payload: bytes) -> bytes:
    l4 = synth.udp(synth.packed_ip(src), synth.packed_ip(dst), sport, dport, payload)
    mac = b"\x02\x00\x00\x00\x00\x01"
    return synth.ethernet(mac, mac, 0x0800, synth.ip_packet(src, dst, 17, l4))


def test_a_mismatched_core_is_refused_loudly_and_counted(mismatched_core: ModuleType) -> None:
    with pytest.warns(native.NativeLayoutWarning, match=r"_events .*dns table columns differ: row size"):
        ex = Extractor()
    ex.feed(_dns_batch())
    assert native.load(EVENTS) is None and native.status()[EVENTS] is False
    assert native.problems() == {EVENTS: "dns table columns differ: row size"}
    out = ex.finish(["x.pcap"])
    assert out.decode_errors.get("native.layout_mismatch") == 1
    assert any("netdetect.decode._events" in w and "row size" in w for w in out.warnings)
    # The reference path ran instead: the same events.
    assert [e.query for e in out.dns] == ["a.example", "a.example"]
    assert out.dns[1].answers == [DnsAnswer("a.example", "A", "192.0.2.1", 300)]


def test_the_mismatch_warning_reaches_stderr() -> None:
    script = (
        "import sys, types\n"
        "from netdetect.tables.schema import SCHEMAS\n"
        "fake = types.ModuleType('netdetect.decode._events')\n"
        "fake.LAYOUTS = {n: s.layout() for n, s in SCHEMAS.items()}\n"
        "fake.LAYOUTS['tls']['ja4'] = (66, 'f4')\n"
        "sys.modules['netdetect.decode._events'] = fake\n"
        "from netdetect.decode.extract import EventExtractor\n"
        "assert EventExtractor().native is None\n"
    )
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "NETDETECT_NATIVE": "1"}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True)
    assert "NativeLayoutWarning" in done.stderr and "tls table columns differ: ja4" in done.stderr


def test_the_switch_decides_where_each_stage_chooses() -> None:
    with native.reference_path():
        assert not native.enabled() and native.load(EVENTS) is None
        assert EventExtractor().native is None
        with native.reference_path():
            assert native.load(EVENTS) is None
        assert not native.enabled()
    assert native.load(EVENTS) is compiled_events
    assert (EventExtractor().native is None) == (compiled_events is None)


# --- declarations ------------------------------------------------------------------------------------------


@dataclass
class _Pair:
    a: int
    b: str


def test_a_declaration_must_follow_its_dataclass() -> None:
    with pytest.raises(ValueError, match="columns map to"):
        Schema("pair", (Column("b", POOL, "text"), Column("a", "i4", "number")), _Pair)
    with pytest.raises(ValueError, match="declared twice"):
        Schema("pair", (Column("a", "i4", "number"), Column("a", "i4", "again")), None)
    with pytest.raises(ValueError, match="not an identifier"):
        Schema("pair", (Column("a b", "i4", "number"),), None)
    pair = Schema("pair", (Column("a", "i4", "number"), Column("b", POOL, "text")), _Pair)
    ids: dict = {None: -1}
    rows = np.array([pair.adder()(ids, 5, "x"), pair.adder()(ids, 6, "x")], pair.dtype)
    assert rows["b"].tolist() == [0, 0] and ids == {None: -1, "x": 0}
    values = list(ids)[1:]
    assert pair.event_columns(rows, lambda col: [values[i] for i in col.tolist()]) == [[5, 6], ["x", "x"]]
