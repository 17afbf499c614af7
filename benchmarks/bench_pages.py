"""Paging benchmark: what sealing older items into compressed pages costs and saves.

Prints, against moto's server, with the default page threshold (384 KiB) and with
``page_threshold=32*1024`` side by side:

1. bytes written per append while a realistic conversation grows 0 -> 10 MB, by MB
   band (head PutItem + page BatchWriteItem items, by DynamoDB's size rule), the
   ratio of the 2nd MB to the 1st, and whether one append at 10 MB writes at most
   the threshold plus one page;
2. DynamoDB calls per append by operation, amortized over each band;
3. latency of ``get_items()`` and ``get_items(limit=20)`` at 10 KB, 100 KB, 1 MB and
   10 MB of history;
4. the pages' compression ratio and client CPU per append (sealing or not), for
   the realistic conversation and for incompressible data;
5. single-item layout (default threshold) against paged (32 KiB) at 100 KB and
   390 KB of history;

and, for every scenario, how many page items its table holds at the end (a Scan
with begins_with on the page key prefix).

Bytes are counted on the client: a hook on botocore's ``provide-client-params``
event sizes every PutItem Item (the head) and every BatchWriteItem PutRequest Item
(a page part) with the library's `item_size`; "WCU" applies DynamoDB's 1 KB rule
to those items. moto reports a flat 1.0 ConsumedCapacity per call ("CC moto"),
so only the computed WCU says anything about cost. A session the library refuses
to grow (`SessionTooLargeError`) stops there, and the report says where.

Sizes of history are uncompressed JSON bytes, decimal: 1 KB = 1,000 B, 1 MB =
1,000,000 B (so 390 KB still fits under the default 384 KiB = 393,216 B threshold).

Run from the repository root: ``python -m benchmarks.bench_pages [--quick]``.
The results also go to ``benchmarks/results/bench_pages.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import itertools
import json
import logging
import math
import os
import random
import statistics
import sys
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, TypeVar

from rich.console import Console
from rich.table import Table

from openai_agents_session import DynamoDBSession, OperationMetrics, SessionTooLargeError
from openai_agents_session._plan import DEFAULT_PAGE_THRESHOLD
from openai_agents_session.models.codec import dumps_item, item_size
from openai_agents_session.models.schema import PAGE_PREFIX, PAGE_SCHEMA, SCHEMA

from ._common import (
    add_endpoint_option,
    dynamodb_endpoint,
    environment,
    new_table,
    open_client,
    percentile,
    write_json,
)

KB = 1_000
MB = 1_000_000
APPEND_BYTES = 2_000
BATCH_UNITS = 50
THRESHOLDS: dict[str, int] = {"default": DEFAULT_PAGE_THRESHOLD, "32KiB": 32 * 1024}
OPERATIONS = ("GetItem", "PutItem", "BatchWriteItem", "BatchGetItem", "UpdateItem")

# Wide enough for the tables when the output goes to a file or a pipe.
console = Console(width=None if sys.stdout.isatty() else 160)

_T = TypeVar("_T")
Item = dict[str, Any]
Unit = list[Item]  # what one add_items call appends

# ---------------------------------------------------------------- conversation

_COMMON = (
    "the",
    "of",
    "and",
    "to",
    "a",
    "in",
    "is",
    "that",
    "for",
    "it",
    "on",
    "with",
    "as",
    "be",
    "this",
    "was",
    "are",
    "by",
    "at",
    "or",
    "from",
    "have",
    "not",
    "but",
    "we",
    "you",
    "they",
    "can",
    "will",
    "an",
    "which",
    "would",
    "there",
    "their",
    "if",
    "more",
    "when",
    "about",
    "so",
    "what",
    "up",
    "out",
    "one",
    "all",
    "also",
    "some",
    "into",
    "could",
    "time",
    "then",
    "than",
    "only",
    "other",
    "new",
    "just",
    "like",
    "customer",
    "order",
    "refund",
    "invoice",
    "account",
    "plan",
    "report",
    "support",
    "ticket",
    "shipping",
    "data",
    "team",
    "meeting",
    "summary",
    "region",
    "quarter",
    "growth",
    "churn",
    "backlog",
    "price",
    "discount",
    "policy",
    "query",
    "result",
    "table",
    "chart",
    "trend",
    "week",
    "month",
    "year",
    "status",
    "update",
    "change",
    "review",
    "check",
    "please",
    "thanks",
    "next",
    "step",
    "found",
    "shows",
    "looks",
    "seems",
    "rather",
    "still",
    "because",
    "however",
)
_SYLLABLES = (
    "ka",
    "ro",
    "mi",
    "te",
    "su",
    "la",
    "ven",
    "dor",
    "pli",
    "stra",
    "qua",
    "ne",
    "bo",
    "gri",
    "tal",
    "mon",
    "ser",
    "fu",
    "ox",
    "ba",
)
_TOOLS = ("search_orders", "lookup_customer", "list_invoices", "get_ticket", "draft_email")
_STATUSES = ("shipped", "pending", "refunded", "cancelled", "delivered")


class Conversation:
    """A seeded agent conversation, appended in units of about `APPEND_BYTES` of JSON.

    Units cycle through a user message, a tool round (``function_call`` plus its
    ``function_call_output``, appended together as the SDK does) and an assistant
    message. Text is drawn from a Zipf-weighted vocabulary of common words and
    seeded pseudo-words, so it compresses roughly like prose. With `incompressible`,
    every free-text field is base64 of ``os.urandom`` instead.
    """

    def __init__(self, seed: int, *, incompressible: bool = False) -> None:
        self._rng = random.Random(seed)
        self._incompressible = incompressible
        pseudo = {
            "".join(self._rng.choice(_SYLLABLES) for _ in range(self._rng.randint(2, 4)))
            for _ in range(2_000)
        }
        self._words = [*_COMMON, *sorted(pseudo)]
        self._cumulative = list(
            itertools.accumulate(1.0 / (rank + 1) for rank in range(len(self._words)))
        )
        self._turn = 0

    def _hex(self, digits: int) -> str:
        return f"{self._rng.getrandbits(4 * digits):0{digits}x}"

    def _text(self, size: int) -> str:
        if self._incompressible:
            return base64.b64encode(os.urandom(size))[:size].decode()
        parts: list[str] = []
        length = 0
        while length < size:
            words = self._rng.choices(
                self._words, cum_weights=self._cumulative, k=self._rng.randint(6, 18)
            )
            if self._rng.random() < 0.2:
                words.append(str(self._rng.randint(2, 99_999)))
            sentence = " ".join(words).capitalize() + self._rng.choice((". ", ". ", "? ", ", "))
            parts.append(sentence)
            length += len(sentence)
        return "".join(parts)[:size].strip()

    def _user(self) -> Item:
        return {"type": "message", "role": "user", "content": self._text(APPEND_BYTES - 40)}

    def _assistant(self) -> Item:
        return {
            "id": f"msg_{self._hex(32)}",
            "type": "message",
            "role": "assistant",
            "status": "completed",
            "content": [
                {"type": "output_text", "text": self._text(APPEND_BYTES - 150), "annotations": []}
            ],
        }

    def _tool_round(self) -> Unit:
        call_id = f"call_{self._hex(24)}"
        arguments = {
            "customer_id": f"cus_{self._hex(14)}",
            "query": self._text(self._rng.randint(60, 160)),
            "since": f"2024-{self._rng.randint(1, 12):02d}-{self._rng.randint(1, 28):02d}",
            "limit": self._rng.choice((10, 20, 50)),
            "include": self._rng.sample(["refunds", "notes", "items", "shipping"], 2),
        }
        call: Item = {
            "type": "function_call",
            "id": f"fc_{self._hex(32)}",
            "call_id": call_id,
            "name": self._rng.choice(_TOOLS),
            "arguments": json.dumps(arguments),
            "status": "completed",
        }
        budget = APPEND_BYTES - len(dumps_item(call)) - 120
        if self._incompressible:
            opaque: Item = {"type": "function_call_output", "call_id": call_id}
            return [call, {**opaque, "output": self._text(budget + 40)}]
        records: list[dict[str, Any]] = []
        while len(json.dumps(records)) < budget:
            records.append(
                {
                    "id": f"ord_{self._hex(10)}",
                    "date": f"2024-{self._rng.randint(1, 12):02d}-{self._rng.randint(1, 28):02d}",
                    "amount": round(self._rng.uniform(5, 900), 2),
                    "currency": self._rng.choice(("EUR", "USD", "GBP")),
                    "status": self._rng.choice(_STATUSES),
                    "note": self._text(self._rng.randint(40, 120)),
                }
            )
        output = {"results": records, "total": len(records) + self._rng.randint(0, 40)}
        result: Item = {
            "type": "function_call_output",
            "call_id": call_id,
            "output": json.dumps(output),
        }
        return [call, result]

    def next_unit(self) -> Unit:
        """The next append: user, tool round, assistant, in turn."""
        kind = self._turn % 3
        self._turn += 1
        if kind == 0:
            return [self._user()]
        if kind == 1:
            return self._tool_round()
        return [self._assistant()]


def unit_bytes(unit: Unit) -> int:
    """Bytes the unit adds to the stored JSON list (each item plus its comma)."""
    return sum(len(dumps_item(item).encode("utf-8")) + 1 for item in unit)


# ---------------------------------------------------------------- measurement


class WarningCounter(logging.Handler):
    """Counts the library's warnings (heads near 400 KB warn on purpose here)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: Counter[str] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        """Count the record by its message template."""
        self.messages[str(record.msg)] += 1


