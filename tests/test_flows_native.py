"""The compiled flow engine (netdetect/_flows.c) against the numpy reference: identical rows, activity
marks, stats and saved state on captures, on generated packet sequences and across save/restore
between engines."""

from __future__ import annotations

import math
from dataclasses import fields, replace
from pathlib import Path

import numpy as np
import pytest
import test_flows
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from netdetect import flows
from netdetect.capture import open_capture
from netdetect.decode.headers import Headers, decode_headers
from netdetect.errors import CaptureError
from netdetect.flows import (
    MAX_HELD_MARKS,
    MAX_MARKS_PER_CONN,
    OPEN_MARK_DTYPE,
    STATE_DTYPE,
    FlowTracker,
    NativeFlowTracker,
    ReferenceFlowTracker,
    sort_connections,
)
from netdetect.model import CONN_DTYPE
from netdetect.native import built, reference_path
from netdetect.pipeline import extract_files
from netdetect.tables.marks import MARK_DTYPE
from netdetect.testing import synth

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus" / "pcaps"
BENCH_200M = ROOT / "benchmarks" / "out" / "bench-200M.pcap"

_FLOWS = built("netdetect._flows")
needs_native = pytest.mark.skipif(
    _FLOWS is None, reason="netdetect._flows is not built (or NETDETECT_NATIVE=0)"
)
ENGINES = ["reference", pytest.param("native", marks=needs_native)]
TRACKERS = {"reference": ReferenceFlowTracker, "native": NativeFlowTracker}
TRACKERS: dict[str, type[FlowTracker]] = {"reference": ReferenceFlowTracker, "native": NativeFlowTracker}

_FIN, _SYN, _RST, _PSH, _ACK = 0x01, 0x02, 0x04, 0x08, 0x10


# --- driving both engines ----------------------------------------------------------------------


class Twin:
    """One tracker per engine fed the same calls; every observable result is compared as it comes."""

    def __init__(self, max_open: int = 2_000_000, max_held_marks: int = MAX_HELD_MARKS) -> None:
        self.ref: FlowTracker = ReferenceFlowTracker(max_open, max_held_marks=max_held_marks)
        self.nat: FlowTracker = NativeFlowTracker(max_open, max_held_marks=max_held_marks)
        self.conns: list[np.ndarray] = []
        self.marks: list[np.ndarray] = []

    def add(self, h: Headers) -> None:
        self.ref.add(h)
        self.nat.add(h)
        self.check()

    def expire(self, now: float) -> None:
        self.ref.expire(now)
        self.nat.expire(now)
        self.check()

    def take(self) -> np.ndarray:
        a, b = self.ref.take(), self.nat.take()
        assert a.dtype == b.dtype == CONN_DTYPE
        assert a.tobytes() == b.tobytes()
        self.conns.append(a)
        ma, mb = self.ref.take_marks(), self.nat.take_marks()
        assert ma.dtype == mb.dtype == MARK_DTYPE
        assert ma.tobytes() == mb.tobytes()
        self.marks.append(ma)
        return a

    def swap_through_saved_state(self) -> None:
        """Each engine's saved state restores into a fresh tracker of the other engine."""
        self.take()
        sa, sb = self.ref.save_state(), self.nat.save_state()
        assert sa["state"].tobytes() == sb["state"].tobytes() and (sa["stats"] == sb["stats"]).all()
        assert sa["marks"].tobytes() == sb["marks"].tobytes()
        budget = self.ref.max_held_marks
        ref = ReferenceFlowTracker(self.ref.max_open, max_held_marks=budget)
        nat = NativeFlowTracker(self.nat.max_open, max_held_marks=budget)
        ref.load_state(sb)
        nat.load_state(sa)
        self.ref, self.nat = ref, nat
        self.check()

    def finish(self) -> np.ndarray:
        self.ref.flush()
        self.nat.flush()
        self.check()
        self.take()
        return np.concatenate(self.conns)

    def check(self) -> None:
        assert self.ref.stats == self.nat.stats
        assert self.ref.open_flows == self.nat.open_flows
        a, b = self.ref.state, self.nat.state
        assert a.dtype == b.dtype == STATE_DTYPE
        assert a.tobytes() == b.tobytes()
        ma, mb = self.ref.open_marks, self.nat.open_marks
        assert ma.dtype == mb.dtype == OPEN_MARK_DTYPE
        assert ma.tobytes() == mb.tobytes()


