"""Validation before anything is sent: items, session ids and table names."""

from __future__ import annotations

from typing import Any

import pytest

from openai_agents_session import (
    RESERVED_PREFIX,
    InvalidArgumentError,
    InvalidItemError,
    InvalidSessionIdError,
)
from openai_agents_session.models.items import encode_batch
from openai_agents_session.session import validate_session_id, validate_table_name

GOOD = {"role": "user", "content": "hi"}


class Opaque:
    """An arbitrary object, as a caller might forget to convert."""


BAD_ITEMS: dict[str, Any] = {
    "set": {"a": {1, 2}},
    "frozenset": {"a": frozenset({"x"})},
    "tuple": {"a": (1, 2)},
    "bytes": {"a": b"raw"},
    "bytearray": {"a": bytearray(b"raw")},
    "nan": {"a": float("nan")},
    "inf": {"a": float("inf")},
    "-inf": {"a": float("-inf")},
    "int-key": {1: "one"},
    "none-key": {None: "x"},
    "tuple-key": {("a",): "x"},
    "object": {"a": Opaque()},
    "lone-surrogate": {"content": "bad \ud800 text"},
    "lone-surrogate-key": {"\udfff": "x"},
    "deep-set": {"a": [{"b": {"c": [1, {"d": {2, 3}}]}}]},
    "deep-nan": {"a": [[[{"b": [float("nan")]}]]]},
    "not-a-dict": "a string",
    "none": None,
    "list": [GOOD],
    "tuple-item": (("role", "user"),),
    "object-item": Opaque(),
}


@pytest.mark.parametrize("bad", list(BAD_ITEMS.values()), ids=list(BAD_ITEMS))
def test_bad_item_is_named_by_index(bad: Any) -> None:
    with pytest.raises(InvalidItemError) as caught:
        encode_batch([GOOD, GOOD, bad, GOOD], strict=False, session_id="s-9", table_name="tbl-9")
    error = caught.value
    assert error.index == 2
    message = str(error)
    assert message.startswith("Item 2 ")
    assert "'s-9'" in message and "'tbl-9'" in message and "Fix:" in message
    assert error.session_id == "s-9" and error.table_name == "tbl-9"
    assert isinstance(error, ValueError)


@pytest.mark.parametrize("batch", [GOOD, "text", b"bytes", 42, None, {GOOD["role"]}], ids=repr)
def test_batch_that_is_not_a_list(batch: Any) -> None:
    with pytest.raises(InvalidItemError) as caught:
        encode_batch(batch, strict=False, session_id="s", table_name="tbl")
    assert caught.value.index is None
    assert "list" in str(caught.value)


def test_good_batch_is_encoded_canonically() -> None:
    batch = [
        GOOD,
        {"x": {"y": [1, 2.5, None, True, "é"]}},
        {"__enc__": 1, "v": 1, "kid": "hkdf-v1", "payload": "gAAAA"},
        {},
    ]
    assert encode_batch(batch, strict=False, session_id="s", table_name="tbl") == [
        '{"role":"user","content":"hi"}',
        '{"x":{"y":[1,2.5,null,true,"é"]}}',
        '{"__enc__":1,"v":1,"kid":"hkdf-v1","payload":"gAAAA"}',
        "{}",
    ]
    assert encode_batch([], strict=False, session_id="s", table_name="tbl") == []


SDK_ITEMS = [
    {"role": "user", "content": "hi"},
    {"role": "system", "content": "be brief"},
    {
        "type": "message",
        "role": "assistant",
        "id": "msg_1",
        "status": "completed",
        "content": [{"type": "output_text", "text": "Hi there!", "annotations": []}],
    },
    {
        "type": "function_call",
        "call_id": "call_1",
        "name": "get_weather",
        "arguments": '{"city": "Paris"}',
    },
    {"type": "function_call_output", "call_id": "call_1", "output": "sunny"},
]


def test_strict_accepts_sdk_items() -> None:
    encoded = encode_batch(SDK_ITEMS, strict=True, session_id="s", table_name="tbl")
    assert len(encoded) == len(SDK_ITEMS)


@pytest.mark.parametrize(
    "item",
    [
        {"foo": "bar"},
        {"__enc__": 1, "payload": "x"},
        {"type": "function_call_output", "call_id": 5, "output": "x"},
        {"role": "wizard", "content": "hi"},
    ],
    ids=["unknown-keys", "envelope", "wrong-type", "unknown-role"],
)
def test_strict_rejects_json_that_is_not_an_sdk_item_in_one_line(item: Any) -> None:
    with pytest.raises(InvalidItemError) as caught:
        encode_batch([SDK_ITEMS[0], item], strict=True, session_id="s-1", table_name="sessions-x")
    message = str(caught.value)
    assert caught.value.index == 1
    assert "\n" not in message
    assert len(message) < 300, message
    # The same item is fine when the store treats items as opaque.
    assert encode_batch([item], strict=False, session_id="s-1", table_name="sessions-x")


VALID_IDS = ["user#1", "tenant/42/x", "SESSION#meta", "0", "é" * 1024, "x" * 2048, " ", "__oas__"]


@pytest.mark.parametrize("session_id", VALID_IDS, ids=range(len(VALID_IDS)))
def test_valid_session_ids(session_id: str) -> None:
    assert validate_session_id(session_id) == session_id


INVALID_IDS: list[Any] = [
    "",
    "x" * 2049,
    "é" * 1025,  # 2050 UTF-8 bytes though only 1025 characters
    RESERVED_PREFIX + "x",
    RESERVED_PREFIX,
    None,
    42,
    b"user-1",
    ["user-1"],
]


@pytest.mark.parametrize("session_id", INVALID_IDS, ids=range(len(INVALID_IDS)))
def test_invalid_session_ids(session_id: Any) -> None:
    with pytest.raises(InvalidSessionIdError) as caught:
        validate_session_id(session_id, table_name="tbl-1")
    assert "tbl-1" in str(caught.value)
    assert "Fix:" in str(caught.value)
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize("name", ["abc", "agent_sessions", "A.b-c_9", "x" * 255])
def test_valid_table_names(name: str) -> None:
    assert validate_table_name(name) == name


@pytest.mark.parametrize("name", ["", "ab", "x" * 256, "has space", "slash/name", None, 5])
def test_invalid_table_names(name: Any) -> None:
    with pytest.raises(InvalidArgumentError):
        validate_table_name(name)
