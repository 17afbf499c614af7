"""Issue 18, sections 1 and 2, through the CLI: the committed chain replays on a fresh
table whatever the record says later, and autogenerate never destroys data nor misses a
change (rename, derive function, type).

Each test starts with the "Today" reproduction of the issue; on the code before the
operations, each of them fails at the step marked below.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from openai_agents_session import DynamoDBSession
from tests.support.chain import TeamProject, fresh_table

COUNTED = """
def count_items(view: HistoryView) -> int:
    return view.count


class ChatRecord(SessionRecord):
    indexes: ClassVar[tuple[GlobalIndex, ...]] = ()
    tenant_id: Annotated[str | None, DynamoAttribute("S", "attribute")] = None
    message_count: Annotated[int | None, DynamoAttribute("N", "derived", derive=count_items)] = None
"""

UNCOUNTED = """
class ChatRecord(SessionRecord):
    indexes: ClassVar[tuple[GlobalIndex, ...]] = ()
    tenant_id: Annotated[str | None, DynamoAttribute("S", "attribute")] = None
"""


@pytest.fixture
def team(tmp_path: Path, endpoint: str, monkeypatch: pytest.MonkeyPatch) -> TeamProject:
    return TeamProject(tmp_path, endpoint, monkeypatch)


def test_chain_replays_on_a_fresh_table_after_the_record_dropped_an_attribute(
    team: TeamProject,
) -> None:
    # Today: add message_count, apply; remove it and generate the drop; then `up` on a
    # fresh table failed at the first migration (exit 10, a failure in the ledger), and
    # `check --offline` had not seen it coming.
    production = fresh_table()
    team.declare(COUNTED)
    assert team.new("message_stats").exit_code == 0
    assert team.cli("up", table=production).exit_code == 0
    team.seed(production, 6, tenant_id=lambda n: f"t{n}")
    team.declare(UNCOUNTED)
    dropped = team.new("drop_message_count")  # derived values are recomputable: no flag
    assert dropped.exit_code == 0, dropped.output
    assert team.cli("up", table=production).exit_code == 0
    assert not any("message_count" in item for item in team.items(production).values())

    checked = team.check()
    assert checked.exit_code == 0, checked.output
    # A per-PR environment: every committed migration runs on an empty table.
    pr_env = fresh_table()
    replay = team.cli("up", "--json", table=pr_env)
    assert replay.exit_code == 0, replay.output
    assert json.loads(replay.stdout)["applied"][-2:] == [
        "0001_message_stats",
        "0002_drop_message_count",
    ]
    assert not any(a == "failed" for _, a in team.applied_events(pr_env))
    # Because no file imports the record: types, keys and functions are written in them.
    for path in team.folder.glob("0*.py"):
        text = path.read_text()
        assert "import_record" not in text and team.module not in text.split("record = ")[0]

    # Any later edit of the record (here: the module loses count_items) changes nothing.
    team.declare(UNCOUNTED + "\nVERSION = 3\n")
    assert team.cli("up", table=fresh_table()).exit_code == 0
    # And the down path recomputes message_count with the copied function.
    assert team.cli("down", table=production).exit_code == 0
    items = team.items(production)
    assert {k: v["message_count"] for k, v in items.items()} == {
        f"s-{n}": {"N": str(n % 4 + 1)} for n in range(6)
    }


def test_old_style_generated_migrations_still_replay_on_an_empty_table(
    team: TeamProject,
) -> None:
    # A file written by an earlier autogenerate: it imports the record at run time.
    team.declare(UNCOUNTED)
    team.folder.mkdir()
    (team.folder / "0001_stats.py").write_text(
        "from openai_agents_session.migrations.autogen import derived_backfill, import_record\n"
        "revision = '0001_stats'\ndown_revision = None\ndescription = 'old style'\n"
        f"record = {team.schema!r}\n\n"
        "async def upgrade(ctx):\n"
        "    await ctx.backfill(derived_backfill(import_record(record), ['message_count']))\n"
    )
    assert team.cli("up", table=fresh_table()).exit_code == 0
    warned = team.cli("check", "--offline")
    assert warned.exit_code == 0, warned.output
    assert "0001_stats (written by an earlier autogenerate) computes message_count" in warned.output
    # On a table with sessions it cannot compute a value the record no longer declares.
    production = fresh_table()
    assert team.cli("up", "--to", "0005_session_catalog", table=production).exit_code == 0
    team.seed(production, 2)
    failed = team.cli("up", table=production)
    # (Exit 1 or 9: a raising backfill's exit code is section 5's, on another branch.)
    assert failed.exit_code in (1, 9)
    assert "raised RevisionGraphError on session" in failed.output, failed.output[-600:]


RENAME_BEFORE = """
class ChatRecord(SessionRecord):
    indexes: ClassVar[tuple[GlobalIndex, ...]] = (
        GlobalIndex("by_tenant", partition_key="tenant_id", sort_key="updated_at"),
    )
    tenant_id: Annotated[str | None, DynamoAttribute("S", "attribute")] = None
