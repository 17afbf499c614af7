"""A team's own attributes on the session head: validated, encoded and derived.

A `SessionRecord` subclass may declare plain attributes (role ``"attribute"``,
set per session by the application) and derived ones (role ``"derived"``,
computed from the conversation by their ``derive`` function). `TeamAttributes`
holds one session's plain values, already validated and encoded, and computes
the attributes the head item carries on each write: the carried-over ones, the
plain values on top, and every derived value recomputed from the new state.

A derived backfill claims, in ``schema_version``, the attributes whose values it
made current (`derivation_claim`). A write keeps such a claim only if its record
derives every one of them: an application instance still on an older record
(during a rolling deploy) changes the history without recomputing them, so it
withdraws the claim, and ``migrate up --reconcile`` finds the item again.
Values are validated by the field's own type annotation (pydantic), then encoded
by the field's `DynamoAttribute`; nothing here touches the network.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import TypeAdapter, ValidationError

from ..errors import (
    CorruptSessionError,
    DerivedAttributeError,
    InvalidAttributeError,
    clause,
    describe,
)
from .attrs import decode_value, encode_value, number_text
from .jsontext import json_depth, loads_bounded
from .schema import (
    ITEM_SIZE_LIMIT,
    MAX_KEY_BYTES,
    TITLE_CHARS,
    DynamoAttribute,
    HistoryView,
    Schema,
    SessionRecord,
    schema_of,
)
from .usage import parse_usage

__all__ = [
    "JSON_ATTRIBUTE_DEPTH",
    "AttributeValue",
    "TeamAttributes",
    "claimed_derivations",
    "decode_declared",
    "derivation_claim",
    "encode_declared",
    "first_user_text",
    "validate_plain",
    "vouched",
]

AttributeValue = dict[str, Any]
"""One low-level DynamoDB attribute value, such as ``{"S": "t1"}``."""

JSON_ATTRIBUTE_DEPTH = 32
"""Deepest nesting of a JSON attribute (``metadata``, a team's ``json=True`` field),
checked when it is written and when it is read back."""

# DynamoDB's limit on an index sort key value, in bytes (the partition key's is
# MAX_KEY_BYTES, as for the table's own key).
_MAX_SORT_KEY_BYTES = 1024


@functools.cache
def _adapter(record: type[SessionRecord], name: str) -> TypeAdapter[Any]:
    # The field's annotation with its constraints (Field(min_length=...) etc.);
    # pydantic ignores the DynamoAttribute among them.
    return TypeAdapter(record.model_fields[name].rebuild_annotation())


@functools.cache
def _key_limits(record: type[SessionRecord]) -> dict[str, int]:
    limits: dict[str, int] = {}
    for index in schema_of(record).indexes:
        limits[index.partition_key] = MAX_KEY_BYTES
        if index.sort_key is not None:
            limits.setdefault(index.sort_key, _MAX_SORT_KEY_BYTES)
    return limits


def _encode_checked(schema: Schema, name: str, value: Any) -> AttributeValue | None:
    """Validate `value` by the field's type and encode it; None for an absent value.

    Raises:
        ValueError: The field's type rejects the value (pydantic's ValidationError
            is one), or it cannot be an index key.
        TypeError: The validated value cannot be stored as the declared type.
    """
    if value is None:
        return None
    spec = schema.attributes[name]
    adapter = _adapter(schema.record, name)
    valid = adapter.validate_python(value)
    if valid is None:
        return None
    if spec.json:
        text = adapter.dump_json(valid).decode()
        # What is written must read back: the read refuses deeper nesting.
        if json_depth(json.loads(text), JSON_ATTRIBUTE_DEPTH) > JSON_ATTRIBUTE_DEPTH:
            raise ValueError(f"its JSON is nested deeper than {JSON_ATTRIBUTE_DEPTH} levels")
        encoded = encode_value("S", text)
    elif spec.type == "S":
        # JSON mode gives an enum's value, a datetime's ISO text: what reads back.
        text = adapter.dump_python(valid, mode="json")
        if not isinstance(text, str):
            raise TypeError(f"the field's type gives {type(text).__name__}, not a string")
        encoded = encode_value("S", text)
    elif spec.type == "N":
        encoded = {"N": number_text(valid)}
    elif spec.type == "B":
        if not isinstance(valid, (bytes, bytearray)):
            raise TypeError(f"the field's type gives {type(valid).__name__}, not bytes")
        encoded = encode_value("B", valid)
    else:
        encoded = encode_value(spec.type, valid)
    limit = _key_limits(schema.record).get(name)
    if encoded is not None and limit is not None:
        ((kind, body),) = encoded.items()
        size = len(body.encode("utf-8", "surrogatepass")) if kind == "S" else len(body)
        if kind in ("S", "B") and not 0 < size <= limit:
            raise ValueError(
                f"an index key needs 1 to {limit} bytes, the value has {size}"
                if size
                else "an index key cannot be empty"
            )
    return encoded


def _problem(exc: Exception) -> str:
    """What was wrong, without the value itself (it may be a user's content)."""
    if isinstance(exc, ValidationError):
        kinds = sorted({str(e["type"]) for e in exc.errors()})
        return f"the field's type rejects it ({', '.join(kinds)})"
    return clause(exc)


def _type_text(schema: Schema, name: str) -> str:
    annotation = schema.record.model_fields[name].annotation
    shown = getattr(annotation, "__name__", None) or str(annotation).replace("typing.", "")
    return f"{shown} stored as {schema.attributes[name].type}"


def validate_plain(
    schema: Schema,
    values: Mapping[str, Any],
    *,
    session_id: str,
    table_name: str,
) -> tuple[dict[str, Any], dict[str, AttributeValue | None]]:
    """Check plain attribute values against the record; no network call.

    Args:
        schema: The session's resolved schema.
        values: Attribute name to value; a None value means the attribute is absent.
        session_id: Named in error messages.
        table_name: Named in error messages.

    Returns:
        The validated values, and their encodings (None where absent).

    Raises:
        InvalidAttributeError: An unknown or derived name, or a value the field rejects.
    """
    where = describe(session_id, table_name)
    record = schema.record.__name__
    validated: dict[str, Any] = {}
    encoded: dict[str, AttributeValue | None] = {}
    for name, value in values.items():
        if name not in schema.settable:
            if name in schema.derived:
                problem = "is derived: computed from the conversation on every write"
                fix = f"drop it; {record} computes it"
            else:
                known = ", ".join(sorted(schema.settable)) or "none"
                problem = f"is not an attribute field of {record} (attribute fields: {known})"
                fix = (
                    f'declare it on {record} with DynamoAttribute(type, "attribute"), '
                    "or pass record= the class that declares it"
                )
            raise InvalidAttributeError(
                f"attribute {name!r} for {where} {problem}. Fix: {fix}.",
                attribute=name,
                session_id=session_id,
                table_name=table_name,
            )
        try:
            encoded[name] = _encode_checked(schema, name, value)
            validated[name] = _adapter(schema.record, name).validate_python(value)
        except (ValueError, TypeError) as exc:
            raise InvalidAttributeError(
                f"attribute {name!r} for {where} cannot be stored: {_problem(exc)}. Fix: pass "
                f"a value of the field's type ({_type_text(schema, name)}), or None to leave "
                "it out.",
                attribute=name,
                session_id=session_id,
                table_name=table_name,
            ) from None
    return validated, encoded


@functools.cache
def _plain_defaults(record: type[SessionRecord]) -> dict[str, AttributeValue]:
    """The encoded declared defaults of `record`'s plain attributes (None ones left out).

    ``migrate new --autogenerate`` backfills these into existing sessions; a session
    created afterwards writes them too, so old and new sessions agree.
    """
    schema = schema_of(record)
    defaults: dict[str, AttributeValue] = {}
    for name in schema.plain:
        try:
            encoded = _encode_checked(schema, name, record.model_fields[name].default)
        except (ValueError, TypeError):
            continue  # a default its own field rejects is never written, as before
        if encoded is not None:
            defaults[name] = encoded
    return defaults


def derivation_claim(backfill_id: str, derives: Iterable[str]) -> str:
    """The ``schema_version`` entry of a backfill that made `derives` current.

    ``"0006_add_count:derived[last_role,message_count]"``: the backfill's id with
    the derived attribute names it vouches for.
    """
    return f"{backfill_id}[{','.join(sorted(derives))}]"


def claimed_derivations(claim: str) -> frozenset[str]:
    """The derived attributes a ``schema_version`` entry vouches for (none for most)."""
    if not claim.endswith("]") or "[" not in claim:
        return frozenset()
    names = claim[claim.rindex("[") + 1 : -1]
    return frozenset(n for n in names.split(",") if n)


def vouched(carried: Mapping[str, Any], schema: Schema) -> Mapping[str, Any]:
    """`carried` without the claims of derived attributes `schema` does not derive."""
    stored = carried.get(schema.schema_version)
    claims = stored.get("SS") if isinstance(stored, Mapping) else None
    if not claims or not any(c.endswith("]") for c in claims):
        return carried
    derives = schema.derived.keys()
    kept = [c for c in claims if claimed_derivations(c) <= derives]
    if len(kept) == len(claims):
        return carried
    result = {k: v for k, v in carried.items() if k != schema.schema_version}
    if kept:  # DynamoDB has no empty set: no claim left means no attribute
        result[schema.schema_version] = {"SS": kept}
    return result


@dataclass(frozen=True)
class TeamAttributes:
    """One session's team attributes: what each write puts on the head.

    Attributes:
        schema: The session's resolved schema.
        plain: Encoded plain values this session sets on every write, by name;
            None means the attribute is left out. Names not here are carried over.
    """

    schema: Schema
    plain: Mapping[str, AttributeValue | None] = field(default_factory=dict)
    auto_title: bool = False

    @property
    def active(self) -> bool:
        """Whether a write changes anything beyond carrying attributes over."""
        return bool(self.plain or self.schema.derived or self.auto_title)

    def head_attributes(
        self,
        carried: Mapping[str, Any],
        view: Callable[[], HistoryView],
        *,
        overrides: Mapping[str, AttributeValue | None] | None = None,
        session_id: str,
        table_name: str,
        creating: bool = False,
    ) -> Mapping[str, Any]:
        """The non-core attributes of a head about to be written.

        Args:
            carried: The raw attributes of the stored head the write does not
                compute (`StoredItem.extra`): kept unless set here.
            view: Builds the `HistoryView` of the new state (called only when the
                record has derived attributes).
            overrides: Encoded plain values set by this write on top of `plain`.
            session_id: Named in error messages.
            table_name: Named in error messages.
            creating: The write creates the session (first write, or after a clear
                or expiry): plain attributes it does not set get their declared
                default, as the backfill gave the sessions that existed before.

        Raises:
            DerivedAttributeError: A ``derive`` raised, or returned a value its
                field rejects.
        """
        plain = {**self.plain, **(overrides or {})}
        if creating:
            defaults = _plain_defaults(self.schema.record)
            plain = {**{k: v for k, v in defaults.items() if k not in carried}, **plain}
        derived = self.schema.derived
        carried = vouched(carried, self.schema)
        if not plain and not derived and not self.auto_title:
            return carried
        result = {k: v for k, v in carried.items() if k not in plain and k not in derived}
        result.update({k: v for k, v in plain.items() if v is not None})
        title = self.schema.title
        if self.auto_title and title not in result and title not in plain:
            # Only while no title is stored or set: later writes never parse for it.
            text = first_user_text(view().items)
            if text is not None:
                result[title] = {"S": text}
        if derived:
            state = view()
            for name, spec in derived.items():
                encoded = self._derive(name, spec, state, session_id, table_name)
                if encoded is not None:
                    result[name] = encoded
        return result

    def _derive(
        self,
        name: str,
        spec: DynamoAttribute,
        state: HistoryView,
        session_id: str,
        table_name: str,
    ) -> AttributeValue | None:
        assert spec.derive is not None
        where = describe(session_id, table_name)
        function = getattr(spec.derive, "__qualname__", repr(spec.derive))
        try:
            value = spec.derive(state)
        except Exception as exc:
            raise DerivedAttributeError(
                f"derived attribute {name!r} of {where}: {function}() raised "
                f"{type(exc).__name__}. Nothing was written. Fix: make it return a value "
                "for every history (None leaves the attribute out); the cause is chained.",
                attribute=name,
                session_id=session_id,
                table_name=table_name,
            ) from exc
        try:
            return _encode_checked(self.schema, name, value)
        except (ValueError, TypeError) as exc:
            raise DerivedAttributeError(
                f"derived attribute {name!r} of {where}: {function}() returned a "
                f"{type(value).__name__} that cannot be stored: {_problem(exc)}. Nothing was "
                f"written. Fix: return the field's type ({_type_text(self.schema, name)}), "
                "or None to leave it out.",
                attribute=name,
                session_id=session_id,
                table_name=table_name,
            ) from None


def first_user_text(items: tuple[Any, ...]) -> str | None:
    """The text of the first user message among `items`, trimmed to `TITLE_CHARS`.

    A message's content is a string, or a list of parts whose ``text`` parts
    are joined; runs of whitespace become one space. None when there is none.
    """
    for item in items:
        if not isinstance(item, Mapping) or item.get("role") != "user":
            continue
        content = item.get("content")
        if isinstance(content, str):
            text = content
        elif isinstance(content, list):
            text = " ".join(
                str(part["text"])
                for part in content
                if isinstance(part, Mapping) and isinstance(part.get("text"), str)
            )
        else:
            continue
        words = " ".join(text.split())
        if words:
            return words[:TITLE_CHARS].rstrip()
    return None


def decode_declared(
    schema: Schema, raw: Mapping[str, Any], *, session_id: str | None, table_name: str | None
) -> dict[str, Any]:
    """The Python values of the declared attributes no session write computes.

    The team's attributes (and any other declared one beyond the session's own),
    read from a stored head for `SessionRecord` validation.

    Raises:
        CorruptSessionError: A stored value is not of its declared type.
    """
    values: dict[str, Any] = {}
    for name, spec in schema.attributes.items():
        stored = raw.get(name)
        if name in schema.computed or stored is None:
            continue
        try:
            if not isinstance(stored, Mapping) or spec.type not in stored:
                raise ValueError(f"not a {spec.type} value")
            value = decode_value(spec, stored)
            if name == schema.usage:
                values[name] = parse_usage(value)
            elif spec.json:
                values[name] = loads_bounded(
                    value, max_bytes=ITEM_SIZE_LIMIT, max_depth=JSON_ATTRIBUTE_DEPTH
                )
            else:
                values[name] = value
        except ValueError as exc:
            raise CorruptSessionError(
                f"Stored {describe(session_id, table_name)} is corrupt: attribute {name!r} "
                f"is unreadable as declared by {schema.record.__name__} ({exc}). Fix: "
                "rewrite it with set_attributes (or a backfill), or read the session with "
                "the record it was written with.",
                session_id=session_id,
                table_name=table_name,
            ) from None
    return values


def encode_declared(schema: Schema, record: SessionRecord) -> dict[str, AttributeValue]:
    """The attribute values of a record's declared fields beyond the session's own.

    Raises:
        ValueError: A value cannot be stored as declared.
    """
    encoded: dict[str, AttributeValue] = {}
    for name in schema.attributes:
        if name in schema.computed:
            continue
        value = _encode_checked(schema, name, getattr(record, name))
        if value is not None:
            encoded[name] = value
    return encoded
