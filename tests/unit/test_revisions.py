"""The revision graph, the ledger analysis, schema fingerprints and the capacity limiter.

Pure logic: no endpoint. Migration files are written to temporary ``versions/``
folders, as alembic's own tests do.
"""

from __future__ import annotations

import copy
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from openai_agents_session import DynamoDBSession, InvalidSessionIdError
from openai_agents_session.migrations import (
    BUILTIN_DIR,
    LEDGER_INDEX_ID,
    LOCK_ID,
    CapacityLimiter,
    IrreversibleMigrationError,
    LedgerEvent,
    LedgerRecord,
    Migration,
    MigrationGraph,
    RevisionGraphError,
    StampRefusedError,
    UnknownRevisionError,
    build_graph,
    checkpoint_id,
    is_reserved,
    ledger_event_id,
    load_migrations,
    schema_fingerprint,
    schema_snapshot,
)
from openai_agents_session.migrations.backfill import BackfillItem, backfill_id
from openai_agents_session.migrations.drift import (
    billing_differences,
    key_differences,
    offline_differences,
    ttl_conflicts,
    ttl_differences,
)
from openai_agents_session.migrations.dynamo import from_attribute, to_attribute
from openai_agents_session.migrations.ledger import analyse, fold
from openai_agents_session.migrations.loader import checksum, load_file
from openai_agents_session.migrations.planning import plan_down, plan_stamp, plan_up
from openai_agents_session.models.schema import RESERVED_PREFIX, SCHEMA
from openai_agents_session.models.table import create_table_request
from tests.support.migrations import BUILTIN_HEAD, BUILTINS, write_migration


async def _noop(ctx: Any) -> None:
    return None


def m(revision: str, parent: str | None, *, builtin: bool = False) -> Migration:
    return Migration(
        revision=revision,
        down_revision=parent,
        description=revision,
        upgrade=_noop,
        checksum=f"sum-{revision}",
        builtin=builtin,
    )


# ---------------------------------------------------------------- graph


def test_chain_is_ordered_by_parents_not_by_input_order() -> None:
    graph = build_graph([m("0003_c", "0002_b"), m("0001_a", None), m("0002_b", "0001_a")])
    assert graph.revisions == ["0001_a", "0002_b", "0003_c"]
    assert graph.head.revision == "0003_c"
    assert graph.index("head") == 2
    assert [x.revision for x in graph.upto("0002_b")] == ["0001_a", "0002_b"]


def test_gap_is_rejected() -> None:
    with pytest.raises(RevisionGraphError, match=r"gap: '0003_c' follows '0002_b'"):
        build_graph([m("0001_a", None), m("0003_c", "0002_b")])


def test_two_heads_are_rejected() -> None:
    with pytest.raises(RevisionGraphError, match=r"two heads: 0002_b and 0002_x both follow"):
        build_graph([m("0001_a", None), m("0002_b", "0001_a"), m("0002_x", "0001_a")])


def test_cycle_is_rejected() -> None:
    with pytest.raises(RevisionGraphError, match=r"cycle: (0003_c -> 0004_d -> 0003_c|0004_d)"):
        build_graph(
            [m("0001_a", None), m("0002_b", "0001_a"), m("0003_c", "0004_d"), m("0004_d", "0003_c")]
        )


def test_cycle_without_any_root_is_rejected() -> None:
    with pytest.raises(RevisionGraphError, match="cycle"):
        build_graph([m("0001_a", "0002_b"), m("0002_b", "0001_a")])


def test_two_roots_and_duplicates_are_rejected() -> None:
    with pytest.raises(RevisionGraphError, match="more than one first migration"):
        build_graph([m("0001_a", None), m("0001_z", None)])
    with pytest.raises(RevisionGraphError, match="defined twice"):
        build_graph([m("0001_a", None), m("0001_a", None)])


def test_unknown_revision_is_a_usage_error() -> None:
    graph = build_graph([m("0001_a", None)])
    with pytest.raises(UnknownRevisionError, match=r"unknown revision 'nope'.*0001_a"):
        graph.index("nope")


