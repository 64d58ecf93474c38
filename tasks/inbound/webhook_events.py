"""The `webhook_events` queue: store an accepted call, claim the events due by order, record what became of them.

Every function is one short transaction on the warehouse. The receiver stores each call before it answers
(`store_event`), so an event that got a 2xx is never lost; the applier (`tasks.inbound.webhook_apply`) claims the
due events a batch of orders at a time (`claim_events`: every claimed event of one order is answered by one GET
of that order), then records the outcome of each order's events and releases the claim.

A claim is a lease: `claimed_by` names the worker (host/pid/claim) and `claimed_until` when the lease ends. A
worker that died (same host, its process gone) or whose lease ran out leaves its events to the next claim, so a
crash between storing and applying, or in the middle of an apply, only delays the events.
"""

from __future__ import annotations

import json
import os
import socket
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from connectors.billit.webhook_signature import Signed
from connectors.warehouse import insert_ignoring_duplicates, reflect_tables, write_transaction
from tasks.inbound.webhook_payloads import EventFacts, describe_event, redact_secrets
from tasks.warehouse_common import dead_claimants

#: How long a claim holds its events; an apply takes seconds (a GET per order and one load), so a lease that
#: runs out means the worker is stuck or gone on another host.
CLAIM_LEASE = timedelta(minutes=5)
#: The wait before an event Billit could not answer for is tried again: doubling from the first, capped.
RETRY_FIRST = timedelta(seconds=2)
RETRY_MAX = timedelta(minutes=5)
#: What `last_error` keeps of an error: one line.
ERROR_CHARS = 300


def utc_now() -> datetime:
    """Naive UTC, as the warehouse's timestamps are."""
    return datetime.now(UTC).replace(tzinfo=None)


@dataclass(frozen=True)
class Stored:
    """The outcome of storing a call: its event id, or a replay of a call already stored (nothing written)."""

    event_id: int | None
    replay: bool
    status: str | None = None


@dataclass
class OrderClaim:
    """The due events of one order, claimed together: one fetch of the order answers all of them."""

    order_id: int
    company_id: int | None
    event_ids: list[int] = field(default_factory=list)
    deleted: bool = False  # an Order D event is among them
    attempts: int = 0  # the most attempts any of them has had
    last_modified: str | None = None  # the LastModified a D event's summary carried, if any


@dataclass
class Claim:
    """A batch of orders one worker holds until it records their outcomes (or its lease runs out)."""

    claimant: str
    orders: list[OrderClaim]

    @property
    def event_count(self) -> int:
        return sum(len(order.event_ids) for order in self.orders)


def store_event(
    engine: sa.Engine,
    signed: Signed,
    body: Any,
    *,
    company_id: int | None = None,
    received_at: datetime | None = None,
) -> Stored:
    """Store one verified call (its parsed JSON `body`) in one short transaction; a call with the same webhook and
    mac is a replay and stores nothing. An event that names no order is stored `ignored` at once. `company_id`:
    the company the URL Billit called names, when the body names none."""
    facts = describe_event(body)
    if facts.company_id is None and company_id is not None:
        facts = replace(facts, company_id=company_id)
    row = _event_row(signed, body, facts, received_at or utc_now())
    table = reflect_tables(engine)["webhook_events"]
    with write_transaction(engine) as connection:
        inserted = insert_ignoring_duplicates(connection, table, [row], ["webhook_id", "mac"])
        if not inserted:
            return Stored(None, replay=True)
        event_id = connection.execute(
            sa.select(table.c.event_id).where(table.c.webhook_id == signed.webhook_id, table.c.mac == signed.mac)
        ).scalar_one()
    return Stored(int(event_id), replay=False, status=row["status"])


def _event_row(signed: Signed, body: Any, facts: EventFacts, received_at: datetime) -> dict[str, Any]:
    ignored = facts.order_id is None
    return {
        "received_at": received_at,
        "webhook_id": signed.webhook_id[:200],
        "signed_at": signed.timestamp,
        "mac": signed.mac,
        "entity_type": facts.entity_type,
        "update_type": facts.update_type,
        "entity_id": facts.entity_id,
        "order_id": facts.order_id,
        "company_id": facts.company_id,
        "body": json.dumps(redact_secrets(body), ensure_ascii=False, separators=(",", ":")),
        "status": "ignored" if ignored else "received",
        "attempts": 0,
        "last_error": "names no order (a confirmation or an unknown shape)" if ignored else None,
    }


#: Claiming transactions one `claim_events` tries when other workers keep taking the orders it picked.
CLAIM_RACES = 5


def new_claimant(worker: str | None = None) -> str:
    """A claim's owner: this host and process (so a dead one is recognised), the worker's name, a claim id."""
    return f"{socket.gethostname()}/{os.getpid()}/{worker or 'applier'}/{uuid.uuid4().hex[:12]}"[:200]