# The columns flow tracking reads, in the dtypes decode_headers gives them.
COLUMNS = {
    "ts": np.float64,
    "src_hi": np.uint64,
    "src_lo": np.uint64,
    "dst_hi": np.uint64,
    "dst_lo": np.uint64,
    "proto": np.uint8,
    "sport": np.int64,
    "dport": np.int64,
    "tcp_flags": np.int64,
    "ip_len": np.int64,
    "payload_len": np.int64,
}
FLAG_COLUMNS = ("fragment", "more_frags", "tunnelled")


def headers(columns: dict[str, np.ndarray]) -> Headers:
    """Headers with the columns flow tracking reads; the rest are zeros."""
    n = len(columns["ts"])
    zeros, no = np.zeros(n, np.int64), np.zeros(n, bool)
    cols = {f.name: no if f.name in FLAG_COLUMNS else zeros for f in fields(Headers) if f.name != "counts"}
    cols.update({name: np.asarray(columns.get(name, zeros), dtype) for name, dtype in COLUMNS.items()})
    return Headers(**cols)


def capture_headers(path: Path, max_packets: int) -> list[Headers]:
    """The headers the pipeline hands to the tracker (non-first fragments left out)."""
    out = []
    with open_capture(str(path)) as cap:
        for batch in cap.batches(max_packets=max_packets):
            h = decode_headers(batch)
            whole = ~(h.fragment & (h.frag_off > 0))
            if not whole.all():
                h = replace(h, **{f.name: getattr(h, f.name)[whole] for f in fields(h) if f.name != "counts"})
            out.append(h)
    return out


def twin_over(heads: list[Headers], max_open: int = 2_000_000, expire_every: int = 0) -> np.ndarray:
    twin = Twin(max_open)
    for i, h in enumerate(heads):
        twin.add(h)
        if expire_every and i % expire_every == expire_every - 1 and len(h):
            twin.expire(float(h.ts.max()))
        if i % 7 == 3:
            twin.take()
    return twin.finish()


# --- engine choice and layout ------------------------------------------------------------------


@needs_native
def test_native_layouts_match_the_dtypes():
    assert flows._layout(CONN_DTYPE) == _FLOWS.CONN_LAYOUT
    assert flows._layout(STATE_DTYPE) == _FLOWS.STATE_LAYOUT
    assert flows._layout(MARK_DTYPE) == _FLOWS.MARK_LAYOUT
    assert flows._layout(OPEN_MARK_DTYPE) == _FLOWS.OPEN_MARK_LAYOUT
    assert flows.layout_problem(_FLOWS) is None


def test_engine_choice():
    with reference_path():
        assert isinstance(FlowTracker(), ReferenceFlowTracker)
    default = FlowTracker(max_open=5)
    assert isinstance(default, NativeFlowTracker if _FLOWS is not None else ReferenceFlowTracker)
    assert isinstance(default, FlowTracker) and default.max_open == 5
    if _FLOWS is None:
        with pytest.raises(RuntimeError):
            NativeFlowTracker()


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(
    "name", [n for n in dir(test_flows) if n.startswith("test_") and callable(getattr(test_flows, n))]
)
def test_flow_tests_pass_on_each_engine(engine, name, monkeypatch):
    monkeypatch.setattr(test_flows, "FlowTracker", TRACKERS[engine])
    getattr(test_flows, name)()


# --- the rules, spelled out (both engines) -----------------------------------------------------

A_HI, B_HI = np.uint64(0), np.uint64(0)
A_LO, B_LO = np.uint64(0xFFFF0A000001), np.uint64(0xFFFFC0000209)  # 10.0.0.1, 192.0.2.9


