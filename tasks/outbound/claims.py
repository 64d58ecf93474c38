"""The push's warehouse side: claim `outbound_invoices` rows for one run, validate them, and write outcomes back.

Every function here is one short transaction on the warehouse, called by `tasks.outbound.push` and
`tasks.outbound.send` (through the one-at-a-time `warehouse_call` of `tasks.outbound.run`) in the order push's
module docstring describes: claim and validate (`take`), refresh the claims of a live run, claim the created rows
to send, record outcomes, release what is left, and count the credit notes that wait for their invoice.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from connectors.warehouse import reflect_tables, write_transaction
from tasks.outbound.payload import LOCAL_VALIDATION, idempotency_key, order_payload, validate
from tasks.outbound.table_rows import TableRows, in_column_types, select_as_stored
from tasks.warehouse_common import dead_claimants

# A claim not refreshed for CLAIM_LEASE belongs to a dead run (a live one refreshes it every minute).
CLAIM_LEASE = timedelta(minutes=5)
WAITING_FOR_INVOICE = "WaitingForInvoice"
EXTERNAL_ID_COLLISION = "ExternalIdCollision"
# A created row whose order in Billit holds other lines (an earlier attempt's, tasks.outbound.push).
ORDER_DIFFERS = "OrderDiffersFromRow"
# A row naming a company the API key does not reach (accountInformation): rejected, as no run could create it.
COMPANY_NOT_REACHED = "CompanyNotReached"
# A row attempted before in another company than it now names: rejected, not created a second time (see take).
COMPANY_CHANGED = "CompanyChangedAfterAttempt"
# A created row whose company_id was changed since: its order stays where it was made, and is not sent.
COMPANY_CHANGED_AFTER_CREATE = "CompanyChangedAfterCreate"
# A row whose ExternalProviderID names several orders in Billit: none is linked, none created (tasks.outbound.existing).
SEVERAL_ORDERS = "SeveralOrdersInBillit"
# Why a created row is not sent: its source changed after it was created (changed_after_create), or its order
# differs from it (ORDER_DIFFERS, flagged so too). It waits until the flag clears.
CHANGED_AFTER_CREATE = "ChangedAfterCreate"

# A row ready to create: the row, its POST body and its idempotency key.
Ready = tuple[dict[str, Any], dict[str, Any], str]


@dataclass
class Taken:
    """One claim, prepared: every row it took, those ready to create (their attempt counted) and the outcomes of
    those rejected before any request (already written)."""

    external_ids: list[str]
    ready: list[Ready]
    rejected: list[dict[str, Any]]


def utc_now() -> datetime:
    """Naive UTC, as the warehouse's timestamps are."""
    return datetime.now(UTC).replace(tzinfo=None)


def rejected_outcome(external_id: str, code: str, message: str) -> dict[str, Any]:
    """The outcome of a row that cannot succeed: never sent, with every reason."""
    return {"external_id": external_id, "status": "rejected", "last_error_code": code, "last_error": message}


def _awaited_invoice(table: sa.Table, *, held_back: bool = False) -> Any:
    """A credit note whose credited invoice is an outbound row not created yet (with `held_back`, one created but
    not sent because it is flagged changed_after_create): it waits for it."""
    invoice = table.alias("credited")
    if held_back:
        waiting = sa.and_(invoice.c.changed_after_create, invoice.c.status == "created")
    else:
        waiting = invoice.c.status.not_in(("created", "sent"))
    return sa.and_(
        table.c.order_type == "CreditNote",
        sa.exists().where(
            invoice.c.order_number == table.c.about_invoice_number,
            invoice.c.external_id != table.c.external_id,
            waiting,
        ),
    )


def _not_created(table: sa.Table) -> Any:
    return sa.and_(table.c.status.in_(("pending", "failed")), table.c.billit_order_id.is_(None))


def _pushable(table: sa.Table) -> Any:
    return sa.and_(_not_created(table), sa.not_(_awaited_invoice(table)))


def _created_unsent(table: sa.Table) -> Any:
    return sa.and_(table.c.status == "created", table.c.billit_order_id.is_not(None))


def _held_back(table: sa.Table) -> Any:
    """Flagged changed_after_create, or a credit note of an invoice that is: the customer must not get a credit for an
    invoice it never received."""
    return sa.or_(table.c.changed_after_create, _awaited_invoice(table, held_back=True))


def _sendable(table: sa.Table) -> Any:
    return sa.and_(_created_unsent(table), sa.not_(_held_back(table)))


