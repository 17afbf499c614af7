"""`openai-agents-session migrate`: every verb through Typer's CliRunner, plus real subprocesses.

The tests are synchronous because each CLI invocation runs its own event loop;
setup that needs DynamoDB runs through `asyncio.run` on a client of its own.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from aiobotocore.session import get_session
from typer.testing import CliRunner

from openai_agents_session import create_table_if_not_exists
from openai_agents_session.cli import app
from openai_agents_session.migrations import MigrationLock
from openai_agents_session.migrations.loader import checksum
from tests.support.migrations import BUILTIN_HEAD, BUILTINS, write_migration

T = TypeVar("T")


@pytest.fixture
def name() -> str:
    return f"cli-{uuid.uuid4().hex[:12]}"


def with_client(endpoint: str, action: Callable[[Any], Awaitable[T]]) -> T:
    async def main() -> T:
        async with get_session().create_client(
            "dynamodb",
            region_name="us-east-1",
            endpoint_url=endpoint,
            aws_access_key_id="test",
            aws_secret_access_key="test",
        ) as client:
            return await action(client)

    return asyncio.run(main())


def cli(endpoint: str | None, table: str, *args: str, **env: str | None) -> Any:
    environment: dict[str, str | None] = {
        "OAS_ENDPOINT_URL": endpoint,
        "OAS_TABLE": table,
        "OAS_MIGRATIONS_DIR": None,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        **env,
    }
    return CliRunner().invoke(app, ["migrate", *args], env=environment)


def as_json(result: Any) -> Any:
    return json.loads(result.stdout)


def test_up_plan_status_history_and_their_json(endpoint: str, name: str) -> None:
    planned = cli(endpoint, name, "plan", "--json")
    assert planned.exit_code == 0, planned.output
    assert [(s["revision"], s["action"]) for s in as_json(planned)["steps"]] == [
        ("0001_create_table", "create"),
        *((revision, "apply") for revision in BUILTINS[1:]),
    ]
    dry = cli(endpoint, name, "up", "--dry-run")
    assert dry.exit_code == 0 and "would create the table" in dry.stdout
    first = cli(endpoint, name, "up", "--json")
    assert first.exit_code == 0, first.output
    body = as_json(first)
    assert body["created_table"] is True and body["applied"] == BUILTINS
    assert "applying 0002_enable_ttl" in first.stderr  # progress goes to stderr, not the JSON
    second = cli(endpoint, name, "up")
    assert second.exit_code == 0
    assert f"{name}: up to date at {BUILTIN_HEAD}" in second.stdout
    state = cli(endpoint, name, "status", "--json")
    assert state.exit_code == 0
    report = as_json(state)
    assert [m["state"] for m in report["migrations"]] == ["applied"] * len(BUILTINS)
    assert report["pending"] == [] and report["dirty"] is False and report["lock"] is None
    assert cli(endpoint, name, "status", "--check").exit_code == 0
    human = cli(endpoint, name, "status")
    assert human.exit_code == 0
    assert "0002_enable_ttl" in human.stdout and BUILTIN_HEAD in human.stdout
    ledger = cli(endpoint, name, "history", "--json")
    events = as_json(ledger)["events"]
    assert [e["action"] for e in events] == ["applied"] + ["applying", "applied"] * (
        len(events) // 2
    )
    assert "applied" in cli(endpoint, name, "history").stdout
    assert cli(endpoint, name, "plan").stdout.startswith(f"{name}: nothing to do")


def test_status_check_exits_pending_until_up(endpoint: str, name: str, tmp_path: Path) -> None:
    write_migration(tmp_path, "0003_team", BUILTIN_HEAD)
    assert cli(endpoint, name, "up").exit_code == 0
    pending = cli(endpoint, name, "status", "--check", "--json", OAS_MIGRATIONS_DIR=str(tmp_path))
    assert pending.exit_code == 3
    assert as_json(pending)["pending"] == ["0003_team"]
    applied = cli(endpoint, name, "up", "--migrations-dir", str(tmp_path), "--json")
    assert as_json(applied)["applied"] == ["0003_team"]
    ok = cli(endpoint, name, "status", "--check", "--migrations-dir", str(tmp_path))
    assert ok.exit_code == 0


def test_lock_busy_exits_5_and_unlock_force_releases_it(endpoint: str, name: str) -> None:
    assert cli(endpoint, name, "up").exit_code == 0

    async def hold(client: Any) -> str:
        lock = MigrationLock(client, name, lease_seconds=600, renew_interval=0, holder="ci@box")
        await lock.acquire(timeout=0)
        return lock.owner  # not released: a runner that died holding the lock

    with_client(endpoint, hold)
    busy = cli(endpoint, name, "up", "--lock-timeout", "0.2")
    assert busy.exit_code == 5
    assert "being migrated by ci@box" in busy.stderr
    assert "unlock --force" in busy.stderr
    assert "Traceback" not in busy.output
    assert len(busy.stderr.strip().splitlines()) == 1  # one line, with the fix
    busy_json = cli(endpoint, name, "up", "--lock-timeout", "0", "--json")
    assert busy_json.exit_code == 5
    assert as_json(busy_json)["exit_code"] == 5
    held = as_json(cli(endpoint, name, "status", "--json"))
    assert held["lock"]["holder"] == "ci@box" and held["lock_live"] is True
    refused = cli(endpoint, name, "unlock")
    assert refused.exit_code == 2 and "--force" in refused.stderr
    released = cli(endpoint, name, "unlock", "--force", "--json")
    assert released.exit_code == 0
    assert as_json(released)["released"]["holder"] == "ci@box"
    assert "nobody held" in cli(endpoint, name, "unlock", "--force").stdout
    assert cli(endpoint, name, "up", "--lock-timeout", "0").exit_code == 0


def test_dirty_ledger_exits_6(endpoint: str, name: str, tmp_path: Path) -> None:
    path = write_migration(tmp_path, "0003_team", BUILTIN_HEAD)
    folder = str(tmp_path)
    assert cli(endpoint, name, "up", "--migrations-dir", folder).exit_code == 0
    path.write_text(path.read_text() + "# edited after it was applied\n")
    status = cli(endpoint, name, "status", "--migrations-dir", folder, "--json")
    assert status.exit_code == 6
    assert as_json(status)["migrations"][-1]["state"] == "modified"
    up = cli(endpoint, name, "up", "--migrations-dir", folder)
    assert up.exit_code == 6 and "0003_team was edited after it was applied" in up.stderr
    check = cli(endpoint, name, "check", "--migrations-dir", folder, "--json")
    assert check.exit_code == 6 and as_json(check)["dirty"]
    plan = cli(endpoint, name, "plan", "--migrations-dir", folder)
    assert plan.exit_code == 6
    stamp = cli(endpoint, name, "stamp", "--to", "0003_team", "--migrations-dir", folder)
    assert stamp.exit_code == 0 and "stamp 0003_team" in stamp.stdout
    assert cli(endpoint, name, "status", "--migrations-dir", folder).exit_code == 0


def test_check_offline_without_aws_and_drift_exit_4(tmp_path: Path) -> None:
    clean = cli(None, "agent_sessions", "check")
    assert clean.exit_code == 0 and "no drift in the schema (offline)" in clean.stdout
    first = write_migration(tmp_path, "0001_team", None)
    write_migration(
        tmp_path,
        "0002_more",
        "0001_team",
        f"parent_checksum = {checksum(first.read_bytes())!r}\n\n"
        "async def upgrade(ctx):\n    pass\n",
    )
    assert cli(None, "agent_sessions", "check", "--migrations-dir", str(tmp_path)).exit_code == 0
    # Editing a migration that has a successor (it may have run somewhere) fails offline.
    first.write_text(first.read_text() + "# edited\n")
    drift = cli(None, "agent_sessions", "check", "--migrations-dir", str(tmp_path))
    assert drift.exit_code == 4
    assert "0001_team was edited after 0002_more was written on top of it" in drift.stderr
    as_data = cli(None, "agent_sessions", "check", "--migrations-dir", str(tmp_path), "--json")
    assert as_data.exit_code == 4
    assert as_json(as_data)["live_checked"] is False and as_json(as_data)["offline"]


@pytest.mark.moto_only
def test_check_live_reports_ttl_and_billing_drift(endpoint: str, name: str) -> None:
    async def make(client: Any) -> None:
        await create_table_if_not_exists(client, name, enable_ttl=False, billing_mode="PROVISIONED")

    with_client(endpoint, make)
    drift = cli(endpoint, name, "check", "--json")
    assert drift.exit_code == 4
    billing, ttl = as_json(drift)["live"]
    assert billing == "billing mode: expected PAY_PER_REQUEST, found PROVISIONED"
    assert ttl.startswith("TTL: expected ENABLED on attribute 'ttl', found DISABLED. Fix:")
    offline = cli(endpoint, name, "check", "--offline")
    assert offline.exit_code == 0
    assert cli(endpoint, name, "up").exit_code == 0  # adopts 0001, enables TTL
    # The ledger remembers the billing mode the table was adopted with.
    after = cli(endpoint, name, "check")
    assert after.exit_code == 0, after.output
    assert as_json(cli(endpoint, name, "status", "--json"))["billing_mode"] == "PROVISIONED"
    other = cli(endpoint, name, "check", "--billing-mode", "PAY_PER_REQUEST")
    assert other.exit_code == 4
    assert cli(endpoint, name, "check", "--billing-mode", "nope").exit_code == 2


def test_stamp_adopts_and_down_refuses_builtins(endpoint: str, name: str) -> None:
    with_client(endpoint, lambda client: create_table_if_not_exists(client, name))
    stamped = cli(endpoint, name, "stamp", "--to", "0001_create_table", "--json")
    assert stamped.exit_code == 0, stamped.output
    assert as_json(stamped)["stamped"] == ["0001_create_table"]
    assert cli(endpoint, name, "stamp").exit_code == 0  # the rest of the built-in chain
    down = cli(endpoint, name, "down", "--to", "0001_create_table")
    assert down.exit_code == 9
    assert "no downgrade" in down.stderr and "Nothing was reverted" in down.stderr
    down_json = cli(endpoint, name, "down", "--to", "0001_create_table", "--json")
    assert as_json(down_json)["exit_code"] == 9
    assert "nothing to revert" in cli(endpoint, name, "down").stdout  # no team chain
    assert cli(endpoint, name, "up", "--to", "nope").exit_code == 2


def test_errors_are_one_line_with_a_fix(endpoint: str, name: str) -> None:
    missing = cli(endpoint, name, "history")
    assert missing.exit_code == 1
    assert "does not exist" in missing.stderr and "Fix:" in missing.stderr
    assert "Traceback" not in missing.output
    bad_name = cli(endpoint, "ab", "status")
    assert bad_name.exit_code == 2 and "not a valid DynamoDB table name" in bad_name.stderr


def test_console_script_runs_as_a_subprocess(endpoint: str, name: str) -> None:
    script = Path(sys.executable).with_name("openai-agents-session")
    env = dict(
        os.environ,
        OAS_ENDPOINT_URL=endpoint,
        OAS_TABLE=name,
        AWS_ACCESS_KEY_ID="test",
        AWS_SECRET_ACCESS_KEY="test",
    )
    env.pop("OAS_MIGRATIONS_DIR", None)
    up = subprocess.run(
        [str(script), "migrate", "up", "--json"], env=env, capture_output=True, text=True
    )
    assert up.returncode == 0, up.stderr
    assert json.loads(up.stdout)["applied"] == BUILTINS
    assert "applying 0002_enable_ttl" in up.stderr  # plain progress lines, not a live bar
    again = cli(endpoint, name, "up")
    assert f"{name}: up to date at {BUILTIN_HEAD}" in again.stdout


SLOW = """
import asyncio
import os
from pathlib import Path

