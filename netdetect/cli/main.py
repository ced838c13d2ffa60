"""`netdetect` entry point: the command registry and the one place errors become messages and exit codes."""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

from netdetect import __version__
from netdetect.cli.common import EXIT_INTERNAL, EXIT_OK
from netdetect.errors import NetdetectError

# Subcommand name -> "module:attribute". A command's module (and what it imports) is loaded only when
# that command runs or help lists it: `netdetect scan` does not pay for `events`, `show` or `intel`.
SUBCOMMANDS = {
    "allowlist": "netdetect.cli.allowlist_cmd:allowlist_group",
    "detectors": "netdetect.cli.detectors_cmd:detectors_cmd",
    "events": "netdetect.cli.events:events_cmd",
    "intel": "netdetect.cli.intel_cmd:intel_group",
    "scan": "netdetect.cli.scan:scan_cmd",
    "show": "netdetect.cli.show:show_cmd",
}


class NetdetectGroup(click.Group):
    """Turns project errors into one line on stderr and an exit code; tracebacks only with --debug.
    Loads its subcommands lazily (click's documented LazyGroup pattern)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *SUBCOMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in SUBCOMMANDS and cmd_name not in self.commands:
            module, _, attribute = SUBCOMMANDS[cmd_name].partition(":")
            self.add_command(getattr(importlib.import_module(module), attribute), cmd_name)
        return super().get_command(ctx, cmd_name)

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


def main() -> None:
    cli(prog_name="netdetect")


if __name__ == "__main__":
    main()
