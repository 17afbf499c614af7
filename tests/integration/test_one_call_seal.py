"""A large append's seal in one TransactWriteItems: lost answers, races, a taken key.

An append of at least a quarter of the paged head, onto a session that already
has pages, puts its new segment and the head in one transaction. Every test
reads the truth straight from the endpoint: the history stored exactly once,
and no page part the head does not list. On dynalite, which has no
TransactWriteItems, the same tests run through the two-call fallback.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

import pytest

from openai_agents_session import DynamoDBSession, _plan
from openai_agents_session.models.codec import decode_item, encode_key
from openai_agents_session.models.pages import part_keys
from tests.conftest import count_calls
from tests.integration import test_faults as faults
from tests.integration.test_faults import FAIL_FAST, RETRY_MODES, Harness
from tests.support.sessions import raw_get, raw_put, scan_pages, stored_history

# The fault tests' fixtures: a proxy, a direct client, one table for the module.
proxy, direct, harness, sid, table = (
    faults.proxy,
    faults.direct,
    faults.harness,
    faults.sid,
    faults.table,
)
shared_table = faults.shared_table

SEAL = "TransactWriteItems"


def big(tag: str, size: int = 26_000) -> dict[str, Any]:
    """A message past the 24 KiB paged head on its own: its append seals."""
    words = " ".join(f"{tag}{n % 9973}" for n in range(size // 3))
    return {"role": "user", "content": words[:size]}


async def paged(session: DynamoDBSession) -> list[Any]:
    """Give the session pages (its first seal takes the two calls) and return its history."""
    first = [big("first")]
    await session.add_items(first)
    return first


async def assert_exact(direct: Any, table: str, sid: str, expected: list[Any]) -> None:
    """The stored history is `expected`, and every stored page part is listed by the head."""
    assert await stored_history(direct, table, sid) == expected
    head = await raw_get(direct, table, sid)
    assert head is not None
    listed = set()
    if "pages" in head:
        for ref in decode_item(head, table_name=table).page_refs:
            listed.update(part_keys(sid, ref))
    found = {part["session_id"]["S"] for part in await scan_pages(direct, table, sid)}
    assert found == listed, "page parts the head does not list were left behind"


@pytest.mark.parametrize(
    ("fault", "retries"),
    [
        ("drop_response", RETRY_MODES["legacy"]),  # the client resends the transaction
        ("server_error", {"mode": "standard", "total_max_attempts": 1}),  # Lost: a read tells
    ],
)
async def test_a_lost_answer_to_a_one_call_seal_stores_the_append_once(
    harness: Harness, backend: str, fault: str, retries: dict[str, Any]
) -> None:
    session = await harness.session(retries=retries)
    history = await paged(session)
    rule = harness.proxy.add_rule(op=SEAL, fault=fault, times=1)  # type: ignore[arg-type]
    added = [big("mine")]
    await asyncio.wait_for(session.add_items(added), FAIL_FAST)
    assert rule.hits == 1
    await assert_exact(harness.direct, harness.table, harness.sid, history + added)
    if backend == "moto":
        assert harness.proxy.forwarded["BatchWriteItem"] == 1  # the first seal's only
    await harness.assert_usable(session, history + added)


@pytest.mark.moto_only  # a resend of a transaction that landed
async def test_a_resend_held_past_another_writers_seal_is_recognised(
    harness: Harness,
) -> None:
    session = await harness.session()
    history = await paged(session)
    harness.proxy.add_rule(op=SEAL, fault="drop_response", times=1)
    resend = harness.proxy.hold_next(op=SEAL)
    mine, theirs = [big("mine")], [big("theirs")]
    adding = asyncio.create_task(session.add_items(mine))
    await resend.wait_arrived()
    # Our seal landed, its answer was lost and the resend is held; another writer
    # seals on top of it. The resend then fails both its part and head conditions.
    await harness.other().add_items(theirs)
    resend.release()
    await asyncio.wait_for(adding, FAIL_FAST)
    await assert_exact(harness.direct, harness.table, harness.sid, history + mine + theirs)
    await harness.assert_usable(session, history + mine + theirs)


async def test_the_loser_of_two_seals_is_cancelled_whole_and_writes_again(
    client: Any, table: str, backend: str
) -> None:
    sid = f"race-{uuid.uuid4().hex[:8]}"
    winner = DynamoDBSession(sid, client, table)
    loser = DynamoDBSession(sid, client, table)
    history = await paged(winner)
    assert await loser.get_items() == history
    calls = count_calls(client)
    await winner.add_items([big("won")])
    # The loser's memory is stale: its transaction is cancelled on the head's
    # condition, with nothing of it written, so there are no parts to delete.
    await loser.add_items([big("lost")])
    expected = [*history, big("won"), big("lost")]
    await assert_exact(client, table, sid, expected)
    if backend == "moto":
        assert calls[SEAL] == 3 and calls["BatchWriteItem"] == 0


async def test_concurrent_seals_each_land_once_and_leave_no_orphan(
    make_client: Any, client: Any, table: str
) -> None:
    sid = f"both-{uuid.uuid4().hex[:8]}"
    history = await paged(DynamoDBSession(sid, client, table))
    writers = [DynamoDBSession(sid, await make_client(), table) for _ in range(3)]
    for writer in writers:
        await writer.get_items()
    batches = [[big(f"w{n}-a"), big(f"w{n}-b", 8_000)] for n in range(len(writers))]
    await asyncio.gather(*(w.add_items(b) for w, b in zip(writers, batches, strict=True)))
    stored = await stored_history(client, table, sid)
    assert stored is not None and stored[:1] == history and len(stored) == 7
    for batch in batches:  # each batch once, in one piece
        at = stored.index(batch[0])
        assert stored[at : at + 2] == batch
    await assert_exact(client, table, sid, stored)


@pytest.mark.moto_only  # the two-call fallback puts pages unconditionally
async def test_a_taken_page_key_is_never_overwritten(
    client: Any, table: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    sid = f"taken-{uuid.uuid4().hex[:8]}"
    session = DynamoDBSession(sid, client, table)
    history = await paged(session)
    # Someone else's item already sits at the key of the next page (64 random
    # bits make this a forged or stale item, not a collision).
    taken = "0123456789abcdef"
    squatter = {
        "session_id": {"S": f"__oas__#page#{sid}#{taken}#0"},
        "page_of": {"S": "someone-else"},
    }
    await raw_put(client, table, squatter)
    ids = iter([taken])
    fresh = _plan.new_page_id
    monkeypatch.setattr(_plan, "new_page_id", lambda: next(ids, None) or fresh())
    await session.add_items([big("mine")])
    kept = await client.get_item(TableName=table, Key=encode_key(squatter["session_id"]["S"]))
    assert kept["Item"] == squatter
    assert await stored_history(client, table, sid) == [*history, big("mine")]


async def test_an_endpoint_without_transactions_is_learned_once_with_one_warning(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    # The proxy answers every TransactWriteItems as dynalite does.
    rule = harness.proxy.add_rule(
        op=SEAL, fault="throttle", error_code="UnknownOperationException", times=None
    )
    session = await harness.session()
    history = await paged(session)
    added = [big(f"n{n}") for n in range(3)]
    with caplog.at_level(logging.WARNING, logger="openai_agents_session"):
        for item in added:
            await session.add_items([item])
    assert rule.hits == 1  # learned once for this client
    warnings = [r for r in caplog.records if "no TransactWriteItems" in r.getMessage()]
    assert len(warnings) == 1
    assert harness.proxy.forwarded["BatchWriteItem"] == 1 + len(added)
    await assert_exact(harness.direct, harness.table, harness.sid, history + added)


async def test_a_put_refused_while_another_writers_seal_holds_the_head_is_retried(
    harness: Harness,
) -> None:
    # Today (before): DynamoDB refuses a PutItem on an item an ongoing transaction
    # holds with TransactionConflictException, and add_items raised DynamoDBError.
    session = await harness.session()
    first = [{"role": "user", "content": "a"}]
    await session.add_items(first)
    rule = harness.proxy.add_rule(
        op="PutItem", fault="throttle", error_code="TransactionConflictException", times=1
    )
    added = [{"role": "user", "content": "b"}]
    await asyncio.wait_for(session.add_items(added), FAIL_FAST)
    assert rule.hits == 1
    await assert_exact(harness.direct, harness.table, harness.sid, first + added)
