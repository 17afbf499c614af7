"""Schema operations of a team migration: each renders, applies, reverses and replays itself.

A migration written by ``migrate new --autogenerate`` lists its operations as
data (``operations = [AddIndex(...), RenameAttribute(...)]``): every attribute
with its DynamoDB type, every index with its key types, and the derive and
conversion functions it runs copied into the file as source. Nothing in it
imports the team's record, so the committed chain replays on a fresh table
whatever the record says later (Django's migrations carry their historical
models and ``RunPython`` functions the same way; alembic's ``ops`` are small
classes like these).

Each operation:

- `Operation.apply` runs it on the table through a `MigrationContext`;
- `Operation.reverse` is the operation that undoes it, or None when values
  would be lost (a dropped attribute cannot be restored);
- `Operation.verify` lists what the live table lacks of its effect;
- `Operation.evolve` replays it on an in-memory team snapshot, which is how
  ``migrate check --offline`` replays the chain without AWS;
- `Operation.render` is the Python source that rebuilds it.
"""

from __future__ import annotations

import dataclasses
import enum
import json
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ..models.attrs import encode_value, number_text
from ..models.codec import decode_item
from ..models.schema import SCHEMA, HistoryView
from .backfill import BackfillFunction, BackfillItem
from .dynamo import from_attribute
from .errors import IrreversibleMigrationError, RevisionGraphError

if TYPE_CHECKING:
    from .context import MigrationContext

__all__ = [
    "AddAttribute",
    "AddIndex",
    "ChangeDerive",
    "ChangeType",
    "Operation",
    "RemoveAttribute",
    "RemoveIndex",
    "RenameAttribute",
    "downgrade_operations",
    "encode_typed",
    "replay_operations",
    "upgrade_operations",
]

Function = Callable[[Any], Any]
KeySpec = tuple[str, str]
Projection = str | tuple[str, ...]


class ReplayError(RevisionGraphError):
    """An operation does not fit the schema the chain before it leaves."""


def encode_typed(kind: str, value: Any, *, as_json: bool = False) -> dict[str, Any] | None:
    """The attribute value of `value` as DynamoDB type `kind` (None: leave it out).

    Raises:
        TypeError: The value is not of the type (a bool as a number, an int as a string).
    """
    if isinstance(value, enum.Enum):
        value = value.value  # what a session write stores (pydantic's JSON mode)
    if value is None:
        return None
    if as_json:
        return {"S": json.dumps(value, separators=(",", ":"), ensure_ascii=False)}
    if kind == "S" and not isinstance(value, str):
        raise TypeError(f"a {type(value).__name__} is not a string")
    if kind == "N":
        return {"N": number_text(value)}
    if kind == "B" and not isinstance(value, (bytes, bytearray)):
        raise TypeError(f"a {type(value).__name__} is not bytes")
    return encode_value(kind, value)


def _view(item: BackfillItem) -> HistoryView | None:
    stored = decode_item(item.raw, table_name=None)
    if stored.total_count == 0:
        return None  # a cleared session's head carries no team attributes
    return HistoryView(
        session_id=item.session_id,
        items=tuple(stored.items()),
        count=stored.total_count,
        size=stored.total_size,
        paged=stored.pages is not None,
    )


def derive_backfill(name: str, kind: str, derive: Function, *, as_json: bool) -> BackfillFunction:
    """A backfill that sets `name` to what `derive` computes from each session's history."""

    def decide(item: BackfillItem) -> dict[str, Any] | None:
        view = _view(item)
        if view is None:
            return None
        encoded = encode_typed(kind, derive(view), as_json=as_json)
        if encoded == item.raw.get(name):
            return None
        return {name: None if encoded is None else from_attribute(encoded)}

    # The backfill's schema_version claim names it, so that a writer on an older record
    # (which cannot derive it) withdraws the claim (`models.team.vouched`).
    decide.derives = (name,)  # type: ignore[attr-defined]
    return decide


def _attrs(state: MutableMapping[str, Any]) -> dict[str, Any]:
    attributes: dict[str, Any] = state.setdefault("attributes", {})
    return attributes


def _indexes(state: MutableMapping[str, Any]) -> list[dict[str, Any]]:
    indexes: list[dict[str, Any]] = state.setdefault("indexes", [])
    return indexes


