"""The ``openai-agents-session`` command line: a thin shell over library functions.

Sub-commands live in their own modules (``migrate``, ``sessions``, ``local``,
``demo``); each verb calls one library function and formats its result.
"""

from __future__ import annotations

from .._extras import missing_extra

try:
    import rich  # noqa: F401
    import typer
except ImportError as exc:
    missing_extra("The openai-agents-session command line", "cli", exc)

from .. import __version__

app = typer.Typer(
    name="openai-agents-session",
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
        False, "--version", callback=_version, is_eager=True, help="Print the version."
    ),
) -> None:
    """DynamoDB session storage for the OpenAI Agents SDK."""


def _register() -> None:
    # Imported here so that each sub-command module stays independent of the others.
    from . import demo, local, migrate, sessions

    app.add_typer(migrate.app, name="migrate")
    app.add_typer(sessions.app, name="sessions")
    local.register(app)
    demo.register(app)


_register()


def main() -> None:
    """Entry point of the console script."""
    app()
