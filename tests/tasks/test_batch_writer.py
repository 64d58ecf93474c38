"""The batch writer keeps the event loop responsive: short GIL slices while any writer lives, restored after; a
batch that ends inside a listing page moves the watermark only to a page it completes."""

from __future__ import annotations

import asyncio
import json
import sys
import threading
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa

from connectors.billit.responses import OrderAnswer
from connectors.warehouse import create_warehouse_engine, upgrade
from tasks.inbound.batches import WRITER_SWITCH_INTERVAL_S, BatchWriter, Fetched, SyncStopped
from tasks.inbound.state import LoadCounts, NotLoaded, RunRecord, Watermark


@pytest.fixture
def default_slices() -> Iterator[float]:
    before = sys.getswitchinterval()
    sys.setswitchinterval(0.005)
    yield 0.005
    sys.setswitchinterval(before)


def _writer() -> BatchWriter:
    run = RunRecord(run_id="r", stream="sales", mode="incremental", company_id=1)
    return BatchWriter(sa.create_engine("sqlite://"), "sales", run, company_id=1, landing_dir=None)


def test_writers_shorten_the_gil_slice_until_the_last_one_closes(default_slices: float) -> None:
    first = _writer()
    assert sys.getswitchinterval() == pytest.approx(WRITER_SWITCH_INTERVAL_S)
    second = _writer()
    first.close()
    first.close()  # closing twice leaves the count alone
    assert sys.getswitchinterval() == pytest.approx(WRITER_SWITCH_INTERVAL_S)
    second.close()
    assert sys.getswitchinterval() == pytest.approx(default_slices)


def _page(first: int, count: int) -> tuple[Fetched, Watermark]:
    answers = [
        (OrderAnswer(order_id, b"{}", None, None, f"GET /v1/orders/{order_id}", str), "v")
        for order_id in range(first, first + count)
    ]
    return Fetched(answers), Watermark("2026-01-01T00:00:00", first + count - 1)


def test_a_batch_moves_the_watermark_only_to_the_last_page_it_completes() -> None:
    fetched = Fetched(not_loaded=[NotLoaded(7, "v", "unreadable")])
    first, first_key = _page(1, 120)
    second, second_key = _page(121, 120)
    fetched.add_page(first, first_key)
    batch, fetched, done = fetched.split(100)
    assert [answer.order_id for answer, _ in batch.answers] == list(range(1, 101))
    assert batch.not_loaded and not fetched.not_loaded and done is None  # page 1 is not all written yet
    fetched.add_page(second, second_key)
    fetched.add_page(Fetched(), None)  # a page without a well-formed key moves nothing
    batch, fetched, done = fetched.split(100)
    assert done == first_key and len(fetched.answers) == 40
    # A page whose orders were all unchanged (nothing fetched) is complete as soon as the page before it is; one
    # that could not be fetched goes with the next batch, before any watermark past it.
    _, unchanged_key = _page(241, 120)
    fetched.add_page(Fetched(not_loaded=[NotLoaded(300, "v", "404")]), unchanged_key)
    batch, fetched, done = fetched.split(40)
    assert done == unchanged_key and [n.order_id for n in batch.not_loaded] == [300]
    assert not fetched and fetched.page_ends == []
    with pytest.raises(ValueError, match="at least one order"):
        _page(1, 1)[0].split(0)


def _answer(order: dict[str, object]) -> tuple[OrderAnswer, str]:
    body = json.dumps(order).encode()
    request = f"GET /v1/orders/{order['OrderID']}"
    return OrderAnswer(int(order["OrderID"]), body, "utf-8", "application/json", request, str), "v0"  # type: ignore[call-overload]


