"""Network faults between the session and DynamoDB lose and duplicate nothing.

Every test puts `FaultProxy` between an aiobotocore client and the real endpoint
and checks, by reading the item directly from the endpoint, that each batch is
stored exactly once and each pop removes exactly one item; that a typed error
comes only once the client's retries are spent, and quickly; and that the same
session object works exactly afterwards.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiobotocore.session import get_session

from openai_agents_session import (
    DynamoDBSession,
    DynamoDBUnavailableError,
    OperationMetrics,
    ThrottledError,
    WriteOutcomeUnknownError,
    create_table_if_not_exists,
)
from openai_agents_session.models.schema import RECENT_WRITES_KEPT
from tests.conftest import client_config, count_calls
from tests.support.proxy import THROTTLE_CODES, FaultProxy

ClientFactory = Callable[..., Awaitable[Any]]

# Generous bounds: they catch hangs and runaway retries, not small slowdowns.
FAIL_FAST = 10.0
# botocore's `max_attempts` counts retries: both configurations make 3 attempts.
# Legacy mode (aiobotocore's default) backs off 50 ms then 100 ms for DynamoDB,
# which keeps the suite fast; standard mode waits up to 1 s, then up to 2 s.
RETRY_MODES: dict[str, dict[str, Any]] = {
    "legacy": {"mode": "legacy", "max_attempts": 2},
    "standard": {"mode": "standard", "max_attempts": 2},
}


def batch(tag: str, size: int = 2) -> list[Any]:
    return [{"role": "user", "content": f"{tag}-{i}"} for i in range(size)]


class Recorder(list[OperationMetrics]):
    """Collects the session's `OperationMetrics`."""

    def last(self, operation: str) -> OperationMetrics:
        return [m for m in self if m.operation == operation][-1]


@pytest.fixture(scope="module")
def shared_table(endpoint: str) -> str:
    """One table for the module: every test has its own session id, and creating a
    table costs a second on dynalite, which activates tables after a delay."""
    name = f"faults-{uuid.uuid4().hex[:12]}"

    async def create() -> None:
        async with get_session().create_client(
            "dynamodb",
            region_name="us-east-1",
            endpoint_url=endpoint,
            aws_access_key_id="test",
            aws_secret_access_key="test",
            config=client_config(),
        ) as client:
            await create_table_if_not_exists(client, name)

    asyncio.run(create())
    return name


@pytest.fixture
def table(shared_table: str) -> str:
    return shared_table


@pytest.fixture
async def proxy(endpoint: str) -> AsyncIterator[FaultProxy]:
    async with FaultProxy(endpoint, seed=20261105) as running:
        yield running


@pytest.fixture
def direct(client: Any) -> Any:
    """A client straight to the endpoint: the other writer, and the source of truth."""
    return client


@pytest.fixture
def sid() -> str:
    return f"fault-{uuid.uuid4().hex[:10]}"


class Harness:
    """A session whose client goes through the proxy, plus direct access to the truth."""

    def __init__(
        self, proxy: FaultProxy, make_client: ClientFactory, direct: Any, table: str, sid: str
    ) -> None:
        self.proxy = proxy
        self.make_client = make_client
        self.direct = direct
        self.table = table
        self.sid = sid
        self.metrics = Recorder()

    async def session(self, **config: Any) -> DynamoDBSession:
        options: dict[str, Any] = {"retries": RETRY_MODES["legacy"], "read_timeout": 2}
        options.update(config)
        client = await self.make_client(url=self.proxy.url, **options)
        return DynamoDBSession(self.sid, client, self.table, on_operation=self.metrics.append)

    def other(self) -> DynamoDBSession:
        """Another writer on the same session, straight to the endpoint."""
        return DynamoDBSession(self.sid, self.direct, self.table)

    async def stored(self) -> list[Any]:
        """What the endpoint holds, read with a fresh object on the direct client."""
        return await DynamoDBSession(self.sid, self.direct, self.table).get_items()

    async def assert_usable(self, session: DynamoDBSession, expected: list[Any]) -> None:
        """The session still works: one more add and a get are exact, everywhere."""
        follow = batch(f"after-{uuid.uuid4().hex[:6]}", 1)
        await session.add_items(follow)
        assert await session.get_items() == expected + follow
        assert await self.stored() == expected + follow


@pytest.fixture
def harness(
    proxy: FaultProxy, make_client: ClientFactory, direct: Any, table: str, sid: str
) -> Harness:
    return Harness(proxy, make_client, direct, table, sid)


# --------------------------------------------------------------- lost responses


