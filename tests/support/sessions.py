"""Helpers for the session tests: cheap clients, per-module tables, raw item access.

Tests judge the library by what DynamoDB holds, so the raw helpers bypass
`DynamoDBSession` entirely and speak attribute-value maps to a second client.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any

import pytest
from aiobotocore.session import get_session

from openai_agents_session import SessionRecord, create_table_if_not_exists
from openai_agents_session.models.codec import item_size
from tests.conftest import client_config

# One botocore session for all clients: each new client then reuses the parsed
# service model and costs milliseconds instead of ~100 ms on a loaded machine.
_BOTO = get_session()

ClientMaker = Callable[..., Awaitable[Any]]

# The old implementation stored whole-second timestamps and `json.dumps` defaults.
LEGACY_UPDATED_AT = 1_700_000_000


@asynccontextmanager
async def client_maker(endpoint: str) -> AsyncIterator[ClientMaker]:
    """Yield a factory of aiobotocore clients on `endpoint`; all are closed on exit."""
    contexts: list[Any] = []

    async def make(**config: Any) -> Any:
        context = _BOTO.create_client(
            "dynamodb",
            region_name="us-east-1",
            endpoint_url=endpoint,
            aws_access_key_id="test",
            aws_secret_access_key="test",
            config=client_config(**config),
        )
        client = await context.__aenter__()
        contexts.append(context)
        return client

    try:
        yield make
    finally:
        for context in reversed(contexts):
            await context.__aexit__(None, None, None)


def create_table_blocking(
    endpoint: str, prefix: str = "sessions", *, record: type[SessionRecord] = SessionRecord
) -> str:
    """Create a fresh schema table from synchronous code (a module-scoped fixture).

    It runs in its own thread and event loop, so it cannot disturb the loop that
    pytest-asyncio gives each test. `record` may add a team's indexes.
    """
    name = f"{prefix}-{uuid.uuid4().hex[:12]}"

    async def create() -> None:
        async with client_maker(endpoint) as make:
            await create_table_if_not_exists(await make(), name, record=record)

    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, create()).result()
    return name


def message(tag: str, role: str = "user") -> dict[str, Any]:
    """A minimal conversation item whose content identifies it."""
    return {"role": role, "content": tag}


async def raw_get(client: Any, table: str, session_id: str) -> dict[str, Any] | None:
    """The session's item exactly as stored (consistent read), or None."""
    response = await client.get_item(
        TableName=table, Key={"session_id": {"S": session_id}}, ConsistentRead=True
    )
    item: dict[str, Any] | None = response.get("Item")
    return item


async def raw_put(client: Any, table: str, item: dict[str, Any]) -> None:
    """Store an attribute-value map unconditionally, as another program would."""
    await client.put_item(TableName=table, Item=item)


async def stored_items(client: Any, table: str, session_id: str) -> list[Any] | None:
    """The parsed `conversation_data` of the stored item, or None when there is no item."""
    item = await raw_get(client, table, session_id)
    if item is None:
        return None
    parsed: list[Any] = json.loads(item["conversation_data"]["S"])
    return parsed


def is_cleared(item: dict[str, Any] | None) -> bool:
    """Whether a stored head is gone or a tombstone: no items, no pages."""
    if item is None:
        return True
    return item["conversation_data"]["S"] == "[]" and "pages" not in item


async def scan_pages(client: Any, table: str, session_id: str | None = None) -> list[Any]:
    """Every stored page part (of one session, or of all), read by a full Scan."""
    found: list[Any] = []
    request: dict[str, Any] = {"TableName": table, "ConsistentRead": True}
    while True:
        response = await client.scan(**request)
        for item in response.get("Items", []):
            if not item["session_id"]["S"].startswith("__oas__#page#"):
                continue
            if session_id is None or item["page_of"]["S"] == session_id:
                found.append(item)
        if "LastEvaluatedKey" not in response:
            return found
        request["ExclusiveStartKey"] = response["LastEvaluatedKey"]


async def stored_history(client: Any, table: str, session_id: str) -> list[Any] | None:
    """The whole history as stored, pages included, decoded here independently of
    the library: the head's index names the pages, each page is zlib'd JSON."""
    item = await raw_get(client, table, session_id)
    if item is None:
        return None
    head: list[Any] = json.loads(item["conversation_data"]["S"])
    if "pages" not in item:
        return head
    index = json.loads(item["pages"]["S"])
    history: list[Any] = []
    for entry in index["pages"]:
        history.extend(await _entry_items(client, table, session_id, entry))
    return history + head


async def _entry_items(client: Any, table: str, session_id: str, entry: list[Any]) -> list[Any]:
    """The items one index entry uses: a page's view, or a composite's (parts 0),
    whose one item lists its member pages as index entries."""
    page_id, parts, start, length, _size = entry
    if parts == 0:
        key = f"__oas__#page#{session_id}#{page_id}#0"
        stored = await raw_get(client, table, key)
        assert stored is not None, f"composite {key} is missing"
        items: list[Any] = []
        for member in json.loads(stored["page_data"]["B"]):
            assert member[1] > 0, "a composite lists a composite"
            items.extend(await _entry_items(client, table, session_id, member))
        return items[start : start + length]
    blob = b""
    for part in range(parts):
        key = f"__oas__#page#{session_id}#{page_id}#{part}"
        stored = await raw_get(client, table, key)
        assert stored is not None, f"page part {key} is missing"
        blob += stored["page_data"]["B"]
    page: list[Any] = json.loads(zlib.decompress(blob))
    return page[start : start + length]


def legacy_item(
    session_id: str,
    items: list[dict[str, Any]],
    *,
    updated_at: int = LEGACY_UPDATED_AT,
    ttl: int | None = None,
) -> dict[str, Any]:
    """An item as the pre-library implementation wrote it: no write log, loose JSON."""
    item: dict[str, Any] = {
        "session_id": {"S": session_id},
        "conversation_data": {"S": json.dumps(items)},
        "updated_at": {"N": str(updated_at)},
    }
    if ttl is not None:
        item["ttl"] = {"N": str(ttl)}
    return item


def now() -> int:
    """Whole Unix seconds, as DynamoDB's TTL counts them."""
    return int(time.time())


class PutSizes(list[int]):
    """Sizes (DynamoDB's rule) of every PutItem a client sends, in order."""

    def attach(self, client: Any) -> PutSizes:
        def record(params: dict[str, Any], **_: Any) -> None:
            self.append(item_size(params["Item"]))

        client.meta.events.register("before-parameter-build.dynamodb.PutItem", record)
        return self


# Fixtures shared by the session test modules. Import them into a module (pytest
# registers them under `name=`); they replace conftest's per-test table and
# client, which cost a table creation and a fresh botocore session each.


@pytest.fixture(scope="module", name="table")
def module_table(endpoint: str) -> str:
    """One schema table per test module; tests keep apart by session id."""
    return create_table_blocking(endpoint)


@pytest.fixture(name="clients")
async def clients_fixture(endpoint: str) -> AsyncIterator[ClientMaker]:
    """Factory of extra clients on the endpoint, closed after the test."""
    async with client_maker(endpoint) as make:
        yield make


@pytest.fixture(name="client")
async def client_fixture(clients: ClientMaker) -> Any:
    """The client the session under test uses (and whose calls get counted)."""
    return await clients()


@pytest.fixture(name="raw")
async def raw_fixture(clients: ClientMaker) -> Any:
    """A second client: reads the truth from the endpoint and is never counted."""
    return await clients()
