"""The constructor options of a session, checked in one table.

Each row says what an option accepts (its type, bounds and whether None is
allowed), so adding an option is one row, and every option's error reads the
same: the option, what it must be, what was given, and the session and table.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ._plan import MIN_PAGE_THRESHOLD
from .errors import InvalidArgumentError, describe
from .models.pages import DEFAULT_MAX_SESSION_BYTES
from .models.schema import ITEM_SIZE_LIMIT

__all__ = ["OPTIONS", "Option", "check_options"]


@dataclass(frozen=True)
class Option:
    """What one option accepts.

    Attributes:
        name: The keyword.
        expect: What it must be, for the message ("a positive int").
        numeric: Accept floats too (ints only otherwise; never bools).
        low: The smallest value accepted.
        low_open: `low` itself is refused (a strict lower bound).
        high: The largest value accepted, or None.
        optional: None is accepted (it means "off").
        choices: For a string option, the values accepted.
    """

    name: str
    expect: str
    numeric: bool = False
    low: float | None = None
    low_open: bool = False
    high: float | None = None
    optional: bool = False
    choices: tuple[str, ...] = ()

    def accepts(self, value: object) -> bool:
        """Whether `value` is one this option takes."""
        if value is None:
            return self.optional
        if self.choices:
            return value in self.choices
        kinds = (int, float) if self.numeric else (int,)
        if isinstance(value, bool) or not isinstance(value, kinds):
            return False
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return False
        return self.high is None or value <= self.high


OPTIONS: tuple[Option, ...] = (
    Option("ttl_seconds", "a positive int or None", low=0, low_open=True, optional=True),
    Option("max_items", "a positive int or None", low=0, low_open=True, optional=True),
    Option(
        "page_threshold",
        f"an int from {MIN_PAGE_THRESHOLD} to DynamoDB's item limit {ITEM_SIZE_LIMIT}",
        low=MIN_PAGE_THRESHOLD,
        high=ITEM_SIZE_LIMIT,
    ),
    Option(
        "max_session_bytes",
        f"a positive int of bytes (default {DEFAULT_MAX_SESSION_BYTES})",
        low=1,
    ),
    Option("size_warning_ratio", "a number in (0, 1]", numeric=True, low=0, low_open=True, high=1),
    Option("settle_timeout", "a positive number of seconds", numeric=True, low=0, low_open=True),
    Option("time_source", "'dynamodb' or 'host'", choices=("dynamodb", "host")),
)


def check_options(
    values: Mapping[str, object], *, session_id: str | None, table_name: str | None
) -> None:
    """Check each named option against its row of `OPTIONS`.

    Raises:
        InvalidArgumentError: The first option out of range, by its row's order.
    """
    for option in OPTIONS:
        if option.name in values and not option.accepts(values[option.name]):
            raise InvalidArgumentError(
                f"{option.name} must be {option.expect}, got {values[option.name]!r} "
                f"({describe(session_id, table_name)}). Fix: pass {option.expect}, or leave "
                "it out for the default.",
                session_id=session_id,
                table_name=table_name,
            )
