"""``python -m openai_agents_session`` runs the CLI."""

from .cli import main

main()