def _wcu(size: int) -> int:
    """Write capacity units one item write costs by DynamoDB's rule (1 per KB)."""
    return max(1, math.ceil(size / 1024))


@dataclass
class Traffic:
    """What the client sent, summed: calls by operation and bytes of items written."""

    calls: Counter[str] = field(default_factory=Counter)
    head_bytes: int = 0
    index_bytes: int = 0
    page_bytes: int = 0
    page_items: int = 0
    wcu: int = 0
    capacity_reported: float = 0.0

    def copy(self) -> Traffic:
        """A snapshot."""
        return Traffic(
            Counter(self.calls),
            self.head_bytes,
            self.index_bytes,
            self.page_bytes,
            self.page_items,
            self.wcu,
            self.capacity_reported,
        )

    def minus(self, before: Traffic) -> Traffic:
        """What was sent since `before`."""
        calls = Counter(self.calls)
        calls.subtract(before.calls)
        return Traffic(
            +calls,
            self.head_bytes - before.head_bytes,
            self.index_bytes - before.index_bytes,
            self.page_bytes - before.page_bytes,
            self.page_items - before.page_items,
            self.wcu - before.wcu,
            self.capacity_reported - before.capacity_reported,
        )


class Meter:
    """Counts every DynamoDB request a client makes, and the items it writes.

    Hooks botocore's ``provide-client-params.dynamodb`` event (once per API call,
    with the call's parameters): a PutItem's Item is a session head, a
    BatchWriteItem PutRequest's Item a page part; both are sized with the library's
    `item_size` (DynamoDB's rule). `on_operation` adds the ConsumedCapacity the
    endpoint reported.
    """

    def __init__(self, client: Any) -> None:
        self.total = Traffic()
        # Bytes written per page (its parts summed), by page key less the part number.
        self.page_sizes: Counter[str] = Counter()
        client.meta.events.register("provide-client-params.dynamodb", self._on_params)

    def _on_params(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        self.total.calls[model.name] += 1
        if model.name == "PutItem":
            size = item_size(params["Item"])
            self.total.head_bytes += size
            index = params["Item"].get(SCHEMA.pages)
            self.total.index_bytes += item_size({SCHEMA.pages: index}) if index else 0
            self.total.wcu += _wcu(size)
        elif model.name == "BatchWriteItem":
            for requests in params["RequestItems"].values():
                for request in requests:
                    put = request.get("PutRequest")
                    if put is None:
                        self.total.wcu += 1  # a delete costs at least one unit
                        continue
                    size = item_size(put["Item"])
                    key = str(put["Item"][SCHEMA.partition_key]["S"])
                    self.page_sizes[key.rsplit("#", 1)[0]] += size
                    self.total.page_bytes += size
                    self.total.page_items += 1
                    self.total.wcu += _wcu(size)

    def on_operation(self, metrics: OperationMetrics) -> None:
        """The session hook: add the capacity DynamoDB (here: moto) reported."""
        self.total.capacity_reported += metrics.consumed_capacity

    def snapshot(self) -> tuple[Traffic, set[str]]:
        """The totals so far, and the pages seen so far."""
        return self.total.copy(), set(self.page_sizes)

    def since(self, mark: tuple[Traffic, set[str]]) -> tuple[Traffic, int]:
        """Traffic since `mark`, and the bytes of the largest page written since."""
        before, pages = mark
        new = [size for key, size in self.page_sizes.items() if key not in pages]
        return self.total.minus(before), max(new, default=0)


@dataclass
class AppendRecord:
    """One measured `add_items` call."""

    history_before: int
    history_after: int
    head_bytes: int
    index_bytes: int
    page_bytes: int
    largest_page: int
    calls: dict[str, int]
    wcu: int
    capacity_reported: float
    cpu: float
    wall: float

    @property
    def written(self) -> int:
        """Head plus page bytes."""
        return self.head_bytes + self.page_bytes

    @property
    def seals(self) -> bool:
        """Whether this append wrote pages."""
        return self.page_bytes > 0


class Grower:
    """One session growing by appends, measured one by one or grown in batches."""

    def __init__(
        self,
        name: str,
        client: Any,
        table: str,
        threshold: int,
        meter: Meter,
        seed: int,
        *,
        incompressible: bool = False,
    ) -> None:
        self.name = name
        self.threshold = threshold
        self.meter = meter
        self.session_id = f"{name}-{uuid.uuid4().hex[:8]}"
        self.session = DynamoDBSession(
            self.session_id,
            client,
            table,
            page_threshold=threshold,
            on_operation=meter.on_operation,
        )
        self.conversation = Conversation(seed, incompressible=incompressible)
        self.history = 2  # "[]"
        self.items = 0
        self.records: list[AppendRecord] = []
        self.stopped: str | None = None

    async def append(self, unit: Unit | None = None) -> AppendRecord | None:
        """Append one unit and record what it cost; None once the session refused to grow."""
        if self.stopped:
            return None
        unit = unit if unit is not None else self.conversation.next_unit()
        mark = self.meter.snapshot()
        cpu, wall = time.process_time(), time.perf_counter()
        try:
            await self.session.add_items(unit)  # type: ignore[arg-type]
        except SessionTooLargeError as exc:
            self.stopped = f"{type(exc).__name__} at {self.history / MB:.2f} MB: {exc}"
            return None
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        traffic, largest = self.meter.since(mark)
        before = self.history
        self.history += unit_bytes(unit)
        self.items += len(unit)
        record = AppendRecord(
            before,
            self.history,
            traffic.head_bytes,
            traffic.index_bytes,
            traffic.page_bytes,
            largest,
            dict(traffic.calls),
            traffic.wcu,
            traffic.capacity_reported,
            cpu,
            wall,
        )
        self.records.append(record)
        return record

    async def batch_to(self, target: int, units: int = BATCH_UNITS) -> None:
        """Grow to at most `target` bytes with add_items calls of up to `units` units each."""
        while not self.stopped:
            batch: Unit = []
            added = 0
            for _ in range(units):
                unit = self.conversation.next_unit()
                size = unit_bytes(unit)
                if self.history + added + size > target:
                    break
                batch.extend(unit)
                added += size
            if not batch:
                return
            try:
                await self.session.add_items(batch)  # type: ignore[arg-type]
            except SessionTooLargeError as exc:
                self.stopped = f"{type(exc).__name__} at {self.history / MB:.2f} MB: {exc}"
                return
            self.history += added
            self.items += len(batch)


async def scan_pages(client: Any, table: str) -> Counter[str]:
    """Page items in `table` by session id (Scan, begins_with on the page prefix)."""
    counts: Counter[str] = Counter()
    request: dict[str, Any] = {
        "TableName": table,
        "FilterExpression": "begins_with(#k, :p)",
        "ProjectionExpression": "#k",
        "ExpressionAttributeNames": {"#k": SCHEMA.partition_key},
        "ExpressionAttributeValues": {":p": {"S": PAGE_PREFIX}},
    }
    while True:
        response = await client.scan(**request)
        for raw in response.get("Items", []):
            key = str(raw[SCHEMA.partition_key]["S"])[len(PAGE_PREFIX) :]
            counts[key.rsplit("#", 2)[0]] += 1
        if "LastEvaluatedKey" not in response:
            return counts
        request["ExclusiveStartKey"] = response["LastEvaluatedKey"]


async def compression(client: Any, table: str, session: DynamoDBSession) -> dict[str, Any]:
    """Uncompressed bytes of a session's pages (its index) over their stored page_data bytes."""
    record = await session.get_record()
    refs = record.pages.pages if record is not None and record.pages is not None else ()
    if not refs:
        return {"pages": 0, "uncompressed": 0, "compressed": 0, "ratio": float("nan")}
    keys = [
        f"{PAGE_PREFIX}{session.session_id}#{ref.id}#{part}"
        for ref in refs
        for part in range(ref.parts)
    ]
    compressed = 0
    for start in range(0, len(keys), 100):
        pending: dict[str, Any] = {
            table: {
                "Keys": [{SCHEMA.partition_key: {"S": k}} for k in keys[start : start + 100]],
                "ProjectionExpression": "#d",
                "ExpressionAttributeNames": {"#d": PAGE_SCHEMA.page_data},
            }
        }
        while pending:
            response = await client.batch_get_item(RequestItems=pending)
            for raw in response["Responses"].get(table, []):
                compressed += len(raw[PAGE_SCHEMA.page_data]["B"])
            pending = response.get("UnprocessedKeys") or {}
    uncompressed = sum(ref.size for ref in refs)
    return {
        "pages": len(refs),
        "uncompressed": uncompressed,
        "compressed": compressed,
        "ratio": uncompressed / compressed,
    }


def median_ms(values: Sequence[float]) -> float:
    """Median in milliseconds."""
    return 1000 * percentile(values, 0.5)


def mean(values: Iterable[float]) -> float:
    """Arithmetic mean; NaN if empty."""
    data = list(values)
    return statistics.fmean(data) if data else float("nan")


# ---------------------------------------------------------------- 1, 2 and 4: growth


def band_summary(records: Sequence[AppendRecord], threshold: int) -> dict[str, Any]:
    """Bytes, calls, capacity and CPU per append over one band's measured appends."""
    appends = len(records)
    calls: Counter[str] = Counter()
    for record in records:
        calls.update(record.calls)
    largest_page = max((r.largest_page for r in records), default=0)
    max_written = max((r.written for r in records), default=0)
    return {
        "appends": appends,
        "sealing_appends": sum(r.seals for r in records),
        "mean_bytes": mean(r.written for r in records),
        "mean_head_bytes": mean(r.head_bytes for r in records),
        "mean_index_bytes": mean(r.index_bytes for r in records),
        "mean_page_bytes": mean(r.page_bytes for r in records),
        "max_bytes": max_written,
        "largest_page": largest_page,
        "bound": threshold + largest_page,
        "bound_holds": max_written <= threshold + largest_page,
        "calls_per_append": {op: n / appends for op, n in sorted(calls.items())} if appends else {},
        "wcu_per_append": mean(r.wcu for r in records),
        "capacity_reported_per_append": mean(r.capacity_reported for r in records),
        "cpu_ms_per_append": 1000 * mean(r.cpu for r in records),
        "wall_ms_median": median_ms([r.wall for r in records]),
    }


async def bench_growth(
    client: Any, meter: Meter, max_mb: int, sample: int, seed: int
) -> tuple[dict[str, Any], dict[str, Grower]]:
    """Grow one session per threshold to `max_mb` MB in lockstep and measure every band.

    The first two bands and the last one are measured append by append. A middle
    band is too when `sample` is 0; otherwise only its first `sample` appends are,
    and the rest of the band is grown with add_items batches of `BATCH_UNITS` units.
    """
    table = await new_table(client, "pages-growth")
    growers = {
        name: Grower(f"grow-{name}", client, table, threshold, meter, seed)
        for name, threshold in THRESHOLDS.items()
    }
    bands: dict[str, dict[int, list[AppendRecord]]] = {name: {} for name in growers}
    for band in range(max_mb):
        full = sample == 0 or band < 2 or band == max_mb - 1
        end = (band + 1) * MB
        measured = 0
        while True:
            live = [
                (name, g)
                for name, g in growers.items()
                if not g.stopped and g.history < end and (full or measured < sample)
            ]
            if not live:
                break
            # Alternate which session goes first so that load drift hits both alike.
            for name, grower in live if measured % 2 == 0 else live[::-1]:
                record = await grower.append()
                if record is not None:
                    bands[name].setdefault(band, []).append(record)
            measured += 1
        if not full:
            for grower in growers.values():
                await grower.batch_to(end)
        console.print(
            f"[dim]  grown to {band + 1} MB: "
            + ", ".join(f"{n} {g.history / MB:.2f} MB" for n, g in growers.items())
            + "[/dim]"
        )
    pages = await scan_pages(client, table)
    results: dict[str, Any] = {"table": table, "sample": sample, "by_threshold": {}}
    for name, grower in growers.items():
        summaries = {
            band: band_summary(records, grower.threshold)
            for band, records in sorted(bands[name].items())
        }
        results["by_threshold"][name] = {
            "threshold": grower.threshold,
            "final_history_bytes": grower.history,
            "final_items": grower.items,
            "stopped": grower.stopped,
            "bands": summaries,
            "page_items_at_end": pages[grower.session_id],
            "compression": await compression(client, table, grower.session),
        }
    results["page_items_in_table"] = sum(pages.values())
    return results, growers


def cpu_summary(records: Sequence[AppendRecord]) -> dict[str, Any]:
    """Client CPU per append, overall and split by whether the append sealed a page."""
    sealing = [r.cpu for r in records if r.seals]
    plain = [r.cpu for r in records if not r.seals]
    return {
        "appends": len(records),
        "sealing_appends": len(sealing),
        "cpu_ms_per_append": 1000 * mean(r.cpu for r in records),
        "cpu_ms_plain_median": median_ms(plain),
        "cpu_ms_sealing_median": median_ms(sealing),
        "mean_bytes": mean(r.written for r in records),
    }


async def bench_incompressible(client: Any, meter: Meter, max_mb: int, seed: int) -> dict[str, Any]:
    """Grow sessions of base64(os.urandom) items to `max_mb` MB, append by append."""
    table = await new_table(client, "pages-random")
    growers = {
        name: Grower(f"rand-{name}", client, table, threshold, meter, seed, incompressible=True)
        for name, threshold in THRESHOLDS.items()
    }
    turn = 0
    while live := [g for g in growers.values() if not g.stopped and g.history < max_mb * MB]:
        for grower in live if turn % 2 == 0 else live[::-1]:
            await grower.append()
        turn += 1
    pages = await scan_pages(client, table)
    return {
        "table": table,
        "max_mb": max_mb,
        "by_threshold": {
            name: {
                **cpu_summary(grower.records),
                "stopped": grower.stopped,
                "page_items_at_end": pages[grower.session_id],
                "compression": await compression(client, table, grower.session),
            }
            for name, grower in growers.items()
        },
        "page_items_in_table": sum(pages.values()),
    }


# ---------------------------------------------------------------- 3 and 5: latency


@dataclass
class Case:
    """One prepared session measured in a latency loop."""

    label: str
    threshold_name: str
    target: int
    grower: Grower
    head_bytes: int = 0
    samples: dict[str, list[float]] = field(default_factory=dict)
    calls: dict[str, dict[str, int]] = field(default_factory=dict)
    bytes_per_append: list[int] = field(default_factory=list)


async def head_size(client: Any, table: str, session_id: str) -> int:
    """The head item's size by DynamoDB's rule."""
    response = await client.get_item(
        TableName=table, Key={SCHEMA.partition_key: {"S": session_id}}, ConsistentRead=True
    )
    return item_size(response["Item"]) if "Item" in response else 0


async def timed(case: Case, name: str, meter: Meter, action: Awaitable[_T]) -> _T:
    """Await `action`, add its wall time to the case's samples, keep its first call counts."""
    mark = meter.snapshot()
    started = time.perf_counter()
    result = await action
    case.samples.setdefault(name, []).append(time.perf_counter() - started)
    traffic, _ = meter.since(mark)
    case.calls.setdefault(name, dict(traffic.calls))
    return result


def fresh(case: Case, client: Any, table: str) -> DynamoDBSession:
    """A new session object on the case's session, as a stateless server would make."""
    return DynamoDBSession(
        case.grower.session_id, client, table, page_threshold=case.grower.threshold
    )


async def bench_reads(
    client: Any, meter: Meter, sizes: Sequence[int], repetitions: int, seed: int
) -> dict[str, Any]:
    """Median latency of get_items() and get_items(limit=20), fresh session object each time."""
    table = await new_table(client, "pages-reads")
    cases: list[Case] = []
    for name, threshold in THRESHOLDS.items():
        for size in sizes:
            grower = Grower(f"read-{name}-{size}", client, table, threshold, meter, seed)
            await grower.batch_to(size)
            cases.append(Case(human(size), name, size, grower))
    for case in cases:
        case.head_bytes = await head_size(client, table, case.grower.session_id)
    for rep in range(repetitions):
        shift = rep % len(cases)
        for case in cases[shift:] + cases[:shift]:
            session = fresh(case, client, table)
            items = await timed(case, "get_items()", meter, session.get_items())
            if len(items) != case.grower.items:
                raise AssertionError(f"{case.label}: {len(items)} of {case.grower.items} items")
            session = fresh(case, client, table)
            recent = await timed(case, "get_items(limit=20)", meter, session.get_items(limit=20))
            if recent != items[-20:]:
                raise AssertionError(f"{case.label}: limit=20 is not the newest 20 items")
    pages = await scan_pages(client, table)
    return {
        "table": table,
        "repetitions": repetitions,
        "session_objects": "fresh object for every call",
        "cases": [case_summary(case, pages) for case in cases],
        "page_items_in_table": sum(pages.values()),
    }


def case_summary(case: Case, pages: Counter[str]) -> dict[str, Any]:
    """The medians and counts of one case."""
    return {
        "size": case.label,
        "threshold": case.threshold_name,
        "history_bytes": case.grower.history,
        "items": case.grower.items,
        "stopped": case.grower.stopped,
        "head_bytes": case.head_bytes,
        "page_items": pages[case.grower.session_id],
        "median_ms": {name: median_ms(values) for name, values in case.samples.items()},
        "p90_ms": {name: 1000 * percentile(values, 0.9) for name, values in case.samples.items()},
        "calls": case.calls,
        "bytes_per_append": mean(case.bytes_per_append),
    }


async def bench_layouts(client: Any, meter: Meter, repetitions: int, seed: int) -> dict[str, Any]:
    """Single item (default threshold) against paged (32 KiB) at 100 KB and 390 KB of history.

    Each repetition appends one unit on a long-lived session object (steady state:
    one PutItem), reads with fresh objects, then pops the unit back so the size stays.
    """
    table = await new_table(client, "pages-layout")
    cases: list[Case] = []
    for size in (100 * KB, 390 * KB):
        for name, threshold in THRESHOLDS.items():
            grower = Grower(f"layout-{name}-{size}", client, table, threshold, meter, seed)
            await grower.batch_to(size)
            await grower.session.get_items()  # the long-lived object knows the version
            cases.append(Case(human(size), name, size, grower))
    for case in cases:
        case.head_bytes = await head_size(client, table, case.grower.session_id)
    conversation = Conversation(seed + 1)
    units = [conversation.next_unit() for _ in range(3)]  # user, tool round, assistant
    for rep in range(repetitions):
        shift = rep % len(cases)
        unit = units[rep % len(units)]
        for case in cases[shift:] + cases[:shift]:
            session = case.grower.session
            mark = meter.snapshot()
            await timed(case, "add_items", meter, session.add_items(unit))  # type: ignore[arg-type]
            traffic, _ = meter.since(mark)
            case.bytes_per_append.append(traffic.head_bytes + traffic.page_bytes)
            await timed(case, "get_items()", meter, fresh(case, client, table).get_items())
            reader = fresh(case, client, table)
            await timed(case, "get_items(limit=20)", meter, reader.get_items(limit=20))
            for _ in unit:
                await session.pop_item()
    pages = await scan_pages(client, table)
    return {
        "table": table,
        "repetitions": repetitions,
        "session_objects": "add/pop on one long-lived object per session; gets on fresh objects",
        "cases": [case_summary(case, pages) for case in cases],
        "page_items_in_table": sum(pages.values()),
    }


# ---------------------------------------------------------------- report


def human(size: int) -> str:
    """10 KB, 1 MB, ... (decimal)."""
    return f"{size // MB} MB" if size >= MB else f"{size // KB} KB"


def kb(value: float) -> str:
    """Bytes as decimal KB with one decimal."""
    return f"{value / KB:,.1f}"


def verdict(ok: bool) -> str:
    """PASS or FAIL, coloured."""
    return "[green]PASS[/green]" if ok else "[red]FAIL[/red]"


def print_growth(data: dict[str, Any]) -> None:
    """Parts 1 and 2: bytes and calls per append by MB band, then the two checks."""
    for name, result in data["by_threshold"].items():
        table = Table(
            title=f"1-2. Append cost by MB band, threshold {name} ({result['threshold']:,} B): "
            "means per append; KB = head + page items written (index: part of the head)"
        )
        for column in (
            "MB",
            "appends",
            "sealing",
            "KB",
            "head KB",
            "index KB",
            "page KB",
            "max KB",
            "WCU",
            "CC moto",
            "PutItem",
            "BatchWrite",
            "other",
            "CPU ms",
            "p50 ms",
        ):
            table.add_column(column, justify="right")
        for band, row in result["bands"].items():
            calls = row["calls_per_append"]
            other = sum(v for k, v in calls.items() if k not in ("PutItem", "BatchWriteItem"))
            table.add_row(
                f"{band}-{band + 1}",
                str(row["appends"]),
                str(row["sealing_appends"]),
                kb(row["mean_bytes"]),
                kb(row["mean_head_bytes"]),
                kb(row["mean_index_bytes"]),
                kb(row["mean_page_bytes"]),
                kb(row["max_bytes"]),
                f"{row['wcu_per_append']:.1f}",
                f"{row['capacity_reported_per_append']:.2f}",
                f"{calls.get('PutItem', 0):.3f}",
                f"{calls.get('BatchWriteItem', 0):.3f}",
                f"{other:.3f}",
                f"{row['cpu_ms_per_append']:.2f}",
                f"{row['wall_ms_median']:.1f}",
            )
        console.print(table)
        bands = result["bands"]
        if 0 in bands and 1 in bands:
            ratio = bands[1]["mean_bytes"] / bands[0]["mean_bytes"]
            result["second_to_first_mb"] = ratio
            console.print(
                f"  {name}: bytes/append 2nd MB / 1st MB = {ratio:.3f} (target <= 1.3) "
                f"{verdict(ratio <= 1.3)}"
            )
        last = bands[max(bands)]
        if max(bands) > 1:
            growth = last["mean_bytes"] / bands[0]["mean_bytes"]
            result["last_to_first_mb"] = growth
            console.print(
                f"  {name}: bytes/append band {max(bands)}-{max(bands) + 1} MB / 1st MB = "
                f"{growth:.3f} (index KB/append: {kb(bands[0]['mean_index_bytes'])} -> "
                f"{kb(last['mean_index_bytes'])})"
            )
        console.print(
            f"  {name}: band {max(bands)}-{max(bands) + 1} MB: max bytes of one append "
            f"{last['max_bytes']:,} vs threshold + largest page {result['threshold']:,} + "
            f"{last['largest_page']:,} = {last['bound']:,}: one append writes at most the "
            f"threshold plus one page {verdict(last['bound_holds'])}"
        )
        comp = result["compression"]
        console.print(
            f"  {name}: end: {result['final_history_bytes'] / MB:.2f} MB in "
            f"{result['final_items']} items, {comp['pages']} pages indexed, "
            f"{result['page_items_at_end']} page items scanned"
            + (f"; [red]stopped: {result['stopped']}[/red]" if result["stopped"] else "")
        )
    console.print(f"  page items in the growth table: {data['page_items_in_table']}")


def print_reads(data: dict[str, Any]) -> None:
    """Part 3: read latency by size, with the limit=20 at 10 MB over 10 KB ratio."""
    table = Table(
        title=f"3. Read latency, median (p90) ms of {data['repetitions']} runs, "
        f"{data['session_objects']}"
    )
    for column in (
        "threshold",
        "history",
        "items",
        "head KB",
        "pages",
        "get_items()",
        "calls",
        "limit=20",
        "calls",
    ):
        table.add_column(column, justify="right")
    for case in data["cases"]:
        cells = []
        for op in ("get_items()", "get_items(limit=20)"):
            if op in case["median_ms"]:
                cells.append(f"{case['median_ms'][op]:.1f} ({case['p90_ms'][op]:.1f})")
                cells.append(" ".join(f"{k}:{v}" for k, v in sorted(case["calls"][op].items())))
            else:
                cells.extend(["-", "-"])
        table.add_row(
            case["threshold"],
            case["size"],
            str(case["items"]),
            kb(case["head_bytes"]),
            str(case["page_items"]),
            *cells,
        )
    console.print(table)
    baseline = next(
        c for c in data["cases"] if c["threshold"] == "default" and c["size"] == "10 KB"
    )["median_ms"]["get_items()"]
    largest = max(c["history_bytes"] for c in data["cases"])
    for case in data["cases"]:
        if case["history_bytes"] != largest:
            continue
        ratio = case["median_ms"]["get_items(limit=20)"] / baseline
        case["ratio_limit20_vs_10kb"] = ratio
        console.print(
            f"  {case['threshold']}: get_items(limit=20) at {case['size']} / get_items() at "
            f"10 KB = {case['median_ms']['get_items(limit=20)']:.1f} / {baseline:.1f} ms = "
            f"{ratio:.2f}x (target <= 2x) {verdict(ratio <= 2)}"
        )
    console.print(f"  page items in the reads table: {data['page_items_in_table']}")


def print_compression(
    growth: dict[str, Any], growers: dict[str, Grower], rand: dict[str, Any], max_mb: int
) -> None:
    """Part 4: compression ratio and CPU per append, realistic against incompressible."""
    table = Table(
        title=f"4. Compression and client CPU per append (0-{rand['max_mb']} MB, "
        "time.process_time around add_items)"
    )
    for column in (
        "data",
        "threshold",
        "appends",
        "sealing",
        "ratio",
        "KB written/append",
        "CPU ms/append",
        "CPU ms plain (p50)",
        "CPU ms sealing (p50)",
        "page items",
    ):
        table.add_column(column, justify="right")
    rows: dict[str, dict[str, Any]] = {}
    for name, grower in growers.items():
        records = [r for r in grower.records if r.history_before < rand["max_mb"] * MB]
        rows[f"realistic/{name}"] = {
            **cpu_summary(records),
            "compression": growth["by_threshold"][name]["compression"],
            "page_items_at_end": growth["by_threshold"][name]["page_items_at_end"],
        }
    for name, row in rand["by_threshold"].items():
        rows[f"incompressible/{name}"] = row
    for key, row in rows.items():
        data, name = key.split("/")
        table.add_row(
            data,
            name,
            str(row["appends"]),
            str(row["sealing_appends"]),
            f"{row['compression']['ratio']:.2f}",
            kb(row["mean_bytes"]),
            f"{row['cpu_ms_per_append']:.2f}",
            f"{row['cpu_ms_plain_median']:.2f}",
            f"{row['cpu_ms_sealing_median']:.2f}",
            str(row["page_items_at_end"]),
        )
    console.print(table)
    console.print(
        f"  realistic rows: the growth run's appends below {rand['max_mb']} MB; its "
        f"compression ratio over every page of the {max_mb} MB session. Page items in the "
        f"incompressible table: {rand['page_items_in_table']}"
    )
    rand["rows"] = rows


def print_layouts(data: dict[str, Any]) -> None:
    """Part 5: single item against paged at 100 KB and 390 KB."""
    table = Table(
        title=f"5. Single item (default) vs paged (32KiB), median ms of {data['repetitions']}; "
        f"{data['session_objects']}"
    )
    for column in (
        "history",
        "layout",
        "head KB",
        "pages",
        "add_items",
        "B/append",
        "get_items()",
        "limit=20",
        "add calls",
    ):
        table.add_column(column, justify="right")
    by_key = {(c["size"], c["threshold"]): c for c in data["cases"]}
    for case in data["cases"]:
        median = case["median_ms"]
        table.add_row(
            case["size"],
            "single item" if case["threshold"] == "default" else "paged 32KiB",
            kb(case["head_bytes"]),
            str(case["page_items"]),
            f"{median['add_items']:.1f}",
            f"{case['bytes_per_append']:,.0f}",
            f"{median['get_items()']:.1f}",
            f"{median['get_items(limit=20)']:.1f}",
            " ".join(f"{k}:{v}" for k, v in sorted(case["calls"]["add_items"].items())),
        )
    console.print(table)
    for size in ("100 KB", "390 KB"):
        single, paged = by_key[(size, "default")], by_key[(size, "32KiB")]
        ratios = {
            op: paged["median_ms"][op] / single["median_ms"][op]
            for op in ("add_items", "get_items()", "get_items(limit=20)")
        }
        ratios["bytes/append"] = paged["bytes_per_append"] / single["bytes_per_append"]
        data.setdefault("paged_over_single", {})[size] = ratios
        console.print(
            f"  {size}: paged / single: "
            + ", ".join(f"{op} {value:.2f}x" for op, value in ratios.items())
        )
    console.print(f"  page items in the layout table: {data['page_items_in_table']}")


# ---------------------------------------------------------------- main


async def run(args: argparse.Namespace) -> dict[str, Any]:
    """Run every part and print each as it completes."""
    max_mb = min(3, args.max_mb) if args.quick else args.max_mb
    repetitions = 7 if args.quick else args.repetitions
    random_mb = 1
    data: dict[str, Any] = {
        "environment": environment(),
        "config": {
            "max_mb": max_mb,
            "sample": args.sample,
            "repetitions": repetitions,
            "append_bytes": APPEND_BYTES,
            "thresholds": THRESHOLDS,
            "seed": args.seed,
        },
    }
    seconds: dict[str, float] = {}
    with dynamodb_endpoint(args.endpoint, args.backend) as url:
        data["endpoint"] = args.endpoint or f"{args.backend} (child process)"
        async with open_client(url) as client:
            console.print(f"[dim]endpoint {url}; growing to {max_mb} MB[/dim]")
            meter = Meter(client)  # one hook for the whole run; each part reads differences
            started = time.perf_counter()
            growth, growers = await bench_growth(client, meter, max_mb, args.sample, args.seed)
            seconds["growth"] = time.perf_counter() - started
            print_growth(growth)
            data["growth"] = growth

            started = time.perf_counter()
            sizes = sorted({10 * KB, 100 * KB, MB, max_mb * MB})
            data["reads"] = await bench_reads(client, meter, sizes, repetitions, args.seed)
            seconds["reads"] = time.perf_counter() - started
            print_reads(data["reads"])

            started = time.perf_counter()
            data["incompressible"] = await bench_incompressible(client, meter, random_mb, args.seed)
            seconds["incompressible"] = time.perf_counter() - started
            print_compression(growth, growers, data["incompressible"], max_mb)

            started = time.perf_counter()
            data["layouts"] = await bench_layouts(client, meter, repetitions, args.seed)
            seconds["layouts"] = time.perf_counter() - started
            print_layouts(data["layouts"])
    data["part_seconds"] = seconds
    console.print(
        "[dim]seconds per part: " + ", ".join(f"{k} {v:.0f}" for k, v in seconds.items()) + "[/dim]"
    )
    data["growth_records"] = {
        name: [asdict(r) for r in grower.records] for name, grower in growers.items()
    }
    return data


def main() -> None:
    """Parse the flags, run, print the tables and the JSON path."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="short run: grow to at most 3 MB, 7 repetitions"
    )
    parser.add_argument("--max-mb", type=int, default=10, help="history size to grow to, in MB")
    parser.add_argument(
        "--sample",
        type=int,
        default=0,
        help="appends measured one by one in each middle band, the rest grown in batches "
        "(0: every append of every band)",
    )
    parser.add_argument("--repetitions", type=int, default=15, help="latency samples per read")
    parser.add_argument("--seed", type=int, default=7, help="seed of the conversation text")
    add_endpoint_option(parser)
    args = parser.parse_args()
    library_log = logging.getLogger("openai_agents_session")
    warnings = WarningCounter()
    library_log.addHandler(warnings)
    library_log.propagate = False
    started = time.perf_counter()
    data = asyncio.run(run(args))
    data["library_warnings"] = dict(warnings.messages)
    for template, count in warnings.messages.items():
        console.print(f"[dim]library warning x{count}: {template}[/dim]")
    data["seconds"] = time.perf_counter() - started
    data["load_average_1m_end"] = os.getloadavg()[0]
    path = write_json("bench_pages_quick.json" if args.quick else "bench_pages.json", data)
    console.print(f"finished in {data['seconds']:.0f} s; results: {path}")


if __name__ == "__main__":
    main()
