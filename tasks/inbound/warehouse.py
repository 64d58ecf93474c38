"""Warehouse side of a sync: load a batch of full orders (with its watermark), mark deletions.

Plain functions over a SQLAlchemy Engine (the Prefect tasks call them). Each batch and its watermark advance
commit in one transaction: a process killed at any moment leaves either the whole batch with its watermark, or
neither, and the next run picks up from the last committed watermark.

An order Billit listed but that could not be loaded (a bad detail answer, or quarantined whole) is written to
`pending_orders` in the same transaction, so the watermark may move past it without losing it: the next
incremental runs fetch it again until it loads, when its pending row goes and its quarantine rows are resolved.
Watermarks, pending orders, run records and the company check live in `tasks.inbound.state` (re-exported here).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from connectors.warehouse import (
    insert_ignoring_duplicates,
    reflect_tables,
    replace_children,
    upsert_rows,
    write_transaction,
)
from tasks.inbound.state import (
    STALE_RUN_AFTER,
    CompanyMismatch,
    LoadCounts,
    NotLoaded,
    RunRecord,
    Watermark,
    add_to_run,
    check_company,
    claim_company,
    close_abandoned_runs,
    company_ids,
    count_pending,
    finish_run,
    forget_pending,
    pending_orders,
    process_alive,
    read_watermark,
    remember_pending,
    save_watermark,
    start_run,
    utcnow,
    warehouse_company,
)
from tasks.normalise.orders import normalise_orders, order_state, quarantine_row
from tasks.options import VatReturnSettings

__all__ = [
    "STALE_RUN_AFTER",
    "CompanyMismatch",
    "LoadCounts",
    "NotLoaded",
    "RunRecord",
    "Watermark",
    "check_company",
    "claim_company",
    "close_abandoned_runs",
    "company_ids",
    "count_pending",
    "driver_message",
    "finish_run",
    "load_orders",
    "load_orders_isolating_refusals",
    "mark_deleted",
    "pending_orders",
    "process_alive",
    "read_watermark",
    "start_run",
    "stored_versions",
    "warehouse_company",
]

# A row keeps the run that first loaded it.
_INVOICE_KEEP = {"order_id", "first_run_id"}


def stored_versions(engine: sa.Engine, order_ids: Sequence[int], *, include_deleted: bool = False) -> dict[int, str]:
    """Billit's LastModified text of the orders the warehouse already has (deleted ones excluded unless asked)."""
    if not order_ids:
        return {}
    invoices = reflect_tables(engine)["invoices"]
    query = sa.select(invoices.c.order_id, invoices.c.last_modified_raw).where(invoices.c.order_id.in_(list(order_ids)))
    with engine.connect() as connection:
        rows = connection.execute(query if include_deleted else query.where(invoices.c.is_deleted.is_(False)))
        return {row.order_id: row.last_modified_raw for row in rows}