def held_back(engine: sa.Engine) -> int:
    """Created rows not sent because they, or the invoice they credit, are flagged changed_after_create
    (`CHANGED_AFTER_CREATE`)."""
    table = reflect_tables(engine)["outbound_invoices"]
    with engine.connect() as connection:
        query = sa.select(sa.func.count()).where(_created_unsent(table), _held_back(table))
        return int(connection.execute(query).scalar_one())


def rows_to_push_or_send(table: sa.Table) -> Any:
    """The rows a push may still ask Billit about: not created yet, or created and not sent."""
    return sa.or_(_not_created(table), _sendable(table))


def take(
    engine: sa.Engine,
    run_id: str,
    size: int,
    exclude: set[str],
    *,
    dry_run: bool,
    quantity_decimals: int = 2,
    default_company: int | None = None,
) -> Taken:
    """Claim up to `size` pushable rows, validate them (`payload.validate`), record the rejections and count the
    others' attempts in the company each is pushed with (its company_id, else `default_company`), in one
    transaction: one write per claim, not three (a dry run only reads)."""
    tables = reflect_tables(engine)
    table = tables["outbound_invoices"]
    with engine.connect() if dry_run else write_transaction(engine) as connection:
        if dry_run:
            rows = _pushable_rows(connection, table, size, exclude)
        else:
            rows = _claim_rows(connection, table, run_id, size, exclude, _pushable)
        ids = [row["external_id"] for row in rows.rows]
        lines = _lines_of(connection, tables["outbound_invoice_lines"], ids)
        lines_by_id = lines.grouped()
        collisions = _collisions(connection, table, ids)
        ready: list[Ready] = []
        rejected: list[dict[str, Any]] = []
        for row in rows.rows:
            external_id = row["external_id"]
            unreadable = rows.unreadable.get(external_id, []) + lines.unreadable.get(external_id, [])
            rejection = validate(row, lines_by_id.get(external_id, []), quantity_decimals=quantity_decimals)
            if unreadable:  # a cell SQLite holds that no column of its type could (tasks/outbound/table_rows.py)
                rejected.append(rejected_outcome(external_id, LOCAL_VALIDATION, "; ".join(unreadable)))
            elif external_id in collisions:
                rejected.append(rejected_outcome(external_id, EXTERNAL_ID_COLLISION, collisions[external_id]))
            elif (moved := _company_moved(row, _company(row, default_company))) is not None:
                rejected.append(rejected_outcome(external_id, COMPANY_CHANGED, moved))
            elif rejection is not None:
                rejected.append(rejected_outcome(external_id, rejection.code, rejection.message))
            else:
                payload = order_payload(row, lines_by_id[external_id])
                ready.append((row, payload, idempotency_key(payload)))
        if not dry_run:
            _record_outcomes(connection, table, rejected, run_id)
            attempted = [(row["external_id"], key, _company(row, default_company)) for row, _, key in ready]
            _count_attempts(connection, table, attempted, run_id)
    return Taken(ids, ready, rejected)


def attempts_hold_company(row: Mapping[str, Any]) -> bool:
    """Whether a row's attempts tie it to the company they were made in: one may have created its order there with
    the answer lost. Not when its company was one the key does not reach: nothing can have been created there."""
    return row["attempts"] > 0 and row.get("last_error_code") != COMPANY_NOT_REACHED


def _company(row: dict[str, Any], default_company: int | None) -> int | None:
    """The PartyID a row is pushed with (as `CompanyClients.company_of`; None: no company configured)."""
    return default_company if row.get("company_id") is None else int(row["company_id"])


def _company_moved(row: dict[str, Any], company: int | None) -> str | None:
    """Why a row attempted before may not be created in `company`, or None. An attempt may have created the order
    in the company it was made for, with its answer lost; the push looks an order up in the row's company only, so
    it would create a second one in another (a reload is refused such a move: tasks/outbound/journal.py; an UPDATE
    of the table is caught here)."""
    attempted_in = row.get("attempted_company_id")
    if not attempts_hold_company(row) or attempted_in is None or company is None or int(attempted_in) == company:
        return None
    return (
        f"company_id: {attempted_in} -> {company} after {row['attempts']} attempt(s) to create it in company "
        f"{attempted_in}: one may have created the order there with its answer lost, so it is not created in "
        f"{company}; look for its ExternalProviderID in {attempted_in} (delete or credit an order found) and set "
        f"attempts to 0, or set company_id back to {attempted_in}; then status to pending"
    )