def test_builtin_chain_and_team_folder(tmp_path: Path) -> None:
    builtin = load_migrations()
    assert builtin.revisions == BUILTINS
    assert all(x.builtin for x in builtin.chain)
    # Only the catalog's and the lineage's indexes can be taken back (dropping
    # an index loses no data), and the turn lease's record, which changes nothing.
    assert [x.revision for x in builtin.chain if x.reversible] == [
        "0005_session_catalog",
        "0006_fork_lineage",
        "0007_turn_lease",
    ]
    write_migration(tmp_path, "0001_team", None)
    write_migration(tmp_path, "0002_more", "0001_team")
    (tmp_path / "_helpers.py").write_text("raise RuntimeError('only imported on demand')\n")
    graph = load_migrations(tmp_path)
    assert graph.revisions == [*builtin.revisions, "0001_team", "0002_more"]
    assert graph.builtin_head.revision == BUILTIN_HEAD
    assert graph.team_head is not None and graph.team_head.revision == "0002_more"
    assert graph.get("0001_team").chain == "team"


def test_a_team_chain_written_after_a_builtin_revision_is_independent(tmp_path: Path) -> None:
    # Files from before the chains were separate name a built-in parent: they still load,
    # and a later built-in migration (a new library release) cannot make two heads.
    write_migration(tmp_path, "0003_team", "0001_create_table")
    write_migration(tmp_path, "0004_more", "0003_team")
    graph = load_migrations(tmp_path)
    first = graph.get("0003_team")
    assert (first.down_revision, first.depends_on) == (None, "0001_create_table")
    assert [m.revision for m in graph.team] == ["0003_team", "0004_more"]


def test_two_team_roots_are_rejected(tmp_path: Path) -> None:
    write_migration(tmp_path, "0001_team", None)
    write_migration(tmp_path, "0002_other", None)
    with pytest.raises(RevisionGraphError, match="more than one first migration"):
        load_migrations(tmp_path)


@pytest.mark.parametrize(
    ("name", "suggestion"),
    [
        ("0004_add-roles.py", "0004_add_roles.py"),
        ("4_short.py", "0004_short.py"),
        ("0005_Upper.py", "0005_upper.py"),
        ("helpers.py", "_helpers.py"),
    ],
)
def test_misnamed_python_files_are_errors(tmp_path: Path, name: str, suggestion: str) -> None:
    write_migration(tmp_path, "0001_team", None)
    (tmp_path / name).write_text("revision = 'x'\n")
    with pytest.raises(RevisionGraphError, match="is not named like a migration") as caught:
        load_migrations(tmp_path)
    assert name in str(caught.value) and suggestion in str(caught.value)


def test_migrations_import_helper_modules_from_their_folder(tmp_path: Path) -> None:
    (tmp_path / "_shared.py").write_text("DESCRIPTION = 'from a helper'\n")
    write_migration(
        tmp_path,
        "0001_team",
        None,
        "from ._shared import DESCRIPTION\n\n"
        "async def upgrade(ctx):\n    ctx.note('d', DESCRIPTION)\n",
    )
    graph = load_migrations(tmp_path)
    assert graph.get("0001_team").revision == "0001_team"


@pytest.mark.parametrize(
    ("source", "problem"),
    [
        ("revision = 'other'\ndown_revision = None\nasync def upgrade(ctx): pass\n", "must equal"),
        ("revision = '0009_x'\nasync def upgrade(ctx): pass\n", "no `down_revision`"),
        ("revision = '0009_x'\ndown_revision = None\n", "no `async def upgrade"),
        ("revision = '0009_x'\ndown_revision = None\ndef upgrade(ctx): pass\n", "async def"),
        ("raise ValueError('boom')\n", "raised ValueError on import: boom"),
        ("revision = '0009_x'\ndown_revision = 3\nasync def upgrade(ctx): pass\n", "str or None"),
    ],
)
def test_malformed_files_are_rejected(tmp_path: Path, source: str, problem: str) -> None:
    path = tmp_path / "0009_x.py"
    path.write_text(source)
    with pytest.raises(RevisionGraphError, match=problem):
        load_file(path)


def test_missing_team_folder_is_reported(tmp_path: Path) -> None:
    with pytest.raises(RevisionGraphError, match="does not exist"):
        load_migrations(tmp_path / "nope")


