"""Derived attributes that lag their history after a rolling deploy: found, then fixed.

While part of an application still runs an older record, its writes change a
history without recomputing the derived attributes the newer record declares.
Such a write withdraws the derived backfill's claim from the item's
``schema_version`` (`models.team.vouched`), so the claim never covers a stale
value. `stale_sample` (``check --live``) recomputes the claimed attributes of a
bounded sample of sessions; `reconcile` (``up --reconcile``) runs each applied
derived backfill again, under the lock: it skips the items that still carry its
claim and brings the others back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import SessionStoreError
from ..models.schema import PAGE_SCHEMA, SCHEMA, SessionRecord, schema_of
from ..models.team import claimed_derivations
from .autogen import derived_backfill, import_record
from .backfill import BackfillItem
from .dynamo import aws_errors
from .errors import RevisionGraphError
from .keys import is_reserved
from .ledger import DONE, LedgerRecord

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient

    from .context import MigrationContext
    from .loader import Migration

__all__ = [
    "DerivedClaim",
    "applied_claims",
    "reconcile",
    "stale_line",
    "stale_sample",
    "team_record",
]

SAMPLE = 100
"""Session items `stale_sample` reads at most (one Scan page)."""

_PAGE_OF = next(n for n, spec in PAGE_SCHEMA.attributes.items() if spec.role == "page_of")


@dataclass(frozen=True)
class DerivedClaim:
    """One applied derived backfill, as the ledger recorded it.

    Attributes:
        revision: The migration that ran it.
        name: Its name within the migration (None: the migration's only backfill).
        claim: The ``schema_version`` entry it writes.
        derives: The derived attributes it vouches for.
    """

    revision: str
    name: str | None
    claim: str
    derives: frozenset[str]


def applied_claims(records: Mapping[str, LedgerRecord]) -> list[DerivedClaim]:
    """The derived backfills of the migrations the ledger records as done."""
    found: list[DerivedClaim] = []
    for record in records.values():
        if record.status not in DONE:
            continue
        for backfill in record.details.get("backfills") or []:
            claim = str(backfill.get("id") or "") if isinstance(backfill, Mapping) else ""
            derives = claimed_derivations(claim)
            if derives and not claim.startswith("-"):
                base = claim[: claim.rindex("[")]
                name = base.split(":", 1)[1] if ":" in base else None
                found.append(DerivedClaim(record.revision, name, claim, derives))
    return found


def team_record(applied: Sequence[Migration]) -> type[SessionRecord] | None:
    """The record the newest applied team snapshot names, if any."""
    for migration in reversed(applied):
        snapshot = migration.schema_snapshot
        if not migration.builtin and isinstance(snapshot, Mapping) and snapshot.get("record"):
            return import_record(str(snapshot["record"]))
    return None


def _checkable(record: type[SessionRecord], claims: Sequence[DerivedClaim]) -> list[str]:
    # A claim on an attribute the record no longer derives was withdrawn by the
    # migration that removed it: nothing to recompute.
    derived = schema_of(record).derived
    return sorted({n for c in claims for n in c.derives if n in derived})


async def stale_sample(
    client: DynamoDBClient,
    table_name: str,
    record: type[SessionRecord],
    claims: Sequence[DerivedClaim],
    *,
    limit: int = SAMPLE,
) -> tuple[int, list[str]]:
    """Recompute the claimed derived attributes of up to `limit` sessions.

    Returns:
        How many sessions were compared, and the ids of those whose stored values
        differ from what their history gives.
    """
    names = _checkable(record, claims)
    if not names:
        return 0, []
    decide = derived_backfill(record, names)
    with aws_errors("sample the sessions", table_name):
        page = await client.scan(TableName=table_name, Limit=limit)
    compared = 0
    stale: list[str] = []
    for raw in page.get("Items", []):
        session_id = raw.get(SCHEMA.partition_key, {}).get("S")
        if session_id is None or is_reserved(session_id) or _PAGE_OF in raw:
            continue
        try:
            changes = decide(BackfillItem(session_id, raw))
        except SessionStoreError:
            continue  # a corrupt head: reading it reports that; it is not compared here
        compared += 1
        if changes:
            stale.append(session_id)
    return compared, stale


def stale_line(compared: int, stale: Sequence[str]) -> str:
    """The drift line of a `stale_sample` that found stale sessions."""
    shown = ", ".join(repr(s) for s in stale[:3])
    return (
        f"derived attributes of {len(stale)} of {compared} sampled sessions do not match "
        f"their history (e.g. {shown}): written by an instance still on an older record "
        "during a rolling deploy. Fix: `openai-agents-session migrate up --reconcile` once "
        "every instance runs the new record."
    )


async def reconcile(
    contexts: Mapping[str, MigrationContext],
    record: type[SessionRecord],
    claims: Sequence[DerivedClaim],
) -> dict[str, list[dict[str, Any]]]:
    """Run each applied derived backfill again; its counts by revision.

    Args:
        contexts: A context (holding the lock's fence) per claimed revision.
        record: The team's record: its ``derive`` functions are the writers'.
        claims: From `applied_claims`.
    """
    derived = schema_of(record).derived
    done: dict[str, list[dict[str, Any]]] = {}
    for claim in claims:
        if not claim.derives <= derived.keys():
            continue
        ctx = contexts[claim.revision]
        try:
            fn = derived_backfill(record, sorted(claim.derives))
        except RevisionGraphError:  # pragma: no cover - filtered just above
            continue
        result = await ctx.backfill(fn, name=claim.name)
        done.setdefault(claim.revision, []).append(result.to_dict())
    return done
