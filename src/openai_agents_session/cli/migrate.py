"""`openai-agents-session migrate` verbs (to be built)."""

from __future__ import annotations

import typer

app = typer.Typer(help="migrate commands.", no_args_is_help=True)
