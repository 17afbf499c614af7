"""`check --live` sees indexes changed by hand; `up --repair` restores them; `stamp` checks them.

Issue 18, section 3, through the CLI as a team uses it. dynalite cannot add a
global secondary index to an existing on-demand table, so these run on moto.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.integration.test_migrate_cli import as_json, cli, with_client

pytestmark = pytest.mark.moto_only

SCHEMA = "tests.support.team:ChatRecord"
REPAIR = "`openai-agents-session migrate up --repair`"


@pytest.fixture
def name() -> str:
    return f"idx-{uuid.uuid4().hex[:12]}"


def _team_migration(folder: Path) -> str:
    made = cli(
        None,
        "unused",
        "new",
        "add_tenant",
        "--autogenerate",
        "--schema",
        SCHEMA,
        "--migrations-dir",
        str(folder),
        "--json",
    )
    assert made.exit_code == 0, made.output
    return str(as_json(made)["revision"])


def _applied_team_index(endpoint: str, table: str, folder: Path) -> tuple[str, list[str]]:
    """Apply the team's by_tenant migration; its revision and the CLI's folder option."""
    revision = _team_migration(folder)
    option = ["--migrations-dir", str(folder)]
    assert cli(endpoint, table, "up", *option).exit_code == 0
    assert cli(endpoint, table, "check", "--live", *option).exit_code == 0
    return revision, option


def _delete_index(endpoint: str, table: str, index: str) -> None:
    async def delete(client: Any) -> None:
        await client.update_table(
            TableName=table, GlobalSecondaryIndexUpdates=[{"Delete": {"IndexName": index}}]
        )

    with_client(endpoint, delete)


def _create_index(endpoint: str, table: str, index: str, key: str, kind: str) -> None:
    async def create(client: Any) -> None:
        await client.update_table(
            TableName=table,
            AttributeDefinitions=[{"AttributeName": key, "AttributeType": kind}],
            GlobalSecondaryIndexUpdates=[
                {
                    "Create": {
                        "IndexName": index,
                        "KeySchema": [{"AttributeName": key, "KeyType": "HASH"}],
                        "Projection": {"ProjectionType": "ALL"},
                    }
                }
            ],
        )

    with_client(endpoint, create)


def _states(endpoint: str, table: str, folder: Path) -> dict[str, str]:
    status = cli(endpoint, table, "status", "--migrations-dir", str(folder), "--json")
    assert status.exit_code == 0, status.output
    return {m["revision"]: m["state"] for m in as_json(status)["migrations"]}


def test_team_index_deleted_by_hand_is_drift_and_up_repair_restores_it(
    endpoint: str, name: str, tmp_path: Path
) -> None:
    revision, folder = _applied_team_index(endpoint, name, tmp_path)
    _delete_index(endpoint, name, "by_tenant")

    check = cli(endpoint, name, "check", "--live", *folder, "--json")
    assert check.exit_code == 4, check.output  # was 0, "no drift"
    assert as_json(check)["live"] == [
        f"index 'by_tenant' ({revision}) is missing. Fix: {REPAIR} creates it again "
        "(DynamoDB fills it from the items)."
    ]
    assert _states(endpoint, name, tmp_path)[revision] == "drifted"  # was "applied"
    plan = cli(endpoint, name, "plan", *folder)
    assert plan.exit_code == 4 and "by_tenant" in plan.stderr  # was "nothing to do", 0
    refused = cli(endpoint, name, "up", *folder)
    assert refused.exit_code == 4 and "migrate up --repair" in refused.stderr
    assert ".." not in refused.stderr

    repaired = cli(endpoint, name, "up", "--repair", *folder, "--json")
    assert repaired.exit_code == 0, repaired.output
    assert as_json(repaired)["repaired"] == ["by_tenant"] and as_json(repaired)["applied"] == []
    assert cli(endpoint, name, "check", "--live", *folder).exit_code == 0
    assert _states(endpoint, name, tmp_path)[revision] == "applied"
    again = cli(endpoint, name, "up", "--repair", *folder, "--json")
    assert as_json(again)["repaired"] == []


def test_team_index_recreated_on_another_key_is_drift_and_repair_rebuilds_it(
    endpoint: str, name: str, tmp_path: Path
) -> None:
    revision, folder = _applied_team_index(endpoint, name, tmp_path)
    _delete_index(endpoint, name, "by_tenant")
    _create_index(endpoint, name, "by_tenant", "owner", "S")

    check = cli(endpoint, name, "check", "--live", *folder, "--json")
    assert check.exit_code == 4, check.output  # was 0
    [line] = as_json(check)["live"]
    assert line.startswith("index 'by_tenant' has key owner (HASH, S), projection ALL; ")
    assert f"{revision} declares key tenant_id (HASH, S), updated_at (RANGE, N)" in line
    assert cli(endpoint, name, "up", "--repair", *folder).exit_code == 0
    assert cli(endpoint, name, "check", "--live", *folder).exit_code == 0

    async def keys(client: Any) -> list[dict[str, str]]:
        table = (await client.describe_table(TableName=name))["Table"]
        [index] = [i for i in table["GlobalSecondaryIndexes"] if i["IndexName"] == "by_tenant"]
        return list(index["KeySchema"])

    assert [k["AttributeName"] for k in with_client(endpoint, keys)] == ["tenant_id", "updated_at"]


def test_builtin_index_deleted_by_hand_has_a_fix_that_works(endpoint: str, name: str) -> None:
    assert cli(endpoint, name, "up").exit_code == 0
    _delete_index(endpoint, name, "sessions_by_owner")
    check = cli(endpoint, name, "check", "--live")
    assert check.exit_code == 4
    # Was "Fix: `openai-agents-session migrate up`", which `up` refused with the same advice.
    assert f"Fix: {REPAIR}" in check.stderr
    refused = cli(endpoint, name, "up")
    assert refused.exit_code == 4 and f"Fix: {REPAIR}" in refused.stderr
    dry = cli(endpoint, name, "up", "--repair", "--dry-run")
    assert dry.exit_code == 0 and "would recreate index sessions_by_owner" in dry.stdout
    assert cli(endpoint, name, "check", "--live").exit_code == 4  # a dry run changes nothing
    assert cli(endpoint, name, "up", "--repair").exit_code == 0
    assert cli(endpoint, name, "check", "--live").exit_code == 0


def test_an_index_nobody_declares_is_drift_for_check_but_not_for_up(
    endpoint: str, name: str
) -> None:
    assert cli(endpoint, name, "up").exit_code == 0
    _create_index(endpoint, name, "by_hand", "owner", "S")
    check = cli(endpoint, name, "check", "--live", "--json")
    assert check.exit_code == 4
    [line] = as_json(check)["live"]
    assert line.startswith("index 'by_hand' is on the table but no migration declares it.")
    assert f"update-table --table-name {name} --global-secondary-index-updates" in line
    assert cli(endpoint, name, "up").exit_code == 0  # someone's index: up leaves it alone


def test_stamp_of_an_index_migration_that_never_ran(
    endpoint: str, name: str, tmp_path: Path
) -> None:
    revision = _team_migration(tmp_path)
    folder = ["--migrations-dir", str(tmp_path)]
    assert cli(endpoint, name, "up").exit_code == 0  # the built-in chain only

    refused = cli(endpoint, name, "stamp", "--to", revision, *folder)
    assert refused.exit_code == 4, refused.output  # was 0, with only a warning
    assert "by_tenant" in refused.stderr and "Nothing was recorded" in refused.stderr
    assert _states(endpoint, name, tmp_path)[revision] == "pending"

    forced = cli(endpoint, name, "stamp", "--to", revision, "--force", *folder, "--json")
    assert forced.exit_code == 0, forced.output
    assert as_json(forced)["not_run"] == [revision]
    assert _states(endpoint, name, tmp_path)[revision] == "stamped, not run"
    check = cli(endpoint, name, "check", "--live", *folder)
    assert check.exit_code == 4 and "'by_tenant'" in check.stderr  # was 0
    assert cli(endpoint, name, "up", "--repair", *folder).exit_code == 0
    assert _states(endpoint, name, tmp_path)[revision] == "adopted"  # the check now confirms it
    assert cli(endpoint, name, "check", "--live", *folder).exit_code == 0
