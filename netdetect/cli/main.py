"""`netdetect` entry point: the command registry and the one place errors become messages and exit codes."""

from __future__ import annotations

import sys
from typing import Any

import click

from netdetect import __version__
from netdetect.cli.common import EXIT_INTERNAL, EXIT_OK
from netdetect.errors import NetdetectError


class NetdetectGroup(click.Group):
    """Turns project errors into one line on stderr and an exit code; tracebacks only with --debug."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except NetdetectError as exc:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            click.echo(f"netdetect: error: {exc}", err=True)
            ctx.exit(exc.exit_code)
        except BrokenPipeError:
            sys.stderr.close()  # the reader went away (| head): not an error
            ctx.exit(EXIT_OK)
        except KeyboardInterrupt:
            click.echo("netdetect: interrupted", err=True)
            ctx.exit(130)
        except Exception as exc:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            click.echo(
                f"netdetect: internal error: {type(exc).__name__}: {exc} (run with --debug for the "
                "traceback and please report it)",
                err=True,
            )
            ctx.exit(EXIT_INTERNAL)


@click.group(
    cls=NetdetectGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110}
)
@click.version_option(__version__, prog_name="netdetect")
@click.option("--debug", is_flag=True, help="Show full tracebacks on errors.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Find beaconing hosts and known threat-actor infrastructure in packet captures.

    \b
    Exit status: 0 success, 1 findings at or above the threshold (with --fail-on-findings),
    2 bad usage or unreadable input, 3 internal error.
    """
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug


def _register() -> None:
    from netdetect.cli.allowlist_cmd import allowlist_group
    from netdetect.cli.events import events_cmd
    from netdetect.cli.scan import scan_cmd
    from netdetect.cli.show import show_cmd

    for cmd in (scan_cmd, events_cmd, show_cmd, allowlist_group):
        cli.add_command(cmd)
    try:
        from netdetect.cli.intel_cmd import intel_group
    except ImportError:  # only while the intel commands are being built
        return
    cli.add_command(intel_group)


_register()


def main() -> None:
    cli(prog_name="netdetect")


if __name__ == "__main__":
    main()
