"""Team migrations and backfills on a live table: GSI + backfill, dry run, resume, races."""

from __future__ import annotations

import asyncio
import io
import re
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from openai_agents_session import DynamoDBSession
from openai_agents_session.migrations import (
    BackfillItem,
    MigrationError,
    RichReporter,
    checkpoint_id,
    down,
    is_reserved,
    read_ledger,
    read_lock,
    status,
    up,
)
from openai_agents_session.models.schema import SCHEMA
from tests.support.migrations import (
    BUILTIN_HEAD,
    PARAM_BACKFILL,
    reserved_items,
    scan_all,
    session_items,
    write_migration,
)
from tests.support.proxy import FaultProxy
from tests.support.sessions import is_cleared

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 30


@pytest.fixture
async def name(client: Any) -> str:
    """A table migrated to the built-in head."""
    table = f"bf-{uuid.uuid4().hex[:12]}"
    await up(client, table)
    return table


async def add_sessions(client: Any, table: str, ids: list[str]) -> None:
    await asyncio.gather(
        *(
            DynamoDBSession(i, client, table).add_items([{"role": "user", "content": i}])
            for i in ids
        )
    )


def docs_migration(folder: Path) -> str:
    """Write the team migration shown in docs/migrations.md into `folder`; return its id."""
    text = (ROOT / "docs" / "migrations.md").read_text(encoding="utf-8")
    match = re.search(
        r"```python\n# (?:\S+/)?(\d{4}_\w+)\.py\n(.*?)^```", text, re.MULTILINE | re.DOTALL
    )
    assert match, "docs/migrations.md should show a team migration file"
    revision, body = match.group(1), match.group(2)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{revision}.py").write_text(body, encoding="utf-8")
    return revision


@pytest.mark.moto_only  # dynalite cannot add a GSI to an on-demand table
async def test_documented_team_migration_adds_an_index_and_backfills_it(
    client: Any, name: str, tmp_path: Path
) -> None:
    tenants = [f"tenant/{n % 3}/conversation-{n}" for n in range(8)]
    others = [f"user#{n}" for n in range(4)]
    await add_sessions(client, name, tenants + others)
    before = await session_items(client, name)
    revision = docs_migration(tmp_path)
    result = await up(client, name, migrations_dir=tmp_path)
    assert result.applied == [revision]
    (backfill,) = result.backfills[revision]
    assert backfill["scanned"] == 12
    assert backfill["changed"] == 8 and backfill["unchanged"] == 4
    assert backfill["conflicts"] == 0 and backfill["gone"] == 0
    assert backfill["skipped"] >= 5  # the ledger and lock items were passed over
    table = (await client.describe_table(TableName=name))["Table"]
    # The library's own index is there from the table's creation; the team's is added.
    index = next(i for i in table["GlobalSecondaryIndexes"] if i["IndexName"] == "by_tenant")
    assert index["IndexStatus"] == "ACTIVE"
    found = await client.query(
        TableName=name,
        IndexName="by_tenant",
        KeyConditionExpression="tenant = :t",
        ExpressionAttributeValues={":t": {"S": "1"}},
    )
    assert sorted(i[SCHEMA.partition_key]["S"] for i in found["Items"]) == sorted(
        t for t in tenants if t.startswith("tenant/1/")
    )
    after = await session_items(client, name)
    for item_id in others:
        assert after[item_id] == before[item_id]  # untouched, byte for byte
    for item_id in tenants:
        changed = dict(after[item_id])
        assert changed.pop("tenant") == {"S": item_id.split("/")[1]}
        assert changed[SCHEMA.payload] == before[item_id][SCHEMA.payload]
        assert changed[SCHEMA.version] != before[item_id][SCHEMA.version]
    for item in (await reserved_items(client, name)).values():
        assert "tenant" not in item
    # The new attribute survives the application's next write.
    session = DynamoDBSession(tenants[0], client, name)
    await session.add_items([{"role": "assistant", "content": "later"}])
    assert (await session_items(client, name))[tenants[0]]["tenant"] == {"S": "0"}
    assert not (await up(client, name, migrations_dir=tmp_path)).changed
    # Its downgrade drops the index and the attribute again.
    reverted = await down(client, name, migrations_dir=tmp_path)
    assert reverted.reverted == [revision]
    table = (await client.describe_table(TableName=name))["Table"]
    # The team's index is gone; the library's own stays.
    assert [i["IndexName"] for i in table.get("GlobalSecondaryIndexes", [])] == [
        "sessions_by_owner",
        "sessions_by_parent",
    ]
    assert not any("tenant" in item for item in (await session_items(client, name)).values())