def tcp_packets(*spec: tuple[float, int, bool]) -> Headers:
    """(ts, flags, from_client) packets of one TCP 5-tuple, 10.0.0.1:5000 -> 192.0.2.9:443."""
    ts = [t for t, _, _ in spec]
    out = [c for _, _, c in spec]
    return headers(
        {
            "ts": ts,
            "src_hi": [A_HI if c else B_HI for c in out],
            "src_lo": [A_LO if c else B_LO for c in out],
            "dst_hi": [B_HI if c else A_HI for c in out],
            "dst_lo": [B_LO if c else A_LO for c in out],
            "proto": [6] * len(ts),
            "sport": [5000 if c else 443 for c in out],
            "dport": [443 if c else 5000 for c in out],
            "tcp_flags": [f for _, f, _ in spec],
            "ip_len": [40] * len(ts),
        }
    )


def run(engine: str, batches: list[Headers]) -> np.ndarray:
    ft = TRACKERS[engine]()
    for h in batches:
        ft.add(h)
    ft.flush()
    return ft.take()


@pytest.mark.parametrize("engine", ENGINES)
def test_syn_after_fin_splits_within_a_batch_and_at_a_boundary(engine):
    first = [(1.0, _SYN, True), (1.1, _SYN | _ACK, False), (1.2, _FIN | _ACK, True)]
    again = [(2.0, _SYN, True), (2.1, _ACK, True)]
    assert len(run(engine, [tcp_packets(*first, *again)])) == 2
    assert len(run(engine, [tcp_packets(*first), tcp_packets(*again)])) == 2


@pytest.mark.parametrize("engine", ENGINES)
def test_syn_rule_anchor_restarts_each_batch(engine):
    # The FIN is in the previous batch and the connection resumed with a non-SYN packet: within
    # this batch no FIN/RST precedes the SYN since the anchor, so the SYN does not split.
    conns = run(
        engine,
        [
            tcp_packets((1.0, _SYN, True), (1.1, _FIN | _ACK, True)),
            tcp_packets((2.0, _ACK, True), (2.1, _SYN, True)),
        ],
    )
    assert len(conns) == 1 and conns["packets_out"][0] == 4
    # A repeated SYN (retransmission) with no FIN/RST between is the same connection.
    assert len(run(engine, [tcp_packets((1.0, _SYN, True), (2.0, _SYN, True))])) == 1
    # Only FIN/RST since the previous SYN count: FIN, SYN (split), SYN (no split).
    fin_syn_syn = [(1.0, _ACK, True), (1.1, _RST, False), (1.2, _SYN, True), (1.3, _SYN, True)]
    assert len(run(engine, [tcp_packets(*fin_syn_syn)])) == 2


@pytest.mark.parametrize("engine", ENGINES)
def test_idle_gaps_split_at_the_timeout(engine):
    # A gap of exactly the timeout continues; beyond it splits, within a batch and across batches.
    spec = [(0.0, _ACK, True), (300.0, _ACK, True), (600.5, _ACK, True)]
    assert [int(p) for p in run(engine, [tcp_packets(*spec)])["packets_out"]] == [2, 1]
    assert [int(p) for p in run(engine, [tcp_packets(s) for s in spec])["packets_out"]] == [2, 1]


@pytest.mark.parametrize("engine", ENGINES)
def test_client_comes_from_the_connections_first_packet(engine):
    # Opened by a SYN-ACK from the server: the server's peer is the client; later packets don't change it.
    (c,) = run(engine, [tcp_packets((1.0, _SYN | _ACK, False)), tcp_packets((1.1, _SYN, True))])
    assert (c["client_port"], c["server_port"]) == (5000, 443)


def test_take_orders_ties_by_every_column():
    rows = np.zeros(4, CONN_DTYPE)
    rows["ts"] = [2.0, 1.0, 1.0, 1.0]
    rows["client_port"] = [1, 9, 3, 3]
    rows["bytes_in"] = [0, 0, 7, 5]
    out = sort_connections(rows)
    assert list(out["ts"]) == [1.0, 1.0, 1.0, 2.0]
    assert list(out["client_port"]) == [3, 3, 9, 1] and list(out["bytes_in"]) == [5, 7, 0, 0]
    for perm in ([3, 2, 1, 0], [1, 3, 0, 2]):
        assert sort_connections(rows[perm]).tobytes() == out.tobytes()
    assert sort_connections(np.zeros(0, CONN_DTYPE)).dtype == CONN_DTYPE