def _pushable_rows(connection: sa.Connection, table: sa.Table, size: int, exclude: set[str]) -> TableRows:
    """A dry run's rows: every row not created yet, credit notes that would wait for their invoice included (a dry
    run creates nothing, so they would otherwise never be validated)."""
    query = select_as_stored(table).where(_not_created(table)).order_by(table.c.external_id).limit(size)
    if exclude:
        query = query.where(table.c.external_id.not_in(sorted(exclude)))
    return in_column_types(connection, table, query)


def claim_sendable(engine: sa.Engine, run_id: str, size: int | None) -> list[dict[str, Any]]:
    """Created rows to send, claimed for this run (a cell edited since into one that cannot be read keeps what is
    stored: the send finds the row no longer makes its order, tasks/outbound/send.py)."""
    table = reflect_tables(engine)["outbound_invoices"]
    with write_transaction(engine) as connection:
        return _claim_rows(connection, table, run_id, size, set(), _sendable).rows


def _claim_rows(
    connection: sa.Connection,
    table: sa.Table,
    run_id: str,
    size: int | None,
    exclude: set[str],
    stage: Callable[[sa.Table], Any],
) -> TableRows:
    """Take up to `size` rows of a stage for this run, inside a write transaction; rows another live run holds
    are left alone."""
    now = utc_now()
    ready = stage(table)
    free = sa.or_(
        table.c.claimed_by.is_(None),
        table.c.claimed_at < now - CLAIM_LEASE,
        table.c.claimed_by.in_(dead_claimants(connection, table.c.claimed_by)),
    )
    candidates = sa.select(table.c.external_id).where(ready, free)
    if exclude:
        candidates = candidates.where(table.c.external_id.not_in(sorted(exclude)))
    candidates = candidates.order_by(table.c.external_id).limit(size)
    if connection.dialect.name == "postgresql":
        # Rows another run is claiming right now are skipped, not waited for (and then found taken).
        candidates = candidates.with_for_update(of=table, skip_locked=True)
    # On SQLite the write lock is held from BEGIN (write_transaction), so select-then-update is atomic.
    ids = list(connection.execute(candidates).scalars())
    if not ids:
        return TableRows()
    connection.execute(
        table.update().where(table.c.external_id.in_(ids), ready, free).values(claimed_by=run_id, claimed_at=now)
    )
    claimed = select_as_stored(table).where(table.c.external_id.in_(ids), table.c.claimed_by == run_id)
    return in_column_types(connection, table, claimed.order_by(table.c.external_id))


def refresh_claims(engine: sa.Engine, run_id: str) -> None:
    table = reflect_tables(engine)["outbound_invoices"]
    with write_transaction(engine) as connection:
        connection.execute(table.update().where(table.c.claimed_by == run_id).values(claimed_at=utc_now()))


def _collisions(connection: sa.Connection, table: sa.Table, external_ids: list[str]) -> dict[str, str]:
    """Rows never attempted whose external_id equals another row's once case and surrounding spaces are ignored
    (Billit's ExternalProviderID filter does that): the reason to reject each. An attempted row keeps its id:
    its order is found by an exact comparison."""
    folded = {external_id.strip().casefold(): external_id for external_id in external_ids}
    key = sa.func.lower(sa.func.trim(table.c.external_id))
    rows = connection.execute(sa.select(table.c.external_id, table.c.attempts).where(key.in_(sorted(folded)))).all()
    by_key: dict[str, list[str]] = {}
    attempted = {external_id for external_id, attempts in rows if attempts}
    for external_id, _ in rows:
        by_key.setdefault(external_id.strip().casefold(), []).append(external_id)
    reasons = {}
    for external_id in external_ids:
        twins = [other for other in by_key.get(external_id.strip().casefold(), []) if other != external_id]
        if twins and external_id not in attempted:
            reasons[external_id] = (
                f"external_id {external_id!r} collides with {', '.join(map(repr, sorted(twins)))}: Billit matches "
                "ExternalProviderID ignoring case and surrounding spaces, so the two could not be told apart "
                "(rename one)"
            )
    return reasons


def mark_waiting(engine: sa.Engine) -> int:
    """Give every credit note that waits for its invoice the reason, and count them."""
    table = reflect_tables(engine)["outbound_invoices"]
    invoice = table.alias("credited")
    waiting = sa.and_(_not_created(table), _awaited_invoice(table))
    with write_transaction(engine) as connection:
        rows = connection.execute(
            sa.select(table.c.external_id, table.c.about_invoice_number, invoice.c.external_id, invoice.c.status)
            .join(
                invoice,
                sa.and_(
                    invoice.c.order_number == table.c.about_invoice_number, invoice.c.external_id != table.c.external_id
                ),
            )
            .where(waiting)
        ).all()
        for external_id, number, invoice_id, status in rows:
            connection.execute(
                table.update()
                .where(table.c.external_id == external_id)
                .values(
                    last_error_code=WAITING_FOR_INVOICE,
                    last_error=f"waits for invoice {number} (outbound row {invoice_id!r}, {status}): created once that "
                    "invoice exists in Billit",
                )
            )
    return len({row[0] for row in rows})