def test_checksum_is_of_the_bytes_with_line_endings_normalised(tmp_path: Path) -> None:
    unix = write_migration(tmp_path / "a", "0003_team", BUILTIN_HEAD)
    windows = tmp_path / "b" / "0003_team.py"
    windows.parent.mkdir()
    windows.write_bytes(unix.read_bytes().replace(b"\n", b"\r\n"))
    assert load_file(unix).checksum == load_file(windows).checksum
    unix.write_text(unix.read_text() + "# edited\n")
    assert load_file(unix).checksum != load_file(windows).checksum
    assert load_file(unix).checksum == checksum(unix.read_bytes())


# ---------------------------------------------------------------- schema fingerprint


def test_head_builtin_records_the_current_schema() -> None:
    head = load_migrations().get(BUILTIN_HEAD)
    assert head.schema_snapshot == schema_snapshot()
    assert head.schema_fingerprint == schema_fingerprint()
    assert offline_differences(load_migrations()) == []


def test_a_schema_change_without_a_migration_is_drift() -> None:
    changed = copy.deepcopy(schema_snapshot())
    changed["ttl"]["AttributeName"] = "expires_at"
    changed["create_table"]["KeySchema"][0]["KeyType"] = "RANGE"
    problems = offline_differences(load_migrations(), changed)
    text = "\n".join(problems)
    assert f"ttl.AttributeName: migration {BUILTIN_HEAD} recorded 'ttl'" in text
    assert "now declares 'expires_at'" in text
    assert f"create_table.KeySchema[{SCHEMA.partition_key}].KeyType" in text
    assert "add a migration" in problems[-1]


def test_a_hand_edited_fingerprint_is_reported(tmp_path: Path) -> None:
    body = (
        f"schema_snapshot = {schema_snapshot()!r}\n"
        "schema_fingerprint = 'deadbeef'\n"
        "async def upgrade(ctx):\n    pass\n"
    )
    write_migration(tmp_path, "0003_team", BUILTIN_HEAD, body)
    problems = offline_differences(load_migrations(tmp_path))
    assert problems == [
        "migration 0003_team: schema_fingerprint does not match its own schema_snapshot "
        "(the file was edited by hand)."
    ]


def test_live_comparisons_say_what_differs() -> None:
    good = dict(create_table_request("t"))
    assert key_differences(good) == []
    wrong = {
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
    }
    assert key_differences(wrong) == [
        f"key schema: expected {SCHEMA.partition_key} (HASH), found pk (HASH)"
    ]
    numeric = {
        "KeySchema": good["KeySchema"],
        "AttributeDefinitions": [{"AttributeName": SCHEMA.partition_key, "AttributeType": "N"}],
    }
    assert key_differences(numeric) == [
        f"attribute definition {SCHEMA.partition_key}: expected type S, found N"
    ]
    (disabled,) = ttl_differences({"TimeToLiveStatus": "DISABLED"}, "t1")
    assert disabled.startswith(f"TTL: expected ENABLED on attribute {SCHEMA.ttl!r}, found DISABLED")
    assert "aws dynamodb update-time-to-live --table-name t1" in disabled
    (other,) = ttl_conflicts({"TimeToLiveStatus": "ENABLED", "AttributeName": "expires_at"})
    assert "found ENABLED on 'expires_at'" in other and "Enabled=false" in other
    assert ttl_differences({"TimeToLiveStatus": "ENABLED", "AttributeName": SCHEMA.ttl}) == []
    assert billing_differences({}, "PAY_PER_REQUEST") == [
        "billing mode: expected PAY_PER_REQUEST, found PROVISIONED"
    ]


# ---------------------------------------------------------------- ledger analysis


def event(migration: Migration, action: str, seq: int, **changes: Any) -> LedgerEvent:
    return LedgerEvent.of(
        migration,
        action,  # type: ignore[arg-type]
        by="me@host pid 1",
        attempt=changes.pop("attempt", f"a{seq}"),
        seq=seq,
        **changes,
    )


def record(migration: Migration, action: str = "applied", **changes: Any) -> LedgerRecord:
    return fold([event(migration, action, 1, **changes)])[migration.revision]


CHAIN = [m("0001_a", None), m("0002_b", "0001_a"), m("0003_c", "0002_b")]
GRAPH = build_graph(CHAIN)


def test_clean_ledger() -> None:
    state = analyse(GRAPH, {"0001_a": record(CHAIN[0]), "0002_b": record(CHAIN[1], "adopted")})
    assert state.problems == ()
    assert state.head == "0002_b"
    assert [x.revision for x in state.pending] == ["0003_c"]
    assert not state.interrupted and state.reverting is None


