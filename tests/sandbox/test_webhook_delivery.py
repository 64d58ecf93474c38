"""How the sandbox delivers its webhooks: in the background, retried with backoff, and the fault switches (lost,
receiver down, duplicated, delayed deliveries); and that a sandbox without webhooks behaves as before."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest

from connectors.billit.webhook_signature import verify
from sandbox.faults import Faults
from sandbox.quirks import Quirks
from sandbox.server import SandboxServer
from sandbox.store import Sandbox
from tests.sandbox.sandbox_helpers import FIXED_NOW, HEADERS, fixed_clock, invoice_body
from tests.sandbox.webhook_receiver import WebhookReceiver

FAST_RETRIES = {"webhook_backoff_s": 0.05, "webhook_timeout_s": 2.0}


@contextmanager
def _serve(sandbox: Sandbox, url: str) -> Iterator[tuple[httpx.Client, dict[str, str]]]:
    """A client of the served sandbox with one Order/I webhook to ``url``, and the webhook's secret by id."""
    with SandboxServer(sandbox) as server, httpx.Client(base_url=server.base_url, headers=HEADERS) as client:
        body = {"EntityType": "Order", "EntityUpdateType": "I", "WebhookURL": url}
        hook = client.post("/v1/webhooks", json=body).json()
        yield client, {str(hook["WebhookID"]): hook["Secret"]}


def _create(client: httpx.Client) -> int:
    response = client.post("/v1/orders", json=invoice_body())
    assert response.status_code == 200, response.text
    return int(response.text)


def _deliveries(client: httpx.Client, **params: Any) -> list[dict[str, Any]]:
    assert client.post("/_sandbox/webhooks/wait", params={"timeout_s": 20}).json() == {"idle": True, "pending": 0}
    listed = client.get("/_sandbox/webhooks/deliveries", params=params)
    assert listed.status_code == 200
    return list(listed.json()["Deliveries"])


def _sandbox(faults: Faults | None = None, **quirks: Any) -> Sandbox:
    return Sandbox(seed_start=FIXED_NOW, clock=fixed_clock(), faults=faults, quirks=Quirks(**FAST_RETRIES, **quirks))


def test_a_delivery_answered_5xx_is_retried_until_the_receiver_accepts_it() -> None:
    with (
        WebhookReceiver(statuses=[500, 503]) as receiver,
        _serve(_sandbox(), receiver.url) as (client, secrets),
    ):
        order_id = _create(client)
        (delivery,) = _deliveries(client)
    calls = receiver.received
    assert len(calls) == 3 and {call.body for call in calls} == {calls[0].body}
    assert all(verify(c.headers["billit-signature"], c.body, secrets, now=time.time()) for c in calls)
    assert (delivery["Status"], delivery["Attempts"], delivery["OrderID"]) == ("delivered", 3, order_id)
    assert [attempt["StatusCode"] for attempt in delivery["AttemptLog"]] == [500, 503, 200]
    assert delivery["Payload"]["UpdatedEntityID"] == order_id


def test_a_delivery_gives_up_after_the_retries_of_the_quirk() -> None:
    with (
        WebhookReceiver(statuses=[500] * 5) as receiver,
        _serve(_sandbox(webhook_retries=2), receiver.url) as (client, _),
    ):
        _create(client)
        (delivery,) = _deliveries(client)
    assert len(receiver.received) == 3
    assert (delivery["Status"], delivery["Attempts"], delivery["LastStatusCode"]) == ("failed", 3, 500)


def test_a_receiver_that_does_not_listen_is_retried_then_given_up() -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{closed.getsockname()[1]}/hook"  # bound, never listening: connection refused
        with _serve(_sandbox(webhook_retries=1), url) as (client, _):
            _create(client)
            (delivery,) = _deliveries(client)
    assert (delivery["Status"], delivery["Attempts"]) == ("failed", 2)
    assert delivery["LastError"] == "ConnectError" and delivery["LastStatusCode"] is None