@pytest.mark.parametrize(
    ("case", "mode"),
    [
        ("steady", "legacy"),
        ("steady", "standard"),
        ("create", "legacy"),
        ("create", "standard"),
        ("after_conflict", "legacy"),
    ],
)
async def test_add_with_dropped_response_stores_the_batch_once(
    harness: Harness, case: str, mode: str
) -> None:
    session = await harness.session(retries=RETRY_MODES[mode])
    before: list[Any] = []
    if case == "steady":
        before = batch("first")
        await session.add_items(before)
    elif case == "after_conflict":
        await session.add_items(batch("first"))
        # Another writer moves the item on: this object's memory is stale, so its
        # first write conflicts and the re-applied one is the write whose answer
        # is lost.
        await harness.other().add_items(batch("other"))
        before = batch("first") + batch("other")
    proxy = harness.proxy
    put_before = proxy.forwarded["PutItem"]
    proxy.add_rule(
        op="PutItem", fault="drop_response", times=1, after=1 if case == "after_conflict" else 0
    )
    added = batch("lost-answer", 3)
    calls = count_calls(session._client)

    await session.add_items(added)

    assert await harness.stored() == before + added
    # The write landed, its answer was dropped and the client resent it.
    assert proxy.faults[("PutItem", "drop_response")] == 1
    expected_puts = 3 if case == "after_conflict" else 2
    assert proxy.forwarded["PutItem"] - put_before == expected_puts
    metrics = harness.metrics.last("add_items")
    assert metrics.client_retries == 1
    assert metrics.error is None
    assert calls["PutItem"] == expected_puts - 1  # the resend is inside one call
    await harness.assert_usable(session, before + added)


@pytest.mark.parametrize("fresh", [False, True], ids=["steady", "fresh_object"])
async def test_pop_with_dropped_response_removes_exactly_one_item(
    harness: Harness, fresh: bool
) -> None:
    items = batch("pop", 4)
    await harness.other().add_items(items)
    session = await harness.session()
    if not fresh:
        assert await session.get_items() == items
    harness.proxy.add_rule(op="PutItem", fault="drop_response", times=1)

    popped = await session.pop_item()

    assert popped == items[-1]
    assert await harness.stored() == items[:-1]
    assert harness.proxy.forwarded["PutItem"] == 2
    assert harness.metrics.last("pop_item").client_retries == 1
    assert await session.pop_item() == items[-2]
    await harness.assert_usable(session, items[:-2])


async def test_every_resend_dropped_is_resolved_by_a_read(harness: Harness) -> None:
    """All of the client's attempts lose their answer: the read finds the write landed."""
    session = await harness.session()
    await session.add_items(batch("first"))
    harness.proxy.add_rule(op="PutItem", fault="drop_response", times=3)  # every attempt

    started = time.monotonic()
    await session.add_items(batch("second"))

    assert time.monotonic() - started < FAIL_FAST
    assert await harness.stored() == batch("first") + batch("second")
    assert harness.proxy.faults[("PutItem", "drop_response")] == 3
    await harness.assert_usable(session, batch("first") + batch("second"))


# ---------------------------------------------- the narrow window: others write


@pytest.mark.parametrize("other_op", ["add", "pop"])
async def test_add_recognised_after_another_writer_wrote_between_loss_and_resend(
    harness: Harness, other_op: str
) -> None:
    session = await harness.session()
    await session.add_items(batch("first"))
    proxy = harness.proxy
    proxy.add_rule(op="PutItem", fault="drop_response", times=1)
    resend = proxy.hold_next(op="PutItem")

    task = asyncio.create_task(session.add_items(batch("mine")))
    await resend.wait_arrived()
    # The first copy landed; the resend is held. Another writer writes on top.
    other = harness.other()
    if other_op == "add":
        await other.add_items(batch("other"))
        expected = batch("first") + batch("mine") + batch("other")
    else:
        assert await other.pop_item() == batch("mine")[-1]
        expected = batch("first") + batch("mine")[:-1]
    resend.release()
    await asyncio.wait_for(task, FAIL_FAST)

    assert await harness.stored() == expected
    metrics = harness.metrics.last("add_items")
    # The resend failed its condition and was recognised through recent_writes.
    assert metrics.client_retries == 1
    assert metrics.conflicts == 1
    assert proxy.forwarded["PutItem"] == 3
    await harness.assert_usable(session, expected)


