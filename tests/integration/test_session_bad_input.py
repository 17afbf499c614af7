"""Bad input is refused before anything is sent; corrupt stored data is never overwritten.

Every case first stores a good history, then checks the typed error, that no
write was sent, and that the endpoint still holds exactly the good history.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from openai_agents_session import (
    RESERVED_PREFIX,
    CorruptSessionError,
    DynamoDBSession,
    InvalidItemError,
    InvalidSessionIdError,
    SessionStoreError,
)
from tests.conftest import count_calls
from tests.support.sessions import (
    client_fixture,  # noqa: F401
    clients_fixture,  # noqa: F401
    is_cleared,
    message,
    module_table,  # noqa: F401
    raw_fixture,  # noqa: F401
    raw_get,
    raw_put,
    stored_items,
)


def sid() -> str:
    return f"b-{uuid.uuid4().hex[:10]}"


class Opaque:
    """An object the caller forgot to convert."""


BAD_ITEMS: dict[str, Any] = {
    "set": {"role": "user", "content": {"a", "b"}},
    "tuple": {"role": "user", "content": ("a", "b")},
    "bytes": {"role": "user", "content": b"hello"},
    "nan": {"role": "user", "score": float("nan")},
    "infinity": {"role": "user", "score": float("inf")},
    "-infinity": {"role": "user", "score": float("-inf")},
    "int-key": {"role": "user", 7: "seven"},
    "object": {"role": "user", "content": Opaque()},
    "lone-surrogate": {"role": "user", "content": "broken \ud83d here"},
    # model_dump(mode="json") would quietly have made this a list; it must be refused.
    "deep-set": {"role": "user", "content": [{"type": "x", "meta": {"tags": [1, {2, 3}]}}]},
    "deep-tuple-key": {"role": "user", "meta": {"inner": {(1, 2): "x"}}},
    "string-item": "hello",
    "none-item": None,
    "list-item": [{"role": "user", "content": "hi"}],
    "object-item": Opaque(),
}


@pytest.mark.parametrize("bad", list(BAD_ITEMS.values()), ids=list(BAD_ITEMS))
async def test_bad_item_stores_nothing(client: Any, table: str, raw: Any, bad: Any) -> None:
    session_id = sid()
    session = DynamoDBSession(session_id, client, table)
    history = [message("kept-1"), message("kept-2")]
    await session.add_items(history)
    before = await raw_get(raw, table, session_id)
    calls = count_calls(client)

    with pytest.raises(InvalidItemError) as caught:
        await session.add_items([message("good-before"), bad, message("good-after")])
    error = caught.value
    assert error.index == 1
    assert session_id in str(error) and table in str(error)
    assert error.session_id == session_id and error.table_name == table
    assert isinstance(error, SessionStoreError) and isinstance(error, ValueError)

    assert calls.total() == 0
    assert await raw_get(raw, table, session_id) == before
    # The session object is unharmed: the next good add lands after the history.
    await session.add_items([message("next")])
    assert await stored_items(raw, table, session_id) == [*history, message("next")]


@pytest.mark.parametrize(
    "batch",
    [{"role": "user", "content": "hi"}, "hello", None, 42, (m for m in [message("g")])],
    ids=["dict", "str", "none", "int", "generator"],
)
async def test_a_batch_that_is_not_a_list(client: Any, table: str, raw: Any, batch: Any) -> None:
    session_id = sid()
    session = DynamoDBSession(session_id, client, table)
    await session.add_items([message("kept")])
    calls = count_calls(client)
    with pytest.raises(InvalidItemError) as caught:
        await session.add_items(batch)
    assert "list" in str(caught.value) and session_id in str(caught.value)
    assert calls.total() == 0
    assert await stored_items(raw, table, session_id) == [message("kept")]


async def test_fresh_object_with_a_bad_batch_sends_nothing(
    client: Any, table: str, raw: Any
) -> None:
    session_id = sid()
    calls = count_calls(client)
    with pytest.raises(InvalidItemError):
        await DynamoDBSession(session_id, client, table).add_items([{"x": {1}}])
    assert calls.total() == 0
    assert await raw_get(raw, table, session_id) is None


# ------------------------------------------------------------- strict items

SDK_ITEMS: list[dict[str, Any]] = [
    {"role": "user", "content": "hi"},
    {
        "type": "function_call",
        "call_id": "call_1",
        "name": "get_weather",
        "arguments": '{"city": "Paris"}',
    },
    {"type": "function_call_output", "call_id": "call_1", "output": "sunny, 21C"},
    {
        "type": "message",
        "role": "assistant",
        "id": "msg_1",
        "status": "completed",
        "content": [{"type": "output_text", "text": "It is sunny.", "annotations": []}],
    },
]


async def test_strict_items_accept_sdk_items(client: Any, table: str, raw: Any) -> None:
    session_id = sid()
    session = DynamoDBSession(session_id, client, table, strict_items=True)
    await session.add_items(SDK_ITEMS)
    assert await stored_items(raw, table, session_id) == SDK_ITEMS
    assert await session.get_items() == SDK_ITEMS


async def test_strict_items_refuse_other_json_in_one_line(
    client: Any, table: str, raw: Any
) -> None:
    session_id = sid()
    session = DynamoDBSession(session_id, client, table, strict_items=True)
    await session.add_items(SDK_ITEMS[:1])
    calls = count_calls(client)
    with pytest.raises(InvalidItemError) as caught:
        await session.add_items([SDK_ITEMS[0], {"foo": "bar", "n": 1}])
    text = str(caught.value)
    assert caught.value.index == 1
    assert "\n" not in text
    assert len(text) < 300, f"{len(text)} characters: {text}"
    assert session_id in text and table in text and "SDK" in text
    assert calls.total() == 0
    assert await stored_items(raw, table, session_id) == SDK_ITEMS[:1]
    # The default (non-strict) session stores the same item: items are opaque.
    await DynamoDBSession(session_id, client, table).add_items([{"foo": "bar", "n": 1}])
    assert await stored_items(raw, table, session_id) == [SDK_ITEMS[0], {"foo": "bar", "n": 1}]


# -------------------------------------------------------------- session ids

INVALID_IDS: list[Any] = ["", "x" * 2049, "é" * 1025, RESERVED_PREFIX + "x", None, 42, b"id"]


@pytest.mark.parametrize(
    "session_id",
    INVALID_IDS,
    ids=["empty", "2049-bytes", "2050-utf8-bytes", "reserved", "none", "int", "bytes"],
)
async def test_invalid_session_ids(client: Any, table: str, session_id: Any) -> None:
    calls = count_calls(client)
    with pytest.raises(InvalidSessionIdError) as caught:
        DynamoDBSession(session_id, client, table)
    assert table in str(caught.value)
    assert isinstance(caught.value, SessionStoreError)
    assert calls.total() == 0


@pytest.mark.parametrize(
    "session_id",
    ["user#1", "tenant/42/x", "SESSION#meta", "0", "x" * 2048, "é" * 1024, "__oas__", "日本語 id"],
    ids=["hash", "slashes", "upper-hash", "zero", "2048-bytes", "2048-utf8", "near-prefix", "cjk"],
)
async def test_unusual_valid_session_ids_round_trip(
    client: Any, table: str, raw: Any, session_id: str
) -> None:
    session = DynamoDBSession(session_id, client, table)
    await session.add_items([message("a"), message("b")])
    assert await session.get_items() == [message("a"), message("b")]
    assert await stored_items(raw, table, session_id) == [message("a"), message("b")]
    assert await session.pop_item() == message("b")
    record = await session.get_record()
    assert record is not None and record.session_id == session_id
    await session.clear_session()
    assert is_cleared(await raw_get(raw, table, session_id))


# ------------------------------------------------------------- corrupt data


def corrupt_item(session_id: str, case: str) -> dict[str, Any]:
    item: dict[str, Any] = {
        "session_id": {"S": session_id},
        "conversation_data": {"S": json.dumps([message("a")])},
        "updated_at": {"N": "1700000000"},
    }
    if case == "not-json":
        item["conversation_data"] = {"S": "[{'role': 'user'"}
    elif case == "json-object":
        item["conversation_data"] = {"S": json.dumps({"role": "user", "content": "x"})}
    elif case == "non-objects":
        item["conversation_data"] = {"S": json.dumps(["a", 1, None])}
    elif case == "missing":
        del item["conversation_data"]
    elif case == "type-n":
        item["conversation_data"] = {"N": "42"}
    elif case == "no-updated-at":
        del item["updated_at"]
    elif case == "updated-at-type-s":
        item["updated_at"] = {"S": "yesterday"}
    return item


CORRUPT_CASES = [
    "not-json",
    "json-object",
    "non-objects",
    "missing",
    "type-n",
    "no-updated-at",
    # DynamoDB refuses to store this one (updated_at keys the by-owner index, so its
    # type is checked on every write); moto stores it, and the session must still cope.
    pytest.param("updated-at-type-s", marks=pytest.mark.moto_only),
]

Operation = Callable[[DynamoDBSession], Coroutine[Any, Any, Any]]
OPERATIONS: dict[str, Operation] = {
    "get_items": lambda s: s.get_items(),
    "add_items": lambda s: s.add_items([message("new")]),
    "pop_item": lambda s: s.pop_item(),
    "get_record": lambda s: s.get_record(),
    "get_record-expired": lambda s: s.get_record(include_expired=True),
}


@pytest.mark.parametrize("case", CORRUPT_CASES)
async def test_corrupt_item_is_reported_and_never_overwritten(
    client: Any, table: str, raw: Any, case: str
) -> None:
    session_id = sid()
    corrupt = corrupt_item(session_id, case)
    await raw_put(raw, table, corrupt)
    for name, operation in OPERATIONS.items():
        # A fresh object each time: none may trust what another one saw.
        session = DynamoDBSession(session_id, client, table)
        with pytest.raises(CorruptSessionError) as caught:
            await operation(session)
        text = str(caught.value)
        assert session_id in text and table in text and "Fix:" in text, name
        assert caught.value.session_id == session_id
        assert await raw_get(raw, table, session_id) == corrupt, name
    # An object that already met the corruption does not write over it either.
    session = DynamoDBSession(session_id, client, table)
    for _ in range(2):
        with pytest.raises(CorruptSessionError):
            await session.add_items([message("again")])
        with pytest.raises(CorruptSessionError):
            await session.pop_item()
    assert await raw_get(raw, table, session_id) == corrupt
    # Clearing is the documented way out.
    await session.clear_session()
    await session.add_items([message("fresh")])
    assert await stored_items(raw, table, session_id) == [message("fresh")]


async def test_object_that_saw_a_good_item_does_not_overwrite_a_corrupted_one(
    client: Any, table: str, raw: Any
) -> None:
    session_id = sid()
    session = DynamoDBSession(session_id, client, table)
    await session.add_items([message("a")])
    corrupt = corrupt_item(session_id, "non-objects")  # someone else breaks it
    await raw_put(raw, table, corrupt)
    with pytest.raises(CorruptSessionError):
        await session.add_items([message("b")])
    assert await raw_get(raw, table, session_id) == corrupt
