"""The column-wise output path gives, byte for byte, what the per-finding functions give: the JSON
records (and the jsonl, ecs and eve lines built around them), the CSV rows and the terminal table,
on generated findings with hostile names, NaN/inf/-0.0 and huge values, intel hits (live, expired,
integer confidences) and allowlisted groups; and the vectorised rounding and time formatting against
Python's `round`, `iso_utc` and `eve_time` on tricky values."""

from __future__ import annotations

import io
import math
import struct
from typing import Any

import numpy as np
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from netdetect.model import Finding, IntelHit, Report, Summary
from netdetect.output import write_report
from netdetect.output.base import dumps, formatter_for
from netdetect.output.columns import RecordColumns
from netdetect.output.csvfmt import CsvFormatter
from netdetect.output.ecs import ecs_document, ecs_lines
from netdetect.output.eve import eve_alert, eve_lines
from netdetect.output.records import finding_record, verdict
from netdetect.output.table import TableFormatter, row, rows_of
from netdetect.output.text import (
    eve_time,
    eve_time_many,
    finite,
    finite_array,
    iso_utc,
    iso_utc_many,
    round_many,
    rounded,
)
from netdetect.testing.sample import HOSTILE_NAMES, sample_report

START = 1680084000.0

TRICKY_FLOATS = [
    0.0,
    -0.0,
    0.5,
    0.05,  # the "missed" cut
    0.0499999,
    0.055,
    9.96,  # the period formats' cut at 10 s
    10.0,
    1.5,
    2.5,
    -2.5,
    0.03125,  # an exact tie at 4 places
    0.00005,
    0.00015,
    1.00005,
    0.12345,
    123.4565,
    1e-300,
    -1e-300,
    5e-324,
    4.5e11,
    2.0**52,
    2.0**53 + 2,
    1e16,
    1e300,
    1741600000.0005,
    1741600000.0015,
    253402300799.9995,  # the last millisecond of year 9999, and past it
    253402300799.9994,
    -0.0004,
    -0.0006,
    -86400.5,
    float("nan"),
    float("inf"),
    -float("inf"),
]


def _outcome(make):
    """A function's value, or the type of what it raised."""
    try:
        return make()
    except Exception as exc:  # noqa: BLE001 - both paths must fail alike
        return type(exc)


# --- the vectorised scalars -----------------------------------------------------------------------


def _random_floats(seed: int, n: int) -> list[float]:
    rng = np.random.default_rng(seed)
    bits = rng.integers(0, 2**63, n, dtype=np.int64).astype(np.uint64) * np.uint64(2) + rng.integers(
        0, 2, n
    ).astype(np.uint64)
    anything = bits.view(np.float64)
    decimals = rng.integers(-(10**7), 10**7, n) / 10.0 ** rng.integers(0, 9, n) + rng.choice(
        [0, 5e-5, 5e-4, -5e-5], n
    )
    epoch = 1.7e9 + rng.uniform(0, 1e7, n)
    return [*anything.tolist(), *decimals.tolist(), *epoch.tolist(), *TRICKY_FLOATS]


def test_round_many_is_pythons_round() -> None:
    values = _random_floats(1, 30000)
    array = finite_array(values)
    for digits in (2, 3, 4):
        got = round_many(array, digits)
        want = [rounded(v, digits) for v in values]
        assert [repr(v) for v in got] == [repr(v) for v in want]


def test_iso_and_eve_times_of_many_are_the_scalar_ones() -> None:
    values: list[Any] = [*_random_floats(2, 20000), None, 1, True, "1680084000.5", 10**20]
    for many, one in ((iso_utc_many, iso_utc), (eve_time_many, eve_time)):
        # values the scalar function cannot take (OverflowError) make the column one fail alike
        fine = [v for v in values if _outcome(lambda v=v, one=one: one(v)) is not OverflowError]
        assert many(fine) == [one(v) for v in fine]


