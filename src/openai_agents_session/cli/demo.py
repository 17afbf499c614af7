"""`openai-agents-session demo` (to be built)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the `demo` command to the root app."""
    del app