"""

RENAME_AFTER = """
class ChatRecord(SessionRecord):
    indexes: ClassVar[tuple[GlobalIndex, ...]] = (
        GlobalIndex("by_tenant", partition_key="tenant", sort_key="updated_at"),
    )
    tenant: Annotated[str | None, DynamoAttribute("S", "attribute")] = None
"""


@pytest.mark.moto_only  # dynalite's UpdateTable does not create indexes
def test_rename_is_refused_without_a_hint_then_copies_every_value_and_reverses(
    team: TeamProject,
) -> None:
    production = fresh_table()
    team.declare(RENAME_BEFORE)
    assert team.new("tenant_index").exit_code == 0
    assert team.cli("up", table=production).exit_code == 0
    team.seed(production, 8, tenant_id=lambda n: f"acme-{n % 3}")

    # Today: the generated file removed tenant_id and filled nothing: 20 of 20 lost.
    team.declare(RENAME_AFTER)
    refused = team.new("rename_tenant", "--json")
    assert refused.exit_code == 10
    error = json.loads(refused.stdout)["error"]
    assert "did you rename it to 'tenant'" in error
    assert "--rename tenant_id=tenant" in error and "--allow-drop tenant_id" in error
    assert sorted(p.name for p in team.folder.glob("0*.py")) == ["0001_tenant_index.py"]

    written = team.new("rename_tenant", "--rename", "tenant_id=tenant")
    assert written.exit_code == 0, written.output
    assert (
        "RenameAttribute('tenant_id', 'tenant', 'S')"
        in (team.folder / "0002_rename_tenant.py").read_text()
    )
    assert team.check().exit_code == 0
    assert team.cli("up", table=production).exit_code == 0
    items = team.items(production)
    assert {k: v.get("tenant") for k, v in items.items()} == {
        f"s-{n}": {"S": f"acme-{n % 3}"} for n in range(8)
    }
    assert not any("tenant_id" in v for v in items.values())
    assert team.indexes(production)["by_tenant"] == {"tenant": "HASH", "updated_at": "RANGE"}

    # Today the downgrade only dropped the new index. Now it restores what 0001 made.
    assert team.cli("down", table=production).exit_code == 0
    items = team.items(production)
    assert {k: v.get("tenant_id") for k, v in items.items()} == {
        f"s-{n}": {"S": f"acme-{n % 3}"} for n in range(8)
    }
    assert team.indexes(production)["by_tenant"] == {"tenant_id": "HASH", "updated_at": "RANGE"}
    assert team.cli("up", table=production).exit_code == 0
    assert all(v["tenant"]["S"].startswith("acme-") for v in team.items(production).values())


def test_allow_drop_accepts_the_loss_and_has_no_downgrade(team: TeamProject) -> None:
    production = fresh_table()
    team.declare(UNCOUNTED)
    assert team.new("tenant").exit_code == 0
    assert team.cli("up", table=production).exit_code == 0
    team.seed(production, 3, tenant_id=lambda n: "acme")
    team.declare("class ChatRecord(SessionRecord):\n    pass\n")
    refused = team.new("drop_tenant")
    assert refused.exit_code == 10 and "--allow-drop tenant_id" in refused.output
    assert team.new("drop_tenant", "--allow-drop", "tenant_id").exit_code == 0
    text = (team.folder / "0002_drop_tenant.py").read_text()
    assert "allow_loss=True" in text and "async def downgrade" not in text
    assert team.check().exit_code == 0
    assert team.cli("up", table=production).exit_code == 0
    assert not any("tenant_id" in v for v in team.items(production).values())
    refused_down = team.cli("down", table=production)
    assert refused_down.exit_code == 9


DERIVE_V1 = """
def count_items(view: HistoryView) -> int:
    return view.count


