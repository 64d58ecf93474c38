"""Two writers of one order at the same moment (a webhook apply beside a sync or a backfill, two appliers, a
deletion beside a load), on SQLite and PostgreSQL: whoever commits first, the warehouse ends with the newest
version whole, its invoice row and its children together, and a deletion is never undone by an older snapshot.

The race is made certain, not hoped for: the first writer pauses between reading the stored versions and writing
(`stored_invoices` wrapped), and the second writes meanwhile. A writer that waits for the first one's lock lets the
pause run out, which is what a correct warehouse does.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from connectors.warehouse import reflect_tables
from tasks.inbound import warehouse
from tasks.inbound.warehouse import load_orders, mark_deleted
from tests.tasks.test_landing_rows import documented_orders

#: How long the paused writer waits for the other one to finish: the other is blocked when the warehouse is right.
PAUSE_S = 3.0


def versions() -> tuple[dict[str, Any], dict[str, Any]]:
    """An older and a newer version of one sales order, with different lines."""
    [sale] = documented_orders()[:1]
    older = {**copy.deepcopy(sale), "LastModified": "2026-11-02T10:00:00.1000000", "Reference": "older"}
    newer = {**copy.deepcopy(sale), "LastModified": "2026-11-02T10:05:00.2000000", "Reference": "newer"}
    older["OrderLines"] = older["OrderLines"] + copy.deepcopy(older["OrderLines"])  # twice the lines
    for number, line in enumerate(older["OrderLines"], start=1):
        line["OrderLineID"] = 9000 + number
    newer["OrderLines"] = newer["OrderLines"][:1]
    return older, newer


@pytest.fixture
def paused_read(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[threading.Event, threading.Event]]:
    """(read, other_done): the thread named 'paused' sets `read` after reading the stored versions, then waits for
    `other_done` (at most PAUSE_S) before it writes."""
    read, other_done = threading.Event(), threading.Event()
    real = warehouse.stored_invoices

    def stored_invoices(connection: sa.Connection, invoices: sa.Table, order_ids: Any) -> Any:
        rows = real(connection, invoices, order_ids)
        if threading.current_thread().name == "paused":
            read.set()
            other_done.wait(PAUSE_S)
        return rows

    monkeypatch.setattr(warehouse, "stored_invoices", stored_invoices)
    yield read, other_done


def race(
    paused: Callable[[], object], other: Callable[[], object], read: threading.Event, done: threading.Event
) -> None:
    """Run `paused` in the paused thread and, once it has read, `other` beside it; both must succeed."""
    errors: list[BaseException] = []

    def run(work: Callable[[], object], finished: threading.Event | None = None) -> None:
        try:
            work()
        except BaseException as exc:  # noqa: BLE001 - reported by the test below
            errors.append(exc)
        finally:
            if finished is not None:
                finished.set()

    first = threading.Thread(target=run, args=(paused,), name="paused")
    first.start()
    assert read.wait(20), "the paused writer never read"
    second = threading.Thread(target=run, args=(other, done), name="other")
    second.start()
    first.join(60)
    second.join(60)
    assert not errors, errors


def stored_order(engine: sa.Engine, order_id: int) -> tuple[Any, list[int]]:
    tables = reflect_tables(engine)
    invoices, invoice_lines = tables["invoices"], tables["invoice_lines"]
    with engine.connect() as connection:
        invoice = connection.execute(sa.select(invoices).where(invoices.c.order_id == order_id)).one()
        lines = connection.execute(
            sa.select(invoice_lines.c.order_line_id)
            .where(invoice_lines.c.order_id == order_id)
            .order_by(invoice_lines.c.line_number)
        ).scalars()
        return invoice, list(lines)


@pytest.mark.parametrize("stored_before", [False, True], ids=["a-new-order", "a-stored-order"])
def test_an_older_writer_paused_between_its_read_and_its_write_never_leaves_its_children_under_the_newer_invoice(
    engine: sa.Engine, paused_read: tuple[threading.Event, threading.Event], stored_before: bool
) -> None:
    # Found from the outside: the newer version committed while the older writer was between its read and its
    # write; `invoices` kept the newer row (the upsert's newer-row guard) but the lines were the older version's,
    # and the next sync, seeing the newer LastModified stored, never repaired them.
    older, newer = versions()
    company = older["CompanyID"]
    if stored_before:  # an even older version is stored: both writers find a row to compare with
        first = {**copy.deepcopy(older), "LastModified": "2026-11-02T09:00:00", "Reference": "first"}
        load_orders(engine, [first], stream="sales", run_id="r0", company_id=company)

    def load(order: dict[str, Any], run_id: str) -> Callable[[], object]:
        return lambda: load_orders(engine, [order], stream="sales", run_id=run_id, company_id=company)

    race(load(older, "older"), load(newer, "newer"), *paused_read)

    invoice, lines = stored_order(engine, older["OrderID"])
    assert (invoice.reference, invoice.last_modified_raw) == ("newer", newer["LastModified"])
    assert lines == [line["OrderLineID"] for line in newer["OrderLines"]]


def test_a_deletion_committed_while_a_load_of_the_same_version_is_paused_stays(
    engine: sa.Engine, paused_read: tuple[threading.Event, threading.Event]
) -> None:
    # The webhook's D event confirmed while a sync holding the order's last version was between read and write:
    # the sync's write must not bring the order back.
    _, newer = versions()
    company = newer["CompanyID"]
    load_orders(engine, [newer], stream="sales", run_id="r0", company_id=company)

    def delete() -> object:
        deleted = [{"OrderID": newer["OrderID"], "LastModified": "2026-11-02T11:00:00"}]
        return mark_deleted(engine, deleted, run_id="webhook-1", company_id=company)

    race(
        lambda: load_orders(engine, [newer], stream="sales", run_id="sync", company_id=company),
        delete,
        *paused_read,
    )

    invoice, _ = stored_order(engine, newer["OrderID"])
    assert invoice.is_deleted and invoice.deleted_at is not None
