"""`openai-agents-session local` (to be built)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the `local` command to the root app."""
    del app
