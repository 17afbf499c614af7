"""Hostile stored data, hostile arguments and extreme versions get typed errors, never loss.

Each case was reproduced against the code before this file: a ValueError or
RecursionError escaping, a version that stopped growing (two writers both
winning), arguments that reached the server, and user text in error messages.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from decimal import Decimal
from typing import Any

import pytest
from aiobotocore.session import get_session

from openai_agents_session import (
    AccessDeniedError,
    ConcurrentModificationError,
    CorruptSessionError,
    DynamoDBSession,
    DynamoDBUnavailableError,
    InvalidArgumentError,
    InvalidSessionIdError,
    RetryPolicy,
    create_table_if_not_exists,
)
from openai_agents_session.models.codec import next_version
from tests.conftest import count_calls
from tests.support.sessions import (
    client_fixture,  # noqa: F401
    clients_fixture,  # noqa: F401
    create_table_blocking,
    is_cleared,
    message,
    module_table,  # noqa: F401
    raw_fixture,  # noqa: F401
    raw_get,
    raw_put,
    stored_items,
)

SECRET = "my card number is 4111"


def sid() -> str:
    return f"h-{uuid.uuid4().hex[:10]}"


def item(session_id: str, conversation: str, version: str = "1700000000") -> dict[str, Any]:
    return {
        "session_id": {"S": session_id},
        "conversation_data": {"S": conversation},
        "updated_at": {"N": version},
    }


HOSTILE = {
    "nan": '[{"role":"user","content":NaN}]',
    "infinity": '[{"role":"user","content":-Infinity}]',
    "huge-float": '[{"role":"user","content":1e400}]',
    "deep": '[{"a":' + "[" * 5000 + "]" * 5000 + "}]",
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
async def test_unfaithful_stored_json_is_corrupt_for_every_operation(
    client: Any, table: str, raw: Any, case: str
) -> None:
    session_id = sid()
    stored = item(session_id, HOSTILE[case])
    await raw_put(raw, table, stored)
    operations = {
        "get": lambda s: s.get_items(),
        "add": lambda s: s.add_items([message("x")]),
        "pop": lambda s: s.pop_item(),
        "record": lambda s: s.get_record(),
    }
    for name, run in operations.items():
        with pytest.raises(CorruptSessionError) as caught:
            await run(DynamoDBSession(session_id, client, table))
        assert session_id in str(caught.value) and table in str(caught.value), name
    assert await raw_get(raw, table, session_id) == stored  # never overwritten
    await DynamoDBSession(session_id, client, table).clear_session()
    assert is_cleared(await raw_get(raw, table, session_id))


async def test_corrupt_errors_carry_no_conversation_content(
    client: Any, table: str, raw: Any
) -> None:
    session_id = sid()
    await raw_put(raw, table, {**item(session_id, "[]"), "conversation_data": {"N": "1"}})
    await raw_put(raw, table, {**item(session_id, "[]"), "conversation_data": {"SS": [SECRET]}})
    with pytest.raises(CorruptSessionError) as caught:
        await DynamoDBSession(session_id, client, table).get_items()
    assert SECRET not in str(caught.value) and "4111" not in str(caught.value)
    assert "conversation_data" in str(caught.value)


async def test_a_huge_stored_version_still_grows_so_no_write_is_lost(
    client: Any, table: str, raw: Any
) -> None:
    assert next_version(Decimal("1e22"), 1.7e9) > Decimal("1e22")
    session_id = sid()
    await raw_put(raw, table, item(session_id, '[{"role":"user","content":"x"}]', "1e22"))
    first = DynamoDBSession(session_id, client, table)
    second = DynamoDBSession(session_id, client, table)
    await first.get_items()
    await second.get_items()  # both now hold the same version
    await first.add_items([message("a")])
    await second.add_items([message("b")])  # its condition must fail, then re-apply
    assert await stored_items(raw, table, session_id) == [
        {"role": "user", "content": "x"},
        message("a"),
        message("b"),
    ]


async def test_a_version_past_dynamodb_digits_is_corrupt(client: Any, table: str, raw: Any) -> None:
    session_id = sid()
    await raw_put(raw, table, item(session_id, "[]", "1e30"))
    with pytest.raises(CorruptSessionError, match="out of range"):
        await DynamoDBSession(session_id, client, table).add_items([message("a")])


@pytest.mark.parametrize(
    ("arguments", "error"),
    [
        ({"session_id": "lone\udc80surrogate"}, InvalidSessionIdError),
        ({"table_name": "sessions\n"}, InvalidArgumentError),
        ({"size_warning_ratio": "x"}, InvalidArgumentError),
        ({"session_settings": {"limit": 2.5}}, InvalidArgumentError),
        ({"page_threshold": 100}, InvalidArgumentError),
        ({"page_threshold": 10**6}, InvalidArgumentError),
        ({"max_session_bytes": 0}, InvalidArgumentError),
    ],
)
async def test_bad_arguments_are_refused_before_any_call(
    client: Any, table: str, arguments: dict[str, Any], error: type[Exception]
) -> None:
    calls = count_calls(client)
    options: dict[str, Any] = {"session_id": sid(), "table_name": table, **arguments}
    with pytest.raises(error):
        DynamoDBSession(options.pop("session_id"), client, options.pop("table_name"), **options)
    assert calls.total() == 0


@pytest.mark.parametrize("limit", [1.5, "2", True, -1])
async def test_bad_limits_are_refused_before_any_call(client: Any, table: str, limit: Any) -> None:
    session = DynamoDBSession(sid(), client, table)
    calls = count_calls(client)
    with pytest.raises(InvalidArgumentError):
        await session.get_items(limit)
    assert calls.total() == 0


async def test_a_writer_with_a_slow_clock_never_shortens_the_ttl(
    client: Any, table: str, raw: Any
) -> None:
    session_id = sid()
    on_time = DynamoDBSession(session_id, client, table, ttl_seconds=120)
    await on_time.add_items([message("a")])
    before = await raw_get(raw, table, session_id)
    assert before is not None
    behind = int(before["ttl"]["N"]) - 120 - 100  # this host's clock is 100 s behind
    late = DynamoDBSession(
        session_id, client, table, ttl_seconds=120, clock=lambda: behind, time_source="host"
    )
    await late.add_items([message("b")])
    after = await raw_get(raw, table, session_id)
    assert after is not None and int(after["ttl"]["N"]) >= int(before["ttl"]["N"])
    assert await stored_items(raw, table, session_id) == [message("a"), message("b")]


async def test_retries_respect_the_time_budget_and_lose_no_acknowledged_message(
    clients: Any, table: str, raw: Any
) -> None:
    session_id = sid()
    policy = RetryPolicy(max_attempts=10_000, max_elapsed=0.3)
    acknowledged: list[str] = []
    refused: list[float] = []

    async def writer(w: int) -> None:
        session = DynamoDBSession(session_id, await clients(), table, retry=policy)
        for n in range(4):
            started = time.monotonic()
            try:
                await session.add_items([message(f"{w}-{n}")])
            except ConcurrentModificationError as exc:
                assert "max_elapsed" in str(exc)
                refused.append(time.monotonic() - started)
            else:
                acknowledged.append(f"{w}-{n}")

    await asyncio.gather(*(writer(w) for w in range(16)))
    stored = await stored_items(raw, table, session_id)
    assert stored is not None
    # Every acknowledged append is stored once; a refused one is not stored at all.
    assert sorted(m["content"] for m in stored) == sorted(acknowledged)
    # A refusal comes once the budget is spent: one more call at most past it.
    assert all(seconds < 0.3 + 2.0 for seconds in refused)


# ------------------------------------------------------------------ clock skew

SKEWS = [-300.0, -150.0, 150.0, 300.0]


def skewed(seconds: float) -> Any:
    return lambda: time.time() + seconds


@pytest.mark.parametrize("skew", SKEWS)
async def test_a_skewed_writer_never_replaces_a_live_history(
    client: Any, table: str, raw: Any, skew: float
) -> None:
    session_id = sid()
    await DynamoDBSession(session_id, client, table, ttl_seconds=120).add_items(
        [message(t) for t in "abc"]
    )
    writer = DynamoDBSession(session_id, client, table, ttl_seconds=120, clock=skewed(skew))
    await writer.add_items([message("d")])
    assert await stored_items(raw, table, session_id) == [message(t) for t in "abcd"]
    stored = await raw_get(raw, table, session_id)
    assert stored is not None
    # The TTL is computed on the shared clock: live for correct-clock readers.
    assert int(stored["ttl"]["N"]) >= time.time() + 120 - 5
    reader = DynamoDBSession(session_id, client, table, ttl_seconds=120)
    assert await reader.get_items() == [message(t) for t in "abcd"]


@pytest.mark.parametrize("skew", SKEWS)
async def test_a_skewed_fresh_writer_creates_a_ttl_live_for_everyone(
    client: Any, table: str, raw: Any, skew: float
) -> None:
    session_id = sid()
    writer = DynamoDBSession(session_id, client, table, ttl_seconds=120, clock=skewed(skew))
    await writer.add_items([message("first")])
    stored = await raw_get(raw, table, session_id)
    assert stored is not None and int(stored["ttl"]["N"]) >= time.time() + 120 - 5
    assert await DynamoDBSession(session_id, client, table).get_items() == [message("first")]


@pytest.mark.parametrize("skew", SKEWS)
async def test_expired_by_a_minute_on_the_shared_clock_is_replaced(
    client: Any, table: str, raw: Any, skew: float
) -> None:
    session_id = sid()
    expired = {
        "session_id": {"S": session_id},
        "conversation_data": {"S": '[{"role":"user","content":"old"}]'},
        "updated_at": {"N": "1700000000"},
        "ttl": {"N": str(int(time.time()) - 60)},
    }
    await raw_put(raw, table, expired)
    writer = DynamoDBSession(session_id, client, table, ttl_seconds=120, clock=skewed(skew))
    assert await writer.get_items() == []
    await writer.add_items([message("new")])
    assert await stored_items(raw, table, session_id) == [message("new")]


# ------------------------------------------------------------ one AWS boundary


async def test_create_table_against_nothing_is_a_typed_error(make_client: Any) -> None:
    from tests.support.endpoints import free_port

    silent = await make_client(
        url=f"http://127.0.0.1:{free_port()}",
        retries={"mode": "standard", "total_max_attempts": 1},
        connect_timeout=1,
    )
    with pytest.raises(DynamoDBUnavailableError, match="Fix:"):
        await create_table_if_not_exists(silent, "sessions-x")


async def test_missing_credentials_are_a_typed_error(endpoint: str, monkeypatch: Any) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    async with get_session().create_client(
        "dynamodb", region_name="us-east-1", endpoint_url=endpoint
    ) as anonymous:
        with pytest.raises(AccessDeniedError, match="credentials"):
            await create_table_if_not_exists(anonymous, "sessions-x")
        with pytest.raises(AccessDeniedError):
            await DynamoDBSession("s", anonymous, "sessions-x").get_items()


@pytest.mark.parametrize(
    ("options", "fix"),
    [
        ({"profile_name": "no-such-profile"}, "--profile"),
        ({"region_name": "bad region"}, "region"),
        ({"endpoint_url": "notaurl"}, "endpoint"),
    ],
)
async def test_from_config_with_bad_settings_is_a_typed_error(
    table: str, options: dict[str, Any], fix: str
) -> None:
    with pytest.raises(InvalidArgumentError, match=fix):
        session = DynamoDBSession.from_config(sid(), table, **options)
        try:
            await session.get_items()
        finally:
            await session.close()


@pytest.mark.parametrize(
    "bad",
    [
        ["--profile", "no-such-profile"],
        ["--region", "bad region"],
        ["--endpoint-url", "notaurl"],
    ],
)
def test_cli_verbs_report_bad_aws_settings_in_one_line(endpoint: str, bad: list[str]) -> None:
    from typer.testing import CliRunner

    from openai_agents_session.cli import app

    for verb in (["sessions", "list"], ["sessions", "show", "x"], ["migrate", "status"]):
        options = ["--table", "sessions-x", "--endpoint-url", endpoint, "--region", "us-east-1"]
        result = CliRunner().invoke(app, [*verb, *options, *bad])
        assert result.exit_code == 2, (verb, bad, result.output)  # a bad option value
        assert result.exception is None or isinstance(result.exception, SystemExit)
        assert "Traceback" not in result.output and "Fix:" in result.output, result.output


# --------------------------------------------------------- stored text in the CLI

HOSTILE_TEXT = (
    "\x1b[2J\x1b[Hfake prompt$ "  # clear the screen, home the cursor
    "\x1b]52;c;aGVsbG8=\x07"  # OSC 52: write the clipboard
    "\x1b]8;;http://evil.example\x1b\\click\x1b]8;;\x1b\\"  # OSC 8: a hyperlink
    "\x9b31m [/] [bold]not markup[/bold] \x00\x7f end"
)


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def _cli(endpoint: str, table: str, *args: str) -> Any:
    from typer.testing import CliRunner

    from openai_agents_session.cli import app

    options = ["--table", table, "--endpoint-url", endpoint, "--region", "us-east-1"]
    return CliRunner().invoke(app, [*args, *options])


def test_stored_control_sequences_and_markup_never_reach_the_terminal(endpoint: str) -> None:
    table = create_table_blocking(endpoint)
    session_id = "x[/bold]\x1b[31mred"

    async def store() -> None:
        async with get_session().create_client(
            "dynamodb", region_name="us-east-1", endpoint_url=endpoint
        ) as client:
            session = DynamoDBSession(session_id, client, table)
            await session.add_items([{"role": "user", "content": HOSTILE_TEXT}])

    asyncio.run(store())
    for args in (["sessions", "list"], ["sessions", "show", session_id]):
        result = _cli(endpoint, table, *args)
        assert result.exit_code == 0, result.output
        assert not any(c in result.output for c in "\x1b\x07\x9b\x00\x7f"), repr(result.output)
        assert "\\x1b" in result.output  # shown, not obeyed
    shown = _cli(endpoint, table, "sessions", "show", session_id)
    assert "[/]" in shown.output and "[bold]not markup[/bold]" in shown.output
    # --json stays exact JSON: the text comes back byte for byte.
    exact = _cli(endpoint, table, "sessions", "show", session_id, "--json")
    assert exact.exit_code == 0
    assert HOSTILE_TEXT in _strings(json.loads(exact.output))
    deleted = _cli(endpoint, table, "sessions", "delete", "--yes", session_id)
    assert deleted.exit_code == 0, deleted.output
    missing = _cli(endpoint, "x[/]y", "migrate", "status")
    assert "MarkupError" not in missing.output and missing.exit_code != 0


def test_the_cli_has_no_default_region(endpoint: str, monkeypatch: Any) -> None:
    # With no region anywhere in the AWS configuration chain, a verb says so; it never
    # falls back to us-east-1 (risky for `sessions delete`).
    from typer.testing import CliRunner

    from openai_agents_session.cli import app

    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "OAS_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    result = CliRunner().invoke(
        app,
        ["sessions", "delete", "--yes", "x", "--table", "sessions-x", "--endpoint-url", endpoint],
    )
    assert result.exit_code == 2  # a missing setting: usage
    assert "region" in result.output.lower() and "Fix:" in result.output
