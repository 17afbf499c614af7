"""Backfills apply a function to each item exactly once, and only under the lease.

A non-idempotent function (a counter) survives a ``kill -9`` of a real runner
process; a runner whose lease was taken over writes no item after the takeover
and says what it wrote; a function that raises names the session; session writes
carry ``schema_version`` over. Everything is judged by what the table holds.
"""

from __future__ import annotations

import asyncio
import io
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

import openai_agents_session
from openai_agents_session import DynamoDBSession
from openai_agents_session.migrations import (
    BackfillItem,
    LeaseLostError,
    MigrationError,
    MigrationLock,
    PlainReporter,
    read_ledger,
    stamp,
    unlock,
    up,
)
from openai_agents_session.migrations.backfill import BackfillLeaseLostError
from tests.support.migrations import BUILTIN_HEAD, PARAM_BACKFILL, session_items, write_migration
from tests.support.sessions import is_cleared, raw_get

TIMEOUT = 60

# A team migration whose backfill is not idempotent: applied twice, an item shows 2.
COUNTER = """
import asyncio
import os

decided = []


async def count(item):
    if os.environ.get("OAS_TEST_SLOW"):
        decided.append(item.session_id)
        await asyncio.sleep(0.005)  # slow enough to be killed halfway
        if len(decided) > 200:
            await asyncio.Event().wait()  # never finishes before the kill
    return {"counter": item.get("counter", 0) + 1}


async def upgrade(ctx):
    await ctx.backfill(count, segments=2, page_size=50)
"""

# The runner process: the library API, a short lease, nothing else.
RUNNER = """
import asyncio
import sys

from aiobotocore.session import get_session

from openai_agents_session.migrations import up


async def main(endpoint, table, folder):
    async with get_session().create_client(
        "dynamodb",
        region_name="us-east-1",
        endpoint_url=endpoint,
        aws_access_key_id="test",
        aws_secret_access_key="test",
    ) as client:
        await up(client, table, migrations_dir=folder, lease_seconds=2)


asyncio.run(main(*sys.argv[1:]))
"""


@pytest.fixture
async def name(client: Any) -> str:
    """A table migrated to the built-in head."""
    table = f"once-{uuid.uuid4().hex[:12]}"
    await up(client, table)
    return table


async def add_sessions(client: Any, table: str, ids: list[str]) -> None:
    await asyncio.gather(
        *(
            DynamoDBSession(i, client, table).add_items([{"role": "user", "content": i}])
            for i in ids
        )
    )


async def wait_for(predicate: Any, what: str, timeout: float = TIMEOUT) -> None:
    """Poll an async condition until it holds (never a fixed sleep)."""
    deadline = time.monotonic() + timeout
    while not await predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


