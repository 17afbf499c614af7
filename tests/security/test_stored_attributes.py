"""Stored usage and metadata are data, not trust; usage input is bounded.

A hostile (or merely broken) ``usage`` or ``metadata`` attribute on an otherwise
valid head must give `CorruptSessionError` everywhere it is read, and the CLI
must report it and go on. Whatever the history, the usage record stays within
its cap. Hostile usage input is refused before any call.
"""

from __future__ import annotations

import json
import types
import uuid
from decimal import Decimal
from typing import Any

import boto3
import pytest
from typer.testing import CliRunner

from openai_agents_session import (
    CorruptSessionError,
    DynamoDBSession,
    InvalidArgumentError,
    InvalidAttributeError,
    list_sessions,
)
from openai_agents_session.admin import iter_sessions
from openai_agents_session.cli import app
from openai_agents_session.models.codec import encode_item
from openai_agents_session.models.usage import USAGE_MAX_BYTES
from tests.conftest import count_calls
from tests.support.sessions import create_table_blocking

DEEP = "[" * 100_000 + "]" * 100_000
SECRET = "s3cr3t-user-text"


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": text}


def result(**fields: Any) -> Any:
    """What store_run_usage reads of a RunResult: context_wrapper.usage."""
    usage = {
        "requests": 1, "input_tokens": 10, "output_tokens": 5, "total_tokens": 15,
        "input_tokens_details": None, "output_tokens_details": None,
        "request_usage_entries": [],
    }  # fmt: skip
    usage.update(fields)
    wrapper = types.SimpleNamespace(usage=types.SimpleNamespace(**usage))
    return types.SimpleNamespace(context_wrapper=wrapper)


async def raw_head(client: Any, table: str, sid: str) -> dict[str, Any]:
    got = await client.get_item(
        TableName=table, Key={"session_id": {"S": sid}}, ConsistentRead=True
    )
    item: dict[str, Any] = got["Item"]
    return item


async def set_raw(client: Any, table: str, sid: str, name: str, text: str) -> None:
    await client.update_item(
        TableName=table, Key={"session_id": {"S": sid}}, UpdateExpression="SET #a = :v",
        ExpressionAttributeNames={"#a": name}, ExpressionAttributeValues={":v": {"S": text}},
    )  # fmt: skip


def assert_clean_error(exc: BaseException, sid: str, table: str) -> None:
    message = str(exc)
    assert sid in message and table in message and "Fix:" in message
    assert SECRET not in message and "[[[[" not in message


@pytest.fixture(scope="module")
def shared(endpoint: str) -> str:
    """One table for the parametrized tests, which keep apart by session id."""
    return create_table_blocking(endpoint)


# ------------------------------------------------------------------ hostile usage

HOSTILE_USAGE = {
    "deep": DEEP,
    "turns-list": '{"turns":[1,2,3]}',
    "string-count": '{"turns":{"1":{"input_tokens":"lots"}}}',
    "negative": '{"turns":{"1":{"input_tokens":-5}}}',
    "bool-count": '{"earlier":{"requests":true,"turns":1}}',
    "not-an-object": '"' + SECRET + '"',
    "bad-turn-key": '{"turns":{"' + SECRET + '":{}}}',
    "huge-details": json.dumps({"turns": {"1": {"input_tokens_details": {
        f"f{i}": 1 for i in range(20_000)}}}}),
}  # fmt: skip


@pytest.mark.parametrize("text", HOSTILE_USAGE.values(), ids=HOSTILE_USAGE.keys())
async def test_hostile_stored_usage_is_corrupt_everywhere(
    client: Any, shared: str, text: str
) -> None:
    """Today: RecursionError, AttributeError, ValueError escaped untyped."""
    sid, table = f"victim-{uuid.uuid4().hex[:8]}", shared
    session = DynamoDBSession(sid, client, table, owner="u")
    await session.add_items([user(SECRET)])
    await set_raw(client, table, sid, "usage", text)
    before = await raw_head(client, table, sid)
    reader = DynamoDBSession(sid, client, table)
    calls = [
        reader.get_session_usage,
        reader.get_turn_usage,
        lambda: reader.get_turn_usage(1),
        lambda: reader.store_run_usage(result()),
        reader.get_record,
    ]
    for call in calls:
        with pytest.raises(CorruptSessionError) as caught:
            await call()
        assert_clean_error(caught.value, sid, table)
    assert await raw_head(client, table, sid) == before  # nothing changed
    # The history itself stays usable, and a clear is the way out.
    assert await reader.get_items() == [user(SECRET)]
    await reader.clear_session()
    assert await reader.get_session_usage() is None


