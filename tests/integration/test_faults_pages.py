"""Late, resent and failed writes against clears, pages and garbage collection.

The three clear cases are the ones an unconditional DeleteItem got wrong: a
resent or delayed write must neither delete a conversation started after a
clear nor bring a cleared one back. Each goes through the fault proxy, and the
truth is read straight from the endpoint.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from decimal import Decimal
from typing import Any

from openai_agents_session import DynamoDBSession, ThrottledError, WriteOutcomeUnknownError
from openai_agents_session.gc import collect_garbage
from openai_agents_session.models.pages import encode_page, new_page_id
from tests.integration import test_faults as faults
from tests.integration.test_faults import FAIL_FAST, Harness
from tests.support.sessions import is_cleared, raw_get, scan_pages, stored_history

# The fault tests' fixtures, shared: a proxy, a direct client, one table per module.
proxy = faults.proxy
direct = faults.direct
harness = faults.harness
sid = faults.sid
shared_table = faults.shared_table
table = faults.table


def note(tag: str) -> dict[str, Any]:
    return {"role": "user", "content": tag}


def big(i: int, size: int = 3_000) -> dict[str, Any]:
    words = " ".join(f"w{(i * 7919 + n) % 10007}" for n in range(size // 6))
    return {"role": "user", "content": f"{i}:{words}"[:size]}


# ------------------------------------------------------------ clear vs late writes


async def test_resent_clear_does_not_delete_a_conversation_started_after_it(
    harness: Harness,
) -> None:
    session = await harness.session()
    await session.add_items([note("old-a"), note("old-b")])
    proxy = harness.proxy
    proxy.add_rule(op="PutItem", fault="drop_response", times=1)
    resend = proxy.hold_next(op="PutItem")

    clearing = asyncio.create_task(session.clear_session())
    await resend.wait_arrived()
    # The clear landed, its answer was lost, its resend is held. "New chat":
    other = harness.other()
    await other.add_items([note("n")])
    assert await harness.stored() == [note("n")]
    resend.release()
    await asyncio.wait_for(clearing, FAIL_FAST)
    # The resend failed its condition and was recognised: n survives.
    assert await harness.stored() == [note("n")]
    await harness.assert_usable(session, [note("n")])


async def test_delayed_clear_landing_late_does_not_delete_a_newer_conversation(
    harness: Harness,
) -> None:
    session = await harness.session(read_timeout=1)
    await session.add_items([note("old")])
    late = harness.proxy.delay_deliver_next("PutItem", gated=True)

    await asyncio.wait_for(session.clear_session(), FAIL_FAST)  # the resend did it
    assert await harness.stored() == []
    other = harness.other()
    await other.add_items([note("n")])
    assert late.gate is not None
    late.gate.release()
    await asyncio.wait_for(late.delivered.wait(), FAIL_FAST)
    assert await harness.stored() == [note("n")]


async def test_delayed_blind_create_cannot_bring_a_cleared_message_back(
    harness: Harness,
) -> None:
    late = harness.proxy.delay_deliver_next("PutItem", gated=True)
    fresh = await harness.session(read_timeout=1)
    await asyncio.wait_for(fresh.add_items([note("m")]), FAIL_FAST)  # the resend did it
    assert await harness.stored() == [note("m")]
    await harness.other().clear_session()
    assert late.gate is not None
    late.gate.release()
    await asyncio.wait_for(late.delivered.wait(), FAIL_FAST)
    assert await harness.stored() == []
    assert is_cleared(await raw_get(harness.direct, harness.table, harness.sid))


# ------------------------------------------------------------------ paged writes


async def test_lost_response_on_a_sealing_write_is_recognised(harness: Harness) -> None:
    client = await harness.make_client(url=harness.proxy.url, read_timeout=2)
    session = DynamoDBSession(harness.sid, client, harness.table, page_threshold=16 * 1024)
    history = [big(i) for i in range(4)]
    await session.add_items(history)
    harness.proxy.add_rule(op="PutItem", fault="drop_response", times=1)
    sealing = [big(i) for i in range(4, 10)]  # pushes the head past the threshold
    await asyncio.wait_for(session.add_items(sealing), FAIL_FAST)
    assert harness.proxy.faults[("PutItem", "drop_response")] == 1
    stored = await stored_history(harness.direct, harness.table, harness.sid)
    assert stored == history + sealing
    head = await raw_get(harness.direct, harness.table, harness.sid)
    assert head is not None and "pages" in head
    assert await session.get_items() == history + sealing


async def test_a_fault_between_pages_and_commit_leaves_a_readable_session_and_an_orphan(
    harness: Harness,
) -> None:
    client = await harness.make_client(url=harness.proxy.url, read_timeout=2)
    session = DynamoDBSession(harness.sid, client, harness.table, page_threshold=16 * 1024)
    history = [big(i) for i in range(4)]
    await session.add_items(history)
    # Pages go through; every commit is throttled until the client gives up.
    harness.proxy.add_rule(op="PutItem", fault="throttle", times=None)
    try:
        await session.add_items([big(i) for i in range(4, 10)])
    except ThrottledError:
        pass
    else:
        raise AssertionError("the commit was throttled: add_items must fail")
    harness.proxy.clear_rules()
    assert await stored_history(harness.direct, harness.table, harness.sid) == history
    orphans = await scan_pages(harness.direct, harness.table, harness.sid)
    assert orphans, "the pages written before the failed commit are left unreferenced"
    # Young orphans are left alone (their commit could still be in flight) ...
    report = await collect_garbage(harness.direct, harness.table)
    assert report.removed == 0 and report.young >= len(orphans)
    # ... and removed once older than the grace period.
    report = await collect_garbage(harness.direct, harness.table, now=time.time() + 7200)
    assert set(report.removed_keys) >= {p["session_id"]["S"] for p in orphans}
    assert await scan_pages(harness.direct, harness.table, harness.sid) == []
    assert await DynamoDBSession(harness.sid, harness.direct, harness.table).get_items() == history
    await harness.assert_usable(session, history)


# ------------------------------------------------------------------------- gc


async def _plant_orphan(client: Any, table: str, session_id: str, age: float) -> list[str]:
    """Page parts as a writer that crashed before its commit leaves them, `age` seconds old."""
    created = Decimal(int((time.time() - age) * 1000)).scaleb(-3)
    _, parts = encode_page(
        session_id,
        new_page_id(),
        ['{"role":"user","content":"lost"}'],
        ttl=None,
        created_at=created,
    )
    for part in parts:
        await client.put_item(TableName=table, Item=part)
    return [part["session_id"]["S"] for part in parts]


async def test_gc_racing_live_writers_never_removes_a_referenced_page(
    make_client: Any, table: str, direct: Any
) -> None:
    ids = [f"gc-{uuid.uuid4().hex[:8]}" for _ in range(3)]
    old_orphans: list[str] = []
    young_orphans: list[str] = []
    for session_id in ids:
        old_orphans += await _plant_orphan(direct, table, session_id, age=7200)
        young_orphans += await _plant_orphan(direct, table, session_id, age=10)
    expected: dict[str, list[Any]] = {session_id: [] for session_id in ids}
    done = asyncio.Event()

    async def writer(session_id: str) -> None:
        client = await make_client()
        session = DynamoDBSession(session_id, client, table, page_threshold=16 * 1024)
        for n in range(25):
            item = big(n, 1_500)
            await session.add_items([item])
            expected[session_id].append(item)
            if n % 7 == 6:
                assert await session.pop_item() == item
                expected[session_id].pop()

    async def collector() -> int:
        client = await make_client()
        removed = 0
        while not done.is_set():
            report = await collect_garbage(client, table)
            removed += report.removed
        return removed

    gc_task = asyncio.create_task(collector())
    await asyncio.gather(*(writer(session_id) for session_id in ids))
    done.set()
    removed = await asyncio.wait_for(gc_task, FAIL_FAST)
    final = await collect_garbage(direct, table)
    for session_id in ids:
        # Every page every head lists is still there, and the history is whole.
        assert await stored_history(direct, table, session_id) == expected[session_id]
    remaining = {p["session_id"]["S"] for p in await scan_pages(direct, table)}
    assert not remaining & set(old_orphans)
    assert set(young_orphans) <= remaining
    assert removed + final.removed >= len(old_orphans)


async def test_gc_dry_run_reports_and_removes_nothing(table: str, direct: Any) -> None:
    session_id = f"gc-{uuid.uuid4().hex[:8]}"
    orphan = await _plant_orphan(direct, table, session_id, age=7200)
    report = await collect_garbage(direct, table, dry_run=True)
    assert set(orphan) <= set(report.removed_keys) and report.dry_run
    remaining = {p["session_id"]["S"] for p in await scan_pages(direct, table, session_id)}
    assert remaining == set(orphan)


async def test_a_clear_between_a_lost_response_and_its_resend_keeps_the_evidence(
    harness: Harness,
) -> None:
    # The tombstone carries recent_writes on, so the resend is still recognised
    # (the deleted item of older versions took that evidence with it).
    session = await harness.session()
    await session.add_items([note("first")])
    harness.proxy.add_rule(op="PutItem", fault="drop_response", times=1)
    resend = harness.proxy.hold_next(op="PutItem")
    adding = asyncio.create_task(session.add_items([note("mine")]))
    await resend.wait_arrived()
    await harness.other().clear_session()
    resend.release()
    await asyncio.wait_for(adding, FAIL_FAST)
    # Applied once, then cleared: not re-applied onto the empty session.
    assert await harness.stored() == []
    await harness.assert_usable(session, [])


async def test_server_error_after_the_write_landed_is_resolved_by_a_read(
    harness: Harness,
) -> None:
    # Retries off: the client reports the 500 as it is, with RetryAttempts 0.
    session = await harness.session(retries={"mode": "standard", "total_max_attempts": 1})
    await session.add_items([note("a")])
    harness.proxy.add_rule(op="PutItem", fault="server_error", times=1)
    await asyncio.wait_for(session.add_items([note("b")]), FAIL_FAST)
    assert harness.proxy.faults[("PutItem", "server_error")] == 1
    # The write landed; the session found its version and did not write again.
    assert harness.proxy.forwarded["PutItem"] == 2
    assert await harness.stored() == [note("a"), note("b")]
    await harness.assert_usable(session, [note("a"), note("b")])


# ----------------------------------------------------------------- cancellation


async def test_an_operation_cancelled_while_queued_is_never_written(harness: Harness) -> None:
    session = await harness.session()
    await session.add_items([note("a")])
    gate = harness.proxy.hold_next(op="PutItem")
    first = asyncio.create_task(session.add_items([note("first")]))
    await gate.wait_arrived()
    queued = asyncio.create_task(session.add_items([note("queued")]))
    await asyncio.sleep(0)  # let it queue behind the first on the session's lock
    queued.cancel()
    gate.release()
    await asyncio.wait_for(first, FAIL_FAST)
    try:
        await queued
    except asyncio.CancelledError:
        pass
    else:
        raise AssertionError("the queued add must report its cancellation")
    assert await harness.stored() == [note("a"), note("first")]
    assert harness.proxy.forwarded["PutItem"] == 2
    await harness.assert_usable(session, [note("a"), note("first")])


async def test_a_cancelled_write_to_a_silent_endpoint_settles_within_the_bound(
    harness: Harness,
) -> None:
    client = await harness.make_client(
        url=harness.proxy.url, read_timeout=30, retries={"mode": "legacy", "max_attempts": 5}
    )
    session = DynamoDBSession(harness.sid, client, harness.table, settle_timeout=1.5)
    await session.add_items([note("a")])
    harness.proxy.add_rule(op="PutItem", fault="never_answer", times=None, delay=60)
    started = time.monotonic()
    try:
        await asyncio.wait_for(session.add_items([note("b")]), 0.5)
    except WriteOutcomeUnknownError as exc:
        assert exc.outcome_unknown and "settle_timeout" in str(exc)
    else:
        raise AssertionError("the cancelled write could not settle: outcome unknown")
    assert time.monotonic() - started < 0.5 + 1.5 + 1.0
    harness.proxy.clear_rules()
    await harness.proxy.stop_listening()  # drop the held connections
    await harness.proxy.resume_listening()
    # The session forgot what it knew: it reads before writing again.
    await harness.assert_usable(session, [note("a")])