@pytest.mark.parametrize("other_op", ["add", "pop"])
async def test_pop_recognised_after_another_writer_wrote_between_loss_and_resend(
    harness: Harness, other_op: str
) -> None:
    items = batch("pop", 4)
    session = await harness.session()
    await session.add_items(items)
    proxy = harness.proxy
    proxy.add_rule(op="PutItem", fault="drop_response", times=1)
    resend = proxy.hold_next(op="PutItem")

    task = asyncio.create_task(session.pop_item())
    await resend.wait_arrived()
    other = harness.other()
    if other_op == "add":
        await other.add_items(batch("other"))
        expected = items[:-1] + batch("other")
    else:
        # The other writer sees the pop that landed: it removes the next item.
        assert await other.pop_item() == items[-2]
        expected = items[:-2]
    resend.release()

    assert await asyncio.wait_for(task, FAIL_FAST) == items[-1]
    assert await harness.stored() == expected
    assert harness.metrics.last("pop_item").conflicts == 1
    await harness.assert_usable(session, expected)


# ------------------------------------------------------ requests that never land


async def test_reset_before_forwarding_is_retried_and_stored_once(harness: Harness) -> None:
    session = await harness.session()
    await session.add_items(batch("first"))
    harness.proxy.add_rule(op="PutItem", fault="reset_before", times=1)

    await session.add_items(batch("second"))

    assert await harness.stored() == batch("first") + batch("second")
    assert harness.proxy.seen["PutItem"] == 3
    assert harness.proxy.forwarded["PutItem"] == 2  # the reset copy never arrived
    metrics = harness.metrics.last("add_items")
    assert (metrics.client_retries, metrics.conflicts) == (1, 0)
    await harness.assert_usable(session, batch("first") + batch("second"))


async def test_response_slower_than_read_timeout_is_stored_once(harness: Harness) -> None:
    session = await harness.session(read_timeout=0.5)
    await session.add_items(batch("first"))
    # The delay is far past the read timeout; the proxy drops the answer as soon as
    # the client gives up on it, so the test does not wait the full delay.
    harness.proxy.add_rule(op="PutItem", fault="delay_response", times=1, delay=8.0)

    started = time.monotonic()
    await session.add_items(batch("slow"))
    elapsed = time.monotonic() - started

    assert elapsed < 5.0
    assert await harness.stored() == batch("first") + batch("slow")
    assert harness.proxy.forwarded["PutItem"] == 3
    assert harness.metrics.last("add_items").client_retries == 1
    await harness.assert_usable(session, batch("first") + batch("slow"))


# ------------------------------------------------------------------ throttling


@pytest.mark.parametrize("code", THROTTLE_CODES)
async def test_brief_throttling_is_absorbed_by_client_retries(harness: Harness, code: str) -> None:
    session = await harness.session()
    await session.add_items(batch("first"))
    harness.proxy.add_rule(op="PutItem", fault="throttle", times=2, error_code=code)

    await session.add_items(batch("second"))

    assert await harness.stored() == batch("first") + batch("second")
    assert harness.proxy.seen["PutItem"] == 4
    assert harness.proxy.forwarded["PutItem"] == 2
    assert harness.metrics.last("add_items").client_retries == 2
    await harness.assert_usable(session, batch("first") + batch("second"))


@pytest.mark.parametrize("code", THROTTLE_CODES)
async def test_lasting_throttling_raises_throttled_error_and_stores_nothing(
    harness: Harness, code: str
) -> None:
    session = await harness.session()
    await session.add_items(batch("first"))
    rule = harness.proxy.add_rule(op=None, fault="throttle", times=None, error_code=code)

    started = time.monotonic()
    with pytest.raises(ThrottledError) as caught:
        await session.add_items(batch("never"))
    assert time.monotonic() - started < FAIL_FAST
    error = caught.value
    assert (error.code, error.session_id, error.table_name) == (code, harness.sid, harness.table)
    assert harness.sid in str(error) and harness.table in str(error)
    assert harness.proxy.seen["PutItem"] == 1 + 3  # every attempt the client made
    assert harness.proxy.forwarded["PutItem"] == 1
    assert harness.metrics.last("add_items").error == "ThrottledError"

    with pytest.raises(ThrottledError):
        await session.get_items()
    assert await harness.stored() == batch("first")

    harness.proxy.clear_rules()
    assert rule.hits >= 6
    await harness.assert_usable(session, batch("first"))


# ---------------------------------------------------------------- endpoint down


