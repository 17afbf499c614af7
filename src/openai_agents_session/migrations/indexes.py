"""The global secondary indexes the ledger says a table has, against the live table.

Each migration that records a schema snapshot says which indexes the table has
after it: the built-in chain in ``create_table.GlobalSecondaryIndexes``, a team
chain in ``indexes``. `expected_indexes` reads them from the migrations the
ledger records as done; `index_differences` compares them with DescribeTable
(name, key attributes and types, projection), so an index deleted or recreated
by hand in the console is drift; `IndexRepair` is what ``up --repair`` does about
it: create a missing index, or delete one with another shape and create it again.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .context import MigrationContext
    from .loader import Migration

__all__ = [
    "IndexSpec",
    "drifted_revisions",
    "expected_indexes",
    "index_differences",
    "live_indexes",
    "repair_indexes",
]

REPAIR_COMMAND = "openai-agents-session migrate up --repair"
_UNKNOWN = "?"


@dataclass(frozen=True)
class IndexSpec:
    """One global secondary index as a migration declares it.

    Attributes:
        name: The index name.
        keys: ``(attribute, "HASH" | "RANGE")`` in key order.
        types: ``(attribute, "S" | "N" | "B")`` of each key attribute.
        projection: ``"ALL"``, ``"KEYS_ONLY"`` or ``"INCLUDE"``.
        non_key: The projected non-key attributes of an ``INCLUDE``, sorted.
        revision: The migration that declared the index with this shape.
    """

    name: str
    keys: tuple[tuple[str, str], ...]
    types: tuple[tuple[str, str], ...]
    projection: str
    non_key: tuple[str, ...]
    revision: str

    def shape(self) -> tuple[Any, ...]:
        """What a live index must match (everything but the declaring revision)."""
        return (self.keys, self.types, self.projection, self.non_key)

    def matches(self, live: IndexSpec) -> bool:
        """Whether `live` (read from DescribeTable) is this index.

        A key attribute whose type the table does not list counts as matching:
        moto drops earlier AttributeDefinitions when UpdateTable adds an index
        (DynamoDB lists every key attribute's type).
        """
        types = dict(self.types)
        return (live.keys, live.projection, live.non_key) == (
            self.keys,
            self.projection,
            self.non_key,
        ) and all(kind in (_UNKNOWN, types.get(name)) for name, kind in live.types)

    def describe(self) -> str:
        """``key owner (HASH, S), updated_at (RANGE, N), projection INCLUDE [...]``."""
        types = dict(self.types)
        keys = ", ".join(f"{a} ({kind}, {types.get(a, _UNKNOWN)})" for a, kind in self.keys)
        extra = f" {list(self.non_key)}" if self.projection == "INCLUDE" else ""
        return f"key {keys}, projection {self.projection}{extra}"


def _projection(value: Any) -> tuple[str, tuple[str, ...]]:
    if isinstance(value, Mapping):
        kind = str(value.get("ProjectionType", "ALL"))
        return kind, tuple(sorted(str(a) for a in value.get("NonKeyAttributes", [])))
    if isinstance(value, (list, tuple)):
        return "INCLUDE", tuple(sorted(str(a) for a in value))
    return str(value or "ALL"), ()


def _builtin_indexes(snapshot: Mapping[str, Any], revision: str) -> list[IndexSpec]:
    request = snapshot.get("create_table") or {}
    types = {
        str(d["AttributeName"]): str(d["AttributeType"])
        for d in request.get("AttributeDefinitions", [])
    }
    found: list[IndexSpec] = []
    for index in request.get("GlobalSecondaryIndexes", []):
        keys = tuple((str(k["AttributeName"]), str(k["KeyType"])) for k in index["KeySchema"])
        kind, non_key = _projection(index.get("Projection"))
        found.append(
            IndexSpec(
                name=str(index["IndexName"]),
                keys=keys,
                types=tuple((a, types.get(a, _UNKNOWN)) for a, _ in keys),
                projection=kind,
                non_key=non_key,
                revision=revision,
            )
        )
    return found


def _team_indexes(
    snapshot: Mapping[str, Any], builtin_types: Mapping[str, str], revision: str
) -> list[IndexSpec]:
    types = dict(builtin_types)
    for name, spec in (snapshot.get("attributes") or {}).items():
        if isinstance(spec, Mapping) and "type" in spec:
            types[str(name)] = str(spec["type"])
    found: list[IndexSpec] = []
    for index in snapshot.get("indexes") or []:
        keys = [(str(index["partition_key"]), "HASH")]
        if index.get("sort_key"):
            keys.append((str(index["sort_key"]), "RANGE"))
        kind, non_key = _projection(index.get("projection"))
        found.append(
            IndexSpec(
                name=str(index["name"]),
                keys=tuple(keys),
                types=tuple((a, types.get(a, _UNKNOWN)) for a, _ in keys),
                projection=kind,
                non_key=non_key,
                revision=revision,
            )
        )
    return found


def _attribute_types(snapshot: Mapping[str, Any]) -> dict[str, str]:
    attributes = snapshot.get("attributes") or {}
    return {
        str(n): str(s["type"])
        for n, s in attributes.items()
        if isinstance(s, Mapping) and "type" in s
    }


def expected_indexes(migrations: Iterable[Migration]) -> dict[str, IndexSpec]:
    """The indexes the table has after `migrations` (in chain order), by name.

    The newest built-in snapshot and the newest team snapshot among them decide;
    each index keeps the revision that first declared it with its current shape.
    """
    builtin: dict[str, IndexSpec] = {}
    team: dict[str, IndexSpec] = {}
    builtin_types: dict[str, str] = {}
    for migration in migrations:
        snapshot = migration.schema_snapshot
        if not isinstance(snapshot, Mapping):
            continue
        if migration.builtin and "create_table" in snapshot:
            builtin_types = _attribute_types(snapshot)
            builtin = _carry(builtin, _builtin_indexes(snapshot, migration.revision))
        elif not migration.builtin and "indexes" in snapshot:
            team = _carry(team, _team_indexes(snapshot, builtin_types, migration.revision))
    return {**builtin, **team}


def _carry(before: Mapping[str, IndexSpec], now: Sequence[IndexSpec]) -> dict[str, IndexSpec]:
    # An index unchanged since an earlier snapshot stays that migration's effect.
    kept: dict[str, IndexSpec] = {}
    for spec in now:
        earlier = before.get(spec.name)
        kept[spec.name] = earlier if earlier and earlier.shape() == spec.shape() else spec
    return kept


def live_indexes(table: Mapping[str, Any]) -> dict[str, IndexSpec]:
    """The global secondary indexes of a DescribeTable ``Table``, by name."""
    return {
        spec.name: spec
        for spec in _builtin_indexes(
            {
                "create_table": {
                    "AttributeDefinitions": table.get("AttributeDefinitions", []),
                    "GlobalSecondaryIndexes": table.get("GlobalSecondaryIndexes", []),
                }
            },
            revision="",
        )
    }


def drifted_revisions(table: Mapping[str, Any], expected: Mapping[str, IndexSpec]) -> set[str]:
    """The revisions whose declared index is missing from the table or shaped otherwise."""
    live = live_indexes(table)
    return {
        spec.revision
        for spec in expected.values()
        if spec.name not in live or not spec.matches(live[spec.name])
    }


def index_differences(
    table: Mapping[str, Any],
    expected: Mapping[str, IndexSpec],
    *,
    declared: Iterable[str] | None = None,
) -> list[str]:
    """The live table's indexes against `expected`, one line each with its fix.

    Args:
        table: DescribeTable's ``Table``.
        expected: What the applied migrations declare (`expected_indexes`).
        declared: Names some migration (applied or not) declares; a live index
            outside them and `expected` is reported as undeclared. None: live
            indexes nobody declares are not reported (``up`` leaves them alone).
    """
    name = str(table.get("TableName", "<table>"))
    live = live_indexes(table)
    problems: list[str] = []
    for spec in expected.values():
        found = live.get(spec.name)
        if found is None:
            problems.append(
                f"index {spec.name!r} ({spec.revision}) is missing. Fix: `{REPAIR_COMMAND}` "
                "creates it again (DynamoDB fills it from the items)."
            )
        elif not spec.matches(found):
            problems.append(
                f"index {spec.name!r} has {found.describe()}; {spec.revision} declares "
                f"{spec.describe()}. Fix: `{REPAIR_COMMAND}` deletes it and creates it as "
                "declared (queries on it fail until it is ACTIVE again)."
            )
    known = set(expected) | set(live if declared is None else declared)
    for extra in sorted(set(live) - known):
        problems.append(
            f"index {extra!r} is on the table but no migration declares it. Fix: declare it "
            "on your record and run `migrate new --autogenerate`, or delete it with `aws "
            f"dynamodb update-table --table-name {name} --global-secondary-index-updates "
            f'\'[{{"Delete":{{"IndexName":"{extra}"}}}}]\'`.'
        )
    return problems


def _throughput(table: Mapping[str, Any]) -> dict[str, int] | None:
    mode = (table.get("BillingModeSummary") or {}).get("BillingMode", "PROVISIONED")
    capacity = table.get("ProvisionedThroughput") or {}
    if mode == "PAY_PER_REQUEST" or not capacity.get("ReadCapacityUnits"):
        return None
    return {
        "ReadCapacityUnits": int(capacity["ReadCapacityUnits"]),
        "WriteCapacityUnits": int(capacity["WriteCapacityUnits"]),
    }


async def repair_indexes(ctx: MigrationContext, expected: Mapping[str, IndexSpec]) -> list[str]:
    """Make every index in `expected` exist with its declared shape; names of those changed.

    A missing index is created; one with another key or projection is deleted,
    then created as declared. Each waits until ACTIVE. Undeclared indexes are
    left alone (they may be someone's; the check names them).
    """
    repaired: list[str] = []
    for spec in expected.values():
        table = await ctx.describe_table()
        found = live_indexes(table).get(spec.name)
        if found is not None and spec.matches(found):
            continue
        if found is not None:
            await ctx.drop_global_index(spec.name)
        types = dict(spec.types)
        keys = [(a, types[a]) for a, _ in spec.keys]
        projection: dict[str, Any] = {"ProjectionType": spec.projection}
        if spec.projection == "INCLUDE":
            projection["NonKeyAttributes"] = list(spec.non_key)
        await ctx.ensure_global_index(
            spec.name,
            keys[0],
            keys[1] if len(keys) > 1 else None,
            projection=projection,
            provisioned_throughput=_throughput(table),
        )
        repaired.append(spec.name)
    return repaired