@pytest.mark.parametrize("newest_first", [False, True])
def test_of_two_answers_for_one_order_in_a_batch_the_newest_is_loaded(newest_first: bool, tmp_path: Path) -> None:
    # The batch writer reads one answer at a time unless two are of one order: then all, to keep the newest.
    older, newer = (
        {"OrderID": 1, "OrderDirection": "Cost", "LastModified": f"2026-01-02T10:00:0{second}", "TotalIncl": total}
        for second, total in ((0, "10.00"), (5, "12.00"))
    )
    other = {"OrderID": 2, "OrderDirection": "Cost", "LastModified": "2026-01-02T09:00:00", "TotalIncl": "1.00"}
    engine = create_warehouse_engine(f"sqlite:///{tmp_path / 'warehouse.sqlite'}")
    upgrade(engine)
    writer = BatchWriter(
        engine, "incoming", RunRecord("r", "incoming", "incremental", company_id=1), company_id=1, landing_dir=None
    )
    try:
        ordered = [newer, older] if newest_first else [older, newer]
        counts = writer._land_and_load(Fetched([_answer(ordered[0]), _answer(other), _answer(ordered[1])]), None)
        with engine.connect() as connection:
            totals = dict(connection.execute(sa.text("SELECT order_id, total_incl FROM invoices")).all())
    finally:
        writer.close()
        engine.dispose()
    assert counts.orders_new == 2
    assert totals == {1: Decimal("12.00"), 2: Decimal("1.00")}


async def test_a_stopped_run_stops_only_once_the_batch_being_loaded_is_committed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Before: the backfill's slices share one writer, and a slice that asked to write after the stop raised at once,
    # while another slice's batch was still loading in the writer's thread: the run was closed before that batch
    # committed (its summary short of the batch, its heartbeat after its end), found by a reviewer.
    stop = threading.Event()
    run = RunRecord(run_id="r", stream="sales", mode="backfill", company_id=1)
    writer = BatchWriter(sa.create_engine("sqlite://"), "sales", run, company_id=1, landing_dir=None, stop=stop)
    loading, release, committed = threading.Event(), threading.Event(), []

    def slow_load(fetched: Fetched, watermark: Watermark | None) -> LoadCounts:
        loading.set()
        release.wait(10)
        committed.append(len(fetched.answers))
        return LoadCounts(orders_new=len(fetched.answers))

    monkeypatch.setattr(writer, "_land_and_load", slow_load)
    try:
        first = asyncio.create_task(writer.write(*_page(1, 3)))
        assert await asyncio.to_thread(loading.wait, 10)
        stop.set()
        second = asyncio.create_task(writer.write(*_page(4, 3)))
        await asyncio.sleep(0.05)
        assert not second.done()  # it waits for the batch being loaded
        release.set()
        await first
        with pytest.raises(SyncStopped):
            await second
    finally:
        release.set()
        writer.close()
    assert committed == [3] and run.counts.orders_new == 3  # the stopped batch is not loaded


def test_a_listing_asked_to_stop_stops_unless_a_batch_is_being_loaded() -> None:
    stop = threading.Event()
    run = RunRecord(run_id="r", stream="sales", mode="incremental", company_id=1)
    writer = BatchWriter(sa.create_engine("sqlite://"), "sales", run, company_id=1, landing_dir=None, stop=stop)
    try:
        writer.stop_if_asked()  # not asked
        stop.set()
        with pytest.raises(SyncStopped):
            writer.stop_if_asked()
    finally:
        writer.close()


async def test_the_writers_of_a_process_land_and_load_in_one_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    # Before: each writer had a thread of its own, and two streams side by side each held a batch being normalised
    # and a glibc arena of freed batches: 6 MiB more peak RSS for a `sync all` (bench/README.md#memory-with-landing-on).
    threads: dict[str, int] = {}
    writers = [_writer(), _writer()]

    def load_in(name: str) -> object:
        def load(fetched: Fetched, watermark: Watermark | None) -> LoadCounts:
            threads[name] = threading.get_ident()
            return LoadCounts()

        return load

    for number, writer in enumerate(writers):
        monkeypatch.setattr(writer, "_land_and_load", load_in(f"writer {number}"))
    try:
        await asyncio.gather(*(writer.write(*_page(1, 3)) for writer in writers))
    finally:
        for writer in writers:
            writer.close()
    assert len(threads) == 2 and len(set(threads.values())) == 1
    assert threading.get_ident() not in threads.values()  # not the event loop's