def load_orders(
    engine: sa.Engine,
    orders: Sequence[Mapping[str, Any]],
    *,
    stream: str,
    run_id: str,
    watermark: Watermark | None = None,
    not_loaded: Sequence[NotLoaded] = (),
    landing_file: str | None = None,
) -> LoadCounts:
    """Normalise and load full orders; with `watermark`, move the stream's watermark in the same transaction.

    An order older than the stored version is left alone (replays and overlapping slices cannot go back in time).
    Orders quarantined whole and the `not_loaded` ones become pending; orders that load leave pending.
    """
    batch = normalise_orders(
        orders, stream=stream, run_id=run_id, import_deferral_licence=VatReturnSettings().import_deferral_licence
    )
    tables = reflect_tables(engine)
    invoices = tables["invoices"]
    counts = LoadCounts()
    with write_transaction(engine) as connection:
        stored = (
            {
                row.order_id: row
                for row in connection.execute(sa.select(invoices).where(invoices.c.order_id.in_(batch.order_ids)))
            }
            if batch.order_ids
            else {}
        )
        fresh = []
        for invoice in batch.invoices:
            before = stored.get(invoice["order_id"])
            if before is None:
                counts.orders_new += 1
            elif before.last_modified is not None and before.last_modified > invoice["last_modified"]:
                counts.orders_unchanged += 1
                continue
            elif before.last_modified_raw == invoice["last_modified_raw"] and not before.is_deleted:
                counts.orders_unchanged += 1
            else:
                counts.orders_changed += 1
            fresh.append(invoice)
        fresh_ids = {invoice["order_id"] for invoice in fresh}

        upsert_rows(
            connection,
            invoices,
            fresh,
            ["order_id"],
            update_columns=[name for name in fresh[0] if name not in _INVOICE_KEEP] if fresh else None,
            unless_newer="last_modified",
        )
        for table, rows in (
            ("invoice_lines", batch.lines),
            ("invoice_vat_groups", batch.vat_groups),
            ("invoice_messages", batch.messages),
            ("vat_return_entries", batch.vat_return_entries),
            ("vat_return_exceptions", batch.vat_return_exceptions),
        ):
            replace_children(
                connection,
                tables[table],
                "order_id",
                sorted(fresh_ids),
                [row for row in rows if row["order_id"] in fresh_ids],
            )
        counts.lines_loaded = sum(1 for line in batch.lines if line["order_id"] in fresh_ids)

        parties = list(batch.parties.values())
        upsert_rows(connection, tables["parties"], parties, ["party_id"], unless_newer="last_modified")
        replace_children(
            connection,
            tables["party_identifiers"],
            "party_id",
            sorted(batch.identifiers),
            [row for rows in batch.identifiers.values() for row in rows],
        )

        history = [
            _history_row(invoice, run_id)
            for invoice in fresh
            if stored.get(invoice["order_id"]) is None
            or order_state(dict(stored[invoice["order_id"]]._mapping)) != order_state(invoice)
        ]
        insert_ignoring_duplicates(
            connection, tables["invoice_status_history"], history, ["order_id", "observed_last_modified"]
        )

        loaded = {invoice["order_id"]: invoice["last_modified_raw"] for invoice in batch.invoices}
        counts.orders_recovered = forget_pending(connection, tables, loaded, run_id)
        failures = [
            *not_loaded,
            *(
                NotLoaded(order_id, _listed_version(orders, order_id), reason)
                for order_id, reason in batch.unloaded.items()
            ),
        ]
        remember_pending(connection, tables, stream, run_id, failures)
        # Rows of orders whose raw answer is in the landing file point at it; a whole order's payload then stays
        # there, not in the quarantine table.
        quarantine = [
            {
                **row,
                "landing_file": landing_file,
                "payload": None if landing_file and row["entity"] == "order" else row["payload"],
            }
            for row in batch.quarantine
        ] + [
            {
                **quarantine_row(
                    run_id,
                    stream,
                    {"OrderID": failure.order_id, "LastModified": failure.listed_last_modified},
                    entity="order",
                    key=str(failure.order_id or "?"),
                    reason=failure.reason,
                    payload=None,
                ),
                "payload": None,
                "landing_file": landing_file if failure.raw_landed else None,
            }
            for failure in not_loaded
        ]
        counts.quarantined = insert_ignoring_duplicates(
            connection,
            tables["quarantine"],
            quarantine,
            ["stream", "entity", "entity_key", "source_version", "reason"],
        )
        if watermark is not None:
            save_watermark(connection, tables, stream, watermark, run_id)
        add_to_run(connection, tables, run_id, counts)
    return counts