async def upgrade(ctx):
    marker = Path(os.environ["OAS_TEST_MARKER"])
    if marker.exists():
        return  # the resumed run finds its work done
    marker.write_text("started")
    while True:  # stands for a long step; only SIGTERM ends it
        await asyncio.sleep(0.05)
"""


def test_sigterm_stops_up_cleanly_and_the_next_up_resumes(
    endpoint: str, name: str, tmp_path: Path
) -> None:
    folder = tmp_path / "versions"
    write_migration(folder, "0003_slow", BUILTIN_HEAD, SLOW)
    marker = tmp_path / "started"
    script = Path(sys.executable).with_name("openai-agents-session")
    env = dict(
        os.environ,
        OAS_ENDPOINT_URL=endpoint,
        OAS_TABLE=name,
        OAS_MIGRATIONS_DIR=str(folder),
        OAS_TEST_MARKER=str(marker),
        AWS_ACCESS_KEY_ID="test",
        AWS_SECRET_ACCESS_KEY="test",
    )
    process = subprocess.Popen(
        [str(script), "migrate", "up"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the migration never started"
            time.sleep(0.05)
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 7  # interrupted, resumable
    assert "interrupted while migrating" in stderr and "to resume" in stderr
    assert "Traceback" not in stderr
    state = as_json(cli(endpoint, name, "status", "--json", OAS_MIGRATIONS_DIR=str(folder)))
    assert state["migrations"][-1]["state"] == "interrupted"
    assert state["lock"] is None  # released on the way out
    resumed = cli(
        endpoint,
        name,
        "up",
        "--json",
        OAS_MIGRATIONS_DIR=str(folder),
        OAS_TEST_MARKER=str(marker),
    )
    assert resumed.exit_code == 0, resumed.output
    assert as_json(resumed)["resumed"] == ["0003_slow"]


@pytest.mark.parametrize(
    "verb", [[], ["migrate"], ["migrate", "up"], ["migrate", "stamp"], ["sessions", "list"]]
)
def test_help_shows_readable_value_names_and_the_exit_codes(verb: list[str]) -> None:
    shown = CliRunner().invoke(app, [*verb, "--help"])
    assert shown.exit_code == 0, shown.output
    assert "<bool>" not in shown.output and "<float>" not in shown.output
    if verb[1:]:
        assert "Exit codes: 0 ok" in shown.output and "11 AWS" in shown.output


def test_usage_errors_are_json_under_json(endpoint: str, name: str) -> None:
    script = Path(sys.executable).with_name("openai-agents-session")
    for argv in (["migrate", "up", "--json", "--bogus"], ["migrate", "up", "--json", "--to"]):
        done = subprocess.run(
            [str(script), *argv], capture_output=True, text=True, timeout=60, check=False
        )
        assert done.returncode == 2, done.stderr
        body = json.loads(done.stdout)
        assert body["exit_code"] == 2 and body["error"]
        assert body["usage"] is None or "Usage:" in body["usage"]


def test_status_shows_when_the_lease_expires_and_ci_output_is_never_wrapped(
    endpoint: str, name: str, tmp_path: Path
) -> None:
    assert cli(endpoint, name, "up").exit_code == 0

    async def hold(client: Any) -> None:
        lock = MigrationLock(client, name, lease_seconds=600, renew_interval=0, holder="ci@box")
        await lock.acquire(timeout=0)

    with_client(endpoint, hold)
    shown = cli(endpoint, name, "status")
    (line,) = [x for x in shown.stdout.splitlines() if x.startswith("lock held by ci@box")]
    assert "lease expires at 20" in line and line.endswith("Z")
    assert as_json(cli(endpoint, name, "status", "--json"))["lease_expires_at"].endswith("Z")
    # A long problem line stays one line in a CI log (no terminal: no 80-column wrap).
    long_revision = "0001_" + "x" * 120
    write_migration(tmp_path, long_revision, None, "async def upgrade(ctx):\n    pass\n")
    pending = cli(endpoint, name, "status", "--migrations-dir", str(tmp_path))
    assert any(long_revision in x for x in pending.stdout.splitlines())
    assert f"pending: {long_revision}" in pending.stdout


def test_up_prints_its_summary_once(endpoint: str, name: str) -> None:
    result = cli(endpoint, name, "up")
    assert result.exit_code == 0
    again = cli(endpoint, name, "up")
    combined = again.stdout + again.stderr
    assert combined.count("up to date") == 1, combined
