"""`netdetect detectors`: every detector, what it looks for and its settings."""

from __future__ import annotations

import click


@click.command("detectors")
def detectors_cmd() -> None:
    """List the detectors `scan` runs, in run order, with their settings (change one with
    `scan --set DETECTOR.KEY=VALUE`, run a few with `scan --detector NAME`)."""
    from netdetect.detectors.base import DETECTORS

    for name, cls in DETECTORS.all().items():
        click.echo(f"{name:<16} kind {cls.kind:<16} {cls.description}")
        for key, default in sorted(cls.settings.items()):
            click.echo(f"{'':<16}   {name}.{key} = {default:g}")