async def test_dry_run_counts_what_would_change_and_writes_nothing(
    client: Any, name: str, tmp_path: Path
) -> None:
    await add_sessions(client, name, [f"s{n}" for n in range(10)])
    write_migration(tmp_path, "0003_mark", BUILTIN_HEAD, PARAM_BACKFILL)
    before = await scan_all(client, name)

    def mark_even(item: BackfillItem) -> dict[str, Any] | None:
        return {"even": True} if int(item.session_id[1:]) % 2 == 0 else None

    screen = io.StringIO()
    terminal = Console(file=screen, force_terminal=True, width=120)
    result = await up(
        client,
        name,
        migrations_dir=tmp_path,
        dry_run=True,
        params={"fn": mark_even},
        reporter=RichReporter(terminal),
    )
    shown = screen.getvalue()
    assert "backfill 0003_mark" in shown and "changed 5" in shown  # the progress bar
    assert result.dry_run and result.applied == ["0003_mark"]
    (backfill,) = result.backfills["0003_mark"]
    assert (backfill["scanned"], backfill["changed"], backfill["unchanged"]) == (10, 5, 5)
    assert backfill["dry_run"] is True
    assert await scan_all(client, name) == before  # no item, no ledger record, no lock


async def test_cancelled_backfill_resumes_and_ends_with_exact_counts(
    client: Any, name: str, tmp_path: Path
) -> None:
    ids = [f"conversation-{n:02d}" for n in range(40)]
    await add_sessions(client, name, ids)
    # As if an earlier attempt had changed these: they carry the backfill's id.
    done_before = [i for n, i in enumerate(ids) if n % 7 == 3]
    for item_id in done_before:
        await client.update_item(
            TableName=name,
            Key={SCHEMA.partition_key: {"S": item_id}},
            UpdateExpression="SET stamped = :one ADD schema_version :id",
            ExpressionAttributeValues={":one": {"N": "1"}, ":id": {"SS": ["0005_stamp_items"]}},
        )
    left_alone = [i for n, i in enumerate(ids) if n % 5 == 0 and i not in done_before]
    write_migration(tmp_path, "0005_stamp_items", BUILTIN_HEAD, PARAM_BACKFILL)
    decided: list[str] = []
    midway = asyncio.Event()

    async def stamp_item(item: BackfillItem) -> dict[str, Any] | None:
        decided.append(item.session_id)
        if len(decided) == 12:
            midway.set()
        await asyncio.sleep(0)  # let the test's cancellation in between items
        return None if item.session_id in left_alone else {"stamped": 1}

    params = {"fn": stamp_item, "segments": 2, "page_size": 4}
    run = asyncio.create_task(up(client, name, migrations_dir=tmp_path, params=params))
    await asyncio.wait_for(midway.wait(), TIMEOUT)
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run
    stopped_after = len(decided)
    assert 12 <= stopped_after < 40 - len(done_before)
    assert not set(decided) & set(done_before)  # skipped without asking the function
    record = (await read_ledger(client, name))["0005_stamp_items"]
    assert record.status == "running"
    assert await read_lock(client, name) is None  # released on the way out
    entry = (await status(client, name, migrations_dir=tmp_path)).entries[-1]
    assert entry.state == "interrupted"
    reserved = await reserved_items(client, name)
    checkpoints = [reserved[k] for k in (checkpoint_id("0005_stamp_items", n) for n in (0, 1))]
    assert {c["attempt"]["S"] for c in checkpoints} == {record.attempt}

    def total(count: str) -> int:
        return sum(int(c[count]["N"]) for c in checkpoints)

    # Every item examined before the stop is in a checkpoint, and each change was written.
    assert total("scanned") == stopped_after + total("already")
    assert total("unchanged") == len(set(decided) & set(left_alone))
    stamped = {k for k, v in (await session_items(client, name)).items() if "stamped" in v}
    assert stamped == (set(decided) - set(left_alone)) | set(done_before)
    assert total("changed") == len(set(decided) - set(left_alone))

    result = await up(client, name, migrations_dir=tmp_path, params=params)
    assert result.resumed == ["0005_stamp_items"]
    (backfill,) = result.backfills["0005_stamp_items"]
    assert backfill["resumed"] == 2
    changed = 40 - len(done_before) - len(left_alone)
    assert (backfill["scanned"], backfill["changed"]) == (40, changed)
    assert (backfill["unchanged"], backfill["already"]) == (len(left_alone), len(done_before))
    assert backfill["changed"] + backfill["unchanged"] + backfill["already"] == len(ids)
    # Each item decided exactly once in total, the ones done before never.
    assert sorted(decided) == sorted(set(ids) - set(done_before))
    items = await session_items(client, name)
    assert all(items[i]["stamped"] == {"N": "1"} for i in ids if i not in left_alone)
    assert all(items[i]["schema_version"] == {"SS": ["0005_stamp_items"]} for i in stamped)
    assert not any("schema_version" in items[i] for i in left_alone)
    done = (await read_ledger(client, name))["0005_stamp_items"]
    assert done.status == "applied" and done.attempt == record.attempt
    assert done.details["backfills"][0]["changed"] == changed
    leftovers = [k for k in await reserved_items(client, name) if "#checkpoint#" in k]
    assert leftovers == []


