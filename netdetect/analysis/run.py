"""analyze(): context -> intel evidence -> detectors -> findings -> ranking -> Report."""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from netdetect.analysis.context import AnalysisContext, AnalysisOptions, build_context
from netdetect.arrays import distinct_addresses
from netdetect.detectors.base import DETECTORS
from netdetect.findings.build import (
    GroupFacts,
    _group_findings,
    _merge_hits,
    _orphan_finding,
    subject_findings,
)
from netdetect.findings.intel import attach_hits, lookup_times, server_pairs
from netdetect.findings.prevalence import destination_prevalence
from netdetect.findings.rank import has_threat, rank_key
from netdetect.findings.verdicts import merge_group_detections
from netdetect.gcpause import collections_paused
from netdetect.model import Finding, IntelHit, Report, Summary
from netdetect.tables.extraction import Extraction

PLOT_DETAIL_TOP = 50  # findings that carry per-connection times for plots and `show`


def analyze(ex: Extraction, intel=None, allowlist=None, options: AnalysisOptions | None = None) -> Report:
    # Findings are many small objects and no cycles: with tens of thousands alive (`--min-score 0`),
    # each cyclic collection walks them all, so none runs until the report is made.
    with collections_paused():
        return _analyze(ex, intel, allowlist, options or AnalysisOptions())


def run_detectors(ctx: AnalysisContext) -> None:
    """Every selected detector, in registry order, into ctx.results."""
    for name in ctx.options.detectors or DETECTORS.names():
        ctx.results[name] = DETECTORS.get(name)().run(ctx)


def _analyze(ex: Extraction, intel, allowlist, opts: AnalysisOptions) -> Report:
    ctx = build_context(ex, opts)
    conns, groups, chains = ctx.conns, ctx.groups, ctx.chains

    hits: list[IntelHit] = []
    if intel is not None:
        from netdetect.intel.match import match_tables

        hits = match_tables(
            intel, ex.events, server_pairs(ex.conns, intel), include_benign=opts.include_benign_intel
        )
    # Context-only indicators (a legitimate service the actor abused, e.g. the GitHub icon stage) never
    # make a finding; they are shown beside the same client's threat findings.
    context: dict[str, list[IntelHit]] = defaultdict(list)
    for h in hits:
        if h.benign:
            context[h.client].append(h)
    hits = [h for h in hits if not h.benign]
    ctx.group_hits, orphan = attach_hits(hits, groups, conns, chains)

    run_detectors(ctx)
    min_score = ctx.min_score
    verdicts = merge_group_detections(list(ctx.results.values()), opts.threshold)
    reported = np.flatnonzero(np.isin(verdicts.gids, list(ctx.group_hits)) | ~(verdicts.score < min_score))
    facts = GroupFacts(groups, conns, verdicts, verdicts.gids, reported)
    gids = verdicts.gids[reported].tolist()
    made = _group_findings(gids, groups, facts, ctx.group_hits, chains)
    _add_detector_evidence(made, verdicts, reported, ctx)

    findings: list[Finding] = []
    detail: dict[int, int] = {}  # id(finding) -> its entry in facts, for the per-connection detail
    suppressed = 0
    by_name = allowlist.match_names([f.server_name for f in made]) if allowlist is not None else None
    for i, (g, f, score) in enumerate(zip(gids, made, facts.score, strict=True)):
        g_hits = ctx.group_hits.get(g)
        threat = bool(g_hits) and has_threat(f)
        if allowlist is not None and not threat:
            entry = by_name[i] if by_name is not None else allowlist.match(f.src_ip, f.dst_ips, f.server_name)
            if entry:
                f.allowlisted = str(entry)
                suppressed += 1
                if not opts.show_allowlisted:
                    continue
        if not g_hits or threat or score >= min_score:
            findings.append(f)
            detail[id(f)] = i
    lookups = lookup_times(ex, orphan) if orphan else {}
    orphans = [
        _orphan_finding(
            client, hs, np.array(sorted(lookups.get((client, name), []))), ctx.coverage, opts.threshold
        )
        for (client, name), hs in orphan.items()
    ]
    findings += orphans
    extra, extra_suppressed = subject_findings(ctx, findings, min_score, allowlist, opts.show_allowlisted)
    findings += extra
    suppressed += extra_suppressed

    if context:
        for f in findings:
            if context.get(f.src_ip) and has_threat(f):
                f.intel += _merge_hits(context[f.src_ip])
    destination_prevalence(ctx, findings)
    findings.sort(key=rank_key)
    if opts.top:
        findings = findings[: opts.top]
    for f in findings[:PLOT_DETAIL_TOP]:  # per-connection detail only where plots will use it
        at = detail.get(id(f))  # `made` keeps every group finding alive, so ids are not reused
        if at is not None:
            span = facts.span(at)
            f.times, f.sizes = facts.times[span], facts.sizes[span]
    for f in findings[PLOT_DETAIL_TOP:]:
        f.times = None
        f.sizes = None

    summary = Summary(
        captures=list(ex.captures),
        packets=ex.packets,
        bytes=ex.bytes,
        first_ts=ex.first_ts,
        last_ts=ex.last_ts,
        hosts=len(distinct_addresses(ex.conns["client"])) if len(ex.conns) else 0,
        connections=len(ex.conns),
        groups_scored=len(groups),
        dns_events=len(ex.dns),
        tls_events=len(ex.tls),
        http_events=len(ex.http),
        decode_errors=dict(ex.decode_errors),
        allowlisted=suppressed,
        intel_indicators=len(intel) if intel is not None else 0,
        intel_packs=[p.name for p in getattr(intel, "packs", [])] if intel is not None else [],
        warnings=list(ex.warnings)
        + [
            f"{name}: {count:,} {what.replace('_', ' ')} left out (bounds: see docs/detectors.md)"
            for name, d in ctx.results.items()
            for what, count in d.skipped.items()
            if count
        ]
        + [str(p) for p in getattr(intel, "problems", [])][:20]
        + [str(p) for p in getattr(allowlist, "problems", [])][:20],
        detections={name: len(d) for name, d in ctx.results.items()},
        detector_skipped={
            f"{name}.{what}": count
            for name, d in ctx.results.items()
            for what, count in d.skipped.items()
            if count
        },
    )
    return Report(summary=summary, findings=findings, threshold=opts.threshold)


def _add_detector_evidence(made: list[Finding], verdicts, reported: np.ndarray, ctx: AnalysisContext) -> None:
    """Each group finding's main detector, kind and every detector's evidence; rotating C2 rows add the
    addresses of all their member groups."""
    evidence = verdicts.evidence(reported)
    main = verdicts.main[reported].tolist()
    for f, ev, k in zip(made, evidence, main, strict=True):
        det = verdicts.detections[k]
        f.detector = det.detector
        f.evidence = ev
        if f.kind != "intel":
            f.kind = det.kind
    for k, det in enumerate(verdicts.detections):
        if det.members is None:
            continue
        entry = {int(g): i for i, g in enumerate(verdicts.gids[reported].tolist())}
        for row, g in enumerate(det.groups.tolist()):
            i = entry.get(g)
            if i is not None and main[i] == k:
                extra = ctx.group_servers(det.members[row])
                made[i].dst_ips = list(dict.fromkeys([*made[i].dst_ips, *extra]))