def not_created_with_order_id(engine: sa.Engine) -> int:
    """Rows `pending` or `failed` that carry a billit_order_id (set by hand, or a restore): never claimed, since
    the id says Billit has the order, nor sent, since they are not `created`. Counted so the run says so."""
    table = reflect_tables(engine)["outbound_invoices"]
    stuck = sa.and_(table.c.status.in_(("pending", "failed")), table.c.billit_order_id.is_not(None))
    with engine.connect() as connection:
        return int(connection.execute(sa.select(sa.func.count()).where(stuck)).scalar_one())


def held_elsewhere(engine: sa.Engine, run_id: str) -> tuple[int, datetime | None]:
    """Pushable rows another run holds, and when the last of those claims expires without a heartbeat."""
    table = reflect_tables(engine)["outbound_invoices"]
    with engine.connect() as connection:
        count, latest = connection.execute(
            sa.select(sa.func.count(), sa.func.max(table.c.claimed_at)).where(
                _pushable(table),
                table.c.claimed_by.is_not(None),
                table.c.claimed_by != run_id,
                table.c.claimed_at >= utc_now() - CLAIM_LEASE,
            )
        ).one()
    if not count:
        return 0, None
    latest = latest if isinstance(latest, datetime) else datetime.fromisoformat(str(latest))
    return int(count), latest + CLAIM_LEASE


def lines_of(engine: sa.Engine, external_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    """The lines of these rows, by external_id, in line order (what a send compares with the order in Billit)."""
    with engine.connect() as connection:
        return _lines_of(connection, reflect_tables(engine)["outbound_invoice_lines"], external_ids).grouped()


def _lines_of(connection: sa.Connection, table: sa.Table, external_ids: list[str]) -> TableRows:
    query = select_as_stored(table).where(table.c.external_id.in_(external_ids))
    return in_column_types(connection, table, query.order_by(table.c.external_id, table.c.line_number))


def _count_attempts(
    connection: sa.Connection,
    table: sa.Table,
    attempted: Sequence[tuple[str, str, int | None]],
    run_id: str,
) -> None:
    """One more attempt for each (external_id, idempotency key, company it is made in)."""
    if not attempted:
        return
    statement = (
        table.update()
        .where(table.c.external_id == sa.bindparam("row_id"), table.c.claimed_by == run_id)
        .values(
            attempts=table.c.attempts + 1,
            idempotency_key=sa.bindparam("row_key"),
            attempted_company_id=sa.bindparam("row_company"),
            updated_at=utc_now(),
        )
    )
    connection.execute(
        statement,
        [{"row_id": external_id, "row_key": key, "row_company": company} for external_id, key, company in attempted],
    )


def write_outcomes(engine: sa.Engine, outcomes: Sequence[dict[str, Any]], run_id: str) -> None:
    if outcomes:
        with write_transaction(engine) as connection:
            _record_outcomes(connection, reflect_tables(engine)["outbound_invoices"], outcomes, run_id)


def _record_outcomes(
    connection: sa.Connection,
    table: sa.Table,
    outcomes: Sequence[dict[str, Any]],
    run_id: str,
) -> None:
    """Record each row's outcome and release its claim: one statement per kind of outcome, run for every row."""
    by_fields: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for outcome in outcomes:
        by_fields.setdefault(tuple(sorted(outcome)), []).append(outcome)
    now = utc_now()
    for fields, group in by_fields.items():
        # Bound under other names: SQLAlchemy reserves a column's own name for its SET value.
        values: dict[str, Any] = {name: sa.bindparam(f"new_{name}") for name in fields if name != "external_id"}
        statement = (
            table.update()
            .where(table.c.external_id == sa.bindparam("new_external_id"), table.c.claimed_by == run_id)
            .values(**values, claimed_by=None, claimed_at=None, updated_at=now)
        )
        connection.execute(statement, [{f"new_{name}": value for name, value in outcome.items()} for outcome in group])


def release(engine: sa.Engine, run_id: str) -> None:
    """Free whatever this run still holds (after an error): the next run may take those rows at once."""
    table = reflect_tables(engine)["outbound_invoices"]
    with write_transaction(engine) as connection:
        connection.execute(table.update().where(table.c.claimed_by == run_id).values(claimed_by=None, claimed_at=None))
