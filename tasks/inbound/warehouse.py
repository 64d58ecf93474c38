"""Warehouse side of a sync: load a batch of full orders (with its watermark), mark deletions.

Plain functions over a SQLAlchemy Engine (the Prefect tasks call them). Each batch and its watermark advance
commit in one transaction: a process killed at any moment leaves either the whole batch with its watermark, or
neither, and the next run picks up from the last committed watermark.

An order Billit listed but that could not be loaded (a bad detail answer, or quarantined whole) is written to
`pending_orders` in the same transaction, so the watermark may move past it without losing it: the next
incremental runs fetch it again until it loads, when its pending row goes and its quarantine rows are resolved.
Watermarks, pending orders and run records live in `tasks.inbound.state`, the companies in
`tasks.inbound.companies` (both re-exported here).

Every load is one company's (`company_id`, the PartyID the sync read with, or the one a landing file names): every
row it writes carries it, and an order whose own CompanyID names another company is quarantined whole, never loaded
into the wrong books. Billit's OrderID is global, so an order's rows stay keyed by order_id
(docs/warehouse.md#companies).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from itertools import compress
from typing import Any

import sqlalchemy as sa

from connectors.warehouse import (
    insert_ignoring_duplicates,
    reflect_tables,
    replace_children,
    upsert_rows,
    write_transaction,
)
from tasks.inbound.companies import CompanyMismatch, choose_company, record_companies, warehouse_companies
from tasks.inbound.deletions import history_row, mark_deleted
from tasks.inbound.parties import IDENTIFIER_KEY, forget_identifiers, parties_to_write
from tasks.inbound.state import (
    STALE_RUN_AFTER,
    LoadCounts,
    NotLoaded,
    RunRecord,
    Watermark,
    add_to_run,
    close_abandoned_runs,
    count_pending,
    finish_run,
    forget_pending,
    pending_orders,
    process_alive,
    read_watermark,
    remember_pending,
    save_watermark,
    start_run,
)
from tasks.inbound.stored_orders import (
    lock_orders,
    orders_to_write,
    rewound_orders,
    state_changed,
    stored_invoices,
)
from tasks.normalise.orders import NormalisedBatch, listed_version, normalise_orders, order_state, quarantine_row
from tasks.options import VatReturnSettings
from tasks.warehouse_common import driver_message

__all__ = [
    "STALE_RUN_AFTER",
    "CompanyMismatch",
    "LoadCounts",
    "NotLoaded",
    "RunRecord",
    "Watermark",
    "choose_company",
    "close_abandoned_runs",
    "count_pending",
    "driver_message",
    "finish_run",
    "is_unavailable",
    "load_orders",
    "load_orders_isolating_refusals",
    "normalise_batch",
    "mark_deleted",
    "pending_orders",
    "process_alive",
    "read_watermark",
    "record_companies",
    "start_run",
    "stored_versions",
    "warehouse_companies",
    "write_orders",
]

# A row keeps the run that first loaded it.
_INVOICE_KEEP = {"order_id", "first_run_id"}


def stored_versions(
    engine: sa.Engine, order_ids: Sequence[int], *, company_id: int, include_deleted: bool = False
) -> dict[int, str]:
    """Billit's LastModified text of the company's orders the warehouse already has (deleted ones excluded unless
    asked)."""
    if not order_ids:
        return {}
    invoices = reflect_tables(engine)["invoices"]
    query = sa.select(invoices.c.order_id, invoices.c.last_modified_raw).where(
        invoices.c.company_id == company_id, invoices.c.order_id.in_(list(order_ids))
    )
    with engine.connect() as connection:
        rows = connection.execute(query if include_deleted else query.where(invoices.c.is_deleted.is_(False)))
        return {row.order_id: row.last_modified_raw for row in rows}


def normalise_batch(
    orders: Iterable[Mapping[str, Any]], *, stream: str, run_id: str, company_id: int, **flags: bool
) -> NormalisedBatch:
    """The rows `write_orders` stores for a batch of the company's full orders (the VAT settings read here);
    `flags`, `one_per_order` and `storable_text`: see `normalise_orders`."""
    return normalise_orders(
        orders,
        stream=stream,
        run_id=run_id,
        company_id=company_id,
        import_deferral_licence=VatReturnSettings().import_deferral_licence,
        **flags,
    )


def load_orders(
    engine: sa.Engine,
    orders: Sequence[Mapping[str, Any]],
    *,
    stream: str,
    run_id: str,
    company_id: int,
    watermark: Watermark | None = None,
    not_loaded: Sequence[NotLoaded] = (),
    landing_file: str | None = None,
    keep_deletions: bool = False,
) -> LoadCounts:
    """Normalise and load full orders of the company; with `watermark`, move the company's stream watermark in the
    same transaction (`write_orders` of `normalise_batch`)."""
    batch = normalise_batch(orders, stream=stream, run_id=run_id, company_id=company_id)
    return write_orders(
        engine,
        orders,
        batch,
        stream=stream,
        run_id=run_id,
        company_id=company_id,
        watermark=watermark,
        not_loaded=not_loaded,
        landing_file=landing_file,
        keep_deletions=keep_deletions,
    )


def write_orders(
    engine: sa.Engine,
    orders: Sequence[Mapping[str, Any]],
    batch: NormalisedBatch,
    *,
    stream: str,
    run_id: str,
    company_id: int,
    watermark: Watermark | None = None,
    not_loaded: Sequence[NotLoaded] = (),
    landing_file: str | None = None,
    keep_deletions: bool = False,
) -> LoadCounts:
    """Write `batch`, the rows `normalise_batch` made of exactly `orders` for this run (its rows become the
    company's, in place); with `watermark`, move the company's stream watermark in the same transaction.

    An order older than the stored version is left alone (replays and overlapping slices cannot go back in time).
    Orders quarantined whole and the `not_loaded` ones become pending; orders that load leave pending.
    """
    tables = reflect_tables(engine)
    invoices = tables["invoices"]
    counts = LoadCounts()
    with write_transaction(engine) as connection:
        # Before the read: the children are replaced on what it says (tasks/inbound/stored_orders.py).
        lock_orders(connection, batch.order_ids)
        stored = stored_invoices(connection, invoices, batch.order_ids)
        incoming = (
            (invoice["order_id"], invoice["last_modified"], invoice["last_modified_raw"]) for invoice in batch.invoices
        )
        fresh = list(compress(batch.invoices, orders_to_write(stored, incoming, counts, keep_deletions=keep_deletions)))
        fresh_ids = {invoice["order_id"] for invoice in fresh}
        _own(company_id, batch.lines, batch.vat_groups, batch.messages, batch.vat_return_entries)
        _own(company_id, batch.vat_return_exceptions, batch.parties.values(), *batch.identifiers.values())

        rewound = rewound_orders(stored, ((invoice["order_id"], invoice["last_modified"]) for invoice in fresh))
        update_columns = [name for name in fresh[0] if name not in _INVOICE_KEEP] if fresh else None
        for rows, newer_guard in (
            ([invoice for invoice in fresh if invoice["order_id"] not in rewound], "last_modified"),
            ([invoice for invoice in fresh if invoice["order_id"] in rewound], None),
        ):
            upsert_rows(
                connection,
                invoices,
                rows,
                ["order_id"],
                update_columns=update_columns,
                unless_newer=newer_guard,
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

        versions = {party_id: party["last_modified"] for party_id, party in batch.parties.items()}
        written = parties_to_write(connection, tables["parties"], company_id, versions)
        upsert_rows(
            connection,
            tables["parties"],
            list(batch.parties.values()),
            ["company_id", "party_id"],
            unless_newer="last_modified",
        )
        forget_identifiers(connection, tables["party_identifiers"], company_id, written)
        insert_ignoring_duplicates(
            connection,
            tables["party_identifiers"],
            [row for party_id in written for row in batch.identifiers.get(party_id, [])],
            IDENTIFIER_KEY,
        )

        moved = [invoice for invoice in fresh if state_changed(stored.get(invoice["order_id"]), order_state(invoice))]
        history = [history_row(invoice, run_id, company_id) for invoice in moved]
        # A state that moved at the stored version (Billit changed the order without moving LastModified, and a
        # backfill read it again) is a change, not "unchanged": only an order `orders_to_write` counted unchanged
        # moves, so one order is never counted twice.
        repaired = sum(
            stored[i["order_id"]].last_modified_raw == i["last_modified_raw"] and not stored[i["order_id"]].is_deleted
            for i in moved
            if i["order_id"] in stored
        )
        counts.orders_unchanged -= repaired
        counts.orders_changed += repaired
        insert_ignoring_duplicates(
            connection, tables["invoice_status_history"], history, ["order_id", "observed_last_modified"]
        )

        loaded = {invoice["order_id"]: invoice["last_modified_raw"] for invoice in batch.invoices}
        counts.orders_recovered = forget_pending(connection, tables, loaded, run_id, company_id=company_id)
        failures = [
            *not_loaded,
            *(
                NotLoaded(order_id, listed_version(orders, order_id), reason)
                for order_id, reason in batch.unloaded.items()
            ),
        ]
        remember_pending(connection, tables, stream, run_id, failures, company_id=company_id)
        # Rows of orders whose raw answer is in the landing file point at it; a whole order's payload then stays
        # there, not in the quarantine table.
        quarantine = [
            {
                **row,
                "company_id": company_id,
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
                "company_id": company_id,
                "landing_file": landing_file if failure.raw_landed else None,
            }
            for failure in not_loaded
        ]
        counts.quarantined = insert_ignoring_duplicates(
            connection,
            tables["quarantine"],
            quarantine,
            ["company_id", "stream", "entity", "entity_key", "source_version", "reason"],
        )
        if watermark is not None:
            save_watermark(connection, tables, stream, watermark, run_id, company_id=company_id)
        add_to_run(connection, tables, run_id, counts)
    return counts


def load_orders_isolating_refusals(
    engine: sa.Engine,
    orders: Sequence[Mapping[str, Any]],
    *,
    stream: str,
    run_id: str,
    company_id: int,
    watermark: Watermark | None = None,
    not_loaded: Sequence[NotLoaded] = (),
    landing_file: str | None = None,
    keep_deletions: bool = False,
    normalised: NormalisedBatch | None = None,
    full_orders: Callable[[], Sequence[Mapping[str, Any]]] | None = None,
) -> LoadCounts:
    """`load_orders` (of the ready `normalised` rows of `orders` when given), but an order the database refuses
    (a constraint, a value it cannot store) does not fail the batch: the batch is loaded order by order (normalised
    again), each refused one becomes pending with the database's reason, and the watermark moves with the rest.
    A lost connection or a locked database still fails the run.

    `full_orders` gives the orders whole when `orders` holds only what `write_orders` reads of them (the batch
    writer's `ORDER_HEADER`): the order-by-order load needs them whole."""
    try:
        return write_orders(
            engine,
            orders,
            normalised
            if normalised is not None
            else normalise_batch(orders, stream=stream, run_id=run_id, company_id=company_id),
            stream=stream,
            run_id=run_id,
            company_id=company_id,
            watermark=watermark,
            not_loaded=not_loaded,
            landing_file=landing_file,
            keep_deletions=keep_deletions,
        )
    except sa.exc.StatementError as exc:
        if is_unavailable(exc):
            raise
    counts, refused = LoadCounts(), list(not_loaded)
    for order in orders if full_orders is None else full_orders():
        try:
            counts.add(
                load_orders(
                    engine,
                    [order],
                    stream=stream,
                    run_id=run_id,
                    company_id=company_id,
                    landing_file=landing_file,
                    keep_deletions=keep_deletions,
                )
            )
        except sa.exc.StatementError as exc:
            if is_unavailable(exc):
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
            engine,
            [],
            stream=stream,
            run_id=run_id,
            company_id=company_id,
            watermark=watermark,
            not_loaded=refused,
            landing_file=landing_file,
        )
    )
    return counts


def is_unavailable(exc: sa.exc.StatementError) -> bool:
    """Errors about the database rather than the rows: the run must fail and be retried."""
    return isinstance(exc, sa.exc.OperationalError | sa.exc.InterfaceError) or (
        isinstance(exc, sa.exc.DBAPIError) and exc.connection_invalidated
    )


def _own(company_id: int, *row_lists: Iterable[dict[str, Any]]) -> None:
    """Give the normaliser's rows their company (in place: they are this load's own)."""
    for rows in row_lists:
        for row in rows:
            row["company_id"] = company_id