async def test_a_string_in_the_page_memo_is_corrupt(client: Any, table: str) -> None:
    """Today: a string in page_users gave TypeError from store_run_usage."""
    sid = "memo"
    session = DynamoDBSession(sid, client, table, page_threshold=16 * 1024)
    for n in range(8):
        await session.add_items([user(f"q{n} " + "x" * 3000)])
    record = await session.get_record()
    assert record is not None and record.pages is not None
    memo = {ref.id: "abc" for ref in record.pages.pages}
    await set_raw(client, table, sid, "usage", json.dumps({"turns": {}, "page_users": memo}))
    with pytest.raises(CorruptSessionError) as caught:
        await DynamoDBSession(sid, client, table).store_run_usage(result())
    assert_clean_error(caught.value, sid, table)


# ------------------------------------------------------------------ hostile metadata


@pytest.mark.parametrize("text", [DEEP, "[1,2]", '{"a":' * 40 + "1" + "}" * 40])
async def test_hostile_stored_metadata_is_corrupt(client: Any, table: str, text: str) -> None:
    """Today: 100,000-deep metadata gave RecursionError from get_record."""
    sid = "meta"
    await DynamoDBSession(sid, client, table, owner="u").add_items([user(SECRET)])
    await set_raw(client, table, sid, "metadata", text)
    with pytest.raises(CorruptSessionError) as caught:
        await DynamoDBSession(sid, client, table).get_record()
    assert_clean_error(caught.value, sid, table)
    entries = [e async for e in iter_sessions(client, table)]
    assert [(e.session_id, e.error is not None) for e in entries] == [(sid, True)]


async def test_metadata_deeper_than_the_read_allows_is_refused_on_write(
    client: Any, table: str
) -> None:
    deep: dict[str, Any] = {}
    node = deep
    for _ in range(40):
        node["a"] = {}
        node = node["a"]
    calls = count_calls(client)
    with pytest.raises(InvalidAttributeError, match="nested deeper than 32"):
        DynamoDBSession("m", client, table, metadata=deep)
    session = DynamoDBSession("m", client, table)
    with pytest.raises(InvalidAttributeError, match="nested deeper than 32"):
        await session.set_attributes(metadata=deep)
    assert calls.total() == 0


async def test_hostile_index_attributes_are_reported_and_the_listing_goes_on(
    client: Any, table: str
) -> None:
    version = Decimal("1800000000.000001000000")
    for sid, extra in (
        ("good", {}),
        ("long-title", {"title": {"S": "t" * 5000}}),
        ("bad-count", {"item_count": {"N": "-3"}}),
        ("huge-size", {"history_size": {"N": "1e30"}}),
    ):
        item = encode_item(sid, json.dumps([user("hi")]), version, None, frozenset({version}),
                           extra={"owner": {"S": "u"}}, created_at=version, count=1)  # fmt: skip
        item.update(extra)
        await client.put_item(TableName=table, Item=item)
    page = await list_sessions(client, table, owner="u")
    by_id = {s.session_id: s for s in page.sessions}
    assert set(by_id) == {"good", "long-title", "bad-count", "huge-size"}
    assert by_id["good"].error is None and by_id["good"].item_count == 1
    for sid in ("long-title", "bad-count", "huge-size"):
        error = by_id[sid].error
        assert error is not None and sid in error and table in error and "Fix:" in error
    assert by_id["long-title"].title is None and by_id["bad-count"].item_count == 0


# ------------------------------------------------------------------ the CLI