async def test_application_write_racing_a_backfill_survives(
    client: Any, name: str, tmp_path: Path
) -> None:
    await add_sessions(client, name, ["racer", "bystander", "doomed", "expired"])
    writer = DynamoDBSession("racer", client, name)
    stale = DynamoDBSession("racer", client, name)
    assert len(await stale.get_items()) == 1  # remembers the pre-backfill version
    write_migration(tmp_path, "0003_label", BUILTIN_HEAD, PARAM_BACKFILL)
    seen: list[tuple[str, int]] = []

    async def label(item: BackfillItem) -> dict[str, Any] | None:
        record = item.record(table_name=name)
        seen.append((item.session_id, len(record.items)))
        if item.session_id == "racer" and len(seen) < 10 and len(record.items) == 1:
            # The application writes between the backfill's read and its update.
            await writer.add_items([{"role": "assistant", "content": "racing"}])
        if item.session_id == "doomed" and record.items:
            # Clearing leaves a tombstone head: a session item with no conversation.
            await DynamoDBSession("doomed", client, name).clear_session()
        if item.session_id == "expired" and record.items:
            # DynamoDB's TTL sweeper deletes an item outright.
            await client.delete_item(TableName=name, Key={SCHEMA.partition_key: {"S": "expired"}})
        return None if item.get("label") else {"label": f"{len(record.items)} items"}

    result = await up(client, name, migrations_dir=tmp_path, params={"fn": label})
    (backfill,) = result.backfills["0003_label"]
    assert backfill["conflicts"] == 3  # racer re-read once, doomed once, expired once
    assert backfill["changed"] == 3 and backfill["gone"] == 1
    assert ("racer", 2) in seen  # decided again on the re-read item
    assert ("doomed", 0) in seen  # decided again on the tombstone
    items = await session_items(client, name)
    assert "expired" not in items  # a deleted session is not resurrected by the update
    # The cleared session stays cleared: the backfill only labelled its tombstone.
    assert is_cleared(items["doomed"]) and items["doomed"]["label"] == {"S": "0 items"}
    assert await DynamoDBSession("doomed", client, name).get_items() == []
    assert items["racer"]["label"] == {"S": "2 items"}
    assert await writer.get_items() == [
        {"role": "user", "content": "racer"},
        {"role": "assistant", "content": "racing"},
    ]
    # A session object holding the pre-backfill state conflicts, re-reads, and
    # carries the backfilled attribute over.
    await stale.add_items([{"role": "user", "content": "after"}])
    after = (await session_items(client, name))["racer"]
    assert after["label"] == {"S": "2 items"}
    assert after["schema_version"] == {"SS": ["0003_label"]}
    assert [i["content"] for i in await stale.get_items()] == ["racer", "racing", "after"]


async def test_backfill_skips_reserved_items_and_refuses_library_attributes(
    client: Any, name: str, tmp_path: Path
) -> None:
    await add_sessions(client, name, ["a", "b"])
    write_migration(tmp_path, "0003_bad", BUILTIN_HEAD, PARAM_BACKFILL)
    seen: list[str] = []

    def bump_version(item: BackfillItem) -> dict[str, Any]:
        seen.append(item.session_id)
        return {SCHEMA.version: 1}

    with pytest.raises(MigrationError, match="may not set"):
        await up(client, name, migrations_dir=tmp_path, params={"fn": bump_version})
    assert seen and not any(is_reserved(s) for s in seen)
    assert (await read_ledger(client, name))["0003_bad"].status == "failed"