# --- captures ----------------------------------------------------------------------------------


def _corpus_files() -> list[Path]:
    return sorted(CORPUS.glob("*")) if CORPUS.is_dir() else []


@needs_native
@pytest.mark.skipif(not _corpus_files(), reason="../shared/corpus is not present")
def test_engines_identical_on_every_corpus_capture():
    checked = 0
    for path in _corpus_files():
        for max_packets in (65536, 7):
            try:
                heads = capture_headers(path, max_packets)
            except CaptureError:
                break  # unreadable for the reader: nothing reaches the tracker
            twin_over(heads, expire_every=3 if max_packets == 7 else 0)
            checked += 1
    assert checked >= 150


@needs_native
def test_engines_identical_on_the_demo_capture_and_small_tables():
    heads = capture_headers(ROOT / "pcaps" / "demo-office.pcap", 4096)
    conns = twin_over(heads, expire_every=5)
    assert len(conns) > 1000
    twin_over(heads, max_open=50)  # shedding on every batch


def _reuse_capture(path: Path) -> Path:
    """Port reuse after FIN and RST, idle gaps around both timeouts, half-open and server-first flows."""
    with synth.TrafficWriter(path, seed=7) as w:
        t = 1_700_000_000.0
        for i in range(60):
            sport = 40000 + i % 5  # the same few 5-tuples, again and again
            close = "rst" if i % 3 else "fin"
            w.tcp_session(t, "10.0.0.5", "198.51.100.7", sport, 443, [200], 900, close=close)
            w.tcp_session(t + 0.5, "10.0.0.6", "198.51.100.8", sport, 80, [120], 300, handshake=i % 4 != 0)
            w.udp_exchange(t + 1.0, "10.0.0.5", "192.0.2.53", 5353, 53, b"q" * 30, b"r" * 60)
            t += (59.9, 60.0, 61.0, 299.0, 301.0, 5.0)[i % 6]
    return path


@needs_native
def test_engines_identical_on_port_reuse_and_timeouts(tmp_path):
    path = _reuse_capture(tmp_path / "reuse.pcap")
    for max_packets in (1, 3, 64, 65536):
        twin_over(capture_headers(path, max_packets), expire_every=4)
    ex = extract_files([str(path)])
    assert np.all(np.diff(ex.conns["ts"]) >= 0) and len(ex.conns) > 120


@needs_native
@pytest.mark.slow
@pytest.mark.skipif(not BENCH_200M.is_file(), reason="benchmarks/out/bench-200M.pcap not generated")
def test_engines_identical_on_the_benchmark_capture():
    conns = twin_over(capture_headers(BENCH_200M, 65536), expire_every=2)
    assert len(conns) > 10_000


# --- generated packet sequences (hypothesis) ---------------------------------------------------

ADDRESSES = [
    (0, 0xFFFF0A000001),  # 10.0.0.1
    (0, 0xFFFF0A000002),
    (0, 0xFFFFC0000209),
    (0x20010DB800000000, 1),  # 2001:db8::1
]
PORTS = [0, 53, 443, 1023, 1024, 5000, 65535]
FLAGS = [0, _SYN, _SYN | _ACK, _ACK, _FIN | _ACK, _RST, _RST | _ACK, _PSH | _ACK, _SYN | _FIN, _SYN | _RST]
STEPS = [0.0, 0.001, 1.0, 59.9, 60.0, 60.001, 61.0, 299.9, 300.0, 300.001, 301.0, 1000.0, -0.5, -70.0]

flow_tuple = st.tuples(
    st.sampled_from(ADDRESSES),
    st.sampled_from(ADDRESSES),
    st.sampled_from(PORTS),
    st.sampled_from(PORTS),
    st.sampled_from([6, 6, 17, 1]),
)
packet = st.tuples(
    st.integers(0, 5),  # which tuple
    st.booleans(),  # reversed direction
    st.sampled_from(STEPS),
    st.one_of(st.sampled_from(FLAGS), st.integers(0, 255)),
    st.integers(0, 65535),
)
# Between batches: nothing, take(), expire at (last time + offset), or a save/restore across engines.
between = st.one_of(
    st.just(("none",)),
    st.just(("take",)),
    st.just(("swap",)),
    st.tuples(st.just("expire"), st.sampled_from([0.0, 59.0, 60.5, 299.0, 300.5, 5000.0])),
)


