"""The codec: records and stored items survive encoding, sizes follow DynamoDB's rule.

Sizes are checked against hand-computed values, not against the function
itself: DynamoDB counts UTF-8 bytes of attribute names and string values, one
byte per two significant digits of a number plus one, and three bytes plus one
per element for lists and maps.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from openai_agents_session import CorruptSessionError, SessionRecord
from openai_agents_session.models.codec import (
    StoredItem,
    decode_item,
    decode_record,
    dumps_item,
    encode_item,
    encode_key,
    encode_record,
    item_size,
    next_version,
    number_size,
    write_condition,
)

V22 = Decimal("1764067000.123456789012")  # the shape of a real version: 22 digits
V22_NEXT = Decimal("1764067000.123457000001")


def record(**overrides: Any) -> SessionRecord:
    fields: dict[str, Any] = {
        "session_id": "user-123",
        "conversation_data": [{"role": "user", "content": "Hello"}],
        "updated_at": V22,
        "ttl": 1_764_070_600,
        "recent_writes": frozenset({V22, V22_NEXT}),
    }
    fields.update(overrides)
    return SessionRecord(**fields)


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"ttl": None},
        {"conversation_data": []},
        {"recent_writes": frozenset()},
        {"session_id": "tenant/42/ünï©ødé 😀"},
        {
            "conversation_data": [
                {"role": "user", "content": 'héllo wörld 中文 😀 \u2028 "quoted" \\ '},
                {"ключ": ["nested", {"deep": [1, 2.5, True, None, -3]}], "e": {}},
                {"big": 10**30, "small": -1e-300, "zero": 0},
            ]
        },
        {"updated_at": Decimal("9999999999.999999999999"), "recent_writes": frozenset({V22})},
        {"schema_version": frozenset({"0005_tenant", "0006_split:second", "-0007_x"})},
    ],
    ids=[
        "full",
        "ttl-none",
        "empty-list",
        "no-write-log",
        "unicode-id",
        "unicode-items",
        "max",
        "backfills-applied",
    ],
)
def test_record_round_trip(overrides: dict[str, Any]) -> None:
    original = record(**overrides)
    encoded = encode_record(original)
    decoded = decode_record(encoded, table_name="t")
    # The counters are the library's: whatever a record says, the stored ones are computed.
    history = "[" + ",".join(dumps_item(i) for i in original.conversation_data) + "]"
    assert decoded == original.model_copy(
        update={
            "item_count": len(original.conversation_data),
            "history_size": len(history.encode()),
        }
    )
    # Exactness matters: the version is compared by DynamoDB's condition.
    assert str(decoded.updated_at) == str(original.updated_at)
    assert decoded.recent_writes == original.recent_writes


def test_encoded_record_is_the_wire_format() -> None:
    encoded = encode_record(record())
    assert encoded == {
        "session_id": {"S": "user-123"},
        "conversation_data": {"S": '[{"role":"user","content":"Hello"}]'},
        "updated_at": {"N": "1764067000.123456789012"},
        "ttl": {"N": "1764070600"},
        "recent_writes": {"NS": ["1764067000.123456789012", "1764067000.123457000001"]},
        # The catalog's counters: the whole history's items and JSON bytes.
        "item_count": {"N": "1"},
        "history_size": {"N": "35"},
    }


def test_absent_optional_attributes_are_left_out() -> None:
    encoded = encode_record(record(ttl=None, recent_writes=frozenset(), schema_version=frozenset()))
    assert set(encoded) == {
        "session_id",
        "conversation_data",
        "updated_at",
        "item_count",
        "history_size",
    }


def test_schema_version_is_declared_but_carried_raw_by_session_writes() -> None:
    applied = {"SS": ["0004_item_schema_version", "0005_team:tenant"]}
    raw = {**encode_record(record()), "schema_version": applied, "tenant": {"S": "acme"}}
    stored = decode_item(raw, table_name="t")
    # The hot path keeps it with the undeclared attributes, untouched ...
    assert stored.extra == {"schema_version": applied, "tenant": {"S": "acme"}}
    # ... so the next write of that state stores it exactly as it was read.
    rewritten = encode_item(
        stored.session_id,
        stored.conversation_json,
        V22_NEXT,
        stored.ttl,
        stored.recent_writes,
        extra=stored.extra,
    )
    assert rewritten["schema_version"] == applied and rewritten["tenant"] == {"S": "acme"}
    # The validated record decodes it as a set.
    assert decode_record(raw, table_name="t").schema_version == frozenset(applied["SS"])
    assert encode_record(record(schema_version=frozenset(applied["SS"])))["schema_version"] == {
        "SS": sorted(applied["SS"])
    }


def test_stored_item_round_trip_keeps_undeclared_attributes() -> None:
    extra = {"tenant": {"S": "acme"}, "flags": {"L": [{"BOOL": True}]}}
    conversation = '[{"role":"user","content":"é"},{"type":"x"}]'
    encoded = encode_item("s-1", conversation, V22, None, frozenset({V22}), extra=extra)
    assert encoded["tenant"] == {"S": "acme"}
    decoded = decode_item(encoded, table_name="t")
    assert decoded == StoredItem(
        session_id="s-1",
        conversation_json=conversation,
        count=2,
        updated_at=V22,
        ttl=None,
        recent_writes=frozenset({V22}),
        extra=extra,
    )
    assert decoded.items() == [{"role": "user", "content": "é"}, {"type": "x"}]
    # Fresh objects each time, so a caller mutating the result cannot change the state.
    first = decoded.items()
    first.append({"x": 1})
    assert decoded.items() == json.loads(conversation)


def test_stored_item_expiry_and_applied_versions() -> None:
    item = decode_item(
        encode_item("s", "[]", V22_NEXT, 100, frozenset({V22, V22_NEXT})), table_name=None
    )
    assert item.is_expired(100) and item.is_expired(101) and not item.is_expired(99)
    assert item.applied(V22) and item.applied(V22_NEXT)
    assert not item.applied(Decimal("1764067000.123456789013"))


def test_legacy_item_decodes() -> None:
    raw = {
        "session_id": {"S": "old"},
        "conversation_data": {"S": json.dumps([{"role": "user", "content": "caf\u00e9"}])},
        "updated_at": {"N": "1700000000"},
    }
    decoded = decode_record(raw, table_name="t")
    assert decoded.items == [{"role": "user", "content": "café"}]
    assert decoded.updated_at == 1_700_000_000
    assert decoded.ttl is None and decoded.recent_writes == frozenset()


def base_item() -> dict[str, Any]:
    return {
        "session_id": {"S": "s"},
        "conversation_data": {"S": "[]"},
        "updated_at": {"N": "1"},
    }


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"conversation_data": {"S": "not json {"}}, "not valid JSON"),
        ({"conversation_data": {"S": '{"role": "user"}'}}, "not a list"),
        ({"conversation_data": {"S": "[1, 2]"}}, "item 0"),
        ({"conversation_data": {"S": '[{"a": 1}, "x"]'}}, "item 1"),
        ({"conversation_data": None}, "conversation_data"),
        ({"conversation_data": {"N": "5"}}, "conversation_data"),
        ({"updated_at": None}, "updated_at"),
        ({"updated_at": {"S": "yesterday"}}, "updated_at"),
        ({"ttl": {"S": "soon"}}, "ttl"),
        ({"recent_writes": {"SS": ["a"]}}, "recent_writes"),
        ({"schema_version": {"S": "0005_team"}}, "schema_version"),
        ({"schema_version": {"NS": ["5"]}}, "schema_version"),
    ],
    ids=[
        "not-json",
        "json-object",
        "non-objects",
        "second-non-object",
        "payload-missing",
        "payload-type-n",
        "version-missing",
        "version-type-s",
        "ttl-type-s",
        "write-log-type-ss",
        "schema-version-type-s",
        "schema-version-type-ns",
    ],
)
def test_corrupt_items_raise_corrupt_session_error(change: dict[str, Any], problem: str) -> None:
    raw = base_item()
    for name, value in change.items():
        if value is None:
            del raw[name]
        else:
            raw[name] = value
    with pytest.raises(CorruptSessionError) as caught:
        decode_item(raw, table_name="tbl-x")
    message = str(caught.value)
    assert problem in message
    assert "'s'" in message and "'tbl-x'" in message and "Fix:" in message
    assert caught.value.session_id == "s" and caught.value.table_name == "tbl-x"
    with pytest.raises(CorruptSessionError):
        decode_record(raw, table_name="tbl-x")


def test_dumps_item_is_compact_unicode_and_refuses_nan() -> None:
    assert dumps_item({"a": [1, {"b": "é"}]}) == '{"a":[1,{"b":"é"}]}'
    with pytest.raises(ValueError):
        dumps_item({"a": float("nan")})


# ---------------------------------------------------------------- item sizes


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("1", 2),  # 1 digit -> 1 byte + 1
        ("12", 2),
        ("123", 3),
        ("100", 2),  # trailing zeros are trimmed
        ("0.001", 2),  # leading zeros are trimmed
        ("-12.50", 3),  # sign and point are free; "125" is 3 digits
        ("1764067000", 5),  # "1764067" -> 7 digits -> 4 + 1
        ("1764067000.123456789012", 12),  # 22 digits -> 11 + 1
        ("9" * 38, 20),
    ],
)
def test_number_size(text: str, size: int) -> None:
    assert number_size(text) == size
    assert item_size({"n": {"N": text}}) == 1 + size


@pytest.mark.parametrize(
    ("item", "size"),
    [
        ({"a": {"S": "xyz"}}, 1 + 3),
        ({"naïve": {"S": "€"}}, 6 + 3),  # names and values in UTF-8 bytes
        ({"e": {"S": "😀"}}, 1 + 4),
        ({"flag": {"BOOL": True}, "nil": {"NULL": True}}, 4 + 1 + 3 + 1),
        ({"b": {"B": b"\x00\x01\x02"}}, 1 + 3),
        ({"ss": {"SS": ["ab", "é"]}}, 2 + 2 + 2),
        ({"ns": {"NS": ["1", "123", "1764067000.123456789012"]}}, 2 + 2 + 3 + 12),
        # list: 3 + per element (1 + value)
        ({"l": {"L": [{"S": "ab"}, {"N": "5"}]}}, 1 + 3 + (1 + 2) + (1 + 2)),
        ({"l": {"L": []}}, 1 + 3),
        # map: 3 + per entry (1 + name + value)
        ({"m": {"M": {"ab": {"S": "x"}, "n": {"N": "12"}}}}, 1 + 3 + (1 + 2 + 1) + (1 + 1 + 2)),
    ],
    ids=["ascii", "utf8-name", "emoji", "bool-null", "binary", "ss", "ns", "list", "empty", "map"],
)
def test_item_size_by_hand(item: dict[str, Any], size: int) -> None:
    assert item_size(item) == size


def test_item_size_of_a_whole_session_item() -> None:
    encoded = encode_item("abc", '[{"a":1}]', V22, 1_764_070_600, frozenset({V22}))
    expected = (
        len("session_id") + 3
        + len("conversation_data") + len('[{"a":1}]')
        + len("updated_at") + 12
        + len("ttl") + 5  # "17640706" after trimming zeros: 8 digits
        + len("recent_writes") + 12
        + len("item_count") + 2  # "1"
        + len("history_size") + 2  # "9"
    )  # fmt: skip
    assert expected == 120
    assert item_size(encoded) == expected


# ----------------------------------------------------------- versions, keys


def test_next_version_is_above_the_seen_one_even_with_a_slow_clock() -> None:
    seen = Decimal("2000000000.000000500000")
    for _ in range(50):
        version = next_version(seen, now=1_000_000_000.0)  # clock far behind the writer
        assert version > seen
        seen = version
    fresh = next_version(None, now=1_764_067_000.25)
    assert Decimal("1764067000.25") <= fresh < Decimal("1764067000.250001")
    # Sub-microsecond digits exist, so versions are not plain timestamps.
    assert fresh.as_tuple().exponent == -12


def test_encode_key() -> None:
    assert encode_key("user#1") == {"session_id": {"S": "user#1"}}


def test_write_condition_requests() -> None:
    create = write_condition(None)
    assert "attribute_not_exists" in create["ConditionExpression"]
    assert set(create["ExpressionAttributeNames"].values()) == {"session_id"}
    assert "ExpressionAttributeValues" not in create

    update = write_condition(V22)
    assert "attribute_not_exists" not in update["ConditionExpression"]
    assert set(update["ExpressionAttributeNames"].values()) == {"updated_at"}
    assert list(update["ExpressionAttributeValues"].values()) == [{"N": str(V22)}]

    replace = write_condition(V22, allow_absent=True)
    assert "OR" in replace["ConditionExpression"]
    assert "attribute_not_exists" in replace["ConditionExpression"]
    assert set(replace["ExpressionAttributeNames"].values()) == {"updated_at", "session_id"}