def test_edited_applied_migration_is_dirty() -> None:
    state = analyse(GRAPH, {"0001_a": record(CHAIN[0], checksum="old")})
    assert len(state.problems) == 1
    assert "0001_a was edited after it was applied" in state.problems[0]
    assert "migrate stamp --to 0001_a" in state.problems[0]


def test_failed_missing_and_hole_records_are_dirty() -> None:
    failed = analyse(GRAPH, {"0001_a": record(CHAIN[0], "failed", error="Boom")})
    assert "0001_a failed" in failed.problems[0] and "Boom" in failed.problems[0]
    gone = analyse(GRAPH, {"0001_a": record(CHAIN[0]), "0009_z": record(m("0009_z", "0003_c"))})
    assert "0009_z is in the ledger" in gone.problems[0] and "file is missing" in gone.problems[0]
    # An applied migration renumbered by `migrate rebase`: name what happened, not "missing".
    moved = analyse(GRAPH, {"0001_a": record(CHAIN[0]), "0002_c": record(m("0002_c", "0001_a"))})
    assert "0002_c is in the ledger (applied) but its file is now 0003_c" in moved.problems[0]
    assert "rebase the migration this table has not applied" in moved.problems[0]
    hole = analyse(GRAPH, {"0001_a": record(CHAIN[0]), "0003_c": record(CHAIN[2])})
    # 0002_b never ran here: a migration from another branch chained before an applied
    # one. Stamping would skip it, unstamping would run 0003_c twice: move it instead.
    assert "0003_c is applied but 0002_b, before it in the files, never ran" in hole.problems[0]
    assert "migrate rebase 0002_b" in hole.problems[0] and "stamp" not in hole.problems[0]


def test_running_record_is_an_interruption_to_resume_not_dirt() -> None:
    state = analyse(GRAPH, {"0001_a": record(CHAIN[0]), "0002_b": record(CHAIN[1], "applying")})
    assert state.problems == ()
    assert state.interrupted["team"].revision == "0002_b"
    assert [x.revision for x in state.pending] == ["0002_b", "0003_c"]


def test_an_unfinished_rollback_is_dirty_until_down_runs_again() -> None:
    events = [
        event(CHAIN[0], "applied", 1),
        event(CHAIN[1], "applied", 2),
        event(CHAIN[1], "reverting", 3, details={"target": "0001_a"}),
    ]
    state = analyse(GRAPH, fold(events))
    assert state.reverting is not None and state.reverting.revision == "0002_b"
    assert "rerun `openai-agents-session migrate down --to 0001_a`" in state.problems[0]
    events.append(event(CHAIN[1], "reverted", 4))
    state = analyse(GRAPH, fold(events))
    assert state.problems == () and state.head == "0001_a"


def test_the_fold_keeps_each_migrations_latest_event_and_its_start() -> None:
    events = [
        event(CHAIN[0], "applying", 1, attempt="x"),
        event(CHAIN[0], "applied", 2, attempt="x", duration=2.5),
        event(CHAIN[1], "stamped", 3),
        event(CHAIN[1], "unstamped", 4),
    ]
    records = fold(events)
    assert list(records) == ["0001_a"]
    assert records["0001_a"].status == "applied"
    assert records["0001_a"].started_at == events[0].at
    assert records["0001_a"].duration == 2.5


def test_ledger_event_round_trips_through_dynamodb_attributes() -> None:
    original = event(CHAIN[1], "applied", 7, details={"backfills": [{"changed": 3}]}, duration=1.25)
    original = original.chained(7, "0" * 64)
    item = original.to_item()
    assert item[SCHEMA.partition_key] == {"S": ledger_event_id(7)}
    assert SCHEMA.payload not in item  # ledger items carry no conversation
    assert LedgerEvent.from_item(item) == original
    assert original.digest("0" * 64) == original.hash
    edited = LedgerEvent.from_item({**item, "duration": {"N": "9"}})
    assert edited.digest("0" * 64) != edited.hash


# ---------------------------------------------------------------- planning (pure)


