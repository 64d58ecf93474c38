"""Applying stored webhook events (tasks/inbound/webhook_apply.py) against the sandbox over HTTP, on SQLite and
PostgreSQL: one GET per order however many events name it, the sync's load, no watermark moved, Billit down,
confirmed deletions, a crash between storing and applying."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from connectors.billit.webhook_signature import Signed
from connectors.warehouse import reflect_tables
from sandbox.server import SandboxServer
from sandbox.store import Sandbox
from tasks.inbound.webhook_app import create_app
from tasks.inbound.webhook_apply import ApplySummary, EventApplier
from tasks.inbound.webhook_events import RETRY_FIRST, claim_events, store_event, utc_now
from tasks.options import BILLIT_TIME_ZONE
from tests.connectors.warehouse import Warehouse
from tests.tasks.sync_helpers import COMPANY, SEED_START, billit_view, sync, warehouse_views
from tests.tasks.webhook_helpers import (
    SECRETS,
    WEBHOOK_ID,
    ReceiverServer,
    billit_settings_for,
    events,
    invoice,
    message_event,
    order_event,
    order_gets,
    signed_headers,
    wait_for,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def server() -> Iterator[SandboxServer]:
    with SandboxServer(Sandbox(seed=14, orders=300, seed_start=SEED_START, hold_deliveries=True)) as running:
        yield running


def unpaid_sales(server: SandboxServer, count: int) -> list[int]:
    orders = server.sandbox.company_orders(COMPANY)
    return sorted(i for i, o in orders.items() if o["OrderDirection"] == "Income" and not o.get("Paid"))[:count]


def stored(engine: sa.Engine, body: bytes, n: int) -> None:
    """Store `body` as the n-th call of the webhook (each with its own mac, as distinct calls have)."""
    store_event(engine, Signed(WEBHOOK_ID, 1_800_000_000 + n, f"{n:064x}"), json.loads(body))


def apply(engine: sa.Engine, server: SandboxServer, *, at: datetime | None = None, **overrides: Any) -> ApplySummary:
    async def run() -> ApplySummary:
        clock = (lambda: at) if at is not None else utc_now
        async with EventApplier(engine, billit_settings_for(server, **overrides), clock=clock) as applier:
            return await applier.apply_due()

    return asyncio.run(run())


def watermarks(engine: sa.Engine) -> list[Any]:
    with engine.connect() as connection:
        return list(connection.execute(sa.select(reflect_tables(engine)["sync_state"])).all())


def test_a_burst_of_events_on_one_order_costs_one_get_and_loads_what_billit_has_now(
    server: SandboxServer, engine: sa.Engine
) -> None:
    [order_id, other_id] = unpaid_sales(server, 2)
    server.sandbox.touch_order(order_id, Paid=True, OrderStatus="Paid")
    bodies = [
        order_event(order_id, "U"),
        order_event(order_id, "U", shape="flat"),
        message_event(order_id, 501, "Sent"),
        message_event(order_id, 502, "Refused", flat=True),
    ]
    for n in range(40):
        stored(engine, bodies[n % len(bodies)], n)
    stored(engine, order_event(other_id, "U"), 40)
    gets_before = order_gets(server)

    summary = apply(engine, server)

    assert order_gets(server) - gets_before == 2  # one per order, not one per event
    assert summary.events == {"applied": 41} and summary.orders == summary.requests == 2
    assert {event["status"] for event in events(engine)} == {"applied"}
    assert all(event["attempts"] == 1 and event["run_id"].startswith("webhook-") for event in events(engine))
    loaded, _ = warehouse_views(engine, COMPANY)
    with server.sandbox.lock:
        assert loaded[order_id] == billit_view(server.sandbox.orders[order_id])
    assert invoice(engine, order_id)["paid"]  # type: ignore[index]
    assert watermarks(engine) == []  # the stream watermarks are the scheduled sync's

    assert apply(engine, server).events == {}  # applied once: nothing is left to apply
    assert order_gets(server) - gets_before == 2


def test_a_webhook_never_moves_a_watermark_and_an_older_answer_never_overwrites_a_newer_row(
    server: SandboxServer, engine: sa.Engine
) -> None:
    sync(server, engine, "sales")
    before = watermarks(engine)
    [order_id] = unpaid_sales(server, 1)
    server.sandbox.touch_order(order_id, Paid=True, OrderStatus="Paid")
    stored(engine, order_event(order_id), 1)
    apply(engine, server)
    assert invoice(engine, order_id)["paid"]  # type: ignore[index]
    assert watermarks(engine) == before
    # The next scheduled run finds the change already there.
    after = sync(server, engine, "sales")
    assert after["orders_new"] == 0 and after["orders_changed"] == 0 and after["orders_unchanged"] >= 1


def test_billit_down_while_events_arrive_keeps_them_and_applies_them_once_it_is_back(
    server: SandboxServer, engine: sa.Engine
) -> None:
    [first, second] = unpaid_sales(server, 2)
    server.sandbox.touch_order(first, Paid=True, OrderStatus="Paid")
    server.sandbox.injector.update({"rate_5xx": 1.0})
    stored(engine, order_event(first), 1)
    now = utc_now()
    down = apply(engine, server, at=now)
    assert down.events == {"retry": 1}
    stored(engine, order_event(second), 2)  # arrives while Billit is still down
    apply(engine, server, at=now + timedelta(seconds=1))
    [one, two] = events(engine)
    assert (one["status"], one["attempts"], two["status"], two["attempts"]) == ("received", 1, "received", 1)
    assert "HTTP 5" in one["last_error"] and "\n" not in one["last_error"]
    assert invoice(engine, first) is None and invoice(engine, second) is None

    server.sandbox.injector.update({"rate_5xx": 0.0})
    assert apply(engine, server, at=now + timedelta(seconds=1)).events == {}  # the first still waits its backoff
    back = apply(engine, server, at=now + RETRY_FIRST * 4)
    assert back.events == {"applied": 2}
    assert [event["status"] for event in events(engine)] == ["applied", "applied"]
    assert invoice(engine, first)["paid"] and invoice(engine, second) is not None  # type: ignore[index]


def test_a_rate_limited_billit_is_billit_down_too(server: SandboxServer, engine: sa.Engine) -> None:
    [order_id] = unpaid_sales(server, 1)
    server.sandbox.injector.update({"rate_429": 1.0, "retry_after_s": 0.01})
    stored(engine, order_event(order_id), 1)
    assert apply(engine, server).events == {"retry": 1}
    [event] = events(engine)
    assert event["status"] == "received" and "HTTP 429" in event["last_error"]


def test_a_deletion_is_marked_only_when_billit_confirms_it(server: SandboxServer, engine: sa.Engine) -> None:
    [deleted_id, vanished_id] = unpaid_sales(server, 2)
    sync(server, engine, "sales")
    for order_id in (deleted_id, vanished_id):
        server.sandbox.delete_order(server.sandbox.get_order(order_id))
    stored(engine, order_event(deleted_id, "D", LastModified="2026-12-04T10:00:00.1234567"), 1)
    stored(engine, message_event(vanished_id, 700), 2)  # a 404 with no deletion announced
    summary = apply(engine, server)
    assert summary.events == {"applied": 1, "ignored": 1}
    gone, kept = invoice(engine, deleted_id), invoice(engine, vanished_id)
    assert gone is not None and gone["is_deleted"] and gone["deleted_at"] == datetime(2026, 12, 4, 10, 0, 0, 123456)
    assert kept is not None and not kept["is_deleted"]  # left to the scheduled sync's deletions
    ignored = events(engine)[1]
    assert ignored["status"] == "ignored" and "scheduled sync" in ignored["last_error"]


def test_a_deletion_without_a_time_is_dated_when_confirmed_on_billit_s_clock(
    server: SandboxServer, engine: sa.Engine
) -> None:
    # deleted_at holds Billit's naive Brussels time (the deletions list's LastModified), never UTC: a replay
    # compares it with LastModified (docs/warehouse.md#invoices).
    [order_id] = unpaid_sales(server, 1)
    sync(server, engine, "sales")
    server.sandbox.delete_order(server.sandbox.get_order(order_id))
    stored(engine, order_event(order_id, "D"), 1)
    assert apply(engine, server).events == {"applied": 1}
    row = invoice(engine, order_id)
    brussels_now = datetime.now(BILLIT_TIME_ZONE).replace(tzinfo=None)
    assert row is not None and row["is_deleted"] and abs(row["deleted_at"] - brussels_now) < timedelta(minutes=5)


def test_a_deletion_billit_confirms_with_a_401_is_marked_too(server: SandboxServer, engine: sa.Engine) -> None:
    # What a deleted order's detail answers is unknown: 404, or 401 as for any id one may not see.
    server.sandbox.quirks.merge({"deleted_order_status": 401})
    [deleted_id, vanished_id] = unpaid_sales(server, 2)
    sync(server, engine, "sales")
    for order_id in (deleted_id, vanished_id):
        server.sandbox.delete_order(server.sandbox.get_order(order_id))
    stored(engine, order_event(deleted_id, "D"), 1)
    stored(engine, message_event(vanished_id, 701), 2)  # a 401 with no deletion announced: not this path's to judge
    assert apply(engine, server).events == {"applied": 1, "failed": 1}
    gone, kept = invoice(engine, deleted_id), invoice(engine, vanished_id)
    assert gone is not None and gone["is_deleted"] and kept is not None and not kept["is_deleted"]


def test_a_deletion_that_changes_nothing_is_not_recorded_applied(server: SandboxServer, engine: sa.Engine) -> None:
    # Found from the outside: a D event for an order we cannot read (a 401 for the event's company, here an order
    # of another company) was recorded `applied`, though nothing was marked.
    server.sandbox.quirks.merge({"deleted_order_status": 401})
    other = next(cid for cid in server.sandbox.companies if cid != COMPANY)
    [ours, gone] = unpaid_sales(server, 2)
    never_loaded = min(i for i, o in server.sandbox.company_orders(COMPANY).items() if o["OrderDirection"] == "Cost")
    sync(server, engine, "sales")
    server.sandbox.delete_order(server.sandbox.get_order(gone))
    store_event(
        engine, Signed(WEBHOOK_ID, 1_800_000_001, "1" * 64), json.loads(order_event(ours, "D")), company_id=other
    )
    stored(engine, order_event(gone, "D"), 2)
    assert apply(engine, server).events == {"applied": 1, "failed": 1}
    foreign, marked = events(engine)
    assert (
        foreign["status"] == "failed" and "401" in foreign["last_error"] and "nothing marked" in foreign["last_error"]
    )
    assert f"company {COMPANY}'s books" in foreign["last_error"]  # where the order is
    row = invoice(engine, ours)
    assert row is not None and not row["is_deleted"]
    assert marked["status"] == "applied" and marked["last_error"] is None
    # Announced again, once marked: nothing changes.
    stored(engine, order_event(gone, "D"), 3)
    assert apply(engine, server).events == {"ignored": 1}
    assert "already marked deleted" in events(engine)[-1]["last_error"]
    # A 404 after a D event for an order the warehouse never had (only sales were synced): nothing to mark either.
    server.sandbox.quirks.merge({"deleted_order_status": 404})
    server.sandbox.delete_order(server.sandbox.get_order(never_loaded))
    stored(engine, order_event(never_loaded, "D"), 4)
    assert apply(engine, server).events == {"ignored": 1}
    assert "nothing to mark" in events(engine)[-1]["last_error"]


def test_an_order_announced_deleted_that_billit_still_has_is_loaded_as_it_is(
    server: SandboxServer, engine: sa.Engine
) -> None:
    [order_id] = unpaid_sales(server, 1)
    stored(engine, order_event(order_id, "D"), 1)
    assert apply(engine, server).events == {"applied": 1}
    row = invoice(engine, order_id)
    assert row is not None and not row["is_deleted"]


def test_an_order_of_another_company_fails_its_events_without_retrying(
    server: SandboxServer, engine: sa.Engine
) -> None:
    other = next(cid for cid in server.sandbox.companies if cid != COMPANY)
    foreign = next(iter(server.sandbox.company_orders(other)))
    stored(engine, order_event(foreign), 1)
    assert apply(engine, server).events == {"failed": 1}
    [event] = events(engine)
    assert event["status"] == "failed" and "401" in event["last_error"]
    assert invoice(engine, foreign) is None


def test_an_event_without_a_company_fails_alone_with_its_reason_and_the_others_apply(
    server: SandboxServer, engine: sa.Engine
) -> None:
    # Found from the outside: without BILLIT_PARTY_ID, one event whose URL named no company raised outside the
    # fetch's errors, and every order of the claim went back to retry: the good events never applied.
    [nameless, named] = unpaid_sales(server, 2)
    store_event(engine, Signed(WEBHOOK_ID, 1_800_000_001, "1" * 64), json.loads(order_event(nameless)))
    store_event(engine, Signed(WEBHOOK_ID, 1_800_000_002, "2" * 64), json.loads(order_event(named)), company_id=COMPANY)
    assert apply(engine, server, party_id=None).events == {"applied": 1, "failed": 1}
    failed, applied = events(engine)
    assert applied["status"] == "applied" and invoice(engine, named) is not None
    assert failed["status"] == "failed" and invoice(engine, nameless) is None
    assert "BILLIT_PARTY_ID" in failed["last_error"] and "?company=" in failed["last_error"]
    assert "--compan" not in failed["last_error"]  # `webhooks serve` and `apply` have no such option
    assert apply(engine, server, party_id=None).events == {}  # failed for good: nothing waits


def test_a_crash_between_storing_and_applying_loses_nothing_and_applies_once(
    server: SandboxServer, engine: sa.Engine, warehouse: Warehouse
) -> None:
    [order_id] = unpaid_sales(server, 1)
    server.sandbox.touch_order(order_id, Paid=True, OrderStatus="Paid")
    # Another process stores the event, claims it and dies before applying it.
    script = (
        "import os, sys\n"
        "from connectors.billit.webhook_signature import Signed\n"
        "from connectors.warehouse import create_warehouse_engine\n"
        "from tasks.inbound.webhook_events import claim_events, store_event\n"
        "engine = create_warehouse_engine(sys.argv[1], schema=sys.argv[2] or None)\n"
        "body = {'UpdatedEntityID': int(sys.argv[3]), 'UpdatedEntityType': 'Order', 'WebhookUpdateTypeTC': 'U'}\n"
        "store_event(engine, Signed('wh-123', 1800000000, 'ab' * 32), body)\n"
        "assert claim_events(engine, 'doomed').event_count == 1\n"
        "os._exit(9)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, warehouse.url, warehouse.schema or "", str(order_id)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=120,
        check=False,
    )
    assert done.returncode == 9
    [event] = events(engine)
    assert event["status"] == "received" and event["claimed_by"] is not None  # stored, claimed, never applied
    gets_before = order_gets(server)

    assert apply(engine, server).events == {"applied": 1}  # its claimant is dead: no wait for the lease
    assert apply(engine, server).events == {}
    assert order_gets(server) - gets_before == 1
    assert invoice(engine, order_id)["paid"]  # type: ignore[index]


def test_a_crash_between_the_load_and_the_outcome_reapplies_harmlessly(
    server: SandboxServer, engine: sa.Engine
) -> None:
    [order_id] = unpaid_sales(server, 1)
    server.sandbox.touch_order(order_id, Paid=True, OrderStatus="Paid")
    stored(engine, order_event(order_id), 1)
    history = reflect_tables(engine)["invoice_status_history"]

    async def load_then_die() -> None:
        async with EventApplier(engine, billit_settings_for(server)) as applier:
            claim = claim_events(engine, "dies-after-load")
            orders = [(order, COMPANY) for order in claim.orders]
            answers = [await applier._fetch(order, company) for order, company in orders]
            applier._load(orders, answers, "webhook-crashed")  # loaded and committed; no outcome recorded

    asyncio.run(load_then_die())
    first = invoice(engine, order_id)
    with engine.connect() as connection:
        history_rows = connection.execute(sa.select(sa.func.count()).select_from(history)).scalar_one()
    # The claim's lease runs out (a worker on another host would not be known dead).
    later = utc_now() + timedelta(minutes=6)
    assert apply(engine, server, at=later).events == {"applied": 1}
    again = invoice(engine, order_id)
    assert first is not None and again is not None
    assert {k: v for k, v in again.items() if k not in ("last_run_id", "loaded_at")} == {
        k: v for k, v in first.items() if k not in ("last_run_id", "loaded_at")
    }
    with engine.connect() as connection:
        assert connection.execute(sa.select(sa.func.count()).select_from(history)).scalar_one() == history_rows
    [event] = events(engine)
    assert event["status"] == "applied" and event["attempts"] == 1


def test_the_receiver_applies_what_it_stores_within_seconds_over_real_http(
    server: SandboxServer, engine: sa.Engine
) -> None:
    [order_id] = unpaid_sales(server, 1)
    server.sandbox.touch_order(order_id, Paid=True, OrderStatus="Paid")
    app = create_app(engine, lambda: SECRETS, applier=EventApplier(engine, billit_settings_for(server)), poll_s=0.5)
    body = message_event(order_id, 601, "Delivered")
    with ReceiverServer(app) as receiver, httpx.Client(base_url=receiver.url, timeout=10) as http:
        answer = http.post("/", content=body, headers=signed_headers(body))
        assert answer.status_code == 200 and answer.json()["stored"] is True
        loaded = wait_for(lambda: invoice(engine, order_id), 10, "the order in the warehouse")
        wait_for(lambda: events(engine)[0]["status"] == "applied", 10, "the event applied")
    assert loaded["paid"]


def test_events_stored_while_nothing_applies_are_applied_when_an_applier_starts(
    server: SandboxServer, engine: sa.Engine
) -> None:
    [order_id] = unpaid_sales(server, 1)
    body = order_event(order_id)
    with ReceiverServer(create_app(engine, lambda: SECRETS)) as receiver:  # serve --no-apply, then gone
        assert httpx.post(receiver.url, content=body, headers=signed_headers(body), timeout=10).status_code == 200
    assert [event["status"] for event in events(engine)] == ["received"]
    gets_before = order_gets(server)
    app = create_app(engine, lambda: SECRETS, applier=EventApplier(engine, billit_settings_for(server)), poll_s=0.5)
    with ReceiverServer(app):  # no new call: the applier's first round takes what is stored
        wait_for(lambda: events(engine)[0]["status"] == "applied", 10, "the stored event applied")
    assert invoice(engine, order_id) is not None and order_gets(server) - gets_before == 1


def test_two_appliers_at_once_apply_every_event_once_and_fetch_every_order_once(
    server: SandboxServer, engine: sa.Engine
) -> None:
    orders = unpaid_sales(server, 24)
    for n in range(len(orders) * 3):
        stored(engine, order_event(orders[n % len(orders)]), n)
    gets_before = order_gets(server)
    # Each claim's GETs take a while, as Billit's do: however the two are scheduled on a loaded machine, one cannot
    # take every claim before the other has claimed any.
    server.sandbox.injector.update({"latency_ms": 100})

    async def both() -> list[ApplySummary]:
        appliers = [
            EventApplier(engine, billit_settings_for(server), worker=f"worker-{n}", orders_per_claim=4) for n in (1, 2)
        ]
        try:
            return list(await asyncio.gather(*(applier.apply_due() for applier in appliers)))
        finally:
            for applier in appliers:
                await applier.aclose()

    summaries = asyncio.run(both())
    assert all(summary.orders for summary in summaries), [summary.orders for summary in summaries]  # both worked
    assert sum(summary.events.get("applied", 0) for summary in summaries) == len(orders) * 3
    assert all(event["status"] == "applied" and event["attempts"] == 1 for event in events(engine))
    assert order_gets(server) - gets_before == sum(summary.orders for summary in summaries) == len(orders)


def test_a_load_that_fails_leaves_its_events_waiting_with_the_reason_and_a_backoff(
    server: SandboxServer, engine: sa.Engine
) -> None:
    [order_id] = unpaid_sales(server, 1)
    stored(engine, order_event(order_id), 1)

    class BrokenLoad(EventApplier):
        def _load(self, claim: Any, answers: Any, run_id: str) -> Any:
            raise RuntimeError("a load that cannot cope")

    async def broken() -> None:
        async with BrokenLoad(engine, billit_settings_for(server), clock=lambda: now) as applier:
            await applier.apply_due()

    now = utc_now()
    with pytest.raises(RuntimeError, match="cannot cope"):
        asyncio.run(broken())
    [event] = events(engine)
    assert (event["status"], event["attempts"], event["claimed_by"]) == ("received", 1, None)
    assert event["last_error"] == "the apply failed: a load that cannot cope"
    assert event["next_attempt_at"] == now + RETRY_FIRST
    assert apply(engine, server, at=now).events == {}  # not before its backoff
    assert apply(engine, server, at=now + RETRY_FIRST).events == {"applied": 1}


def test_status_shows_the_webhook_events_by_outcome(server: SandboxServer, engine: sa.Engine) -> None:
    from tasks.status import warehouse_status

    orders = unpaid_sales(server, 2)
    for n, order_id in enumerate(orders):
        stored(engine, order_event(order_id), n)
    assert [(row["status"], row["events"]) for row in warehouse_status(engine)["Webhook events"]] == [("received", 2)]
    apply(engine, server)
    assert [(row["status"], row["events"]) for row in warehouse_status(engine)["Webhook events"]] == [("applied", 2)]
