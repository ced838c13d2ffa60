"""`netdetect events`: every extracted event as JSON lines, a fast alternative to tshark field extraction."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from datetime import UTC, datetime

import click

from netdetect.addr import to_text
from netdetect.cli.common import capture_args, engine_option, extract, jobs_option, quiet_option

EVENT_TYPES = ("dns", "tls", "quic", "http", "conn")


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def event_records(ex, types: set[str]):
    """Yield (ts, record) for every event; conn rows come from the connection table."""
    if "dns" in types:
        for e in ex.dns:
            d = asdict(e)
            yield e.ts, {"type": "dns", **d}
    for e in ex.tls:
        kind = "quic" if e.transport == "quic" else "tls"
        if kind in types:
            yield e.ts, {"type": kind, **asdict(e)}
    if "http" in types:
        for e in ex.http:
            yield e.ts, {"type": "http", **asdict(e)}
    if "conn" in types:
        c = ex.conns
        for i in range(len(c)):
            r = c[i]
            yield (
                float(r["ts"]),
                {
                    "type": "conn",
                    "ts": float(r["ts"]),
                    "duration": float(r["end_ts"] - r["ts"]),
                    "client": to_text(bytes(r["client"])),
                    "server": to_text(bytes(r["server"])),
                    "client_port": int(r["client_port"]),
                    "server_port": int(r["server_port"]),
                    "transport": {6: "tcp", 17: "udp"}.get(int(r["proto"]), str(int(r["proto"]))),
                    "bytes_out": int(r["bytes_out"]),
                    "bytes_in": int(r["bytes_in"]),
                    "packets_out": int(r["packets_out"]),
                    "packets_in": int(r["packets_in"]),
                },
            )


@click.command("events")
@capture_args
@click.option("--format", "-f", "fmt", type=click.Choice(["jsonl"]), default="jsonl", show_default=True)
@click.option(
    "--type",
    "-t",
    "types",
    multiple=True,
    type=click.Choice(EVENT_TYPES),
    help="Only these event types (repeatable). Default: all.",
)
@engine_option
@jobs_option
@quiet_option
def events_cmd(
    captures: tuple[str, ...], fmt: str, types: tuple[str, ...], jobs: int, quiet: bool, engine: str
) -> None:
    """Print every extracted event (dns, tls, quic, http, conn) as one JSON object per line, in time order."""
    ex = extract(captures, jobs, quiet, engine)
    wanted = set(types or EVENT_TYPES)
    out = sys.stdout
    for ts, rec in sorted(event_records(ex, wanted), key=lambda x: x[0]):
        rec["ts"] = iso(ts)
        out.write(json.dumps(rec, ensure_ascii=False, separators=(",", ":")) + "\n")
    if ex.decode_errors:
        click.echo(
            "netdetect: not decoded: " + ", ".join(f"{k}={v}" for k, v in sorted(ex.decode_errors.items())),
            err=True,
        )
