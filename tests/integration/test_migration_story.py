"""Issue 18's long story: eight schema edits over months, as a team makes them.

Add, rename, retype, re-derive, index add and remove, and a two-branch merge. After
each step, ``check --offline`` is green, ``up`` applies, ``down`` reverses and ``up``
applies again, and a fresh table (a per-PR environment) replays the whole committed
chain to the same indexes as production. At the end the production sessions hold every
value each step promised.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.support.chain import TeamProject, fresh_table

FUNCTIONS = """
def count_items(view: HistoryView) -> int:
    return view.count


def count_user_items(view: HistoryView) -> int:
    return sum(1 for item in view.items if item.get("role") == "user")


def last_role_of(view: HistoryView) -> str | None:
    return view.items[-1].get("role") if view.items else None
"""


def record(*fields: str, indexes: tuple[str, ...] = ()) -> str:
    """The record module with these field lines and index declarations."""
    index_lines = "".join(f"        {i},\n" for i in indexes)
    return (
        FUNCTIONS
        + "\n\nclass ChatRecord(SessionRecord):\n"
        + f"    indexes: ClassVar[tuple[GlobalIndex, ...]] = (\n{index_lines}    )\n"
        + "".join(f"    {f}\n" for f in fields)
    )


TENANT_ID = 'tenant_id: Annotated[str | None, DynamoAttribute("S", "attribute")] = None'
TENANT = 'tenant: Annotated[str | None, DynamoAttribute("S", "attribute")] = None'
SCORE_N = 'score: Annotated[int | None, DynamoAttribute("N", "attribute")] = None'
SCORE_S = 'score: Annotated[str | None, DynamoAttribute("S", "attribute")] = None'
COUNT = (
    'message_count: Annotated[int | None, DynamoAttribute("N", "derived", '
    "derive=count_items)] = None"
)
USER_COUNT = COUNT.replace("derive=count_items", "derive=count_user_items")
LAST_ROLE = (
    'last_role: Annotated[str | None, DynamoAttribute("S", "derived", derive=last_role_of)] = None'
)
PLAN = 'plan: Annotated[str | None, DynamoAttribute("S", "attribute")] = "free"'
BY_TENANT_ID = 'GlobalIndex("by_tenant", partition_key="tenant_id", sort_key="updated_at")'
BY_TENANT = 'GlobalIndex("by_tenant", partition_key="tenant", sort_key="updated_at")'
BY_COUNT = 'GlobalIndex("by_count", partition_key="message_count")'


@pytest.mark.moto_only  # dynalite's UpdateTable does not create indexes
def test_eight_schema_edits_replay_and_reverse_at_every_step(
    tmp_path: Path, endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    team = TeamProject(tmp_path, endpoint, monkeypatch)
    production = fresh_table()

    def step(source: str, slug: str, *flags: str) -> None:
        team.declare(source)
        written = team.new(slug, *flags)
        assert written.exit_code == 0, (slug, written.output)
        settle(slug)

    def settle(slug: str) -> None:
        checked = team.check()
        assert checked.exit_code == 0, (slug, checked.output)
        before = team.indexes(production)
        assert team.cli("up", table=production).exit_code == 0, slug
        after = team.indexes(production)
        reverted = team.cli("down", table=production)
        assert reverted.exit_code == 0, (slug, reverted.output)
        assert team.indexes(production) == before, slug
        assert team.cli("up", table=production).exit_code == 0, slug
        assert team.indexes(production) == after, slug
        replay = fresh_table()
        replayed = team.cli("up", table=replay)
        assert replayed.exit_code == 0, (slug, replayed.output)
        assert team.indexes(replay) == after, slug

    assert team.cli("up", table=production, folder=False).exit_code == 0  # the built-ins
    # 1. add: a tenant, a score, an index by tenant.
    step(record(TENANT_ID, SCORE_N, indexes=(BY_TENANT_ID,)), "tenant_and_score")
    team.seed(production, 4, tenant_id=lambda n: f"acme-{n}", score=lambda n: n * 10)
    # 2. add a derived attribute: existing sessions are backfilled.
    step(record(TENANT_ID, SCORE_N, COUNT, indexes=(BY_TENANT_ID,)), "message_count")
    # 3. rename tenant_id -> tenant (the index follows it).
    rename = record(TENANT, SCORE_N, COUNT, indexes=(BY_TENANT,))
    team.declare(rename)
    assert team.new("rename_tenant").exit_code == 10  # refused without a hint
    step(rename, "rename_tenant", "--rename", "tenant_id=tenant")
    # 4. retype score N -> S.
    step(record(TENANT, SCORE_S, COUNT, indexes=(BY_TENANT,)), "score_text")
    # 5. re-derive message_count with another function.
    step(record(TENANT, SCORE_S, USER_COUNT, indexes=(BY_TENANT,)), "count_user_items")
    # 6. and 7. an index added, then removed.
    step(record(TENANT, SCORE_S, USER_COUNT, indexes=(BY_TENANT, BY_COUNT)), "by_count")
    step(record(TENANT, SCORE_S, USER_COUNT, indexes=(BY_TENANT,)), "drop_by_count")
    # 8. two branches from the same head, merged: one rebased after the other.
    team.declare(record(TENANT, SCORE_S, USER_COUNT, LAST_ROLE, indexes=(BY_TENANT,)))
    assert team.new("last_role").exit_code == 0
    aside = tmp_path / "branch.py"
    shutil.move(team.folder / "0008_last_role.py", aside)
    team.declare(record(TENANT, SCORE_S, USER_COUNT, PLAN, indexes=(BY_TENANT,)))
    assert team.new("plan").exit_code == 0
    shutil.move(aside, team.folder / "0008_last_role.py")
    team.declare(record(TENANT, SCORE_S, USER_COUNT, LAST_ROLE, PLAN, indexes=(BY_TENANT,)))
    assert team.check().exit_code == 10
    assert team.cli("rebase", "0008_plan").exit_code == 0
    settle("merge")

    items = team.items(production)
    assert {k: v["tenant"]["S"] for k, v in items.items()} == {
        f"s-{n}": f"acme-{n}" for n in range(4)
    }
    assert not any("tenant_id" in v for v in items.values())
    assert {k: v["score"] for k, v in items.items()} == {
        f"s-{n}": {"S": str(n * 10)} for n in range(4)
    }
    assert {k: v["message_count"]["N"] for k, v in items.items()} == {
        f"s-{n}": str(n % 4 + 1) for n in range(4)
    }
    assert all(v["last_role"] == {"S": "user"} for v in items.values())
    assert all(v["plan"] == {"S": "free"} for v in items.values())
    assert set(team.indexes(production)) == {"sessions_by_owner", "sessions_by_parent", "by_tenant"}
