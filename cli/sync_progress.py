"""What `billit-etl sync` and `backfill` show while a stream runs: the orders listed (of how many, when that is
known), new, changed and lines loaded.

The total is known only when the sync's probe page holds the whole window, or when Billit sends a `Count` it was
not asked for: the sync never asks (docs/reference/billit-api.md#count), and the total is never estimated. On a
terminal, a stream with a total gets a bar, listed/total, the rate and the time left; one without keeps a spinner
with the counts and the rate. Not on a terminal (cron, CI, a pipe) nothing is redrawn: plain lines, the first at
once, then at most one every `PLAIN_EVERY_S` seconds, and one when the stream is done.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Protocol

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from cli.app import console as stdout_console

PLAIN_EVERY_S = 10.0  # a cron log gets a line this often at most, not a redraw

__all__ = ["PLAIN_EVERY_S", "StreamProgress", "sync_progress"]


@dataclass
class StreamProgress:
    """One stream's progress; `listed` and `loaded` are the sync's callbacks (`run_stream`'s on_listed, on_batch)."""

    stream: str
    clock: Callable[[], float]
    on_change: Callable[[StreamProgress], None]
    started: float = field(init=False)
    orders_listed: int = 0
    orders_expected: int | None = None
    new: int = 0
    changed: int = 0
    lines: int = 0

    def __post_init__(self) -> None:
        self.started = self.clock()

    def listed(self, orders: int, expected: int | None) -> None:
        self.orders_listed, self.orders_expected = orders, expected
        self.on_change(self)

    def loaded(self, counts: Any) -> None:
        """The run's counts so far (a `LoadCounts`)."""
        self.new, self.changed, self.lines = counts.orders_new, counts.orders_changed, counts.lines_loaded
        self.on_change(self)

    def rate(self) -> float | None:
        """Orders listed per second since the stream started."""
        elapsed = self.clock() - self.started
        return self.orders_listed / elapsed if elapsed > 0 and self.orders_listed else None

    def counts_text(self) -> str:
        return f"{self.new:,} new, {self.changed:,} changed, {self.lines:,} lines loaded"

    def line(self, *, done: bool = False) -> str:
        """The plain line: listed (of the total, when known), the counts, the rate and, while running, the time left."""
        listed = f"{self.orders_listed:,} orders listed"
        if self.orders_expected is not None:
            share = min(self.orders_listed, self.orders_expected) / max(self.orders_expected, 1)
            listed = f"{self.orders_listed:,} of {self.orders_expected:,} orders listed ({share:.0%})"
        parts = [listed, self.counts_text()]
        rate = self.rate()
        if rate is not None:
            parts.append(f"{rate:,.0f} orders/s")
        if not done and rate and self.orders_expected is not None and self.orders_listed < self.orders_expected:
            parts.append(f"about {_duration((self.orders_expected - self.orders_listed) / rate)} left")
        head = f"{self.stream}: done in {_duration(self.clock() - self.started)}, " if done else f"{self.stream}: "
        return head + ", ".join(parts)


class SyncProgress(Protocol):
    def stream(self, name: str) -> AbstractContextManager[StreamProgress]:
        """Show one stream while the block runs; the block hands the sync the StreamProgress's callbacks."""
        ...


@contextmanager
def sync_progress(
    console: Console | None = None, *, clock: Callable[[], float] = time.monotonic, every_s: float = PLAIN_EVERY_S
) -> Iterator[SyncProgress]:
    """The progress display of a sync: live on a terminal, plain lines otherwise."""
    console = console or stdout_console
    if not console.is_terminal:
        yield _PlainLines(console, clock, every_s)
        return
    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        _WithTotal(BarColumn()),
        _WithTotal(MofNCompleteColumn()),
        _Rate(),
        _WithTotal(TimeRemainingColumn()),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=True) as progress:
        yield _Live(progress, clock)


class _PlainLines:
    def __init__(self, console: Console, clock: Callable[[], float], every_s: float) -> None:
        self.console, self.clock, self.every_s = console, clock, every_s
        self.last_printed: float | None = None

    @contextmanager
    def stream(self, name: str) -> Iterator[StreamProgress]:
        self.last_printed = None
        shown = StreamProgress(name, self.clock, self._changed)
        yield shown
        self._print(shown.line(done=True))

    def _changed(self, shown: StreamProgress) -> None:
        if self.last_printed is None or self.clock() - self.last_printed >= self.every_s:
            self._print(shown.line())

    def _print(self, line: str) -> None:
        self.last_printed = self.clock()
        self.console.print(line, markup=False, highlight=False, soft_wrap=True)


class _Live:
    def __init__(self, progress: Progress, clock: Callable[[], float]) -> None:
        self.progress, self.clock = progress, clock

    @contextmanager
    def stream(self, name: str) -> Iterator[StreamProgress]:
        task = self.progress.add_task(f"{name}: listing and loading", total=None)

        def changed(shown: StreamProgress) -> None:
            counts = shown.counts_text()
            self.progress.update(
                task,
                completed=shown.orders_listed,
                total=shown.orders_expected,
                description=f"{name}: {counts}"
                if shown.orders_expected is not None
                else f"{name}: {shown.orders_listed:,} listed, {counts}",
            )

        try:
            yield StreamProgress(name, self.clock, changed)
        finally:
            self.progress.remove_task(task)


class _WithTotal(ProgressColumn):
    """A column shown only for a task whose total is known (no pulsing bar, no "?" total, no unknown time left)."""

    def __init__(self, column: ProgressColumn) -> None:
        super().__init__()
        self.column = column

    def render(self, task: Task) -> Any:
        return self.column(task) if task.total is not None else Text("")


class _Rate(ProgressColumn):
    def render(self, task: Task) -> Text:
        return Text(f"{task.speed:,.0f} orders/s" if task.speed else "", style="progress.data.speed")


def _duration(seconds: float) -> str:
    return str(timedelta(seconds=round(max(seconds, 0))))
