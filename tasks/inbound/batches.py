"""The batches of a sync: what a batch holds (`Fetched`) and the one writer that lands and loads batches in turn.

A batch is normalised once (`tasks.inbound.warehouse.normalise_batch`); its rows are landed beside the raw orders
(`tasks.inbound.landing_rows`, so a replay by the same normaliser need not normalise again) and then written, in
one transaction with the watermark. A batch holding answers the sync could not use is landed raw only: a replay
normalises those answers too, so its rows would not be the rows of the part.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa

from tasks.inbound.landing import LandingWriter
from tasks.inbound.state import LoadCounts, NotLoaded, RunRecord, Watermark
from tasks.inbound.warehouse import load_orders_isolating_refusals, normalise_batch

_T = TypeVar("_T")


@dataclass
class Fetched:
    """Full orders to load, listed orders that could not be fetched, and raw answers kept only for the record."""

    orders: list[dict[str, Any]] = field(default_factory=list)
    not_loaded: list[NotLoaded] = field(default_factory=list)
    unusable: list[Any] = field(default_factory=list)

    def add(self, other: Fetched) -> None:
        self.orders += other.orders
        self.not_loaded += other.not_loaded
        self.unusable += other.unusable

    def __bool__(self) -> bool:
        return bool(self.orders or self.not_loaded or self.unusable)


class BatchWriter:
    """Lands and loads batches one at a time (one writer per run keeps SQLite happy and the order intact)."""

    def __init__(
        self,
        engine: sa.Engine,
        stream: str,
        run: RunRecord,
        *,
        company_id: int,
        landing_dir: Path | None,
        landing_rows: bool = True,
        on_batch: Callable[[LoadCounts], None] | None = None,
    ) -> None:
        self.engine = engine
        self.stream = stream
        self.run = run
        self.company_id = company_id
        self.landing = LandingWriter(landing_dir, stream, run.run_id, party_id=company_id) if landing_dir else None
        self.landing_rows = landing_rows
        self.on_batch = on_batch
        self.lock = asyncio.Lock()
        # Every batch is landed and loaded in the same thread: batches spread over the pool's threads left each
        # thread's allocator (glibc's arena, Arrow's) holding a batch's worth of freed memory, ~20 MiB of peak RSS
        # (bench/README.md#memory-with-landing-on). The batches are written one at a time anyway (`lock`).
        self.thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="billit-batch-writer")

    def close(self) -> None:
        self.thread.shutdown(wait=False)

    async def _in_thread(self, function: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
        return await asyncio.get_running_loop().run_in_executor(self.thread, partial(function, *args, **kwargs))

    async def write(self, fetched: Fetched, watermark: Watermark | None) -> None:
        if not fetched and watermark is None:
            return
        async with self.lock:
            counts = await self._in_thread(self._land_and_load, fetched, watermark)
            self.run.counts.add(counts)
            if self.on_batch is not None:
                self.on_batch(self.run.counts)

    def _land_and_load(self, fetched: Fetched, watermark: Watermark | None) -> LoadCounts:
        batch = normalise_batch(fetched.orders, stream=self.stream, run_id=self.run.run_id, company_id=self.company_id)
        landing_file = None
        if self.landing is not None:
            path = self.landing.write(
                [*fetched.orders, *fetched.unusable], batch if self.landing_rows and not fetched.unusable else None
            )
            landing_file = str(path) if path else None
        return load_orders_isolating_refusals(
            self.engine,
            fetched.orders,
            stream=self.stream,
            run_id=self.run.run_id,
            company_id=self.company_id,
            watermark=watermark,
            not_loaded=fetched.not_loaded,
            landing_file=landing_file,
            normalised=batch,
        )
