"""Shared fixtures: one real DynamoDB endpoint per test run, a fresh table per test.

The endpoint is moto's server by default. ``OAS_TEST_BACKEND=dynalite`` runs the
same suite against dynalite; ``OAS_TEST_ENDPOINT=http://127.0.0.1:PORT`` points
it at an endpoint that is already running.
"""

from __future__ import annotations

import os
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest
from aiobotocore.config import AioConfig
from aiobotocore.session import get_session

from openai_agents_session import create_table_if_not_exists
from tests.support.endpoints import running_endpoint

os.environ.setdefault("AWS_ACCESS_KEY_ID", "test")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "test")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

BACKEND = os.environ.get("OAS_TEST_BACKEND", "moto")

ClientFactory = Callable[..., Awaitable[Any]]


def pytest_configure(config: pytest.Config) -> None:
    import agents

    agents.set_tracing_disabled(True)
    config.addinivalue_line("markers", "moto_only: needs an API dynalite lacks")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if BACKEND == "moto":
        return
    skip = pytest.mark.skip(reason=f"needs an API that {BACKEND} lacks")
    for item in items:
        if "moto_only" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def endpoint() -> Iterator[str]:
    """URL of the DynamoDB endpoint under test, started once per test run."""
    explicit = os.environ.get("OAS_TEST_ENDPOINT")
    if explicit:
        yield explicit
        return
    with running_endpoint(BACKEND) as url:
        yield url


@pytest.fixture
def backend() -> str:
    return BACKEND


def client_config(**overrides: Any) -> AioConfig:
    options: dict[str, Any] = {
        "retries": {"mode": "standard", "max_attempts": 3},
        "connect_timeout": 2,
        "read_timeout": 10,
    }
    options.update(overrides)
    return AioConfig(**options)


@pytest.fixture
async def make_client(endpoint: str) -> AsyncIterator[ClientFactory]:
    """Factory of aiobotocore clients on the test endpoint (or another URL); all closed after."""
    contexts: list[Any] = []

    async def make(url: str | None = None, **config: Any) -> Any:
        context = get_session().create_client(
            "dynamodb",
            region_name="us-east-1",
            endpoint_url=url or endpoint,
            aws_access_key_id="test",
            aws_secret_access_key="test",
            config=client_config(**config),
        )
        client = await context.__aenter__()
        contexts.append(context)
        return client

    yield make
    for context in reversed(contexts):
        await context.__aexit__(None, None, None)


@pytest.fixture
async def client(make_client: ClientFactory) -> Any:
    return await make_client()


@pytest.fixture
async def table(client: Any) -> str:
    """A fresh table made from the schema, named uniquely for this test."""
    name = f"sessions-{uuid.uuid4().hex[:12]}"
    await create_table_if_not_exists(client, name)
    return name


class CallCounter(Counter[str]):
    """Counts DynamoDB API calls a client makes, by operation name."""

    def total(self) -> int:  # type: ignore[override]
        return sum(self.values())


def count_calls(client: Any) -> CallCounter:
    counter = CallCounter()

    def handler(event_name: str, **_: Any) -> None:
        counter[event_name.rsplit(".", 1)[-1]] += 1

    client.meta.events.register("before-call.dynamodb", handler)
    return counter
