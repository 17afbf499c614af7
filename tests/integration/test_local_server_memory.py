"""The embedded moto server stays bounded under transactions and still rolls them back.

`moto_server.bound_memory` replaces moto's whole-table copy per TransactWriteItems
action with an undo log of the touched items. The rollback tests run on any
backend that has TransactWriteItems (dynalite has none); the memory test starts its
own moto server.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.support.endpoints import create_plain_table, rss_bytes, running_moto

pytestmark = pytest.mark.moto_only  # dynalite answers TransactWriteItems with UnknownOperation


async def _plain_table(client: Any) -> str:
    name = f"tx-{uuid.uuid4().hex[:12]}"
    await create_plain_table(client, name)
    return name


async def _item(client: Any, table: str, pk: str) -> dict[str, Any] | None:
    answer = await client.get_item(TableName=table, Key={"pk": {"S": pk}}, ConsistentRead=True)
    item: dict[str, Any] | None = answer.get("Item")
    return item


def _failing_check(table: str) -> dict[str, Any]:
    return {
        "ConditionCheck": {
            "TableName": table,
            "Key": {"pk": {"S": "guard"}},
            "ConditionExpression": "attribute_exists(pk)",
        }
    }


async def _cancelled(client: Any, actions: list[dict[str, Any]]) -> None:
    with pytest.raises(ClientError) as caught:
        await client.transact_write_items(TransactItems=actions)
    assert caught.value.response["Error"]["Code"] == "TransactionCanceledException"


async def test_failed_second_condition_leaves_first_update_untouched(client: Any) -> None:
    table = await _plain_table(client)
    await client.put_item(
        TableName=table, Item={"pk": {"S": "a"}, "n": {"N": "1"}, "m": {"L": [{"S": "x"}]}}
    )
    update = {
        "Update": {
            "TableName": table,
            "Key": {"pk": {"S": "a"}},
            "UpdateExpression": "SET n = n + :one, m = list_append(m, :more) REMOVE gone",
            "ExpressionAttributeValues": {":one": {"N": "1"}, ":more": {"L": [{"S": "y"}]}},
        }
    }
    await _cancelled(client, [update, _failing_check(table)])
    assert await _item(client, table, "a") == {
        "pk": {"S": "a"},
        "n": {"N": "1"},
        "m": {"L": [{"S": "x"}]},
    }


async def test_failed_transaction_removes_created_and_restores_deleted_items(client: Any) -> None:
    table = await _plain_table(client)
    await client.put_item(TableName=table, Item={"pk": {"S": "old"}, "v": {"S": "kept"}})
    actions = [
        {"Put": {"TableName": table, "Item": {"pk": {"S": "new"}, "v": {"S": "1"}}}},
        {"Delete": {"TableName": table, "Key": {"pk": {"S": "old"}}}},
        {
            "Update": {
                "TableName": table,
                "Key": {"pk": {"S": "upsert"}},
                "UpdateExpression": "SET v = :v",
                "ExpressionAttributeValues": {":v": {"S": "2"}},
            }
        },
        _failing_check(table),
    ]
    await _cancelled(client, actions)
    assert await _item(client, table, "new") is None
    assert await _item(client, table, "upsert") is None
    assert await _item(client, table, "old") == {"pk": {"S": "old"}, "v": {"S": "kept"}}
    scanned = await client.scan(TableName=table)
    assert scanned["Count"] == 1


async def test_successful_transaction_after_a_failed_one_applies_every_action(client: Any) -> None:
    table = await _plain_table(client)
    await client.put_item(TableName=table, Item={"pk": {"S": "a"}, "n": {"N": "1"}})
    bump = {
        "Update": {
            "TableName": table,
            "Key": {"pk": {"S": "a"}},
            "UpdateExpression": "SET n = n + :one",
            "ExpressionAttributeValues": {":one": {"N": "1"}},
        }
    }
    await _cancelled(client, [bump, _failing_check(table)])
    await client.put_item(TableName=table, Item={"pk": {"S": "guard"}})
    await client.transact_write_items(TransactItems=[bump, _failing_check(table)])
    assert await _item(client, table, "a") == {"pk": {"S": "a"}, "n": {"N": "2"}}


async def test_server_memory_stays_flat_over_many_transactions(make_client: Any) -> None:
    # Unpatched, 150 transactions on a 500-item table grow moto by about 100 MB
    # (benchmarks/bench_moto_memory.py); patched, by well under 10 MB.
    with running_moto() as (url, pid):
        client = await make_client(url)
        table = await _plain_table(client)
        for start in range(0, 500, 25):
            puts = [
                {
                    "PutRequest": {
                        "Item": {"pk": {"S": f"s{i}"}, "n": {"N": "0"}, "p": {"S": "x" * 200}}
                    }
                }
                for i in range(start, start + 25)
            ]
            await client.batch_write_item(RequestItems={table: puts})
        await client.put_item(TableName=table, Item={"pk": {"S": "guard"}})
        before = rss_bytes(pid)
        for i in range(150):
            bump = {
                "Update": {
                    "TableName": table,
                    "Key": {"pk": {"S": f"s{i}"}},
                    "UpdateExpression": "SET n = n + :one",
                    "ExpressionAttributeValues": {":one": {"N": "1"}},
                }
            }
            fence = {
                "Put": {"TableName": table, "Item": {"pk": {"S": "fence"}, "n": {"N": str(i)}}}
            }
            await client.transact_write_items(TransactItems=[bump, fence, _failing_check(table)])
        grown = rss_bytes(pid) - before
        assert grown < 30 * 2**20, f"server grew by {grown / 2**20:.0f} MB"
        fence_item = await _item(client, table, "fence")
        assert fence_item == {"pk": {"S": "fence"}, "n": {"N": "149"}}
