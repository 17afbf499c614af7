"""The API a Python user expects: any event loop, run_sync, ping, close, typed options."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
import threading
import uuid
from typing import Any

import pytest
from aiobotocore.session import get_session

from openai_agents_session import DynamoDBSession, InvalidArgumentError
from tests.support.sessions import create_table_blocking, message


def sid() -> str:
    return f"api-{uuid.uuid4().hex[:10]}"


def test_one_from_config_session_serves_threads_with_loops_of_their_own(endpoint: str) -> None:
    table = create_table_blocking(endpoint)
    session = DynamoDBSession.from_config(sid(), table, endpoint_url=endpoint)
    errors: list[BaseException] = []

    def worker(w: int) -> None:
        async def appends() -> None:
            for n in range(5):
                await session.add_items([message(f"{w}-{n}")])

        try:
            asyncio.run(appends())
        except BaseException as exc:  # reported below, with the thread's name
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    stored = asyncio.run(session.get_items())
    expected = sorted(f"{w}-{n}" for w in range(2) for n in range(5))
    assert sorted(m["content"] for m in stored) == expected


def test_an_injected_client_from_another_loop_is_a_typed_error(endpoint: str) -> None:
    table = create_table_blocking(endpoint)
    holder: dict[str, Any] = {}

    async def make() -> None:
        context = get_session().create_client("dynamodb", endpoint_url=endpoint)
        holder["client"] = client = await context.__aenter__()
        await client.describe_table(TableName=table)  # its connections now live in this loop

    asyncio.run(make())  # the client's loop is gone once this returns
    session = DynamoDBSession(sid(), holder["client"], table)
    with pytest.raises(InvalidArgumentError, match="another event loop") as caught:
        asyncio.run(session.get_items())
    assert "from_config" in str(caught.value)


def test_run_sync_in_a_worker_thread_leaves_no_unclosed_client(endpoint: str) -> None:
    table = create_table_blocking(endpoint)
    script = textwrap.dedent(
        f"""
        import threading, agents
        from agents import Agent, Runner
        from agents.testing import ScriptedModel, assistant_message
        from openai_agents_session import DynamoDBSession

        agents.set_tracing_disabled(True)
        session = DynamoDBSession.from_config("{sid()}", "{table}", endpoint_url="{endpoint}")
        results = []

        def work():
            for turn in range(2):
                agent = Agent(name="a", model=ScriptedModel([[assistant_message(f"hi {{turn}}")]]))
                results.append(Runner.run_sync(agent, f"turn {{turn}}", session=session))

        thread = threading.Thread(target=work)
        thread.start()
        thread.join()
        import asyncio
        print(len(asyncio.run(session.get_items())))
        """
    )
    result = subprocess.run(
        [sys.executable, "-W", "always::ResourceWarning", "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={
            **os.environ,
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
        },
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "4"  # two turns of (input, answer)
    assert "Unclosed" not in result.stderr, result.stderr


async def test_ping(endpoint: str, make_client: Any, table: str) -> None:
    assert await DynamoDBSession(sid(), await make_client(), table).ping()
    from tests.support.endpoints import free_port

    dead = await make_client(
        url=f"http://127.0.0.1:{free_port()}",
        retries={"mode": "standard", "total_max_attempts": 1},
        connect_timeout=1,
    )
    assert not await DynamoDBSession(sid(), dead, table).ping()
    assert not await DynamoDBSession(sid(), await make_client(), "no-such-table").ping()


@pytest.mark.parametrize(
    "verb",
    [
        ["sessions", "list"],
        ["sessions", "show", "x"],
        ["sessions", "export", "--all"],
        ["migrate", "status"],
        ["migrate", "plan"],
        ["migrate", "check", "--live"],
    ],
)
def test_admin_verbs_import_neither_the_sdk_nor_moto(endpoint: str, verb: list[str]) -> None:
    table = create_table_blocking(endpoint)
    options = ["--table", table, "--endpoint-url", endpoint, "--region", "us-east-1"]
    script = textwrap.dedent(
        f"""
        import sys
        from openai_agents_session.cli import app
        try:
            app({[*verb, *options]!r}, standalone_mode=False)
        except SystemExit:
            pass
        print(sorted(m for m in ("agents", "moto") if m in sys.modules))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"},
    )
    assert result.stdout.strip().splitlines()[-1] == "[]", (result.stdout, result.stderr)


async def test_from_config_takes_credentials_from_a_boto_session(endpoint: str, table: str) -> None:
    import aioboto3

    for boto in (
        aioboto3.Session(
            aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1"
        ),
        get_session(),  # an aiobotocore (botocore-style) session
    ):
        session_id = sid()
        async with DynamoDBSession.from_config(
            session_id, table, endpoint_url=endpoint, boto_session=boto, max_items=1
        ) as session:
            await session.add_items([message("a"), message("b")])
            assert await session.get_items() == [message("b")]
