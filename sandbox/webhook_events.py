"""What the sandbox's webhooks carry: :class:`WebhookHub` turns each change of the books into events.

The hub is the store's ``observer`` (``book.OrderObserver``): every order inserted (``Order``/``I``), updated
(``U``: a send, each delivery step, a PATCH, a payment, an IMR arriving, a touch) or deleted (``D``), every message
added to an order (``Message``/``I``: the outgoing transmission, each receiver response) or updated (``U``) is
built into a payload at once, under the sandbox lock, and queued in the :class:`~sandbox.webhook_outbox.WebhookOutbox`
for each webhook of the order's company registered for that (EntityType, EntityUpdateType). With no such webhook
nothing is built, drawn or counted: a sandbox without webhooks behaves as it always did.

Payloads (docs/reference/billit-api.md#webhooks):

* Message, documented: ``{"UpdatedEntityID": <message id>, "UpdatedEntityType": "Message", "WebhookUpdateTypeTC":
  "I"|"U", "EntityDetail": {"OrderMessage": {OrderID, [Description], [FileID], CreationDate, TransportType,
  [Success], Trials, Destination, MessageDirection}, "AdditionalMessageInformation": {...}}}``. A transmission is
  announced (I, no FileID/Success, empty information) before it is sent (U with FileID, Success and
  ``EInvoiceFlowState`` ``Sent``); a receiver's response is an I with ``Delivered``, or ``Refused`` for ``RE``; a
  transmission refused by the network is a U with ``Success`` false and ``Refused`` plus the reason.
  Quirk ``webhook_refusal_shape="flat"`` sends a refusal in the docs' flatter example instead: the message's
  fields directly in ``EntityDetail``, ``CreationDate`` as ``dd/MM/yyyy`` and ``MessageAdditionalInformation``.
* Order, shape unknown: quirk ``webhook_order_shape`` ``envelope`` (default) sends the same envelope with
  ``UpdatedEntityType: "Order"``, ``UpdatedEntityID: <OrderID>`` and a summary (OrderID, OrderNumber, OrderType,
  OrderDirection, OrderStatus, LastModified) as ``EntityDetail``; ``flat`` sends that summary at the top level
  with ``EntityType: "Order"`` and ``EntityUpdateType``.

Billit gives messages ids of their own; the sandbox's stored messages have none, so the hub numbers them on first
use, per (order, position in ``Messages``): the I and the U of one message carry the same id.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sandbox.book import Order
from sandbox.faults import Faults
from sandbox.quirks import Quirks
from sandbox.render import render_json
from sandbox.webhook_outbox import WebhookOutbox
from sandbox.webhooks import WebhookRegistry

__all__ = ["WebhookHub", "message_payload", "order_payload"]

_MESSAGE_KEYS = ("Description", "FileID", "CreationDate", "TransportType", "Success", "Trials", "Destination",
                 "MessageDirection")  # fmt: skip
_ANNOUNCED_KEYS = ("CreationDate", "TransportType", "Destination", "MessageDirection")
_ORDER_SUMMARY_KEYS = ("OrderID", "OrderNumber", "OrderType", "OrderDirection", "OrderStatus", "LastModified")


class WebhookHub:
    """The sandbox's webhooks: the registry (``/v1/webhooks``), the outbox and the events between them."""

    def __init__(self, quirks: Callable[[], Quirks], faults: Callable[[], Faults], *, workers: int = 4) -> None:
        self.registry = WebhookRegistry()
        self.outbox = WebhookOutbox(faults, quirks, workers=workers)
        self._quirks = quirks
        self._message_ids: dict[tuple[int, int], int] = {}
        self._next_message_id = 690_000

    def order_changed(self, order: Order, change: str) -> None:
        """Queue an ``Order`` event for the company's webhooks of that update type."""
        hooks = self.registry.matching(order["CompanyID"], "Order", change)
        if not hooks:
            return
        body = render_json(order_payload(order, change, shape=self._quirks().webhook_order_shape))
        for hook in hooks:
            self.outbox.enqueue(hook, "Order", change, order["OrderID"], order["OrderID"], body)

    def message_changed(self, order: Order, index: int, change: str) -> None:
        """Queue a ``Message`` event for the company's webhooks of that update type."""
        hooks = self.registry.matching(order["CompanyID"], "Message", change)
        if not hooks:
            return
        message_id = self._message_id(order["OrderID"], index)
        payload = message_payload(
            order, order["Messages"][index], message_id, change, refusal_shape=self._quirks().webhook_refusal_shape
        )
        body = render_json(payload)
        for hook in hooks:
            self.outbox.enqueue(hook, "Message", change, message_id, order["OrderID"], body)

    def _message_id(self, order_id: int, index: int) -> int:
        key = (order_id, index)
        if key not in self._message_ids:
            self._next_message_id += 1
            self._message_ids[key] = self._next_message_id
        return self._message_ids[key]

    def close(self) -> None:
        """Stop the outbox's sender threads."""
        self.outbox.close()


