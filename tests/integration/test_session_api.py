"""The public API against a real endpoint: table shape, spec surface, round trips.

Each test checks what the endpoint holds (read with a second client that is never
counted) and how many calls the session's own client made.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from typing import Any

import agents.memory
import pytest
from agents.memory import SessionSettings
from botocore.exceptions import BotoCoreError, ClientError

import openai_agents_session
import openai_agents_session.dynamodb
from openai_agents_session import (
    DynamoDBSession,
    InvalidArgumentError,
    InvalidItemError,
    SessionClosedError,
    SessionRecord,
    SessionStoreError,
    TableNotFoundError,
    create_table_if_not_exists,
)
from openai_agents_session.models import SCHEMA, create_table_request
from tests.conftest import count_calls
from tests.support.sessions import (
    LEGACY_UPDATED_AT,
    client_fixture,  # noqa: F401
    clients_fixture,  # noqa: F401
    is_cleared,
    legacy_item,
    message,
    module_table,  # noqa: F401
    now,
    raw_fixture,  # noqa: F401
    raw_get,
    raw_put,
    stored_items,
)


def sid() -> str:
    return f"s-{uuid.uuid4().hex[:10]}"


def conflict_calls(backend: str, puts: int) -> Counter[str]:
    """Calls for `puts` writes of which the first lost its condition.

    moto returns the current item with the failure (ReturnValuesOnConditionCheckFailure);
    dynalite does not, so the session reads it with one GetItem.
    """
    expected = Counter({"PutItem": puts})
    if backend != "moto":
        expected["GetItem"] = 1
    return expected


# ------------------------------------------------------------ import paths


def test_spec_import_paths_are_the_same_objects() -> None:
    assert openai_agents_session.dynamodb.DynamoDBSession is DynamoDBSession
    assert openai_agents_session.dynamodb.create_table_if_not_exists is create_table_if_not_exists
    for name in openai_agents_session.__all__:
        assert hasattr(openai_agents_session, name), name


async def test_session_is_an_sdk_session(client: Any, table: str) -> None:
    session = DynamoDBSession("user-1", client, table)
    assert isinstance(session, agents.memory.Session)
    assert session.session_id == "user-1"
    assert isinstance(session.session_settings, SessionSettings)


async def spec_usage_example(endpoint: str) -> list[Any]:
    """The spec's usage example, verbatim except for ``endpoint_url``."""
    from aiobotocore.session import get_session

    from openai_agents_session import DynamoDBSession

    # Create client
    boto_session = get_session()
    async with boto_session.create_client(
        "dynamodb",
        region_name="us-east-1",
        endpoint_url=endpoint,  # the only change: the local endpoint
    ) as client:
        # Create session
        session = DynamoDBSession(
            session_id="user-123",
            dynamodb_client=client,
            table_name="agent_sessions",
            ttl_seconds=3600,
        )

        # Add items
        await session.add_items(
            [
                {"role": "user", "content": "Hello"},
                {"role": "assistant", "content": "Hi there!"},
            ]
        )

        # Get items
        items = await session.get_items()

        # Clear session
        await session.clear_session()
    return items


async def test_spec_usage_example_runs(endpoint: str, raw: Any) -> None:
    await create_table_if_not_exists(raw, "agent_sessions")
    await raw.delete_item(TableName="agent_sessions", Key={"session_id": {"S": "user-123"}})
    items = await spec_usage_example(endpoint)
    assert items == [
        {"role": "user", "content": "Hello"},
        {"role": "assistant", "content": "Hi there!"},
    ]
    assert is_cleared(await raw_get(raw, "agent_sessions", "user-123"))


# ---------------------------------------------------------------- the table


