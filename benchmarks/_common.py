"""Shared pieces of the benchmark scripts: endpoint, client, table, call counting, messages.

The benchmarks talk HTTP to moto's server (or dynalite), started here as a child
process on a free loopback port (or to an endpoint given with ``--endpoint``), so
the server does not share the benchmark's GIL and event loop. Numbers from this machine are
only comparable with each other: read ratios, not absolute milliseconds.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from aiobotocore.config import AioConfig
from aiobotocore.session import get_session

from openai_agents_session import create_table_if_not_exists
from tests.support.endpoints import running_endpoint

ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = ROOT / "benchmarks" / "results"
MESSAGE_BYTES = 200

_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}
_FILLER = (
    "The quarterly report shows steady growth in the northern region, while the "
    "support queue shrank after the new triage rules; next we compare churn by plan, "
    "check the refund backlog and draft a short summary for the team meeting. "
)


def add_endpoint_option(parser: argparse.ArgumentParser) -> None:
    """Add ``--backend`` (which local endpoint to start) and ``--endpoint`` (use a running one)."""
    parser.add_argument(
        "--backend",
        choices=("moto", "dynalite"),
        default="moto",
        help="local endpoint started for the run on a free loopback port (dynalite "
        "needs `npm install` in the repository root)",
    )
    parser.add_argument(
        "--endpoint",
        default=None,
        help="URL of a running DynamoDB endpoint to use instead of starting one",
    )


@contextmanager
def dynamodb_endpoint(url: str | None = None, backend: str = "moto") -> Iterator[str]:
    """Yield `url`, or the URL of a `backend` server started for the block and stopped after it."""
    for key, value in _CREDENTIALS.items():
        os.environ.setdefault(key, value)
    if url:
        yield url
        return
    # The test suite's starter: the same serial moto server (or dynalite) on loopback.
    with running_endpoint(backend) as started:
        yield started


@asynccontextmanager
async def open_client(url: str, *, pool: int = 16) -> AsyncIterator[Any]:
    """An aiobotocore DynamoDB client on `url` with room for `pool` concurrent requests."""
    config = AioConfig(
        retries={"mode": "standard", "max_attempts": 3},
        connect_timeout=5,
        read_timeout=60,
        max_pool_connections=pool,
    )
    async with get_session().create_client(
        "dynamodb",
        region_name="us-east-1",
        endpoint_url=url,
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=config,
    ) as client:
        yield client


async def new_table(client: Any, prefix: str = "bench") -> str:
    """Create a uniquely named session table from the library's schema."""
    name = f"{prefix}-{uuid.uuid4().hex[:10]}"
    await create_table_if_not_exists(client, name)
    return name


class CallCounter(Counter[str]):
    """DynamoDB API calls a client made, by operation name."""

    def total(self) -> int:  # type: ignore[override]
        """All calls counted so far."""
        return sum(self.values())


def count_calls(client: Any) -> CallCounter:
    """Count every DynamoDB call `client` makes from now on (botocore's before-call event)."""
    counter = CallCounter()

    def handler(event_name: str, **_: Any) -> None:
        counter[event_name.rsplit(".", 1)[-1]] += 1

    client.meta.events.register("before-call.dynamodb", handler)
    return counter


def message(tag: str, role: str = "user", size: int = MESSAGE_BYTES) -> dict[str, Any]:
    """A Responses-API-shaped message of about `size` bytes of compact JSON.

    The text starts with ``[tag]`` so a stored copy can be traced back to its
    writer (`tag_of`). Assistant messages have the SDK's output-message shape.
    """
    text = f"[{tag}] "
    if role == "assistant":
        item: dict[str, Any] = {
            "id": f"msg_{uuid.uuid5(uuid.NAMESPACE_OID, tag).hex}",
            "type": "message",
            "role": "assistant",
            "status": "completed",
            "content": [{"type": "output_text", "text": text, "annotations": []}],
        }
    else:
        item = {"type": "message", "role": role, "content": text}
    missing = size - len(json.dumps(item, separators=(",", ":")))
    padding = (_FILLER * (1 + max(missing, 0) // len(_FILLER)))[: max(missing, 0)]
    if role == "assistant":
        item["content"][0]["text"] = text + padding
    else:
        item["content"] = text + padding
    return item


def tag_of(item: Any) -> str | None:
    """The tag `message` put at the start of an item's text, or None."""
    content = item.get("content") if isinstance(item, dict) else None
    if isinstance(content, list) and content and isinstance(content[0], dict):
        content = content[0].get("text")
    if isinstance(content, str) and content.startswith("[") and "]" in content:
        return content[1 : content.index("]")]
    return None


def lost_and_duplicated(acknowledged: Sequence[str], stored: Sequence[Any]) -> dict[str, int]:
    """Compare the tags of acknowledged writes with the items read back."""
    counts = Counter(tag_of(item) for item in stored)
    expected = set(acknowledged)
    return {
        "acknowledged": len(acknowledged),
        "stored": len(stored),
        "lost": sum(1 for tag in expected if counts[tag] == 0),
        "duplicated": sum(n - 1 for n in counts.values() if n > 1),
        "unexpected": sum(n for tag, n in counts.items() if tag not in expected),
    }


async def read_stored_items(client: Any, table: str, session_id: str) -> list[Any]:
    """The conversation as stored, read with a plain consistent GetItem (no session logic)."""
    response = await client.get_item(
        TableName=table, Key={"session_id": {"S": session_id}}, ConsistentRead=True
    )
    raw = response.get("Item")
    if raw is None:
        return []
    items: list[Any] = json.loads(raw["conversation_data"]["S"])
    return items


def percentile(values: Sequence[float], q: float) -> float:
    """The `q`-quantile (0..1) of `values`, interpolating between ranks; NaN if empty."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def environment() -> dict[str, Any]:
    """What a reader needs to put the numbers in context."""
    from importlib.metadata import version

    return {
        "timestamp": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        # Other work on the machine slows both implementations alike; note how busy it was.
        "load_average_1m": os.getloadavg()[0],
        "versions": {
            name: version(name)
            for name in ("openai-agents", "aiobotocore", "moto", "openai-agents-session")
        },
    }


def write_json(name: str, data: dict[str, Any]) -> Path:
    """Write `data` to ``benchmarks/results/<name>`` and return the path."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / name
    path.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")
    return path
