"""The root command group lists its commands without importing them."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest
import typer

from openai_agents_session.cli import COMMANDS, app

HEAVY = ("pydantic", "botocore", "aiobotocore", "agents", "moto", "openai_agents_session.store")


@pytest.mark.parametrize("argv", [["--help"], ["--version"], []])
def test_help_and_version_import_no_heavy_module(argv: list[str]) -> None:
    code = (
        "import sys\n"
        f"sys.argv = ['openai-agents-session', *{argv!r}]\n"
        "from openai_agents_session._console import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.stdout.strip().splitlines()[-1] == "[]", (result.stdout, result.stderr)
    if argv == ["--help"]:
        for name in COMMANDS:
            assert name in result.stdout


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_the_listed_summary_is_the_commands_own_first_line(name: str) -> None:
    module_name, summary = COMMANDS[name]
    module = importlib.import_module(f"openai_agents_session.cli.{module_name}")
    command = typer.main.get_command(module.app)
    own = (command.help or "").strip().split("\n\n")[0].replace("\n", " ")
    assert own == summary


def test_every_command_runs_through_the_root_group() -> None:
    from typer.testing import CliRunner

    for name in COMMANDS:
        result = CliRunner().invoke(app, [name, "--help"])
        assert result.exit_code == 0, result.output
        assert f"openai-agents-session {name}" in result.output


def test_every_public_name_resolves_lazily() -> None:
    import openai_agents_session as package

    assert set(package.__all__) == {*package._HOMES, "__version__"}
    for name in package.__all__:
        assert getattr(package, name) is not None