@given(st.lists(st.one_of(st.floats(), st.none(), st.integers(-(10**6), 10**6)), max_size=40))
def test_finite_array_reads_values_as_finite_does(values: list[Any]) -> None:
    for value, got in zip(values, finite_array(values).tolist(), strict=True):
        want = finite(value)
        assert math.isnan(got) if want is None else struct.pack("d", got) == struct.pack("d", want)


# --- findings ---------------------------------------------------------------------------------------

NAMES = st.one_of(
    st.sampled_from(
        [
            "c2.example",
            "msstorageboxes.com",
            "a;b.example",
            "=cmd|' /C calc'!A0",
            "-2+3",
            "@SUM(1)",
            "\ttab.example",
            "100%.example",
            "%s%r.example",
            "back\\slash",
            "",
            "xn--bcher-kva.example",
            "bücher.example",
            "\u202eexe.com",
            "zero\u200bwidth",
            "wide\u4e2d\u6587",
            "\U0001f600.example",
            *HOSTILE_NAMES,
        ]
    ),
    st.text(max_size=12),
)
ADDRESSES = st.sampled_from(["10.0.0.5", "192.0.2.10", "203.0.113.7", "2001:db8::1", "::", "198.51.100.23"])
NUMBERS = st.one_of(
    st.none(),
    st.sampled_from(TRICKY_FLOATS),
    st.floats(min_value=-1e6, max_value=1e6),
    st.floats(),
    st.integers(-5, 10**6),
)
TIMES = st.one_of(
    st.floats(min_value=START - 10**6, max_value=START + 10**6),
    st.sampled_from([float("nan"), float("inf"), -1.5, 0.0, 1e12, 253402300799.9996, START + 0.0005]),
    st.none(),
)
CONFIDENCES = st.sampled_from(["high", "medium", "low", "HIGH", None, 0, 10, 50, 90, True])


@st.composite
def hits(draw) -> IntelHit:
    return IntelHit(
        indicator=draw(NAMES),
        type=draw(st.sampled_from(["domain", "ip", "cidr", "url", "ja3"])),
        pack=draw(st.sampled_from(["3cx", "feed;x", "=pack"])),
        confidence=draw(CONFIDENCES),
        field=draw(st.sampled_from(["sni", "dns_query", "dns_answer", "http_host", "url", "dst_ip"])),
        value=draw(NAMES),
        client="10.0.0.5",
        first_seen=draw(st.floats(min_value=START, max_value=START + 10**5)),
        last_seen=draw(st.floats(min_value=START, max_value=START + 10**5)),
        count=draw(st.integers(1, 100)),
        expired=draw(st.booleans()),
        benign=draw(st.booleans()),
        notes=draw(st.one_of(st.none(), NAMES)),
    )


SUBSCORE_NAMES = ["interval", "size", "rita_ts", "events", "evidence", "Zeta", "a%b", "=x", "semi;colon"]


@st.composite
def findings(draw) -> Finding:
    names = draw(st.lists(st.sampled_from(SUBSCORE_NAMES), unique=True, max_size=5))
    layout = draw(st.sampled_from(["shared", "drawn"]))
    if layout == "shared":  # most findings of a scan share one layout: the table path
        names = ["evidence", "interval", "rita_ts", "size"]
    subscores = {name: draw(NUMBERS) for name in names}
    if draw(st.booleans()):
        subscores = {name: value for name, value in subscores.items() if value is not None}
    edges = draw(
        st.one_of(
            st.just([]),
            st.lists(st.floats(min_value=0, max_value=1e5), min_size=1, max_size=6),
            st.lists(NUMBERS, min_size=1, max_size=4),
        )
    )
    return Finding(
        kind=draw(st.sampled_from(["beacon", "intel"])),
        src_ip=draw(st.one_of(ADDRESSES, NAMES)),
        dst_ip=draw(st.one_of(st.none(), ADDRESSES)),
        dst_ips=draw(st.lists(st.one_of(ADDRESSES, NAMES), max_size=3)),
        dst_port=draw(st.one_of(st.none(), st.integers(0, 65535))),
        server_name=draw(st.one_of(st.none(), NAMES)),
        score=draw(st.one_of(st.sampled_from(TRICKY_FLOATS), st.floats(min_value=-2, max_value=2))),
        beacon=draw(st.booleans()),
        period_s=draw(NUMBERS),
        jitter=draw(NUMBERS),
        connections=draw(st.integers(0, 500)),
        first_seen=draw(TIMES),
        last_seen=draw(TIMES),
        subscores=subscores,
        intel=draw(st.one_of(st.just([]), st.lists(hits(), max_size=3))),
        missed_share=draw(NUMBERS),
        interval_histogram=draw(st.one_of(st.just([]), st.lists(st.integers(0, 50), max_size=8))),
        interval_bin_edges_s=edges,
        dns_names=draw(st.lists(NAMES, max_size=3)),
        allowlisted=draw(st.one_of(st.none(), st.just(""), NAMES)),
        proto=draw(st.sampled_from([None, "tcp", "udp", "TCP"])),
    )


