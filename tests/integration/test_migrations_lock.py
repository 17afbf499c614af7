"""The migration lock: one runner at a time, lease renewal, fencing, takeover, unlock.

Leases here are short and configurable; the tests wait on events and on the
lock's own polling, never on fixed sleeps.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import pytest

from openai_agents_session.migrations import (
    LeaseLostError,
    LockBusyError,
    MigrationLock,
    read_ledger,
    read_lock,
    status,
    unlock,
    up,
)
from openai_agents_session.migrations.ledger import Ledger, LedgerEvent
from openai_agents_session.migrations.loader import load_migrations
from tests.support.migrations import BUILTIN_HEAD, BUILTINS, GATE, write_migration
from tests.support.proxy import FaultProxy

TIMEOUT = 30


@pytest.fixture
def name() -> str:
    return f"lock-{uuid.uuid4().hex[:12]}"


def _event(folder: Path | None = None, revision: str = BUILTIN_HEAD) -> LedgerEvent:
    migration = load_migrations(folder).get(revision)
    return LedgerEvent.of(migration, "applied", by="t", attempt="x")


async def test_two_runners_at_once_exactly_one_applies(
    make_client: Any, name: str, tmp_path: Path
) -> None:
    write_migration(tmp_path, "0003_gate", BUILTIN_HEAD, GATE)
    first, second = await make_client(), await make_client()
    entered, gate = asyncio.Event(), asyncio.Event()
    params = {"entered": entered, "gate": gate}
    winner = asyncio.create_task(up(first, name, migrations_dir=tmp_path, params=params))
    # The first runner holds the lock while it is inside 0003_gate ...
    await asyncio.wait_for(entered.wait(), TIMEOUT)
    # ... so the second, started meanwhile, waits out its lock timeout and gives up.
    with pytest.raises(LockBusyError) as busy:
        await up(second, name, migrations_dir=tmp_path, lock_timeout=0.3, params=params)
    assert busy.value.holder is not None and "pid" in busy.value.holder
    assert "migrate unlock --force" in str(busy.value)
    assert not winner.done()
    gate.set()
    result = await asyncio.wait_for(winner, TIMEOUT)
    assert result.applied == [*BUILTINS, "0003_gate"]
    ledger = await read_ledger(second, name)
    assert sorted(ledger) == sorted(result.applied)
    assert {r.status for r in ledger.values()} == {"applied"}
    assert await read_lock(first, name) is None  # released
    assert not (await status(second, name, migrations_dir=tmp_path)).dirty
    again = await up(second, name, migrations_dir=tmp_path, lock_timeout=0)
    assert not again.changed


async def test_simultaneous_runners_keep_the_ledger_consistent(
    make_client: Any, name: str, tmp_path: Path
) -> None:
    write_migration(tmp_path, "0003_team", BUILTIN_HEAD)
    clients = [await make_client() for _ in range(4)]
    outcomes = await asyncio.gather(
        *(up(c, name, migrations_dir=tmp_path, lock_timeout=20) for c in clients),
        return_exceptions=True,
    )
    results = [o for o in outcomes if not isinstance(o, BaseException)]
    failures = [o for o in outcomes if isinstance(o, BaseException)]
    # moto evaluates concurrent conditional writes without isolation, so two runners
    # can both "take" a free lock; the fence then stops the one that was overwritten.
    assert all(isinstance(f, LeaseLostError) for f in failures), failures
    assert results
    recorded = {r for result in results for r in (*result.adopted, *result.applied)}
    assert recorded == {*BUILTINS, "0003_team"}
    ledger = await read_ledger(clients[0], name)
    assert set(ledger) == recorded
    assert {r.status for r in ledger.values()} <= {"applied", "adopted"}
    assert not (await status(clients[0], name, migrations_dir=tmp_path)).dirty
    # The ledger records what happened: the runner that created the table applied 0001.
    creators = [result for result in results if result.created_table]
    if creators:
        assert "0001_create_table" in creators[0].applied
        assert ledger["0001_create_table"].status == "applied"
        assert ledger["0001_create_table"].details.get("created") is True


async def test_a_runner_whose_lease_was_taken_over_cannot_write_the_ledger(
    client: Any, table: str
) -> None:
    stale = MigrationLock(client, table, lease_seconds=0.3, renew_interval=0)
    await stale.acquire(timeout=0)
    # The second runner polls until the stale lease expires, then takes over.
    fresh = MigrationLock(client, table, lease_seconds=30)
    await asyncio.wait_for(fresh.acquire(timeout=10), TIMEOUT)
    assert fresh.token is not None and stale.token is not None
    assert fresh.token > stale.token
    with pytest.raises(LeaseLostError, match="expired or was taken over"):
        await Ledger(table).append(stale, [_event()])
    assert stale.lost
    assert await read_ledger(client, table) == {}
    with pytest.raises(LeaseLostError):
        await stale.renew()
    # The holder's writes go through.
    await Ledger(table).append(fresh, [_event()])
    assert list(await read_ledger(client, table)) == [BUILTIN_HEAD]
    await stale.release()  # a no-op for a lost lease: the new holder keeps it
    assert (await read_lock(client, table)) is not None
    await fresh.release()
    assert await read_lock(client, table) is None


async def test_an_expired_lease_fences_writes_even_before_a_takeover(
    client: Any, table: str
) -> None:
    now = [1000.0]
    lock = MigrationLock(client, table, lease_seconds=5, renew_interval=0, clock=lambda: now[0])
    await lock.acquire(timeout=0)
    now[0] += 6  # the lease ran out by this runner's own clock
    with pytest.raises(LeaseLostError):
        await Ledger(table).append(lock, [_event()])
    assert await read_ledger(client, table) == {}


async def test_renewal_keeps_the_lease_past_its_length(make_client: Any, table: str) -> None:
    holder = MigrationLock(await make_client(), table, lease_seconds=1.0, renew_interval=0.25)
    await holder.acquire(timeout=0)
    try:
        waiter = MigrationLock(await make_client(), table, lease_seconds=1.0)
        # Without renewal the lease would end after 1 s and the waiter would get it.
        with pytest.raises(LockBusyError):
            await waiter.acquire(timeout=1.6)
        await Ledger(table).append(holder, [_event()])
    finally:
        await holder.release()
    await waiter.acquire(timeout=1)
    assert waiter.token is not None and holder.token is None
    await waiter.release()


async def test_lost_lease_stops_a_running_migration_from_recording(
    make_client: Any, name: str, tmp_path: Path
) -> None:
    write_migration(tmp_path, "0003_gate", BUILTIN_HEAD, GATE)
    client_a, client_b = await make_client(), await make_client()
    await up(client_a, name)
    entered, gate = asyncio.Event(), asyncio.Event()
    runner_a = asyncio.create_task(
        up(client_a, name, migrations_dir=tmp_path, params={"entered": entered, "gate": gate})
    )
    await asyncio.wait_for(entered.wait(), TIMEOUT)
    # An operator decides A is dead: force-unlock, and B runs the migration.
    released = await unlock(client_b, name)
    assert released is not None and released.holder
    open_gate = asyncio.Event()
    open_gate.set()
    result_b = await up(
        client_b,
        name,
        migrations_dir=tmp_path,
        params={"entered": asyncio.Event(), "gate": open_gate},
    )
    assert result_b.applied == ["0003_gate"]
    assert result_b.resumed == ["0003_gate"]  # A's "running" record was resumed
    recorded = (await read_ledger(client_b, name))["0003_gate"]
    gate.set()  # A wakes up and tries to record its result
    with pytest.raises(LeaseLostError):
        await asyncio.wait_for(runner_a, TIMEOUT)
    assert (await read_ledger(client_b, name))["0003_gate"] == recorded


async def test_unlock_force_ends_any_lease_and_tokens_keep_increasing(
    client: Any, table: str
) -> None:
    assert await unlock(client, table) is None
    first = MigrationLock(client, table, lease_seconds=3600, renew_interval=0)
    await first.acquire(timeout=0)
    with pytest.raises(LockBusyError):
        await MigrationLock(client, table).acquire(timeout=0.2)
    released = await unlock(client, table)
    assert released is not None and released.owner == first.owner
    second = MigrationLock(client, table, renew_interval=0)
    await second.acquire(timeout=0)
    assert second.token is not None and first.token is not None
    assert second.token > first.token
    with pytest.raises(LeaseLostError):
        await Ledger(table).append(first, [_event()])
    await second.release()


async def test_acquiring_survives_a_lost_response(
    make_client: Any, endpoint: str, table: str
) -> None:
    async with FaultProxy(endpoint) as proxy:
        client = await make_client(url=proxy.url)
        lost = proxy.add_rule(op="UpdateItem", fault="drop_response", times=1)
        lock = MigrationLock(client, table, renew_interval=0)
        # The acquisition lands, its answer is lost, the client resends it and the
        # resent copy fails its condition: the lock must recognise itself as holder.
        await lock.acquire(timeout=0)
        assert lost.hits == 1 and proxy.forwarded["UpdateItem"] == 2
        held = await read_lock(client, table)
        assert held is not None and held.owner == lock.owner and lock.token == held.token
        await Ledger(table).append(lock, [_event()])
        await lock.release()


async def test_the_runner_that_created_the_table_records_it_after_a_racing_adoption(
    make_client: Any, endpoint: str, name: str
) -> None:
    # Reproduction: two `up` on a fresh table; the creator's lock request is held
    # while the other runner takes the lock and adopts the table the creator made.
    async with FaultProxy(endpoint) as proxy:
        creator_client = await make_client(url=proxy.url)
        held = proxy.hold_next(op="UpdateItem")  # the creator's lock acquisition
        creator = asyncio.create_task(up(creator_client, name))
        await held.wait_arrived(TIMEOUT)
        adopter = await up(await make_client(), name)
        assert adopter.adopted[:1] == ["0001_create_table"] and not adopter.created_table
        held.release()
        result = await asyncio.wait_for(creator, TIMEOUT)
    assert result.created_table and result.applied == ["0001_create_table"]
    record = (await read_ledger(await make_client(), name))["0001_create_table"]
    assert record.status == "applied" and record.details.get("created") is True
