"""Incremental and windowed extraction of one stream from Billit into the warehouse (plain async functions).

An incremental run of a stream (purchases `Cost`, or sales `Income`):

1. **Probe** (one request): the newest page of the window that starts the look-back below the watermark (an
   overlap for changes Billit commits late; an hour more across the October fall-back, see `window_start`),
   newest first. Its first LastModified is the run's upper bound, fixed before any listing, so anything
   modified during the run is left for the next run. A window smaller than a page is all in the probe: the
   orders whose version the warehouse lacks are fetched, and a quiet run costs this request plus the deletions.
2. **List by key** a larger window, up to the upper bound, ordered by (LastModified, OrderID) and paged by key,
   never by position, with documented operators only (see `BillitClient.iter_order_pages_by_key`).
3. **Fetch** the full orders whose LastModified the warehouse does not already have, concurrently (bounded by
   the client), while the next pages are listed.
4. **Land and load** in batches of `SyncOptions.batch_size` orders: Parquet first, then one transaction per
   batch that also moves the watermark to the key of the last listing page the batch completes. Memory stays
   flat however large the backlog.
5. **Deletions**: the whole of `/v1/orders/deleted`, since what its LastModified means is unknown
   (`list_deletions`). It is read while the orders load, so the last load leaves no pause in the requests, and
   marked after them: the deletion of an order this run loaded must stand.

An order listed but not loaded (its detail answered 404, or 401, a 5xx or nothing on every try, or unreadably,
or it was quarantined whole) becomes pending (`tasks.inbound.state`); every incremental run first fetches the
pending orders again, so a bad answer never loses an order, even when the watermark has moved past it.

A backfill (`since`/`until`) lists a bounded window, split into slices listed concurrently, and never moves a
watermark. Batches are landed and loaded by `tasks.inbound.batches`; windows and keys are `tasks.inbound.windows`.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from connectors.aio import first_error
from connectors.billit import (
    BillitClient,
    BillitProtocolError,
    ODataQuery,
    PagingStats,
    all_of,
    prop,
)
from connectors.billit.client import DELETED_ORDERS_PATH
from connectors.billit.odata import PAGE_SIZE, BillitTimestamp, Expr
from connectors.billit.pagination import listed_order_id
from tasks.inbound.batches import BatchWriter, Fetched, fetch_orders
from tasks.inbound.state import LoadCounts, NotLoaded, RunRecord, Watermark, pending_orders
from tasks.inbound.warehouse import mark_deleted, stored_versions
from tasks.inbound.windows import (
    check_newest_first,
    later,
    newest_key,
    page_key,
    split_window,
    tick_before,
    window_start,
)


@dataclass(frozen=True)
class Stream:
    """One extraction stream (its own watermark): purchases or sales."""

    name: str
    direction: str


STREAMS: dict[str, Stream] = {
    "incoming": Stream("incoming", "Cost"),
    "sales": Stream("sales", "Income"),
}


@dataclass(frozen=True)
class SyncOptions:
    lookback: timedelta = timedelta(minutes=15)
    # Orders per landed and loaded batch, and listing pages fetched ahead of the loads: together they bound the
    # orders held at once (parsed in the batch being written, as Billit's bytes until then), hence the peak memory.
    # 100 (under a page's 120) against 200: 16 MiB less at the peak, and no slower (bench/README.md#sync-all). 50
    # held less with two streams side by side, but a replay of twice the parts took 15-25 % longer. One page ahead
    # against two: 2-3 MiB less with two streams side by side, for ~5 % of a `sync all`'s time.
    batch_size: int = 100
    landing_dir: Path | None = Path("landing")
    # Land each batch's normalised rows beside its raw part, so a replay need not normalise again: about 0.1 ms
    # of CPU per order in the sync (bench/README.md#replay-of-landed-parquet-benchreplaypy).
    landing_rows: bool = True
    pages_ahead: int = 1
    backfill_slices: int = 4
    # Pending orders fetched again at the start of each incremental run (oldest first).
    pending_per_run: int = 5000
    # Called after every committed batch with the run's counts so far (progress bars).
    on_batch: Callable[[LoadCounts], None] | None = None
    # Called as the listing goes with the orders listed so far and how many the window holds when that is known
    # (progress bars): the probe page is the whole window, or Billit sent a Count without being asked for one
    # (docs/reference/billit-api.md#count). Never a guess: None when neither.
    on_listed: Callable[[int, int | None], None] | None = None
    # Set from another thread (a command interrupted while its streams run side by side, a cancelled flow run): the
    # run stops before its next batch (`batches.SyncStopped`), instead of running to its end meanwhile.
    stop: threading.Event | None = None


@dataclass
class ExtractStats:
    requests: int = 0
    paging: PagingStats = field(default_factory=PagingStats)
    orders_listed: int = 0
    skipped_quiet: bool = False
    orders_expected: int | None = None  # how many the window holds, when known (SyncOptions.on_listed)


async def sync_stream(
    billit: BillitClient,
    engine: sa.Engine,
    stream: Stream,
    run: RunRecord,
    options: SyncOptions,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
) -> ExtractStats:
    """Bring the warehouse up to date for one stream (or, with since/until, for one window)."""
    stats = ExtractStats()
    requests_before = billit.requests_sent
    writer = BatchWriter(
        engine,
        stream.name,
        run,
        company_id=billit.settings.require_party_id(),
        landing_dir=options.landing_dir,
        landing_rows=options.landing_rows,
        on_batch=options.on_batch,
        stop=options.stop,
    )
    try:
        if since is not None or until is not None:
            await _backfill(billit, engine, stream, options, writer, stats, since=since, until=until)
        else:
            # Not a TaskGroup: a deletions list that fails must not cancel a load half way. Its error is raised
            # once the orders are loaded; an error of the loads cancels the listing.
            deletions = asyncio.ensure_future(list_deletions(billit, stream))
            try:
                await retry_pending(billit, engine, stream, options, writer)
                await _incremental(billit, engine, stream, run, options, writer, stats)
            except BaseException:
                deletions.cancel()
                await asyncio.gather(deletions, return_exceptions=True)
                raise
            for deleted in await deletions:
                run.counts.orders_deleted += await asyncio.to_thread(
                    mark_deleted,
                    engine,
                    deleted,
                    run_id=run.run_id,
                    company_id=billit.settings.require_party_id(),
                    direction=stream.direction,  # an item need not say its direction: the other stream marks it
                )
    finally:
        writer.close()
    stats.requests = billit.requests_sent - requests_before
    return stats


async def _incremental(
    billit: BillitClient,
    engine: sa.Engine,
    stream: Stream,
    run: RunRecord,
    options: SyncOptions,
    writer: BatchWriter,
    stats: ExtractStats,
) -> None:
    watermark = run.watermark_before
    lower = window_start(watermark, options.lookback) if watermark else None
    direction = prop("OrderDirection").eq(stream.direction)
    window: Expr = all_of([direction, *([prop("LastModified").ge(lower)] if lower else [])]) or direction
    # The newest page of the window, newest first. Its first order fixes the run's upper bound. When it holds
    # fewer orders than a page, it is the whole window: its versions, compared with the warehouse's, say what
    # changed, and a quiet run costs this one request (Billit's Count is not needed: it is undocumented).
    probe = await billit.list_page(
        ODataQuery(
            filter=window,
            orderby=(("LastModified", "desc"), ("OrderID", "desc")),
            top=PAGE_SIZE,
        )
    )
    if not probe.items:
        stats.skipped_quiet = True
        return
    upper = _listed_timestamp(probe.items[0], "the newest order")
    # A page shorter than asked is the whole window, unless it came with a NextPageLink (a server paging by less).
    whole_window = len(probe.items) < PAGE_SIZE and probe.next_link is None
    stats.orders_expected = len(probe.items) if whole_window else probe.count
    if whole_window:
        stats.paging.pages += 1
        stats.orders_listed += len(probe.items)
        _listed(options, stats)
        fetched = await _fetch_changed(billit, engine, probe.items, writer.run.counts)
        newest = later(watermark, newest_key(probe.items))
        stats.skipped_quiet = not fetched and newest == watermark
        while len(fetched.answers) > options.batch_size:  # the last batch moves the watermark
            batch, fetched, _ = fetched.split(options.batch_size)
            await writer.write(batch, None)
        await writer.write(fetched, None if stats.skipped_quiet else newest)
        return
    check_newest_first(probe.items)
    bounded = all_of([window, prop("LastModified").le(upper)])
    await _extract(billit, engine, bounded, options, writer, stats, floor=watermark, move_watermark=True)


async def _backfill(
    billit: BillitClient,
    engine: sa.Engine,
    stream: Stream,
    options: SyncOptions,
    writer: BatchWriter,
    stats: ExtractStats,
    *,
    since: datetime | None,
    until: datetime | None,
) -> None:
    direction = prop("OrderDirection").eq(stream.direction)
    slices: list[tuple[datetime | None, datetime | None]] = [(since, until)]
    if since is not None and until is not None:
        slices = list(split_window(since, until, options.backfill_slices))
    with first_error():
        async with asyncio.TaskGroup() as group:
            for start, end in slices:
                clauses: list[Expr] = [direction]
                if start is not None:
                    clauses.append(prop("LastModified").ge(start))
                if end is not None:  # [start, end) with documented operators only: `le` the tick before `end`
                    clauses.append(prop("LastModified").le(tick_before(end)))
                # Every order read in full, whatever is stored: how an operator repairs an order Billit changed
                # without moving LastModified (a PATCH may not: docs/reference/billit-api.md#timestamps).
                group.create_task(
                    _extract(
                        billit, engine, all_of(clauses), options, writer, stats,
                        floor=None, move_watermark=False, refetch=True,
                    )
                )  # fmt: skip


async def _extract(
    billit: BillitClient,
    engine: sa.Engine,
    window: Expr | None,
    options: SyncOptions,
    writer: BatchWriter,
    stats: ExtractStats,
    *,
    floor: Watermark | None,
    move_watermark: bool,
    refetch: bool = False,
) -> None:
    """List `window` by key, fetch what changed (with `refetch`, every order listed), land and load in batches
    (listing runs ahead of loading)."""
    pages: asyncio.Queue[tuple[list[dict[str, Any]], asyncio.Task[Fetched]] | None] = asyncio.Queue(
        maxsize=options.pages_ahead
    )

    with first_error():
        async with asyncio.TaskGroup() as group:

            async def list_pages() -> None:
                async for page in billit.iter_order_pages_by_key(window, stats=stats.paging):
                    stats.orders_listed += len(page)
                    _listed(options, stats)
                    fetching = group.create_task(_fetch_changed(billit, engine, page, writer.run.counts, refetch))
                    await pages.put((page, fetching))
                await pages.put(None)

            async def load_pages() -> None:
                fetched = Fetched()
                key: Watermark | None = None
                while (entry := await pages.get()) is not None:
                    page, fetching = entry
                    listed_key = page_key(page)
                    fetched.add_page(await fetching, listed_key)
                    writer.stop_if_asked()
                    key = listed_key or key
                    # A page holds up to 120 orders (docs/reference/billit-api.md#paging), so a batch often ends
                    # inside one: it moves the watermark to the key of the last page it completes, if any.
                    while len(fetched.answers) >= options.batch_size:
                        batch, fetched, done = fetched.split(options.batch_size)
                        await writer.write(batch, later(floor, done) if move_watermark and done else None)
                await writer.write(fetched, later(floor, key) if move_watermark else None)

            group.create_task(list_pages())
            group.create_task(load_pages())


def _listed(options: SyncOptions, stats: ExtractStats) -> None:
    if options.on_listed is not None:
        options.on_listed(stats.orders_listed, stats.orders_expected)


async def _fetch_changed(
    billit: BillitClient,
    engine: sa.Engine,
    page: list[dict[str, Any]],
    counts: LoadCounts,
    refetch: bool = False,
) -> Fetched:
    """The full orders of a listing page whose LastModified the warehouse does not have yet (with `refetch`, all)."""
    listed = _listed_versions(page)
    changed = listed
    if not refetch:
        known = await asyncio.to_thread(
            stored_versions, engine, list(listed), company_id=billit.settings.require_party_id()
        )
        changed = {order_id: version for order_id, version in listed.items() if known.get(order_id) != version}
        counts.orders_unchanged += len(listed) - len(changed)
    unkeyed = [
        NotLoaded(None, str(item.get("LastModified", ""))[:40], "listed without an OrderID")
        for item in page
        if listed_order_id(item) is None
    ]
    return await fetch_orders(billit, changed, unkeyed)


async def retry_pending(
    billit: BillitClient,
    engine: sa.Engine,
    stream: Stream,
    options: SyncOptions,
    writer: BatchWriter,
) -> None:
    """Fetch the stream's pending orders again and load those that now load."""
    pending = await asyncio.to_thread(
        pending_orders,
        engine,
        stream.name,
        company_id=billit.settings.require_party_id(),
        limit=options.pending_per_run,
    )
    for start in range(0, len(pending), options.batch_size):
        chunk = pending[start : start + options.batch_size]
        versions = {item.order_id: item.listed_last_modified for item in chunk if item.order_id is not None}
        await writer.write(await fetch_orders(billit, versions), None)