def test_the_api_call_never_waits_for_a_slow_receiver() -> None:
    with (
        WebhookReceiver(delay_s=1.5) as receiver,
        _serve(_sandbox(), receiver.url) as (client, _),
    ):
        started = time.monotonic()
        _create(client)
        answered_in = time.monotonic() - started
        assert receiver.received == []
        (delivery,) = _deliveries(client)
    assert answered_in < 1.0
    assert delivery["Status"] == "delivered"


def test_the_down_fault_fails_attempts_as_if_the_receiver_were_down_and_they_are_retried() -> None:
    with (
        WebhookReceiver() as receiver,
        _serve(_sandbox(Faults(webhook_down_rate=1.0), webhook_retries=2), receiver.url) as (client, _),
    ):
        _create(client)
        (failed,) = _deliveries(client)
        client.put("/_sandbox/faults", json={"webhook_down_rate": 0})
        _create(client)
        delivered = _deliveries(client)[1]
    assert (failed["Status"], failed["Attempts"], failed["LastError"]) == ("failed", 3, "receiver down (simulated)")
    assert (delivered["Status"], len(receiver.received)) == ("delivered", 1)


def test_the_drop_fault_loses_deliveries_for_good() -> None:
    with (
        WebhookReceiver() as receiver,
        _serve(_sandbox(Faults(webhook_drop_rate=1.0)), receiver.url) as (client, _),
    ):
        _create(client)
        (delivery,) = _deliveries(client)
    assert (delivery["Status"], delivery["Attempts"]) == ("dropped", 0)
    assert receiver.received == []


def test_the_duplicate_fault_delivers_the_same_event_twice() -> None:
    with (
        WebhookReceiver() as receiver,
        _serve(_sandbox(Faults(webhook_duplicate_rate=1.0)), receiver.url) as (client, secrets),
    ):
        _create(client)
        deliveries = _deliveries(client)
    assert [(d["Duplicate"], d["Status"]) for d in deliveries] == [(False, "delivered"), (True, "delivered")]
    first, second = receiver.received
    assert first.body == second.body
    assert all(verify(c.headers["billit-signature"], c.body, secrets, now=time.time()) for c in (first, second))


def test_a_share_of_duplicates_is_drawn_reproducibly_from_the_fault_seed() -> None:
    counts = []
    for _ in range(2):
        with (
            WebhookReceiver() as receiver,
            _serve(_sandbox(Faults(webhook_duplicate_rate=0.5, seed=7)), receiver.url) as (client, _),
        ):
            for _ in range(20):
                _create(client)
            counts.append(sum(d["Duplicate"] for d in _deliveries(client)))
    assert counts[0] == counts[1] and 0 < counts[0] < 20


def test_the_delay_fault_holds_each_first_attempt_back() -> None:
    with (
        WebhookReceiver() as receiver,
        _serve(_sandbox(Faults(webhook_delay_ms=400)), receiver.url) as (client, _),
    ):
        started = time.monotonic()
        _create(client)
        receiver.wait_for(1)
        took = time.monotonic() - started
    assert took >= 0.4


def test_deleting_a_webhook_cancels_its_queued_deliveries() -> None:
    with (
        WebhookReceiver() as receiver,
        _serve(_sandbox(Faults(webhook_delay_ms=1500)), receiver.url) as (client, secrets),
    ):
        _create(client)
        client.delete(f"/v1/webhooks/{next(iter(secrets))}")
        (delivery,) = _deliveries(client)
    assert delivery["Status"] == "cancelled" and receiver.received == []


def test_a_refreshed_secret_signs_the_next_deliveries() -> None:
    with (
        WebhookReceiver() as receiver,
        _serve(_sandbox(), receiver.url) as (client, secrets),
    ):
        webhook_id, old = next(iter(secrets.items()))
        new = client.post(f"/v1/webhooks/refresh/{webhook_id}").json()
        _create(client)
        _deliveries(client)
    (call,) = receiver.received
    assert verify(call.headers["billit-signature"], call.body, {webhook_id: new}, now=time.time())
    with pytest.raises(ValueError):
        verify(call.headers["billit-signature"], call.body, {webhook_id: old}, now=time.time())