def _source(value: Any) -> str:
    # A function is written by its name: the file defines it (a copy) above the list.
    if callable(value):
        return str(getattr(value, "__name__", repr(value)))
    return repr(tuple(value) if isinstance(value, list) else value)


def _role(role: str) -> str:
    return "derived attribute" if role == "derived" else "attribute"


@dataclass(frozen=True)
class Operation:
    """One schema change; subclasses say how it applies, reverses and replays."""

    def describe(self) -> str:
        """One line saying what it does."""
        raise NotImplementedError

    def render(self) -> str:
        """Python source that rebuilds this operation inside a migration file.

        Fields without a default are positional; the others are written only
        when they differ from it.
        """
        parts: list[str] = []
        for spec in dataclasses.fields(self):
            value = getattr(self, spec.name)
            if spec.default is dataclasses.MISSING:
                parts.append(_source(value))
            elif value != spec.default:
                parts.append(f"{spec.name}={_source(value)}")
        return f"{type(self).__name__}({', '.join(parts)})"

    def functions(self) -> tuple[Function, ...]:
        """The functions `render` names, whose source the file must define."""
        values = (getattr(self, spec.name) for spec in dataclasses.fields(self))
        return tuple(v for v in values if callable(v))

    async def apply(self, ctx: MigrationContext) -> None:
        """Run the operation on the table."""
        raise NotImplementedError

    def reverse(self) -> Operation | None:
        """The operation that undoes this one; None when it would not restore the data."""
        raise NotImplementedError

    async def verify(self, ctx: MigrationContext) -> list[str]:
        """What the live table lacks of this operation's effect (one line each)."""
        return []

    def evolve(self, state: MutableMapping[str, Any]) -> None:
        """Replay on an in-memory team snapshot.

        Raises:
            ReplayError: The operation does not fit the snapshot (e.g. renames an
                attribute that does not exist).
        """
        raise NotImplementedError

    def _problem(self, message: str) -> ReplayError:
        return ReplayError(f"{self.describe()}: {message}")


def _entry(kind: str, role: str, as_json: bool, default: Any, digest: str | None) -> dict[str, Any]:
    entry: dict[str, Any] = {"type": kind, "role": role, "json": as_json, "default": default}
    if role == "derived":
        entry["derive"] = digest
    return entry


