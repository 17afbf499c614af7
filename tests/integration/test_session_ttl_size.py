"""Expiry and size limits, checked against what the endpoint stores.

TTL tests drive time through the session's ``clock`` or store items whose ttl
has already passed, so nothing waits for real time to go by. Size tests build
items of an exact size by DynamoDB's rule (ASCII padding: one byte a character).
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections import Counter
from decimal import Decimal
from typing import Any

import pytest

from openai_agents_session import (
    DEFAULT_PAGE_THRESHOLD,
    ITEM_SIZE_LIMIT,
    SPEC_PAGE_THRESHOLD,
    DynamoDBSession,
    SessionStoreError,
    SessionTooLargeError,
)
from openai_agents_session.models.codec import encode_item, item_size
from tests.conftest import BACKEND, count_calls
from tests.support.sessions import (
    PutSizes,
    client_fixture,  # noqa: F401
    clients_fixture,  # noqa: F401
    legacy_item,
    message,
    module_table,  # noqa: F401
    now,
    raw_fixture,  # noqa: F401
    raw_get,
    raw_put,
    scan_pages,
    stored_history,
    stored_items,
)


def sid() -> str:
    return f"t-{uuid.uuid4().hex[:10]}"


class Clock:
    """A settable clock for the session's ``clock`` parameter."""

    def __init__(self, start: float) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


def stored_ttl(item: dict[str, Any] | None) -> int | None:
    assert item is not None
    return int(item["ttl"]["N"]) if "ttl" in item else None


# ----------------------------------------------------------------------- TTL


async def test_every_write_slides_the_ttl(client: Any, table: str, raw: Any) -> None:
    session_id = sid()
    clock = Clock(now() + 0.25)
    session = DynamoDBSession(
        session_id, client, table, ttl_seconds=3600, clock=clock, time_source="host"
    )

    await session.add_items([message("a"), message("b")])
    first = int(clock.now) + 3600
    assert stored_ttl(await raw_get(raw, table, session_id)) == first

    clock.now += 100.5
    await session.add_items([message("c")])
    assert stored_ttl(await raw_get(raw, table, session_id)) == int(clock.now) + 3600
    assert int(clock.now) + 3600 == first + 100

    clock.now += 50
    assert await session.pop_item() == message("c")
    assert stored_ttl(await raw_get(raw, table, session_id)) == first + 150

    # Reading does not extend the session; only writes do.
    clock.now += 50
    assert await session.get_items() == [message("a"), message("b")]
    assert stored_ttl(await raw_get(raw, table, session_id)) == first + 150


async def test_ttl_follows_the_wall_clock(client: Any, table: str, raw: Any) -> None:
    session_id = sid()
    session = DynamoDBSession(session_id, client, table, ttl_seconds=600)
    before = now()
    await session.add_items([message("a")])
    after = now()
    ttl = stored_ttl(await raw_get(raw, table, session_id))
    assert ttl is not None and before + 600 <= ttl <= after + 600


async def test_without_ttl_seconds_no_ttl_is_written(client: Any, table: str, raw: Any) -> None:
    session_id = sid()
    await DynamoDBSession(session_id, client, table, ttl_seconds=60).add_items([message("a")])
    assert stored_ttl(await raw_get(raw, table, session_id)) is not None
    # An object without ttl_seconds writes items that never expire.
    await DynamoDBSession(session_id, client, table).add_items([message("b")])
    assert stored_ttl(await raw_get(raw, table, session_id)) is None
    assert await stored_items(raw, table, session_id) == [message("a"), message("b")]


