"""`netdetect intel list | check | validate`: inspect packs, ask about a value, vet a feed before use."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from netdetect.errors import NetdetectError
from netdetect.intel.indicator import BadValue, format_time, parse_time
from netdetect.intel.loaders import LOADER_MODULES, load_path
from netdetect.intel.store import IntelStore, bundled_signatures_dir, discover

EXIT_FOUND, EXIT_NOT_FOUND, EXIT_BAD_INPUT = 0, 1, 2

intel_option = click.option(
    "--intel",
    "intel_paths",
    multiple=True,
    type=click.Path(path_type=Path),
    help="Extra feed file, pack or feed directory (repeatable); added to the bundled packs.",
)
no_bundled_option = click.option("--no-bundled", is_flag=True, help="Do not load the bundled packs.")


def _fail(exc: NetdetectError) -> None:
    click.echo(f"error: {exc}", err=True)
    sys.exit(exc.exit_code)


def _load_store(intel_paths: tuple[Path, ...], no_bundled: bool, include_expired: bool = True) -> IntelStore:
    paths: list[Path] = ([] if no_bundled else [bundled_signatures_dir()]) + list(intel_paths)
    try:
        return IntelStore.load(paths, include_expired=include_expired)
    except NetdetectError as exc:
        _fail(exc)
        raise  # unreachable: _fail exits


@click.group("intel")
def intel_group() -> None:
    """Threat-intel packs and feeds: list them, check a value, validate a file."""


@intel_group.command("list")
@intel_option
@no_bundled_option
@click.option("--json", "as_json", is_flag=True, help="One JSON object per pack.")
def list_cmd(intel_paths: tuple[Path, ...], no_bundled: bool, as_json: bool) -> None:
    """Loaded packs: indicator counts by type, sources and dates."""
    store = _load_store(intel_paths, no_bundled)
    for pack in store.packs:
        info = store.describe_pack(pack)
        if as_json:
            click.echo(json.dumps(info, sort_keys=True))
            continue
        click.echo(f"{info['name']}  ({info['format']}, {info['path']})")
        if info["description"]:
            click.echo(f"  {info['description']}")
        by_type = ", ".join(f"{k} {v}" for k, v in info["by_type"].items())  # type: ignore[attr-defined]
        click.echo(
            f"  indicators: {info['indicators']} ({by_type}); benign/context: {info['benign']}; "
            f"expired now: {info['expired']}"
        )
        if info["behaviours"]:
            click.echo(f"  behavioural signatures (data, not matched): {info['behaviours']}")
        if info["created"] or info["updated"]:
            click.echo(f"  dates: {info['created'] or '?'} .. {info['updated'] or '?'}")
        sources = info["sources"]
        if sources:
            click.echo(f"  sources ({len(sources)}):")  # type: ignore[arg-type]
            for source in sources[:10]:  # type: ignore[index]
                click.echo(f"    - {source}")
            if len(sources) > 10:  # type: ignore[arg-type]
                click.echo(f"    ... and {len(sources) - 10} more (--json for all)")  # type: ignore[arg-type]
    if not as_json:
        click.echo(f"total: {len(store)} indicators in {len(store.packs)} pack(s)")
        if store.problems:
            click.echo(
                f"{len(store.problems)} bad line(s) skipped (run `netdetect intel validate`)", err=True
            )


@intel_group.command("check")
@click.argument("values", nargs=-1, required=True)
@intel_option
@no_bundled_option
@click.option("--at", "at_text", help="Judge expiry at this date/time (ISO 8601) instead of now.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per match.")
def check_cmd(
    values: tuple[str, ...],
    intel_paths: tuple[Path, ...],
    no_bundled: bool,
    at_text: str | None,
    as_json: bool,
) -> None:
    """Does a name, address, URL or fingerprint match? Which indicator, and why.

    Defanged values are accepted. Exit status: 0 if any value matches a non-benign indicator,
    1 if none does (like grep), 2 on bad input."""
    try:
        at = parse_time(at_text) if at_text else None
    except BadValue as exc:
        raise click.BadParameter(str(exc), param_hint="--at") from exc
    store = _load_store(intel_paths, no_bundled)
    any_hit = False
    for value in values:
        try:
            matches = store.check(value, at)
        except BadValue as exc:
            click.echo(f"{value}: cannot check: {exc}", err=True)
            continue
        if not matches and not as_json:
            click.echo(f"{value}: no match")
        for m in matches:
            ind = m.indicator
            live = not ind.benign and not m.expired and ind.matchable
            any_hit = any_hit or live
            if as_json:
                click.echo(
                    json.dumps(
                        {
                            "value": value,
                            "indicator": ind.value,
                            "type": ind.type,
                            "pack": ind.pack,
                            "confidence": ind.confidence,
                            "reason": m.reason,
                            "benign": ind.benign,
                            "expired": m.expired,
                            "valid_until": format_time(ind.valid_until),
                            "stage": ind.stage,
                            "first_reported": ind.first_reported,
                            "sources": list(ind.sources),
                            "origin": ind.origin,
                        },
                        sort_keys=True,
                    )
                )
                continue
            flags = [
                f
                for f, on in (
                    ("BENIGN context only", ind.benign),
                    ("EXPIRED", m.expired),
                    ("not matched on the wire", not ind.matchable),
                )
                if on
            ]
            click.echo(f"{value}: MATCH {ind.describe()}" + (f" [{'; '.join(flags)}]" if flags else ""))
            click.echo(f"  why: {m.reason}")
            if ind.first_reported:
                click.echo(f"  first reported: {ind.first_reported}")
            for source in ind.sources[:3]:
                click.echo(f"  source: {source}")
            if ind.origin:
                click.echo(f"  from: {ind.origin}")
    sys.exit(EXIT_FOUND if any_hit else EXIT_NOT_FOUND)


@intel_group.command("validate")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(sorted(LOADER_MODULES)), help="Skip format sniffing.")
@click.option("--strict", is_flag=True, help="Stop at the first bad line; unsupported entries also fail.")
@click.option("--include-non-ids", is_flag=True, help="MISP: also load attributes with to_ids false.")
def validate_cmd(files: tuple[Path, ...], fmt: str | None, strict: bool, include_non_ids: bool) -> None:
    """Parse feeds and report every bad line as file:line. Exit 1 if any, 2 if a file is unreadable."""
    failed = False
    for file in files:
        try:
            targets = discover(file)
            for target in targets:
                result = load_path(target, format=fmt, strict=strict, include_non_ids=include_non_ids)
                for problem in result.problems:
                    click.echo(problem)
                for notice in result.notices:
                    click.echo(f"{notice}" if strict else f"warning: {notice}")
                counts = ", ".join(f"{k} {v}" for k, v in result.pack.counts.items()) or "none"
                extra = "".join(f", {n} skipped ({why})" for why, n in result.skipped.items())
                unsupported = sum(result.unsupported.values())
                click.echo(
                    f"{target}: {result.pack.format}: {len(result.indicators)} indicators ({counts}), "
                    f"{len(result.problems)} bad line(s), {unsupported} unsupported{extra}"
                )
                failed = failed or bool(result.problems) or (strict and unsupported > 0)
        except NetdetectError as exc:
            click.echo(str(exc))
            if exc.line is None:
                sys.exit(EXIT_BAD_INPUT)  # unreadable, or not a feed at all
            failed = True
    sys.exit(EXIT_NOT_FOUND if failed else 0)
