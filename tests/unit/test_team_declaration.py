"""A team's `SessionRecord` subclass: resolved, checked, and derived into requests and models.

No endpoint here: schema resolution, the CreateTable and UpdateTable requests, the
PynamoDB model, the team attributes' validation and encoding, and what
`plan_write` puts on the head for them.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Annotated, Any, ClassVar

import pytest

from openai_agents_session import (
    CorruptSessionError,
    DerivedAttributeError,
    DynamoAttribute,
    GlobalIndex,
    HistoryView,
    InvalidArgumentError,
    InvalidAttributeError,
    SessionRecord,
    SessionTooLargeError,
    schema_of,
)
from openai_agents_session._plan import (
    Append,
    Change,
    Clear,
    Layout,
    Pop,
    SetAttributes,
    Touch,
    plan_write,
)
from openai_agents_session.models import (
    SCHEMA,
    create_table_request,
    global_index_request,
    session_model,
)
from openai_agents_session.models.codec import (
    StoredItem,
    decode_item,
    decode_record,
    dumps_item,
    encode_record,
)
from openai_agents_session.models.schema import (
    BY_OWNER_INDEX,
    BY_PARENT_INDEX,
    PageIndex,
    PageRef,
)
from openai_agents_session.models.table import to_record
from openai_agents_session.models.team import TeamAttributes, validate_plain
from tests.support.team import ChatRecord, count_items, last_role_of

NOW = 1_800_000_000.0
CHAT = schema_of(ChatRecord)


def msg(tag: str, role: str = "user") -> dict[str, Any]:
    return {"role": role, "content": tag}


# ------------------------------------------------------------------ resolution


def test_a_team_record_resolves_with_its_roles_and_index() -> None:
    assert CHAT.record is ChatRecord
    assert set(CHAT.plain) == {"tenant_id"}
    assert set(CHAT.derived) == {"message_count", "last_role"}
    assert CHAT.derived["message_count"].derive is count_items
    assert CHAT.derived["last_role"].derive is last_role_of
    # The team's index adds to the library's own (by owner, by parent).
    assert CHAT.indexes == (
        BY_OWNER_INDEX,
        BY_PARENT_INDEX,
        GlobalIndex("by_tenant", "tenant_id", "updated_at", "ALL"),
    )
    assert CHAT.team_indexes == (GlobalIndex("by_tenant", "tenant_id", "updated_at", "ALL"),)
    # The session's own attributes are the base record's, under the same roles.
    assert CHAT.computed == SCHEMA.computed
    assert {n: a for n, a in CHAT.attributes.items() if n in SCHEMA.attributes} == (
        SCHEMA.attributes
    )
    assert (CHAT.partition_key, CHAT.version, CHAT.payload) == (
        "session_id",
        "updated_at",
        "conversation_data",
    )
    assert schema_of(ChatRecord) is CHAT  # cached


def test_the_base_schema_is_unchanged() -> None:
    assert schema_of(SessionRecord) is SCHEMA
    assert SCHEMA.plain == {} and SCHEMA.derived == {} and SCHEMA.team_indexes == ()
    assert SCHEMA.indexes == (BY_OWNER_INDEX, BY_PARENT_INDEX)
    assert SCHEMA.record is SessionRecord
    # Every base attribute but those writes carry over: schema_version (backfills own
    # it), the catalog's owner, title and metadata (the application sets them), usage,
    # a fork's lineage (written once, by the fork) and the turn lease (session.turn()).
    assert SCHEMA.computed == set(SCHEMA.attributes) - {
        SCHEMA.schema_version,
        SCHEMA.owner,
        SCHEMA.title,
        SCHEMA.metadata,
        SCHEMA.usage,
        SCHEMA.parent_id,
        SCHEMA.fork_index,
        SCHEMA.fork_turn,
        SCHEMA.turns,
    }


def test_several_fields_may_share_a_team_role() -> None:
    class Tags(SessionRecord):
        a: Annotated[str | None, DynamoAttribute("S", "attribute")] = None
        b: Annotated[int | None, DynamoAttribute("N", "attribute")] = None
        c: Annotated[int | None, DynamoAttribute("N", "derived", derive=count_items)] = None
        d: Annotated[int | None, DynamoAttribute("N", "derived", derive=count_items)] = None

    schema = schema_of(Tags)
    assert set(schema.plain) == {"a", "b"} and set(schema.derived) == {"c", "d"}


def test_derive_is_required_for_derived_fields_and_refused_elsewhere() -> None:
    with pytest.raises(TypeError, match="needs derive="):
        DynamoAttribute("N", "derived")
    with pytest.raises(TypeError, match="only for role 'derived'"):
        DynamoAttribute("S", "attribute", derive=count_items)
    with pytest.raises(TypeError, match="json=True needs type 'S'"):
        DynamoAttribute("N", "attribute", json=True)


def test_a_field_hiding_its_derive_function_gets_a_helpful_error() -> None:
    def last_role(view: HistoryView) -> str | None:
        return None

    with pytest.raises(TypeError, match="give the function another name"):

        class Hidden(SessionRecord):
            last_role: Annotated[str | None, DynamoAttribute("S", "derived", derive=last_role)] = (
                None
            )


def test_a_team_field_needs_a_default() -> None:
    class Required(SessionRecord):
        tenant_id: Annotated[str, DynamoAttribute("S", "attribute")]

    with pytest.raises(TypeError, match=r"Required\.tenant_id needs a default"):
        schema_of(Required)


def test_core_roles_stay_unique_in_a_subclass() -> None:
    class Twice(SessionRecord):
        other_ttl: Annotated[int | None, DynamoAttribute("N", "ttl")] = None

    with pytest.raises(TypeError, match="role 'ttl' is declared twice"):
        schema_of(Twice)


def test_schema_of_refuses_what_is_not_a_session_record() -> None:
    with pytest.raises(TypeError, match="not SessionRecord"):
        schema_of(dict)  # type: ignore[arg-type]


def _with_indexes(*indexes: GlobalIndex) -> type[SessionRecord]:
    class Indexed(SessionRecord):
        tenant_id: Annotated[str | None, DynamoAttribute("S", "attribute")] = None
        tags: Annotated[frozenset[Decimal], DynamoAttribute("NS", "attribute")] = frozenset()

    Indexed.indexes = indexes  # type: ignore[misc]
    return Indexed


@pytest.mark.parametrize(
    ("index", "message"),
    [
        (GlobalIndex("by_x", "nope"), "partition_key 'nope' is not a declared field"),
        (GlobalIndex("by_x", "tenant_id", "nope"), "sort_key 'nope' is not a declared field"),
        (GlobalIndex("by_x", "tags"), "has type 'NS'; index keys need S, N or B"),
        (GlobalIndex("by_x", "tenant_id", "recent_writes"), "index keys need S, N or B"),
        (GlobalIndex("x", "tenant_id"), "a name needs 3 to 255"),
        (GlobalIndex("tenant_id", "tenant_id", "updated_at"), "has the name of a field"),
        (GlobalIndex("by_x", "tenant_id", "tenant_id"), "repeats the partition key"),
        (GlobalIndex("by_x", "tenant_id", projection=("nope",)), "unknown ['nope']"),
        (GlobalIndex("by_x", "tenant_id", projection="SOME"), "projection must be"),  # type: ignore[arg-type]
    ],
)
def test_malformed_indexes_are_refused(index: GlobalIndex, message: str) -> None:
    with pytest.raises(TypeError, match=f"index {index.name!r}.*" + re.escape(message)):
        schema_of(_with_indexes(index))


def test_index_names_are_unique() -> None:
    one = GlobalIndex("by_tenant", "tenant_id")
    with pytest.raises(TypeError, match="declared twice"):
        schema_of(_with_indexes(one, GlobalIndex("by_tenant", "tenant_id", "updated_at")))


def test_indexes_must_be_a_tuple_of_global_index() -> None:
    with pytest.raises(TypeError, match="tuple of GlobalIndex"):
        schema_of(_with_indexes(("by_tenant", "tenant_id")))  # type: ignore[arg-type]


# ------------------------------------------------------------------ requests


def test_create_table_request_includes_the_record_indexes() -> None:
    request = create_table_request("chats", record=ChatRecord)
    assert request == {
        "TableName": "chats",
        "KeySchema": [{"AttributeName": "session_id", "KeyType": "HASH"}],
        "AttributeDefinitions": [
            {"AttributeName": "session_id", "AttributeType": "S"},
            {"AttributeName": "owner", "AttributeType": "S"},
            {"AttributeName": "updated_at", "AttributeType": "N"},
            {"AttributeName": "parent_id", "AttributeType": "S"},
            {"AttributeName": "created_at", "AttributeType": "N"},
            {"AttributeName": "tenant_id", "AttributeType": "S"},
        ],
        "BillingMode": "PAY_PER_REQUEST",
        "GlobalSecondaryIndexes": [
            *create_table_request("chats")["GlobalSecondaryIndexes"],
            {
                "IndexName": "by_tenant",
                "KeySchema": [
                    {"AttributeName": "tenant_id", "KeyType": "HASH"},
                    {"AttributeName": "updated_at", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            },
        ],
    }
    # The base record's request has the library's indexes alone (the migrations' snapshot).
    base = create_table_request("chats")["GlobalSecondaryIndexes"]
    assert [i["IndexName"] for i in base] == [BY_OWNER_INDEX.name, BY_PARENT_INDEX.name]


def test_provisioned_indexes_get_their_own_throughput_and_shared_keys_one_definition() -> None:
    class Two(SessionRecord):
        indexes: ClassVar[tuple[GlobalIndex, ...]] = (
            GlobalIndex("by_tenant", "tenant_id", "updated_at", projection="KEYS_ONLY"),
            GlobalIndex("by_tenant_size", "tenant_id", "size", projection=("size",)),
        )
        tenant_id: Annotated[str | None, DynamoAttribute("S", "attribute")] = None
        size: Annotated[int | None, DynamoAttribute("N", "derived", derive=count_items)] = None

    request = create_table_request(
        "t-prov", record=Two, billing_mode="PROVISIONED", read_capacity=7, write_capacity=3
    )
    throughput = {"ReadCapacityUnits": 7, "WriteCapacityUnits": 3}
    assert request["ProvisionedThroughput"] == throughput
    assert [d["AttributeName"] for d in request["AttributeDefinitions"]] == [
        "session_id",
        "owner",
        "updated_at",
        "parent_id",
        "created_at",
        "tenant_id",
        "size",
    ]
    by_owner, by_parent, first, second = request["GlobalSecondaryIndexes"]
    assert by_owner["ProvisionedThroughput"] == by_parent["ProvisionedThroughput"] == throughput
    assert first["ProvisionedThroughput"] == second["ProvisionedThroughput"] == throughput
    assert first["Projection"] == {"ProjectionType": "KEYS_ONLY"}
    assert second["Projection"] == {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["size"]}


def test_global_index_request_adds_one_index_to_an_existing_table() -> None:
    expected = {
        "AttributeDefinitions": [
            {"AttributeName": "tenant_id", "AttributeType": "S"},
            {"AttributeName": "updated_at", "AttributeType": "N"},
        ],
        "GlobalSecondaryIndexUpdates": [
            {
                "Create": {
                    "IndexName": "by_tenant",
                    "KeySchema": [
                        {"AttributeName": "tenant_id", "KeyType": "HASH"},
                        {"AttributeName": "updated_at", "KeyType": "RANGE"},
                    ],
                    "Projection": {"ProjectionType": "ALL"},
                }
            }
        ],
    }
    assert global_index_request(CHAT, "by_tenant") == expected
    assert global_index_request(CHAT, CHAT.team_indexes[0]) == expected
    provisioned = global_index_request(
        CHAT, "by_tenant", billing_mode="PROVISIONED", read_capacity=2
    )
    create = provisioned["GlobalSecondaryIndexUpdates"][0]["Create"]
    assert create["ProvisionedThroughput"] == {"ReadCapacityUnits": 2, "WriteCapacityUnits": 5}
    with pytest.raises(KeyError, match="by_nothing"):
        global_index_request(CHAT, "by_nothing")
    with pytest.raises(KeyError, match="differs"):
        global_index_request(CHAT, GlobalIndex("by_tenant", "tenant_id"))


# ------------------------------------------------------------------ PynamoDB


def test_the_pynamodb_model_has_the_team_attributes_and_the_index() -> None:
    model = session_model("chats", ChatRecord, host="http://127.0.0.1:1")
    attributes = model.get_attributes()
    assert {n: a.attr_type for n, a in attributes.items() if n in CHAT.team} == {
        "tenant_id": "S",
        "message_count": "N",
        "last_role": "S",
    }
    assert all(attributes[n].null for n in CHAT.team)
    index = model.by_tenant  # type: ignore[attr-defined]
    assert index.Meta.index_name == "by_tenant"
    assert index.Meta.projection.projection_type == "ALL"
    keys = {
        n: (a.attr_type, a.is_hash_key, a.is_range_key) for n, a in index.Meta.attributes.items()
    }
    assert keys == {"tenant_id": ("S", True, False), "updated_at": ("N", False, True)}
    # The model's own table schema lists the index as create_table_request does.
    schema = model._get_schema()
    by_name = {i["index_name"]: i for i in schema["global_secondary_indexes"]}
    assert set(by_name) == {BY_OWNER_INDEX.name, BY_PARENT_INDEX.name, "by_tenant"}
    gsi = by_name["by_tenant"]
    assert (
        gsi["key_schema"]
        == create_table_request("x", record=ChatRecord)["GlobalSecondaryIndexes"][2]["KeySchema"]
    )
    # The base model is as before: the library's index only, no team attribute.
    base = session_model("chats")
    assert set(base.get_attributes()) == set(SCHEMA.attributes)
    assert not hasattr(base, "by_tenant")


def test_to_record_yields_the_team_record() -> None:
    raw = encode_record(
        ChatRecord(
            session_id="s",
            conversation_data=[msg("hi")],
            updated_at=Decimal("1.5"),
            tenant_id="t1",
            message_count=1,
            last_role="user",
        )
    )
    assert raw["tenant_id"] == {"S": "t1"} and raw["message_count"] == {"N": "1"}
    model = session_model("chats", ChatRecord)
    record = to_record(model.from_raw_data(raw))
    assert isinstance(record, ChatRecord)
    assert (record.tenant_id, record.message_count, record.last_role) == ("t1", 1, "user")
    # A base model of the same item gives a base record (the team's attributes ignored).
    assert type(to_record(session_model("chats").from_raw_data(raw))) is SessionRecord


def test_decode_record_refuses_a_team_attribute_of_the_wrong_type() -> None:
    raw = encode_record(SessionRecord(session_id="s", updated_at=Decimal(1)))
    raw["message_count"] = {"S": "many"}
    with pytest.raises(CorruptSessionError, match=r"'message_count'.*ChatRecord"):
        decode_record(raw, table_name="chats", record=ChatRecord)
    raw["message_count"] = {"N": "1.5"}  # an N, but not an int
    with pytest.raises(CorruptSessionError, match=r"\['message_count'\].*ChatRecord"):
        decode_record(raw, table_name="chats", record=ChatRecord)


# ------------------------------------------------------------------ values


def test_plain_values_are_validated_by_the_field_type() -> None:
    validated, encoded = validate_plain(CHAT, {"tenant_id": "t1"}, session_id="s", table_name="t")
    assert validated == {"tenant_id": "t1"} and encoded == {"tenant_id": {"S": "t1"}}
    _, absent = validate_plain(CHAT, {"tenant_id": None}, session_id="s", table_name="t")
    assert absent == {"tenant_id": None}

    cases = {
        "unknown": ("nope", "x", "is not an attribute field of ChatRecord"),
        "derived": ("message_count", 3, "is derived"),
        "mistyped": ("tenant_id", 42, "string_type"),
        "empty key": ("tenant_id", "", "an index key cannot be empty"),
        "long key": ("tenant_id", "x" * 2049, "an index key needs 1 to 2048 bytes"),
    }
    for name, value, problem in cases.values():
        with pytest.raises(InvalidAttributeError) as caught:
            validate_plain(CHAT, {name: value}, session_id="s-9", table_name="tbl")
        error = caught.value
        assert problem in str(error)
        assert "session 's-9' in table 'tbl'" in str(error) and "Fix:" in str(error)
        assert error.attribute == name and isinstance(error, InvalidArgumentError)
        assert "xxxx" not in str(error)  # never the value: it may be a user's content


def test_head_attributes_set_plain_carry_the_rest_and_recompute_derived() -> None:
    team = TeamAttributes(CHAT, {"tenant_id": {"S": "t1"}})
    carried = {
        "tenant_id": {"S": "old"},
        "message_count": {"N": "99"},
        "last_role": {"S": "stale"},
        "legacy": {"BOOL": True},
    }
    view = HistoryView("s", (msg("a"), msg("b", "assistant")), 7, 100, True)
    result = team.head_attributes(carried, lambda: view, session_id="s", table_name="t")
    assert result == {
        "tenant_id": {"S": "t1"},
        "message_count": {"N": "7"},  # the whole history's count, not the head's
        "last_role": {"S": "assistant"},
        "legacy": {"BOOL": True},
    }
    # No plain value given: carried over. A derived None: absent.
    empty = HistoryView("s", (), 0, 2, False)
    result = TeamAttributes(CHAT).head_attributes(
        carried, lambda: empty, session_id="s", table_name="t"
    )
    assert result == {
        "tenant_id": {"S": "old"},
        "message_count": {"N": "0"},
        "legacy": {"BOOL": True},
    }
    # An override of None removes the attribute.
    result = team.head_attributes(
        carried, lambda: empty, overrides={"tenant_id": None}, session_id="s", table_name="t"
    )
    assert "tenant_id" not in result
    # The base record changes nothing: the very mapping is carried over.
    assert (
        TeamAttributes(SCHEMA).head_attributes(
            carried, lambda: empty, session_id="s", table_name="t"
        )
        is carried
    )


def _record_deriving(derive: Any) -> TeamAttributes:
    class Deriving(SessionRecord):
        score: Annotated[int | None, DynamoAttribute("N", "derived", derive=derive)] = None

    return TeamAttributes(schema_of(Deriving))


def test_a_failing_derive_is_a_typed_error_naming_the_attribute() -> None:
    def boom(view: HistoryView) -> int:
        raise RuntimeError("secret user content")

    view = HistoryView("s", (), 0, 2, False)
    with pytest.raises(DerivedAttributeError) as caught:
        _record_deriving(boom).head_attributes({}, lambda: view, session_id="s-1", table_name="tb")
    error = caught.value
    assert error.attribute == "score" and isinstance(error.__cause__, RuntimeError)
    text = str(error)
    assert "'score'" in text and "session 's-1' in table 'tb'" in text and "Fix:" in text
    assert "boom" in text and "RuntimeError" in text and "secret" not in text

    with pytest.raises(DerivedAttributeError, match=r"returned a str .*int_parsing"):
        _record_deriving(lambda v: "many").head_attributes(
            {}, lambda: view, session_id="s", table_name="t"
        )
    with pytest.raises(DerivedAttributeError, match="int_from_float"):
        _record_deriving(lambda v: 1.5).head_attributes(
            {}, lambda: view, session_id="s", table_name="t"
        )


# ------------------------------------------------------------------ planning


def _state(items: list[Any], pages: PageIndex | None = None, **extra: Any) -> StoredItem:
    version = Decimal("1700000000.000001000000")
    return StoredItem(
        session_id="s",
        conversation_json=dumps_item(items),
        count=len(items),
        updated_at=version,
        ttl=None,
        recent_writes=frozenset({version}),
        extra=extra,
        pages=pages,
    )


def _plan(seen: StoredItem | None, change: Change, team: TeamAttributes, **layout: Any) -> Any:
    return plan_write(
        seen,
        change,
        expired=False,
        session_id="s",
        table_name="t",
        now=NOW,
        layout=Layout(**layout),
        operation="add_items",
        team=team,
    )


TEAM = TeamAttributes(CHAT, {"tenant_id": {"S": "t1"}})


def test_every_write_carries_the_team_attributes_of_the_new_state() -> None:
    base = _state([msg("a")], legacy={"S": "kept"})
    added = _plan(base, Append([dumps_item(msg("b", "assistant"))]).apply(base, {}), TEAM)
    assert added.item["tenant_id"] == {"S": "t1"} and added.item["legacy"] == {"S": "kept"}
    assert added.item["message_count"] == {"N": "2"}
    assert added.item["last_role"] == {"S": "assistant"}
    # The state the session remembers holds what was written.
    assert added.state.extra == {k: v for k, v in added.item.items() if k not in CHAT.computed}

    popped = Pop().apply(base, {})
    assert popped is not None
    written = _plan(base, popped, TEAM)
    assert written.item["message_count"] == {"N": "0"} and "last_role" not in written.item

    touched = _plan(base, Touch().apply(base, {}), TEAM)  # type: ignore[arg-type]
    assert touched.item["message_count"] == {"N": "1"}


def test_the_tombstone_carries_no_team_attribute_and_nothing_carried() -> None:
    base = _state([msg("a")], tenant_id={"S": "t1"}, legacy={"S": "x"})
    cleared = _plan(base, Clear().apply(base, {}), TEAM)
    # Nothing carried: no owner (so the tombstone leaves the by-owner index), no usage,
    # no created_at (the next write creates the session anew); the counters say empty.
    assert set(cleared.item) == set(SCHEMA.computed) - {"pages", "created_at"}
    assert (cleared.item["item_count"], cleared.item["history_size"]) == ({"N": "0"}, {"N": "2"})


def test_set_attributes_changes_only_the_attribute() -> None:
    base = _state([msg("a"), msg("b", "assistant")], tenant_id={"S": "t1"})
    change = SetAttributes({"tenant_id": {"S": "t2"}}).apply(base, {})
    assert change is not None
    written = _plan(base, change, TeamAttributes(CHAT))
    assert written.item["tenant_id"] == {"S": "t2"}
    assert written.item["conversation_data"] == {"S": base.conversation_json}
    assert written.items_written == 0 and written.result is True
    removed = SetAttributes({"tenant_id": None}).apply(base, {})
    assert removed is not None
    assert "tenant_id" not in _plan(base, removed, TEAM).item  # overrides the session's own
    # Nothing to write to without a conversation: no item, or a cleared one.
    assert SetAttributes({"tenant_id": {"S": "t2"}}).apply(None, {}) is None
    assert SetAttributes({"tenant_id": {"S": "t2"}}).apply(_state([]), {}) is None


def test_a_sealing_write_derives_from_the_whole_history_and_the_sealed_items() -> None:
    seen: list[HistoryView] = []

    def spy(view: HistoryView) -> int:
        seen.append(view)
        return view.count

    class Spied(SessionRecord):
        total: Annotated[int | None, DynamoAttribute("N", "derived", derive=spy)] = None

    items = [msg("x" * 1000 + str(i)) for i in range(40)]
    change = Append([dumps_item(i) for i in items]).apply(None, {})
    written = _plan(None, change, TeamAttributes(schema_of(Spied)), threshold=16 * 1024)
    assert written.page_items, "the write should have sealed pages"
    final = seen[-1]
    head = decode_item(written.item, table_name="t")
    assert final.paged and final.count == 40 and written.item["total"] == {"N": "40"}
    # A seal empties the head: derive functions see the newest items, those it sealed.
    assert head.items() == [] and list(final.items) == items
    assert final.size >= sum(len(dumps_item(i)) for i in items)


def test_team_attributes_count_toward_the_item_size() -> None:
    class Big(SessionRecord):
        blob: Annotated[str | None, DynamoAttribute("S", "attribute")] = None

    team = TeamAttributes(schema_of(Big), {"blob": {"S": "x" * 410_000}})
    change = Append([dumps_item(msg("a"))]).apply(None, {})
    with pytest.raises(SessionTooLargeError, match="head item"):
        _plan(None, change, team)


def test_a_json_team_attribute_round_trips() -> None:
    class Tagged(SessionRecord):
        tags: Annotated[list[str] | None, DynamoAttribute("S", "attribute", json=True)] = None

    schema = schema_of(Tagged)
    _, encoded = validate_plain(schema, {"tags": ["a", "b"]}, session_id="s", table_name="t")
    assert encoded == {"tags": {"S": json.dumps(["a", "b"], separators=(",", ":"))}}
    raw = encode_record(SessionRecord(session_id="s", updated_at=Decimal(1)))
    raw["tags"] = encoded["tags"]  # type: ignore[assignment]
    record = decode_record(raw, table_name="t", record=Tagged)
    assert isinstance(record, Tagged) and record.tags == ["a", "b"]
    assert encode_record(record)["tags"] == encoded["tags"]


def test_a_session_refuses_a_malformed_record_or_bad_attributes_without_a_call() -> None:
    from openai_agents_session.store import SessionStore

    class Required(SessionRecord):
        tenant_id: Annotated[str, DynamoAttribute("S", "attribute")]

    with pytest.raises(InvalidArgumentError, match="record must be") as caught:
        SessionStore("s", None, "tbl", record=Required)  # type: ignore[arg-type]
    assert isinstance(caught.value.__cause__, TypeError)
    with pytest.raises(InvalidAttributeError, match="'nope'"):
        SessionStore("s", None, "tbl", record=ChatRecord, attributes={"nope": 1})  # type: ignore[arg-type]
    store = SessionStore(
        "s",
        None,  # type: ignore[arg-type]
        "tbl",
        record=ChatRecord,
        attributes={"tenant_id": "t1"},
    )
    assert dict(store.attributes) == {"tenant_id": "t1"}
    with pytest.raises(TypeError):
        store.attributes["tenant_id"] = "t2"  # type: ignore[index]


def test_page_refs_count_in_the_view() -> None:
    ref = PageRef("p", 1, 0, 5, 500)
    base = _state([msg("a")], PageIndex(pages=(ref,)))
    written = _plan(base, Touch().apply(base, {}), TEAM)  # type: ignore[arg-type]
    assert written.item["message_count"] == {"N": "6"}


def test_a_record_pydantic_could_not_resolve_is_named() -> None:
    # Postponed annotations in a namespace pydantic cannot import from leave the
    # fields without metadata: say so, instead of blaming a field.
    source = (
        "from __future__ import annotations\n"
        "from typing import Annotated\n"
        "from openai_agents_session import DynamoAttribute, SessionRecord\n"
        "class Late(SessionRecord):\n"
        "    x: Annotated[str | None, DynamoAttribute('S', 'attribute')] = None\n"
    )
    namespace: dict[str, Any] = {"__name__": "not_a_module"}
    exec(compile(source, "late", "exec", dont_inherit=True), namespace)
    with pytest.raises(TypeError, match=r"Late is not fully defined.*model_rebuild"):
        schema_of(namespace["Late"])