def team_graph(tmp_path: Path, *, reversible: bool = True) -> MigrationGraph:
    body = "async def upgrade(ctx):\n    pass\n"
    if reversible:
        body += "\nasync def downgrade(ctx):\n    pass\n"
    write_migration(tmp_path, "0001_team", None, body)
    write_migration(tmp_path, "0002_more", "0001_team", body)
    return load_migrations(tmp_path)


def applied_records(graph: MigrationGraph, upto: int) -> dict[str, LedgerRecord]:
    return fold([event(x, "applied", n + 1) for n, x in enumerate(graph.chain[:upto])])


def test_up_plans_the_builtin_chain_then_the_team_chain(tmp_path: Path) -> None:
    graph = team_graph(tmp_path)
    builtins = len(graph.builtin)
    state = analyse(graph, applied_records(graph, builtins - 1))
    steps = plan_up(graph, state, to=None, table_exists=True)
    assert [(s.revision, s.action) for s in steps] == [
        (BUILTIN_HEAD, "apply"),
        ("0001_team", "apply"),
        ("0002_more", "apply"),
    ]
    assert [s.revision for s in plan_up(graph, state, to=BUILTIN_HEAD, table_exists=True)] == [
        BUILTIN_HEAD
    ]
    fresh = plan_up(graph, analyse(graph, {}), to="0001_team", table_exists=False)
    assert fresh[0].action == "create" and fresh[-1].revision == "0001_team"


def test_a_new_builtin_release_applies_before_pending_team_work(tmp_path: Path) -> None:
    graph = team_graph(tmp_path)
    records = applied_records(graph, len(graph.builtin) - 1)
    records.update(fold([event(graph.get("0001_team"), "applied", 50)]))
    state = analyse(graph, records)
    assert state.problems == ()  # the chains are independent: no hole
    steps = plan_up(graph, state, to=None, table_exists=True)
    assert [s.revision for s in steps] == [BUILTIN_HEAD, "0002_more"]


def test_stamp_refuses_to_unrecord_without_force(tmp_path: Path) -> None:
    graph = team_graph(tmp_path)
    records = applied_records(graph, len(graph.chain))
    with pytest.raises(StampRefusedError, match=r"0002_more past 0001_team.*--force"):
        plan_stamp(graph, records, to="0001_team", force=False)
    forced = plan_stamp(graph, records, to="0001_team", force=True)
    assert forced.unstamp == ["0002_more"] and forced.stamp == []
    # A bare stamp adopts the built-in chain and leaves the team chain alone.
    bare = plan_stamp(graph, records, to=None, force=False)
    assert bare.target == BUILTIN_HEAD and bare.unstamp == [] and bare.stamp == []


def test_down_plans_newest_first_and_refuses_irreversible(tmp_path: Path) -> None:
    graph = team_graph(tmp_path)
    state = analyse(graph, applied_records(graph, len(graph.chain)))
    one = plan_down(graph, state, to=None)
    assert [s.revision for s in one.steps] == ["0002_more"] and one.target == "0001_team"
    with pytest.raises(IrreversibleMigrationError, match="0004_item_schema_version"):
        plan_down(graph, state, to="0001_create_table")
    other = team_graph(tmp_path / "irreversible", reversible=False)
    state = analyse(other, applied_records(other, len(other.chain)))
    with pytest.raises(IrreversibleMigrationError, match="0002_more"):
        plan_down(other, state, to=None)


# ---------------------------------------------------------------- reserved keys


def test_reserved_keys_share_the_prefix_and_sessions_refuse_them() -> None:
    reserved = [LOCK_ID, LEDGER_INDEX_ID, ledger_event_id(1), checkpoint_id("x", 3)]
    for item_id in reserved:
        assert item_id.startswith(RESERVED_PREFIX) and is_reserved(item_id)
        with pytest.raises(InvalidSessionIdError, match="reserved"):
            DynamoDBSession(item_id, object(), "agent_sessions")  # type: ignore[arg-type]
    assert ledger_event_id(12) == "__oas__#ledger#event#00000012"
    assert LOCK_ID == "__oas__#lock"
    for ordinary in ["user#1", "tenant/42/x", "SESSION#meta", "0", "__oas__", "__OAS__#x"]:
        assert not is_reserved(ordinary)
        DynamoDBSession(ordinary, object(), "agent_sessions")  # type: ignore[arg-type]


