"""A missing extra is one line naming the pip command, for the script and the modules."""

from __future__ import annotations

import subprocess
import sys

HIDE = "import sys; sys.modules[{name!r}] = None; "


def run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )


def test_the_console_script_without_the_cli_extra_says_how_to_get_it() -> None:
    result = run(
        HIDE.format(name="typer")
        + "sys.argv = ['openai-agents-session', '--help']; "
        + "from openai_agents_session._console import main; main()"
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert lines == [
        "openai-agents-session: The openai-agents-session command line needs the [cli] "
        "extra: pip install 'openai-agents-session[cli]'"
    ]


def test_importing_the_cli_module_without_rich_names_the_extra() -> None:
    result = run(HIDE.format(name="rich") + "import openai_agents_session.cli")
    assert result.returncode == 1
    assert "pip install 'openai-agents-session[cli]'" in result.stderr


def test_the_local_endpoint_without_moto_names_the_extra() -> None:
    result = run(
        HIDE.format(name="moto")
        + "from openai_agents_session.local import LocalDynamoDB; LocalDynamoDB().start()"
    )
    assert result.returncode == 1
    assert "pip install 'openai-agents-session[local]'" in result.stderr


def test_the_library_imports_without_the_extras() -> None:
    hidden = "".join(HIDE.format(name=n) for n in ("typer", "rich", "moto", "werkzeug", "flask"))
    result = run(hidden + "import openai_agents_session; print(openai_agents_session.__version__)")
    assert result.returncode == 0, result.stderr