@st.composite
def scenarios(draw):
    tuples = draw(st.lists(flow_tuple, min_size=1, max_size=6))
    packets = draw(st.lists(packet, min_size=0, max_size=120))
    cuts = sorted(draw(st.lists(st.integers(0, len(packets)), max_size=8)))
    ops = draw(st.lists(between, min_size=len(cuts) + 1, max_size=len(cuts) + 1))
    max_open = draw(st.sampled_from([0, 1, 2, 3, 1000]))
    budget = draw(st.sampled_from([0, 1, 3, 7, MAX_HELD_MARKS]))  # marks all open connections may hold
    return tuples, packets, cuts, ops, max_open, budget


def _columns(tuples, packets, t0=1_700_000_000.0):
    cols: dict[str, list] = {k: [] for k in COLUMNS}
    t = t0
    for which, rev, step, fl, size in packets:
        (a, b, pa, pb, proto) = tuples[which % len(tuples)]
        if rev:
            a, b, pa, pb = b, a, pb, pa
        t += step
        cols["ts"].append(t)
        cols["src_hi"].append(a[0])
        cols["src_lo"].append(a[1])
        cols["dst_hi"].append(b[0])
        cols["dst_lo"].append(b[1])
        cols["proto"].append(proto)
        cols["sport"].append(pa if proto != 1 else 0)
        cols["dport"].append(pb if proto != 1 else 0)
        cols["tcp_flags"].append(fl if proto == 6 else 0)
        cols["ip_len"].append(size)
        # Payloads of 0, 1 and 2 bytes (ACKs, keep-alive probes, the smallest mark) and larger ones.
        cols["payload_len"].append(size - 40 if size % 2 else size % 3)
    return {k: np.array(v) for k, v in cols.items()}


def _play(columns, cuts, ops, max_open, budget=MAX_HELD_MARKS):
    n = len(columns["ts"])
    bounds = [0, *cuts, n]
    twin = Twin(max_open, budget)
    for (lo, hi), op in zip(zip(bounds, bounds[1:], strict=False), ops, strict=True):
        twin.add(headers({k: v[lo:hi] for k, v in columns.items()}))
        if op[0] == "take":
            twin.take()
        elif op[0] == "swap":
            twin.swap_through_saved_state()
        elif op[0] == "expire":
            last = float(columns["ts"][hi - 1]) if hi else 0.0
            twin.expire(last + op[1])
    conns = twin.finish()
    assert int(conns["packets_out"].sum() + conns["packets_in"].sum()) == n
    assert np.isin(np.concatenate(twin.marks)["uid"], conns["uid"]).all()


@needs_native
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_engines_identical_on_generated_sequences(scenario):
    tuples, packets, cuts, ops, max_open, budget = scenario
    _play(_columns(tuples, packets), cuts, ops, max_open, budget)


@needs_native
@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the reference's inf - inf
@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            *[st.integers(0, 2**64 - 1)] * 4,
            st.integers(0, 255),
            st.integers(-(2**63), 2**63 - 1),
            st.integers(-(2**63), 2**63 - 1),
            st.integers(-(2**63), 2**63 - 1),
            st.integers(-(2**40), 2**40),
            st.floats(allow_nan=True, allow_infinity=True),
            st.integers(-(2**63), 2**63 - 1),
        ),
        max_size=40,
    ),
    st.lists(st.integers(0, 40), max_size=4),
)
def test_engines_identical_on_hostile_columns(rows, cuts):
    """Any values a decoder bug or a crafted packet could produce: no crash, and still the same rows."""
    names = ("src_hi", "src_lo", "dst_hi", "dst_lo", "proto", "sport", "dport", "tcp_flags", "ip_len", "ts")
    names += ("payload_len",)
    columns = {name: np.array([r[i] for r in rows], COLUMNS[name]) for i, name in enumerate(names)}
    cuts = sorted(min(c, len(rows)) for c in cuts)
    _play(columns, cuts, [("none",), ("swap",), ("expire", 0.0), ("take",), ("none",)][: len(cuts) + 1], 3, 5)


