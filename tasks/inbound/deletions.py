"""Orders Billit lists as deleted, and the status-history rows every observed version of an order leaves.

A deletion keeps the row (`is_deleted`, `deleted_at`) and adds a history row; the order leaves pending. Each call
is one company's: an order is only ever marked in the books of the company whose deletions list named it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, NamedTuple

import sqlalchemy as sa

from connectors.warehouse import insert_ignoring_duplicates, reflect_tables, write_transaction
from tasks.inbound.state import forget_pending, utcnow
from tasks.inbound.stored_orders import lock_orders


def history_row(invoice: Mapping[str, Any], run_id: str, company_id: int) -> dict[str, Any]:
    """A status-history row of an order's observed version."""
    return {
        "company_id": company_id,
        "order_id": invoice["order_id"],
        "observed_last_modified": invoice["last_modified"],
        "run_id": run_id,
        "order_status": invoice["order_status"],
        "delivery_status": invoice["delivery_status"],
        "document_delivery_info": invoice["document_delivery_info"],
        "last_response_code": invoice["last_response_code"],
        "paid": invoice["paid"],
        "is_deleted": bool(invoice.get("is_deleted")),
        "recorded_at": utcnow(),
    }


class Deletions(NamedTuple):
    """What `settle_deletions` changed: orders newly marked deleted, and pending orders dropped."""

    marked: int
    forgotten: int


def mark_deleted(
    engine: sa.Engine,
    deleted: Iterable[Mapping[str, Any]],
    *,
    run_id: str,
    company_id: int,
    direction: str | None = None,
) -> int:
    """Flag the company's orders Billit lists as deleted (`is_deleted`, `deleted_at`), with `direction` only those
    of that direction (a stream's run: the list's items may not say theirs); rows are kept, never removed.
    Returns how many were newly marked.

    `deleted_at` is the LastModified `/v1/orders/deleted` reports: the deletion time, or (Billit does not say)
    the order's last change before it (docs/reference/billit-api.md#deletions).
    """
    return settle_deletions(engine, deleted, run_id=run_id, company_id=company_id, direction=direction).marked


def settle_deletions(
    engine: sa.Engine,
    deleted: Iterable[Mapping[str, Any]],
    *,
    run_id: str,
    company_id: int,
    direction: str | None = None,
) -> Deletions:
    """`mark_deleted`, saying also how many pending orders it dropped (a webhook records whether it changed
    anything)."""
    tables = reflect_tables(engine)
    invoices = tables["invoices"]
    when = {
        int(item["OrderID"]): datetime.fromisoformat(str(item["LastModified"]))
        for item in deleted
        if isinstance(item.get("OrderID"), int) and item.get("LastModified")
    }
    marked = forgotten = 0
    with write_transaction(engine) as connection:
        if when:
            # A load of these orders reading them before this commits would otherwise write them back undeleted.
            lock_orders(connection, when)
            stored = sa.select(invoices).where(
                invoices.c.company_id == company_id,
                invoices.c.order_id.in_(list(when)),
                invoices.c.is_deleted.is_(False),
            )
            if direction is not None:
                stored = stored.where(invoices.c.direction == direction)
            rows = connection.execute(stored).all()
            for row in rows:
                connection.execute(
                    invoices.update()
                    .where(invoices.c.order_id == row.order_id)
                    .values(is_deleted=True, deleted_at=when[row.order_id], last_run_id=run_id)
                )
            history = [
                history_row(
                    {**row._mapping, "last_modified": max(when[row.order_id], row.last_modified), "is_deleted": True},
                    run_id,
                    company_id,
                )
                for row in rows
            ]
            insert_ignoring_duplicates(
                connection, tables["invoice_status_history"], history, ["order_id", "observed_last_modified"]
            )
            marked = len(rows)
            # Billit says these are gone: a pending one will never load, and its quarantine is settled.
            forgotten = forget_pending(
                connection, tables, {order_id: "" for order_id in when}, run_id, company_id=company_id
            )
    return Deletions(marked, forgotten)
