"""How a migration run reports what it does: step messages and backfill progress.

The library logs by default (`LogReporter`). The CLI picks a Rich progress bar
when its output is a terminal (`RichReporter`) and quiet periodic lines
otherwise (`PlainReporter`), which is what CI logs want.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol, TextIO

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress, TaskID

__all__ = ["LogReporter", "PlainReporter", "Reporter", "RichReporter", "default_reporter"]

logger = logging.getLogger("openai_agents_session.migrations")


class Reporter(Protocol):
    """Receives a run's step messages and backfill progress."""

    def info(self, message: str) -> None:
        """A step: "applying 0004_add_tenant_index", "adopted 0001_create_table"."""

    def warning(self, message: str) -> None:
        """Something the operator should know, e.g. a degraded endpoint."""

    def progress(
        self,
        task: str,
        *,
        completed: int,
        total: int | None,
        counts: Mapping[str, int],
        done: bool = False,
    ) -> None:
        """Backfill `task` has examined `completed` items of about `total`."""

    def close(self) -> None:
        """Finish output (stop a live progress display)."""


def _summary(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in counts.items())


class _Throttled:
    """Shared logic of the line-based reporters: one progress line per interval."""

    def __init__(self, interval: float, clock: Callable[[], float]) -> None:
        self.interval = interval
        self._clock = clock
        self._last: dict[str, float] = {}

    def _due(self, task: str, done: bool) -> bool:
        now = self._clock()
        if done or now - self._last.get(task, float("-inf")) >= self.interval:
            self._last[task] = now
            return True
        return False


class LogReporter(_Throttled):
    """Reports through the ``openai_agents_session.migrations`` logger (library default)."""

    def __init__(self, interval: float = 10.0, clock: Callable[[], float] = time.monotonic):
        """Log progress at most every `interval` seconds per backfill."""
        super().__init__(interval, clock)

    def info(self, message: str) -> None:
        """Log at INFO."""
        logger.info("%s", message)

    def warning(self, message: str) -> None:
        """Log at WARNING."""
        logger.warning("%s", message)

    def progress(
        self,
        task: str,
        *,
        completed: int,
        total: int | None,
        counts: Mapping[str, int],
        done: bool = False,
    ) -> None:
        """Log a progress line when due."""
        if self._due(task, done):
            logger.info("backfill %s: %s%s", task, _summary(counts), " (done)" if done else "")

    def close(self) -> None:
        """Nothing to finish."""


class PlainReporter(_Throttled):
    """Quiet plain lines on a stream, progress at most every `interval` seconds (for CI)."""

    def __init__(
        self,
        stream: TextIO | None = None,
        interval: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Write to `stream` (stderr by default)."""
        super().__init__(interval, clock)
        self.stream = stream

    def _write(self, line: str) -> None:
        stream = self.stream or sys.stderr
        stream.write(line + "\n")
        stream.flush()

    def info(self, message: str) -> None:
        """Write one line."""
        self._write(message)

    def warning(self, message: str) -> None:
        """Write one ``warning:`` line."""
        self._write(f"warning: {message}")

    def progress(
        self,
        task: str,
        *,
        completed: int,
        total: int | None,
        counts: Mapping[str, int],
        done: bool = False,
    ) -> None:
        """Write a progress line when due."""
        if self._due(task, done):
            of = f"/~{total}" if total else ""
            state = "done" if done else "running"
            self._write(f"backfill {task}: {completed}{of} items ({_summary(counts)}) {state}")

    def close(self) -> None:
        """Nothing to finish."""


class RichReporter:
    """A Rich progress bar per backfill, and step messages above it (for terminals)."""

    def __init__(self, console: Console) -> None:
        """Draw on `console`."""
        self.console = console
        self._progress: Progress | None = None
        self._tasks: dict[str, TaskID] = {}

    def info(self, message: str) -> None:
        """Print one line."""
        self.console.print(message, highlight=False)

    def warning(self, message: str) -> None:
        """Print a yellow warning line."""
        self.console.print(f"[yellow]warning:[/] {message}", highlight=False)

    def _bar(self) -> Progress:
        if self._progress is None:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
            )

            self._progress = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[summary]}"),
                TimeElapsedColumn(),
                console=self.console,
                transient=False,
            )
            self._progress.start()
        return self._progress

    def progress(
        self,
        task: str,
        *,
        completed: int,
        total: int | None,
        counts: Mapping[str, int],
        done: bool = False,
    ) -> None:
        """Advance the bar of `task`."""
        bar = self._bar()
        if task not in self._tasks:
            self._tasks[task] = bar.add_task(f"backfill {task}", total=total, summary="")
        final_total: Any = completed if done else max(total or 0, completed) or None
        bar.update(
            self._tasks[task], completed=completed, total=final_total, summary=_summary(counts)
        )

    def close(self) -> None:
        """Stop the live display."""
        if self._progress is not None:
            self._progress.stop()
            self._progress = None


def default_reporter() -> Reporter:
    """The library's default: log through ``openai_agents_session.migrations``."""
    return LogReporter()