@needs_native
@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=STATE_DTYPE.itemsize * 6), st.binary(max_size=OPEN_MARK_DTYPE.itemsize * 20))
def test_native_restores_any_state_rows(raw, raw_marks):
    """Saved state from a file is data too: any rows and marks load, trace and flush without harm."""
    whole = len(raw) // STATE_DTYPE.itemsize * STATE_DTYPE.itemsize
    state = np.frombuffer(raw[:whole], STATE_DTYPE)
    whole = len(raw_marks) // OPEN_MARK_DTYPE.itemsize * OPEN_MARK_DTYPE.itemsize
    marks = np.frombuffer(raw_marks[:whole], OPEN_MARK_DTYPE).copy()
    marks["key"][: len(state)] = state["key"][: len(marks)]  # some of them name open connections
    ft = NativeFlowTracker()
    ft.load_state({"state": state, "stats": np.zeros(3, np.int64), "marks": marks})
    assert ft.open_flows == len(np.unique(state["key"]))
    assert len(ft.open_marks) == np.isin(marks["key"], state["key"]).sum()
    ft.add(pings([1.0, 3.0]))
    ft.add(tcp_packets((1.0, _SYN, True)))
    ft.expire(math.inf)
    ft.flush()
    assert ft.open_flows == 0 and len(ft.take()) == ft.stats.connections
    ft.take_marks()


# --- the C module's own checks -----------------------------------------------------------------


@needs_native
def test_native_rejects_malformed_columns():
    tracker = _FLOWS.Tracker(seed=1)
    f8, u8, i8 = np.zeros(4), np.zeros(4, np.uint64), np.zeros(4, np.int64)
    good = [f8, u8, u8, u8, u8, np.zeros(4, np.uint8), i8, i8, i8, i8, i8]
    assert tracker.add(*good) == 0 and tracker.open == 1
    short = list(good)
    short[6] = np.zeros(3, np.int64)
    with pytest.raises(ValueError):
        tracker.add(*short)
    unaligned = list(good)
    unaligned[1] = np.zeros(33, np.uint8)[1:].view(np.uint64)
    with pytest.raises(ValueError):
        tracker.add(*unaligned)
    with pytest.raises(ValueError):
        tracker.import_state(b"\0" * (STATE_DTYPE.itemsize + 1))
    with pytest.raises(ValueError):
        tracker.export_state(bytearray(STATE_DTYPE.itemsize * 2))
    with pytest.raises(TypeError):
        tracker.add(f8)
    assert tracker.open == 1 and tracker.flush() == 1 and len(tracker.take()) == CONN_DTYPE.itemsize


@needs_native
def test_native_table_grows_sheds_and_shrinks():
    n = 50_000
    rng = np.random.default_rng(3)
    cols = {
        "ts": np.sort(rng.random(n) * 100) + 1e9,
        "src_hi": np.zeros(n),
        "src_lo": rng.integers(0, 2**63, n),
        "dst_hi": np.zeros(n),
        "dst_lo": np.full(n, 7),
        "proto": np.full(n, 17),
        "sport": rng.integers(0, 65536, n),
        "dport": np.full(n, 53),
        "tcp_flags": np.zeros(n),
        "ip_len": rng.integers(28, 1500, n),
    }
    h = headers(cols)
    ref, nat = ReferenceFlowTracker(max_open=20_000), NativeFlowTracker(max_open=20_000)
    for ft in (ref, nat):
        ft.add(h)
        assert ft.open_flows == 20_000 and ft.stats.shed == n - 20_000
    assert ref.state.tobytes() == nat.state.tobytes()
    for ft in (ref, nat):
        ft.expire(1e9 + 200)  # everything idle: the table empties (and the C one shrinks)
        assert ft.open_flows == 0
        ft.add(h)
    assert ref.take().tobytes() == nat.take().tobytes() and ref.stats == nat.stats


# --- activity marks ----------------------------------------------------------------------------


