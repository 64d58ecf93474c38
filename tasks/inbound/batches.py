"""The batches of a sync: the detail answers a batch holds (`fetch_orders`, `Fetched`) and the one writer that
lands and loads batches in turn.

A batch is normalised once (`tasks.inbound.warehouse.normalise_batch`); its rows are landed beside the raw orders
(`tasks.inbound.landing_rows`, so a replay by the same normaliser need not normalise again) and then written, in
one transaction with the watermark. A batch holding answers the sync could not use is landed raw only: a replay
normalises those answers too, so its rows would not be the rows of the part.
"""

from __future__ import annotations

import asyncio
import ctypes
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cache, partial
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa

from connectors.aio import first_error
from connectors.billit import (
    BillitClient,
    BillitForbiddenIdError,
    BillitNotFoundError,
    BillitProtocolError,
    BillitServerError,
    BillitTransportError,
    ODataQuery,
)
from connectors.billit.odata import BillitTimestamp
from connectors.billit.pagination import listed_order_id
from connectors.billit.responses import OrderAnswer
from tasks.inbound.landing import LandingWriter
from tasks.inbound.state import LoadCounts, NotLoaded, RunRecord, Watermark
from tasks.inbound.warehouse import load_orders_isolating_refusals, normalise_batch

_T = TypeVar("_T")

#: The GIL slice while a writer runs (Python's default is 5 ms): see `_ShortGilSlices`.
WRITER_SWITCH_INTERVAL_S = 0.0005