def test_the_delivery_log_filters_and_never_shows_a_secret() -> None:
    with (
        WebhookReceiver() as receiver,
        _serve(_sandbox(), receiver.url) as (client, secrets),
    ):
        first, second = _create(client), _create(client)
        everything = _deliveries(client)
        only_second = _deliveries(client, order_id=second)
        text = client.get("/_sandbox/webhooks/deliveries").text
        bad = client.get("/_sandbox/webhooks/deliveries", params={"order_id": "x"})
    assert [d["OrderID"] for d in everything] == [first, second]
    assert [d["OrderID"] for d in only_second] == [second]
    assert next(iter(secrets.values())) not in text
    assert bad.status_code == 400


def test_a_sandbox_without_webhooks_answers_byte_for_byte_as_one_whose_webhooks_receive_everything() -> None:
    answers = []
    with WebhookReceiver() as receiver:
        for with_webhooks in (False, True):
            sandbox = Sandbox(seed=5, orders=40, seed_start=FIXED_NOW, clock=fixed_clock(), delivery_delay_s=0)
            sandbox.register_participant("0208:0563846944")
            with SandboxServer(sandbox) as server, httpx.Client(base_url=server.base_url, headers=HEADERS) as client:
                if with_webhooks:
                    for entity, update in (("Order", "I"), ("Order", "U"), ("Message", "I"), ("Message", "U")):
                        body = {"EntityType": entity, "EntityUpdateType": update, "WebhookURL": receiver.url}
                        assert client.post("/v1/webhooks", json=body).status_code == 200
                order_id = _create(client)
                client.post("/v1/orders/commands/send", json={"Transporttype": "Peppol", "OrderIDs": [order_id]})
                client.patch(f"/v1/orders/{order_id}", json={"Paid": True})
                answers.append((client.get(f"/v1/orders/{order_id}").content, client.get("/v1/orders").content))
                deliveries = _deliveries(client)
            if not with_webhooks:
                assert deliveries == [] and sandbox.webhooks.outbox.pending() == 0
    assert answers[0] == answers[1]
    assert len(receiver.received) >= 6


def test_with_webhooks_a_delivery_step_fires_when_due_without_another_request() -> None:
    sandbox = Sandbox(seed_start=FIXED_NOW, clock=fixed_clock(), delivery_delay_s=0.2)
    sandbox.register_participant("0208:0563846944")
    with (
        WebhookReceiver() as receiver,
        SandboxServer(sandbox) as server,
        httpx.Client(base_url=server.base_url, headers=HEADERS) as client,
    ):
        body = {"EntityType": "Message", "EntityUpdateType": "I", "WebhookURL": receiver.url}
        assert client.post("/v1/webhooks", json=body).status_code == 200
        order_id = _create(client)
        client.post("/v1/orders/commands/send", json={"Transporttype": "Peppol", "OrderIDs": [order_id]})
        announced, response = (call.payload for call in receiver.wait_for(2))
        stored = sandbox.get_order(order_id)
    assert announced["EntityDetail"]["OrderMessage"]["MessageDirection"] == "Outgoing"
    assert response["EntityDetail"]["AdditionalMessageInformation"] == {"EInvoiceFlowState": "Delivered"}
    assert stored["CurrentDocumentDeliveryDetails"]["DocumentDeliveryStatus"] == "Delivered"


@pytest.mark.parametrize(
    "change",
    [
        {"webhook_drop_rate": 1.5},
        {"webhook_down_rate": -0.1},
        {"webhook_duplicate_rate": "half"},
        {"webhook_delay_ms": -1},
    ],
)
def test_webhook_fault_values_out_of_range_are_refused(change: dict[str, Any]) -> None:
    with SandboxServer(_sandbox()) as server:
        response = httpx.put(f"{server.base_url}/_sandbox/faults", json=change)
        faults = httpx.get(f"{server.base_url}/_sandbox/faults").json()
    assert response.status_code == 400
    assert faults[next(iter(change))] == 0.0
    with pytest.raises(ValueError):
        Faults(**change)
