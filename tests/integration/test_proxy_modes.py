"""The fault proxy's `server_error`, `delay_deliver` and `never_answer` modes, on a real endpoint.

Each test puts `FaultProxy` between an aiobotocore client and the endpoint, makes
raw DynamoDB calls through it, and checks what reached the endpoint by reading
the table with a direct client.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError, ConnectionClosedError, ReadTimeoutError

from tests.support.proxy import FAULTS, FaultProxy

ClientFactory = Callable[..., Awaitable[Any]]

# Bounds on waits: they catch hangs, not slowdowns.
WAIT = 5.0
ONE_ATTEMPT = {"mode": "standard", "total_max_attempts": 1}
# Legacy mode backs off 50 ms before the resend (standard mode: up to 1 s).
TWO_ATTEMPTS = {"mode": "legacy", "total_max_attempts": 2}


def item(sid: str, data: str, updated_at: int = 1) -> dict[str, Any]:
    return {
        "session_id": {"S": sid},
        "conversation_data": {"S": data},
        "updated_at": {"N": str(updated_at)},
    }


async def stored(client: Any, table: str, sid: str) -> dict[str, Any] | None:
    """The item as the endpoint holds it (None if absent), read without the proxy."""
    answer = await client.get_item(
        TableName=table, Key={"session_id": {"S": sid}}, ConsistentRead=True
    )
    return answer.get("Item")


@pytest.fixture
async def proxy(endpoint: str) -> AsyncIterator[FaultProxy]:
    async with FaultProxy(endpoint) as running:
        yield running


def test_new_faults_are_known() -> None:
    assert {"server_error", "delay_deliver", "never_answer"} <= set(FAULTS)


# ----------------------------------------------------------------- server_error


async def test_server_error_answers_500_after_the_write_landed(
    proxy: FaultProxy, make_client: ClientFactory, client: Any, table: str
) -> None:
    rule = proxy.add_rule(op="PutItem", fault="server_error")
    via_proxy = await make_client(url=proxy.url, retries=ONE_ATTEMPT)

    with pytest.raises(ClientError) as caught:
        await via_proxy.put_item(TableName=table, Item=item("s1", '["A"]'))

    error = caught.value.response
    assert error["Error"]["Code"] == "InternalServerError"
    assert "(fault proxy)" in error["Error"]["Message"]
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 500
    assert error["ResponseMetadata"]["RequestId"]
    assert await stored(client, table, "s1") == item("s1", '["A"]')
    assert proxy.forwarded["PutItem"] == 1
    assert rule.hits == 1


async def test_server_error_is_retried_and_the_write_lands_twice(
    proxy: FaultProxy, make_client: ClientFactory, client: Any, table: str
) -> None:
    await client.put_item(TableName=table, Item=item("s1", "[]", updated_at=1))
    proxy.add_rule(op="UpdateItem", fault="server_error")
    via_proxy = await make_client(url=proxy.url, retries=TWO_ATTEMPTS)

    answer = await via_proxy.update_item(
        TableName=table,
        Key={"session_id": {"S": "s1"}},
        UpdateExpression="ADD updated_at :one",
        ExpressionAttributeValues={":one": {"N": "1"}},
    )

    # The client saw one failure and one success; the endpoint applied both.
    assert answer["ResponseMetadata"]["RetryAttempts"] == 1
    assert proxy.forwarded["UpdateItem"] == 2
    assert (await stored(client, table, "s1") or {})["updated_at"] == {"N": "3"}


# ---------------------------------------------------------------- delay_deliver


async def test_delay_deliver_lands_after_the_client_gave_up(
    proxy: FaultProxy, make_client: ClientFactory, client: Any, table: str
) -> None:
    # A non-idempotent write shows that both the resend and the late original
    # landed, whichever of the two reached the endpoint first.
    await client.put_item(TableName=table, Item=item("s1", "[]", updated_at=1))
    rule = proxy.delay_deliver_next("UpdateItem")
    via_proxy = await make_client(url=proxy.url, read_timeout=1, retries=TWO_ATTEMPTS)

    answer = await via_proxy.update_item(
        TableName=table,
        Key={"session_id": {"S": "s1"}},
        UpdateExpression="ADD updated_at :one",
        ExpressionAttributeValues={":one": {"N": "1"}},
    )
    assert answer["ResponseMetadata"]["RetryAttempts"] == 1  # the first attempt timed out
    await asyncio.wait_for(rule.delivered.wait(), WAIT)

    assert rule.gate is None
    assert rule.hits == 1
    assert proxy.seen["UpdateItem"] == proxy.forwarded["UpdateItem"] == 2
    assert (await stored(client, table, "s1") or {})["updated_at"] == {"N": "3"}


async def test_gated_delay_deliver_overwrites_a_later_write(
    proxy: FaultProxy, make_client: ClientFactory, client: Any, table: str
) -> None:
    rule = proxy.delay_deliver_next("PutItem", gated=True)
    assert rule.gate is not None
    via_proxy = await make_client(url=proxy.url, read_timeout=1, retries=TWO_ATTEMPTS)

    answer = await via_proxy.put_item(TableName=table, Item=item("s1", '["A"]'))
    assert answer["ResponseMetadata"]["RetryAttempts"] == 1  # the resend went through
    assert rule.gate.arrived.is_set()
    assert not rule.delivered.is_set()
    assert proxy.forwarded["PutItem"] == 1

    await client.put_item(TableName=table, Item=item("s1", '["B"]', updated_at=2))
    assert await stored(client, table, "s1") == item("s1", '["B"]', updated_at=2)

    rule.gate.release()
    await asyncio.wait_for(rule.delivered.wait(), WAIT)

    # The original request, delivered late, silently undid the later write.
    assert proxy.forwarded["PutItem"] == 2
    assert await stored(client, table, "s1") == item("s1", '["A"]')


# ----------------------------------------------------------------- never_answer


async def test_never_answer_times_the_client_out_and_forwards_nothing(
    proxy: FaultProxy, make_client: ClientFactory, client: Any, table: str
) -> None:
    rule = proxy.add_rule(op="PutItem", fault="never_answer")
    via_proxy = await make_client(url=proxy.url, read_timeout=1, retries=ONE_ATTEMPT)

    started = time.monotonic()
    with pytest.raises(ReadTimeoutError):
        await via_proxy.put_item(TableName=table, Item=item("s1", '["A"]'))
    elapsed = time.monotonic() - started

    assert 0.9 <= elapsed < 4.0, f"gave up after {elapsed:.2f}s"
    assert rule.hits == 1
    assert proxy.seen["PutItem"] == 1
    assert "PutItem" not in proxy.forwarded
    assert await stored(client, table, "s1") is None


async def test_never_answer_closes_the_connection_after_its_delay(
    proxy: FaultProxy, make_client: ClientFactory, client: Any, table: str
) -> None:
    proxy.add_rule(op="PutItem", fault="never_answer", delay=0.5)
    via_proxy = await make_client(url=proxy.url, read_timeout=10, retries=ONE_ATTEMPT)

    started = time.monotonic()
    with pytest.raises(ConnectionClosedError):
        await via_proxy.put_item(TableName=table, Item=item("s1", "[]"))
    elapsed = time.monotonic() - started

    # The proxy hung up after `delay`, long before the client's read timeout.
    assert elapsed < 4.0, f"gave up after {elapsed:.2f}s"
    assert "PutItem" not in proxy.forwarded
    assert await stored(client, table, "s1") is None