def test_attribute_values_round_trip() -> None:
    value = {
        "s": "x",
        "n": Decimal("1.5"),
        "i": 3,
        "f": 0.25,
        "b": True,
        "none": None,
        "list": [1, "a"],
        "ss": frozenset({"a", "b"}),
        "ns": frozenset({1, 2}),
    }
    encoded = to_attribute(value)
    assert encoded["M"]["f"] == {"N": "0.25"}
    assert encoded["M"]["ss"] == {"SS": ["a", "b"]}
    decoded = from_attribute(encoded)
    assert decoded["n"] == Decimal("1.5") and decoded["i"] == Decimal(3)
    assert decoded["ns"] == frozenset({Decimal(1), Decimal(2)})
    for bad in (float("nan"), object(), set()):
        with pytest.raises(TypeError):
            to_attribute(bad)


# Every ledger in the field records these checksums: editing a built-in file would
# make all of them dirty. A schema change ships as a new migration instead.
FROZEN = {
    "0001_create_table": "b56cdca75f1f6ff0ae06fcbed7c5e6374e86b1af9213ee62c03f60eaa0209144",
    "0002_enable_ttl": "8f05e20dd03bca749937d914986852128e00a7e74ffb627c1dc88fc787217c35",
    "0003_history_pages": "09311704a7e0613aaff5649f6e70a821d8ca133afd3d70f7fe2a329c6dbdad9e",
    "0004_item_schema_version": "ae24eefc39fad17ab45986bf3f0596d739160aa041e57581b07418444a78ae6e",
    "0005_session_catalog": "93eab71089ad8c89534a48386e38d13a2bbdb61249f5037c8b472c3e80bb886a",
    "0006_fork_lineage": "fe61977c03a4305acaea540f12748daedf8e36dcb82cef8a9e0702b5493bf59b",
    "0007_turn_lease": "0437755580a6d3b3752d682cdeaddd4572ae4eb51b2fe63727ecf1c8c669bdac",
}


def test_builtin_migrations_are_frozen() -> None:
    assert {x.revision: x.checksum for x in load_migrations().chain} == FROZEN


def test_builtin_versions_folder_is_inside_the_package() -> None:
    assert BUILTIN_DIR.name == "versions"
    assert sorted(p.name for p in BUILTIN_DIR.glob("0*.py")) == [
        "0001_create_table.py",
        "0002_enable_ttl.py",
        "0003_history_pages.py",
        "0004_item_schema_version.py",
        "0005_session_catalog.py",
        "0006_fork_lineage.py",
        "0007_turn_lease.py",
    ]


# ---------------------------------------------------------------- capacity limiter


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


async def test_capacity_limiter_paces_consumption_to_the_budget() -> None:
    fake = FakeTime()
    limiter = CapacityLimiter(10.0, clock=fake.clock, sleep=fake.sleep)
    for _ in range(50):  # 50 requests of 2 units = 100 units at 10 units/s
        await limiter.wait()
        limiter.spend(2.0)
    # One second of burst is allowed, so the last request starts after 8.x seconds.
    assert 8.0 <= fake.now <= 9.0
    assert limiter.spent == 100.0


async def test_unlimited_capacity_never_waits() -> None:
    fake = FakeTime()
    limiter = CapacityLimiter(None, clock=fake.clock, sleep=fake.sleep)
    for _ in range(100):
        await limiter.wait()
        limiter.spend(50.0)
    assert fake.slept == []


# ---------------------------------------------------------------- backfill ids


def test_backfill_ids_name_the_revision_and_the_direction() -> None:
    assert backfill_id("0005_tenant") == "0005_tenant"
    assert backfill_id("0005_tenant", "second") == "0005_tenant:second"
    assert backfill_id("0005_tenant", "0005_tenant") == "0005_tenant"
    assert backfill_id("0005_tenant", downgrade=True) == "-0005_tenant"
    assert backfill_id("0005_tenant", "second", downgrade=True) == "-0005_tenant:second"
    item = BackfillItem("s", {"session_id": {"S": "s"}, "schema_version": {"SS": ["a", "b"]}})
    assert item.schema_version == frozenset({"a", "b"})
    assert BackfillItem("s", {"session_id": {"S": "s"}}).schema_version == frozenset()
    assert "schema_version" not in item.extra  # declared, so not an "extra" attribute