def order_payload(order: Order, change: str, *, shape: str) -> dict[str, Any]:
    """An ``Order`` event body in the ``envelope`` or the ``flat`` shape (quirk ``webhook_order_shape``)."""
    summary = {key: order[key] for key in _ORDER_SUMMARY_KEYS if key in order}
    if shape == "flat":
        return {**summary, "EntityType": "Order", "EntityUpdateType": change}
    return {
        "UpdatedEntityID": order["OrderID"],
        "UpdatedEntityType": "Order",
        "WebhookUpdateTypeTC": change,
        "EntityDetail": summary,
    }


def message_payload(
    order: Order, message: dict[str, Any], message_id: int, change: str, *, refusal_shape: str
) -> dict[str, Any]:
    """A ``Message`` event body: the documented envelope, or the flat refusal example (quirk
    ``webhook_refusal_shape``)."""
    announced = change == "I" and message.get("MessageDirection") == "Outgoing"
    if announced:
        # Billit announces a transmission before the UBL leaves: no FileID or Success yet, Trials 0.
        detail: dict[str, Any] = {"OrderID": order["OrderID"]}
        detail.update({key: message[key] for key in _ANNOUNCED_KEYS[:2] if key in message})
        detail["Trials"] = 0
        detail.update({key: message[key] for key in _ANNOUNCED_KEYS[2:] if key in message})
        information: dict[str, Any] = {}
    else:
        detail = {"OrderID": order["OrderID"], **{key: message[key] for key in _MESSAGE_KEYS if key in message}}
        information = flow_state(order, message)
    envelope: dict[str, Any] = {
        "UpdatedEntityID": message_id,
        "UpdatedEntityType": "Message",
        "WebhookUpdateTypeTC": change,
    }
    if information.get("EInvoiceFlowState") == "Refused" and refusal_shape == "flat":
        flat = {key: value for key, value in detail.items() if key not in ("Success", "Trials")}
        if not flat.get("Description"):
            flat["Description"] = information.get("AdditionalFlowStateInformation", "")
        created = flat.get("CreationDate")
        if isinstance(created, datetime):
            flat["CreationDate"] = created.strftime("%d/%m/%Y")  # the docs' refusal example: "31/01/2000"
        flat["MessageAdditionalInformation"] = information
        return {**envelope, "EntityDetail": _ordered_flat(flat)}
    return {**envelope, "EntityDetail": {"OrderMessage": detail, "AdditionalMessageInformation": information}}


def _ordered_flat(flat: dict[str, Any]) -> dict[str, Any]:
    order = ("OrderID", "Description", "FileID", "CreationDate", "TransportType", "Destination", "MessageDirection",
             "MessageAdditionalInformation")  # fmt: skip
    return {key: flat[key] for key in order if key in flat}


def flow_state(order: Order, message: dict[str, Any]) -> dict[str, Any]:
    """``AdditionalMessageInformation`` of a sent or received message (docs/reference/billit-api.md#webhooks)."""
    if message.get("MessageDirection") == "Outgoing":
        if message.get("Success", True):
            return {"EInvoiceFlowState": "Sent"}
        details = order.get("CurrentDocumentDeliveryDetails") or {}
        reason = details.get("DocumentRefusedInfo")
        return {"EInvoiceFlowState": "Refused", **({"AdditionalFlowStateInformation": reason} if reason else {})}
    description = str(message.get("Description") or "")
    if description.startswith("RE"):
        reason = description.partition(":")[2].strip()
        return {"EInvoiceFlowState": "Refused", **({"AdditionalFlowStateInformation": reason} if reason else {})}
    return {"EInvoiceFlowState": "Delivered"}
