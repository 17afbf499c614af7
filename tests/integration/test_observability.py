"""What operators see: structured log records, the ``on_operation`` hook, the size warning.

Each operation logs one DEBUG record on logger ``openai_agents_session`` whose
``extra`` fields name the session, the operation, the conditional writes it took
and the capacity DynamoDB reported, and hands the same figures to the hook as
`OperationMetrics`. The figures are checked against what really happened: the
conflicts a stale second object provokes, and the size of the item read back raw.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

import pytest

from openai_agents_session import (
    DEFAULT_MAX_SESSION_BYTES,
    ConcurrentModificationError,
    DynamoDBSession,
    InvalidArgumentError,
    InvalidItemError,
    OperationMetrics,
    RetryPolicy,
    SessionTooLargeError,
    TableNotFoundError,
)
from openai_agents_session.models.codec import encode_key, item_size
from tests.conftest import ClientFactory

LOGGER = "openai_agents_session"


def sid() -> str:
    return f"obs-{uuid.uuid4().hex[:10]}"


def message(text: str, role: str = "user") -> dict[str, Any]:
    return {"role": role, "content": text}


async def stored_size(client: Any, table: str, session_id: str) -> int:
    """Size by DynamoDB's rule of the item as it is stored, read back raw."""
    response = await client.get_item(
        TableName=table, Key=encode_key(session_id), ConsistentRead=True
    )
    return item_size(response["Item"])


def operation_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == LOGGER and hasattr(r, "operation")]


def assert_capacity(value: float, backend: str) -> None:
    # moto reports capacity units for every call; other endpoints may report none.
    assert isinstance(value, float)
    if backend == "moto":
        assert value > 0
    else:
        assert value >= 0