def schema_key_definitions() -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """Key schema and attribute definitions written out from `SessionRecord` metadata."""
    key = SCHEMA.partition_key
    key_schema = [{"AttributeName": key, "KeyType": "HASH"}]
    definitions = [{"AttributeName": key, "AttributeType": SCHEMA.attributes[key].type}]
    # The by-owner index's keys (the catalog, 0005_session_catalog), then the
    # by-parent index's (fork lineage, 0006_fork_lineage).
    definitions += [
        {"AttributeName": name, "AttributeType": SCHEMA.attributes[name].type}
        for name in (SCHEMA.owner, SCHEMA.version, SCHEMA.parent_id, SCHEMA.created_at)
    ]
    return key_schema, definitions


async def test_created_table_matches_the_schema(client: Any, table: str) -> None:
    described = (await client.describe_table(TableName=table))["Table"]
    key_schema, definitions = schema_key_definitions()
    assert described["KeySchema"] == key_schema
    assert described["AttributeDefinitions"] == definitions
    assert described["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert described["TableStatus"] == "ACTIVE"
    # The library's indexes: the catalog's by-owner one and the forks' by-parent one.
    assert [i["IndexName"] for i in described["GlobalSecondaryIndexes"]] == [
        "sessions_by_owner",
        "sessions_by_parent",
    ]
    assert not described.get("LocalSecondaryIndexes")
    request = create_table_request(table)
    assert request["KeySchema"] == key_schema
    assert request["AttributeDefinitions"] == definitions


@pytest.mark.moto_only
async def test_created_table_has_ttl_on_the_schema_attribute(client: Any, table: str) -> None:
    described = await client.describe_time_to_live(TableName=table)
    assert described["TimeToLiveDescription"]["TimeToLiveStatus"] == "ENABLED"
    assert described["TimeToLiveDescription"]["AttributeName"] == SCHEMA.ttl == "ttl"


async def test_create_table_if_not_exists_is_idempotent(client: Any, backend: str) -> None:
    name = f"idem-{uuid.uuid4().hex[:12]}"
    calls = count_calls(client)
    assert await create_table_if_not_exists(client, name) is True
    assert calls["CreateTable"] == 1
    assert calls["UpdateTimeToLive"] == 1
    calls.clear()
    assert await create_table_if_not_exists(client, name) is False
    assert calls["CreateTable"] == 0
    assert calls["DescribeTable"] >= 1
    assert calls["DescribeTimeToLive"] == 1
    if backend == "moto":
        # Real DynamoDB refuses a second enable; the second run must not send one.
        assert calls["UpdateTimeToLive"] == 0
    else:
        # dynalite reports TTL as disabled and refuses the update (no TTL API), so
        # each run tries once and degrades; what matters is that it does not fail.
        assert calls["UpdateTimeToLive"] == 1
    # The table still works after the second run.
    session = DynamoDBSession(sid(), client, name)
    await session.add_items([message("after")])
    assert await session.get_items() == [message("after")]


async def test_create_table_if_not_exists_provisioned(client: Any) -> None:
    name = f"prov-{uuid.uuid4().hex[:12]}"
    assert await create_table_if_not_exists(
        client, name, billing_mode="PROVISIONED", enable_ttl=False
    )
    described = (await client.describe_table(TableName=name))["Table"]
    assert described["ProvisionedThroughput"]["ReadCapacityUnits"] > 0
    assert described.get("BillingModeSummary", {}).get("BillingMode", "PROVISIONED") == (
        "PROVISIONED"
    )


async def test_create_table_rejects_a_bad_name(client: Any) -> None:
    calls = count_calls(client)
    with pytest.raises(InvalidArgumentError):
        await create_table_if_not_exists(client, "x")
    assert calls.total() == 0


# ------------------------------------------------------- session_settings


@pytest.mark.parametrize(
    "settings", [SessionSettings(limit=2), {"limit": 2}], ids=["SessionSettings", "dict"]
)
async def test_session_settings_limit_is_the_default(
    client: Any, table: str, settings: Any
) -> None:
    session = DynamoDBSession(sid(), client, table, session_settings=settings)
    assert session.session_settings == SessionSettings(limit=2)
    batch = [message(f"m{i}") for i in range(5)]
    await session.add_items(batch)
    assert await session.get_items() == batch[-2:]
    assert await session.get_items(limit=4) == batch[-4:]  # an explicit limit wins
    assert await session.get_items(limit=50) == batch
    assert await session.get_items(limit=1) == batch[-1:]


async def test_no_settings_returns_everything(client: Any, table: str) -> None:
    session = DynamoDBSession(sid(), client, table)
    assert session.session_settings == SessionSettings()
    batch = [message(f"m{i}") for i in range(3)]
    await session.add_items(batch)
    assert await session.get_items() == batch
    assert await session.get_items(None) == batch


async def test_limit_zero_returns_nothing_without_a_call(client: Any, table: str) -> None:
    session = DynamoDBSession(sid(), client, table, session_settings={"limit": 0})
    await session.add_items([message("a")])
    calls = count_calls(client)
    assert await session.get_items() == []
    assert await session.get_items(limit=0) == []
    assert calls.total() == 0
    assert await session.get_items(limit=5) == [message("a")]


@pytest.mark.parametrize(
    ("limit", "settings"),
    [(-1, None), (-10, {"limit": 3}), (None, {"limit": -2})],
    ids=["explicit", "explicit-over-settings", "from-settings"],
)
async def test_negative_limit_is_an_invalid_argument(
    client: Any, table: str, limit: int | None, settings: Any
) -> None:
    session = DynamoDBSession(sid(), client, table, session_settings=settings)
    calls = count_calls(client)
    with pytest.raises(InvalidArgumentError) as caught:
        await session.get_items(limit=limit)
    assert calls.total() == 0
    assert session.session_id in str(caught.value)
    assert isinstance(caught.value, SessionStoreError)


@pytest.mark.parametrize(
    "options",
    [
        {"ttl_seconds": 0},
        {"ttl_seconds": -5},
        {"ttl_seconds": 1.5},
        {"ttl_seconds": True},
        {"max_items": 0},
        {"max_items": -1},
        {"size_warning_ratio": 0},
        {"size_warning_ratio": 1.5},
    ],
    ids=repr,
)
async def test_constructor_rejects_out_of_range_options(
    client: Any, table: str, options: dict[str, Any]
) -> None:
    with pytest.raises(InvalidArgumentError):
        DynamoDBSession(sid(), client, table, **options)


# --------------------------------------------------------------- round trips


async def test_steady_state_costs_one_call_per_operation(client: Any, table: str, raw: Any) -> None:
    session_id = sid()
    session = DynamoDBSession(session_id, client, table)
    calls = count_calls(client)

    await session.add_items([message("a")])  # fresh object, absent item: a blind create
    assert calls == Counter({"PutItem": 1})

    calls.clear()
    await session.add_items([message("b"), message("c")])
    assert calls == Counter({"PutItem": 1})

    calls.clear()
    assert await session.get_items() == [message("a"), message("b"), message("c")]
    assert calls == Counter({"GetItem": 1})

    calls.clear()
    assert await session.pop_item() == message("c")
    assert calls == Counter({"PutItem": 1})

    calls.clear()
    await session.add_items([message("d")])
    assert calls == Counter({"PutItem": 1})
    assert await stored_items(raw, table, session_id) == [message(t) for t in "abd"]

    calls.clear()
    await session.clear_session()
    # A conditional write of an empty head (tombstone), like every other write.
    assert calls == Counter({"PutItem": 1})
    assert is_cleared(await raw_get(raw, table, session_id))

    # After a clear the object knows the tombstone: the next add is one write.
    calls.clear()
    await session.add_items([message("e")])
    assert calls == Counter({"PutItem": 1})
    assert await stored_items(raw, table, session_id) == [message("e")]


async def test_add_of_an_empty_batch_makes_no_call(client: Any, table: str, raw: Any) -> None:
    session = DynamoDBSession(sid(), client, table)
    calls = count_calls(client)
    await session.add_items([])
    assert calls.total() == 0
    assert await raw_get(raw, table, session.session_id) is None


async def test_fresh_object_on_an_existing_item(
    client: Any, table: str, raw: Any, backend: str
) -> None:
    session_id = sid()
    await DynamoDBSession(session_id, raw, table).add_items([message("first")])
    fresh = DynamoDBSession(session_id, client, table)
    calls = count_calls(client)
    await fresh.add_items([message("second")])
    # The blind create fails its condition and is re-applied on the returned item.
    assert calls == conflict_calls(backend, puts=2)
    assert await stored_items(raw, table, session_id) == [message("first"), message("second")]
    calls.clear()
    await fresh.add_items([message("third")])
    assert calls == Counter({"PutItem": 1})


async def test_fresh_object_pop_reads_first(client: Any, table: str, raw: Any) -> None:
    session_id = sid()
    await DynamoDBSession(session_id, raw, table).add_items([message("a"), message("b")])
    fresh = DynamoDBSession(session_id, client, table)
    calls = count_calls(client)
    assert await fresh.pop_item() == message("b")
    assert calls == Counter({"GetItem": 1, "PutItem": 1})
    calls.clear()
    assert await DynamoDBSession(sid(), client, table).pop_item() is None
    assert calls == Counter({"GetItem": 1})  # nothing to pop: no write


async def test_stale_object_appends_without_loss(
    client: Any, table: str, raw: Any, backend: str
) -> None:
    session_id = sid()
    stale = DynamoDBSession(session_id, client, table)
    other = DynamoDBSession(session_id, raw, table)
    await stale.add_items([message("a")])
    await other.add_items([message("b")])  # stale's memory is now out of date
    await other.add_items([message("c")])
    calls = count_calls(client)
    await stale.add_items([message("d")])
    assert calls == conflict_calls(backend, puts=2)
    assert await stored_items(raw, table, session_id) == [message(t) for t in "abcd"]
    # A stale pop also takes the newest item, not the one it remembered.
    await other.add_items([message("e")])
    assert await stale.pop_item() == message("e")
    assert await stored_items(raw, table, session_id) == [message(t) for t in "abcd"]


async def test_on_operation_reports_the_calls(client: Any, table: str) -> None:
    seen: list[Any] = []
    session = DynamoDBSession(sid(), client, table, on_operation=seen.append)
    await session.add_items([message("a"), message("b")])
    await session.get_items()
    await session.pop_item()
    await session.clear_session()
    assert [m.operation for m in seen] == ["add_items", "get_items", "pop_item", "clear_session"]
    assert [m.calls for m in seen] == [1, 1, 1, 1]
    assert [m.items_written for m in seen[:1]] == [2]
    assert seen[0].item_size > 0 and seen[0].error is None


async def test_get_record(client: Any, table: str, raw: Any) -> None:
    session_id = sid()
    session = DynamoDBSession(session_id, client, table, ttl_seconds=600)
    assert await session.get_record() is None
    await session.add_items([message("a")])
    record = await session.get_record()
    assert isinstance(record, SessionRecord)
    stored = await raw_get(raw, table, session_id)
    assert stored is not None
    assert record.session_id == session_id
    assert record.items == [message("a")]
    assert str(record.updated_at) == stored["updated_at"]["N"]
    assert record.ttl == int(stored["ttl"]["N"])
    assert record.recent_writes == {record.updated_at}


# -------------------------------------------------------------- legacy items


@pytest.mark.parametrize("with_ttl", [False, True], ids=["no-ttl", "ttl"])
async def test_legacy_item_is_readable_and_appendable(
    client: Any, table: str, raw: Any, with_ttl: bool
) -> None:
    session_id = sid()
    history = [
        {"role": "user", "content": "caf\u00e9 \u4e2d\u6587 \U0001f600"},
        {"role": "assistant", "content": "Hi there!", "extra": {"nested": [1, 2]}},
    ]
    item = legacy_item(session_id, history, ttl=now() + 3600 if with_ttl else None)
    assert ", " in item["conversation_data"]["S"]  # json.dumps default spacing
    assert "\\u00e9" in item["conversation_data"]["S"]  # and ASCII escapes
    await raw_put(raw, table, item)

    session = DynamoDBSession(session_id, client, table, ttl_seconds=3600 if with_ttl else None)
    assert await session.get_items() == history
    record = await session.get_record()
    assert record is not None and record.updated_at == LEGACY_UPDATED_AT

    await session.add_items([message("new")])
    assert await stored_items(raw, table, session_id) == [*history, message("new")]
    assert await session.get_items() == [*history, message("new")]
    stored = await raw_get(raw, table, session_id)
    assert stored is not None
    assert float(stored["updated_at"]["N"]) > LEGACY_UPDATED_AT
    assert ("ttl" in stored) is with_ttl

    # A fresh object appends on the legacy-then-new item too (blind create conflicts).
    await DynamoDBSession(session_id, raw, table).add_items([message("more")])
    assert await session.pop_item() == message("more")
    assert await session.pop_item() == message("new")
    assert await stored_items(raw, table, session_id) == history


async def test_fresh_object_appends_to_an_untouched_legacy_item(
    client: Any, table: str, raw: Any
) -> None:
    session_id = sid()
    history = [message("old-1"), message("old-2")]
    await raw_put(raw, table, legacy_item(session_id, history))
    await DynamoDBSession(session_id, client, table).add_items([message("new")])
    assert await stored_items(raw, table, session_id) == [*history, message("new")]


async def test_keys_outside_the_openai_schema_survive(client: Any, table: str, raw: Any) -> None:
    session_id = sid()
    custom = {
        "role": "user",
        "content": "hi",
        "x-app": {"trace": ["a", 1, None, True, 2.5], "": "empty key"},
        "__enc__": 1,
    }
    undeclared = {"tenant": {"S": "acme"}, "audit": {"M": {"by": {"S": "ops"}}}}
    await raw_put(raw, table, {**legacy_item(session_id, [custom]), **undeclared})

    session = DynamoDBSession(session_id, client, table)
    assert await session.get_items() == [custom]
    await session.add_items([{**custom, "content": "again"}])
    assert await session.pop_item() == {**custom, "content": "again"}
    await session.add_items([message("x")])
    stored = await raw_get(raw, table, session_id)
    assert stored is not None
    assert json.loads(stored["conversation_data"]["S"]) == [custom, message("x")]
    # Attributes the schema does not declare are carried over by every write.
    assert stored["tenant"] == {"S": "acme"}
    assert stored["audit"] == {"M": {"by": {"S": "ops"}}}


async def test_encrypted_session_wraps_a_dynamodb_session(
    client: Any, table: str, raw: Any
) -> None:
    fernet = pytest.importorskip(
        "cryptography.fernet", reason="EncryptedSession needs the cryptography package"
    )
    from agents.extensions.memory import EncryptedSession

    session_id = sid()
    key = fernet.Fernet.generate_key().decode("ascii")
    inner = DynamoDBSession(session_id, client, table)
    encrypted = EncryptedSession(session_id, inner, key)
    secret = [message("my secret"), message("top secret answer", role="assistant")]
    await encrypted.add_items(secret)
    assert await encrypted.get_items() == secret

    stored = await raw_get(raw, table, session_id)
    assert stored is not None
    text = stored["conversation_data"]["S"]
    assert "secret" not in text
    envelopes = json.loads(text)
    assert len(envelopes) == 2 and all("__enc__" in e for e in envelopes)

    assert await encrypted.pop_item() == secret[1]
    # Another process with the same key reads the same history.
    reopened = EncryptedSession(session_id, DynamoDBSession(session_id, raw, table), key)
    assert await reopened.get_items() == secret[:1]
    await encrypted.clear_session()
    assert is_cleared(await raw_get(raw, table, session_id))


async def test_strict_items_refuse_encrypted_envelopes(client: Any, table: str) -> None:
    fernet = pytest.importorskip(
        "cryptography.fernet", reason="EncryptedSession needs the cryptography package"
    )
    from agents.extensions.memory import EncryptedSession

    inner = DynamoDBSession("enc", client, table, strict_items=True)
    encrypted = EncryptedSession("enc", inner, fernet.Fernet.generate_key().decode("ascii"))
    with pytest.raises(InvalidItemError):
        await encrypted.add_items([message("x")])


# -------------------------------------------------------------------- errors


async def session_call(session: DynamoDBSession, operation: str) -> Any:
    if operation == "add_items":
        return await session.add_items([message("x")])
    if operation == "get_items":
        return await session.get_items()
    if operation == "pop_item":
        return await session.pop_item()
    if operation == "clear_session":
        return await session.clear_session()
    return await session.get_record()


OPERATIONS = ["add_items", "get_items", "pop_item", "clear_session", "get_record"]


@pytest.mark.parametrize("operation", OPERATIONS)
async def test_missing_table_is_a_typed_error(client: Any, operation: str) -> None:
    missing = f"missing-{uuid.uuid4().hex[:8]}"
    session = DynamoDBSession("user-42", client, missing)
    with pytest.raises(TableNotFoundError) as caught:
        await session_call(session, operation)
    error = caught.value
    message_text = str(error)
    assert missing in message_text
    assert "user-42" in message_text
    assert "Fix:" in message_text and "create_table_if_not_exists" in message_text
    assert isinstance(error, SessionStoreError)
    assert not isinstance(error, (ClientError, BotoCoreError))
    assert isinstance(error.__cause__, ClientError)
    assert error.code == "ResourceNotFoundException"
    assert error.session_id == "user-42" and error.table_name == missing


# ------------------------------------------------------------------- factory


async def test_from_config_owns_and_closes_its_client(endpoint: str, table: str, raw: Any) -> None:
    session_id = sid()
    session = DynamoDBSession.from_config(
        session_id, table, endpoint_url=endpoint, region_name="us-east-1", max_items=2
    )
    async with session as opened:
        assert opened is session
        await session.add_items([message("a"), message("b"), message("c")])
        assert await session.get_items() == [message("b"), message("c")]  # options honoured
    assert await stored_items(raw, table, session_id) == [message("b"), message("c")]
    with pytest.raises(SessionClosedError, match="closed"):
        await session.get_items()
    await session.close()  # closing twice is harmless


async def test_from_config_opens_lazily(endpoint: str, table: str) -> None:
    session = DynamoDBSession.from_config(
        sid(), table, 60, endpoint_url=endpoint, region_name="us-east-1"
    )
    try:
        await session.add_items([message("lazy")])
        record = await session.get_record()
        assert record is not None and record.ttl is not None
    finally:
        await session.close()
    for operation in (
        session.add_items([message("after close")]),
        session.add_items([]),  # even a no-op, as the SDK's SQLite session does
        session.get_items(),
        session.pop_item(),
        session.clear_session(),
    ):
        with pytest.raises(SessionClosedError):
            await operation


async def test_closing_a_session_leaves_an_injected_client_open(client: Any, table: str) -> None:
    session_id = sid()
    async with DynamoDBSession(session_id, client, table) as session:
        await session.add_items([message("a")])
    await session.close()
    # The caller's client still works; the closed session object does not.
    assert (await client.describe_table(TableName=table))["Table"]["TableName"] == table
    with pytest.raises(SessionClosedError):
        await session.get_items()
    assert await DynamoDBSession(session_id, client, table).get_items() == [message("a")]
