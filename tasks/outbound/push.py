"""The reverse flow's work: push `outbound_invoices` rows into Billit exactly once, and write each outcome back.

Rows flow through a sliding window (at most `PushOptions.window` rows in flight, claimed `batch_size` at a time):

1. **Claim** a few rows (`claimed_by` = host/pid/run, `claimed_at`) in one conditional UPDATE, so concurrent runs
   (processes or Prefect workers) split the rows between them and never push the same row. A live run refreshes
   its claims (`claimed_at`) every minute; a claim older than the lease, or held by a dead process on this host,
   is taken over. A **credit note** is not claimed while the invoice it credits (`about_invoice_number` = an
   outbound row's `order_number`) is still waiting in the table: it goes once that invoice is created, in this
   run or a later one, and keeps a `WaitingForInvoice` reason meanwhile.
2. **Validate** locally, in the claim's transaction (which also counts the attempts of step 4: one write per
   claim); rows that cannot succeed are `rejected` with every reason and never sent. So is an
   `external_id` that collides with another row's when case and trailing spaces are ignored (Billit matches
   ExternalProviderID that way, so the two rows could not be told apart).
3. **Check Billit first** for every row, attempted before or not (one GET each: whether Billit keeps
   ExternalProviderID unique or honours the idempotency key is unknown): an order with exactly its
   ExternalProviderID means an earlier attempt committed (its answer was lost), or another tool or a warehouse since
   restored made it, so that order is recorded instead of creating another. When the order is not the row's
   (another document: type, direction, currency, date, number or customer; or the row was corrected since: the
   lines' amounts, or the attempt's idempotency key, differ), the row says so (`OrderDiffersFromRow`), the run
   fails, and the order is not sent while the row is flagged. Several orders with exactly its ExternalProviderID
   are not resolved by guessing: the row fails (`SeveralOrdersInBillit`, naming them) and nothing is created or
   sent for it.
4. **Count the attempt, then create** with `POST /v1/orders` carrying `ExternalProviderID` and the row's stable
   idempotency key. The attempt is committed before the POST, so a crash after it is seen by the next run
   (step 3). A 409, a 5xx, or a timeout or dropped connection after sending, is resolved by looking the order up
   by ExternalProviderID before any new POST (the client never re-POSTs what may have reached Billit: whether it
   honours the key is unknown); Billit's 400s are recorded on the row (`rejected`) and the others go on; what stays
   unresolved after the client's retries is `failed` and tried again by the next run. A row in backoff holds
   its place in the window but no HTTP slot (the client sleeps outside its semaphore), and never holds up the
   rows claimed after it. A row naming a company the key cannot act for (accountInformation, asked once before
   any create, and again when Billit refuses a company in the middle of the run: API access switched off) fails
   with the reason and is not sent, and the other companies' rows go on. Any other 401/403 stops the run at once,
   once the outcomes of the rows done beside it are written: every other row would get the same answer.
5. **Send** (optional, `tasks.outbound.send`): customers not on Peppol stay `created` with the reason; the
   others are sent in batches, an order Billit already shows as sent is recorded rather than sent twice, and a
   refused batch is retried order by order to find the culprit.

The warehouse side of each step (claims, validation, outcomes) is in `tasks.outbound.claims`; what the
outcome means for a person, in `tasks.outbound.report`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from connectors.aio import first_error
from connectors.billit import (
    BillitAuthError,
    BillitClient,
    BillitConflictError,
    BillitError,
    BillitHTTPError,
    BillitServerError,
    BillitTransportError,
    BillitValidationError,
    NoCompanyError,
    ODataQuery,
)
from connectors.billit.account import companies_reached, with_company_reason
from tasks.outbound import claims
from tasks.outbound.claims import (
    CLAIM_LEASE,
    COMPANY_NOT_REACHED,
    EXTERNAL_ID_COLLISION,
    WAITING_FOR_INVOICE,
    Ready,
    Taken,
)
from tasks.outbound.companies import CompanyClients, NotReached, require_companies, unavailable_companies
from tasks.outbound.existing import SeveralOrders, created_outcome, find_order, found_outcome
from tasks.outbound.run import PROBLEMS_SHOWN, PushOptions, PushSummary, new_run_id, warehouse_call
from tasks.outbound.send import send_created
from tasks.runtime import billit_settings, warehouse_engine

logger = logging.getLogger("billit_pipelines.push")

# A live run refreshes its claims every HEARTBEAT; a claim not refreshed for CLAIM_LEASE belongs to a dead run.
HEARTBEAT = timedelta(minutes=1)
__all__ = [
    "CLAIM_LEASE",
    "EXTERNAL_ID_COLLISION",
    "HEARTBEAT",
    "WAITING_FOR_INVOICE",
    "PushOptions",
    "PushSummary",
    "Taken",
    "push_outbound",
    "run_push",
]


async def push_outbound(billit: BillitClient, engine: sa.Engine, options: PushOptions) -> PushSummary:
    """Create (and optionally send) every pushable row through the window, until none is left or `limit` is hit."""
    summary = PushSummary()
    run_id = new_run_id()
    await warehouse_call(require_companies, engine, billit.settings)
    if not options.dry_run:
        # One cheap read first: a wrong key or company stops here, before any row is claimed or POSTed (without a
        # configured company, the key: each row's company answers its own create).
        if billit.settings.party_id is None:
            # A 400 asking for a PartyID: the key was accepted (a guess: docs/reference/billit-api.md#companies). A
            # refusal is explained as the sync explains it (a ContextPartyID Billit refuses is named).
            with suppress(NoCompanyError):
                await companies_reached(billit.settings)
        else:
            try:
                await billit.list_page(ODataQuery(top=1))
            except BillitAuthError as refused:  # said as the sync says it: API access off, a company not reached
                if (explained := await with_company_reason(refused, billit.settings)) is refused:
                    raise
                raise explained from refused
    unavailable = {} if options.dry_run else await unavailable_companies(engine, billit.settings)
    try:
        async with _heartbeat(engine, run_id, options.dry_run), CompanyClients(billit, unavailable) as clients:
            await _push_all(clients, engine, options, summary, run_id)
            if options.send and not options.dry_run:
                await send_created(clients, engine, summary, options, run_id)
    finally:
        if not options.dry_run:
            await warehouse_call(claims.release, engine, run_id)
    if not options.dry_run:
        summary.waiting = await warehouse_call(claims.mark_waiting, engine)
    summary.held_elsewhere, summary.held_until = await warehouse_call(claims.held_elsewhere, engine, run_id)
    summary.skipped_with_order_id = await warehouse_call(claims.not_created_with_order_id, engine)
    return summary


@asynccontextmanager
async def _heartbeat(engine: sa.Engine, run_id: str, dry_run: bool) -> AsyncIterator[None]:
    """Refresh this run's claims every HEARTBEAT while it works, so only a dead run's claims ever expire."""

    async def beat() -> None:
        while True:
            await asyncio.sleep(HEARTBEAT.total_seconds())
            await warehouse_call(claims.refresh_claims, engine, run_id)

    task = None if dry_run else asyncio.create_task(beat())
    try:
        yield
    finally:
        if task is not None:
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task


async def _push_all(
    clients: CompanyClients, engine: sa.Engine, options: PushOptions, summary: PushSummary, run_id: str
) -> None:
    remaining = options.limit
    seen: set[str] = set()
    in_flight = 0  # rows claimed and not finished (created, rejected or failed)
    room = asyncio.Condition()
    batches: set[asyncio.Task[None]] = set()
    stopped: list[BaseException] = []  # what stops the run (a 401): no more claims, the batches in flight finish

    async def row_done() -> None:
        nonlocal in_flight
        async with room:
            in_flight -= 1
            room.notify_all()

    with first_error():
        async with asyncio.TaskGroup() as group:
            while (remaining is None or remaining > 0) and not stopped:
                size = options.batch_size if remaining is None else min(options.batch_size, remaining)
                async with room:  # wait for room in the window: finished rows free it one by one
                    while in_flight + size > max(options.window, size) and not stopped:
                        await room.wait()
                if stopped:
                    break
                taken = await warehouse_call(
                    claims.take,
                    engine,
                    run_id,
                    size,
                    seen,
                    dry_run=options.dry_run,
                    quantity_decimals=clients.configured.settings.quantity_decimals,
                    default_company=clients.default_company,
                )
                if not taken.external_ids:
                    if not batches:
                        break
                    # Nothing claimable now, but rows in flight may create invoices that credit notes wait for.
                    await asyncio.wait(batches, return_when=asyncio.FIRST_COMPLETED)
                    continue
                seen.update(taken.external_ids)
                summary.considered += len(taken.external_ids)
                if remaining is not None:
                    remaining -= len(taken.external_ids)
                for rejected in taken.rejected:
                    summary.rejected[rejected["last_error_code"]] += 1
                if options.dry_run:
                    summary.rejected_rows += [
                        {"external_id": row["external_id"], "code": row["last_error_code"], "reason": row["last_error"]}
                        for row in taken.rejected[: PROBLEMS_SHOWN - len(summary.rejected_rows)]
                    ]
                    summary.created += len(taken.ready)  # would be created
                    continue
                in_flight += len(taken.ready)
                batch = group.create_task(
                    _create_batch(clients, engine, taken.ready, summary, run_id, row_done, stopped)
                )
                batches.add(batch)
                batch.add_done_callback(batches.discard)
    if stopped:
        raise stopped[0]


async def _create_batch(
    clients: CompanyClients,
    engine: sa.Engine,
    ready: list[Ready],
    summary: PushSummary,
    run_id: str,
    row_done: Callable[[], Awaitable[None]],
    stopped: list[BaseException],
) -> None:
    """Create the rows of one claim; each frees its place in the window when it is done, and their outcomes are
    written together, a created row's naming the company (PartyID) it was created in. What stops the run (a 401)
    goes to `stopped` at once, so no row is claimed after it, and the rows done beside it are written all the same,
    as are the other batches in flight."""

    def unavailable(row: dict[str, Any], reason: str) -> dict[str, Any]:
        if isinstance(reason, NotReached):  # the key reaches no such company: no run could create it
            summary.rejected[COMPANY_NOT_REACHED] += 1
            return claims.rejected_outcome(row["external_id"], COMPANY_NOT_REACHED, reason)
        summary.failed += 1  # tried again by the next run: API access may be switched on meanwhile
        code = {"status": "failed", "last_error_code": "CompanyUnavailable"}
        return {"external_id": row["external_id"], **code, "last_error": reason}

    async def create(row: dict[str, Any], payload: dict[str, Any], key: str) -> dict[str, Any]:
        company = clients.company_of(row)
        try:
            if (problem := clients.unavailable.get(company)) is not None:
                return unavailable(row, problem)
            outcome = await _create_once(await clients.client_for(row), row, payload, key, summary)
            # Where the order is: an empty company_id of a file still means the configured company (journal.py).
            return outcome | ({"company_id": company} if outcome["status"] == "created" else {})
        except BillitAuthError as refused:
            if (reason := await clients.why_refused(company, refused)) is None:
                stopped.append(refused)  # the key itself: every row would get the same answer
                raise
            return unavailable(row, reason)
        except BaseException as exc:
            stopped.append(exc)  # before its place in the window frees: no row is claimed after it
            raise
        finally:
            await row_done()

    results = await asyncio.gather(*(create(row, payload, key) for row, payload, key in ready), return_exceptions=True)
    await warehouse_call(claims.write_outcomes, engine, [r for r in results if isinstance(r, dict)], run_id)


async def _create_once(
    billit: BillitClient, row: dict[str, Any], payload: dict[str, Any], key: str, summary: PushSummary
) -> dict[str, Any]:
    external_id = row["external_id"]
    try:
        # Looked up before every create, the first one too: whether Billit keeps ExternalProviderID unique and how
        # long it honours an idempotency key are unknown (docs/reference/billit-api.md#idempotency), and an order
        # with this id may be there without any attempt of this table (a warehouse restored or rebuilt, an id another
        # tool used). One GET per row (and one per order it finds), against a second invoice for the customer.
        if (existing := await find_order(billit, external_id)) is not None:
            # Made by an earlier attempt (from other values, if that attempt's key is not this one's), or before
            # this table knew the row: linked when its lines are the row's, flagged otherwise.
            changed = row["idempotency_key"] not in (None, key)
            earlier = row["attempts"] > 0
            return found_outcome(
                external_id, existing, payload, summary, made_from_other_values=changed, by_attempt=earlier
            )
        return await _post_looking_up_between(billit, external_id, payload, key, summary)
    except SeveralOrders as several:  # never resolved by guessing: a person picks the row's order
        return several.outcome(summary)
    except BillitValidationError as exc:
        code = exc.codes[0] if exc.codes else "ValidationError"
        summary.rejected[code] += 1
        return claims.rejected_outcome(external_id, code, "; ".join(str(detail) for detail in exc.details) or str(exc))
    except BillitAuthError:
        raise  # the key or the company is wrong: every row would get the same answer, so the run stops here
    except BillitError as exc:
        summary.failed += 1
        code = exc.codes[0] if isinstance(exc, BillitHTTPError) and exc.codes else type(exc).__name__
        return {"external_id": external_id, "status": "failed", "last_error_code": code, "last_error": str(exc)}


async def _post_looking_up_between(
    billit: BillitClient, external_id: str, payload: dict[str, Any], key: str, summary: PushSummary
) -> dict[str, Any]:
    """POST the order; after an answer that may hide a create that committed (a lost answer, a 5xx, a 409 on the
    key), look it up by ExternalProviderID before any new POST. The client repeats a create only when it surely
    never reached Billit: whether Billit honours the idempotency key is unknown
    (docs/reference/billit-api.md#idempotency), and a re-POST it does not recognise would be a second invoice. The
    key still goes with every POST."""
    repeats = 0
    while True:
        try:
            order_id = await billit.create_order(payload, idempotency_key=key)
        except (BillitConflictError, BillitTransportError, BillitServerError) as ambiguous:
            # 409 says the key was used, a lost answer or a 5xx may mean the create committed.
            if isinstance(ambiguous, BillitTransportError) and not ambiguous.maybe_processed:
                raise  # never reached Billit, and the client has retried it already
            if (existing := await find_order(billit, external_id)) is not None:
                return found_outcome(external_id, existing, payload, summary)
            if (delay := billit.repeat_delay(ambiguous, repeats)) is None:
                raise  # a 409 whose order is not found, or the repeats are used up: failed, the next run looks again
            repeats += 1
            await asyncio.sleep(delay)
            continue
        summary.created += 1
        return created_outcome(external_id, order_id)


def run_push(options: PushOptions, *, engine: sa.Engine | None = None, **settings_overrides: Any) -> dict[str, Any]:
    """Push with a client from the environment's Billit settings; returns the summary as a dict."""
    engine = engine or warehouse_engine()
    settings = billit_settings(**settings_overrides)

    async def push() -> PushSummary:
        async with BillitClient(settings) as billit:
            return await push_outbound(billit, engine, options)

    summary = asyncio.run(push())
    return summary.as_dict() | {"dry_run": options.dry_run, "ok": summary.ok}