async def test_backfill_is_paced_by_consumed_write_capacity(
    client: Any, name: str, tmp_path: Path
) -> None:
    await add_sessions(client, name, [f"s{n}" for n in range(12)])
    write_migration(tmp_path, "0003_paced", BUILTIN_HEAD, PARAM_BACKFILL)
    # Each change is a transaction (twice the item's units, the checkpoint's, the lock check).
    budget = 16.0
    params = {"fn": lambda item: {"paced": True}, "segments": 1, "max_wcu": budget}
    started = time.monotonic()
    result = await up(client, name, migrations_dir=tmp_path, params=params)
    elapsed = time.monotonic() - started
    (backfill,) = result.backfills["0003_paced"]
    assert backfill["changed"] == 12
    units = backfill["write_units"]
    # One second of burst is free and the last write's cost is never waited for;
    # everything else had to be paid for by waiting.
    assert units > budget + 1.0
    assert elapsed >= (units - budget - 1.0) / budget * 0.9


async def test_a_backfill_write_whose_answer_was_lost_counts_once(
    make_client: Any, endpoint: str, tmp_path: Path, backend: str
) -> None:
    # With transactions the item write is the TransactWriteItems; without, an UpdateItem.
    op = "TransactWriteItems" if backend == "moto" else "UpdateItem"
    async with FaultProxy(endpoint) as proxy:
        client = await make_client(url=proxy.url)
        table = f"bf-{uuid.uuid4().hex[:12]}"
        await up(client, table)
        await add_sessions(client, table, ["a", "b", "c"])
        write_migration(tmp_path, "0005_tag", BUILTIN_HEAD, PARAM_BACKFILL)
        decided: list[str] = []
        lost: list[Any] = []

        def tag(item: BackfillItem) -> dict[str, Any] | None:
            decided.append(item.session_id)
            if len(decided) == 1:
                # This item's write lands but its answer is lost; the client resends it
                # and the copy fails its conditions on what the first one wrote.
                lost.append(proxy.add_rule(op=op, fault="drop_response", times=1))
            return {"tag": f"x{len(decided)}"}

        result = await up(client, table, migrations_dir=tmp_path, params={"fn": tag, "segments": 1})
        assert lost[0].hits == 1
        (backfill,) = result.backfills["0005_tag"]
        assert (backfill["changed"], backfill["unchanged"], backfill["already"]) == (3, 0, 0)
        assert backfill["conflicts"] == 0  # recognised as its own write, not a conflict
        assert backfill["written"] == 3
        assert sorted(decided) == ["a", "b", "c"]  # not re-decided
        items = await session_items(client, table)
        assert {items[i]["tag"]["S"] for i in "abc"} == {"x1", "x2", "x3"}
        assert all(items[i]["schema_version"] == {"SS": ["0005_tag"]} for i in "abc")


async def test_a_checkpoint_write_whose_answer_was_lost_is_not_an_error(
    make_client: Any, endpoint: str, tmp_path: Path, backend: str
) -> None:
    op = "TransactWriteItems" if backend == "moto" else "UpdateItem"
    async with FaultProxy(endpoint) as proxy:
        client = await make_client(url=proxy.url)
        table = f"bf-{uuid.uuid4().hex[:12]}"
        await up(client, table)
        await add_sessions(client, table, ["a", "b", "c", "d"])
        write_migration(tmp_path, "0005_look", BUILTIN_HEAD, PARAM_BACKFILL)
        lost: list[Any] = []

        def look(item: BackfillItem) -> None:
            if not lost:
                # Nothing changes, so the next write is the page's checkpoint alone.
                lost.append(proxy.add_rule(op=op, fault="drop_response", times=1))

        params = {"fn": look, "segments": 1, "page_size": 2}
        result = await up(client, table, migrations_dir=tmp_path, params=params)
        assert lost[0].hits == 1 and proxy.forwarded[op] >= 2
        (backfill,) = result.backfills["0005_look"]
        assert (backfill["scanned"], backfill["unchanged"], backfill["changed"]) == (4, 4, 0)
