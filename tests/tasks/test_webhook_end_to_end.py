"""End to end on SQLite and PostgreSQL: the sandbox fires its webhooks at the receiver over real HTTP, and a send,
its delivery, a refusal and a payment show in the warehouse within seconds; the scheduled sync afterwards finds
nothing left to change."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from connectors.billit import BillitClient
from sandbox.identity import API_KEY, SECOND_PARTY_ID
from sandbox.server import SandboxServer
from sandbox.store import Sandbox
from tasks.inbound.webhook_app import create_app
from tasks.inbound.webhook_apply import EventApplier
from tasks.webhook_registration import company_url
from tests.tasks.sync_helpers import COMPANY, SEED_START, billit_view, sync, warehouse_views
from tests.tasks.webhook_helpers import ReceiverServer, billit_settings_for, events, invoice, wait_for

SUBSCRIPTIONS = [("Message", "I"), ("Message", "U"), ("Order", "U")]  # within Billit's 4 per company


@pytest.fixture
def server() -> Iterator[SandboxServer]:
    with SandboxServer(Sandbox(seed=5, orders=300, seed_start=SEED_START, hold_deliveries=True)) as running:
        yield running


def register(
    server: SandboxServer, url: str, company: int = COMPANY, subscriptions: list[tuple[str, str]] = SUBSCRIPTIONS
) -> dict[str, str]:
    """Register the receiver's webhooks through the sandbox's API; WebhookID -> secret."""
    secrets = {}
    headers = {"ApiKey": API_KEY, "PartyID": str(company)}
    for entity, update in subscriptions:
        answer = httpx.post(
            f"{server.base_url}/v1/webhooks",
            json={"EntityType": entity, "EntityUpdateType": update, "WebhookURL": url},
            headers=headers,
            timeout=10,
        ).raise_for_status()
        secrets[str(answer.json()["WebhookID"])] = answer.json()["Secret"]
    return secrets


def unsent_sales(server: SandboxServer, count: int) -> list[int]:
    orders = server.sandbox.company_orders(COMPANY)
    return sorted(
        order_id
        for order_id, order in orders.items()
        if order["OrderDirection"] == "Income"
        and order["OrderType"] == "Invoice"
        and not order.get("IsSent")
        and not order.get("Paid")
    )[:count]


def send(server: SandboxServer, order_ids: list[int]) -> None:
    async def run() -> None:
        async with BillitClient(billit_settings_for(server)) as billit:
            await billit.send_orders(order_ids)

    asyncio.run(run())


def imr(server: SandboxServer, order_id: int, code: str, reason: str | None = None) -> None:
    body: dict[str, Any] = {"Code": code} | ({"Reason": reason} if reason else {})
    httpx.post(f"{server.base_url}/_sandbox/orders/{order_id}/imr", json=body, timeout=10).raise_for_status()


def shows(engine: sa.Engine, order_id: int, **expected: Any) -> bool:
    row = invoice(engine, order_id)
    return row is not None and all(row[name] == value for name, value in expected.items())


@pytest.mark.parametrize(
    ("quirks", "faults"),
    [
        ({}, {}),
        (
            {"webhook_order_shape": "flat", "webhook_refusal_shape": "flat", "webhook_backoff_s": 0.05},
            {"webhook_duplicate_rate": 1.0, "webhook_down_rate": 0.2, "seed": 3},
        ),
    ],
    ids=["documented shapes", "flat shapes, every event twice, a flaky receiver"],
)
def test_sends_deliveries_refusals_and_payments_reach_the_warehouse_within_seconds(
    server: SandboxServer, engine: sa.Engine, quirks: dict[str, Any], faults: dict[str, Any]
) -> None:
    server.sandbox.update_quirks(quirks)
    server.sandbox.injector.update(faults)
    secrets: dict[str, str] = {}
    app = create_app(engine, lambda: secrets, applier=EventApplier(engine, billit_settings_for(server)), poll_s=0.5)
    with ReceiverServer(app) as receiver:
        secrets.update(register(server, f"{receiver.url}/webhooks/billit"))
        [paid_id, refused_id] = unsent_sales(server, 2)

        send(server, [paid_id, refused_id])
        wait_for(lambda: shows(engine, paid_id, is_sent=True), 10, "the send in the warehouse")
        server.sandbox.flush_deliveries()  # delivered over Peppol
        wait_for(lambda: shows(engine, paid_id, delivery_status="Delivered"), 10, "the delivery in the warehouse")

        imr(server, paid_id, "AP")
        imr(server, refused_id, "RE", "No valid VAT")
        server.sandbox.touch_order(paid_id, Paid=True, OrderStatus="Paid")  # the payment
        wait_for(lambda: shows(engine, paid_id, paid=True), 10, "the payment in the warehouse")
        wait_for(lambda: shows(engine, refused_id, order_status="Refused"), 10, "the refusal in the warehouse")
        httpx.post(f"{server.base_url}/_sandbox/webhooks/wait", params={"timeout_s": 10}, timeout=15)
        wait_for(lambda: all(e["status"] != "received" for e in events(engine)), 10, "every event applied")

    stored = events(engine)
    assert stored and {event["status"] for event in stored} <= {"applied"}
    deliveries = httpx.get(f"{server.base_url}/_sandbox/webhooks/deliveries", timeout=10).json()["Deliveries"]
    assert deliveries and {delivery["Status"] for delivery in deliveries} == {"delivered"}
    # Every delivery stored once; a twin signed in the same second as its original is the same call (a replay).
    originals = [delivery for delivery in deliveries if not delivery["Duplicate"]]
    assert len(originals) <= len(stored) <= len(deliveries)
    assert len(stored) == len(deliveries) or any(delivery["Duplicate"] for delivery in deliveries)
    if faults:  # the faults did happen: twins, and attempts the receiver never saw
        assert len(originals) < len(deliveries) and any(delivery["Attempts"] > 1 for delivery in deliveries)
    loaded, _ = warehouse_views(engine, COMPANY)
    with server.sandbox.lock:
        for order_id in (paid_id, refused_id):
            assert loaded[order_id] == billit_view(server.sandbox.orders[order_id])
    # The scheduled run afterwards finds nothing left to fix for these orders.
    before = [comparable(engine, order_id) for order_id in (paid_id, refused_id)]
    summary = sync(server, engine, "sales")
    assert [comparable(engine, order_id) for order_id in (paid_id, refused_id)] == before
    assert summary["status"] == "succeeded"


def comparable(engine: sa.Engine, order_id: int) -> dict[str, Any]:
    """An invoice row but for the run that last wrote it."""
    row = invoice(engine, order_id)
    assert row is not None
    return {name: value for name, value in row.items() if name not in ("last_run_id", "loaded_at")}


def test_each_company_s_events_load_into_that_company(server: SandboxServer, engine: sa.Engine) -> None:
    """Billit's bodies name no company: the URL `webhooks register` gives Billit for each company does, and the
    order is fetched with that company's PartyID and loaded under it."""
    secrets: dict[str, str] = {}
    app = create_app(engine, lambda: secrets, applier=EventApplier(engine, billit_settings_for(server)), poll_s=0.5)
    changed = {
        company: min(
            order_id for order_id, order in server.sandbox.company_orders(company).items() if not order.get("Paid")
        )
        for company in (COMPANY, SECOND_PARTY_ID)
    }
    with ReceiverServer(app) as receiver:
        for company in changed:
            url = company_url(f"{receiver.url}/webhooks/billit", company)
            secrets.update(register(server, url, company, [("Order", "U")]))
        for order_id in changed.values():
            server.sandbox.touch_order(order_id, Paid=True, OrderStatus="Paid")
        for order_id in changed.values():
            wait_for(lambda order_id=order_id: shows(engine, order_id, paid=True), 10, f"order {order_id} paid")
    for company, order_id in changed.items():
        row = invoice(engine, order_id)
        assert row is not None and row["company_id"] == company
        assert {event["company_id"] for event in events(engine) if event["order_id"] == order_id} == {company}
