"""Options and steps shared by the capture-reading commands."""

from __future__ import annotations

import contextlib
import os
import re
import sys
from collections.abc import Callable

import click

from netdetect.errors import UsageError

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3


def capture_args(f: Callable) -> Callable:
    return click.argument("captures", nargs=-1, required=True, metavar="CAPTURE...")(f)


def resolve_inputs(captures: tuple[str, ...]) -> list[list[str]]:
    """Files, directories and globs -> capture sets. Files whose names differ only in their digits
    (tcpdump -C/-G and dumpcap ring buffers) are one stream; other captures are read separately and
    their tables merged, so `--jobs N` gives the same result as one core."""
    from netdetect.capture.inputs import expand_inputs

    if "-" in captures:
        if len(captures) > 1:
            raise UsageError("'-' (stdin) cannot be combined with other captures")
        return [["-"]]
    sets: dict[tuple[str, str], list[str]] = {}
    for path in expand_inputs(list(captures)):
        stem = (os.path.dirname(os.path.abspath(path)), re.sub(r"\d+", "", os.path.basename(path)))
        sets.setdefault(stem, []).append(path)
    return list(sets.values())


def extract(captures: tuple[str, ...], jobs: int, quiet: bool, engine: str = "native"):
    from netdetect.engines import get_engine
    from netdetect.output.progress import Progress

    eng = get_engine(engine)  # fails here, before any reading, if tshark or pyshark is missing
    sets = resolve_inputs(captures)
    total = _total_size(sets)
    progress = Progress(
        total, enabled=not quiet and sys.stderr.isatty() and total > 0 and jobs == 1 and len(sets) == 1
    )
    try:
        return eng.extract_parallel(sets, jobs, progress.update)
    finally:
        progress.close()


def engine_option(f: Callable) -> Callable:
    from netdetect.engines import ENGINES

    return click.option(
        "--engine",
        type=click.Choice(sorted(ENGINES)),
        default="native",
        show_default=True,
        help="Where DNS/TLS/HTTP events come from: netdetect's decoders, or tshark "
        "(pip install 'netdetect[tshark]' and tshark itself).",
    )(f)


def _total_size(sets: list[list[str]]) -> int:
    total = 0
    for s in sets:
        for p in s:
            with contextlib.suppress(OSError):
                total += os.path.getsize(p) if p != "-" else 0
    return total


def jobs_option(f: Callable) -> Callable:
    return click.option(
        "--jobs",
        "-j",
        type=click.IntRange(1, 256),
        default=1,
        show_default=True,
        help="Capture files read in parallel (one process each).",
    )(f)


def quiet_option(f: Callable) -> Callable:
    return click.option("--quiet", "-q", is_flag=True, help="No progress bar.")(f)
