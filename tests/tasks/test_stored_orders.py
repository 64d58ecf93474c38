"""Which incoming orders a load writes (`tasks.inbound.stored_orders.orders_to_write`), whatever Billit's clock did."""

from __future__ import annotations

import copy
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import sqlalchemy as sa

from connectors.warehouse import create_warehouse_engine, reflect_tables, upgrade
from tasks.inbound.landing import LandingWriter
from tasks.inbound.replay import replay_landing
from tasks.inbound.state import LoadCounts
from tasks.inbound.stored_orders import orders_to_write, surely_before
from tasks.inbound.warehouse import load_orders, mark_deleted, normalise_batch
from tests.tasks.test_landing_rows import documented_orders, json_text


def stored(last_modified: datetime, *, is_deleted: bool = False, deleted_at: datetime | None = None) -> Any:
    raw = last_modified.isoformat()
    return SimpleNamespace(
        last_modified=last_modified, last_modified_raw=raw, is_deleted=is_deleted, deleted_at=deleted_at
    )


def written(before: Any, version: datetime, **options: Any) -> tuple[bool, LoadCounts]:
    counts = LoadCounts()
    [write] = orders_to_write({1: before}, [(1, version, version.isoformat())], counts, **options)
    return write, counts


def test_a_change_in_the_second_pass_of_the_repeated_autumn_hour_is_written_though_its_wall_time_is_earlier() -> None:
    # Found from the outside: Paid at 02:40 (summer time), unpaid at 02:10 (winter time, an hour later), both on
    # 2027-10-31 in Billit's naive local time; the second was "older" than the stored first, and never loaded.
    first_pass = datetime(2027, 10, 31, 2, 40)
    write, counts = written(stored(first_pass), datetime(2027, 10, 31, 2, 10))
    assert write and counts.orders_changed == 1
    # Outside that hour an older version is still an older snapshot (a replay, an overlapping slice): left alone.
    write, counts = written(stored(datetime(2027, 10, 30, 2, 40)), datetime(2027, 10, 30, 2, 10))
    assert not write and counts.orders_unchanged == 1


def test_surely_before_reads_the_repeated_hour_both_ways() -> None:
    assert surely_before(datetime(2027, 10, 31, 1, 59), datetime(2027, 10, 31, 2, 0))
    assert not surely_before(datetime(2027, 10, 31, 2, 10), datetime(2027, 10, 31, 2, 40))  # either pass
    assert surely_before(datetime(2027, 10, 31, 2, 40), datetime(2027, 10, 31, 3, 41))  # 02:40 CET is 03:40 CEST
    assert not surely_before(datetime(2027, 10, 31, 2, 40), datetime(2027, 10, 31, 2, 40))
    assert surely_before(datetime(2027, 3, 28, 1, 59), datetime(2027, 3, 28, 3, 0))  # spring: the hour skipped


def test_a_replay_leaves_a_deleted_order_alone_unless_its_version_is_later_than_the_deletion() -> None:
    version = datetime(2026, 11, 2, 10, 0)
    deleted = stored(version, is_deleted=True, deleted_at=datetime(2026, 11, 3, 9, 0))
    assert not written(deleted, version, keep_deletions=True)[0]
    assert written(deleted, datetime(2026, 11, 3, 9, 30), keep_deletions=True)[0]
    assert not written(stored(version, is_deleted=True), datetime(2026, 11, 4), keep_deletions=True)[0]


