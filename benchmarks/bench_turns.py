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

Turns section (issue 20, section 1): what ``session.turn()`` costs and buys, from
separate session objects and clients as separate processes would be:

- calls per plain turn (``Runner.run``) with and without ``turn()``, on a fresh
  session object and on one that has read the session before (botocore's
  before-call event);
- the median turn with and without ``turn()`` behind the emulated round trip, and
  the latency ``turn()`` adds;
- 20 concurrent turns on one conversation: wall time, conflicts, and how many turns
  generated their answer from a stale history (the model reports how many items it
  was given), with and without ``turn()``.

Run it as a module from the repository root:
``python -m benchmarks.bench_turns [--turns 30] [--rtt 6] [--quick] [--only sync|turns|dead]``.

Dead endpoints (issue 20, section 3): the time a default `from_config` session takes to
raise its typed error for ``get_items``, ``add_items`` and a Runner turn, against a
loopback port that accepts connections and never answers, and against a closed port.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import socket
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
from agents.testing import ModelStep, ScriptedModel, assistant_message

from benchmarks._common import (
    add_endpoint_option,
    count_calls,
    dynamodb_endpoint,
    new_table,
    open_client,
)
from openai_agents_session import DynamoDBSession, OperationMetrics
from tests.support.proxy import FaultProxy

THREADS = 4
CONCURRENT_TURNS = 20


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


# ---------------------------------------------------------------- turns section


def counting_agent(turns: int) -> Agent[Any]:
    """An agent whose model answers "<items seen>|<the message it answers>"."""

    def respond(call: Any) -> Any:
        items = list(call.input)
        return [assistant_message(f"{len(items)}|{items[-1].get('content')}")]

    model = ScriptedModel([ModelStep.respond(respond) for _ in range(turns)])
    return Agent(name="bench", instructions="Echo.", model=model)


async def one_turn(session: DynamoDBSession, text: str, *, held: bool) -> None:
    if held:
        async with session.turn(wait=120):
            await Runner.run(counting_agent(1), text, session=session)
    else:
        await Runner.run(counting_agent(1), text, session=session)


async def calls_per_turn(url: str, table: str) -> dict[str, dict[str, int]]:
    """Calls of one plain turn, by way, on a conversation that already has turns."""
    found: dict[str, dict[str, int]] = {}
    async with open_client(url) as client:
        for held in (False, True):
            conversation = sid("calls")
            await one_turn(DynamoDBSession(conversation, client, table), "first", held=False)
            calls = count_calls(client)
            fresh = DynamoDBSession(conversation, client, table)
            await one_turn(fresh, "fresh object", held=held)
            found[f"{'turn()' if held else 'plain'}, fresh object"] = dict(calls)
            calls.clear()
            await one_turn(fresh, "known object", held=held)
            found[f"{'turn()' if held else 'plain'}, object that read before"] = dict(calls)
    return found


async def turn_latency(url: str, table: str, turns: int) -> dict[str, list[float]]:
    """Turn times with and without turn(), interleaved, fresh and known objects."""
    times: dict[str, list[float]] = {}
    async with open_client(url) as client:
        known = {held: DynamoDBSession(sid("lat"), client, table) for held in (False, True)}
        conversations = {held: sid("lat-fresh") for held in (False, True)}
        for n in range(turns + 1):
            for held in (False, True):
                name = "turn()" if held else "plain"
                for kind, session in (
                    ("fresh object", DynamoDBSession(conversations[held], client, table)),
                    ("object that read before", known[held]),
                ):
                    started = time.perf_counter()
                    await one_turn(session, f"q {n}", held=held)
                    if n:  # the first turn warms up
                        times.setdefault(f"{name}, {kind}", []).append(
                            time.perf_counter() - started
                        )
    return times


async def concurrent_turns(url: str, table: str, *, held: bool) -> dict[str, float]:
    """20 turns at once on one conversation, each from its own object and client."""
    conversation = sid("burst")
    operations: list[OperationMetrics] = []

    async def one(index: int) -> None:
        async with open_client(url, pool=2) as client:
            session = DynamoDBSession(conversation, client, table, on_operation=operations.append)
            await one_turn(session, f"msg {index}", held=held)

    started = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(CONCURRENT_TURNS)))
    wall = time.perf_counter() - started
    async with open_client(url) as client:
        history = await DynamoDBSession(conversation, client, table).get_items()
    stale = interleaved = 0
    for index, item in enumerate(history):
        if item.get("role") != "assistant":
            continue
        seen, said = item["content"][0]["text"].split("|", 1)
        asked = next(i for i, x in enumerate(history) if x.get("content") == said)
        # Stale: the model was not given everything stored before its own message.
        stale += int(seen) != asked + 1
        # Interleaved: another turn's items landed between the question and its answer.
        interleaved += index != asked + 1
    return {
        "wall": wall,
        "stale": stale,
        "interleaved": interleaved,
        "items": len(history),
        "conflicts": sum(op.conflicts for op in operations),
        "writes": sum(1 for op in operations if op.operation == "add_items"),
    }