async def test_a_killed_runner_applies_a_non_idempotent_backfill_exactly_once(
    client: Any, name: str, endpoint: str, tmp_path: Path, backend: str
) -> None:
    # moto copies the whole table for every transaction: a few hundred items keep this
    # test to seconds while a kill still lands among hundreds of pending changes.
    ids = [f"conversation-{n:03d}" for n in range(160)]
    await add_sessions(client, name, ids)
    folder = tmp_path / "versions"
    write_migration(folder, "0005_count", BUILTIN_HEAD, COUNTER)
    script = tmp_path / "runner.py"
    script.write_text(RUNNER, encoding="utf-8")
    package_root = os.path.dirname(os.path.dirname(openai_agents_session.__file__))
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join([package_root, os.environ.get("PYTHONPATH", "")]),
        OAS_TEST_SLOW="1",
        AWS_ACCESS_KEY_ID="test",
        AWS_SECRET_ACCESS_KEY="test",
    )
    process = subprocess.Popen(  # noqa: ASYNC220 - started once; the test then polls the table
        [sys.executable, str(script), endpoint, name, str(folder)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    counted: list[int] = []

    async def some_items_counted() -> bool:
        assert process.poll() is None, process.communicate()
        items = await session_items(client, name)
        counted[:] = [int(v["counter"]["N"]) for v in items.values() if "counter" in v]
        return len(counted) >= 40

    try:
        await wait_for(some_items_counted, "the runner to count 40 items")
        process.kill()  # SIGKILL: no cleanup, no final checkpoint, the lock left held
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == -9
    assert set(counted) == {1}
    interrupted = (await read_ledger(client, name))["0005_count"]
    assert interrupted.status == "running"

    # The next run waits out the dead runner's 2 s lease and resumes its attempt.
    result = await up(client, name, migrations_dir=folder, lock_timeout=30)
    assert result.resumed == ["0005_count"]
    items = await session_items(client, name)
    assert {i: v["counter"] for i, v in items.items()} == {i: {"N": "1"} for i in ids}
    assert all(v["schema_version"] == {"SS": ["0005_count"]} for v in items.values())
    (backfill,) = result.backfills["0005_count"]
    recorded = (await read_ledger(client, name))["0005_count"]
    assert recorded.status == "applied" and recorded.attempt == interrupted.attempt
    assert recorded.details["backfills"] == [backfill]
    assert backfill["scanned"] == 160 and backfill["unchanged"] == 0 and backfill["gone"] == 0
    assert backfill["written"] <= 160 - len(counted)  # this run did only what was left
    if backend == "moto":
        # The checkpoint is written in each change's transaction: it never lags.
        assert (backfill["changed"], backfill["already"]) == (160, 0)
    else:
        # Without transactions an item written just before the kill, whose checkpoint
        # was not, is found carrying the id: at most one per segment.
        assert backfill["changed"] + backfill["already"] == 160
        assert backfill["already"] <= backfill["segments"]


class Collecting(PlainReporter):
    """A plain reporter writing into a buffer the test reads."""

    def __init__(self) -> None:
        super().__init__(io.StringIO(), interval=3600)

    @property
    def text(self) -> str:
        assert isinstance(self.stream, io.StringIO)
        return self.stream.getvalue()


@pytest.mark.moto_only  # without transactions, a stale runner notices only at its next renewal
async def test_a_runner_that_lost_its_lease_writes_no_item_after_the_takeover(
    make_client: Any, name: str, tmp_path: Path
) -> None:
    client_a, client_b = await make_client(), await make_client()
    ids = [f"s{n:03d}" for n in range(60)]
    await add_sessions(client_b, name, ids)
    write_migration(tmp_path, "0005_owner", BUILTIN_HEAD, PARAM_BACKFILL)
    decided: list[str] = []
    parked, gate = asyncio.Event(), asyncio.Event()

    async def by_a(item: BackfillItem) -> dict[str, Any]:
        decided.append(item.session_id)
        if len(decided) > 10:
            if len(decided) >= 12:
                parked.set()  # both segments are now inside the function
            await gate.wait()
        return {"by": "A"}

    reporter = Collecting()
    params_a = {"fn": by_a, "segments": 2, "page_size": 7}
    runner_a = asyncio.create_task(
        up(client_a, name, migrations_dir=tmp_path, params=params_a, reporter=reporter)
    )
    await asyncio.wait_for(parked.wait(), TIMEOUT)
    # An operator decides A is dead: force-unlock, and B runs the migration to the end.
    assert await unlock(client_b, name) is not None
    result_b = await up(
        client_b, name, migrations_dir=tmp_path, params={"fn": lambda item: {"by": "B"}}
    )
    assert result_b.resumed == ["0005_owner"]
    items = await session_items(client_b, name)
    by_a_before = sorted(i for i, v in items.items() if v["by"] == {"S": "A"})
    assert 9 <= len(by_a_before) <= 11 and all("by" in v for v in items.values())
    (backfill,) = result_b.backfills["0005_owner"]
    # B resumed A's checkpoints: A's changes are counted once, and not redone.
    assert (backfill["changed"], backfill["already"]) == (60, 0)
    assert backfill["written"] == 60 - len(by_a_before)

    gate.set()  # A wakes up holding decisions for two more items
    with pytest.raises(BackfillLeaseLostError) as lost:
        await asyncio.wait_for(runner_a, TIMEOUT)
    after = await session_items(client_b, name)
    assert after == items  # not a single write of A landed after the takeover
    assert lost.value.written == {"0005_owner": len(by_a_before)}
    assert lost.value.last_keys["0005_owner"] in by_a_before
    message = str(lost.value)
    assert f"{len(by_a_before)} items for backfill '0005_owner'" in message
    assert "wrote nothing after" in message and "Fix:" in message
    assert f"{len(by_a_before)} items for backfill '0005_owner'" in reporter.text
    assert (await read_ledger(client_b, name))["0005_owner"].status == "applied"


async def test_a_function_that_raises_names_the_session_and_a_rerun_skips_done_items(
    client: Any, name: str, tmp_path: Path
) -> None:
    ids = [f"c{n:02d}" for n in range(12)]
    await add_sessions(client, name, ids)
    write_migration(tmp_path, "0005_bump", BUILTIN_HEAD, PARAM_BACKFILL)
    calls: list[str] = []

    def bump(item: BackfillItem) -> dict[str, Any]:
        calls.append(item.session_id)
        if item.session_id == "c07":
            raise ValueError("the secret content of c07")
        return {"counter": item.get("counter", 0) + 1}

    params = {"fn": bump, "segments": 1, "page_size": 5}
    with pytest.raises(MigrationError) as failed:
        await up(client, name, migrations_dir=tmp_path, params=params)
    message = str(failed.value)
    assert "backfill 0005_bump" in message and "ValueError" in message
    assert "session 'c07'" in message and repr(name) in message and "Fix:" in message
    assert "secret content" not in message  # user content stays in the chained cause
    assert failed.value.session_id == "c07" and failed.value.table_name == name
    assert isinstance(failed.value.__cause__, ValueError)
    assert (await read_ledger(client, name))["0005_bump"].status == "failed"
    first_run = {i for i, v in (await session_items(client, name)).items() if "counter" in v}
    assert first_run and "c07" not in first_run

    # The documented fix: clear the failed record, correct the function, run again.
    await stamp(client, name, to=BUILTIN_HEAD, force=True, migrations_dir=tmp_path)
    calls.clear()

    def fixed(item: BackfillItem) -> dict[str, Any]:
        calls.append(item.session_id)
        return {"counter": item.get("counter", 0) + 1}

    result = await up(client, name, migrations_dir=tmp_path, params={**params, "fn": fixed})
    (backfill,) = result.backfills["0005_bump"]
    assert backfill["resumed"] == 0  # a new attempt: the old checkpoints do not apply ...
    assert backfill["already"] == len(first_run)  # ... but the items say what was done
    assert backfill["changed"] == len(ids) - len(first_run)
    assert sorted(calls) == sorted(set(ids) - first_run)
    items = await session_items(client, name)
    assert {v["counter"]["N"] for v in items.values()} == {"1"}


async def test_session_writes_carry_schema_version_over(
    client: Any, name: str, tmp_path: Path
) -> None:
    threshold = 16 * 1024
    plain = DynamoDBSession("plain", client, name)
    await plain.add_items([{"role": "user", "content": f"m{n}"} for n in range(3)])
    paged = DynamoDBSession("paged", client, name, page_threshold=threshold)
    await paged.add_items([{"role": "user", "content": "x" * 6000} for _ in range(4)])
    compacted = DynamoDBSession("compacted", client, name)
    await compacted.add_items([{"role": "user", "content": f"c{n}"} for n in range(4)])
    cleared = DynamoDBSession("cleared", client, name)
    await cleared.add_items([{"role": "user", "content": "bye"}])
    stale = DynamoDBSession("stale", client, name)
    await stale.add_items([{"role": "user", "content": "before"}])
    write_migration(tmp_path, "0005_mark", BUILTIN_HEAD, PARAM_BACKFILL)
    await up(client, name, migrations_dir=tmp_path, params={"fn": lambda item: {"mark": 1}})
    applied = {"SS": ["0005_mark"]}

    async def stored(session_id: str) -> dict[str, Any]:
        item = await raw_get(client, name, session_id)
        assert item is not None
        return item

    assert (await stored("paged")).get("pages") is not None  # paged before the backfill
    await plain.add_items([{"role": "assistant", "content": "more"}])
    assert (await stored("plain"))["schema_version"] == applied
    assert await plain.pop_item() == {"role": "assistant", "content": "more"}
    assert (await stored("plain"))["schema_version"] == applied
    # A write that seals more of the history into new pages rewrites the head.
    before = (await stored("paged"))["pages"]
    await paged.add_items([{"role": "user", "content": "y" * 6000} for _ in range(4)])
    head = await stored("paged")
    assert head["pages"] != before and head["schema_version"] == applied
    assert len(await paged.get_items()) == 8
    snapshot = await compacted._get_compaction_snapshot(2)
    assert snapshot is not None
    assert await snapshot.replace_suffix(0, [{"role": "assistant", "content": "summary"}])
    assert (await stored("compacted"))["schema_version"] == applied
    assert len(await compacted.get_items()) == 3
    # A session object holding the pre-backfill state conflicts, re-reads, keeps it.
    await stale.add_items([{"role": "user", "content": "after"}])
    assert (await stored("stale"))["schema_version"] == applied
    assert (await stored("stale"))["mark"] == {"N": "1"}
    assert (await stale.get_record()).schema_version == frozenset({"0005_mark"})  # type: ignore[union-attr]
    # Clearing leaves a tombstone: an empty session, which drops it with the rest.
    await cleared.clear_session()
    tombstone = await stored("cleared")
    assert is_cleared(tombstone) and "schema_version" not in tombstone


async def test_a_degraded_write_needs_more_than_the_margin_left_on_the_lease(
    make_client: Any, table: str
) -> None:
    now = [1000.0]
    client = await make_client()
    lock = MigrationLock(client, table, lease_seconds=9, renew_interval=0, clock=lambda: now[0])
    await lock.acquire(timeout=0)
    writes: list[str] = []
    client.meta.events.register(
        "before-call.dynamodb.UpdateItem", lambda **_: writes.append("UpdateItem")
    )
    await lock.ensure_lease(3)  # 9 s left: nothing to do
    assert writes == [] and lock.lease_remaining() == 9
    now[0] += 6.5  # two renewals missed: 2.5 s left, under the margin
    await lock.ensure_lease(3)
    assert writes == ["UpdateItem"] and lock.lease_remaining() == 9  # renewed first
    await unlock(await make_client(), table)  # taken away by an operator
    now[0] += 7
    with pytest.raises(LeaseLostError):
        await lock.ensure_lease(3)
    assert lock.lost