async def test_each_operation_logs_one_structured_record(
    client: Any, table: str, backend: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    session_id = sid()
    session = DynamoDBSession(session_id, client, table)
    await session.add_items([message("a"), message("b")])
    await session.get_items()
    await session.pop_item()
    await session.clear_session()

    records = operation_records(caplog)
    assert [r.operation for r in records] == [  # type: ignore[attr-defined]
        "add_items",
        "get_items",
        "pop_item",
        "clear_session",
    ]
    # Reads send no conditional write; the clear writes its tombstone.
    assert [r.attempts for r in records] == [1, 0, 1, 1]  # type: ignore[attr-defined]
    for record in records:
        assert record.levelno == logging.DEBUG
        assert record.session_id == session_id  # type: ignore[attr-defined]
        assert record.table_name == table  # type: ignore[attr-defined]
        assert record.conflicts == 0  # type: ignore[attr-defined]
        assert_capacity(record.consumed_capacity, backend)  # type: ignore[attr-defined]
        assert session_id in record.getMessage()


async def test_hook_gets_exact_metrics_per_operation(client: Any, table: str, backend: str) -> None:
    seen: list[OperationMetrics] = []
    session_id = sid()
    session = DynamoDBSession(session_id, client, table, on_operation=seen.append)

    await session.add_items([message("a"), message("b"), message("c")])
    (add,) = seen
    assert (add.operation, add.session_id, add.table_name) == ("add_items", session_id, table)
    assert (add.calls, add.attempts, add.conflicts, add.client_retries) == (1, 1, 0, 0)
    assert add.items_written == 3
    assert add.item_size == await stored_size(client, table, session_id)
    assert_capacity(add.consumed_capacity, backend)
    assert add.duration > 0 and add.error is None

    await session.get_items()
    get = seen[-1]
    assert (get.operation, get.calls, get.attempts, get.items_written) == ("get_items", 1, 0, 0)
    assert get.item_size == 0  # nothing was written
    assert_capacity(get.consumed_capacity, backend)

    await session.pop_item()
    pop = seen[-1]
    assert (pop.operation, pop.calls, pop.attempts, pop.items_written) == ("pop_item", 1, 1, 1)
    assert pop.item_size == await stored_size(client, table, session_id)
    assert pop.item_size < add.item_size

    # A fresh object knows nothing: its pop reads, then writes.
    fresh_seen: list[OperationMetrics] = []
    fresh = DynamoDBSession(session_id, client, table, on_operation=fresh_seen.append)
    await fresh.pop_item()
    (fresh_pop,) = fresh_seen
    assert (fresh_pop.calls, fresh_pop.attempts, fresh_pop.conflicts) == (2, 1, 0)
    assert fresh_pop.item_size == await stored_size(client, table, session_id)

    await session.get_record()
    assert (seen[-1].operation, seen[-1].calls) == ("get_record", 1)

    await session.clear_session()
    clear = seen[-1]
    assert (clear.operation, clear.calls, clear.attempts, clear.items_written) == (
        "clear_session",
        1,
        1,
        1,  # three added, two popped
    )
    assert clear.item_size == await stored_size(client, table, session_id)
    assert_capacity(clear.consumed_capacity, backend)
    assert all(m.error is None for m in seen + fresh_seen)


async def test_conflicts_from_a_stale_object_are_counted_and_logged(
    make_client: ClientFactory, table: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    first_client, second_client = await make_client(), await make_client()
    session_id = sid()
    first_seen: list[OperationMetrics] = []
    second_seen: list[OperationMetrics] = []
    first = DynamoDBSession(session_id, first_client, table, on_operation=first_seen.append)
    second = DynamoDBSession(session_id, second_client, table, on_operation=second_seen.append)

    await first.add_items([message("a")])
    # The second object's blind create finds the item: one conflict, then the append.
    await second.add_items([message("b"), message("c")])
    (blind,) = second_seen
    assert (blind.attempts, blind.conflicts, blind.items_written) == (2, 1, 2)
    assert blind.calls >= 2  # plus a GetItem on endpoints that return no old item

    # Now the first object's memory is stale: its condition fails once.
    await first.add_items([message("d")])
    stale = first_seen[-1]
    assert (stale.attempts, stale.conflicts, stale.items_written) == (2, 1, 1)
    assert stale.item_size == await stored_size(first_client, table, session_id)
    assert await first.get_items() == [message(t) for t in "abcd"]

    conflicted = [r for r in operation_records(caplog) if r.conflicts]  # type: ignore[attr-defined]
    assert [(r.operation, r.attempts, r.conflicts) for r in conflicted] == [  # type: ignore[attr-defined]
        ("add_items", 2, 1),
        ("add_items", 2, 1),
    ]
    assert {r.session_id for r in conflicted} == {session_id}  # type: ignore[attr-defined]


async def test_hook_names_the_error_of_a_failed_operation(
    make_client: ClientFactory, client: Any, table: str
) -> None:
    seen: list[OperationMetrics] = []
    missing = DynamoDBSession(sid(), client, "no-such-table-here", on_operation=seen.append)
    with pytest.raises(TableNotFoundError):
        await missing.add_items([message("a")])
    with pytest.raises(TableNotFoundError):
        await missing.get_items()
    assert [(m.operation, m.error) for m in seen] == [
        ("add_items", "TableNotFoundError"),
        ("get_items", "TableNotFoundError"),
    ]
    assert seen[0].calls == 1 and seen[0].item_size == 0 and seen[0].items_written == 0

    # Refused before sending: no call, nothing written, still reported.
    seen.clear()
    big = DynamoDBSession(sid(), client, table, on_operation=seen.append)
    with pytest.raises(SessionTooLargeError):
        await big.add_items([message("x" * (DEFAULT_MAX_SESSION_BYTES + 1))])
    (too_large,) = seen
    assert (too_large.error, too_large.calls, too_large.attempts) == ("SessionTooLargeError", 0, 0)

    # Lost the race past the retry bound: the conflicts that led there are reported.
    session_id = sid()
    winner = DynamoDBSession(session_id, client, table)
    loser_seen: list[OperationMetrics] = []
    loser = DynamoDBSession(
        session_id,
        await make_client(),
        table,
        retry=RetryPolicy(max_attempts=1),
        on_operation=loser_seen.append,
    )
    await loser.add_items([message("a")])
    await winner.add_items([message("b")])
    with pytest.raises(ConcurrentModificationError):
        await loser.add_items([message("c")])
    failed = loser_seen[-1]
    assert (failed.error, failed.attempts, failed.conflicts) == (
        "ConcurrentModificationError",
        1,
        1,
    )
    assert failed.item_size == 0


async def test_calls_that_start_no_operation_are_not_reported(client: Any, table: str) -> None:
    # As docs/observability.md says: nothing ran, so there is nothing to report.
    seen: list[OperationMetrics] = []
    session = DynamoDBSession(sid(), client, table, on_operation=seen.append)
    assert await session.get_items(limit=0) == []
    await session.add_items([])
    with pytest.raises(InvalidItemError):
        await session.add_items([message("a"), {"role": "user", "content": {1, 2}}])
    assert seen == []
    await session.get_items()
    assert [m.operation for m in seen] == ["get_items"]


async def test_a_raising_hook_does_not_break_the_operation(
    client: Any, table: str, caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[str] = []

    def broken_hook(metrics: OperationMetrics) -> None:
        calls.append(metrics.operation)
        raise RuntimeError("metrics backend down")

    session_id = sid()
    session = DynamoDBSession(session_id, client, table, on_operation=broken_hook)
    with caplog.at_level(logging.ERROR, logger=LOGGER):
        await session.add_items([message("a")])
        assert await session.get_items() == [message("a")]
    assert calls == ["add_items", "get_items"]
    failures = [r for r in caplog.records if r.name == LOGGER and r.levelno == logging.ERROR]
    assert len(failures) == 2
    for record in failures:
        assert "on_operation hook failed" in record.getMessage()
        assert session_id in record.getMessage()
        assert record.exc_info is not None and record.exc_info[0] is RuntimeError
    # The write really happened: another object sees it.
    assert await DynamoDBSession(session_id, client, table).get_items() == [message("a")]

    # On a failing operation the hook's error does not replace the real one.
    missing = DynamoDBSession(sid(), client, "no-such-table-here", on_operation=broken_hook)
    with pytest.raises(TableNotFoundError):
        await missing.get_items()


async def stored_json(client: Any, table: str, session_id: str) -> str:
    """The stored head's `conversation_data`, as stored."""
    response = await client.get_item(
        TableName=table, Key={"session_id": {"S": session_id}}, ConsistentRead=True
    )
    return str(response["Item"]["conversation_data"]["S"])


def size_warnings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [
        r
        for r in caplog.records
        if r.name == LOGGER and r.levelno == logging.WARNING and hasattr(r, "item_size")
    ]


@pytest.mark.parametrize("ratio", [0.1, None], ids=["ratio-0.1", "default-0.8"])
async def test_size_warning_fires_past_the_fraction_of_the_cap_once(
    client: Any, table: str, ratio: float | None, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger=LOGGER)
    cap = 200_000
    threshold = (0.8 if ratio is None else ratio) * cap
    options: dict[str, Any] = {} if ratio is None else {"size_warning_ratio": ratio}
    seen: list[OperationMetrics] = []
    session_id = sid()
    session = DynamoDBSession(
        session_id, client, table, on_operation=seen.append, max_session_bytes=cap, **options
    )

    await session.add_items([message("seed")])
    seed = len(await stored_json(client, table, session_id))
    # History JSON about 300 bytes below the threshold, then about 300 bytes past it.
    below = int(threshold) - seed - 300
    await session.add_items([message("x" * below)])
    size_below = len(await stored_json(client, table, session_id))
    assert threshold - 400 < size_below < threshold
    assert size_warnings(caplog) == []

    await session.add_items([message("y" * 550)])
    size_above = len(await stored_json(client, table, session_id))
    assert threshold < size_above < threshold + 1000
    (warning,) = size_warnings(caplog)
    assert warning.item_size == seen[-1].item_size  # type: ignore[attr-defined]
    assert warning.size_kind == "cap"  # type: ignore[attr-defined]
    assert warning.session_id == session_id  # type: ignore[attr-defined]
    assert session_id in warning.getMessage() and table in warning.getMessage()
    assert f"{size_above:,} bytes of history, {100 * size_above // cap}%" in warning.getMessage()

    # Reads never warn, and this object has said it: later writes past it do not repeat it.
    await session.get_items()
    await session.add_items([message("z")])
    assert await session.pop_item() == message("z")
    assert len(size_warnings(caplog)) == 1


@pytest.mark.parametrize("ratio", [0, -0.5, 1.01])
def test_size_warning_ratio_must_be_a_fraction(ratio: float) -> None:
    with pytest.raises(InvalidArgumentError, match="size_warning_ratio"):
        DynamoDBSession(sid(), None, "agent_sessions", size_warning_ratio=ratio)  # type: ignore[arg-type]