def turns_section(url: str, table: str, turns: int, rtt: float) -> None:
    """Print calls per turn, the latency turn() adds, and the 20-turn burst."""

    async def measure() -> tuple[Any, Any, Any]:
        calls = await calls_per_turn(url, table)
        with delayed(url, rtt) as target:
            latency = await turn_latency(target, table, turns)
            burst = {
                held: await concurrent_turns(target, table, held=held) for held in (False, True)
            }
        return calls, latency, burst

    calls, latency, burst = asyncio.run(measure())
    print("\nCalls per plain turn (Runner.run, one model call)")
    for name, counted in calls.items():
        detail = ", ".join(f"{k} {v}" for k, v in sorted(counted.items()))
        print(f"{name:44} {sum(counted.values()):3d}  ({detail})")
    print(f"\nTurn latency, {turns} turns per way, emulated round trip {rtt * 1000:g} ms")
    print(f"{'way':44} {'median':>9} {'p90':>9} {'added':>9}")
    for name, times in latency.items():
        median = statistics.median(times)
        p90 = sorted(times)[int(len(times) * 0.9) - 1]
        plain = statistics.median(latency[name.replace("turn()", "plain")])
        print(
            f"{name:44} {median * 1000:7.1f}ms {p90 * 1000:7.1f}ms {(median - plain) * 1000:7.1f}ms"
        )
    print(
        f"\n{CONCURRENT_TURNS} concurrent turns on one conversation, separate objects and "
        f"clients, round trip {rtt * 1000:g} ms"
    )
    print(f"{'way':32} {'wall':>8} {'stale':>7} {'interleaved':>12} {'items':>6} {'conflicts':>10}")
    for held, found in burst.items():
        name = "with turn()" if held else "without turn()"
        print(
            f"{name:32} {found['wall']:7.2f}s {found['stale']:4.0f}/{CONCURRENT_TURNS} "
            f"{found['interleaved']:9.0f}/{CONCURRENT_TURNS} {found['items']:6.0f} "
            f"{found['conflicts']:10.0f}"
        )


async def time_to_error(url: str, operation: str) -> tuple[float, str]:
    session = DynamoDBSession.from_config(
        sid("dead"), "sessions", endpoint_url=url, region_name="us-east-1"
    )
    started = time.perf_counter()
    try:
        if operation == "turn":
            await one_turn(session, "hello", held=False)
        elif operation == "get_items":
            await session.get_items()
        else:
            await session.add_items([{"role": "user", "content": "x"}])
    except Exception as exc:  # the error's type is what is printed
        return time.perf_counter() - started, type(exc).__name__
    return time.perf_counter() - started, "no error"


def dead_section() -> None:
    print("\nDead endpoints, default from_config settings: time to the typed error")
    print("(3 runs each: botocore's backoff between attempts is random, up to 1 s)")
    print(f"{'endpoint':<34}{'operation':<12}{'median s':>9}{'max s':>7}  error")
    with socket.socket() as silent, socket.socket() as closed:
        silent.bind(("127.0.0.1", 0))
        silent.listen(64)
        closed.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
        ports = {"silent (accepts, never answers)": silent, "closed port": closed}
        for name, sock in ports.items():
            url = f"http://127.0.0.1:{sock.getsockname()[1]}"
            for operation in ("get_items", "add_items", "turn"):
                runs = [asyncio.run(time_to_error(url, operation)) for _ in range(3)]
                times = [seconds for seconds, _ in runs]
                errors = "/".join(sorted({error for _, error in runs}))
                print(
                    f"{name:<34}{operation:<12}{statistics.median(times):>9.2f}"
                    f"{max(times):>7.2f}  {errors}"
                )


async def make_table(url: str) -> str:
    async with open_client(url) as client:
        return await new_table(client, "turns")


def main() -> None:
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    # from_config takes the environment's credentials; local endpoints accept any.
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_endpoint_option(parser)
    parser.add_argument("--turns", type=int, default=30, help="turns per way (default 30)")
    parser.add_argument("--rtt", type=float, default=6.0, help="emulated round trip, ms")
    parser.add_argument("--quick", action="store_true", help="10 turns per way")
    parser.add_argument("--only", choices=("sync", "turns", "dead"), help="run one section only")
    args = parser.parse_args()
    agents.set_tracing_disabled(True)
    turns = 10 if args.quick else args.turns
    if args.only in (None, "dead"):
        dead_section()
        if args.only == "dead":
            return
    with dynamodb_endpoint(args.endpoint, args.backend) as url:
        table = asyncio.run(make_table(url))
        if args.only != "turns":
            for rtt in (0.0, args.rtt / 1000):
                sync_section(url, table, turns, rtt)
        if args.only != "sync":
            turns_section(url, table, turns, args.rtt / 1000)


if __name__ == "__main__":
    main()
