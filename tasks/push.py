"""The reverse flow's work: push `outbound_invoices` rows into Billit exactly once, and write each outcome back.

For each batch of rows:

1. **Claim** the rows (`claimed_by`, `claimed_at`) in one conditional UPDATE, so two runs started at once never
   push the same row; a claim older than the lease (a crashed run) can be taken over.
2. **Validate** locally; rows that cannot succeed are `rejected` with every reason and never sent.
3. **Check Billit first** for every row attempted before: an order with its ExternalProviderID means an earlier
   attempt committed (its answer was lost), so that order is recorded instead of creating another.
4. **Count the attempt, then create** with `POST /v1/orders` carrying `ExternalProviderID` and the row's stable
   idempotency key. The attempt is committed before the POST, so a crash after it is seen by the next run
   (step 3). A 409, or a timeout or dropped connection after sending, is resolved by looking the order up by
   ExternalProviderID; Billit's 400s are recorded on the row (`rejected`) and the batch goes on; what stays
   unresolved after the client's retries is `failed` and tried again by the next run.
5. **Send** (optional): customers not on Peppol stay `created` with the reason; the others are sent in batches,
   an order Billit already shows as sent is recorded rather than sent twice, and a refused batch is retried
   order by order to find the culprit.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from connectors.aio import first_error
from connectors.billit import (
    BillitClient,
    BillitConflictError,
    BillitError,
    BillitHTTPError,
    BillitTransportError,
    BillitValidationError,
    ODataQuery,
    prop,
)
from connectors.warehouse import reflect_tables, write_transaction
from tasks.normalise.identifiers import normalise_identifier, normalise_vat_number
from tasks.outbound import idempotency_key, order_payload, validate

logger = logging.getLogger("billit_pipelines.push")

CLAIM_LEASE = timedelta(minutes=30)
SEND_BATCH = 50
NOT_ON_PEPPOL = "TheCustomerIsNotActiveOnPeppol"


@dataclass
class PushSummary:
    considered: int = 0
    created: int = 0
    already_existed: int = 0
    sent: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    failed: int = 0
    not_sent: Counter[str] = field(default_factory=Counter)

    @property
    def ok(self) -> bool:
        return not self.rejected and not self.failed

    def as_dict(self) -> dict[str, Any]:
        return {
            "considered": self.considered, "created": self.created, "already_existed": self.already_existed,
            "sent": self.sent, "rejected": sum(self.rejected.values()), "rejected_by_reason": dict(self.rejected),
            "failed": self.failed, "not_sent_by_reason": dict(self.not_sent),
        }


@dataclass(frozen=True)
class PushOptions:
    limit: int | None = None
    send: bool = False
    transport: str = "Peppol"
    check_participants: bool = True
    dry_run: bool = False
    batch_size: int = 200


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


async def push_outbound(billit: BillitClient, engine: sa.Engine, options: PushOptions) -> PushSummary:
    """Create (and optionally send) every pushable row, batch by batch, until none is left or `limit` is hit."""
    summary = PushSummary()
    run_id = uuid.uuid4().hex
    try:
        await _push_all(billit, engine, options, summary, run_id)
        if options.send and not options.dry_run:
            await _send_created(billit, engine, summary, options, run_id)
    finally:
        if not options.dry_run:
            await asyncio.to_thread(_release, engine, run_id)
    return summary


async def _push_all(
    billit: BillitClient, engine: sa.Engine, options: PushOptions, summary: PushSummary, run_id: str
) -> None:
    remaining = options.limit
    seen: set[str] = set()
    # Two batches overlap: the next one is claimed, validated and counted while the creates of the
    # previous one are still in flight, so the HTTP slots do not idle between batches.
    in_flight: list[asyncio.Task[None]] = []
    with first_error():
        async with asyncio.TaskGroup() as group:
            while remaining is None or remaining > 0:
                size = options.batch_size if remaining is None else min(options.batch_size, remaining)
                if options.dry_run:
                    rows = await asyncio.to_thread(_pushable_rows, engine, size, seen)
                else:
                    rows = await asyncio.to_thread(_claim, engine, run_id, size, seen)
                if not rows:
                    break
                seen.update(row["external_id"] for row in rows)
                summary.considered += len(rows)
                if remaining is not None:
                    remaining -= len(rows)
                in_flight.append(group.create_task(_push_batch(billit, engine, rows, summary, options, run_id)))
                if len(in_flight) == 2:
                    await in_flight.pop(0)


async def _push_batch(
    billit: BillitClient, engine: sa.Engine, rows: list[dict[str, Any]], summary: PushSummary,
    options: PushOptions, run_id: str,
) -> None:
    lines = await asyncio.to_thread(_lines_of, engine, [row["external_id"] for row in rows])
    valid: list[tuple[dict[str, Any], dict[str, Any]]] = []
    outcomes: list[dict[str, Any]] = []
    for row in rows:
        rejection = validate(row, lines.get(row["external_id"], []))
        if rejection is not None:
            summary.rejected[rejection.code] += 1
            outcomes.append({"external_id": row["external_id"], "status": "rejected",
                             "last_error_code": rejection.code, "last_error": rejection.message})
        else:
            valid.append((row, order_payload(row, lines[row["external_id"]])))
    if options.dry_run:
        summary.created += len(valid)  # would be created
        return
    await asyncio.to_thread(_write_outcomes, engine, outcomes, run_id)
    keyed = [(row, payload, idempotency_key(payload)) for row, payload in valid]
    await asyncio.to_thread(_count_attempts, engine, [(row["external_id"], key) for row, _, key in keyed], run_id)
    results = await asyncio.gather(*(_create_once(billit, row, payload, key, summary) for row, payload, key in keyed))
    await asyncio.to_thread(_write_outcomes, engine, list(results), run_id)


async def _create_once(
    billit: BillitClient, row: dict[str, Any], payload: dict[str, Any], key: str, summary: PushSummary
) -> dict[str, Any]:
    external_id = row["external_id"]
    try:
        if row["attempts"] > 0 and (existing := await _find_order(billit, external_id)) is not None:
            summary.already_existed += 1
            return _created(external_id, existing)
        try:
            order_id = await billit.create_order(payload, idempotency_key=key)
        except (BillitConflictError, BillitTransportError) as ambiguous:
            # The create may have committed: 409 says it did (the key was used), a lost answer may mean so.
            existing = await _find_order(billit, external_id)
            if existing is None:
                raise ambiguous
            summary.already_existed += 1
            return _created(external_id, existing)
        summary.created += 1
        return _created(external_id, order_id)
    except BillitValidationError as exc:
        code = exc.codes[0] if exc.codes else "ValidationError"
        summary.rejected[code] += 1
        return {"external_id": external_id, "status": "rejected", "last_error_code": code,
                "last_error": "; ".join(str(detail) for detail in exc.details) or str(exc)}
    except BillitError as exc:
        summary.failed += 1
        code = exc.codes[0] if isinstance(exc, BillitHTTPError) and exc.codes else type(exc).__name__
        return {"external_id": external_id, "status": "failed", "last_error_code": code, "last_error": str(exc)}


def _created(external_id: str, order_id: int) -> dict[str, Any]:
    return {"external_id": external_id, "status": "created", "billit_order_id": order_id, "created_at": _now(),
            "last_error_code": None, "last_error": None}


async def _find_order(billit: BillitClient, external_id: str) -> int | None:
    """The OrderID Billit holds for this ExternalProviderID (Billit does not enforce its uniqueness: the oldest)."""
    query = ODataQuery(filter=prop("ExternalProviderID").eq(external_id), orderby=(("OrderID", "asc"),), top=1)
    page = await billit.list_page(query)
    return int(page.items[0]["OrderID"]) if page.items else None


async def _send_created(
    billit: BillitClient, engine: sa.Engine, summary: PushSummary, options: PushOptions, run_id: str
) -> None:
    rows = await asyncio.to_thread(_claim, engine, run_id, options.limit, set(), stage=_sendable)
    sendable: list[dict[str, Any]] = []
    outcomes: list[dict[str, Any]] = []
    for row in rows:
        reason = await _not_sendable(billit, row, options) if options.check_participants else None
        if reason is None:
            sendable.append(row)
        else:
            summary.not_sent[NOT_ON_PEPPOL] += 1
            outcomes.append({"external_id": row["external_id"], "status": "created",
                             "last_error_code": NOT_ON_PEPPOL, "last_error": reason})
    for start in range(0, len(sendable), SEND_BATCH):
        outcomes += await _send_batch(billit, sendable[start:start + SEND_BATCH], summary, options)
    await asyncio.to_thread(_write_outcomes, engine, outcomes, run_id)


async def _not_sendable(billit: BillitClient, row: dict[str, Any], options: PushOptions) -> str | None:
    if options.transport != "Peppol":
        return None
    candidates = []
    if value := row.get("customer_enterprise_number"):
        candidates.append(normalise_identifier("CBE", value).peppol_id)
    if value := row.get("customer_vat_number"):
        candidates.append(normalise_vat_number(value, country_hint=row.get("customer_country_code")).peppol_id)
    if value := row.get("customer_gln"):
        candidates.append(normalise_identifier("GLN", value).peppol_id)
    for peppol_id in filter(None, candidates):
        answer = await billit.participant_information(peppol_id)
        if answer.get("Registered") and any("Invoice" in str(kind) for kind in answer.get("DocumentTypes", [])):
            return None
    return "the customer is not registered on Peppol for invoices (participantInformation)"


async def _send_batch(
    billit: BillitClient, rows: list[dict[str, Any]], summary: PushSummary, options: PushOptions
) -> list[dict[str, Any]]:
    # Never send twice: an order Billit already shows as sent (an earlier send whose answer was lost) is recorded.
    orders = await billit.get_orders([row["billit_order_id"] for row in rows])
    outcomes, to_send = [], []
    for row, order in zip(rows, orders, strict=True):
        if order.get("IsSent"):
            summary.sent += 1
            outcomes.append(_sent(row))
        else:
            to_send.append(row)
    if not to_send:
        return outcomes
    try:
        await billit.send_orders([row["billit_order_id"] for row in to_send], transport_type=options.transport,
                                 strict_transport=True)
    except BillitError as exc:
        if isinstance(exc, BillitValidationError) and len(to_send) > 1:
            # Billit validates every id before sending any: find the refused ones one by one.
            for row in to_send:
                outcomes += await _send_batch(billit, [row], summary, options)
            return outcomes
        # Left `created` with Billit's reason: a later run with --send tries again (never twice: see above).
        code = exc.codes[0] if isinstance(exc, BillitHTTPError) and exc.codes else type(exc).__name__
        summary.not_sent[code] += len(to_send)
        return outcomes + [{"external_id": row["external_id"], "status": "created",
                            "last_error_code": code, "last_error": str(exc)} for row in to_send]
    summary.sent += len(to_send)
    return outcomes + [_sent(row) for row in to_send]


def _sent(row: dict[str, Any]) -> dict[str, Any]:
    return {"external_id": row["external_id"], "status": "sent", "sent_at": _now(), "last_error_code": None,
            "last_error": None}


# ---- the warehouse side ---------------------------------------------------------------------------------


def _pushable(table: sa.Table) -> Any:
    return sa.and_(table.c.status.in_(("pending", "failed")), table.c.billit_order_id.is_(None))


def _sendable(table: sa.Table) -> Any:
    return sa.and_(table.c.status == "created", table.c.billit_order_id.is_not(None))


def _pushable_rows(engine: sa.Engine, size: int, exclude: set[str]) -> list[dict[str, Any]]:
    table = reflect_tables(engine)["outbound_invoices"]
    query = sa.select(table).where(_pushable(table)).order_by(table.c.external_id).limit(size)
    if exclude:
        query = query.where(table.c.external_id.not_in(sorted(exclude)))
    with engine.connect() as connection:
        return [dict(row) for row in connection.execute(query).mappings()]


def _claim(engine: sa.Engine, run_id: str, size: int | None, exclude: set[str], *, stage: Any = _pushable,
           ) -> list[dict[str, Any]]:
    """Take up to `size` rows of a stage for this run; rows another live run holds are left alone."""
    table = reflect_tables(engine)["outbound_invoices"]
    now = _now()
    ready = stage(table)
    free = sa.or_(table.c.claimed_by.is_(None), table.c.claimed_at < now - CLAIM_LEASE)
    with write_transaction(engine) as connection:
        candidates = sa.select(table.c.external_id).where(ready, free)
        if exclude:
            candidates = candidates.where(table.c.external_id.not_in(sorted(exclude)))
        candidates = candidates.order_by(table.c.external_id).limit(size)
        if connection.dialect.name == "postgresql":
            # Rows another run is claiming right now are skipped, not waited for (and then found taken).
            candidates = candidates.with_for_update(skip_locked=True)
        # On SQLite the write lock is held from BEGIN (write_transaction), so select-then-update is atomic.
        ids = list(connection.execute(candidates).scalars())
        if not ids:
            return []
        connection.execute(table.update().where(table.c.external_id.in_(ids), ready, free)
                           .values(claimed_by=run_id, claimed_at=now))
        claimed = connection.execute(
            sa.select(table).where(table.c.external_id.in_(ids), table.c.claimed_by == run_id)
            .order_by(table.c.external_id)
        ).mappings()
        return [dict(row) for row in claimed]


def _lines_of(engine: sa.Engine, external_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    table = reflect_tables(engine)["outbound_invoice_lines"]
    lines: dict[str, list[dict[str, Any]]] = {}
    with engine.connect() as connection:
        for row in connection.execute(sa.select(table).where(table.c.external_id.in_(external_ids))
                                      .order_by(table.c.external_id, table.c.line_number)).mappings():
            lines.setdefault(row["external_id"], []).append(dict(row))
    return lines


def _count_attempts(engine: sa.Engine, keyed: Sequence[tuple[str, str]], run_id: str) -> None:
    table = reflect_tables(engine)["outbound_invoices"]
    with write_transaction(engine) as connection:
        for external_id, key in keyed:
            connection.execute(
                table.update().where(table.c.external_id == external_id, table.c.claimed_by == run_id)
                .values(attempts=table.c.attempts + 1, idempotency_key=key, updated_at=_now())
            )


def _write_outcomes(engine: sa.Engine, outcomes: Sequence[dict[str, Any]], run_id: str) -> None:
    """Record each row's outcome and release its claim, in one transaction."""
    if not outcomes:
        return
    table = reflect_tables(engine)["outbound_invoices"]
    with write_transaction(engine) as connection:
        for outcome in outcomes:
            values = {key: value for key, value in outcome.items() if key != "external_id"}
            statement = table.update().where(table.c.external_id == outcome["external_id"],
                                             table.c.claimed_by == run_id)
            connection.execute(statement.values(**values, claimed_by=None, claimed_at=None, updated_at=_now()))




def _release(engine: sa.Engine, run_id: str) -> None:
    """Free whatever this run still holds (after an error): the next run may take those rows at once."""
    table = reflect_tables(engine)["outbound_invoices"]
    with write_transaction(engine) as connection:
        connection.execute(table.update().where(table.c.claimed_by == run_id).values(claimed_by=None, claimed_at=None))


def run_push(options: PushOptions, *, engine: sa.Engine | None = None, **settings_overrides: Any) -> dict[str, Any]:
    """Push with a client from the environment's Billit settings; returns the summary as a dict."""
    from tasks.sync import billit_settings, warehouse_engine

    engine = engine or warehouse_engine()
    settings = billit_settings(**settings_overrides)

    async def push() -> PushSummary:
        async with BillitClient(settings) as billit:
            return await push_outbound(billit, engine, options)

    summary = asyncio.run(push())
    return summary.as_dict() | {"dry_run": options.dry_run, "ok": summary.ok}