def pings(times: list[float], from_client: bool = True, payload: int = 40) -> Headers:
    """Packets with payload of the test 5-tuple at these times, from one side."""
    h = tcp_packets(*[(t, _PSH | _ACK, from_client) for t in times])
    return replace(h, payload_len=np.full(len(times), payload, np.int64))


def joined(*parts: Headers) -> Headers:
    order = np.argsort(np.concatenate([p.ts for p in parts]), kind="stable")
    return Headers(
        **{
            f.name: np.concatenate([getattr(p, f.name) for p in parts])[order]
            for f in fields(Headers)
            if f.name != "counts"
        }
    )


@pytest.mark.parametrize("engine", ENGINES)
def test_marks_start_after_an_idle_gap_and_ignore_acks_and_keepalive_probes(engine):
    client = pings([0.0, 0.5, 2.0, 4.0, 4.9, 6.0, 7.0])  # gaps 0.5 and 0.9 and exactly 1.0 are no marks
    acks = replace(pings([2.5, 10.0]), payload_len=np.zeros(2, np.int64))
    probes = replace(pings([3.2, 11.0]), payload_len=np.ones(2, np.int64))  # keep-alive probes: 1 byte
    late = pings([11.5])  # 4.5 s after the last payload (the probe at 11.0 is not one): a mark
    server = pings([0.1, 3.0, 9.0], from_client=False)  # three marks: too few to hand over
    ft = TRACKERS[engine]()
    ft.add(joined(client, acks, probes, late, server))
    ft.flush()
    (conn,) = ft.take()
    marks = ft.take_marks()
    assert (marks["uid"] == conn["uid"]).all() and not marks["from_server"].any()
    assert marks["ts"].tolist() == [0.0, 2.0, 4.0, 6.0, 11.5]


@pytest.mark.parametrize("engine", ENGINES)
def test_marks_of_the_server_side_are_told_apart(engine):
    ft = TRACKERS[engine]()
    ft.add(joined(pings([0.0]), pings([5.0, 10.0, 15.0, 20.0], from_client=False)))
    ft.flush()
    ft.take()
    marks = ft.take_marks()
    assert marks["ts"].tolist() == [5.0, 10.0, 15.0, 20.0] and marks["from_server"].all()


@needs_native
def test_marks_continue_across_batches_and_saved_state_of_either_engine():
    times = [float(t) for t in range(0, 600, 5)]
    twin = Twin()
    for i, chunk in enumerate(np.array_split(np.array(times), 7)):
        twin.add(pings(chunk.tolist()))
        if i == 3:
            twin.swap_through_saved_state()
    twin.finish()
    marks = np.concatenate(twin.marks)
    assert marks["ts"].tolist() == times and len(np.unique(marks["uid"])) == 1


@needs_native
def test_marks_past_the_bound_are_shed_oldest_first_and_counted():
    n = MAX_MARKS_PER_CONN + 500
    times = np.arange(n) * 2.0
    twin = Twin()
    for i, chunk in enumerate(np.array_split(times, 5)):
        twin.add(pings(chunk.tolist()))
        if i == 2:
            twin.swap_through_saved_state()
    twin.finish()
    marks = np.concatenate(twin.marks)
    assert len(marks) == MAX_MARKS_PER_CONN and marks["ts"][0] == times[500]
    assert twin.ref.stats.marks_shed == twin.nat.stats.marks_shed == 500


@needs_native
def test_marks_past_the_budget_of_all_open_connections_are_trimmed_longest_first():
    twin = Twin(max_held_marks=10)
    other = replace(pings([0.0, 2.0, 4.0]), sport=np.full(3, 6000), dport=np.full(3, 443))
    other = replace(other, src_lo=np.full(3, A_LO + 1))  # another client: another connection
    twin.add(joined(pings([float(t) for t in range(0, 40, 2)]), other))
    # 20 + 3 marks over a budget of 10: the largest L with min(20, L) + min(3, L) <= 10 is 7
    assert twin.ref.stats.marks_shed == twin.nat.stats.marks_shed == 20 - 7
    assert len(twin.ref.open_marks) == 10
    twin.swap_through_saved_state()
    twin.finish()