def report_of(found: list[Finding], last_ts: float | None = START + 86400) -> Report:
    return Report(
        summary=Summary(
            captures=["x.pcap"], first_ts=START if last_ts is not None else None, last_ts=last_ts
        ),
        findings=found,
        threshold=0.5,
    )


class _FixedClock:
    """records.event_time falls back on the clock for a finding with no usable time: freeze it."""

    def __enter__(self) -> None:
        import netdetect.output.records as records

        self.records, self.saved = records, records.time
        records.time = type("clock", (), {"time": staticmethod(lambda: START + 12345.678)})  # type: ignore[assignment]

    def __exit__(self, *exc: object) -> None:
        self.records.time = self.saved  # type: ignore[assignment]


def check_every_format(found: list[Finding], report: Report) -> None:
    with _FixedClock():
        _check_every_format(found, report)


def _check_every_format(found: list[Finding], report: Report) -> None:
    columns = RecordColumns(found)
    # jsonl: each line, and the records as dicts
    want = [_outcome(lambda f=f, r=r: dumps(finding_record(f, r))) for r, f in enumerate(found, start=1)]
    if all(isinstance(line, str) for line in want):
        assert columns.json() == want
        assert columns.records() == [finding_record(f, r) for r, f in enumerate(found, start=1)]
        assert [
            _outcome(lambda f=f, r=r: dumps(ecs_document(f, r, report))) for r, f in enumerate(found, 1)
        ] == ecs_lines(columns, report)
        assert [
            _outcome(lambda f=f, r=r: dumps(eve_alert(f, r, report))) for r, f in enumerate(found, 1)
        ] == eve_lines(columns, report)
        fast, slow = io.StringIO(), io.StringIO()
        CsvFormatter(fast).write(report)
        CsvFormatter(slow).write_reference(report)
        assert fast.getvalue() == slow.getvalue()
    else:  # a value JSON cannot carry (an infinity from rounding a huge number): both fail alike
        error = next(line for line in want if not isinstance(line, str))
        assert _outcome(columns.json) is error
    # table: every row and its style
    rows, styles = rows_of(found)
    assert rows == [row(rank, f) for rank, f in enumerate(found, start=1)]
    assert styles == [verdict(f) for f in found]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(findings(), min_size=1, max_size=12), st.sampled_from([START + 86400, None]))
@example(
    [Finding("beacon", "10.0.0.5", None, [], None, None, -0.0, False, None, None, 0, float("nan"), -0.0)],
    None,
)
def test_columns_give_the_per_finding_output(found: list[Finding], last_ts: float | None) -> None:
    check_every_format(found, report_of(found, last_ts))


def test_sample_reports_every_format_and_whole_writes() -> None:
    for hostile in (False, True):
        report = sample_report(hostile=hostile)
        check_every_format(report.findings, report)
        for fmt in ("jsonl", "ecs", "eve"):
            stream = io.StringIO()
            write_report(report, fmt, stream)
            reference = "".join(
                dumps(record) + "\n" for record in formatter_for(fmt)(io.StringIO()).records(report)
            )
            assert stream.getvalue() == reference


