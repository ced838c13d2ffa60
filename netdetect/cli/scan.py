"""`netdetect scan`: captures -> ranked findings."""

from __future__ import annotations

import sys

import click

from netdetect.cli.common import (
    EXIT_FINDINGS,
    capture_args,
    engine_option,
    extract,
    jobs_option,
    quiet_option,
)
from netdetect.gcpause import collections_paused

FORMATS = ("table", "jsonl", "csv", "ecs", "eve")


@click.command("scan")
@capture_args
@click.option(
    "--format",
    "-f",
    "fmt",
    type=click.Choice(FORMATS),
    default="table",
    show_default=True,
    help="Output format (table on a terminal; jsonl/csv/ecs/eve for scripts and SIEMs).",
)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, writable=True, allow_dash=True),
    default="-",
    help="Write findings here instead of stdout.",
)
@click.option(
    "--html",
    "html_path",
    type=click.Path(dir_okay=False, writable=True),
    default=None,
    help="Also write a self-contained HTML report to this file.",
)
@click.option(
    "--intel",
    "intel_paths",
    multiple=True,
    type=click.Path(),
    help="Intel pack, feed file or directory to match (repeatable; adds to the bundled packs).",
)
@click.option("--no-default-intel", is_flag=True, help="Do not load the packs bundled in signatures/.")
@click.option(
    "--include-expired", is_flag=True, help="Let indicators past their valid_until match (and say so)."
)
@click.option("--strict", is_flag=True, help="Fail on a bad intel or allowlist line instead of skipping it.")
@click.option(
    "--allowlist",
    "allow_paths",
    multiple=True,
    type=click.Path(),
    help="Allowlist file of names, CIDRs and client->server pairs (repeatable).",
)
@click.option(
    "--no-default-allowlist", is_flag=True, help="Do not apply the bundled allowlist of benign services."
)
@click.option("--show-allowlisted", is_flag=True, help="Report allowlisted beacons too (marked).")
@click.option(
    "--threshold",
    type=click.FloatRange(0, 1),
    default=None,
    help="Score at which a group is called a beacon (default: the scorer's documented threshold).",
)
@click.option(
    "--min-score",
    type=click.FloatRange(0, 1),
    default=None,
    help="Report groups scoring at least this (0 = every scored group). Default: the threshold.",
)
@click.option(
    "--group-by",
    type=click.Choice(["name", "addr", "port"]),
    default="name",
    show_default=True,
    help="name: (client, server name) where known, else address; addr: (client, server address); "
    "port: also split by server port.",
)
@click.option(
    "--score-internal",
    is_flag=True,
    help="Also score connections to internal addresses (private, link-local, multicast); by default, "
    "as in RITA, only connections to outside addresses are scored. Intel matches all.",
)
@click.option(
    "--internal",
    "internal_nets",
    multiple=True,
    metavar="CIDR",
    help="Your internal address space (repeatable; replaces the private-range default).",
)
@click.option(
    "--detector",
    "detectors",
    multiple=True,
    metavar="NAME",
    help="Run only this detector (repeatable; default every one: see `netdetect detectors`).",
)
@click.option(
    "--set",
    "settings",
    multiple=True,
    metavar="DETECTOR.KEY=VALUE",
    help="A detector setting, e.g. strobe.per_day=100000 (repeatable; see `netdetect detectors`).",
)
@click.option("--top", type=click.IntRange(1), default=None, help="Only the N highest-ranked findings.")
@click.option(
    "--fail-on-findings",
    is_flag=True,
    help="Exit 1 when any finding reaches the threshold or matches intel (like grep).",
)
@click.option(
    "--color/--no-color", default=None, help="Colour the table (default: when stdout is a terminal)."
)
@click.option("--local-time", is_flag=True, help="Show local time in the table (machine formats stay UTC).")
@engine_option
@jobs_option
@quiet_option
@click.pass_context
def scan_cmd(
    ctx: click.Context,
    captures: tuple[str, ...],
    fmt: str,
    output: str,
    html_path: str | None,
    intel_paths: tuple[str, ...],
    no_default_intel: bool,
    include_expired: bool,
    strict: bool,
    allow_paths: tuple[str, ...],
    no_default_allowlist: bool,
    show_allowlisted: bool,
    threshold: float | None,
    min_score: float | None,
    group_by: str,
    score_internal: bool,
    internal_nets: tuple[str, ...],
    detectors: tuple[str, ...],
    settings: tuple[str, ...],
    top: int | None,
    fail_on_findings: bool,
    color: bool | None,
    local_time: bool,
    jobs: int,
    quiet: bool,
    engine: str,
) -> None:
    """Score periodic check-ins and match intel in CAPTURE... (pcap, pcapng, compressed, directories,
    globs, or - for stdin)."""
    from netdetect.analysis import AnalysisOptions, analyze
    from netdetect.detectors.base import parse_settings, selected_detectors
    from netdetect.output import write_report
    from netdetect.scoring import DEFAULT_THRESHOLD

    chosen = selected_detectors(detectors)  # bad names and settings fail before any capture is read
    detector_settings = parse_settings(settings)
    intel = load_intel(intel_paths, no_default_intel, include_expired, strict)
    allowlist = load_allowlist(allow_paths, no_default_allowlist, strict)
    ex = extract(captures, jobs, quiet, engine)
    opts = AnalysisOptions(
        threshold=DEFAULT_THRESHOLD if threshold is None else threshold,
        min_score=min_score,
        group_by=group_by,
        show_allowlisted=show_allowlisted,
        top=top,
        score_internal=score_internal,
        internal=_networks(internal_nets),
        detectors=chosen,
        settings=detector_settings,
    )
    # From the tables on, a scan makes many small acyclic objects (tens of thousands of findings with
    # --min-score 0): no cyclic collection until it is done, rather than one between each step.
    with collections_paused():
        report = analyze(ex, intel, allowlist, opts)
        if output == "-":
            write_report(report, fmt, sys.stdout, color=color, local_time=local_time)
        else:
            with open(output, "w", encoding="utf-8") as out:
                write_report(report, fmt, out, color=False, local_time=local_time)
        if html_path:
            from netdetect.output.html import write_html

            write_html(report, html_path)
    if fmt != "table" and not quiet:  # the table shows them in its header; machine formats on stderr
        from netdetect.output.text import safe_text

        for warning in report.summary.warnings:
            click.echo(f"warning: {safe_text(warning)}", err=True)
    if fail_on_findings and any(
        f.beacon or (f.kind == "intel") for f in report.findings if not f.allowlisted
    ):
        ctx.exit(EXIT_FINDINGS)


def load_intel(paths: tuple[str, ...], no_default: bool, include_expired: bool, strict: bool):
    from netdetect.intel import IntelStore

    sources = list(paths)
    if no_default and not sources:
        return None
    return IntelStore.load(
        None if not no_default and not sources else sources,
        include_default=not no_default,
        strict=strict,
        include_expired=include_expired,
    )


def load_allowlist(paths: tuple[str, ...], no_default: bool, strict: bool):
    from netdetect.allowlist import Allowlist

    if no_default and not paths:
        return None
    return Allowlist.load(list(paths), include_default=not no_default, strict=strict)


def _networks(values: tuple[str, ...]) -> tuple[str, ...]:
    import ipaddress

    from netdetect.analysis import INTERNAL_DEFAULT
    from netdetect.errors import UsageError

    for v in values:
        try:
            ipaddress.ip_network(v, strict=False)
        except ValueError:
            raise UsageError(f"--internal: {v!r} is not a CIDR") from None
    return tuple(values) or INTERNAL_DEFAULT
