"""The console script: the command line when the [cli] extra is installed, one line otherwise."""

from __future__ import annotations

import sys

__all__ = ["main"]


def main() -> None:
    """Run ``openai-agents-session``; without Typer and Rich, say how to install them."""
    try:
        from .cli import main as cli_main
    except ImportError as exc:
        if "[cli] extra" not in str(exc):
            raise
        sys.stderr.write(f"openai-agents-session: {exc}\n")
        raise SystemExit(1) from None
    cli_main()
