"""The constructor options are checked in one table: every row refuses what it should."""

from __future__ import annotations

from typing import Any

import pytest

from openai_agents_session import DynamoDBSession, InvalidArgumentError
from openai_agents_session._options import OPTIONS, check_options
from openai_agents_session.models.schema import ITEM_SIZE_LIMIT

REFUSED: dict[str, list[Any]] = {
    "ttl_seconds": [0, -1, True, 1.5, "60"],
    "max_items": [0, -3, True, 2.0, "5"],
    "page_threshold": [1024, ITEM_SIZE_LIMIT + 1, True, 65536.0, None],
    "max_session_bytes": [0, True, 1.0, None],
    "size_warning_ratio": [0, 1.01, True, "0.5", None],
    "settle_timeout": [0, -1.0, True, None, "1"],
    "time_source": ["ntp", None, 1],
}
ACCEPTED: dict[str, list[Any]] = {
    "ttl_seconds": [None, 1, 86400],
    "max_items": [None, 1, 500],
    "page_threshold": [16 * 1024, ITEM_SIZE_LIMIT],
    "max_session_bytes": [1, 64 * 1024 * 1024],
    "size_warning_ratio": [0.5, 1],
    "settle_timeout": [0.1, 10],
    "time_source": ["dynamodb", "host"],
}


def test_every_option_has_a_row_and_cases() -> None:
    assert {o.name for o in OPTIONS} == set(REFUSED) == set(ACCEPTED)


@pytest.mark.parametrize(
    ("name", "value"), [(n, v) for n, values in REFUSED.items() for v in values]
)
def test_a_value_out_of_range_is_refused_naming_the_session_table_and_fix(
    name: str, value: Any
) -> None:
    with pytest.raises(InvalidArgumentError) as caught:
        DynamoDBSession("chat-1", None, "sessions", **{name: value})  # type: ignore[arg-type]
    message = str(caught.value)
    assert message.startswith(f"{name} must be ")
    assert "'chat-1'" in message and "'sessions'" in message and "Fix:" in message
    assert caught.value.session_id == "chat-1" and caught.value.table_name == "sessions"


@pytest.mark.parametrize(
    ("name", "value"), [(n, v) for n, values in ACCEPTED.items() for v in values]
)
def test_a_value_in_range_is_accepted(name: str, value: Any) -> None:
    check_options({name: value}, session_id="chat-1", table_name="sessions")
