"""Hostile input at the catalog's edges: cursors, stored metadata, import lines.

A cursor is data from the caller; stored metadata is data someone wrote. Neither
may escape untyped, reach another owner's or tenant's part of the index, or
take the listing down.
"""

from __future__ import annotations

import base64
import json
from decimal import Decimal
from typing import Any

import pytest

from openai_agents_session import DynamoDBSession, InvalidArgumentError, list_sessions
from openai_agents_session.models.codec import encode_item
from tests.conftest import count_calls

# Refused before any call, so no table is created for these.
NO_TABLE = "catalog-input-never-created"


def forge(session_id: Any, owner: Any, version: Any = "1700000000.5") -> str:
    key = {"s": session_id, "o": owner, "v": version}
    return base64.urlsafe_b64encode(json.dumps(key).encode()).decode()


@pytest.mark.parametrize(
    "cursor",
    [123, b"abc", ["a"], {"s": "x"}, 1.5, True],
    ids=["int", "bytes", "list", "dict", "float", "bool"],
)
async def test_a_cursor_that_is_not_a_string_is_a_typed_error_before_any_call(
    client: Any, cursor: Any
) -> None:
    table = NO_TABLE
    calls = count_calls(client)
    with pytest.raises(InvalidArgumentError) as caught:
        await list_sessions(client, table, owner="ada", cursor=cursor)
    assert "cursor" in str(caught.value) and table in str(caught.value)
    assert "Fix:" in str(caught.value) and calls.total() == 0


SECRET = "s3cr3t-payload"
HOSTILE = {
    "another owner": forge("a-1", "mallory"),
    "outside the prefix": forge("tenant-b#x", "tenant-a#ada"),
    "reserved id": forge("__oas__#ledger", "tenant-a#ada"),
    "no id": forge("", "tenant-a#ada"),
    "id not a string": forge(["tenant-a#x"], "tenant-a#ada"),
    "id too long": forge("tenant-a#" + "x" * 3000, "tenant-a#ada"),
    "NaN version": forge("tenant-a#x", "tenant-a#ada", "NaN"),
    "huge version": forge("tenant-a#x", "tenant-a#ada", "1e400"),
    "negative version": forge("tenant-a#x", "tenant-a#ada", "-5"),
    "lone surrogate": forge("tenant-a#\ud800", "tenant-a#ada"),
    "not base64": "%%%" + SECRET,
    "not JSON": base64.urlsafe_b64encode(SECRET.encode()).decode(),
    "a JSON list": base64.urlsafe_b64encode(b'["tenant-a#x"]').decode(),
    "deep nesting": base64.urlsafe_b64encode(b"[" * 100_000 + b"]" * 100_000).decode(),
    "a megabyte": "A" * 1_000_000,
    "non-ASCII": "é" + SECRET,
}


@pytest.mark.parametrize("cursor", list(HOSTILE.values()), ids=list(HOSTILE))
async def test_a_forged_cursor_is_refused_and_not_echoed(client: Any, cursor: str) -> None:
    table = NO_TABLE
    calls = count_calls(client)
    with pytest.raises(InvalidArgumentError) as caught:
        await list_sessions(
            client, table, owner="tenant-a#ada", cursor=cursor, key_prefix="tenant-a#"
        )
    message = str(caught.value)
    assert "tenant-a#" in message and table in message and "Fix:" in message
    assert SECRET not in message and cursor[:20] not in message
    assert calls.total() == 0


async def test_cursors_page_within_the_prefix_and_not_across_tenants(
    client: Any, table: str
) -> None:
    for index in range(3):
        chat = DynamoDBSession(f"tenant-a#c{index}", client, table, owner="tenant-a#ada",
                               key_prefix="tenant-a#")  # fmt: skip
        await chat.add_items([{"role": "user", "content": str(index)}])
    first = await list_sessions(
        client, table, owner="tenant-a#ada", limit=2, key_prefix="tenant-a#"
    )
    assert first.cursor is not None
    rest = await list_sessions(
        client, table, owner="tenant-a#ada", cursor=first.cursor, key_prefix="tenant-a#"
    )
    listed = [s.session_id for s in first.sessions + rest.sessions]
    assert sorted(listed) == ["tenant-a#c0", "tenant-a#c1", "tenant-a#c2"]
    # The same cursor for another tenant's owner, or another owner, is refused.
    with pytest.raises(InvalidArgumentError):
        await list_sessions(client, table, owner="tenant-b#ada", cursor=first.cursor,
                            key_prefix="tenant-b#")  # fmt: skip
    with pytest.raises(InvalidArgumentError):
        await list_sessions(client, table, owner="tenant-a#bob", cursor=first.cursor)


async def put_head(client: Any, table: str, session_id: str, metadata: str) -> None:
    version = Decimal("1700000000.5")
    extra = {"owner": {"S": "eve"}, "metadata": {"S": metadata}}
    item = encode_item(session_id, "[]", version, None, frozenset({version}), extra=extra,
                       created_at=version, count=0)  # fmt: skip
    await client.put_item(TableName=table, Item=item)


async def test_hostile_stored_metadata_leaves_the_sidebar_listed(client: Any, table: str) -> None:
    hostile = {
        "deep": "[" * 100_000 + "]" * 100_000,
        "deep-object": '{"a":' * 40 + "1" + "}" * 40,
        "not-json": "{pinned",
        "a-list": "[1,2,3]",
        "huge": json.dumps({"x": "y" * 100_000}),
    }
    for sid, text in hostile.items():
        await put_head(client, table, sid, text)
    await put_head(client, table, "fine", '{"pinned": true}')
    page = await list_sessions(client, table, owner="eve", include_metadata=True)
    found = {s.session_id: s.metadata for s in page.sessions}
    assert found == {**dict.fromkeys(hostile), "fine": {"pinned": True}}


@pytest.mark.parametrize("value", [1, "yes", None])
async def test_include_metadata_must_be_a_bool(client: Any, value: Any) -> None:
    with pytest.raises(InvalidArgumentError, match="include_metadata"):
        await list_sessions(client, NO_TABLE, owner="eve", include_metadata=value)


@pytest.mark.parametrize(
    "raw",
    [
        b"\xff\xfe\x00",
        b"[" * 100_000,
        b'{"session_id": "a", "conversation_data": [], "ttl": 1e999}',
        b'{"session_id": "a", "conversation_data": [], "ttl": 1e300}',
        b'{"session_id": "a", "conversation_data": [], "ttl": "NaN"}',
        b'{"session_id": "a", "conversation_data": [], "ttl": true}',
        b'{"session_id": 5, "conversation_data": []}',
        b'{"session_id": "a", "conversation_data": {"x": 1}}',
        b'"just a string"',
        b'{"session_id": "a", "conversation_data": [], "ttl": ' + b"9" * 5000 + b"}",
    ],
)
def test_import_lines_fail_with_a_reason_never_an_untyped_error(raw: bytes) -> None:
    from openai_agents_session.admin import parse_export_line

    with pytest.raises(ValueError) as caught:
        parse_export_line(raw)
    assert type(caught.value) is ValueError and str(caught.value)
