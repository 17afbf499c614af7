"""The schema is declared once on `SessionRecord`; everything derived from it agrees.

The expected values here are written out by hand from the user's spec (the
"DynamoDB Item Structure" table), so a change to the declaration that drifts
from the spec fails, and so does a derived artefact that drifts from the
declaration.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

import pytest
from pydantic import BaseModel

from openai_agents_session.models import (
    SCHEMA,
    DynamoAttribute,
    Schema,
    SessionRecord,
    create_table_request,
    session_model,
    ttl_specification,
)
from openai_agents_session.models.schema import BY_OWNER_INDEX, PAGE_SCHEMA, PageRecord
from openai_agents_session.models.table import page_model

# The spec's table, plus the write log and the page index the library adds.
SPEC_ATTRIBUTES = {
    "session_id": "S",
    "conversation_data": "S",
    "updated_at": "N",
    "ttl": "N",
    "recent_writes": "NS",
    "pages": "S",
    "schema_version": "SS",
    # The session catalog (0005): set by the application, kept by every write, carried.
    "owner": "S",
    "title": "S",
    "metadata": "S",
    "created_at": "N",
    "item_count": "N",
    "history_size": "N",
    "usage": "S",
    # Fork lineage (0006): written by fork, carried by every write but a clear.
    "parent_id": "S",
    "fork_index": "N",
    "fork_turn": "N",
    # The turn lease and keys (0007): written by session.turn(), carried by every write.
    "turns": "S",
}

# The history pages the library stores in the same table (not in the user's spec).
PAGE_ATTRIBUTES = {
    "session_id": "S",
    "page_of": "S",
    "page_data": "B",
    "ttl": "N",
    "created_at": "N",
}


def declared(model: type[BaseModel] = SessionRecord) -> dict[str, DynamoAttribute]:
    """The `DynamoAttribute` metadata read straight off the Pydantic fields."""
    result: dict[str, DynamoAttribute] = {}
    for name, info in model.model_fields.items():
        (meta,) = [m for m in info.metadata if isinstance(m, DynamoAttribute)]
        result[name] = meta
    return result


def test_schema_names_and_types_follow_the_spec() -> None:
    assert {name: spec.type for name, spec in SCHEMA.attributes.items()} == SPEC_ATTRIBUTES
    assert SCHEMA.attributes == declared()
    assert {name: spec.type for name, spec in PAGE_SCHEMA.attributes.items()} == PAGE_ATTRIBUTES
    assert PAGE_SCHEMA.attributes == declared(PageRecord)


def test_schema_roles_point_at_the_spec_attributes() -> None:
    assert SCHEMA.partition_key == "session_id"
    assert SCHEMA.payload == "conversation_data"
    assert SCHEMA.version == "updated_at"
    assert SCHEMA.ttl == "ttl"
    assert SCHEMA.write_log == "recent_writes"
    assert SCHEMA.pages == "pages"
    assert SCHEMA.schema_version == "schema_version"
    assert (SCHEMA.owner, SCHEMA.title, SCHEMA.metadata) == ("owner", "title", "metadata")
    assert (SCHEMA.created_at, SCHEMA.item_count, SCHEMA.history_size) == (
        "created_at",
        "item_count",
        "history_size",
    )
    assert SCHEMA.usage == "usage"
    json_attributes = {"conversation_data", "pages", "metadata", "usage", "turns"}
    assert all(SCHEMA.attributes[n].json for n in json_attributes)
    assert not any(s.json for n, s in SCHEMA.attributes.items() if n not in json_attributes)
    assert PAGE_SCHEMA.partition_key == "session_id"
    assert PAGE_SCHEMA.page_of == "page_of"
    assert PAGE_SCHEMA.page_data == "page_data"
    assert PAGE_SCHEMA.ttl == "ttl"
    assert PAGE_SCHEMA.created_at == "created_at"
    assert not any(s.json for s in PAGE_SCHEMA.attributes.values())


def test_schema_refuses_a_field_without_metadata() -> None:
    class Missing(BaseModel):
        session_id: Annotated[str, DynamoAttribute("S", "partition_key")]
        undeclared: str

    with pytest.raises(TypeError, match="undeclared"):
        Schema.from_model(Missing)


def test_schema_refuses_a_role_declared_twice() -> None:
    class Twice(BaseModel):
        a: Annotated[str, DynamoAttribute("S", "partition_key")]
        b: Annotated[str, DynamoAttribute("S", "partition_key")]

    with pytest.raises(TypeError, match="partition_key"):
        Schema.from_model(Twice)


def test_pynamodb_model_is_derived_from_the_schema() -> None:
    model = session_model("derived-table", host="http://127.0.0.1:1", region="eu-west-1")
    attributes = model.get_attributes()
    assert {name: a.attr_type for name, a in attributes.items()} == SPEC_ATTRIBUTES
    assert {name: a.attr_name for name, a in attributes.items()} == {n: n for n in SPEC_ATTRIBUTES}
    hash_keys = [name for name, a in attributes.items() if a.is_hash_key]
    range_keys = [name for name, a in attributes.items() if a.is_range_key]
    assert hash_keys == [SCHEMA.partition_key]
    assert range_keys == []
    assert model.Meta.table_name == "derived-table"
    assert model.Meta.host == "http://127.0.0.1:1"
    assert model.Meta.region == "eu-west-1"
    assert model.Meta.billing_mode == "PAY_PER_REQUEST"
    # Only the key and the version are mandatory in a stored item.
    required = {name for name, a in attributes.items() if not a.null}
    assert required == {"session_id", "updated_at"}

    # The page model is derived from `PageRecord` the same way.
    pages = page_model("derived-table", host="http://127.0.0.1:1", region="eu-west-1")
    page_attributes = pages.get_attributes()
    assert {name: a.attr_type for name, a in page_attributes.items()} == PAGE_ATTRIBUTES
    assert {name: a.attr_name for name, a in page_attributes.items()} == {
        n: n for n in PAGE_ATTRIBUTES
    }
    assert [name for name, a in page_attributes.items() if a.is_hash_key] == [
        PAGE_SCHEMA.partition_key
    ]
    assert [name for name, a in page_attributes.items() if a.is_range_key] == []
    assert pages.Meta.table_name == "derived-table"
    assert pages.Meta.host == "http://127.0.0.1:1"
    assert pages.Meta.region == "eu-west-1"
    assert pages.Meta.billing_mode == "PAY_PER_REQUEST"
    # Every page attribute but the TTL is mandatory (no TTL: the page never expires).
    page_required = {name for name, a in page_attributes.items() if not a.null}
    assert page_required == {"session_id", "page_of", "page_data", "created_at"}

    # Pages live in the session table: the same key attribute and the same TTL attribute.
    assert PAGE_SCHEMA.partition_key == SCHEMA.partition_key == "session_id"
    assert PAGE_SCHEMA.ttl == SCHEMA.ttl == ttl_specification()["AttributeName"]
    page_key = PAGE_SCHEMA.attributes[PAGE_SCHEMA.partition_key]
    assert page_key == SCHEMA.attributes[SCHEMA.partition_key]
    assert PAGE_SCHEMA.attributes[PAGE_SCHEMA.ttl] == SCHEMA.attributes[SCHEMA.ttl]


def test_create_table_request_agrees_with_the_model() -> None:
    model = session_model("agent_sessions")
    request = create_table_request("agent_sessions")
    keys = [(n, a) for n, a in model.get_attributes().items() if a.is_hash_key]
    index_keys = [
        (n, model.get_attributes()[n].attr_type)
        for n in (BY_OWNER_INDEX.partition_key, "updated_at", "parent_id", "created_at")
    ]
    assert request == {
        "TableName": "agent_sessions",
        "KeySchema": [{"AttributeName": n, "KeyType": "HASH"} for n, _ in keys],
        "AttributeDefinitions": [
            {"AttributeName": n, "AttributeType": a.attr_type} for n, a in keys
        ]
        + [{"AttributeName": n, "AttributeType": t} for n, t in index_keys],
        "BillingMode": "PAY_PER_REQUEST",
        "GlobalSecondaryIndexes": [
            {
                "IndexName": "sessions_by_owner",
                "KeySchema": [
                    {"AttributeName": "owner", "KeyType": "HASH"},
                    {"AttributeName": "updated_at", "KeyType": "RANGE"},
                ],
                "Projection": {
                    "ProjectionType": "INCLUDE",
                    "NonKeyAttributes": [
                        "title",
                        "created_at",
                        "item_count",
                        "history_size",
                        "ttl",
                    ],
                },
            },
            {
                "IndexName": "sessions_by_parent",
                "KeySchema": [
                    {"AttributeName": "parent_id", "KeyType": "HASH"},
                    {"AttributeName": "created_at", "KeyType": "RANGE"},
                ],
                "Projection": {
                    "ProjectionType": "INCLUDE",
                    "NonKeyAttributes": [
                        "owner",
                        "title",
                        "updated_at",
                        "item_count",
                        "history_size",
                        "ttl",
                        "fork_index",
                        "fork_turn",
                    ],
                },
            },
        ],
    }
    # The PynamoDB model declares the same indexes.
    names = {i.Meta.index_name for i in model._indexes.values()}
    assert {"sessions_by_owner", "sessions_by_parent"} <= names
    # And, written out from the spec, what that must be.
    assert request["KeySchema"] == [{"AttributeName": "session_id", "KeyType": "HASH"}]
    assert request["AttributeDefinitions"] == [
        {"AttributeName": "session_id", "AttributeType": "S"},
        {"AttributeName": "owner", "AttributeType": "S"},
        {"AttributeName": "updated_at", "AttributeType": "N"},
        {"AttributeName": "parent_id", "AttributeType": "S"},
        {"AttributeName": "created_at", "AttributeType": "N"},
    ]


def test_create_table_request_provisioned() -> None:
    request = create_table_request(
        "t-prov", billing_mode="PROVISIONED", read_capacity=7, write_capacity=3
    )
    assert request["BillingMode"] == "PROVISIONED"
    assert request["ProvisionedThroughput"] == {"ReadCapacityUnits": 7, "WriteCapacityUnits": 3}
    assert "ProvisionedThroughput" not in create_table_request("t-ppr")


def test_ttl_specification_uses_the_schema_ttl_attribute() -> None:
    assert ttl_specification() == {"Enabled": True, "AttributeName": "ttl"}
    assert SCHEMA.attributes[ttl_specification()["AttributeName"]].role == "ttl"


def test_session_record_validates_and_reports_expiry() -> None:
    record = SessionRecord(
        session_id="s", conversation_data=[{"role": "user"}], updated_at=Decimal(1), ttl=100
    )
    assert record.items == [{"role": "user"}]
    assert record.is_expired(100)
    assert not record.is_expired(99.9)
    assert not SessionRecord(session_id="s", updated_at=Decimal(1)).is_expired(10**12)
    with pytest.raises(ValueError):
        SessionRecord(session_id="", updated_at=Decimal(1))
    with pytest.raises(ValueError):
        SessionRecord(session_id="s", updated_at=Decimal(1), unknown=1)  # type: ignore[call-arg]


def test_the_codec_and_the_pynamodb_models_write_the_same_items() -> None:
    # The session encodes without PynamoDB (import time); application code reads and
    # writes through the PynamoDB models. Both must produce the same attribute maps.
    from decimal import Decimal

    from openai_agents_session.models.codec import encode_record
    from openai_agents_session.models.pages import encode_page
    from openai_agents_session.models.schema import PageIndex, PageRef
    from openai_agents_session.models.table import to_record

    version = Decimal("1764067000.123456789012")
    index = PageIndex(ttl=5, pages=(PageRef("ab" * 8, 1, 0, 2, 10),))
    applied = frozenset({"0005_team", "0004_item_schema_version", "0006_x:second"})
    record = SessionRecord(
        session_id="s",
        conversation_data=[{"a": 1}],
        updated_at=version,
        ttl=1_800_000_000,
        recent_writes=frozenset({version}),
        pages=index,
        schema_version=applied,
    )
    ours = encode_record(record)
    model = session_model("t")
    theirs = model(
        session_id="s",
        conversation_data='[{"a":1}]',
        updated_at=version,
        ttl=1_800_000_000,
        recent_writes=frozenset({version}),
        pages=index.model_dump_json(),
        schema_version=applied,
        item_count=3,  # 1 in the head + 2 in the page
        history_size=19,  # 9 bytes of head JSON + 10 of page
    ).serialize()
    assert ours == theirs
    assert ours["schema_version"] == {"SS": sorted(applied)}
    assert to_record(model.from_raw_data(ours)) == record.model_copy(
        update={"item_count": 3, "history_size": 19}
    )
    assert model.from_raw_data(ours).serialize() == ours
    _, (part,) = encode_page("s", "ab", ['{"a":1}'], ttl=None, created_at=Decimal("1.5"))
    page = page_model("t").from_raw_data(part)
    assert page.serialize() == part