class ChatRecord(SessionRecord):
    indexes: ClassVar[tuple[GlobalIndex, ...]] = ()
    message_count: Annotated[int | None, DynamoAttribute("N", "derived", derive=count_items)] = None
"""

DERIVE_V2 = """
def count_items(view: HistoryView) -> int:
    \"\"\"Now counts only what the user said.\"\"\"
    return sum(1 for item in view.items if item.get("role") == "user") * 10
"""


def test_changed_derive_body_is_drift_and_its_backfill_is_generated(team: TeamProject) -> None:
    production = fresh_table()
    team.declare(DERIVE_V1)
    assert team.new("message_stats").exit_code == 0
    assert team.cli("up", table=production).exit_code == 0
    team.seed(production, 12)
    # A formatting-only change is no drift (the hash is of the normalized source).
    team.declare(DERIVE_V1.replace("return view.count", "return (view.count)  # same"))
    assert team.check().exit_code == 0

    # Today: check --offline exit 0, "nothing to generate", 32 of 40 values stale.
    team.declare(DERIVE_V1.replace(DERIVE_V1.split("\n\n\n")[0], DERIVE_V2.strip()))
    stale = team.check()
    assert stale.exit_code == 4, stale.output
    assert "derived attribute 'message_count': its derive function changed" in stale.output
    written = team.new("recount")
    assert written.exit_code == 0, written.output
    assert "ChangeDerive('message_count'" in (team.folder / "0002_recount.py").read_text()
    assert team.check().exit_code == 0
    assert team.cli("up", table=production).exit_code == 0
    items = team.items(production)
    assert {k: v["message_count"]["N"] for k, v in items.items()} == {
        f"s-{n}": str((n % 4 + 1) * 10) for n in range(12)
    }
    # down recomputes with the previous function, copied from 0001.
    assert team.cli("down", table=production).exit_code == 0
    assert {k: v["message_count"]["N"] for k, v in team.items(production).items()} == {
        f"s-{n}": str(n % 4 + 1) for n in range(12)
    }


SCORE_N = """
class ChatRecord(SessionRecord):
    indexes: ClassVar[tuple[GlobalIndex, ...]] = ()
    score: Annotated[int | None, DynamoAttribute("N", "attribute")] = None
"""

SCORE_S = """
class ChatRecord(SessionRecord):
    indexes: ClassVar[tuple[GlobalIndex, ...]] = ()
    score: Annotated[str | None, DynamoAttribute("S", "attribute")] = None
"""


def test_type_change_converts_every_value_both_ways(team: TeamProject) -> None:
    production = fresh_table()
    team.declare(SCORE_N)
    assert team.new("score").exit_code == 0
    assert team.cli("up", table=production).exit_code == 0
    team.seed(production, 5, score=lambda n: n * 7)
    # Today: upgrade and downgrade were both `pass`, items stayed N, get_record raised.
    team.declare(SCORE_S)
    written = team.new("score_text")
    assert written.exit_code == 0, written.output
    assert team.cli("up", table=production).exit_code == 0
    assert {k: v["score"] for k, v in team.items(production).items()} == {
        f"s-{n}": {"S": str(n * 7)} for n in range(5)
    }
    text = (team.folder / "0002_score_text.py").read_text()
    assert "ChangeType('score', 'N', 'S'" in text and "def convert_score_n_to_s(value):" in text
    record = team.record()

    async def read(client: Any) -> list[Any]:
        return [
            (await DynamoDBSession(f"s-{n}", client, production, record=record).get_record())
            for n in range(5)
        ]

    assert [r.score for r in team.run(read)] == [str(n * 7) for n in range(5)]
    assert team.cli("down", table=production).exit_code == 0
    assert {k: v["score"] for k, v in team.items(production).items()} == {
        f"s-{n}": {"N": str(n * 7)} for n in range(5)
    }


def test_unsupported_type_change_is_refused_with_the_way_out(team: TeamProject) -> None:
    team.declare(SCORE_N)
    assert team.new("score").exit_code == 0
    team.declare(
        SCORE_N.replace('int | None, DynamoAttribute("N"', 'bytes | None, DynamoAttribute("B"')
    )
    refused = team.new("score_bytes")
    assert refused.exit_code == 10
    assert "N -> B" in refused.output and "--allow-drop score" in refused.output
