"""Hostile stored sessions, and a child process that runs every operation on them.

`plant_cases` writes sessions whose head and pages were edited by hand as a
buggy service, a bad import or an operator could: lying sizes, zero bombs,
impossible part counts, heads listing thousands of pages. `measure` runs every
session operation on them in a process of its own (``python -m
tests.support.hostile ENDPOINT TABLE SESSION_ID...``), so that its peak resident
memory (VmHWM) is that of these operations alone, at default settings.
Used by `tests/security/test_bounds.py` and `benchmarks/bench_bounds.py`.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import struct
import sys
import time
import uuid
import zlib
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

MIB = 1024 * 1024
PAGE = "0123456789abcdef"
PART_BYTES = 380_000


def part_item(session_id: str, page_id: str, part: int, data: bytes) -> dict[str, Any]:
    """A page part as the library writes it (see `models.pages.encode_page`)."""
    return {
        "session_id": {"S": f"__oas__#page#{session_id}#{page_id}#{part}"},
        "page_of": {"S": session_id},
        "page_data": {"B": data},
        "created_at": {"N": "1700000000"},
    }


def _zeros_compressed(mebibytes: int) -> bytes:
    """A valid zlib stream of `mebibytes` MiB of zeros, made in milliseconds.

    One MiB is compressed once with a full flush (a block that refers to nothing
    before it) and repeated; the trailer carries the checksum of the whole.
    """
    packer = zlib.compressobj(9)
    zeros = b"\0" * MIB
    first = packer.compress(zeros) + packer.flush(zlib.Z_FULL_FLUSH)
    block = packer.compress(zeros) + packer.flush(zlib.Z_FULL_FLUSH)
    final = packer.flush()[:-4]  # the last (empty) block, without the checksum
    checksum = 1
    for _ in range(mebibytes):
        checksum = zlib.adler32(zeros, checksum)
    return first + block * (mebibytes - 1) + final + struct.pack(">I", checksum)


def _split(blob: bytes) -> list[bytes]:
    return [blob[i : i + PART_BYTES] for i in range(0, len(blob), PART_BYTES)]


def _one_item_page(size: int) -> bytes:
    """zlib of a page holding one item whose JSON list is exactly `size` bytes."""
    prefix, suffix = b'[{"c":"', b'"}]'
    packer = zlib.compressobj(9)
    body = size - len(prefix) - len(suffix)
    out = [packer.compress(prefix)]
    out.extend(packer.compress(b"a" * MIB) for _ in range(body // MIB))
    out.append(packer.compress(b"a" * (body % MIB) + suffix))
    out.append(packer.flush())
    return b"".join(out)


Case = tuple[list[list[Any]], list[tuple[str, bytes]]]
"""Index entries, and the parts to store as (page id, data) in part order."""


def _cases() -> Iterator[tuple[str, str, Callable[[], Case]]]:
    """(name, what the issue measured before, builder) for every hostile case."""
    yield (
        "lying size: 1.2 GB of zeros in 4 parts, indexed at the cap",
        "2,417 MiB peak when indexed at 1.2 GB",
        lambda: (
            [[PAGE, 4, 0, 1, 64 * MIB]],
            [(PAGE, p) for p in _split(_zeros_compressed(1200))][:4],
        ),
    )
    yield (
        "lying size: the same parts indexed at 1.2 GB",
        "2,417 MiB peak",
        lambda: (
            [[PAGE, 4, 0, 1, 1200 * MIB]],
            [(PAGE, p) for p in _split(_zeros_compressed(1200))][:4],
        ),
    )
    yield (
        "zero bomb: 64 MiB of zeros, indexed honestly",
        "refused in 0.03 s at 128 MiB (300 MB bomb)",
        lambda: ([[PAGE, 1, 0, 1, 64 * MIB]], [(PAGE, _zeros_compressed(64))]),
    )
    yield (
        "400,000 parts",
        "get_items 36 s, 554 MiB; clear 52 s, 821 MiB",
        lambda: ([[PAGE, 400_000, 0, 1, 10]], []),
    )
    yield (
        "3,000,000 parts",
        "every operation past 90 s, 2.7 to 5.0 GiB",
        lambda: ([[PAGE, 3_000_000, 0, 1, 10]], []),
    )
    yield (
        "10,000 pages",
        "add_items still running at 90 s",
        lambda: ([[f"{n:016x}", 1, 0, 1, 10] for n in range(10_000)], []),
    )
    yield (
        "7,061 pages listed (the most allowed), none stored",
        "(not measured)",
        lambda: ([[f"{n:016x}", 1, 0, 1, 4] for n in range(7_061)], []),
    )
    yield (
        "the largest page the cap allows: one 63 MiB item, stored",
        "(legitimate; not in the issue)",
        lambda: ([[PAGE, 1, 0, 1, 63 * MIB]], [(PAGE, _one_item_page(63 * MIB))]),
    )


CASES = {name: (before, build) for name, before, build in _cases()}


async def plant_cases(client: Any, table: str, names: list[str] | None = None) -> dict[str, str]:
    """Write each hostile case as a session of its own; return case name to session id."""
    planted: dict[str, str] = {}
    for name in names or list(CASES):
        _, build = CASES[name]
        index, parts = build()
        session_id = f"hostile-{uuid.uuid4().hex[:10]}"
        numbers: dict[str, int] = {}
        for page_id, data in parts:
            number = numbers.get(page_id, 0)
            numbers[page_id] = number + 1
            await client.put_item(
                TableName=table, Item=part_item(session_id, page_id, number, data)
            )
        head = {
            "session_id": {"S": session_id},
            "conversation_data": {"S": '[{"role":"user","content":"hi"}]'},
            "updated_at": {"N": "1700000000.5"},
            "pages": {"S": json.dumps({"ttl": None, "pages": index}, separators=(",", ":"))},
        }
        await client.put_item(TableName=table, Item=head)
        planted[name] = session_id
    return planted


def _operations() -> dict[str, Callable[[Any], Any]]:
    # What store_run_usage reads of a RunResult, without importing the SDK: the
    # child measures the library, not the SDK's own import.
    usage = SimpleNamespace(requests=1, input_tokens=3, output_tokens=4, total_tokens=7)
    result = SimpleNamespace(context_wrapper=SimpleNamespace(usage=usage))

    return {
        "get_items": lambda s: s.get_items(),
        "get_items(1)": lambda s: s.get_items(1),
        "get_record": lambda s: s.get_record(whole_history=True),
        "fork": lambda s: s.fork(f"fork-{uuid.uuid4().hex[:8]}"),
        "store_run_usage": lambda s: s.store_run_usage(result),
        "add_items": lambda s: s.add_items([{"role": "user", "content": "x" * 20_000}]),
        "pop_item": lambda s: s.pop_item(),
        "clear_session": lambda s: s.clear_session(),
    }


def _peak_mib() -> float:
    """This process's peak resident memory in MiB, since its exec.

    Linux keeps ``ru_maxrss`` across ``execve``, so a child forked from a big
    parent would report the parent's size: VmHWM belongs to the new image alone.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    # Linux and BSDs report ru_maxrss in KiB.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def _child(endpoint: str, table: str, session_ids: list[str]) -> dict[str, Any]:
    from openai_agents_session import SessionStoreError
    from openai_agents_session.store import SessionStore
    from tests.support.sessions import client_maker

    operations = _operations()
    outcomes: dict[str, dict[str, Any]] = {}
    async with client_maker(endpoint) as make:
        client = await make()
        baseline = _peak_mib()
        for session_id in session_ids:
            outcomes[session_id] = {}
            for name, operation in operations.items():
                session = SessionStore(session_id, client, table)
                started = time.perf_counter()
                result: Any = None
                try:
                    result = await operation(session)
                    outcome = "ok"
                except SessionStoreError as exc:
                    outcome = type(exc).__name__
                del result  # the next operation starts without this one's result
                seconds = round(time.perf_counter() - started, 3)
                outcomes[session_id][name] = [outcome, seconds, round(_peak_mib(), 1)]
    return {
        "baseline_mib": round(baseline, 1),
        "peak_mib": round(_peak_mib(), 1),
        "outcomes": outcomes,
    }


async def measure(
    endpoint: str,
    table: str,
    session_ids: list[str],
    *,
    timeout: float = 300.0,
    source: str | None = None,
) -> dict[str, Any]:
    """Run every operation on the sessions in a child process; its report (see `_child`).

    Args:
        endpoint: The DynamoDB endpoint.
        table: The table holding the sessions.
        session_ids: Sessions to run every operation on, one after the other.
        timeout: Seconds before the child is killed (`TimeoutError`).
        source: A ``src`` directory whose library the child imports instead
            (to measure another version).
    """
    env = dict(os.environ)
    if source is not None:
        env["PYTHONPATH"] = os.pathsep.join([source, os.getcwd()])
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.support.hostile",
        endpoint,
        table,
        *session_ids,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), timeout)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    if process.returncode != 0:
        raise RuntimeError(f"the measuring child failed: {err.decode()[-2000:]}")
    report: dict[str, Any] = json.loads(out)
    return report


if __name__ == "__main__":
    print(json.dumps(asyncio.run(_child(sys.argv[1], sys.argv[2], sys.argv[3:]))))