@pytest.mark.parametrize("ttl_seconds", [None, 60], ids=["no-ttl-seconds", "ttl-seconds"])
async def test_expired_item_reads_as_absent(
    client: Any, table: str, raw: Any, ttl_seconds: int | None
) -> None:
    session_id = sid()
    old = [message("old-1"), message("old-2")]
    expired = legacy_item(session_id, old, ttl=now() - 10)
    await raw_put(raw, table, expired)
    session = DynamoDBSession(session_id, client, table, ttl_seconds=ttl_seconds)

    calls = count_calls(client)
    assert await session.get_items() == []
    assert await session.get_items(limit=1) == []
    assert await session.pop_item() is None
    assert await session.get_record() is None
    assert calls["PutItem"] == 0  # reading an expired item never writes
    assert await raw_get(raw, table, session_id) == expired

    record = await session.get_record(include_expired=True)
    assert record is not None
    assert record.items == old
    assert record.ttl is not None and record.ttl < now()
    assert record.updated_at == 1_700_000_000

    await session.add_items([message("new")])
    assert await stored_items(raw, table, session_id) == [message("new")]
    ttl = stored_ttl(await raw_get(raw, table, session_id))
    if ttl_seconds is None:
        assert ttl is None
    else:
        assert ttl is not None and ttl >= now() + ttl_seconds - 5
    assert await session.get_items() == [message("new")]


async def test_clock_decides_expiry(client: Any, table: str, raw: Any) -> None:
    session_id = sid()
    live = DynamoDBSession(session_id, client, table, ttl_seconds=60)
    await live.add_items([message("a"), message("b")])
    later = DynamoDBSession(
        session_id,
        client,
        table,
        ttl_seconds=60,
        clock=lambda: time.time() + 61,
        time_source="host",
    )
    assert await later.get_items() == []
    assert await later.pop_item() is None
    assert await live.get_items() == [message("a"), message("b")]  # not yet for a present clock
    await later.add_items([message("fresh")])
    assert await stored_items(raw, table, session_id) == [message("fresh")]


async def test_fresh_object_replaces_an_expired_item(client: Any, table: str, raw: Any) -> None:
    session_id = sid()
    await raw_put(raw, table, legacy_item(session_id, [message("old")], ttl=now() - 1))
    # A fresh object's blind create meets the expired item and replaces it.
    await DynamoDBSession(session_id, client, table, ttl_seconds=60).add_items([message("new")])
    assert await stored_items(raw, table, session_id) == [message("new")]


async def test_replacing_an_expired_item_does_not_overwrite_a_racing_writer(
    client: Any, table: str, raw: Any
) -> None:
    session_id = sid()
    await raw_put(raw, table, legacy_item(session_id, [message("old")], ttl=now() - 10))
    slow = DynamoDBSession(session_id, client, table, ttl_seconds=60)
    assert await slow.get_items() == []  # `slow` now remembers the expired item

    # Another writer revives the session first.
    racer = DynamoDBSession(session_id, raw, table, ttl_seconds=60)
    await racer.add_items([message("racer")])
    assert await stored_items(raw, table, session_id) == [message("racer")]

    # `slow` would replace the expired item it saw; its condition must notice the
    # racer's write and append on top of it instead of overwriting it.
    await slow.add_items([message("slow")])
    assert await stored_items(raw, table, session_id) == [message("racer"), message("slow")]


async def test_replacing_an_expired_item_is_conditional_on_its_version(
    client: Any, table: str, raw: Any
) -> None:
    session_id = sid()
    await raw_put(raw, table, legacy_item(session_id, [message("old")], ttl=now() - 10))
    sent: list[dict[str, Any]] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        sent.append(params)

    client.meta.events.register("before-parameter-build.dynamodb.PutItem", record)
    session = DynamoDBSession(session_id, client, table)
    await session.get_items()
    await session.add_items([message("new")])
    (put,) = sent
    names = put["ExpressionAttributeNames"]
    values = {json.dumps(v, sort_keys=True) for v in put["ExpressionAttributeValues"].values()}
    assert set(names.values()) == {"updated_at", "session_id"}
    assert json.dumps({"N": "1700000000"}, sort_keys=True) in values
    assert "attribute_not_exists" in put["ConditionExpression"]


# ---------------------------------------------------------------------- size

V22 = Decimal("1764067000.123456789012")


