"""`netdetect allowlist apply`: re-apply allowlists to saved findings; a changed allowlist needs no rescan."""

from __future__ import annotations

import json
import sys

import click

from netdetect.errors import UsageError


@click.group("allowlist")
def allowlist_group() -> None:
    """Allowlists of benign periodic services (names, CIDRs, client -> server pairs)."""


@allowlist_group.command("apply")
@click.argument("findings", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--allowlist", "paths", multiple=True, type=click.Path(), help="Allowlist file (repeatable).")
@click.option("--no-default-allowlist", is_flag=True, help="Do not apply the bundled allowlist.")
@click.option("--strict", is_flag=True, help="Fail on a bad allowlist line instead of skipping it.")
@click.option("--show-allowlisted", is_flag=True, help="Keep suppressed findings, marked in 'allowlisted'.")
def apply_cmd(
    findings: str, paths: tuple[str, ...], no_default_allowlist: bool, strict: bool, show_allowlisted: bool
) -> None:
    """Read findings written by `scan --format jsonl` (ideally with --show-allowlisted --min-score 0) and
    write them again with the allowlists applied. Intel matches are never suppressed."""
    from netdetect.allowlist import Allowlist

    allow = Allowlist.load(list(paths), include_default=not no_default_allowlist, strict=strict)
    for problem in allow.problems:
        click.echo(f"warning: {problem}", err=True)
    stream = sys.stdin if findings == "-" else open(findings, encoding="utf-8")  # noqa: SIM115
    kept = suppressed = 0
    with stream:
        for lineno, line in enumerate(stream, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
                threat = any(not h.get("benign") and not h.get("expired") for h in rec.get("intel") or [])
                src, dsts, name = rec["src_ip"], rec.get("dst_ips") or [], rec.get("server_name")
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                raise UsageError(f"not a netdetect finding: {exc}", path=findings, line=lineno) from None
            entry = None if threat else allow.match(src, dsts, name)
            rec["allowlisted"] = entry
            if entry:
                suppressed += 1
                if not show_allowlisted:
                    continue
            kept += 1
            sys.stdout.write(json.dumps(rec, ensure_ascii=True, separators=(",", ":")) + "\n")
    click.echo(f"netdetect: {kept} findings kept, {suppressed} allowlisted", err=True)
