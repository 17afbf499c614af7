"""The ``openai-agents-session`` command line: a thin shell over library functions.

Sub-commands live in their own modules (``migrate``, ``sessions``, ``local``,
``demo``), each exposing a Typer ``app``. The root group imports a module only
when its command runs, so ``--help`` and ``--version`` start without pydantic,
boto or the Agents SDK.
"""

from __future__ import annotations

import importlib
import json
import sys
from typing import Any

from .._extras import missing_extra

try:
    import rich  # noqa: F401
    import typer
    from typer.core import TyperCommand, TyperGroup
except ImportError as exc:
    missing_extra("The openai-agents-session command line", "cli", exc)

from .. import __version__

# Click's UsageError and Abort, reached through Typer's public BadParameter and Abort.
_USAGE_ERROR: type[Exception] = next(
    c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError"
)
_ABORT = typer.Abort

# Command name -> (module, one-line help). The help is repeated here so that the
# root --help can list the commands without importing them; a test keeps the two
# texts equal.
COMMANDS: dict[str, tuple[str, str]] = {
    "local": ("local", "Run a local DynamoDB (moto's server) on 127.0.0.1 until Ctrl-C."),
    "demo": ("demo", "Run a short agent conversation (with a tool call) stored in DynamoDB."),
    "migrate": (
        "migrate",
        "Versioned migrations of the session table: up, plan, status, check, stamp, down, new.",
    ),
    "sessions": (
        "sessions",
        "Inspect stored sessions: list, show, export and import (JSON Lines), delete,"
        " and gc (remove orphaned history pages).",
    ),
}


class _LazyGroup(TyperGroup):
    """A root group that imports a sub-command's module only to run it."""

    _listing = False

    def list_commands(self, ctx: Any) -> list[str]:
        return [*super().list_commands(ctx), *COMMANDS]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name not in COMMANDS:
            return super().get_command(ctx, cmd_name)
        module_name, summary = COMMANDS[cmd_name]
        if self._listing:
            return TyperCommand(name=cmd_name, help=summary)
        module = importlib.import_module(f".{module_name}", __name__)
        command = typer.main.get_command(module.app)
        command.name = cmd_name
        return command

    def get_help_option(self, ctx: Any) -> Any:
        option = super().get_help_option(ctx)
        if option is not None and option.metavar is None:
            option.metavar = ""  # Typer shows flags as <bool>
        return option

    def main(self, args: Any = None, *positional: Any, **options: Any) -> Any:
        """Run; under ``--json`` a usage error is printed as JSON too (exit 2)."""
        argv = list(sys.argv[1:] if args is None else args)
        if "--json" not in argv or options.get("standalone_mode") is False:
            return super().main(argv, *positional, **options)
        options["standalone_mode"] = False
        try:
            code = super().main(argv, *positional, **options)
        except _USAGE_ERROR as exc:
            context: Any = getattr(exc, "ctx", None)
            usage = context.get_usage() if context is not None else None
            formatter = getattr(exc, "format_message", None)
            message = formatter() if formatter is not None else str(exc)
            body = {"error": message, "exit_code": 2, "usage": usage}
            sys.stdout.write(json.dumps(body, indent=2) + "\n")
            sys.exit(2)
        except _ABORT:
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)

    def format_help(self, ctx: Any, formatter: Any) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False


app = typer.Typer(
    name="openai-agents-session",
    cls=_LazyGroup,
    help="DynamoDB session storage for the OpenAI Agents SDK: migrations, sessions, local dev.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(__version__)
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False,
        "--version",
        callback=_version,
        is_eager=True,
        metavar="",
        help="Print the version.",
    ),
) -> None:
    """DynamoDB session storage for the OpenAI Agents SDK."""


def main() -> None:
    """Entry point of the console script."""
    app()