@dataclass(frozen=True)
class _Attribute(Operation):
    """The declaration of one team attribute, shared by adding and removing it."""

    name: str
    type: str
    role: str = "attribute"
    json: bool = False
    default: Any = None
    derive: Function | None = None
    digest: str | None = None

    def declaration(self) -> dict[str, Any]:
        """The declaration's fields, to build the opposite operation from."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(_Attribute)}


@dataclass(frozen=True)
class AddAttribute(_Attribute):
    """A new team attribute: a derived one is computed for every stored session, a
    plain one with a default gets it where missing.

    Attributes:
        name: The attribute.
        type: Its DynamoDB type (``S``, ``N``, ``B``, ``SS``, ``NS``).
        role: ``"attribute"`` or ``"derived"``.
        json: Stored as a JSON string.
        default: A plain attribute's default, written into stored sessions.
        derive: A derived attribute's function of `HistoryView` (a copy in the file).
        digest: The normalized hash of the derive function's source.
    """

    def describe(self) -> str:
        return f"add {_role(self.role)} {self.name!r} ({self.type})"

    async def apply(self, ctx: MigrationContext) -> None:
        if self.role == "derived" and self.derive is not None:
            fn = derive_backfill(self.name, self.type, self.derive, as_json=self.json)
            await ctx.backfill(fn, name=f"add_{self.name}")
        elif self.default is not None:
            await ctx.backfill(_default_backfill(self.name, self.default), name=f"add_{self.name}")

    def reverse(self) -> Operation | None:
        return RemoveAttribute(
            **self.declaration(),
            # Derived values and defaults are recomputed by applying it again.
            allow_loss=self.role == "derived" or self.default is not None,
            keep_values=self.role != "derived" and self.default is None,
        )

    def evolve(self, state: MutableMapping[str, Any]) -> None:
        attributes = _attrs(state)
        if self.name in attributes:
            raise self._problem("the attribute exists already")
        if self.role == "derived" and self.derive is None:
            raise self._problem("a derived attribute needs derive=")
        attributes[self.name] = _entry(self.type, self.role, self.json, self.default, self.digest)


def _default_backfill(name: str, default: Any) -> BackfillFunction:
    def decide(item: BackfillItem) -> dict[str, Any] | None:
        if item.get(SCHEMA.payload) is None or name in item.raw:
            return None
        return {name: default}

    return decide


def _removal_backfill(name: str) -> BackfillFunction:
    def decide(item: BackfillItem) -> dict[str, Any] | None:
        return {name: None} if name in item.raw else None

    return decide


@dataclass(frozen=True)
class RemoveAttribute(_Attribute):
    """A team attribute is no longer declared: its stored values are removed.

    A plain attribute's values are data nobody can compute again, so removing
    them needs `allow_loss` (``--allow-drop``); its reverse declares the
    attribute again but cannot bring the values back, so it has none.
    `keep_values` leaves the stored values in place (the reverse of adding a
    plain attribute without a default: the application wrote those).
    """

    allow_loss: bool = False
    keep_values: bool = False

    def describe(self) -> str:
        return f"remove {_role(self.role)} {self.name!r} ({self.type})"

    def _loses_data(self) -> bool:
        return not self.keep_values and self.role != "derived" and not self.allow_loss

    async def apply(self, ctx: MigrationContext) -> None:
        if self._loses_data():
            raise self._problem(
                "its stored values would be lost. Fix: rename it (RenameAttribute, "
                f"`--rename {self.name}=NEW`) or accept the loss (allow_loss=True, "
                f"`--allow-drop {self.name}`)."
            )
        if not self.keep_values:
            await ctx.backfill(_removal_backfill(self.name), name=f"remove_{self.name}")

    def reverse(self) -> Operation | None:
        if self.role == "derived" and self.derive is None:
            return None
        if self.role != "derived" and not self.keep_values and self.default is None:
            return None  # the values are gone; declaring the attribute again restores nothing
        return AddAttribute(**self.declaration())

    def evolve(self, state: MutableMapping[str, Any]) -> None:
        attributes = _attrs(state)
        if self.name not in attributes:
            raise self._problem("no such attribute before this migration")
        if self._loses_data():
            raise self._problem(
                f"drops stored values without allow_loss=True. Fix: --allow-drop {self.name} "
                "or a rename."
            )
        del attributes[self.name]


@dataclass(frozen=True)
class RenameAttribute(Operation):
    """A team attribute renamed: each session's value is copied to the new name, then
    the old one removed, in one conditional write per session (reversible)."""

    old: str
    new: str
    type: str

    def describe(self) -> str:
        return f"rename attribute {self.old!r} to {self.new!r} ({self.type})"

    async def apply(self, ctx: MigrationContext) -> None:
        old, new = self.old, self.new

        def decide(item: BackfillItem) -> dict[str, Any] | None:
            if old not in item.raw:
                return None
            updates: dict[str, Any] = {old: None}
            if new not in item.raw:
                # A writer already on the new record set `new` itself: its value wins.
                updates[new] = from_attribute(item.raw[old])
            return updates

        await ctx.backfill(decide, name=f"rename_{old}")

    def reverse(self) -> Operation | None:
        return RenameAttribute(self.new, self.old, self.type)

    def evolve(self, state: MutableMapping[str, Any]) -> None:
        attributes = _attrs(state)
        if self.old not in attributes:
            raise self._problem(f"no attribute {self.old!r} before this migration")
        if self.new in attributes:
            raise self._problem(f"attribute {self.new!r} exists already")
        if attributes[self.old]["type"] != self.type:
            raise self._problem(f"{self.old!r} is {attributes[self.old]['type']}")
        attributes[self.new] = attributes.pop(self.old)


@dataclass(frozen=True)
class ChangeType(Operation):
    """A plain attribute's DynamoDB type changes: every stored value is converted.

    Attributes:
        name: The attribute.
        old_type: The type stored so far.
        new_type: The declared type.
        convert: Turns one stored value (``Decimal`` for N, ``str`` for S,
            ``bytes`` for B) into the new type's Python value; None leaves the
            attribute out.
        revert: The way back, for ``migrate down``; None makes it irreversible.
    """

    name: str
    old_type: str
    new_type: str
    convert: Function
    revert: Function | None = None

    def describe(self) -> str:
        return f"change the type of {self.name!r} from {self.old_type} to {self.new_type}"

    async def apply(self, ctx: MigrationContext) -> None:
        name, old, new, convert = self.name, self.old_type, self.new_type, self.convert

        def decide(item: BackfillItem) -> dict[str, Any] | None:
            stored = item.raw.get(name)
            if not isinstance(stored, Mapping) or old not in stored:
                return None  # absent, or already of the new type
            encoded = encode_typed(new, convert(from_attribute(stored)))
            return {name: None if encoded is None else from_attribute(encoded)}

        await ctx.backfill(decide, name=f"retype_{name}")

    def reverse(self) -> Operation | None:
        if self.revert is None:
            return None
        return ChangeType(self.name, self.new_type, self.old_type, self.revert, self.convert)

    def evolve(self, state: MutableMapping[str, Any]) -> None:
        attributes = _attrs(state)
        entry = attributes.get(self.name)
        if entry is None:
            raise self._problem("no such attribute before this migration")
        if entry["type"] != self.old_type:
            raise self._problem(f"it is {entry['type']} before this migration")
        attributes[self.name] = {**entry, "type": self.new_type}


@dataclass(frozen=True)
class ChangeDerive(Operation):
    """A derived attribute's function (or type) changes: every stored value is recomputed.

    Attributes:
        name: The attribute.
        type: Its DynamoDB type from now on.
        derive: The new function (a copy in the file).
        digest: The normalized hash of its source.
        json: Stored as a JSON string.
        previous: The function before (a copy), so ``down`` recomputes the old
            values; None when no earlier migration carried it (irreversible).
        previous_digest: Its hash.
        previous_type: The type before, when it changes.
    """

    name: str
    type: str
    derive: Function
    digest: str | None = None
    json: bool = False
    previous: Function | None = None
    previous_digest: str | None = None
    previous_type: str | None = None

    def describe(self) -> str:
        return f"recompute derived attribute {self.name!r} with a new function"

    async def apply(self, ctx: MigrationContext) -> None:
        fn = derive_backfill(self.name, self.type, self.derive, as_json=self.json)
        await ctx.backfill(fn, name=f"derive_{self.name}")

    def reverse(self) -> Operation | None:
        if self.previous is None:
            return None
        return ChangeDerive(
            self.name,
            self.previous_type or self.type,
            self.previous,
            self.previous_digest,
            json=self.json,
            previous=self.derive,
            previous_digest=self.digest,
            previous_type=self.type if self.previous_type else None,
        )

    def evolve(self, state: MutableMapping[str, Any]) -> None:
        attributes = _attrs(state)
        entry = attributes.get(self.name)
        if entry is None or entry["role"] != "derived":
            raise self._problem("no such derived attribute before this migration")
        attributes[self.name] = {**entry, "type": self.type, "derive": self.digest}


def _projection_request(projection: Projection) -> dict[str, Any]:
    if isinstance(projection, str):
        return {"ProjectionType": projection}
    return {"ProjectionType": "INCLUDE", "NonKeyAttributes": list(projection)}


@dataclass(frozen=True)
class AddIndex(Operation):
    """A global secondary index is created (and waited for).

    Attributes:
        name: The index.
        partition_key: ``(attribute, type)``.
        sort_key: ``(attribute, type)`` or None.
        projection: ``"ALL"``, ``"KEYS_ONLY"`` or a tuple of projected attributes.
    """

    name: str
    partition_key: KeySpec
    sort_key: KeySpec | None = None
    projection: Projection = "ALL"

    def describe(self) -> str:
        return f"add index {self.name!r}"

    async def apply(self, ctx: MigrationContext) -> None:
        sort = (self.sort_key[0], self.sort_key[1]) if self.sort_key else None
        await ctx.ensure_global_index(
            self.name,
            (self.partition_key[0], self.partition_key[1]),
            sort,
            projection=_projection_request(self.projection),
        )

    def reverse(self) -> Operation | None:
        return RemoveIndex(self.name, self.partition_key, self.sort_key, self.projection)

    def _keys(self) -> dict[str, str]:
        keys = {self.partition_key[0]: "HASH"}
        if self.sort_key:
            keys[self.sort_key[0]] = "RANGE"
        return keys

    async def verify(self, ctx: MigrationContext) -> list[str]:
        table = await ctx.describe_table()
        found = {
            i["IndexName"]: {k["AttributeName"]: k["KeyType"] for k in i.get("KeySchema", [])}
            for i in table.get("GlobalSecondaryIndexes", [])
        }
        if self.name not in found:
            return [f"index {self.name!r}: missing"]
        if found[self.name] != self._keys():
            return [f"index {self.name!r}: keys {found[self.name]}, expected {self._keys()}"]
        return []

    def entry(self) -> dict[str, Any]:
        """The index as a team snapshot lists it."""
        projection = self.projection
        return {
            "name": self.name,
            "partition_key": self.partition_key[0],
            "sort_key": self.sort_key[0] if self.sort_key else None,
            "projection": list(projection) if isinstance(projection, tuple) else projection,
        }

    def evolve(self, state: MutableMapping[str, Any]) -> None:
        indexes = _indexes(state)
        if any(i["name"] == self.name for i in indexes):
            raise self._problem("the index exists already")
        indexes.append(self.entry())
        indexes.sort(key=lambda i: str(i["name"]))


@dataclass(frozen=True)
class RemoveIndex(AddIndex):
    """A global secondary index is deleted; its definition is kept to create it again."""

    def describe(self) -> str:
        return f"remove index {self.name!r}"

    async def apply(self, ctx: MigrationContext) -> None:
        await ctx.drop_global_index(self.name)

    def reverse(self) -> Operation | None:
        return AddIndex(self.name, self.partition_key, self.sort_key, self.projection)

    async def verify(self, ctx: MigrationContext) -> list[str]:
        table = await ctx.describe_table()
        names = {i["IndexName"] for i in table.get("GlobalSecondaryIndexes", [])}
        return [f"index {self.name!r}: still exists"] if self.name in names else []

    def evolve(self, state: MutableMapping[str, Any]) -> None:
        indexes = _indexes(state)
        if not any(i["name"] == self.name for i in indexes):
            raise self._problem("no such index before this migration")
        state["indexes"] = [i for i in indexes if i["name"] != self.name]


# ---------------------------------------------------------------------- running a list


async def upgrade_operations(ctx: MigrationContext, operations: Sequence[Operation]) -> None:
    """Apply `operations` in order (a generated migration's ``upgrade``)."""
    for operation in operations:
        ctx.info(operation.describe())
        await operation.apply(ctx)


async def downgrade_operations(ctx: MigrationContext, operations: Sequence[Operation]) -> None:
    """Apply the reverse of `operations`, newest first (a generated migration's ``downgrade``).

    Raises:
        IrreversibleMigrationError: One of them cannot be reversed; nothing ran.
    """
    reverses = [(op, op.reverse()) for op in reversed(operations)]
    lost = [op.describe() for op, back in reverses if back is None]
    if lost:
        raise IrreversibleMigrationError(
            f"{ctx.revision} cannot be reverted on {ctx.table_name!r}: {'; '.join(lost)} "
            "cannot be undone (its values are gone). Nothing was run. Fix: write a new "
            "migration that moves the schema on instead.",
            table_name=ctx.table_name,
        )
    for _, back in reverses:
        assert back is not None
        ctx.info(back.describe())
        await back.apply(ctx)


def replay_operations(state: Mapping[str, Any], operations: Sequence[Operation]) -> dict[str, Any]:
    """The team snapshot `operations` leave, starting from `state` (nothing written).

    Raises:
        ReplayError: An operation does not fit the snapshot before it.
    """
    replayed: dict[str, Any] = json.loads(json.dumps(state, default=_jsonable))
    replayed.setdefault("attributes", {})
    replayed.setdefault("indexes", [])
    for operation in operations:
        operation.evolve(replayed)
    return replayed


def _jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} in a team snapshot")
