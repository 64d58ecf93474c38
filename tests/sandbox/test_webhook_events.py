"""The events the sandbox fires, over real HTTP to a local receiver: which change sends what, in which shape, signed
how (docs/reference/billit-api.md#webhooks)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from connectors.billit.webhook_signature import SignatureRejected, verify
from sandbox.identity import SECOND_PARTY_ID
from sandbox.quirks import Quirks
from sandbox.server import SandboxServer
from sandbox.store import Sandbox
from tests.sandbox.sandbox_helpers import FIXED_NOW, HEADERS, OTHER_COMPANY_HEADERS, fixed_clock, invoice_body
from tests.sandbox.webhook_receiver import WebhookReceiver

PAIRS = (("Order", "I"), ("Order", "U"), ("Message", "I"), ("Message", "U"))


@dataclass
class Setup:
    sandbox: Sandbox
    client: httpx.Client
    receiver: WebhookReceiver
    secrets: dict[str, str]

    def register(self, entity: str, update: str, headers: dict[str, str] | None = None) -> str:
        body = {"EntityType": entity, "EntityUpdateType": update, "WebhookURL": self.receiver.url}
        response = self.client.post("/v1/webhooks", json=body, headers=headers)
        assert response.status_code == 200, response.text
        self.secrets[str(response.json()["WebhookID"])] = response.json()["Secret"]
        return str(response.json()["WebhookID"])

    def new_invoice(self, **overrides: Any) -> int:
        response = self.client.post("/v1/orders", json=invoice_body(**overrides))
        assert response.status_code == 200, response.text
        return int(response.text)

    def events(self) -> list[tuple[str, str, Any]]:
        """Every call received so far, after the outbox is idle: (webhook id that signed it, pair, payload)."""
        assert self.client.post("/_sandbox/webhooks/wait", params={"timeout_s": 10}).json()["idle"] is True
        found = []
        for call in self.receiver.received:
            signed = verify(call.headers.get("billit-signature"), call.body, self.secrets, now=time.time())
            assert call.headers["content-type"] == "application/json"
            payload = call.payload
            kind = payload.get("UpdatedEntityType") or payload.get("EntityType")
            update = payload.get("WebhookUpdateTypeTC") or payload.get("EntityUpdateType")
            found.append((signed.webhook_id, f"{kind}/{update}", payload))
        return found


@contextmanager
def _setup(sandbox: Sandbox, pairs: tuple[tuple[str, str], ...] = PAIRS) -> Iterator[Setup]:
    sandbox.register_participant("0208:0563846944")
    with (
        SandboxServer(sandbox) as server,
        WebhookReceiver() as receiver,
        httpx.Client(base_url=server.base_url, headers=HEADERS) as client,
    ):
        setup = Setup(sandbox, client, receiver, {})
        for entity, update in pairs:
            setup.register(entity, update)
        yield setup


@pytest.fixture
def setup() -> Iterator[Setup]:
    with _setup(Sandbox(seed_start=FIXED_NOW, clock=fixed_clock(), hold_deliveries=True)) as ready:
        yield ready


def _pairs(events: list[tuple[str, str, Any]]) -> list[str]:
    return [pair for _, pair, _ in events]


def test_creating_an_order_fires_one_signed_order_insert_in_the_envelope(setup: Setup) -> None:
    order_id = setup.new_invoice()
    events = setup.events()
    order = setup.client.get(f"/v1/orders/{order_id}").json()
    assert _pairs(events) == ["Order/I"]
    webhook_id, _, payload = events[0]
    assert setup.client.get("/v1/webhooks").json()[0]["WebhookID"] == int(webhook_id)
    assert payload == {
        "UpdatedEntityID": order_id,
        "UpdatedEntityType": "Order",
        "WebhookUpdateTypeTC": "I",
        "EntityDetail": {
            "OrderID": order_id,
            "OrderNumber": order["OrderNumber"],
            "OrderType": "Invoice",
            "OrderDirection": "Income",
            "OrderStatus": "ToSend",
            "LastModified": order["LastModified"],
        },
    }


def test_the_signature_carries_the_real_wall_clock_not_the_simulated_one(setup: Setup) -> None:
    setup.new_invoice()  # the sandbox's clock says March 2026
    (call,) = setup.receiver.wait_for(1)
    timestamp = int(call.headers["billit-signature"].split(",")[0].removeprefix("t="))
    assert abs(timestamp - time.time()) < 30
    with pytest.raises(SignatureRejected):
        verify(call.headers["billit-signature"], call.body + b" ", setup.secrets, now=time.time())


def test_a_peppol_send_fires_the_documented_message_sequence_and_an_order_update_per_step(setup: Setup) -> None:
    order_id = setup.new_invoice()
    setup.client.post("/v1/orders/commands/send", json={"Transporttype": "Peppol", "OrderIDs": [order_id]})
    sent = setup.events()
    setup.client.post("/_sandbox/deliveries/flush")
    delivered = setup.events()[len(sent) :]
    order = setup.client.get(f"/v1/orders/{order_id}").json()

    assert sorted(_pairs(sent)) == ["Message/I", "Message/U", "Order/I", "Order/U"]
    announced = next(p for _, pair, p in sent if pair == "Message/I")
    picked_up = next(p for _, pair, p in sent if pair == "Message/U")
    outgoing, receipt = order["Messages"]
    assert announced["UpdatedEntityID"] == picked_up["UpdatedEntityID"]
    assert announced["EntityDetail"] == {
        "OrderMessage": {
            "OrderID": order_id,
            "CreationDate": outgoing["CreationDate"],
            "TransportType": "Peppol",
            "Trials": 0,
            "Destination": "0208:0563846944",
            "MessageDirection": "Outgoing",
        },
        "AdditionalMessageInformation": {},
    }
    assert picked_up["EntityDetail"] == {
        "OrderMessage": {"OrderID": order_id, **outgoing},
        "AdditionalMessageInformation": {"EInvoiceFlowState": "Sent"},
    }
    assert sorted(_pairs(delivered)) == ["Message/I", "Order/U"]
    response = next(p for _, pair, p in delivered if pair == "Message/I")
    assert response["UpdatedEntityID"] != announced["UpdatedEntityID"]
    assert response["EntityDetail"] == {
        "OrderMessage": {"OrderID": order_id, **receipt},
        "AdditionalMessageInformation": {"EInvoiceFlowState": "Delivered"},
    }
    update = next(p for _, pair, p in delivered if pair == "Order/U")
    assert update["EntityDetail"]["LastModified"] == order["LastModified"]


def test_an_email_send_fires_no_receiver_response(setup: Setup) -> None:
    order_id = setup.new_invoice()
    setup.client.post("/v1/orders/commands/send", json={"Transporttype": "SMTP", "OrderIDs": [order_id]})
    setup.client.post("/_sandbox/deliveries/flush")
    events = setup.events()
    assert sorted(_pairs(events)) == ["Message/I", "Message/U", "Order/I", "Order/U", "Order/U"]


def test_invoice_responses_arriving_fire_a_message_insert_and_an_order_update(setup: Setup) -> None:
    order_id = setup.new_invoice()
    setup.client.post("/v1/orders/commands/send", json={"Transporttype": "Peppol", "OrderIDs": [order_id]})
    setup.client.post("/_sandbox/deliveries/flush")
    before = len(setup.events())
    paid = setup.client.post(f"/_sandbox/orders/{order_id}/imr", json={"code": "pd"})
    refused = setup.client.post(f"/_sandbox/orders/{order_id}/imr", json={"Code": "RE", "Reason": "Wrong PO."})
    events = setup.events()[before:]
    assert paid.status_code == 200 and refused.status_code == 200
    assert refused.json()["OrderStatus"] == "Refused"
    assert refused.json()["CurrentDocumentDeliveryDetails"]["DocumentDeliveryInfo"] == "Rejected"
    messages = [p["EntityDetail"] for _, pair, p in events if pair == "Message/I"]
    assert [m["OrderMessage"]["Description"] for m in messages] == [
        "PD: The document has been paid.",
        "RE: The document has been rejected. Wrong PO.",
    ]
    assert [m["AdditionalMessageInformation"] for m in messages] == [
        {"EInvoiceFlowState": "Delivered"},
        {"EInvoiceFlowState": "Refused", "AdditionalFlowStateInformation": "The document has been rejected. Wrong PO."},
    ]
    assert [p["EntityDetail"]["OrderStatus"] for _, pair, p in events if pair == "Order/U"] == ["ToPay", "Refused"]


def test_an_invoice_response_to_an_unsent_order_is_refused(setup: Setup) -> None:
    order_id = setup.new_invoice()
    assert setup.client.post(f"/_sandbox/orders/{order_id}/imr", json={"Code": "AB"}).status_code == 400
    assert setup.client.post(f"/_sandbox/orders/{order_id}/imr", json={"Code": "ZZ"}).status_code == 400
    assert setup.client.post("/_sandbox/orders/1/imr", json={"Code": "AB"}).status_code == 404


def test_marking_paid_and_patching_fire_order_updates_and_deleting_an_order_delete() -> None:
    sandbox = Sandbox(seed_start=FIXED_NOW, clock=fixed_clock())
    with _setup(sandbox, (("Order", "U"), ("Order", "D"))) as setup:
        order_id = setup.new_invoice()
        setup.client.patch(f"/v1/orders/{order_id}", json={"Paid": True})
        setup.client.patch(f"/v1/orders/{order_id}", json={"InternalInfo": "checked"})
        setup.client.delete(f"/v1/orders/{order_id}")
        events = setup.events()
    assert _pairs(events) == ["Order/U", "Order/U", "Order/D"]
    assert [p["EntityDetail"]["OrderStatus"] for _, _, p in events] == ["Paid", "Paid", "Paid"]
    assert events[2][2]["UpdatedEntityID"] == order_id


def test_the_flat_order_shape_quirk_puts_the_summary_at_the_top_level() -> None:
    sandbox = Sandbox(seed_start=FIXED_NOW, clock=fixed_clock(), quirks=Quirks(webhook_order_shape="flat"))
    with _setup(sandbox, (("Order", "I"), ("Order", "D"))) as setup:
        order_id = setup.new_invoice()
        setup.client.delete(f"/v1/orders/{order_id}")
        events = setup.events()
    payloads = [p for _, _, p in events]
    assert [(p["OrderID"], p["EntityType"], p["EntityUpdateType"]) for p in payloads] == [
        (order_id, "Order", "I"),
        (order_id, "Order", "D"),
    ]
    assert all("EntityDetail" not in p and p["OrderType"] == "Invoice" for p in payloads)


def test_a_refused_transmission_updates_its_message_as_refused_in_either_shape() -> None:
    shapes = {}
    for shape in ("envelope", "flat"):
        sandbox = Sandbox(
            seed_start=FIXED_NOW, clock=fixed_clock(), delivery_delay_s=0, delivery_error_rate=1.0,
            quirks=Quirks(webhook_refusal_shape=shape),
        )  # fmt: skip
        with _setup(sandbox, (("Message", "U"),)) as setup:
            order_id = setup.new_invoice()
            setup.client.post("/v1/orders/commands/send", json={"Transporttype": "Peppol", "OrderIDs": [order_id]})
            setup.client.get(f"/v1/orders/{order_id}")  # applies the due delivery step
            shapes[shape] = [p for _, _, p in setup.events()]
    reason = "Inconsistency between VAT number and tax code of the recipient of the invoice (acquirer)"
    sent, refused = shapes["envelope"]
    assert sent["EntityDetail"]["AdditionalMessageInformation"] == {"EInvoiceFlowState": "Sent"}
    assert refused["UpdatedEntityID"] == sent["UpdatedEntityID"]
    assert refused["EntityDetail"]["OrderMessage"]["Success"] is False
    assert refused["EntityDetail"]["AdditionalMessageInformation"] == {
        "EInvoiceFlowState": "Refused",
        "AdditionalFlowStateInformation": reason,
    }
    flat = shapes["flat"][1]["EntityDetail"]
    assert list(flat) == [
        "OrderID", "Description", "FileID", "CreationDate", "TransportType", "Destination", "MessageDirection",
        "MessageAdditionalInformation",
    ]  # fmt: skip
    assert flat["Description"] == reason
    assert flat["CreationDate"] == FIXED_NOW.strftime("%d/%m/%Y")
    assert flat["MessageAdditionalInformation"] == {
        "EInvoiceFlowState": "Refused",
        "AdditionalFlowStateInformation": reason,
    }


def test_events_reach_only_the_webhooks_of_the_orders_company_and_of_the_matching_pair() -> None:
    sandbox = Sandbox(seed_start=FIXED_NOW, clock=fixed_clock())
    with _setup(sandbox, (("Order", "D"), ("Message", "I"))) as setup:
        other = setup.register("Order", "I", headers=OTHER_COMPANY_HEADERS)
        setup.new_invoice()  # company 1: no Order/I webhook of its own
        response = setup.client.post("/v1/orders", json=invoice_body(), headers=OTHER_COMPANY_HEADERS)
        events = setup.events()
    assert [(webhook_id, pair) for webhook_id, pair, _ in events] == [(other, "Order/I")]
    assert events[0][2]["UpdatedEntityID"] == int(response.text)
    assert sandbox.get_order(int(response.text))["CompanyID"] == SECOND_PARTY_ID
