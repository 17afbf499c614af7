"""DynamoDB's clock, as seen from the `Date` header of the responses a client receives.

Expiry must be judged, and new TTLs computed, on one clock that every writer and
reader shares, or a host whose clock runs ahead replaces a live history it thinks
expired, and one that runs behind writes a TTL already past for everyone else.
DynamoDB's clock is the one that deletes expired items, and every response
carries it in its ``Date`` header, to the second.

Each header bounds DynamoDB's time from below: the response was dated before it
arrived. The best of these bounds, carried forward on the monotonic clock, plus
half a second, estimates DynamoDB's time within a second, whatever the host's
wall clock says. Before any response, the host clock is all there is.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable, Mapping
from email.utils import parsedate_to_datetime
from typing import Any

__all__ = ["ServerClock"]

_CLOCKS: weakref.WeakKeyDictionary[Any, ServerClock] = weakref.WeakKeyDictionary()


class ServerClock:
    """An estimate of DynamoDB's Unix time, shared by the sessions of one client."""

    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        """Start with no observation."""
        self._monotonic = monotonic
        # Largest (server time - monotonic time) seen: a lower bound of the offset.
        self._offset: float | None = None

    @classmethod
    def of(cls, client: Any) -> ServerClock:
        """The clock shared by every session using `client`."""
        try:
            return _CLOCKS[client]
        except KeyError:
            clock = _CLOCKS[client] = cls()
            return clock
        except TypeError:  # an object that cannot be weakly referenced
            return cls()

    @property
    def known(self) -> bool:
        """Whether a response has told the server's time yet."""
        return self._offset is not None

    def observe(self, response: Mapping[str, Any]) -> None:
        """Learn from a response (or an error response) its ``Date`` header, if any."""
        headers = (response.get("ResponseMetadata") or {}).get("HTTPHeaders") or {}
        date = headers.get("date")
        if not isinstance(date, str):
            return
        try:
            dated = parsedate_to_datetime(date).timestamp()
        except (TypeError, ValueError, IndexError, OverflowError):
            return
        bound = dated - self._monotonic()
        if self._offset is None or bound > self._offset:
            self._offset = bound

    def now(self, fallback: Callable[[], float]) -> float:
        """DynamoDB's time now, or `fallback()` (the host clock) before any response."""
        if self._offset is None:
            return fallback()
        # The header is truncated to the second: the true time is up to 1 s later.
        return self._offset + self._monotonic() + 0.5
