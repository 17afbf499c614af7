"""Agent turns as applications run them: the cost of each way of calling a session.

Sync section (issue 20, section 2): the median `Runner.run` turn (ScriptedModel,
tracing off: get_items, then two add_items) when the session is used

- inside one long-lived loop, with a client the caller opened (the baseline), and
  with a `from_config` session;
- through ``Runner.run_sync`` with one shared `from_config` session;
- through ``asyncio.run`` per turn with one shared `from_config` session;
- through ``Runner.run_sync`` with a new `from_config` session per call;
- from 4 threads at once, each ``Runner.run_sync`` on its own conversation;

each printed with its ratio to the baseline, with and without an emulated round trip
(a loopback proxy that adds ``--rtt`` ms to every answer), and the aiobotocore
clients alive at the end (counted with ``gc``).

Run it as a module from the repository root:
``python -m benchmarks.bench_turns [--turns 30] [--rtt 6] [--quick]``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import statistics
import threading
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import agents
from agents import Agent, Runner
from agents.testing import ScriptedModel, assistant_message

from benchmarks._common import add_endpoint_option, dynamodb_endpoint, new_table, open_client
from openai_agents_session import DynamoDBSession
from tests.support.proxy import FaultProxy

THREADS = 4


def agent(n: int) -> Agent[Any]:
    return Agent(name="bench", model=ScriptedModel([[assistant_message(f"answer {n}")]]))


def sid(kind: str) -> str:
    return f"turns-{kind}-{uuid.uuid4().hex[:8]}"


@contextmanager
def delayed(endpoint: str, rtt: float) -> Iterator[str]:
    """`endpoint`, or a proxy in its own thread that adds `rtt` seconds to every answer."""
    if rtt <= 0:
        yield endpoint
        return
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    proxy = FaultProxy(endpoint, latency=rtt)
    asyncio.run_coroutine_threadsafe(proxy.start(), loop).result(30)
    try:
        yield proxy.url
    finally:
        asyncio.run_coroutine_threadsafe(proxy.close(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(30)
        loop.close()


def timed(run: Callable[[], object]) -> float:
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


def in_loop(url: str, table: str, turns: int, *, own_client: bool, tasks: int = 1) -> list[float]:
    """Turns inside one loop; with `tasks`, that many conversations at once."""

    async def body() -> list[float]:
        times: list[float] = []
        async with open_client(url) as client:

            async def conversation(t: int) -> None:
                session = (
                    DynamoDBSession(sid(f"loop{t}"), client, table)
                    if own_client
                    else DynamoDBSession.from_config(sid(f"loop-fc{t}"), table, endpoint_url=url)
                )
                for n in range(turns + 1):
                    started = time.perf_counter()
                    await Runner.run(agent(n), f"question {n}", session=session)
                    if n:  # the first turn warms up
                        times.append(time.perf_counter() - started)

            await asyncio.gather(*(conversation(t) for t in range(tasks)))
        return times

    return asyncio.run(body())


def close_run_sync_loop() -> None:
    """Close the loop ``Runner.run_sync`` leaves open in this thread.

    Otherwise a later ``asyncio.run`` in the same thread orphans it, and the
    garbage collector later reports a failed close of its self-pipe.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        asyncio.get_event_loop_policy().get_event_loop().close()


def run_sync_shared(url: str, table: str, turns: int) -> list[float]:
    session = DynamoDBSession.from_config(sid("sync"), table, endpoint_url=url)
    times = [
        timed(lambda n=n: Runner.run_sync(agent(n), f"q {n}", session=session))
        for n in range(turns + 1)
    ][1:]
    close_run_sync_loop()
    return times


def asyncio_run_shared(url: str, table: str, turns: int) -> list[float]:
    session = DynamoDBSession.from_config(sid("arun"), table, endpoint_url=url)
    return [
        timed(lambda n=n: asyncio.run(Runner.run(agent(n), f"q {n}", session=session)))
        for n in range(turns + 1)
    ][1:]


def new_session_per_call(url: str, table: str, turns: int) -> list[float]:
    conversation = sid("new")

    def turn(n: int) -> object:
        session = DynamoDBSession.from_config(conversation, table, endpoint_url=url)
        return Runner.run_sync(agent(n), f"q {n}", session=session)

    times = [timed(lambda n=n: turn(n)) for n in range(turns + 1)][1:]
    close_run_sync_loop()
    return times


def threads(url: str, table: str, turns: int) -> list[float]:
    times: list[float] = []

    def work(w: int) -> None:
        session = DynamoDBSession.from_config(sid(f"thread{w}"), table, endpoint_url=url)
        for n in range(turns + 1):
            took = timed(lambda n=n: Runner.run_sync(agent(n), f"q {n}", session=session))
            if n:  # the first turn warms up
                times.append(took)

    started = [threading.Thread(target=work, args=(w,)) for w in range(THREADS)]
    for thread in started:
        thread.start()
    for thread in started:
        thread.join()
    return times


def live_clients() -> int:
    from aiobotocore.client import AioBaseClient

    gc.collect()
    return sum(isinstance(o, AioBaseClient) for o in gc.get_objects())


def sync_section(url: str, table: str, turns: int, rtt: float) -> None:
    """Print the medians; each row's ratio is to the in-loop row of the same concurrency."""
    ways: list[tuple[str, int, Callable[[str], list[float]]]] = [
        ("1 loop, own client (baseline)", 0, lambda u: in_loop(u, table, turns, own_client=True)),
        ("1 loop, from_config", 0, lambda u: in_loop(u, table, turns, own_client=False)),
        ("Runner.run_sync, shared session", 0, lambda u: run_sync_shared(u, table, turns)),
        ("asyncio.run per turn, shared session", 0, lambda u: asyncio_run_shared(u, table, turns)),
        ("new from_config per call, run_sync", 0, lambda u: new_session_per_call(u, table, turns)),
        (
            f"{THREADS} tasks in 1 loop, own client (baseline)",
            5,
            lambda u: in_loop(u, table, turns, own_client=True, tasks=THREADS),
        ),
        (f"{THREADS} threads, Runner.run_sync each", 5, lambda u: threads(u, table, turns)),
    ]
    with delayed(url, rtt) as target:
        rows = [(name, base, measure(target)) for name, base, measure in ways]
    print(f"\nSync turns, {turns} per way, emulated round trip {rtt * 1000:g} ms")
    print(f"{'how the turn runs':44} {'median':>9} {'p90':>9} {'ratio':>7}")
    for name, base, times in rows:
        median = statistics.median(times)
        p90 = sorted(times)[int(len(times) * 0.9) - 1]
        ratio = median / statistics.median(rows[base][2])
        print(f"{name:44} {median * 1000:7.1f}ms {p90 * 1000:7.1f}ms {ratio:6.2f}x")
    print(f"live aiobotocore clients now: {live_clients()}")


async def make_table(url: str) -> str:
    async with open_client(url) as client:
        return await new_table(client, "turns")


def main() -> None:
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_endpoint_option(parser)
    parser.add_argument("--turns", type=int, default=30, help="turns per way (default 30)")
    parser.add_argument("--rtt", type=float, default=6.0, help="emulated round trip, ms")
    parser.add_argument("--quick", action="store_true", help="10 turns per way")
    args = parser.parse_args()
    agents.set_tracing_disabled(True)
    turns = 10 if args.quick else args.turns
    with dynamodb_endpoint(args.endpoint, args.backend) as url:
        table = asyncio.run(make_table(url))
        for rtt in (0.0, args.rtt / 1000):
            sync_section(url, table, turns, rtt)


if __name__ == "__main__":
    main()
