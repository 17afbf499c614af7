"""Rolling deploys: no item claims a derived backfill its values do not reflect (issue 18, §5).

Half the application still runs the record without the derived attributes while
the other half (and the migration) runs the new one. A write of the old half
withdraws the backfill's claim; `check --live` finds the stale sessions in a
sample; `up --reconcile` brings them back. dynalite cannot add the migration's
index to an on-demand table, so this runs on moto.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from openai_agents_session import DynamoDBSession
from tests.integration.test_migrate_cli import as_json, cli, with_client
from tests.support.migrations import session_items
from tests.support.team import ChatRecord

pytestmark = pytest.mark.moto_only

CLAIM_SUFFIX = ":derived[last_role,message_count]"


@pytest.fixture
def name() -> str:
    return f"roll-{uuid.uuid4().hex[:12]}"


def _add(endpoint: str, table: str, session_ids: list[str], role: str, record: Any = None) -> None:
    async def write(client: Any) -> None:
        for session_id in session_ids:
            options = {} if record is None else {"record": record}
            session = DynamoDBSession(session_id, client, table, **options)
            await session.add_items([{"role": role, "content": "x"}])

    with_client(endpoint, write)


def _stale(endpoint: str, table: str) -> dict[str, set[str]]:
    """Session id -> derived attributes whose stored value its history does not give."""

    async def read(client: Any) -> dict[str, set[str]]:
        found: dict[str, set[str]] = {}
        for session_id, item in (await session_items(client, table)).items():
            history = await DynamoDBSession(session_id, client, table).get_items()
            wrong = set()
            if item.get("message_count") != {"N": str(len(history))}:
                wrong.add("message_count")
            if item.get("last_role") != {"S": history[-1]["role"]}:
                wrong.add("last_role")
            if wrong:
                found[session_id] = wrong
        return found

    return with_client(endpoint, read)


def _claims(endpoint: str, table: str) -> dict[str, set[str]]:
    async def read(client: Any) -> dict[str, set[str]]:
        items = await session_items(client, table)
        return {k: set(v.get("schema_version", {}).get("SS", [])) for k, v in items.items()}

    return with_client(endpoint, read)


def test_old_writers_withdraw_the_claim_check_reports_and_reconcile_repairs(
    endpoint: str, name: str, tmp_path: Path
) -> None:
    assert cli(endpoint, name, "up").exit_code == 0
    sessions = [f"s{n}" for n in range(8)]
    _add(endpoint, name, sessions, "user")  # the application before the deploy
    made = cli(
        None,
        "unused",
        "new",
        "add_stats",
        "--autogenerate",
        "--schema",
        "tests.support.team:ChatRecord",
        "--migrations-dir",
        str(tmp_path),
        "--json",
    )
    assert made.exit_code == 0, made.output
    claim = as_json(made)["revision"] + CLAIM_SUFFIX
    folder = ["--migrations-dir", str(tmp_path)]
    assert cli(endpoint, name, "up", *folder).exit_code == 0
    assert _stale(endpoint, name) == {}
    assert all(claim in claims for claims in _claims(endpoint, name).values())

    # Mid-deploy: old instances (no derived attributes) and new ones write.
    _add(endpoint, name, sessions[:3], "assistant")
    _add(endpoint, name, sessions[3:5], "assistant", record=ChatRecord)
    assert set(_stale(endpoint, name)) == set(sessions[:3])
    claims = _claims(endpoint, name)
    # Was: the claim stayed on all 8 while 3 of them were stale.
    assert [s for s in sessions if claim in claims[s]] == sessions[3:]

    check = cli(endpoint, name, "check", "--live", *folder, "--json")
    assert check.exit_code == 4, check.output  # was 0
    [line] = as_json(check)["live"]
    assert line.startswith("derived attributes of 3 of 8 sampled sessions do not match")
    assert "migrate up --reconcile" in line

    reconciled = cli(endpoint, name, "up", "--reconcile", *folder, "--json")
    assert reconciled.exit_code == 0, reconciled.output
    [counts] = next(iter(as_json(reconciled)["reconciled"].values()))
    assert counts["changed"] == 3 and counts["already"] == 5
    assert _stale(endpoint, name) == {}
    assert all(claim in c for c in _claims(endpoint, name).values())
    assert cli(endpoint, name, "check", "--live", *folder).exit_code == 0
    again = cli(endpoint, name, "up", "--reconcile", *folder, "--json")
    [counts] = next(iter(as_json(again)["reconciled"].values()))
    assert counts["changed"] == 0 and counts["already"] == 8


def test_a_write_keeps_claims_it_can_vouch_for(endpoint: str, name: str) -> None:
    assert cli(endpoint, name, "up").exit_code == 0
    _add(endpoint, name, ["a"], "user", record=ChatRecord)
    hostile = ["0009_x:derived[message_count]", "0010_y:derived[nope]", "0011_plain", "odd[", "[]"]

    async def claim(client: Any) -> None:
        await client.update_item(
            TableName=name,
            Key={"session_id": {"S": "a"}},
            UpdateExpression="SET schema_version = :c",
            ExpressionAttributeValues={":c": {"SS": hostile}},
        )

    with_client(endpoint, claim)
    _add(endpoint, name, ["a"], "user", record=ChatRecord)  # derives message_count, not "nope"
    assert _claims(endpoint, name)["a"] == {
        "0009_x:derived[message_count]",
        "0011_plain",
        "odd[",
        "[]",
    }
    _add(endpoint, name, ["a"], "user")  # the base record derives nothing
    assert _claims(endpoint, name)["a"] == {"0011_plain", "odd[", "[]"}


def test_the_sample_skips_a_corrupt_head_instead_of_failing(
    endpoint: str, name: str, tmp_path: Path
) -> None:
    assert cli(endpoint, name, "up").exit_code == 0
    _add(endpoint, name, ["ok", "stale"], "user")
    made = cli(
        None,
        "unused",
        "new",
        "add_stats",
        "--autogenerate",
        "--schema",
        "tests.support.team:ChatRecord",
        "--migrations-dir",
        str(tmp_path),
    )
    assert made.exit_code == 0, made.output
    folder = ["--migrations-dir", str(tmp_path)]
    assert cli(endpoint, name, "up", *folder).exit_code == 0
    _add(endpoint, name, ["stale"], "assistant")  # an old instance

    async def corrupt(client: Any) -> None:
        await client.put_item(
            TableName=name,
            Item={
                "session_id": {"S": "broken"},
                "conversation_data": {"S": "not json ["},
                "updated_at": {"N": "1"},
                "schema_version": {"SS": ["0001_add_stats:derived[last_role,message_count]"]},
            },
        )

    with_client(endpoint, corrupt)
    check = cli(endpoint, name, "check", "--live", *folder, "--json")
    assert check.exit_code == 4, check.output
    [line] = as_json(check)["live"]
    assert line.startswith("derived attributes of 1 of 2 sampled sessions") and "'stale'" in line
    assert "not json" not in check.output