def padding_for(
    session_id: str,
    history: list[Any],
    target: int,
    versions: int,
    created_at: Decimal | None = None,
) -> int:
    """Characters of ASCII content that make the next item exactly `target` bytes.

    Assumes versions of 22 significant digits (12 bytes) and a millisecond
    `created_at` of 13 (the current time's, unless given); one in a hundred has
    trailing zeros and is shorter, which callers detect and retry. The item's
    counters grow with the padding, so the size is solved for by iterating.
    """
    log = frozenset(V22 + Decimal(n + 1).scaleb(-12) for n in range(versions))
    if created_at is None:
        created_at = Decimal(int(time.time() * 1000) // 10 * 10 + 7).scaleb(-3)
    pad = 0
    for _ in range(6):
        conversation = json.dumps([*history, message("p" * pad)], separators=(",", ":"))
        size = item_size(
            encode_item(session_id, conversation, V22, None, log, created_at=created_at)
        )
        if size == target:
            break
        pad += target - size
    return pad


async def test_up_to_the_threshold_a_session_stays_the_spec_item(
    client: Any, table: str, raw: Any
) -> None:
    history = [message("h" * 1000)]
    for _ in range(5):  # a retry only if a version happened to have trailing zeros
        session_id = sid()
        session = DynamoDBSession(session_id, client, table)
        await session.add_items(history)
        sizes = PutSizes().attach(client)
        first = await raw_get(raw, table, session_id)
        assert first is not None
        created = Decimal(first["created_at"]["N"])
        pad = padding_for(session_id, history, DEFAULT_PAGE_THRESHOLD, 2, created_at=created)
        await session.add_items([message("p" * pad)])
        if sizes[-1] != DEFAULT_PAGE_THRESHOLD:
            continue
        stored = await raw_get(raw, table, session_id)
        assert stored is not None and item_size(stored) == DEFAULT_PAGE_THRESHOLD
        # The spec's attributes plus the write log and the catalog's: no page index, no pages.
        assert set(stored) == {
            "session_id",
            "conversation_data",
            "updated_at",
            "recent_writes",
            "created_at",
            "item_count",
            "history_size",
        }
        assert await scan_pages(raw, table, session_id) == []
        # One byte more and the older items move into a page; nothing is lost.
        await session.add_items([message("z")])
        stored = await raw_get(raw, table, session_id)
        assert stored is not None and "pages" in stored
        assert item_size(stored) < DEFAULT_PAGE_THRESHOLD // 2
        expected = [*history, message("p" * pad), message("z")]
        assert await stored_history(raw, table, session_id) == expected
        assert await DynamoDBSession(session_id, raw, table).get_items() == expected
        return
    pytest.fail("no attempt produced an item of exactly the threshold")


async def test_past_the_session_cap_is_refused_before_sending(
    client: Any, table: str, raw: Any
) -> None:
    session_id = sid()
    # The spec's single-item layout, so that the stored head holds the whole history.
    session = DynamoDBSession(
        session_id, client, table, max_session_bytes=100_000, page_threshold=SPEC_PAGE_THRESHOLD
    )
    await session.add_items([message("a" * 60_000)])
    before = await raw_get(raw, table, session_id)
    calls = count_calls(client)
    with pytest.raises(SessionTooLargeError) as caught:
        await session.add_items([message("b" * 50_000)])
    assert calls.total() == 0
    assert caught.value.limit == 100_000 and caught.value.size > 100_000
    text = str(caught.value)
    assert session_id in text and table in text and "max_session_bytes" in text
    assert isinstance(caught.value, SessionStoreError)
    assert await raw_get(raw, table, session_id) == before
    await session.add_items([message("small")])
    assert await stored_items(raw, table, session_id) == [message("a" * 60_000), message("small")]


async def test_exact_item_limit_is_sent_and_accepted(client: Any, table: str, raw: Any) -> None:
    # With the threshold at DynamoDB's limit, the head may be exactly 409600 bytes.
    sizes = PutSizes().attach(client)
    for _ in range(5):
        session_id = sid()
        session = DynamoDBSession(session_id, client, table, page_threshold=ITEM_SIZE_LIMIT)
        pad = padding_for(session_id, [], ITEM_SIZE_LIMIT, versions=1)
        refused: SessionTooLargeError | None = None
        try:
            await session.add_items([message("p" * pad)])
        except SessionTooLargeError as exc:
            refused = exc
        if sizes[-1] != ITEM_SIZE_LIMIT:
            continue  # a version with trailing zeros: a shorter item, try again
        # The library lets exactly 409600 bytes through to the endpoint.
        if BACKEND == "moto":
            # moto refuses from 405000 bytes by its own count (its LimitedSizeDict),
            # not at DynamoDB's 409600; dynalite implements DynamoDB's rule.
            assert refused is not None
            return
        assert refused is None
        stored = await raw_get(raw, table, session_id)
        assert stored is not None and item_size(stored) == ITEM_SIZE_LIMIT
        # The endpoint's own boundary: one more byte is refused by DynamoDB too.
        too_big = dict(stored, conversation_data={"S": stored["conversation_data"]["S"] + " "})
        assert item_size(too_big) == ITEM_SIZE_LIMIT + 1
        with pytest.raises(raw.exceptions.ClientError, match=r"[Ss]ize"):
            await raw.put_item(TableName=table, Item=too_big)
        return
    pytest.fail("no attempt produced an item of exactly 409600 bytes")


@pytest.mark.moto_only
async def test_endpoint_refusing_the_size_is_a_too_large_error(
    client: Any, table: str, raw: Any
) -> None:
    # moto refuses from 405000 bytes (its own count): the library's check passes,
    # the endpoint's does not, and the refusal must still come back typed.
    session_id = sid()
    session = DynamoDBSession(session_id, client, table, page_threshold=ITEM_SIZE_LIMIT)
    await session.add_items([message("a")])
    before = await raw_get(raw, table, session_id)
    sizes = PutSizes().attach(client)
    with pytest.raises(SessionTooLargeError) as caught:
        await session.add_items([message("x" * 406_000)])
    assert len(sizes) == 1 and 405_000 < sizes[0] < ITEM_SIZE_LIMIT
    assert caught.value.limit == ITEM_SIZE_LIMIT
    assert await raw_get(raw, table, session_id) == before
    await session.add_items([message("b")])
    assert await stored_items(raw, table, session_id) == [message("a"), message("b")]
    # `.size` is documented as the size the item would have had by DynamoDB's rule.
    assert caught.value.size == sizes[0]


def size_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [getattr(r, "size_kind", "") for r in caplog.records if hasattr(r, "size_kind")]


async def test_growing_to_1_mb_logs_no_size_warning(
    client: Any, table: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Today: 13 warnings about the 400 KB item limit, which paging never reaches."""
    session = DynamoDBSession(sid(), client, table)
    with caplog.at_level(logging.WARNING, logger="openai_agents_session"):
        for i in range(25):
            await session.add_items([message(f"{i}:" + "x" * 40_000)])
    record = await session.get_record()
    assert record is not None and record.pages is not None
    # Only an endpoint without transactions (dynalite) has one warning to give: once,
    # that its seals take two calls.
    warned = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert size_warnings(caplog) == []
    assert all("has no TransactWriteItems" in text for text in warned) and len(warned) <= 1


async def test_nearing_max_session_bytes_warns_once_per_session_object(
    client: Any, table: str, caplog: pytest.LogCaptureFixture
) -> None:
    session_id = sid()
    session = DynamoDBSession(session_id, client, table, max_session_bytes=200_000)
    with caplog.at_level(logging.WARNING, logger="openai_agents_session"):
        for i in range(3):
            await session.add_items([message(f"{i}:" + "x" * 50_000)])
        assert size_warnings(caplog) == []
        for i in range(3, 6):
            await session.add_items([message(f"{i}:" + "x" * 10_000)])
        assert size_warnings(caplog) == ["cap"]
        (record,) = [r for r in caplog.records if hasattr(r, "size_kind")]
        text = record.getMessage()
        assert session_id in text and table in text and "max_session_bytes" in text
        assert "xxxx" not in text
        # Another object is another reader: it says so once too.
        other = DynamoDBSession(session_id, client, table, max_session_bytes=200_000)
        await other.add_items([message("7")])
        await other.add_items([message("8")])
    assert size_warnings(caplog) == ["cap", "cap"]


async def test_a_head_that_pages_cannot_shrink_warns_once_of_the_item_limit_and_the_index(
    client: Any, table: str, raw: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """A head listing 5,000 pages: its index alone is about 150 KB."""
    session_id = sid()
    entries = [[f"{n:016x}", 1, 0, 1, 10] for n in range(4_999)]
    entries.append([f"{5_000:016x}", 1, 0, 1, 524_288])  # full: a seal writes a new page
    await raw_put(
        raw,
        table,
        {
            "session_id": {"S": session_id},
            "conversation_data": {"S": "[]"},
            "updated_at": {"N": "1700000000.5"},
            "pages": {"S": json.dumps({"ttl": None, "pages": entries}, separators=(",", ":"))},
        },
    )
    # The index may fill half of page_threshold: pin the one it was written with.
    session = DynamoDBSession(
        session_id, client, table, size_warning_ratio=0.3, page_threshold=SPEC_PAGE_THRESHOLD
    )
    with caplog.at_level(logging.WARNING, logger="openai_agents_session"):
        for i in range(4):
            await session.add_items([message(f"{i}:" + "x" * 3_000)])
    assert sorted(size_warnings(caplog)) == ["index", "item"]


async def test_max_items_keeps_the_newest(client: Any, table: str, raw: Any) -> None:
    session_id = sid()
    session = DynamoDBSession(session_id, client, table, max_items=3)
    calls = count_calls(client)
    await session.add_items([message("a"), message("b")])
    await session.add_items([message("c"), message("d")])
    assert await stored_items(raw, table, session_id) == [message(t) for t in "bcd"]
    await session.add_items([message(t) for t in "efghi"])
    assert await stored_items(raw, table, session_id) == [message(t) for t in "ghi"]
    assert calls == Counter({"PutItem": 3})
    assert await session.get_items() == [message(t) for t in "ghi"]
    assert await session.pop_item() == message("i")
    # Another object without a bound sees the trimmed history, not the dropped items.
    assert await DynamoDBSession(session_id, raw, table).get_items() == [message("g"), message("h")]


async def test_big_histories_page_instead_of_failing(client: Any, table: str, raw: Any) -> None:
    session_id = sid()
    big = "z" * 150_000
    session = DynamoDBSession(session_id, client, table)
    for i in range(4):
        await session.add_items([message(f"{i}{big}")])
    expected = [message(f"{i}{big}") for i in range(4)]
    assert await stored_history(raw, table, session_id) == expected
    # A bounded object keeps only the newest two, whatever the layout.
    bounded = DynamoDBSession(session_id, client, table, max_items=2)
    await bounded.add_items([message(f"4{big}")])
    stored = await stored_history(raw, table, session_id)
    assert stored is not None and [m["content"][0] for m in stored] == ["3", "4"]
    assert [m["content"][0] for m in await session.get_items()] == ["3", "4"]


async def test_max_items_never_keeps_a_tool_output_without_its_call(
    client: Any, table: str, raw: Any
) -> None:
    # The reproduction: max_items=2 used to store [function_call_output, assistant].
    session_id = sid()
    session = DynamoDBSession(session_id, client, table, max_items=2)
    call = {"type": "function_call", "call_id": "c1", "name": "weather", "arguments": "{}"}
    output = {"type": "function_call_output", "call_id": "c1", "output": "sunny"}
    answer = message("It is sunny.", role="assistant")
    await session.add_items([message("Weather?")])
    await session.add_items([call, output])
    assert await stored_items(raw, table, session_id) == [call, output]
    await session.add_items([answer])
    # Strict bound: the pair cannot be split, so only the answer is kept.
    assert await stored_items(raw, table, session_id) == [answer]
    assert await session.get_items() == [answer]
