"""What a newcomer copies from the docs works as written.

A CI job that calls the command line installs the extra that brings it, and the
examples that run the SDK's scripted model switch tracing off, so they print no
"OPENAI_API_KEY is not set, skipping trace export" line.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = sorted([ROOT / "README.md", *(ROOT / "docs").rglob("*.md")])
FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```", re.MULTILINE | re.DOTALL)
CLI_CALL = re.compile(r"^\s*(?:-\s*run:\s*)?openai-agents-session\s+\w", re.MULTILINE)
INSTALL = re.compile(r"pip install\s+(.*)")


def blocks(page: Path) -> list[tuple[str, str]]:
    return [(m.group(1), m.group(2)) for m in FENCE.finditer(page.read_text(encoding="utf-8"))]


def ids(pages: list[Path]) -> list[str]:
    return [str(p.relative_to(ROOT)) for p in pages]


# Today: docs/migrations.md installs the base package, then its CLI call exits 1.
@pytest.mark.parametrize("page", PAGES, ids=ids(PAGES))
def test_a_block_that_calls_the_cli_installs_an_extra_that_brings_it(page: Path) -> None:
    for _, body in blocks(page):
        installs = INSTALL.findall(body)
        if not installs or not CLI_CALL.search(body):
            continue
        for install in installs:
            assert "[cli" in install or "[local" in install, (page.name, install)


# Today: the README's, the quickstart's and the usage page's agent examples do not.
@pytest.mark.parametrize("page", PAGES, ids=ids(PAGES))
def test_scripted_model_examples_switch_tracing_off(page: Path) -> None:
    python = "\n".join(body for language, body in blocks(page) if language == "python")
    if "ScriptedModel(" not in python:
        return
    first_run = python.index("ScriptedModel(")
    assert "set_tracing_disabled(True)" in python[:first_run], page.name


def test_the_quickstart_does_not_promise_the_cli_with_the_base_install() -> None:
    text = (ROOT / "docs" / "getting-started" / "quickstart.md").read_text(encoding="utf-8")
    install = text[text.index("## Install") : text.index("## Create the table")]
    assert "[cli]" in install
    assert not re.search(r"base install brings[^.]*CLI", install), install
