"""Incremental extraction into a real warehouse (SQLite file and PostgreSQL) from the sandbox over HTTP."""

from __future__ import annotations

import asyncio
import signal
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from connectors.billit import BillitClient, ODataQuery, load_settings, prop
from connectors.warehouse import reflect_tables, upgrade
from sandbox.faults import Faults
from sandbox.identity import API_KEY
from sandbox.server import SandboxServer
from sandbox.store import Sandbox
from tasks.inbound.extract import SyncOptions
from tasks.inbound.landing import landed_parts, read_part_orders
from tasks.inbound.replay import replay_landing
from tasks.inbound.warehouse import read_watermark
from tests.connectors.warehouse import Warehouse
from tests.tasks.sync_helpers import (
    COMPANY,
    SEED_START,
    assert_warehouse_matches_billit,
    kill_a_sales_sync_after_its_first_batch,
    sync,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def server() -> Iterator[SandboxServer]:
    # Deliveries wait for flush_deliveries(): the test decides when a sent invoice is delivered.
    with SandboxServer(Sandbox(seed=21, orders=1300, seed_start=SEED_START, hold_deliveries=True)) as running:
        yield running


def count(engine: sa.Engine, table: str) -> int:
    with engine.connect() as connection:
        return int(
            connection.execute(sa.select(sa.func.count()).select_from(reflect_tables(engine)[table])).scalar_one()
        )


def test_a_first_run_loads_everything_and_a_quiet_rerun_costs_two_requests_per_stream(
    server: SandboxServer, engine: sa.Engine
) -> None:
    orders = server.sandbox.company_orders(COMPANY)
    assert max(Counter(order["LastModified"] for order in orders.values()).values()) >= 300  # a tie > a page

    first = [sync(server, engine, stream) for stream in ("incoming", "sales")]
    assert sum(summary["orders_new"] for summary in first) == len(orders)
    assert all(summary["status"] == "succeeded" and summary["watermark_after"] for summary in first)
    assert_warehouse_matches_billit(server, engine)

    quiet = [sync(server, engine, stream) for stream in ("incoming", "sales")]
    assert [summary["requests"] for summary in quiet] == [2, 2]
    assert all(summary["orders_new"] == summary["orders_changed"] == 0 for summary in quiet)
    assert [s["watermark_after"] for s in quiet] == [s["watermark_after"] for s in first]


def test_changes_deletions_and_delivery_status_flow_into_the_warehouse_with_history(
    server: SandboxServer, engine: sa.Engine
) -> None:
    for stream in ("incoming", "sales"):
        sync(server, engine, stream)
    sandbox = server.sandbox
    income = sorted(
        i for i, o in sandbox.company_orders(COMPANY).items() if o["OrderDirection"] == "Income" and not o.get("Paid")
    )
    cost = sorted(i for i, o in sandbox.company_orders(COMPANY).items() if o["OrderDirection"] == "Cost")
    sandbox.touch_order(income[0], Paid=True, OrderStatus="Paid")
    sandbox.delete_order(sandbox.get_order(cost[0]))
    history_before = count(engine, "invoice_status_history")

    sales, incoming = sync(server, engine, "sales"), sync(server, engine, "incoming")
    assert (sales["orders_changed"], incoming["orders_deleted"]) == (1, 1)
    assert_warehouse_matches_billit(server, engine)
    invoices = reflect_tables(engine)["invoices"]
    with engine.connect() as connection:
        deleted = connection.execute(sa.select(invoices).where(invoices.c.order_id == cost[0])).one()
    assert deleted.is_deleted and deleted.deleted_at is not None
    assert count(engine, "invoice_status_history") == history_before + 2


def test_the_warehouse_equals_billit_after_faults_and_modifications_during_paging_then_a_quiet_run(
    server: SandboxServer, engine: sa.Engine
) -> None:
    server.sandbox.injector.update(
        {
            "rate_429": 0.02,
            "retry_after_s": 0.05,
            "rate_5xx": 0.04,
            "rate_drop": 0.03,
            "plain_text_rate": 0.05,
            "modify_during_paging": 4,
            "seed": 5,
        }
    )
    for stream in ("incoming", "sales", "incoming", "sales"):
        summary = sync(server, engine, stream)
        assert summary["status"] == "succeeded"
    stats = server.sandbox.stats()["faults"]
    assert min(stats["429"], stats["5xx"], stats["drops"], stats["paging_modifications"]) > 0

    server.sandbox.injector.update(Faults().to_dict())
    for stream in ("incoming", "sales"):
        sync(server, engine, stream)
    assert_warehouse_matches_billit(server, engine)


async def test_skip_paging_loses_orders_modified_mid_listing_and_key_paging_does_not() -> None:
    sandbox = Sandbox(seed=4, orders=1100, seed_start=SEED_START, faults=Faults(modify_during_paging=6, seed=2))
    with SandboxServer(sandbox) as server:
        settings = load_settings(base_url=server.base_url, api_key=API_KEY, party_id=COMPANY)
        async with BillitClient(settings) as billit:
            by_position = {
                item["OrderID"]
                async for page in billit.iter_order_pages(ODataQuery(orderby=(("LastModified", "asc"),)), page_size=120)
                for item in page
            }
            by_key = {item["OrderID"] async for page in billit.iter_order_pages_by_key(None) for item in page}
    every_order = set(sandbox.company_orders(COMPANY))
    assert every_order - by_position, "the $skip trap should lose unmodified orders"
    assert by_key == every_order


def test_a_backfill_window_loads_exactly_that_window_and_leaves_the_watermark_alone(
    server: SandboxServer, engine: sa.Engine
) -> None:
    orders = [o for o in server.sandbox.company_orders(COMPANY).values() if o["OrderDirection"] == "Cost"]
    stamps = sorted(order["LastModified"] for order in orders)
    since, until = stamps[len(stamps) // 4], stamps[3 * len(stamps) // 4]
    expected = {o["OrderID"] for o in orders if since <= o["LastModified"] < until}

    summary = sync(server, engine, "incoming", since=since, until=until)
    assert summary["mode"] == "backfill" and summary["orders_new"] == len(expected)
    invoices = reflect_tables(engine)["invoices"]
    with engine.connect() as connection:
        loaded = set(connection.execute(sa.select(invoices.c.order_id)).scalars())
    assert loaded == expected
    assert read_watermark(engine, "incoming", company_id=COMPANY) is None


def test_a_replay_from_landed_parquet_rebuilds_the_same_warehouse_without_billit(
    server: SandboxServer, engine: sa.Engine, tmp_path: Path
) -> None:
    landing = tmp_path / "landing"
    for stream in ("incoming", "sales"):
        sync(server, engine, stream, landing_dir=str(landing))
    assert sorted(path.name for path in landing.iterdir()) == ["incoming", "sales"]

    replica = Warehouse("sqlite", f"sqlite:///{tmp_path / 'replica.sqlite'}").engine()
    upgrade(replica)
    server.stop()  # no Billit from here on
    summaries = replay_landing(landing, engine=replica)
    assert sum(summary["orders_new"] for summary in summaries) == len(server.sandbox.company_orders(COMPANY))
    from tests.tasks.sync_helpers import warehouse_views

    assert warehouse_views(replica) == warehouse_views(engine)
    again = replay_landing(landing, engine=replica)
    assert sum(summary["orders_new"] + summary["orders_changed"] for summary in again) == 0


def test_a_listing_page_larger_than_a_batch_is_landed_and_loaded_in_batches(
    server: SandboxServer, engine: sa.Engine, tmp_path: Path
) -> None:
    # The batch bounds the orders parsed at once (the sync's peak memory): a page of 120 orders used to be one
    # batch whatever the batch size, two pages two (bench/README.md#memory-with-landing-on).
    batch_size = SyncOptions().batch_size
    assert server.sandbox.page_size > batch_size
    for stream in ("incoming", "sales"):
        sync(server, engine, stream, landing_dir=str(tmp_path))
    sizes = [len(read_part_orders(part)) for run in tmp_path.glob("*/run=*") for part in landed_parts(run)]
    assert max(sizes) == batch_size
    assert sum(sizes) == len(server.sandbox.company_orders(COMPANY))
    assert_warehouse_matches_billit(server, engine)


def test_a_window_the_first_page_holds_whole_is_loaded_in_batches_too(engine: sa.Engine, tmp_path: Path) -> None:
    # 113 sales orders: under a page, so the probe lists them all and the listing loop never runs.
    with SandboxServer(Sandbox(seed=21, orders=215, seed_start=SEED_START)) as small:
        sales = [o for o in small.sandbox.company_orders(COMPANY).values() if o["OrderDirection"] == "Income"]
        assert SyncOptions().batch_size < len(sales) < small.sandbox.page_size
        summary = sync(small, engine, "sales", landing_dir=str(tmp_path))
        sizes = [len(read_part_orders(part)) for run in tmp_path.glob("*/run=*") for part in landed_parts(run)]
        assert sizes == [SyncOptions().batch_size, len(sales) - SyncOptions().batch_size]
        assert summary["orders_new"] == len(sales) and summary["watermark_after"] is not None


def test_an_unknown_ventilation_code_is_quarantined_and_the_order_still_loaded(
    server: SandboxServer, engine: sa.Engine
) -> None:
    sandbox = server.sandbox
    order_id = next(i for i, o in sandbox.company_orders(COMPANY).items() if o["OrderDirection"] == "Cost")
    lines = sandbox.get_order(order_id)["OrderLines"]
    lines[0]["VentilationCode"] = "999"
    sandbox.touch_order(order_id, OrderLines=lines)

    summary = sync(server, engine, "incoming")
    sync(server, engine, "sales")
    assert summary["quarantined"] >= 1
    quarantine = reflect_tables(engine)["quarantine"]
    with engine.connect() as connection:
        row = connection.execute(sa.select(quarantine).where(quarantine.c.order_id == order_id)).one()
    assert row.entity == "line" and "999" in row.reason and '"VentilationCode": "999"' in row.payload
    assert_warehouse_matches_billit(server, engine)
    assert sync(server, engine, "incoming", lookback_minutes=10**6)["quarantined"] == 0  # no duplicate rows


def test_killing_the_process_mid_load_and_running_again_leaves_the_warehouse_exactly_right(
    server: SandboxServer, engine: sa.Engine, warehouse: Warehouse
) -> None:
    server.sandbox.injector.update({"latency_ms": 15})
    assert kill_a_sales_sync_after_its_first_batch(server, engine, warehouse) == -signal.SIGKILL
    runs = reflect_tables(engine)["sync_runs"]
    with engine.connect() as connection:
        assert connection.execute(sa.select(runs.c.status)).scalars().all() == ["running"]

    server.sandbox.injector.update({"latency_ms": 0})
    for stream in ("sales", "incoming"):
        sync(server, engine, stream)
    assert_warehouse_matches_billit(server, engine)
    with engine.connect() as connection:  # the next run closed the killed one
        statuses = connection.execute(
            sa.select(runs.c.status, runs.c.error, runs.c.orders_new).order_by(runs.c.started_at)
        ).all()
    assert [row.status for row in statuses] == ["failed", "succeeded", "succeeded"]
    assert "abandoned" in statuses[0].error
    # it keeps the count of the batch it committed before it was killed
    assert statuses[0].orders_new >= SyncOptions().batch_size


def test_a_newly_sent_invoice_moves_from_pending_to_delivered_in_the_history(
    server: SandboxServer, engine: sa.Engine
) -> None:
    sync(server, engine, "incoming")
    sync(server, engine, "sales")
    settings = load_settings(base_url=server.base_url, api_key=API_KEY, party_id=COMPANY)

    async def send_one() -> int:
        async with BillitClient(settings) as billit:
            candidates = [
                o
                async for page in billit.iter_order_pages_by_key(
                    prop("OrderStatus").eq("ToSend") & prop("OrderDirection").eq("Income")
                )
                for o in page
            ]
            for candidate in candidates:
                order = await billit.get_order(candidate["OrderID"])
                if order["Customer"].get("Email"):
                    await billit.send_orders([order["OrderID"]], transport_type=None)
                    return int(order["OrderID"])
        raise AssertionError("no sendable invoice in the seed")

    order_id = asyncio.run(send_one())
    sync(server, engine, "sales")  # sees it Pending: nothing is delivered until the flush below
    assert server.sandbox.flush_deliveries() == 1
    sync(server, engine, "sales")
    history = reflect_tables(engine)["invoice_status_history"]
    with engine.connect() as connection:
        states = (
            connection.execute(
                sa.select(history.c.delivery_status)
                .where(history.c.order_id == order_id)
                .order_by(history.c.observed_last_modified)
            )
            .scalars()
            .all()
        )
    assert states == [None, "Pending", "Delivered"]
    assert_warehouse_matches_billit(server, engine)