def test_table_write_pads_like_the_plain_join() -> None:
    report = sample_report(hostile=True)
    many = Report(summary=report.summary, findings=report.findings * 3, threshold=report.threshold)
    for color in (False, True):
        stream = io.StringIO()
        TableFormatter(stream, color=color).write(many)
        text = stream.getvalue()
        formatter = TableFormatter(io.StringIO(), color=color)
        formatter.color_on = color
        plain = io.StringIO()
        formatter.stream = plain
        for line in formatter.header_lines(many):
            plain.write(line + "\n")
        plain.write("\n")
        from netdetect.output.table import COLUMNS, _pad
        from netdetect.output.text import display_width

        cells = [row(rank, f) for rank, f in enumerate(many.findings, start=1)]
        titles = [c.title for c in COLUMNS]
        widths = [max(display_width(c) for c in column) for column in zip(titles, *cells, strict=True)]
        header = "  ".join(_pad(t, w, c.right) for t, w, c in zip(titles, widths, COLUMNS, strict=True))
        plain.write(formatter.paint(header.rstrip(), "header") + "\n")
        for cell_row, f in zip(cells, many.findings, strict=True):
            line = "  ".join(_pad(t, w, c.right) for t, w, c in zip(cell_row, widths, COLUMNS, strict=True))
            plain.write(formatter.paint(line.rstrip(), verdict(f)) + "\n")
        assert text == plain.getvalue()


def test_chunks_make_the_same_stream() -> None:
    from netdetect.output import base

    report = sample_report(hostile=True)
    many = Report(summary=report.summary, findings=report.findings * 7, threshold=report.threshold)
    whole = {}
    for fmt in ("jsonl", "csv", "ecs", "eve"):
        stream = io.StringIO()
        write_report(many, fmt, stream)
        whole[fmt] = stream.getvalue()
    saved = base.CHUNK
    try:
        base.CHUNK = 3
        import netdetect.output.csvfmt as csvfmt
        import netdetect.output.ecs as ecs
        import netdetect.output.eve as eve
        import netdetect.output.jsonl as jsonl

        originals = {m: m.chunks for m in (csvfmt, ecs, eve, jsonl)}
        for m in originals:
            m.chunks = lambda items, size=3: base.chunks(items, size)  # type: ignore[attr-defined]
        for fmt in whole:
            stream = io.StringIO()
            write_report(many, fmt, stream)
            assert stream.getvalue() == whole[fmt], fmt
    finally:
        base.CHUNK = saved
        for m, original in originals.items():
            m.chunks = original  # type: ignore[attr-defined]


def test_why_and_verdicts_on_a_grid_of_cut_points() -> None:
    """Every branch of `why`, `verdict` and `severity` without intel, at and around its cut points."""
    import itertools

    grid = itertools.product(
        [None, 5.0, 9.96, 10.0, 100.0, float("nan")],  # period
        [None, 0.1],  # jitter
        [None, 0.0, 0.0499999, 0.05, 0.055, 0.2],  # missed
        [None, "", "fleet (default.txt:3)"],  # allowlisted
        [("beacon", 3), ("intel", 0), ("intel", 2)],  # kind, connections
        [None, -0.0, 0.0, 0.4, 2.0, float("inf")],  # score
        [False, True],  # beacon
    )
    found = [
        Finding(
            kind,
            "10.0.0.5",
            None,
            [],
            None,
            None,
            score,
            beacon,
            period,
            jitter,
            n,
            START,
            START + 60,
            missed_share=missed,
            allowlisted=allowed,
        )
        for period, jitter, missed, allowed, (kind, n), score, beacon in grid
    ]
    columns = RecordColumns(found)
    from netdetect.output.records import severity, why

    assert columns.why == [why(f) for f in found]
    assert columns.verdict == [verdict(f) for f in found]
    assert columns.severity == [severity(f) for f in found]
    assert rows_of(found)[0] == [row(rank, f) for rank, f in enumerate(found, start=1)]
