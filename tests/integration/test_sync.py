"""Sync callers: `Runner.run_sync` in threads, repeated `asyncio.run`, dead endpoints.

A `from_config` session keeps its client in one background loop per process
(``clients.py``); these tests hold it to what a Flask or Django app needs: exact
histories from many threads, a bounded number of live clients, a clean exit,
the session's cancellation semantics for a caller in another loop, and a typed
error within seconds when DynamoDB cannot be reached.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.config import Config

from openai_agents_session import DynamoDBSession, DynamoDBUnavailableError, InvalidArgumentError
from openai_agents_session.clients import CLIENT_DEFAULTS, client_config_with_defaults
from tests.support.endpoints import free_port
from tests.support.proxy import FaultProxy
from tests.support.sessions import create_table_blocking, message, stored_items

ENV = {**os.environ, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}

# Runs in a fresh interpreter, so that every aiobotocore client alive is this
# script's, and its exit is seen. Phases: 10 turns through asyncio.run (today one
# client per loop), then 4 threads x 25 Runner.run_sync turns on their own
# conversations, then on one conversation through one shared session object.
SCRIPT = textwrap.dedent(
    """
    import asyncio, gc, json, sys, threading
    import agents
    from agents import Agent, Runner
    from agents.testing import ScriptedModel, assistant_message
    from aiobotocore.client import AioBaseClient
    from openai_agents_session import DynamoDBSession

    agents.set_tracing_disabled(True)
    endpoint, table, prefix = sys.argv[1:4]

    def live_clients():
        gc.collect()
        return sum(isinstance(o, AioBaseClient) for o in gc.get_objects())

    def session(name):
        return DynamoDBSession.from_config(prefix + name, table, endpoint_url=endpoint)

    def agent(text):
        return Agent(name="a", model=ScriptedModel([[assistant_message(text)]]))

    def texts(items):
        out = []
        for item in items:
            content = item["content"]
            out.append(content if isinstance(content, str) else content[0]["text"])
        return out

    loops = session("loops")
    for n in range(10):
        asyncio.run(Runner.run(agent(f"a{n}"), f"q{n}", session=loops))
    report = {"after_asyncio_run": live_clients()}

    def threads(sessions):
        errors = []
        def work(w):
            try:
                for n in range(25):
                    Runner.run_sync(agent(f"a{w}-{n}"), f"q{w}-{n}", session=sessions[w])
            except BaseException as exc:
                errors.append(repr(exc))
        started = [threading.Thread(target=work, args=(w,)) for w in range(4)]
        for thread in started:
            thread.start()
        for thread in started:
            thread.join()
        return errors

    own = [session(f"own-{w}") for w in range(4)]
    report["errors_own"] = threads(own)
    shared = session("shared")
    report["errors_shared"] = threads([shared] * 4)
    report["live"] = live_clients()
    report["loops"] = texts(asyncio.run(loops.get_items()))
    report["own"] = [texts(asyncio.run(s.get_items())) for s in own]
    report["shared"] = texts(asyncio.run(shared.get_items()))
    print(json.dumps(report))
    """
)


def run_script(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run `script` in a fresh interpreter that shows ResourceWarnings."""
    return subprocess.run(
        [sys.executable, "-W", "always::ResourceWarning", "-c", script, *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env=ENV,
    )


def turns(tag: str, count: int) -> list[str]:
    return [text for n in range(count) for text in (f"q{tag}{n}", f"a{tag}{n}")]


def test_run_sync_from_threads_and_loops_is_exact_with_bounded_clients(endpoint: str) -> None:
    table = create_table_blocking(endpoint)
    result = run_script(SCRIPT, endpoint, table, "c-")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    # Today: one client per closed loop, 10 here (150 after 150 turns).
    assert report["after_asyncio_run"] <= 2, report["after_asyncio_run"]
    assert report["errors_own"] == [] and report["errors_shared"] == []
    assert report["live"] <= 2, report["live"]
    assert report["loops"] == turns("", 10)
    assert report["own"] == [turns(f"{w}-", 25) for w in range(4)]
    shared = report["shared"]
    assert sorted(shared) == sorted(t for w in range(4) for t in turns(f"{w}-", 25))
    for w in range(4):  # each thread's turns in its order, question before answer
        assert [t for t in shared if t[1:].startswith(f"{w}-")] == turns(f"{w}-", 25)
    # Closed cleanly at exit: no unclosed client, connector or loop complaint.
    for complaint in ("Unclosed", "Exception ignored", "Task was destroyed", "Traceback"):
        assert complaint not in result.stderr, result.stderr


async def test_a_cancelled_write_settles_for_a_caller_in_another_loop(
    endpoint: str, table: str, client: Any
) -> None:
    """The client runs in the background loop; the caller's cancellation still waits."""
    session_id = f"sync-{uuid.uuid4().hex[:8]}"
    async with FaultProxy(endpoint) as proxy:
        session = DynamoDBSession.from_config(session_id, table, endpoint_url=proxy.url)
        await session.add_items([message("a")])
        gate = proxy.hold_next("PutItem")
        task = asyncio.create_task(session.add_items([message("b")]))
        await gate.wait_arrived()
        task.cancel()
        # The write is on the wire: the cancellation waits for its answer.
        done, _ = await asyncio.wait({task}, timeout=0.3)
        assert not done
        gate.release()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await stored_items(client, table, session_id) == [message("a"), message("b")]
        # Cancelled before anything was sent: nothing is written.
        gate = proxy.hold_next("GetItem")
        fresh = DynamoDBSession.from_config(session_id, table, endpoint_url=proxy.url)
        task = asyncio.create_task(fresh.pop_item())
        await gate.wait_arrived()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        gate.release()
        assert await stored_items(client, table, session_id) == [message("a"), message("b")]


# ------------------------------------------------------------ dead endpoints


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A loopback port that accepts connections (into its backlog) and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        yield int(sock.getsockname()[1])


def dead_session(port: int, **options: Any) -> DynamoDBSession:
    return DynamoDBSession.from_config(
        f"dead-{uuid.uuid4().hex[:8]}",
        "sessions",
        endpoint_url=f"http://127.0.0.1:{port}",
        region_name="us-east-1",
        **options,
    )


async def timed_failure(session: DynamoDBSession, operation: str) -> tuple[float, Any]:
    started = time.monotonic()
    with pytest.raises(DynamoDBUnavailableError) as caught:
        if operation == "turn":
            import agents
            from agents import Agent, Runner
            from agents.testing import ScriptedModel, assistant_message

            agents.set_tracing_disabled(True)
            model = ScriptedModel([[assistant_message("never")]])
            await Runner.run(Agent(name="a", model=model), "hello", session=session)
        elif operation == "get_items":
            await session.get_items()
        else:
            await session.add_items([message("x")])
    return time.monotonic() - started, caught.value


# Defaults: 2 attempts of at most 1.5 s each plus a backoff below 1 s, so 4 s at
# most per call; a write that got no answer is followed by one read of one attempt
# (1.5 s) to learn its outcome. Today: 25.9 s; before the one-attempt read, a
# write took 7.4 s (bench_turns --only dead). botocore's backoff is random (up to
# 1 s), and the bounds leave a margin for a loaded machine.
@pytest.mark.parametrize(
    ("operation", "bound"), [("get_items", 5.0), ("add_items", 6.5), ("turn", 5.0)]
)
async def test_a_silent_endpoint_is_a_typed_error_within_seconds(
    silent_port: int, operation: str, bound: float
) -> None:
    session = dead_session(silent_port)
    elapsed, error = await timed_failure(session, operation)
    assert elapsed < bound, elapsed
    assert error.session_id == session.session_id and error.table_name == "sessions"
    assert "Fix:" in str(error)


@pytest.mark.parametrize("operation", ["get_items", "add_items", "turn"])
async def test_a_closed_port_is_a_typed_error_within_seconds(operation: str) -> None:
    elapsed, error = await timed_failure(dead_session(free_port()), operation)
    assert elapsed < 5.0, elapsed
    assert "endpoint" in str(error)


async def test_client_config_overrides_the_defaults(silent_port: int) -> None:
    quick = Config(read_timeout=0.3, retries={"mode": "standard", "total_max_attempts": 1})
    elapsed, _ = await timed_failure(dead_session(silent_port, client_config=quick), "get_items")
    assert elapsed < 2.0, elapsed
    merged = client_config_with_defaults(quick)
    assert (
        merged.read_timeout == 0.3 and merged.connect_timeout == CLIENT_DEFAULTS["connect_timeout"]
    )
    assert merged.retries == {"mode": "standard", "total_max_attempts": 1}


def test_a_client_config_that_is_not_a_config_is_a_typed_error(table: str) -> None:
    with pytest.raises(InvalidArgumentError, match="client_config must be a botocore Config"):
        DynamoDBSession.from_config("s-1", table, client_config={"read_timeout": 1})  # type: ignore[arg-type]


FORK_SCRIPT = textwrap.dedent(
    """
    import asyncio, os, sys
    from openai_agents_session import DynamoDBSession

    endpoint, table = sys.argv[1:3]
    session = DynamoDBSession.from_config("forked", table, endpoint_url=endpoint)
    asyncio.run(session.add_items([{"role": "user", "content": "parent"}]))
    pid = os.fork()
    if pid == 0:  # the background loop's thread did not survive the fork
        asyncio.run(session.add_items([{"role": "user", "content": "child"}]))
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    print(os.waitstatus_to_exitcode(status))
    print([item["content"] for item in asyncio.run(session.get_items())])
    """
)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_opens_a_client_of_its_own(endpoint: str) -> None:
    """gunicorn --preload forks workers from a process that may have used a session."""
    table = create_table_blocking(endpoint)
    result = run_script(FORK_SCRIPT, endpoint, table)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[:2] == ["0", "['parent', 'child']"], result.stdout
    assert "Traceback" not in result.stderr, result.stderr


def test_threads_that_open_one_configuration_at_once_share_one_client(endpoint: str) -> None:
    from openai_agents_session import clients

    table = create_table_blocking(endpoint)
    # A configuration no other test uses, so this test opens its client.
    config = Config(read_timeout=1.25 + uuid.uuid4().int % 1000 / 1e6)
    start = threading.Barrier(8)
    errors: list[BaseException] = []

    def first_use(n: int) -> None:
        session = DynamoDBSession.from_config(
            f"open-{n}", table, endpoint_url=endpoint, client_config=config
        )
        start.wait(30)
        try:
            asyncio.run(session.add_items([message(f"m{n}")]))
        except BaseException as exc:  # reported below
            errors.append(exc)

    workers = [threading.Thread(target=first_use, args=(n,)) for n in range(8)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    assert not errors, errors
    runtime = clients._runtime
    assert runtime is not None
    wanted = clients.config_key(clients.client_config_with_defaults(config))
    opened = [key for key in runtime.entries if wanted in key]
    assert len(opened) == 1, opened
