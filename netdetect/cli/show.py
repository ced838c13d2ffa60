"""`netdetect show`: one group's connections as a timeline, for the analyst who asks why."""

from __future__ import annotations

import ipaddress

import click
import numpy as np

from netdetect.addr import from_text, to_text
from netdetect.cli.common import capture_args, engine_option, extract, jobs_option, quiet_option
from netdetect.errors import UsageError


def _ip(value: str, option: str) -> str:
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise UsageError(f"{option}: {value!r} is not an IP address") from None


@click.command("show")
@capture_args
@click.option("--src", required=True, help="Client address.")
@click.option("--dst", default=None, help="Server address.")
@click.option(
    "--name", default=None, help="Server name (SNI, HTTP Host or the DNS name the client resolved)."
)
@click.option("--local-time", is_flag=True, help="Local time instead of UTC.")
@engine_option
@jobs_option
@quiet_option
def show_cmd(
    captures: tuple[str, ...],
    src: str,
    dst: str | None,
    name: str | None,
    local_time: bool,
    jobs: int,
    quiet: bool,
    engine: str,
) -> None:
    """Print the connections from --src to --dst or --name with intervals, sizes, names and their score."""
    from netdetect.analysis import attribute_names
    from netdetect.output.text import human_time, safe_text
    from netdetect.scoring import score_groups

    client = _ip(src, "--src")
    dst = _ip(dst, "--dst") if dst is not None else None
    if (dst is None) == (name is None):
        raise UsageError("give exactly one of --dst and --name")
    ex = extract(captures, jobs, quiet, engine)
    name_id, names, _ = attribute_names(ex)
    c = ex.conns
    mask = c["client"] == np.bytes_(from_text(client))
    if dst is not None:
        mask &= c["server"] == np.bytes_(from_text(dst))
    elif name is not None:
        wanted = name.lower().rstrip(".")
        ids = [i for i, n in enumerate(names) if n == wanted]
        mask &= np.isin(name_id, ids)
    rows = np.flatnonzero(mask)
    if not len(rows):
        click.echo(f"no connections from {client} to {safe_text(dst or name)}")
        return
    rows = rows[np.argsort(c["ts"][rows], kind="stable")]
    ts = c["ts"][rows]
    s = score_groups(
        np.zeros(len(rows), np.int64),
        ts,
        c["bytes_out"][rows],
        c["bytes_in"][rows],
        c["end_ts"][rows] - ts,
        1,
        window=(ex.first_ts, ex.last_ts),
    )
    period = float(s.period_s[0])
    click.echo(
        f"{client} -> {safe_text(dst or name)}: {len(rows)} connections, score {float(s.score[0]):.2f}"
        + (f", period {period:.1f}s, jitter {float(s.jitter[0]):.2f}" if np.isfinite(period) else "")
    )
    click.echo(
        f"{'time':<26} {'+interval':>10} {'server':<40} {'port':>5} {'proto':>5} {'bytes out':>10} "
        f"{'bytes in':>10} {'dur s':>8}  name"
    )
    prev = None
    for r, t in zip(rows, ts, strict=True):
        gap = "" if prev is None else f"{t - prev:.1f}"
        prev = t
        nm = names[name_id[r]] if name_id[r] >= 0 else "-"
        click.echo(
            f"{human_time(float(t), local=local_time):<26} {gap:>10} {to_text(bytes(c['server'][r])):<40} "
            f"{int(c['server_port'][r]):>5} {'tcp' if c['proto'][r] == 6 else 'udp':>5} "
            f"{int(c['bytes_out'][r]):>10} {int(c['bytes_in'][r]):>10} "
            f"{float(c['end_ts'][r] - t):>8.1f}  {safe_text(nm)}"
        )
