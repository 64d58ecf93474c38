"""Applying stored webhook events: refresh each order they name from Billit and load it as the sync does.

`EventApplier.apply_due` claims the due events a batch of orders at a time (`tasks.inbound.webhook_events`), GETs
each order once however many events name it, normalises and upserts the orders with the sync's own load
(`tasks.inbound.warehouse.load_orders_isolating_refusals`, no watermark: the stream watermarks are the scheduled
sync's and never move here), then records every event's outcome:

* the order loaded: `applied` (an older answer than the stored row changes nothing: the load's newer-row guard);
* Billit answers 404 after an Order D event: the deletion is confirmed and marked as the sync's deletions are
  (`mark_deleted`); when that changes nothing (the company's books hold no such order, or hold it deleted
  already) the events say so: `ignored` with the reason, or `failed` after a 401 (an order this company cannot
  read may be another's: nothing was confirmed); a 404 with no D event is left to the scheduled sync (`ignored`,
  with the reason);
* Billit down (transport errors, 5xx, 429 after the client's own retries): the events stay `received`, their
  attempts counted, and are tried again after a doubling backoff; never dropped;
* another refusal (401 for an order the company cannot see, an answer we cannot read): `failed`, with the reason;
* the load itself failing (the warehouse, or an order it cannot cope with): the claim's events wait as for Billit
  down, and the error goes up to the caller.

Exactly once: the load commits, then the outcomes are recorded in a second transaction. A crash between the two
leaves the events claimed by a dead worker; the next claim takes them and fetches and loads the order again, which
changes nothing the first load did not (same LastModified: unchanged; the status history is keyed by version).
So each event is recorded once and its effect on the warehouse is that of one apply.

The company: an event's `company_id` (the body named one, else the `company` parameter of the URL Billit called,
which `webhooks register` sets to the company it registers for), else the applier's own (BILLIT_PARTY_ID). The
order is fetched with that company's PartyID and loaded under it. An event with neither (a URL registered without
`?company=`, a receiver without BILLIT_PARTY_ID) fails alone with that reason: it is a setting to fix, not an outage
to wait out, and the claim's other events apply.

Webhook applies are not `sync_runs`: each batch writes a run id (`webhook-...`) on the rows it loads and on its
events (`webhook_events.run_id`), which is their record.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from connectors.billit import BillitClient, BillitError, BillitForbiddenIdError, BillitNotFoundError, BillitSettings
from connectors.warehouse import reflect_tables
from tasks.inbound.deletions import settle_deletions
from tasks.inbound.extract import STREAMS
from tasks.inbound.warehouse import load_orders_isolating_refusals
from tasks.inbound.webhook_events import (
    Claim,
    OrderClaim,
    Outcome,
    claim_events,
    count_events,
    record_outcomes,
    release,
    utc_now,
)
from tasks.options import BILLIT_TIME_ZONE
from tasks.runtime import billit_settings, warehouse_engine
from tasks.warehouse_common import driver_message

logger = logging.getLogger("billit.webhooks")

#: Why an event without a company is not applied; it names only what `webhooks serve` and `apply` read.
NO_COMPANY_REASON = (
    "no company to fetch the order as: neither the event nor its URL names one (webhooks register adds ?company= "
    "to the URL it registers) and BILLIT_PARTY_ID is not set"
)

#: The stream an order belongs to, by its OrderDirection (tasks.inbound.extract.STREAMS).
STREAM_OF_DIRECTION = {stream.direction: stream.name for stream in STREAMS.values()}


@dataclass
class ApplySummary:
    """Events one `apply_due` handled, by outcome, and the orders it fetched; `requests` is the GETs it sent."""

    events: dict[str, int] = field(default_factory=dict)
    orders: int = 0
    requests: int = 0

    def add(self, outcome: Outcome) -> None:
        self.events[outcome.status] = self.events.get(outcome.status, 0) + len(outcome.order.event_ids)


class EventApplier:
    """Applies stored events with one Billit client per company (the configured one, and any a body named).

    Use as `async with EventApplier(engine, settings) as applier: await applier.apply_due()`.
    """

    def __init__(
        self,
        engine: sa.Engine,
        settings: BillitSettings,
        *,
        worker: str = "applier",
        orders_per_claim: int = 100,
        clock: Callable[[], datetime] = utc_now,
        client_factory: Callable[[BillitSettings], BillitClient] = BillitClient,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.worker = worker
        self.orders_per_claim = orders_per_claim
        self.clock = clock
        self._client_factory = client_factory
        self._clients: dict[int, BillitClient] = {}

    async def __aenter__(self) -> EventApplier:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.aclose()

    def _client(self, company_id: int) -> BillitClient:
        client = self._clients.get(company_id)
        if client is None:
            settings = (
                self.settings
                if company_id == self.settings.party_id
                else self.settings.model_copy(update={"party_id": company_id})
            )
            client = self._clients[company_id] = self._client_factory(settings)
        return client

    async def apply_due(self, *, max_claims: int | None = None) -> ApplySummary:
        """Apply every event due now, a claim at a time, until none is left (or `max_claims` claims)."""
        summary = ApplySummary()
        claims = 0
        while max_claims is None or claims < max_claims:
            claim = await asyncio.to_thread(
                claim_events, self.engine, self.worker, self.orders_per_claim, now=self.clock()
            )
            if not claim.orders:
                break
            claims += 1
            await self._apply_claim(claim, summary)
        return summary

    async def _apply_claim(self, claim: Claim, summary: ApplySummary) -> None:
        run_id = f"webhook-{uuid.uuid4().hex}"
        # Each order's company first: an order that has none fails alone (NO_COMPANY_REASON).
        companies = [(order, self._company(order)) for order in claim.orders]
        orders = [(order, company) for order, company in companies if company is not None]
        unaddressed = [Outcome(order, "failed", NO_COMPANY_REASON) for order, company in companies if company is None]
        try:
            answers = await asyncio.gather(*(self._fetch(order, company) for order, company in orders))
            outcomes = unaddressed + await asyncio.to_thread(self._load, orders, answers, run_id)
        except Exception as exc:
            # The warehouse failed, or a load met something it could not handle: the events wait with the reason
            # and a backoff (a load that committed before the failure is applied again, harmlessly), so one bad
            # order cannot make every round fail at once; if even that cannot be written, the claim is released.
            failed = unaddressed + [
                Outcome(order, "retry", f"the apply failed: {driver_message(exc)}") for order, _ in orders
            ]
            try:
                await asyncio.to_thread(record_outcomes, self.engine, claim, failed, run_id=run_id, now=self.clock())
            except Exception:  # noqa: BLE001 - the warehouse is down: the claim's lease frees the events
                with contextlib.suppress(Exception):
                    await asyncio.to_thread(release, self.engine, claim)
            raise
        except BaseException:  # cancelled (the receiver stopping): the events go back as they were
            await asyncio.to_thread(release, self.engine, claim)
            raise
        await asyncio.to_thread(record_outcomes, self.engine, claim, outcomes, run_id=run_id, now=self.clock())
        summary.orders += len(orders)  # fetched: an order without a company is not
        summary.requests += len(orders)
        for outcome in outcomes:
            summary.add(outcome)
        logger.info(
            "applied %d webhook events of %d orders: %s",
            claim.event_count,
            len(claim.orders),
            ", ".join(f"{o.status} {o.order.order_id}" for o in outcomes[:5]) + (" ..." if len(outcomes) > 5 else ""),
        )

    def _company(self, order: OrderClaim) -> int | None:
        """The company the order is fetched and loaded as: the event's, else the applier's own, else none."""
        return order.company_id if order.company_id is not None else self.settings.party_id

    async def _fetch(self, order: OrderClaim, company_id: int) -> dict[str, Any] | BillitError:
        """The full order, or the error Billit's answer (after the client's own retries) amounts to."""
        try:
            return await self._client(company_id).get_order(order.order_id)
        except BillitError as exc:
            return exc

    def _load(
        self, orders: list[tuple[OrderClaim, int]], answers: list[dict[str, Any] | BillitError], run_id: str
    ) -> list[Outcome]:
        """Load the fetched orders, each with its company (one load per company and stream), mark the confirmed
        deletions, and say what became of each order's events."""
        outcomes: list[Outcome] = []
        batches: dict[tuple[int, str], list[tuple[OrderClaim, Mapping[str, Any]]]] = {}
        for (order, company_id), answer in zip(orders, answers, strict=True):
            # A deleted order's detail answers 404, or perhaps 401 as an id one may not see
            # (docs/reference/billit-api.md#deletions): with a deletion announced, either confirms it; else a 401
            # is a failure.
            if isinstance(answer, BillitNotFoundError) or (
                isinstance(answer, BillitForbiddenIdError) and order.deleted
            ):
                outcomes.append(self._not_found(order, company_id, answer, run_id))
            elif isinstance(answer, BillitError):
                outcomes.append(Outcome(order, "retry" if answer.retryable else "failed", str(answer)))
            else:
                stream = STREAM_OF_DIRECTION.get(str(answer.get("OrderDirection")))
                if stream is None:
                    outcomes.append(
                        Outcome(order, "failed", f"OrderDirection {answer.get('OrderDirection')!r} is no stream's")
                    )
                else:
                    batches.setdefault((company_id, stream), []).append((order, answer))
        for (company_id, stream), items in batches.items():
            load_orders_isolating_refusals(
                self.engine,
                [answer for _, answer in items],
                stream=stream,
                run_id=run_id,
                company_id=company_id,
            )
            outcomes.extend(Outcome(order, "applied") for order, _ in items)
        return outcomes

    def _not_found(self, order: OrderClaim, company_id: int, answer: BillitError, run_id: str) -> Outcome:
        """An order Billit no longer shows: deleted, when a deletion was announced; else the scheduled sync's to
        settle. `applied` only when the warehouse changed."""
        if not order.deleted:
            return Outcome(
                order, "ignored", "Billit answers 404 and no deletion was announced: left to the scheduled sync"
            )
        # docs/reference/billit-api.md#deletions: deleted_at is what Billit reports; a webhook reports no time
        # but its summary's LastModified (when it carries one), else the moment the deletion was confirmed, on
        # Billit's clock (naive Brussels time) like the rest of the column: a replay compares it with LastModified
        # (tasks/inbound/stored_orders.py), so UTC here would read a deletion as an hour or two earlier.
        when = _readable_time(order.last_modified) or datetime.now(UTC).astimezone(BILLIT_TIME_ZONE).replace(
            tzinfo=None
        )
        settled = settle_deletions(
            self.engine,
            [{"OrderID": order.order_id, "LastModified": when.isoformat()}],
            run_id=run_id,
            company_id=company_id,
        )
        if settled.marked or settled.forgotten:
            return Outcome(order, "applied", None)
        invoices = reflect_tables(self.engine)["invoices"]
        with self.engine.connect() as connection:
            held = connection.execute(
                sa.select(invoices.c.company_id, invoices.c.is_deleted).where(invoices.c.order_id == order.order_id)
            ).first()
        if held is not None and held.company_id == company_id and held.is_deleted:
            return Outcome(order, "ignored", f"order {order.order_id} was already marked deleted: nothing changed")
        elsewhere = f" (the warehouse holds it in company {held.company_id}'s books)" if held is not None else ""
        if isinstance(answer, BillitForbiddenIdError):
            # A 401 confirms a deletion only of an order the company had: this one may simply be another's.
            return Outcome(
                order,
                "failed",
                f"{answer}; company {company_id}'s books hold no order {order.order_id}{elsewhere}: nothing marked",
            )
        return Outcome(
            order,
            "ignored",
            f"Billit confirms the deletion, but company {company_id}'s books hold no order {order.order_id}"
            f"{elsewhere}: nothing to mark",
        )


def _readable_time(text: str | None) -> datetime | None:
    """A naive timestamp of Billit's (up to 7 fraction digits: microseconds kept), or None."""
    if not text:
        return None
    head, dot, fraction = text.partition(".")
    try:
        moment = datetime.fromisoformat(f"{head}.{fraction[:6].ljust(6, '0')}" if dot else head)
    except ValueError:
        return None
    return moment.replace(tzinfo=None) if moment.tzinfo is None else None


def apply_stored_events(
    *, engine: sa.Engine | None = None, warehouse_url: str | None = None, **settings_overrides: Any
) -> dict[str, Any]:
    """Apply every stored event due now, once, and return the counts (`billit-etl webhooks apply`, the Prefect
    flow): events by outcome this round, orders fetched, and the events still waiting for a retry."""
    engine = engine or warehouse_engine(warehouse_url)
    settings = billit_settings(**settings_overrides)

    async def run() -> ApplySummary:
        async with EventApplier(engine, settings) as applier:
            return await applier.apply_due()

    summary = asyncio.run(run())
    return {
        "events": dict(sorted(summary.events.items())),
        "orders": summary.orders,
        "waiting": count_events(engine).get("received", 0),
    }