def test_a_sync_or_a_webhook_leaves_a_deleted_order_alone_unless_its_version_is_later_than_the_stored_one() -> None:
    # Found from the outside: a snapshot taken before the deletion and loaded after it (the sync buffered its GET
    # while a webhook's D event was applied) brought the order back. It used to be written "because Billit lists
    # it"; only a later version says it is live again.
    version = datetime(2026, 11, 2, 10, 0)
    deleted = stored(version, is_deleted=True, deleted_at=datetime(2026, 11, 3, 9, 0))
    write, counts = written(deleted, version)
    assert not write and (counts.orders_unchanged, counts.orders_changed) == (1, 0)
    assert not written(deleted, datetime(2026, 11, 1))[0]
    # Later than the stored version but before the deletion (V1 -> V2 -> deleted, V2's GET held while the deletion
    # was applied; a review): gone in Billit too, left alone. Only a version after the deletion is written.
    assert not written(deleted, datetime(2026, 11, 2, 10, 0, 0, 1))[0]
    write, counts = written(deleted, datetime(2026, 11, 3, 9, 30))
    assert write and (counts.orders_unchanged, counts.orders_changed) == (0, 1)
    # Without a stored version nothing is known to be later: it stays deleted.
    nameless = SimpleNamespace(last_modified=None, last_modified_raw=None, is_deleted=True, deleted_at=None)
    assert not written(nameless, version)[0]


def test_a_snapshot_of_a_deleted_order_loaded_after_the_deletion_keeps_it_deleted_and_counts_it_once(
    engine: sa.Engine,
) -> None:
    [sale] = documented_orders()[:1]
    company = sale["CompanyID"]
    load_orders(engine, [sale], stream="sales", run_id="r1", company_id=company)
    deleted_at = datetime(2026, 12, 4, 10, 0)
    marked = mark_deleted(
        engine, [{"OrderID": sale["OrderID"], "LastModified": deleted_at.isoformat()}], run_id="w1", company_id=company
    )
    assert marked == 1
    counts = load_orders(engine, [sale], stream="sales", run_id="r2", company_id=company)
    assert (counts.orders_new, counts.orders_changed, counts.orders_unchanged) == (0, 0, 1)
    invoices = reflect_tables(engine)["invoices"]
    with engine.connect() as connection:
        row = connection.execute(sa.select(invoices)).one()
    assert row.is_deleted and row.deleted_at == deleted_at
    # A later version: Billit has the order again, and says so.
    later = {**copy.deepcopy(sale), "LastModified": "2099-01-01T00:00:00"}
    counts = load_orders(engine, [later], stream="sales", run_id="r3", company_id=company)
    assert (counts.orders_changed, counts.orders_unchanged) == (1, 0)
    with engine.connect() as connection:
        assert not connection.execute(sa.select(invoices.c.is_deleted)).scalar_one()


@pytest.mark.parametrize("replayed", [False, True])
def test_a_second_pass_change_is_stored_whole_not_only_its_lines_and_history(tmp_path: Path, replayed: bool) -> None:
    # Found from the outside: with only the rule above, the lines and the status history took the second-pass
    # version while the upsert's newer-row guard (a wall-time comparison) kept the old invoice row.
    engine = create_warehouse_engine(f"sqlite:///{tmp_path / 'w.sqlite'}")
    upgrade(engine)
    [sale] = documented_orders()[:1]
    first = {**copy.deepcopy(sale), "LastModified": "2027-10-31T02:40:00", "Reference": "first pass"}
    second = {**copy.deepcopy(sale), "LastModified": "2027-10-31T02:10:00", "Reference": "second pass"}
    second["OrderLines"] = second["OrderLines"][:1]
    load_orders(engine, [first], stream="sales", run_id="r1", company_id=sale["CompanyID"])
    if replayed:  # the second pass landed by a sync and replayed: the fast path writes its landed rows
        batch = normalise_batch([second], stream="sales", run_id="r2", company_id=sale["CompanyID"])
        LandingWriter(tmp_path / "landing", "sales", "r2", party_id=sale["CompanyID"]).write(
            [second], [json_text(second)], batch
        )
        [summary] = replay_landing(tmp_path / "landing", engine=engine)
        assert summary["status"] == "succeeded", summary
    else:
        load_orders(engine, [second], stream="sales", run_id="r2", company_id=sale["CompanyID"])
    tables = reflect_tables(engine)
    with engine.connect() as connection:
        invoice = connection.execute(sa.select(tables["invoices"])).one()
        lines = connection.execute(sa.select(sa.func.count()).select_from(tables["invoice_lines"])).scalar()
    assert (invoice.reference, invoice.last_modified_raw) == ("second pass", "2027-10-31T02:10:00")
    assert lines == 1
