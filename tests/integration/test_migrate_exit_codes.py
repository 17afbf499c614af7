"""Exit codes and messages of `migrate` that a CI script branches on (issue 18, section 5)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from openai_agents_session import DynamoDBSession
from tests.integration.test_migrate_cli import as_json, cli, with_client
from tests.support.migrations import BUILTIN_HEAD, write_migration

RAISING_BACKFILL = """
def fill(item):
    raise ValueError("secret user text")


async def upgrade(ctx):
    await ctx.backfill(fill)
"""

NOT_A_DICT_BACKFILL = """
async def upgrade(ctx):
    await ctx.backfill(lambda item: ["not", "a", "dict"])
"""


@pytest.fixture
def name() -> str:
    return f"exit-{uuid.uuid4().hex[:12]}"


def _one_session(endpoint: str, name: str) -> None:
    async def add(client: Any) -> None:
        await DynamoDBSession("s1", client, name).add_items([{"role": "user", "content": "hi"}])

    with_client(endpoint, add)


@pytest.mark.parametrize("body", [RAISING_BACKFILL, NOT_A_DICT_BACKFILL], ids=["raises", "list"])
def test_a_failing_backfill_function_exits_9_and_its_fix_works(
    endpoint: str, name: str, tmp_path: Path, body: str
) -> None:
    assert cli(endpoint, name, "up").exit_code == 0
    _one_session(endpoint, name)
    write_migration(tmp_path, "0001_fill", None, body)
    failed = cli(endpoint, name, "up", "--migrations-dir", str(tmp_path))
    assert failed.exit_code == 9, failed.output  # was 1
    assert "secret user text" not in failed.output
    assert "migration 0001_fill failed: backfill 0001_fill: the function " in failed.stderr
    assert f"`openai-agents-session migrate stamp --force --to {BUILTIN_HEAD}`" in failed.stderr
    as_data = cli(endpoint, name, "up", "--migrations-dir", str(tmp_path), "--json")
    assert as_data.exit_code == 6  # the ledger now records the failure
    assert ".." not in as_json(as_data)["error"]
    # The advice, followed literally, after correcting the function.
    write_migration(
        tmp_path,
        "0001_fill",
        None,
        RAISING_BACKFILL.replace('raise ValueError("secret user text")', 'return {"flag": "x"}'),
    )
    stamp = cli(
        endpoint, name, "stamp", "--force", "--to", BUILTIN_HEAD, "--migrations-dir", str(tmp_path)
    )
    assert stamp.exit_code == 0, stamp.output
    again = cli(endpoint, name, "up", "--migrations-dir", str(tmp_path))
    assert again.exit_code == 0, again.output
    assert cli(endpoint, name, "check", "--live", "--migrations-dir", str(tmp_path)).exit_code == 0


def test_check_live_on_a_missing_table_is_drift_as_documented(endpoint: str, name: str) -> None:
    missing = cli(endpoint, name, "check", "--live")
    assert missing.exit_code == 4
    assert (
        f"table {name!r} does not exist. Fix: run `openai-agents-session migrate up`"
        in missing.stderr
    )
    docs = (Path(__file__).resolve().parents[2] / "docs" / "migrations.md").read_text()
    drift_row = next(line for line in docs.splitlines() if line.startswith("| 4 | drift |"))
    assert "`check --live` on a table that does not exist" in drift_row
    error_row = next(line for line in docs.splitlines() if line.startswith("| 1 | error |"))
    assert "check" not in error_row
    assert cli(endpoint, name, "up").exit_code == 0  # the fix, followed
    assert cli(endpoint, name, "check", "--live").exit_code == 0


def test_offline_check_does_not_name_a_table_it_never_read() -> None:
    offline = cli(None, "agent_sessions", "check")
    assert offline.exit_code == 0
    assert "agent_sessions" not in offline.stdout  # was "agent_sessions: no drift ..."
    assert "no table was compared" in offline.stdout


def test_client_errors_do_not_double_their_period(name: str, tmp_path: Path) -> None:
    empty = tmp_path / "config"
    empty.write_text("")
    no_region = cli(
        "http://127.0.0.1:9",
        name,
        "status",
        AWS_DEFAULT_REGION=None,
        AWS_REGION=None,
        AWS_PROFILE=None,
        AWS_CONFIG_FILE=str(empty),
    )
    assert no_region.exit_code == 2, no_region.output
    assert "region" in no_region.stderr
    assert ".." not in no_region.stderr  # was "You must specify a region.. Fix"