def claim_events(
    engine: sa.Engine, worker: str | None = None, limit: int = 100, *, now: datetime | None = None
) -> Claim:
    """Claim the due events of up to `limit` orders, oldest first, with every other unclaimed event of those
    orders (due or waiting for a retry: the one fetch answers them all)."""
    now = now or utc_now()
    table = reflect_tables(engine)["webhook_events"]
    for _ in range(CLAIM_RACES):
        claimant = new_claimant(worker)
        due_orders, rows = _claim(engine, table, claimant, limit, now)
        # On PostgreSQL another worker may have claimed every order this one picked (see _claim): pick again
        # rather than report nothing due while events wait.
        if rows or not due_orders:
            break
    orders: dict[tuple[int, int | None], OrderClaim] = {}
    for row in rows:
        order = orders.setdefault((row.order_id, row.company_id), OrderClaim(row.order_id, row.company_id))
        order.event_ids.append(int(row.event_id))
        order.attempts = max(order.attempts, int(row.attempts or 0))
        if row.entity_type == "Order" and row.update_type == "D":
            order.deleted = True
            order.last_modified = describe_event(json.loads(row.body)).last_modified or order.last_modified
    return Claim(claimant, list(orders.values()))


def _claim(
    engine: sa.Engine, table: sa.Table, claimant: str, limit: int, now: datetime
) -> tuple[int, Sequence[sa.Row[Any]]]:
    """One claiming transaction: how many orders had due events, and the event rows `claimant` claimed."""
    with write_transaction(engine) as connection:
        free = sa.or_(
            table.c.claimed_by.is_(None),
            table.c.claimed_until < now,
            table.c.claimed_by.in_(dead_claimants(connection, table.c.claimed_by, table.c.status == "received")),
        )
        received = sa.and_(table.c.status == "received", free)
        due = sa.and_(received, sa.or_(table.c.next_attempt_at.is_(None), table.c.next_attempt_at <= now))
        # On SQLite the write lock is held from BEGIN, so select-then-update is atomic; on PostgreSQL two
        # workers may both pick an order, and the update's `free` re-checked on each row lets one event go to
        # one of them only (the worst case is the same order fetched twice, which the upsert makes harmless).
        keys = connection.execute(
            sa.select(table.c.order_id, table.c.company_id)
            .where(due)
            .group_by(table.c.order_id, table.c.company_id)
            .order_by(sa.func.min(table.c.event_id))
            .limit(limit)
        ).all()
        if not keys:
            return 0, []
        order_ids = sorted({key.order_id for key in keys})
        connection.execute(
            table.update()
            .where(received, table.c.order_id.in_(order_ids))
            .values(claimed_by=claimant, claimed_until=now + CLAIM_LEASE)
        )
        rows = connection.execute(
            sa.select(
                table.c.event_id,
                table.c.order_id,
                table.c.company_id,
                table.c.entity_type,
                table.c.update_type,
                table.c.attempts,
                table.c.body,
            )
            .where(table.c.claimed_by == claimant)
            .order_by(table.c.event_id)
        ).all()
    return len(keys), rows


@dataclass(frozen=True)
class Outcome:
    """What became of one order's claimed events: `applied`, `ignored`, `failed`, or `retry` (back to
    `received`, attempts counted, tried again after a backoff)."""

    order: OrderClaim
    status: str
    error: str | None = None


def record_outcomes(
    engine: sa.Engine, claim: Claim, outcomes: Sequence[Outcome], *, run_id: str, now: datetime | None = None
) -> None:
    """Record each order's outcome on its events and release them, in one transaction. Only events this claim
    still holds are touched: a claim whose lease ran out and was taken over records nothing twice."""
    now = now or utc_now()
    table = reflect_tables(engine)["webhook_events"]
    with write_transaction(engine) as connection:
        for outcome in outcomes:
            mine = sa.and_(table.c.event_id.in_(outcome.order.event_ids), table.c.claimed_by == claim.claimant)
            error = _one_line(outcome.error)
            if outcome.status == "retry":
                wait = min(RETRY_MAX, RETRY_FIRST * 2 ** min(outcome.order.attempts, 20))
                values: dict[str, Any] = {
                    "attempts": table.c.attempts + 1,
                    "last_error": error,
                    "next_attempt_at": now + wait,
                }
            else:
                values = {
                    "status": outcome.status,
                    "attempts": table.c.attempts + 1,
                    "last_error": error,
                    "applied_at": now,
                    "run_id": run_id,
                    "next_attempt_at": None,
                }
            connection.execute(table.update().where(mine).values(**values, claimed_by=None, claimed_until=None))


def release(engine: sa.Engine, claim: Claim) -> None:
    """Give back whatever the claim still holds, unchanged (after an error the next claim may take it at once)."""
    table = reflect_tables(engine)["webhook_events"]
    with write_transaction(engine) as connection:
        connection.execute(
            table.update().where(table.c.claimed_by == claim.claimant).values(claimed_by=None, claimed_until=None)
        )


def count_events(engine: sa.Engine) -> dict[str, int]:
    """Events by status (the receiver's health and the bench)."""
    table = reflect_tables(engine)["webhook_events"]
    with engine.connect() as connection:
        rows = connection.execute(sa.select(table.c.status, sa.func.count()).group_by(table.c.status)).all()
    return {status: int(count) for status, count in rows}


def _one_line(text: str | None) -> str | None:
    if text is None:
        return None
    return " ".join(text.split())[:ERROR_CHARS]
