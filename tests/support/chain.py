"""A team project for migration-chain tests: a record module that changes over time,
its migrations folder, and the CLI run against it (as a team runs it from CI)."""

from __future__ import annotations

import asyncio
import importlib
import json
import sys
import textwrap
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from aiobotocore.session import get_session
from typer.testing import CliRunner

from openai_agents_session import DynamoDBSession
from openai_agents_session.cli import app
from openai_agents_session.migrations import import_record
from tests.support.migrations import session_items

T = TypeVar("T")

HEADER = """
from typing import Annotated, ClassVar

from openai_agents_session import DynamoAttribute, GlobalIndex, HistoryView, SessionRecord
"""


class TeamProject:
    """One team's repository: ``records.py`` (its record) and ``migrations/``."""

    def __init__(self, tmp_path: Path, endpoint: str, monkeypatch: pytest.MonkeyPatch) -> None:
        self.module = f"team_chain_{uuid.uuid4().hex[:8]}"
        self.source = tmp_path / "app" / f"{self.module}.py"
        self.source.parent.mkdir()
        monkeypatch.syspath_prepend(str(self.source.parent))
        self.folder = tmp_path / "migrations"
        self.endpoint = endpoint
        self.schema = f"{self.module}:ChatRecord"

    def declare(self, body: str) -> None:
        """Make the record module `body` (under the common imports), as a commit would."""
        self.source.write_text(HEADER + textwrap.dedent(body), encoding="utf-8")
        sys.modules.pop(self.module, None)
        importlib.invalidate_caches()

    def cli(self, *args: str, table: str | None = None, folder: bool = True) -> Any:
        """``openai-agents-session migrate ARGS`` (against the endpoint when `table` is given)."""
        options = ["--migrations-dir", str(self.folder)] if folder else []
        if table is not None:
            options += ["--endpoint-url", self.endpoint, "--region", "us-east-1", "--table", table]
        return CliRunner().invoke(app, ["migrate", *args, *options])

    def new(self, slug: str, *flags: str) -> Any:
        """``migrate new SLUG --autogenerate --schema ...``."""
        return self.cli("new", slug, "--autogenerate", "--schema", self.schema, *flags)

    def check(self) -> Any:
        """``migrate check --offline --schema ...``."""
        return self.cli("check", "--offline", "--schema", self.schema)

    def record(self) -> Any:
        """The record class as declared now."""
        return import_record(self.schema)

    def run(self, work: Callable[[Any], Awaitable[T]]) -> T:
        """Run `work(client)` with a client of the endpoint."""

        async def main() -> T:
            async with get_session().create_client(
                "dynamodb", region_name="us-east-1", endpoint_url=self.endpoint
            ) as client:
                return await work(client)

        return asyncio.run(main())

    def seed(self, table: str, count: int, **attributes: Callable[[int], Any]) -> None:
        """`count` sessions written with the record as declared now."""
        record = self.record()

        async def write(client: Any) -> None:
            for n in range(count):
                values = {k: fn(n) for k, fn in attributes.items()}
                session = DynamoDBSession(f"s-{n}", client, table, record=record, attributes=values)
                await session.add_items(
                    [{"role": "user", "content": str(i)} for i in range(n % 4 + 1)]
                )

        self.run(write)

    def items(self, table: str) -> dict[str, dict[str, Any]]:
        """Every session item, raw."""
        return self.run(lambda client: session_items(client, table))

    def indexes(self, table: str) -> dict[str, dict[str, str]]:
        """The table's global secondary indexes: name -> {attribute: key type}."""

        async def describe(client: Any) -> dict[str, dict[str, str]]:
            found = (await client.describe_table(TableName=table))["Table"]
            return {
                i["IndexName"]: {k["AttributeName"]: k["KeyType"] for k in i["KeySchema"]}
                for i in found.get("GlobalSecondaryIndexes", [])
            }

        return self.run(describe)

    def applied_events(self, table: str) -> list[tuple[str, str]]:
        """(revision, action) of every ledger event of the team chain."""
        result = self.cli("history", "--json", table=table, folder=False)
        assert result.exit_code == 0, result.output
        return [
            (e["revision"], e["action"])
            for e in json.loads(result.stdout)["events"]
            if e.get("chain") == "team"
        ]


def fresh_table() -> str:
    """A table name no test used."""
    return f"chain-{uuid.uuid4().hex[:10]}"
