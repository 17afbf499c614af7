"""The ledger never lies: each reproduction from the migrations trial, against a real endpoint.

An interrupted rollback, a bare stamp over team records, TTL on another
attribute, a PROVISIONED table, the audit trail, and hand-made tampering (a
deleted event, a deleted index, an edited event, TTL disabled by hand).
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import pytest

from openai_agents_session import DynamoDBSession, create_table_if_not_exists
from openai_agents_session.migrations import (
    LEDGER_INDEX_ID,
    DirtyLedgerError,
    DriftError,
    StampRefusedError,
    check,
    down,
    history,
    ledger_event_id,
    load_ledger,
    plan,
    stamp,
    status,
    up,
)
from openai_agents_session.migrations.keys import key
from tests.support.migrations import BUILTIN_HEAD, reserved_items, session_items, write_migration

TIMEOUT = 30

# A reversible team migration whose rollback waits on a gate half-way, so a test can
# interrupt it at a known point (no sleeps).
GATED_ROLLBACK = """
async def upgrade(ctx):
    await ctx.backfill(lambda item: {"flag": "on"}, segments=1, page_size=5)


async def downgrade(ctx):
    seen = ctx.params.setdefault("seen", [])

    async def undo(item):
        seen.append(item.session_id)
        if len(seen) == ctx.params.get("stop_after", 10**9):
            ctx.params["entered"].set()
            await ctx.params["gate"].wait()
        return {"flag": None} if item.get("flag") else None

    await ctx.backfill(undo, segments=1, page_size=5)
