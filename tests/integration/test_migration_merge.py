"""Issue 18, section 4, through the CLI: two branches each add a migration from the same
head and both are merged. Every fix a message gives, followed literally, ends in a green
``check --offline`` with nothing applied twice or skipped.

Today (before ``migrate rebase``): the suggested ``down_revision`` edit led to a bogus
"0002_add_tenant_index was edited" error, ``stamp --to`` recorded the other migration
without running it, and the other offered path ran an upgrade twice.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.support.chain import TeamProject, fresh_table

BASE = """
class ChatRecord(SessionRecord):
    indexes: ClassVar[tuple[GlobalIndex, ...]] = ()
    tenant_id: Annotated[str | None, DynamoAttribute("S", "attribute")] = None
"""

BRANCH_A = BASE.replace(
    "indexes: ClassVar[tuple[GlobalIndex, ...]] = ()",
    "indexes: ClassVar[tuple[GlobalIndex, ...]] = (\n"
    '        GlobalIndex("by_tenant", partition_key="tenant_id", sort_key="updated_at"),\n'
    "    )",
)

COUNT = """
def count_items(view: HistoryView) -> int:
    return view.count
"""

FIELD = (
    '    message_count: Annotated[int | None, DynamoAttribute("N", "derived", '
    "derive=count_items)] = None\n"
)
BRANCH_B = COUNT + BASE + FIELD
MERGED = COUNT + BRANCH_A + FIELD


@pytest.fixture
def team(tmp_path: Path, endpoint: str, monkeypatch: pytest.MonkeyPatch) -> TeamProject:
    return TeamProject(tmp_path, endpoint, monkeypatch)


def _branches(team: TeamProject, tmp_path: Path, production: str, *, apply_b: bool) -> None:
    """Base applied; branch A and branch B each generate from it; B maybe deployed first."""
    team.declare(BASE)
    assert team.new("tenant").exit_code == 0
    assert team.cli("up", table=production).exit_code == 0
    team.seed(production, 4, tenant_id=lambda n: f"t{n % 2}")
    team.declare(BRANCH_A)
    assert team.new("add_tenant_index").exit_code == 0
    aside = tmp_path / "branch_a.py"
    shutil.move(team.folder / "0002_add_tenant_index.py", aside)
    team.declare(BRANCH_B)
    assert team.new("message_stats").exit_code == 0
    if apply_b:
        assert team.cli("up", table=production).exit_code == 0
    shutil.move(aside, team.folder / "0002_add_tenant_index.py")
    team.declare(MERGED)


def _follow(team: TeamProject, message: str, revision: str) -> Any:
    """Run the `migrate rebase` the message offers for `revision`, as written."""
    offered = re.findall(r"migrate rebase (\S+?)`?(?: --migrations-dir (\S+?))?`", message)
    assert revision in [r for r, _ in offered], message
    return team.cli("rebase", revision)


def _applied_once(team: TeamProject, table: str) -> dict[str, int]:
    events = team.applied_events(table)
    counts: dict[str, int] = {}
    for revision, action in events:
        if action == "applying":
            counts[revision] = counts.get(revision, 0) + 1
    return counts


def _same_as_a_fresh_replay(team: TeamProject, production: str) -> None:
    replay = fresh_table()
    assert team.cli("up", table=replay).exit_code == 0
    assert team.indexes(replay) == team.indexes(production)


@pytest.mark.moto_only  # dynalite's UpdateTable does not create indexes
def test_two_heads_message_leads_to_a_rebase_that_regenerates_on_the_new_head(
    team: TeamProject, tmp_path: Path
) -> None:
    production = fresh_table()
    _branches(team, tmp_path, production, apply_b=False)
    for verb in (("check", "--offline"), ("plan",), ("up",)):
        table = None if verb[0] == "check" else production
        stuck = team.cli(*verb, table=table)
        assert stuck.exit_code == 10 and "two heads" in stuck.output, verb
    message = team.check().output
    rebased = _follow(team, message, "0002_message_stats")
    assert rebased.exit_code == 0, rebased.output
    text = (team.folder / "0003_message_stats.py").read_text()
    assert "down_revision = '0002_add_tenant_index'" in text
    # Regenerated on top of A: it adds only B's change, and its snapshot has both.
    assert "AddAttribute('message_count'" in text and "AddIndex" not in text.split("operations")[1]
    assert "'by_tenant'" in text.split("schema_fingerprint")[0]
    assert not (team.folder / "0002_message_stats.py").exists()
    green = team.check()
    assert green.exit_code == 0, green.output

    assert team.cli("up", table=production).exit_code == 0
    assert _applied_once(team, production) == {
        "0001_tenant": 1,
        "0002_add_tenant_index": 1,
        "0003_message_stats": 1,
    }
    assert set(team.indexes(production)) == {"sessions_by_owner", "sessions_by_parent", "by_tenant"}
    assert all(v["message_count"] for v in team.items(production).values())
    _same_as_a_fresh_replay(team, production)
    # Its downgrade removes only its own change: A's index stays while A stays applied.
    assert team.cli("down", table=production).exit_code == 0
    assert "by_tenant" in team.indexes(production)
    assert not any("message_count" in v for v in team.items(production).values())


@pytest.mark.moto_only
def test_when_one_branch_is_already_applied_the_other_is_moved_after_it(
    team: TeamProject, tmp_path: Path
) -> None:
    production = fresh_table()
    _branches(team, tmp_path, production, apply_b=True)
    message = team.check().output
    assert "if 0002_message_stats is the one already applied" in message, message
    rebased = _follow(team, message, "0002_add_tenant_index")
    assert rebased.exit_code == 0, rebased.output
    assert team.check().exit_code == 0
    plan = team.cli("plan", "--json", table=production)
    assert plan.exit_code == 0, plan.output
    steps = [s["revision"] for s in json.loads(plan.stdout)["steps"]]
    assert steps == ["0003_add_tenant_index"]  # nothing skipped, nothing run twice
    assert team.cli("up", table=production).exit_code == 0
    assert _applied_once(team, production) == {
        "0001_tenant": 1,
        "0002_message_stats": 1,
        "0003_add_tenant_index": 1,
    }
    _same_as_a_fresh_replay(team, production)


@pytest.mark.moto_only
def test_a_hand_rechained_migration_is_named_as_such_and_rebase_fixes_it(
    team: TeamProject, tmp_path: Path
) -> None:
    production = fresh_table()
    _branches(team, tmp_path, production, apply_b=False)
    # The old advice: set down_revision by hand. Today that gave "0002_add_tenant_index
    # was edited ... Fix: restore 0002_add_tenant_index", a file nobody edited.
    mine = team.folder / "0002_message_stats.py"
    mine.write_text(
        mine.read_text().replace(
            "down_revision = '0001_tenant'", "down_revision = '0002_add_tenant_index'"
        )
    )
    drift = team.check()
    assert drift.exit_code == 4
    assert "chained after 0002_add_tenant_index by hand" in drift.output
    assert "Fix: restore 0002_add_tenant_index" not in drift.output
    assert _follow(team, drift.output, "0002_message_stats").exit_code == 0
    assert team.check().exit_code == 0
    assert team.cli("up", table=production).exit_code == 0
    assert set(_applied_once(team, production).values()) == {1}


@pytest.mark.moto_only
def test_an_applied_migration_chained_after_the_other_by_hand_is_put_back(
    team: TeamProject, tmp_path: Path
) -> None:
    production = fresh_table()
    _branches(team, tmp_path, production, apply_b=True)
    applied = team.folder / "0002_message_stats.py"
    applied.write_text(
        applied.read_text().replace(
            "down_revision = '0001_tenant'", "down_revision = '0002_add_tenant_index'"
        )
    )
    # Today: `stamp --to` recorded 0002_add_tenant_index without running it, and the
    # `stamp --force` path ran 0002_message_stats a second time.
    refused = team.cli("up", table=production)
    assert refused.exit_code == 6, refused.output
    assert (
        "never ran here" in refused.output and "stamp --to 0002_message_stats" not in refused.output
    )
    assert _follow(team, refused.output, "0002_add_tenant_index").exit_code == 0
    assert team.check().exit_code == 0
    assert team.cli("up", table=production).exit_code == 0
    assert _applied_once(team, production) == {
        "0001_tenant": 1,
        "0002_message_stats": 1,
        "0003_add_tenant_index": 1,
    }
    assert "by_tenant" in team.indexes(production)