@pytest.mark.parametrize("how", ["not_listening", "resetting_everything"])
async def test_unreachable_endpoint_raises_unavailable_quickly(harness: Harness, how: str) -> None:
    session = await harness.session(connect_timeout=0.5)
    await session.add_items(batch("first"))
    proxy = harness.proxy
    if how == "not_listening":
        await proxy.stop_listening()
    else:
        proxy.add_rule(op=None, fault="reset_before", times=None)

    # The pop writes on the state the session knows; after it fails the session
    # knows nothing, so the add is a blind create. Both were sent, so both report
    # an unknown outcome; a failed read has none.
    operations: list[tuple[Callable[[], Awaitable[Any]], bool]] = [
        (session.pop_item, True),
        (lambda: session.add_items(batch("never")), True),
        (session.get_items, False),
    ]
    for operation, is_write in operations:
        started = time.monotonic()
        with pytest.raises(DynamoDBUnavailableError) as caught:
            await operation()
        assert time.monotonic() - started < FAIL_FAST
        assert caught.value.table_name == harness.table
        assert caught.value.session_id == harness.sid
        # A write that could not be confirmed says so; a failed read has no outcome.
        assert caught.value.outcome_unknown is is_write
    assert [m.error for m in harness.metrics[-3:]] == ["DynamoDBUnavailableError"] * 3
    assert proxy.forwarded["PutItem"] == 1
    assert await harness.stored() == batch("first")

    if how == "not_listening":
        await proxy.resume_listening()
    else:
        proxy.clear_rules()
    await harness.assert_usable(session, batch("first"))


# ----------------------------------------------------------------------- stress


async def test_concurrent_writers_with_random_lost_responses_store_every_message_once(
    harness: Harness,
) -> None:
    writers, rounds = 8, 5
    harness.proxy.add_rule(op="PutItem", fault="drop_response", times=None, probability=0.2)
    # Half the writers back off in standard mode (up to 1 s, then 2 s) after a lost
    # answer, while the others, in legacy mode, write a lot in that window: the case
    # that pushes a write out of recent_writes before its resend arrives.
    sessions = [
        await harness.session(retries=RETRY_MODES["standard" if i % 2 else "legacy"])
        for i in range(writers)
    ]

    unknown_outcomes = 0

    async def write(index: int, session: DynamoDBSession) -> None:
        nonlocal unknown_outcomes
        for round_ in range(rounds):
            message: Any = {"role": "user", "content": f"w{index}-r{round_}"}
            while True:
                try:
                    await session.add_items([message])
                    break
                except DynamoDBUnavailableError as exc:
                    # What the error tells callers to do: read, then write only if
                    # the write is not there.
                    assert exc.outcome_unknown
                    unknown_outcomes += 1
                    if message in await session.get_items():
                        break

    await asyncio.wait_for(asyncio.gather(*(write(i, s) for i, s in enumerate(sessions))), 30.0)

    contents = [item["content"] for item in await harness.stored()]
    counts = Counter(contents)
    expected = {f"w{i}-r{r}" for i in range(writers) for r in range(rounds)}
    assert set(counts) == expected
    assert [c for c, n in counts.items() if n > 1] == [], f"{unknown_outcomes} unknown outcomes"
    for index in range(writers):
        mine = [c for c in contents if c.startswith(f"w{index}-")]
        assert mine == [f"w{index}-r{r}" for r in range(rounds)]
    assert harness.proxy.faults[("PutItem", "drop_response")] >= 3
    harness.proxy.clear_rules()
    await harness.assert_usable(sessions[0], [{"role": "user", "content": c} for c in contents])


@pytest.mark.parametrize(
    "other_writes",
    [RECENT_WRITES_KEPT - 1, RECENT_WRITES_KEPT],
)
@pytest.mark.parametrize("operation", ["add", "pop"])
async def test_write_pushed_out_of_recent_writes_is_reported_not_repeated(
    harness: Harness, operation: str, other_writes: int
) -> None:
    """Past the write log's reach the outcome is unknown: say so, never apply twice."""
    items = batch("first", 3)
    session = await harness.session()
    await session.add_items(items)
    proxy = harness.proxy
    proxy.add_rule(op="PutItem", fault="drop_response", times=1)
    resend = proxy.hold_next(op="PutItem")
    task: asyncio.Task[Any]
    if operation == "add":
        task = asyncio.create_task(session.add_items(batch("mine")))
        expected = items + batch("mine")
    else:
        task = asyncio.create_task(session.pop_item())
        expected = items[:-1]
    await resend.wait_arrived()
    other = harness.other()
    others: list[Any] = [{"role": "user", "content": f"other-{i}"} for i in range(other_writes)]
    for item in others:
        await other.add_items([item])
    expected += others
    resend.release()

    if other_writes < RECENT_WRITES_KEPT:
        result = await asyncio.wait_for(task, FAIL_FAST)
        assert result == (None if operation == "add" else items[-1])
    else:
        with pytest.raises(WriteOutcomeUnknownError) as caught:
            await asyncio.wait_for(task, FAIL_FAST)
        assert caught.value.outcome_unknown is True
        assert caught.value.session_id == harness.sid
    assert await harness.stored() == expected
    await harness.assert_usable(session, expected)