"""


@pytest.fixture
def name() -> str:
    return f"ledger-{uuid.uuid4().hex[:12]}"


async def _sessions(client: Any, table: str, count: int) -> None:
    for n in range(count):
        await DynamoDBSession(f"s-{n:03d}", client, table).add_items(
            [{"role": "user", "content": f"m{n}"}]
        )


async def test_an_interrupted_down_keeps_every_check_failing_until_down_reruns(
    client: Any, name: str, tmp_path: Path
) -> None:
    write_migration(tmp_path, "0001_flag", None, GATED_ROLLBACK)
    await up(client, name)
    await _sessions(client, name, 30)
    await up(client, name, migrations_dir=tmp_path)
    entered, gate = asyncio.Event(), asyncio.Event()
    params: dict[str, Any] = {"entered": entered, "gate": gate, "stop_after": 12}
    rollback = asyncio.create_task(down(client, name, migrations_dir=tmp_path, params=params))
    await asyncio.wait_for(entered.wait(), TIMEOUT)
    rollback.cancel()  # Ctrl-C half-way through the rollback's backfill ...
    gate.set()  # ... which finishes the item in hand, then stops
    with pytest.raises(asyncio.CancelledError):
        await rollback
    flagged = [k for k, v in (await session_items(client, name)).items() if "flag" in v]
    assert 0 < len(flagged) < 30  # really half-way

    report = await status(client, name, migrations_dir=tmp_path)
    assert [e.state for e in report.migrations if e.chain == "team"] == ["reverting"]
    assert report.dirty
    fix = "rerun `openai-agents-session migrate down --to base`"
    assert fix in report.problems[0]
    assert (await check(client, name, migrations_dir=tmp_path)).dirty == report.problems
    with pytest.raises(DirtyLedgerError, match="did not finish"):
        await up(client, name, migrations_dir=tmp_path)
    assert (await plan(client, name, migrations_dir=tmp_path)).problems == report.problems

    finished = await down(client, name, migrations_dir=tmp_path)  # continues the rollback
    assert finished.reverted == ["0001_flag"]
    assert not any("flag" in v for v in (await session_items(client, name)).values())
    after = await status(client, name, migrations_dir=tmp_path)
    assert not after.dirty and after.pending == ["0001_flag"]
    actions = [(e.revision, e.action) for e in (await history(client, name)).events]
    assert actions[-4:] == [
        ("0001_flag", "applied"),
        ("0001_flag", "reverting"),
        ("0001_flag", "reverting"),
        ("0001_flag", "reverted"),
    ]


async def test_down_dry_run_counts_and_writes_nothing(
    client: Any, name: str, tmp_path: Path
) -> None:
    write_migration(tmp_path, "0001_flag", None, GATED_ROLLBACK)
    await up(client, name)
    await _sessions(client, name, 7)
    await up(client, name, migrations_dir=tmp_path)
    before = await session_items(client, name)
    ledger_before = await reserved_items(client, name)
    preview = await down(client, name, migrations_dir=tmp_path, dry_run=True)
    assert preview.dry_run and preview.reverted == ["0001_flag"]
    (counts,) = preview.backfills["0001_flag"]
    assert counts["changed"] == 7 and counts["dry_run"] is True
    assert await session_items(client, name) == before
    assert await reserved_items(client, name) == ledger_before


async def test_a_bare_stamp_never_unrecords_team_migrations(
    client: Any, name: str, tmp_path: Path
) -> None:
    write_migration(tmp_path, "0001_stats", None)
    await up(client, name, migrations_dir=tmp_path)
    bare = await stamp(client, name, migrations_dir=tmp_path)
    assert bare.unstamped == [] and bare.stamped == []
    assert (await status(client, name, migrations_dir=tmp_path)).pending == []
    # Moving the ledger back past an applied migration needs --force; --dry-run shows it.
    write_migration(tmp_path, "0002_more", "0001_stats")
    await up(client, name, migrations_dir=tmp_path)
    with pytest.raises(StampRefusedError, match="0002_more past 0001_stats"):
        await stamp(client, name, to="0001_stats", migrations_dir=tmp_path)
    before = await reserved_items(client, name)
    preview = await stamp(
        client, name, to="0001_stats", force=True, dry_run=True, migrations_dir=tmp_path
    )
    assert preview.dry_run and preview.unstamped == ["0002_more"]
    assert await reserved_items(client, name) == before  # nothing written, not even the lock
    forced = await stamp(client, name, to="0001_stats", force=True, migrations_dir=tmp_path)
    assert forced.unstamped == ["0002_more"]
    assert (await status(client, name, migrations_dir=tmp_path)).pending == ["0002_more"]


async def test_the_ledger_is_an_append_only_history(client: Any, name: str, tmp_path: Path) -> None:
    path = write_migration(
        tmp_path, "0001_boom", None, "async def upgrade(ctx):\n    raise KeyError('x')\n"
    )
    await up(client, name)
    with pytest.raises(Exception, match="0001_boom failed"):
        await up(client, name, migrations_dir=tmp_path)
    path.write_text(path.read_text().replace("raise KeyError('x')", "pass"))
    await stamp(client, name, to=BUILTIN_HEAD, force=True, migrations_dir=tmp_path)
    await up(client, name, migrations_dir=tmp_path)
    # Stamping an applied revision again keeps its "applied" record as it was.
    kept = await stamp(client, name, to="0001_boom", migrations_dir=tmp_path)
    assert kept.stamped == [] and "0001_boom" in kept.kept
    events = (await history(client, name)).events
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    team = [(e.action, e.error is not None) for e in events if e.revision == "0001_boom"]
    assert team == [
        ("applying", False),
        ("failed", True),
        ("unstamped", False),
        ("applying", False),
        ("applied", False),
    ]
    record = (await load_ledger(client, name)).records()["0001_boom"]
    assert record.status == "applied" and record.duration >= 0


async def test_ttl_on_another_attribute_is_drift_everywhere_and_nothing_is_recorded(
    client: Any, name: str, backend: str
) -> None:
    if backend != "moto":
        pytest.skip("dynalite has no TTL API")
    await create_table_if_not_exists(client, name, enable_ttl=False)
    await client.update_time_to_live(
        TableName=name,
        TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"},
    )
    survey = await plan(client, name)
    assert survey.drift and "found ENABLED on 'expires_at'" in survey.drift[0]
    for dry_run in (True, False):
        with pytest.raises(DriftError, match="expires_at"):
            await up(client, name, dry_run=dry_run)
    assert await reserved_items(client, name) == {} or set(await reserved_items(client, name)) <= {
        "__oas__#lock"
    }
    assert (await load_ledger(client, name)).empty


async def test_a_provisioned_table_is_remembered_by_the_ledger(
    client: Any, name: str, backend: str
) -> None:
    created = await up(client, name, billing_mode="PROVISIONED")
    assert created.created_table
    assert (await status(client, name)).billing_mode == "PROVISIONED"
    report = await check(client, name)
    assert not any("billing" in line for line in report.live), report.live
    other = f"{name}-adopted"
    await create_table_if_not_exists(client, other, billing_mode="PROVISIONED")
    await up(client, other)
    assert (await status(client, other)).billing_mode == "PROVISIONED"
    assert not any("billing" in line for line in (await check(client, other)).live)


async def test_a_deleted_event_or_index_is_found_and_up_refuses(
    client: Any, name: str, tmp_path: Path
) -> None:
    write_migration(tmp_path, "0001_stats", None)
    await up(client, name, migrations_dir=tmp_path)
    saved = await reserved_items(client, name)
    # One event deleted by hand: a hole, not a silently pending migration.
    await client.delete_item(TableName=name, Key=key(ledger_event_id(2)))
    report = await status(client, name, migrations_dir=tmp_path)
    assert report.dirty and "ledger event 2 of" in report.problems[0]
    with pytest.raises(DirtyLedgerError, match="is missing"):
        await up(client, name, migrations_dir=tmp_path)
    await client.put_item(TableName=name, Item=saved[ledger_event_id(2)])
    assert not (await status(client, name, migrations_dir=tmp_path)).dirty

    # The index deleted: history still shows every event, and up does not re-adopt.
    await client.delete_item(TableName=name, Key=key(LEDGER_INDEX_ID))
    shown = await history(client, name)
    assert len(shown.events) == len([k for k in saved if "#event#" in k])
    assert "index item" in shown.problems[0] and "stamp --force" in shown.problems[0]
    with pytest.raises(DirtyLedgerError, match="index item"):
        await up(client, name, migrations_dir=tmp_path)
    # The documented repair: accept the ledger as found; the event says what was accepted.
    repaired = await stamp(client, name, to="0001_stats", force=True, migrations_dir=tmp_path)
    assert repaired.repaired and repaired.stamped == []
    assert not (await status(client, name, migrations_dir=tmp_path)).dirty
    last = (await history(client, name)).events[-1]
    assert last.action == "repaired" and "index item" in last.details["acknowledged"][0]


async def test_an_edited_event_breaks_the_hash_chain(client: Any, name: str) -> None:
    await up(client, name)
    item = (await reserved_items(client, name))[ledger_event_id(1)]
    item["checksum"] = {"S": "0" * 64}
    await client.put_item(TableName=name, Item=item)
    report = await status(client, name)
    assert any("ledger event 1 (0001_create_table) was modified" in p for p in report.problems)


async def test_ttl_disabled_by_hand_is_drift_with_a_fix_and_up_refuses(
    client: Any, name: str, backend: str
) -> None:
    if backend != "moto":
        pytest.skip("dynalite has no TTL API")
    await up(client, name)
    await client.update_time_to_live(
        TableName=name, TimeToLiveSpecification={"Enabled": False, "AttributeName": "ttl"}
    )
    report = await check(client, name)
    (line,) = [x for x in report.live if x.startswith("TTL")]
    assert "Fix: enable it again with `aws dynamodb update-time-to-live" in line
    with pytest.raises(DriftError, match="0002_enable_ttl: TTL: expected ENABLED"):
        await up(client, name)
    assert (await plan(client, name)).drift
