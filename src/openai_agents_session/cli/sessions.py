"""`openai-agents-session sessions` verbs (to be built)."""

from __future__ import annotations

import typer

app = typer.Typer(help="sessions commands.", no_args_is_help=True)