class _ShortGilSlices:
    """While any writer lives, the interpreter hands the GIL over every 0.5 ms instead of every 5 ms.

    The writer thread normalises and loads in pure Python while the event loop waits on Billit's answers: with
    5 ms slices, each answer (and the next request it lets go) waited up to 5 ms for the writer to yield, so the
    requests in flight fell below `max_concurrency` and Billit sat idle (bench/README.md#sync-all). Shorter
    slices cost a little switching and keep the requests going. The interval is the process's: it is restored
    when the last writer closes, whatever the writers' order.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._writers = 0
        self._before = sys.getswitchinterval()

    def enter(self) -> None:
        with self._lock:
            if self._writers == 0:
                self._before = sys.getswitchinterval()
                sys.setswitchinterval(min(self._before, WRITER_SWITCH_INTERVAL_S))
            self._writers += 1

    def leave(self) -> None:
        with self._lock:
            self._writers -= 1
            if self._writers == 0:
                sys.setswitchinterval(self._before)


_short_gil_slices = _ShortGilSlices()


class _GlibcHeap:
    """Keeps a sync's peak RSS near what it holds, where the C library is glibc (elsewhere: nothing).

    A batch's orders, rows and Arrow buffers are freed when it is written, but glibc keeps the freed pages, and
    each thread that allocates gets an arena of its own: the event loop's thread parses answers while the writer
    writes. The peak RSS crept up by ~20 MiB over a 5,000-order run. So the writers' process uses at most two
    arenas (set before the writer thread allocates), and each batch starts by handing the pages its predecessor
    freed back to the system (`malloc_trim`, about a millisecond). Measured in bench/README.md#sync-all.
    """

    M_ARENA_MAX = -8  # mallopt's parameter number, from glibc's malloc.h

    def __init__(self) -> None:
        libc = ctypes.CDLL(None)
        self._mallopt = getattr(libc, "mallopt", None)
        self._malloc_trim = getattr(libc, "malloc_trim", None)
        self._arenas_capped = False

    def cap_arenas(self) -> None:
        if self._mallopt is not None and not self._arenas_capped:
            self._arenas_capped = True
            self._mallopt(self.M_ARENA_MAX, 2)

    def return_freed_pages(self) -> None:
        if self._malloc_trim is not None:
            self._malloc_trim(0)


_glibc_heap = _GlibcHeap()


@cache
def _writer_thread() -> ThreadPoolExecutor:
    """The one thread that lands and loads every batch of the process, whatever its stream or company.

    Batches spread over several threads left each thread's allocator (glibc's arena, Arrow's) holding a batch's
    worth of freed memory, and two streams side by side each held a batch being normalised at once: 6 MiB of a
    `sync all`'s peak RSS (bench/README.md#memory-with-landing-on). Nothing is lost by writing them in turn:
    normalising holds the GIL, SQLite takes one writer at a time anyway, and into PostgreSQL a `sync all` of
    5,000 orders took 10.4-11.1 s against 11.2-11.5 s with a thread per writer.
    """
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="billit-batch-writer")


@dataclass
class Fetched:
    """Detail answers to read and load, each with the version its order was listed at, and listed orders that could
    not be fetched. The answers are read (parsed, checked) by the writer: `Answers`."""

    answers: list[tuple[OrderAnswer, str]] = field(default_factory=list)
    not_loaded: list[NotLoaded] = field(default_factory=list)
    # Where each listing page added whole ends among `answers`, with the page's key: a batch may end inside a page,
    # and only the key of a page whose orders are all written may become the watermark.
    page_ends: list[tuple[int, Watermark]] = field(default_factory=list)

    def add_page(self, other: Fetched, key: Watermark | None) -> None:
        """`other`, the fetched orders of one listing page whose key is `key` (None: no well-formed item)."""
        self.answers += other.answers
        self.not_loaded += other.not_loaded
        if key is not None:
            self.page_ends.append((len(self.answers), key))

    def split(self, size: int) -> tuple[Fetched, Fetched, Watermark | None]:
        """The first `size` answers (with the listed orders that could not be fetched), the rest, and the key of
        the last page whose answers are all among the first (None when none is)."""
        if size < 1:
            raise ValueError(f"a batch holds at least one order, not {size}")
        done = [key for end, key in self.page_ends if end <= size]
        rest = Fetched(self.answers[size:], page_ends=[(end - size, key) for end, key in self.page_ends if end > size])
        return Fetched(self.answers[:size], self.not_loaded), rest, done[-1] if done else None

    def __bool__(self) -> bool:
        return bool(self.answers or self.not_loaded)


#: What the landing and the pending rows need of an order once it is normalised (`Answers.orders`).
ORDER_HEADER = ("OrderID", "OrderDirection", "LastModified", "CompanyID")


@dataclass
class Answers:
    """A batch's detail answers, read one at a time by `usable`: the orders to load, each kept once read only as
    its header (`ORDER_HEADER`) with the text Billit sent, the answers kept only for the record (unusable), and
    the listed orders whose answer cannot be loaded.

    A parsed order is five times its text (~50 KB): holding a whole batch of them was most of a sync's peak
    memory beyond its imports (bench/README.md#memory-with-landing-on). Billit's bytes stay in the batch, so the
    orders can be read again (`full_orders`) for the order-by-order retry after the database refuses the batch.
    """

    source: list[tuple[OrderAnswer, str]]
    orders: list[dict[str, Any]] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    unusable: list[dict[str, Any]] = field(default_factory=list)
    unusable_texts: list[str] = field(default_factory=list)
    not_loaded: list[NotLoaded] = field(default_factory=list)
    loadable: list[OrderAnswer] = field(default_factory=list)

    def one_per_order(self) -> bool:
        """Every answer is of another order (else the normaliser must see them all to keep the newest)."""
        return len({answer.order_id for answer, _ in self.source}) == len(self.source)

    def storable_text(self) -> bool:
        """No answer can hold text a database cannot store (see `normalise_orders`)."""
        return not any(answer.may_hold_unstorable_text() for answer, _ in self.source)

    def usable(self) -> Iterator[dict[str, Any]]:
        """Decode and parse each answer in turn, yielding the orders to load; one that is not an order object, or
        not the listed order's version, is not loaded."""
        for answer, version in self.source:
            try:
                text, order = answer.read_order()
            except BillitProtocolError as exc:
                self.not_loaded.append(NotLoaded(answer.order_id, version, f"unreadable detail answer: {exc}"[:300]))
                continue
            problem = None
            if listed_order_id(order) != answer.order_id:
                problem = "its detail answer has another or no OrderID"
            elif _older(order.get("LastModified"), version):
                # A stale copy (a cache, a replica behind): taking it would leave the listed version unloaded for good.
                problem = "its detail answer is older than its listing"
            if problem is None:
                self.orders.append({name: order[name] for name in ORDER_HEADER if name in order})
                self.texts.append(text)
                self.loadable.append(answer)
                yield order
            else:
                self.unusable.append(order)
                self.unusable_texts.append(text)
                self.not_loaded.append(NotLoaded(answer.order_id, version, problem, raw_landed=True))

    def full_orders(self) -> list[dict[str, Any]]:
        """The orders to load, parsed again from Billit's bytes."""
        return [answer.read_order()[1] for answer in self.loadable]


def _older(detail: Any, listed: str) -> bool:
    """True when the detail's LastModified is readable and before the listed one (unreadable ones are the
    normaliser's to judge)."""
    try:
        return BillitTimestamp(str(detail)).sort_key < BillitTimestamp(listed).sort_key
    except ValueError:
        return False


class SyncStopped(Exception):
    """A run stopped before its next batch because the command running it beside others was interrupted (Ctrl-C,
    SIGTERM), or its Prefect flow run cancelled: what it committed stays, and its `sync_runs` row says why."""


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
        stop: threading.Event | None = None,
    ) -> None:
        self.engine = engine
        self.stop = stop
        self.stream = stream
        self.run = run
        self.company_id = company_id
        self.landing = LandingWriter(landing_dir, stream, run.run_id, party_id=company_id) if landing_dir else None
        self.landing_rows = landing_rows
        self.on_batch = on_batch
        self.lock = asyncio.Lock()
        self.thread = _writer_thread()
        self.closed = False
        _short_gil_slices.enter()
        _glibc_heap.cap_arenas()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            _short_gil_slices.leave()

    async def _in_thread(self, function: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
        return await asyncio.get_running_loop().run_in_executor(self.thread, partial(function, *args, **kwargs))

    def stop_if_asked(self) -> None:
        """SyncStopped if the run is asked to stop and no batch is being loaded (one being loaded commits first).
        Called before each batch, and by the listing after each page: a listing of orders the warehouse holds
        already (an incremental run, mostly unchanged) would otherwise go on to its end without a batch to write."""
        if not self.lock.locked():
            self._raise_if_stopped()

    def _raise_if_stopped(self) -> None:
        if self.stop is not None and self.stop.is_set():
            raise SyncStopped("stopped before its next batch: interrupted or cancelled")

    async def write(self, fetched: Fetched, watermark: Watermark | None) -> None:
        if not fetched and watermark is None:
            return
        async with self.lock:  # a backfill's slices share the writer: a stop waits for the batch being loaded
            self._raise_if_stopped()
            counts = await self._in_thread(self._land_and_load, fetched, watermark)
            self.run.counts.add(counts)
            if self.on_batch is not None:
                self.on_batch(self.run.counts)

    def _land_and_load(self, fetched: Fetched, watermark: Watermark | None) -> LoadCounts:
        _glibc_heap.return_freed_pages()  # the previous batch's, freed by now
        answers = Answers(fetched.answers)
        batch = normalise_batch(
            answers.usable(),
            stream=self.stream,
            run_id=self.run.run_id,
            company_id=self.company_id,
            one_per_order=answers.one_per_order(),
            storable_text=answers.storable_text(),
        )
        landing_file = None
        if self.landing is not None:
            path = self.landing.write(
                [*answers.orders, *answers.unusable],
                [*answers.texts, *answers.unusable_texts],
                batch if self.landing_rows and not answers.unusable else None,
            )
            # Absolute: the VAT return reads a quarantined order's date from it, from whatever directory it runs in.
            landing_file = str(path.absolute()) if path else None
        return load_orders_isolating_refusals(
            self.engine,
            answers.orders,
            stream=self.stream,
            run_id=self.run.run_id,
            company_id=self.company_id,
            watermark=watermark,
            not_loaded=[*fetched.not_loaded, *answers.not_loaded],
            landing_file=landing_file,
            normalised=batch,
            full_orders=answers.full_orders,
        )


async def fetch_orders(
    billit: BillitClient,
    listed: dict[int, str],
    not_loaded: list[NotLoaded] | None = None,
) -> Fetched:
    """The detail answers of `listed` (OrderID -> listed LastModified), read later by the writer
    (`Answers`); an order whose detail answered 404 (or no usable answer: see below) becomes a NotLoaded."""
    fetched = Fetched(not_loaded=list(not_loaded or ()))
    unserved: list[int] = []

    async def fetch(order_id: int, version: str) -> None:
        try:
            fetched.answers.append((await billit.get_order_answer(order_id), version))
        except BillitNotFoundError:
            # Deleted since it was listed (then /v1/orders/deleted will say so), or a wrong answer: pending either way.
            fetched.not_loaded.append(NotLoaded(order_id, version, "listed, but its detail answered 404"))
        except (BillitForbiddenIdError, BillitServerError, BillitTransportError) as exc:
            # A 401 for an id one may not see (a deleted order's? docs/reference/billit-api.md#deletions), or a 5xx,
            # a dropped connection or a timeout on every try, may be this order's alone; if the credentials were
            # revoked, or Billit is down, the company's listing, asked at the first such order, fails the run (and
            # the TaskGroup stops the other orders' retries).
            unserved.append(order_id)
            if len(unserved) == 1:
                await billit.list_page(ODataQuery(top=1))
            fetched.not_loaded.append(NotLoaded(order_id, version, f"listed, but its detail {_unserved(exc)}"))

    with first_error():
        async with asyncio.TaskGroup() as group:
            for order_id, version in listed.items():
                group.create_task(fetch(order_id, version))
    if len(unserved) > 1:  # asked again: Billit may have gone down after the first (found by a review)
        await billit.list_page(ODataQuery(top=1))
    return fetched


def _unserved(exc: BillitForbiddenIdError | BillitServerError | BillitTransportError) -> str:
    if isinstance(exc, BillitForbiddenIdError):
        return f"answered {exc.status} (deleted since?)"
    if isinstance(exc, BillitServerError):
        return f"answered {exc.status} on every try"
    return f"got no answer on any try ({str(exc).removeprefix(f'{exc.method} {exc.url}: ')[:120]})"
