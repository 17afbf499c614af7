"""Hostile stored data: time and peak memory of every operation, case by case.

Plants each case of `tests.support.hostile` (lying sizes, zero bombs, impossible
part counts, heads listing thousands of pages, and the largest legitimate page
the default cap allows) in a fresh table, then runs every session operation on
it in a process of its own at default settings, and prints per case: what the
operations ended with, the slowest operation's seconds, and the child's peak
resident memory (``ru_maxrss``) next to its baseline before any operation. The
"before" column is what issue 17 measured on the code before the bounds.

Run from the repository root: ``python -m benchmarks.bench_bounds``. With
``--source DIR`` the child imports the library from another ``src`` directory
(an older checkout), each case killed after ``--timeout`` seconds. The results
also go to ``benchmarks/results/bench_bounds.json``.
"""

from __future__ import annotations

import argparse
import asyncio
from collections import Counter
from typing import Any

from tests.support.hostile import CASES, measure, plant_cases

from ._common import add_endpoint_option, dynamodb_endpoint, new_table, open_client, write_json


async def run(url: str, names: list[str], source: str | None, timeout: float) -> dict[str, Any]:
    async with open_client(url) as client:
        table = await new_table(client, "bounds")
        planted = await plant_cases(client, table, names)
    results: dict[str, Any] = {}
    for name, session_id in planted.items():
        try:
            report = await measure(url, table, [session_id], timeout=timeout, source=source)
        except TimeoutError:
            results[name] = {"timeout": timeout}
            print(f"{name}: still running after {timeout:g} s")
            continue
        outcomes = report["outcomes"][session_id]
        ended = Counter(outcome for outcome, _, _ in outcomes.values())
        slowest = max(outcomes.items(), key=lambda kv: kv[1][1])
        results[name] = {
            "before": CASES[name][0],
            "ended": dict(ended),
            "slowest": [slowest[0], slowest[1][1]],
            "baseline_mib": report["baseline_mib"],
            "peak_mib": report["peak_mib"],
            "operations": outcomes,
        }
        print(
            f"{name}\n    before: {CASES[name][0]}\n    now: "
            + ", ".join(f"{n} {k}" for k, n in sorted(ended.items()))
            + f"; slowest {slowest[0]} {slowest[1][1]:.3f} s; peak {report['peak_mib']:.0f} MiB"
            f" (baseline {report['baseline_mib']:.0f} MiB)"
        )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_endpoint_option(parser)
    parser.add_argument("--source", default=None, help="src directory of the library to measure")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per case")
    parser.add_argument("--case", action="append", choices=sorted(CASES), help="only these")
    args = parser.parse_args()
    with dynamodb_endpoint(args.endpoint, args.backend) as url:
        results = asyncio.run(run(url, args.case or list(CASES), args.source, args.timeout))
    print(write_json("bench_bounds.json", {"source": args.source, "cases": results}))


if __name__ == "__main__":
    main()