def _listed_timestamp(item: dict[str, Any], what: str) -> BillitTimestamp:
    try:
        return BillitTimestamp(str(item.get("LastModified")))
    except ValueError:
        raise BillitProtocolError(
            f"Billit listed {what} without a readable LastModified (is BILLIT_BASE_URL a Billit API root?)"
        ) from None


def _listed_versions(page: list[dict[str, Any]]) -> dict[int, str]:
    """OrderID -> LastModified text of a listing page; an OrderID listed twice keeps its newest entry."""
    versions: dict[int, str] = {}
    for item in page:
        if (order_id := listed_order_id(item)) is not None:
            version = str(item.get("LastModified", ""))
            versions[order_id] = max(versions.get(order_id, version), version)
    return versions


async def list_deletions(billit: BillitClient, stream: Stream) -> list[list[dict[str, Any]]]:
    """The pages of this stream's orders Billit lists as deleted, to be marked (`mark_deleted`, `is_deleted`).

    Billit documents `/v1/orders/deleted` only as "a list of deleted orders" (docs/reference/billit-api.md#deletions):
    whether it honours `$filter`, and whether its LastModified is the deletion time or the order's last change, is
    unknown. A watermark on that LastModified would miss the deletion of an order last changed long ago, so every
    run reads the whole list (one request per 120 deleted orders) and keeps this stream's orders itself: it sends no
    `$filter`, which the list may ignore, or refuse with a 400 that would fail every run. Paging follows
    NextPageLink, or `$skip` after a full page without one: every request asks `$top=120`, since whether this list
    pages like the orders is unknown too, and one that answered 120 without a link would end the listing there. The
    list only grows, and a repeat is dropped. Only what marking needs is kept of each.
    """
    query = ODataQuery(orderby=(("OrderID", "asc"),))
    pages = []
    async for page in billit.iter_order_pages(query, path=DELETED_ORDERS_PATH, page_size=PAGE_SIZE):
        deleted = [item for item in page if item.get("OrderDirection", stream.direction) == stream.direction]
        for item in deleted:  # a deletion is never skipped: an unreadable one fails the run
            _listed_timestamp(item, "a deleted order")
        pages.append([{"OrderID": item.get("OrderID"), "LastModified": item["LastModified"]} for item in deleted])
    return pages