def load_orders_isolating_refusals(
    engine: sa.Engine,
    orders: Sequence[Mapping[str, Any]],
    *,
    stream: str,
    run_id: str,
    watermark: Watermark | None = None,
    not_loaded: Sequence[NotLoaded] = (),
    landing_file: str | None = None,
) -> LoadCounts:
    """`load_orders`, but an order the database refuses (a constraint, a value it cannot store) does not fail
    the batch: the batch is loaded order by order, each refused one becomes pending with the database's reason,
    and the watermark moves with the rest. A lost connection or a locked database still fails the run."""
    try:
        return load_orders(
            engine,
            orders,
            stream=stream,
            run_id=run_id,
            watermark=watermark,
            not_loaded=not_loaded,
            landing_file=landing_file,
        )
    except sa.exc.StatementError as exc:
        if _is_unavailable(exc):
            raise
    counts, refused = LoadCounts(), list(not_loaded)
    for order in orders:
        try:
            counts.add(load_orders(engine, [order], stream=stream, run_id=run_id, landing_file=landing_file))
        except sa.exc.StatementError as exc:
            if _is_unavailable(exc):
                raise
            order_id = order.get("OrderID")
            refused.append(
                NotLoaded(
                    order_id if isinstance(order_id, int) else None,
                    str(order.get("LastModified") or "")[:40],
                    f"the warehouse refused it: {driver_message(exc)}",
                    raw_landed=True,
                )
            )
    counts.add(
        load_orders(
            engine, [], stream=stream, run_id=run_id, watermark=watermark, not_loaded=refused, landing_file=landing_file
        )
    )
    return counts


def _is_unavailable(exc: sa.exc.StatementError) -> bool:
    """Errors about the database rather than the rows: the run must fail and be retried."""
    return isinstance(exc, sa.exc.OperationalError | sa.exc.InterfaceError) or (
        isinstance(exc, sa.exc.DBAPIError) and exc.connection_invalidated
    )


def driver_message(exc: BaseException) -> str:
    """An error's first line; for a database error the driver's, without the statement or its parameters (they
    hold customer data)."""
    message = str(exc.orig if isinstance(exc, sa.exc.DBAPIError) and exc.orig is not None else exc)
    return (message.strip().splitlines() or [""])[0][:200]


def _listed_version(orders: Sequence[Mapping[str, Any]], order_id: int) -> str:
    return next(
        (
            str(order.get("LastModified") or "")[:40]
            for order in orders
            if isinstance(order, Mapping) and order.get("OrderID") == order_id
        ),
        "",
    )


def _history_row(invoice: Mapping[str, Any], run_id: str) -> dict[str, Any]:
    return {
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


def mark_deleted(engine: sa.Engine, deleted: Iterable[Mapping[str, Any]], *, run_id: str) -> int:
    """Flag orders Billit lists as deleted (`is_deleted`, `deleted_at`); rows are kept, never removed.

    `deleted_at` is the LastModified `/v1/orders/deleted` reports: the deletion time, or (Billit does not say)
    the order's last change before it (docs/reference/billit-api.md#deletions).
    """
    tables = reflect_tables(engine)
    invoices = tables["invoices"]
    when = {
        int(item["OrderID"]): datetime.fromisoformat(str(item["LastModified"]))
        for item in deleted
        if isinstance(item.get("OrderID"), int) and item.get("LastModified")
    }
    marked = 0
    with write_transaction(engine) as connection:
        if when:
            rows = connection.execute(
                sa.select(invoices).where(invoices.c.order_id.in_(list(when)), invoices.c.is_deleted.is_(False))
            ).all()
            for row in rows:
                connection.execute(
                    invoices.update()
                    .where(invoices.c.order_id == row.order_id)
                    .values(is_deleted=True, deleted_at=when[row.order_id], last_run_id=run_id)
                )
            history = [
                _history_row(
                    {**row._mapping, "last_modified": max(when[row.order_id], row.last_modified), "is_deleted": True},
                    run_id,
                )
                for row in rows
            ]
            insert_ignoring_duplicates(
                connection, tables["invoice_status_history"], history, ["order_id", "observed_last_modified"]
            )
            marked = len(rows)
            # Billit says these are gone: a pending one will never load, and its quarantine is settled.
            forget_pending(connection, tables, {order_id: "" for order_id in when}, run_id)
    return marked
