"""What each verb would do, decided without a database: steps from the ledger and the files.

The runner reads the table and the ledger, hands the facts to one of these pure
functions, and executes the steps it gets back through one loop; the unit
tests call these directly. A target revision selects a prefix of the order of
application: the built-in chain, then the team's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from .errors import IrreversibleMigrationError, MigrationError, StampRefusedError
from .ledger import DONE, LedgerRecord, LedgerState
from .loader import Migration, MigrationGraph

__all__ = [
    "BASE",
    "DownPlan",
    "PlanStep",
    "StampPlan",
    "StepAction",
    "plan_down",
    "plan_stamp",
    "plan_up",
    "selected",
]

BASE = "base"
"""``--to base``: back before the first migration of the team chain."""

StepAction = Literal["create", "adopt", "apply", "resume", "revert", "stamp", "unstamp"]


@dataclass(frozen=True)
class PlanStep:
    """One step a verb takes.

    Attributes:
        revision: The migration.
        description: What it does.
        action: ``create`` (make the table), ``adopt`` (record without running:
            the table already has it), ``apply``, ``resume`` (continue an
            interrupted run), ``revert`` (run its downgrade), ``stamp`` (record
            as applied without running) or ``unstamp`` (record as not applied).
        chain: ``builtin`` or ``team``.
    """

    revision: str
    description: str
    action: StepAction
    chain: str = "builtin"

    @classmethod
    def of(cls, migration: Migration, action: StepAction) -> PlanStep:
        """The step `action` on `migration`."""
        return cls(migration.revision, migration.description, action, migration.chain)


def selected(graph: MigrationGraph, to: str | None) -> tuple[Migration, ...]:
    """The migrations a target reaches, in order of application.

    None or ``head``: everything. A built-in revision: the built-in chain up to
    it. A team revision: the whole built-in chain, then the team's up to it.
    """
    if to is None or to == "head":
        return graph.chain
    target = graph.get(to)
    chain = graph.of_chain(target.chain)
    upto = chain[: chain.index(target) + 1]
    return upto if target.builtin else (*graph.builtin, *upto)


def plan_up(
    graph: MigrationGraph,
    state: LedgerState,
    *,
    to: str | None,
    table_exists: bool,
    adopt: Sequence[Migration] = (),
) -> list[PlanStep]:
    """The steps of ``up``: create, adopt, then apply or resume what is pending.

    Args:
        graph: The migration files.
        state: The ledger against the files.
        to: Target revision (None for everything).
        table_exists: Whether the table exists.
        adopt: Leading migrations an unledgered table already has (found by
            their ``verify``); recorded as adopted instead of run.
    """
    wanted = {m.revision for m in selected(graph, to)}
    steps: list[PlanStep] = []
    if not table_exists:
        root = graph.builtin[0] if graph.builtin else graph.chain[0]
        steps.append(PlanStep.of(root, "create"))
        todo = [m for m in graph.chain if m is not root]
    else:
        steps += [PlanStep.of(m, "adopt") for m in adopt]
        adopted = {m.revision for m in adopt}
        todo = [m for m in state.pending if m.revision not in adopted]
    interrupted = {r.revision for r in state.interrupted.values()}
    for migration in todo:
        if migration.revision in wanted:
            action: StepAction = "resume" if migration.revision in interrupted else "apply"
            steps.append(PlanStep.of(migration, action))
    return steps


@dataclass(frozen=True)
class DownPlan:
    """What ``down`` reverts.

    Attributes:
        steps: ``revert`` steps, newest first.
        target: The revision the chain is back at afterwards (None: before its first).
    """

    steps: list[PlanStep]
    target: str | None


def plan_down(graph: MigrationGraph, state: LedgerState, *, to: str | None) -> DownPlan:
    """The steps of ``down``: revert the team chain's applied migrations after `to`.

    Without `to`, one step; ``base`` reverts the whole team chain. A rollback
    that did not finish is continued to the target it recorded (or to `to`).

    Raises:
        IrreversibleMigrationError: A migration on the way has no ``downgrade``.
        MigrationError: `to` is not applied, or there is nothing to revert.
    """
    if state.reverting is not None and to is None:
        to = state.reverting.details.get("target") or BASE
    if state.reverting is not None:
        chain = graph.get(state.reverting.revision).chain
    else:
        chain = graph.get(to).chain if to not in (None, BASE) else "team"
    applied = [m for m in state.applied if m.chain == chain]
    if state.reverting is not None:
        applied.append(graph.get(state.reverting.revision))
    if not applied:
        return DownPlan([], None)
    if to is None:
        stop = len(applied) - 2
    elif to == BASE:
        stop = -1
    else:
        positions = [m.revision for m in applied]
        if to not in positions:
            raise MigrationError(
                f"{to} is not applied (head is {applied[-1].revision}); nothing to revert. "
                "Fix: pass an applied revision to --to."
            )
        stop = positions.index(to)
    revert = list(reversed(applied[stop + 1 :]))
    blocked = [m.revision for m in revert if not m.reversible]
    if blocked:
        raise IrreversibleMigrationError(
            f"cannot go down past {', '.join(blocked)}: no downgrade. Nothing was "
            "reverted. Fix: write a new migration that undoes the change instead."
        )
    target = applied[stop].revision if stop >= 0 else None
    return DownPlan([PlanStep.of(m, "revert") for m in revert], target)


@dataclass(frozen=True)
class StampPlan:
    """What ``stamp`` records.

    Attributes:
        target: The revision the ledger ends at afterwards.
        stamp: Migrations to record as applied (missing, failed, interrupted,
            reverting or edited ones), after verifying them.
        kept: Revisions whose records are already correct.
        unstamp: Revisions recorded past the target (``--force`` only).
        steps: The same as steps, in order.
    """

    target: str
    stamp: list[Migration]
    kept: list[str]
    unstamp: list[str]
    steps: list[PlanStep] = field(default_factory=list)


def plan_stamp(
    graph: MigrationGraph,
    records: Mapping[str, LedgerRecord],
    *,
    to: str | None,
    force: bool,
) -> StampPlan:
    """The steps of ``stamp``: make the ledger end at `to`.

    Without `to`, the built-in head (adoption). A built-in target leaves the
    team chain alone, unless `force` (the ledger then ends at that built-in
    revision, team records unstamped). Records past `to` in its chain, or whose
    file is gone, are refused unless `force`, because the next ``up`` would run
    those migrations again.

    Raises:
        StampRefusedError: Records past the target without `force`.
    """
    target = graph.get(to) if to is not None and to != "head" else None
    if target is None:
        target = graph.builtin_head if to is None else graph.head
    reach = selected(graph, target.revision)
    stamp: list[Migration] = []
    kept: list[str] = []
    for migration in reach:
        existing = records.get(migration.revision)
        if existing and existing.status in DONE and existing.checksum == migration.checksum:
            kept.append(migration.revision)
        else:
            stamp.append(migration)
    reached = {m.revision for m in reach}
    beyond = [m.revision for m in graph.of_chain(target.chain) if m.revision not in reached]
    if target.builtin and force:
        # "The ledger ends at a built-in revision": with --force the team chain goes too.
        beyond += [m.revision for m in graph.team]
    orphans = [r for r in records if r not in set(graph.revisions)]
    past = [r for r in [*beyond, *orphans] if r in records]
    if past and not force:
        raise StampRefusedError(
            f"the ledger records {', '.join(past)} past {target.revision}; stamping would "
            "unrecord them and the next `migrate up` would run them again. Nothing was "
            "recorded. Fix: stamp a later revision, or add --force if the table really "
            f"is at {target.revision} (see the change first with --dry-run)."
        )
    steps = [PlanStep.of(m, "stamp") for m in stamp]
    steps += [
        PlanStep(r, records[r].description, "unstamp", records[r].chain) for r in reversed(past)
    ]
    return StampPlan(target.revision, stamp, kept, list(reversed(past)), steps)
