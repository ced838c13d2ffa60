"""The findings of many groups built in column passes are those of the one-group-at-a-time statement:
the interval histograms against `interval_histogram`, the DNS names of many groups against the
single lookups, the allowlist by name against `Allowlist.match`, and whole reports of the demo
capture (every group, every grouping) against analysis with the per-group finding."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import netdetect.analysis as analysis
import netdetect.analysis.names as names_module
import netdetect.analysis.run as run
from netdetect.addr import to_text
from netdetect.allowlist import Allowlist
from netdetect.analysis import (
    AnalysisOptions,
    analyze,
    attribute_names,
)
from netdetect.findings import build
from netdetect.intel import IntelStore
from netdetect.model import Finding
from netdetect.pipeline import extract_files
from netdetect.scoring import interval_histogram, interval_histograms

DEMO = Path(__file__).resolve().parents[1] / "pcaps" / "demo-office.pcap"


@pytest.fixture(scope="module")
def demo():
    return extract_files([str(DEMO)])


gaps = st.one_of(
    st.floats(0.0, 2.0), st.floats(0.0, 5000.0), st.sampled_from([0.0, 1.0, 1.0000001, 3600.0, np.nan])
)
groups = st.lists(st.lists(gaps, min_size=3, max_size=40), min_size=1, max_size=12)
periods = st.one_of(st.none(), st.floats(-10.0, 4000.0), st.sampled_from([0.0, 1e-12, 90.0, np.inf, np.nan]))


@settings(max_examples=300, deadline=None)
@given(groups, st.data())
def test_interval_histograms_are_interval_histogram(group_gaps: list[list[float]], data) -> None:
    times, starts, ends, wanted = [], [], [], []
    for g, steps in enumerate(group_gaps):
        t = 1.68e9 + np.cumsum(np.nan_to_num(steps, nan=0.0))
        t[np.isnan(steps)] = np.nan  # unusable times, last in the group's order as lexsort puts them
        t = np.r_[t[np.isfinite(t)], t[~np.isfinite(t)]]
        starts.append(len(times))
        times.extend(t.tolist())
        ends.append(len(times))
        wanted.append(g)
    chosen = data.draw(st.lists(st.sampled_from(wanted), min_size=1, unique=True))
    period = [data.draw(periods) for _ in chosen]
    times_array = np.array(times)
    spans = [starts[g] for g in chosen], [ends[g] for g in chosen]
    counts, edges = interval_histograms(times_array, *spans, period)
    for i, g, p in zip(range(len(chosen)), chosen, period, strict=True):
        want_counts, want_edges = interval_histogram(times_array[starts[g] : ends[g]], p)
        assert counts[i] == want_counts
        assert edges[i] == want_edges


def test_chain_lookups_of_many_groups_are_the_single_lookups(demo) -> None:
    _, names, chains = attribute_names(demo)
    _, _, single = attribute_names(demo)
    clients = sorted({bytes(c) for c in demo.dns.rows["client"].tolist()} | {b"\x0a\x00\x00\x01"})
    queries = sorted(set(names) | {"not-asked.example", ""})
    keys = [(raw, to_text(raw), query) for raw in clients for query in queries]
    assert len(keys) > names_module.SPAN_INDEX_AFTER
    many = chains.get_many(keys)
    assert many == [single.get((client, query), ()) for _, client, query in keys]
    assert sum(bool(found) for found in many) > 10


def test_allowlist_by_name_is_match(tmp_path: Path) -> None:
    allow = Allowlist.load()
    names = [
        None,
        "",
        "ctldl.windowsupdate.com",
        "CTLDL.WindowsUpdate.com.",
        "x.windowsupdate.com",
        "windowsupdate.com",
        "evil-windowsupdate.com",
        "time.windows.com",
        "bücher.example",
        "a" * 300,
    ]
    assert allow.match_names(names) == [allow.match("10.0.0.5", ["192.0.2.1"], name) for name in names]
    paired = tmp_path / "pairs.txt"
    paired.write_text("10.0.0.0/8 -> *.example.com\n192.0.2.0/24\n", encoding="utf-8")
    assert Allowlist.load([paired]).match_names(names) is None  # these need the whole group


def _per_group(gids, groups, facts, group_hits, chains) -> list[Finding]:
    """The findings as `_group_finding` makes them one at a time (with their detail)."""
    return [
        build._group_finding(g, i, groups, facts, group_hits.get(g, []), chains)
        for i, g in enumerate(gids)
    ]


def _fields(f: Finding) -> tuple:
    plain = tuple(getattr(f, name) for name in f.__slots__ if name not in ("times", "sizes"))
    detail = tuple(None if v is None else v.tolist() for v in (f.times, f.sizes))
    return plain + detail


@pytest.mark.parametrize("group_by", ["name", "addr", "port"])
@pytest.mark.parametrize("min_score", [0.0, None])
def test_reports_match_the_per_group_findings(
    demo, group_by: str, min_score: float | None, monkeypatch
) -> None:
    intel, allow = IntelStore.load(), Allowlist.load()
    opts = AnalysisOptions(min_score=min_score, group_by=group_by, show_allowlisted=True)
    fast = analyze(demo, intel, allow, opts)
    monkeypatch.setattr(run, "_group_findings", _per_group)
    slow = analyze(demo, intel, allow, opts)
    assert len(fast.findings) == len(slow.findings) > 0
    assert [_fields(f) for f in fast.findings] == [_fields(f) for f in slow.findings]
    assert fast.summary == slow.summary
    assert sum(f.times is not None for f in fast.findings) == min(
        analysis.PLOT_DETAIL_TOP, len(fast.findings)
    )


@given(st.lists(st.tuples(st.integers(0, 4), st.integers(0, 3)), min_size=1, max_size=60))
def test_top_and_text_by_use_are_the_ordered_lists(pairs: list[tuple[int, int]]) -> None:
    pairs.sort(key=lambda p: p[0])  # rows come by group (then time: their order here)
    group = np.unique([g for g, _ in pairs], return_inverse=True)[1].ravel()
    ports = np.array([v for _, v in pairs], np.uint16)
    servers = np.array([bytes(10) + b"\xff\xff" + bytes([192, 0, 2, v]) for _, v in pairs], "S16")
    by_use = build._by_use_per_group(group, ports)
    assert build._top_by_use(group, ports) == [by_use[g][0] for g in sorted(by_use)]
    by_use = build._by_use_per_group(group, servers)
    assert build._texts_by_use(group, servers) == [[to_text(v) for v in by_use[g]] for g in sorted(by_use)]