def test_cli_list_and_export_report_a_hostile_head_and_go_on(endpoint: str, table: str) -> None:
    """Today: `sessions list` and `sessions export --all` died with a traceback."""
    dynamodb = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1")
    version = Decimal("1800000000.000001000000")
    for sid, extra in (("a-good", {}), ("b-bad", {"usage": {"S": DEEP}}), ("c-good", {})):
        body = json.dumps([user(f"hello {sid}")])
        item = encode_item(sid, body, version, None, frozenset({version}), extra=extra,
                           created_at=version, count=1)  # fmt: skip
        dynamodb.put_item(TableName=table, Item=item)

    def cli(*args: str) -> Any:
        return CliRunner().invoke(
            app, ["sessions", *args, "--endpoint-url", endpoint, "--table", table]
        )

    listed = cli("list", "--json")
    assert listed.exception is None or isinstance(listed.exception, SystemExit), listed.output
    rows = {row["session_id"]: row for row in json.loads(listed.stdout)["sessions"]}
    assert set(rows) == {"a-good", "b-bad", "c-good"}
    assert rows["b-bad"]["error"] and "usage" in rows["b-bad"]["error"]
    assert rows["a-good"]["error"] is None
    exported = cli("export", "--all")
    assert exported.exit_code == 1 and not isinstance(exported.exception, RecursionError)
    lines = [json.loads(line) for line in exported.stdout.splitlines() if line.startswith("{")]
    assert sorted(line["session_id"] for line in lines) == ["a-good", "c-good"]


# ------------------------------------------------------------------ the cap


async def test_usage_stays_within_its_cap_at_any_history_size(client: Any, table: str) -> None:
    """Today: short messages with one usage stored per 8,000 items grew the usage
    attribute without bound (311 KB at 4.5 MB of history), until the head no longer
    fit and store_run_usage raised SessionTooLargeError for good."""
    sid = "long-chat"
    session = DynamoDBSession(sid, client, table, page_threshold=16 * 1024)
    total = 0
    for batch in range(3):
        await session.add_items([user(f"m{batch}-{n}") for n in range(8000)])
        total += 8000
        assert await session.store_run_usage(result()) == total
    head = await raw_head(client, table, sid)
    assert len(head["usage"]["S"].encode()) <= USAGE_MAX_BYTES
    # The memo answers for every page: a further store reads no page.
    calls = count_calls(client)
    assert await session.store_run_usage(result()) == total
    assert calls["BatchGetItem"] == 0
    totals = await session.get_session_usage()
    assert totals is not None and totals["requests"] == 4 and totals["total_turns"] == 3


async def test_the_memo_follows_a_page_view_that_narrowed(client: Any, table: str) -> None:
    """A trim (max_items) raises a page's start: the memo's count for the old view is
    not trusted, the page is read again, and the turn is right."""
    sid = "trimmed"
    session = DynamoDBSession(sid, client, table, page_threshold=16 * 1024)
    for n in range(6):
        await session.add_items([user(f"q{n}-{i} " + "y" * 40) for i in range(200)])
    assert await session.store_run_usage(result()) == 1200
    bounded = DynamoDBSession(sid, client, table, page_threshold=16 * 1024, max_items=1000)
    await bounded.add_items([user("last")])
    history = await session.get_items()
    assert len(history) == 1000
    assert await session.store_run_usage(result()) == 1000


# ------------------------------------------------------------------ hostile input

HOSTILE_INPUT = {
    "huge-int": {"input_tokens": 10**5000},
    "negative": {"output_tokens": -1},
    "bool": {"requests": True},
    "float": {"total_tokens": 1.5},
    "details-fields": {"input_tokens_details": {f"f{i}": 1 for i in range(20_000)}},
    "details-negative": {"output_tokens_details": {"reasoning_tokens": -2}},
    "details-bool": {"input_tokens_details": {"cached_tokens": False}},
    "details-huge": {"input_tokens_details": {"cached_tokens": 10**40}},
    "details-name": {"input_tokens_details": {"x" * 1000: 1}},
    "entries": {"request_usage_entries": [types.SimpleNamespace()] * 1001},
    "entry-negative": {"request_usage_entries": [types.SimpleNamespace(input_tokens=-1)]},
}


@pytest.mark.parametrize("fields", HOSTILE_INPUT.values(), ids=HOSTILE_INPUT.keys())
async def test_hostile_usage_input_is_refused_before_any_call(
    client: Any, shared: str, fields: dict[str, Any]
) -> None:
    """Today: 10**5000 gave an untyped ValueError, 20,000 detail fields stored 278 KB,
    negative and bool counts were stored."""
    sid, table = f"input-{uuid.uuid4().hex[:8]}", shared
    session = DynamoDBSession(sid, client, table)
    await session.add_items([user("hi")])
    calls = count_calls(client)
    with pytest.raises(InvalidArgumentError) as caught:
        await session.store_run_usage(result(**fields))
    assert_clean_error(caught.value, sid, table)
    assert calls.total() == 0
    assert "usage" not in await raw_head(client, table, sid)
