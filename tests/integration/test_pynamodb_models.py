"""Application code reads what the session wrote through the PynamoDB models, synchronously.

`session_model` and `page_model` are derived from the schema. Here they `get`, `scan`
and `query` a table that `DynamoDBSession` wrote, including through a global
secondary index a team adds (pages by session), and `to_record` validates a head.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import boto3
from aiobotocore.session import get_session
from pynamodb.attributes import UnicodeAttribute
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex

from openai_agents_session import DynamoDBSession
from openai_agents_session.models import page_model, session_model
from openai_agents_session.models.table import to_record
from tests.support.sessions import create_table_blocking, message


def test_sync_pynamodb_reads_what_the_session_wrote(endpoint: str) -> None:
    table = create_table_blocking(endpoint)
    small, big = f"s-{uuid.uuid4().hex[:8]}", f"b-{uuid.uuid4().hex[:8]}"
    history = [message(f"{i}:" + "x" * 3_000) for i in range(30)]

    async def write() -> None:
        async with get_session().create_client("dynamodb", endpoint_url=endpoint) as client:
            await DynamoDBSession(small, client, table).add_items([message("hi")])
            paged = DynamoDBSession(big, client, table, page_threshold=16 * 1024)
            await paged.add_items(history)

    asyncio.run(write())

    # A team adds an index on `page_of` (only pages carry it: a sparse index).
    boto3.client("dynamodb", endpoint_url=endpoint).update_table(
        TableName=table,
        AttributeDefinitions=[{"AttributeName": "page_of", "AttributeType": "S"}],
        GlobalSecondaryIndexUpdates=[
            {
                "Create": {
                    "IndexName": "pages-by-session",
                    "KeySchema": [{"AttributeName": "page_of", "KeyType": "HASH"}],
                    "Projection": {"ProjectionType": "ALL"},
                }
            }
        ],
    )

    Session = session_model(table, host=endpoint)

    class PagesBySession(GlobalSecondaryIndex[Any]):
        class Meta:
            index_name = "pages-by-session"
            projection = AllProjection()

        page_of = UnicodeAttribute(hash_key=True)

    class Page(page_model(table, host=endpoint)):  # type: ignore[misc]
        by_session = PagesBySession()

    head = Session.get(small)
    record = to_record(head)
    assert record.session_id == small and record.conversation_data == [message("hi")]
    assert record.pages is None

    paged = to_record(Session.get(big))
    # The head of a paged session: its newest items, and the index of its pages.
    assert paged.pages is not None and paged.pages.pages
    assert paged.conversation_data == history[len(history) - len(paged.conversation_data) :]
    heads = {item.session_id for item in Session.scan(Session.session_id.startswith("b-"))}
    assert heads == {big}
    parts = list(Page.by_session.query(big))
    assert {p.session_id for p in parts} == {
        f"__oas__#page#{big}#{ref.id}#{n}" for ref in paged.pages.pages for n in range(ref.parts)
    }
    assert all(p.page_of == big and p.page_data for p in parts)
