"""Sending and asynchronous delivery in the sandbox: ``POST /v1/orders/commands/send`` and its aftermath.

Billit validates a send request up front (all ids must belong to the ``PartyID``; with ``Transporttype``
``Peppol`` the customer must be a Peppol receiver, else ``TheCustomerIsNotActiveOnPeppol``; since February
2026 there is no silent e-mail fallback, docs/reference/billit-api.md#sending) and then delivers asynchronously
(docs/reference/billit-api.md#delivery-status): the order is immediately ``IsSent`` with ``DocumentDeliveryStatus``
``Pending`` and an outgoing message, and reaches
``Delivered`` (with an ``AB`` IMR for Peppol) or ``Error`` later.

The sandbox validates every id before touching any order (nothing is sent on error). The later transitions
are queued on the sandbox's event heap and applied lazily at the start of every request once due — no
background threads, deterministic given the seed. With ``Sandbox(hold_deliveries=True)`` they are never due and
wait for ``Sandbox.flush_deliveries`` (``POST /_sandbox/deliveries/flush``): tests drive delivery explicitly
rather than sleeping past a delay. Every state change bumps ``LastModified``.
"""

from __future__ import annotations

import heapq
import random
import time
from datetime import datetime
from typing import Any, Protocol

from sandbox.book import Order
from sandbox.errors import ApiError
from sandbox.files import StoredFile
from sandbox.inputs import lookup
from sandbox.peppol import party_peppol_ids, supports_document
from sandbox.seed.events import DELIVERY_INFO, IMR_TEXTS

__all__ = ["SandboxForDelivery", "apply_due_events", "receive_response", "send_orders"]


class SandboxForDelivery(Protocol):
    """What sending and delivering use of ``store.Sandbox``: store.py calls ``apply_due_events``, so this module
    names the members it needs instead of importing the store (no import circle, not even for typing)."""

    orders: dict[int, Order]
    deleted: dict[int, Order]
    registry: dict[str, dict[str, Any]]
    delivery_tokens: dict[int, int]
    counters: dict[str, int]
    events: list[tuple[float, int, int, int]]
    delivery_delay_s: float
    delivery_error_rate: float
    rng: random.Random

    def now(self) -> datetime: ...

    def add_file(
        self,
        company_id: int,
        file_name: str,
        content: bytes | None,
        *,
        order_id: int | None = None,
        role: str = "uploaded",
        file_id: str | None = None,
    ) -> StoredFile: ...

    def mark_modified(self, order: Order, *, bump: bool = True, when: datetime | None = None) -> None: ...

    def add_message(self, order: Order, message: dict[str, Any]) -> int: ...

    def message_updated(self, order: Order, index: int) -> None: ...

    def schedule(self, delay_s: float, order_id: int, token: int) -> None: ...


TRANSPORT_TYPES = ("SMTP", "Letter", "Peppol", "SDI", "KSeF", "OSA", "ANAF", "SAT", "MyInvois", "Chorus", "PDP")
_TRANSPORT_LOWER = {name.lower(): name for name in TRANSPORT_TYPES}
_AB_TEXT = "AB: The document has been successfully received."
_REFUSAL_INFO = "Inconsistency between VAT number and tax code of the recipient of the invoice (acquirer)"


def send_orders(sandbox: SandboxForDelivery, company_id: int, body: Any, *, strict: bool) -> None:
    """Validate and start sending; raises :class:`ApiError` (401/404/400) before any order changes."""
    if not isinstance(body, dict):
        raise ApiError.generic("The request body must be a JSON object.")
    # Docs write Transporttype/OrderIDs, Swagger TransportType/OrderIds: binding is case-insensitive.
    raw_transport = lookup(body, "TransportType")
    raw_ids = lookup(body, "OrderIDs")
    if not isinstance(raw_ids, list) or not raw_ids:
        raise ApiError.generic("Data is Required: OrderIDs")
    if not all(isinstance(i, int) and not isinstance(i, bool) for i in raw_ids):
        raise ApiError.generic("OrderIDs must be a list of integers.")
    transport: str | None = None
    if raw_transport not in (None, ""):
        transport = _TRANSPORT_LOWER.get(str(raw_transport).lower())
        if transport is None:
            raise ApiError.generic(f"'{raw_transport}' is not a valid TransportType.")
    orders: list[Order] = []
    for order_id in raw_ids:
        order = sandbox.orders.get(order_id)
        if order is None:
            if order_id in sandbox.deleted and sandbox.deleted[order_id]["CompanyID"] != company_id:
                raise ApiError(401)
            raise ApiError(404, [("GenericError", f"Order {order_id} was not found.")])
        if order["CompanyID"] != company_id:
            raise ApiError(401)  # docs/reference/billit-api.md#sending: every order must belong to the PartyID of the
            # request
        orders.append(order)

    plans: list[tuple[Order, str, str]] = []
    errors: list[tuple[str, str | None]] = []
    for order in orders:
        plan, error = _plan(sandbox, order, transport, strict=strict)
        if error is not None:
            errors.append(error)
        elif plan is not None:
            plans.append((order, *plan))
    if errors:
        raise ApiError(400, errors)
    for order, chosen, destination in plans:
        _start_delivery(sandbox, order, chosen, destination)


def _plan(
    sandbox: SandboxForDelivery, order: Order, transport: str | None, *, strict: bool
) -> tuple[tuple[str, str] | None, tuple[str, str | None] | None]:
    if order.get("OrderDirection") != "Income":
        return None, ("GenericError", f"Order {order['OrderID']} is a purchase document and cannot be sent.")
    customer = order.get("Customer") or {}
    name = customer.get("DisplayName") or customer.get("Name") or str(customer.get("PartyID", ""))
    order_type = str(order.get("OrderType", "Invoice"))
    peppol_ids = party_peppol_ids(customer)
    registered = [pid for pid in peppol_ids if sandbox.registry.get(pid, {}).get("Registered")]
    receivable = [pid for pid in registered if supports_document(sandbox.registry.get(pid), order_type)]
    email = (customer.get("Email") or "").split(";")[0].strip()

    if transport == "Peppol" or (transport is None and strict):
        if receivable:
            return ("Peppol", receivable[0]), None
        if registered:
            return None, (
                "TheCustomerDoesNotSupportPeppolForType_0",
                f"The customer does not support Peppol for type {order_type}",
            )
        return None, ("TheCustomerIsNotActiveOnPeppol", "The customer is not active on Peppol.")
    if transport is None:
        # Default network first, falling back to e-mail when an address is known (docs/reference/billit-api.md#sending,
        # February 2026).
        if receivable:
            return ("Peppol", receivable[0]), None
        if email:
            return ("SMTP", email), None
        return None, (
            "TheCustomer_0_DoesNotHaveAValidEmailAddress",
            f"Customer {name} does not have a valid email address",
        )
    if transport == "SMTP":
        if email:
            return ("SMTP", email), None
        return None, (
            "TheCustomer_0_DoesNotHaveAValidEmailAddress",
            f"Customer {name} does not have a valid email address",
        )
    if transport == "Letter":
        return None, ("GenericError", "Sending by letter is disabled on the sandbox environment.")
    return None, ("GenericError", f"Transport type {transport} is not available for this customer.")


def _start_delivery(sandbox: SandboxForDelivery, order: Order, transport: str, destination: str) -> None:
    now = sandbox.now()
    ubl = sandbox.add_file(
        order["CompanyID"],
        f"{str(order.get('OrderNumber', order['OrderID'])).replace('/', '-')}.xml",
        None,
        order_id=order["OrderID"],
        role="ubl",
    )
    message: dict[str, Any] = {}
    if transport == "SMTP":
        message["Description"] = ""
    message.update(
        {
            "FileID": ubl.file_id,
            "CreationDate": now,
            "TransportType": transport,
            "Success": True,
            "Trials": 1,
            "Destination": destination,
            "MessageDirection": "Outgoing",
        }
    )
    # Billit announces the transmission (webhook Message I), then reports it sent with its UBL (Message U):
    # the sandbox's sending queue picks it up at once (docs/reference/billit-api.md#webhooks).
    index = sandbox.add_message(order, message)
    sandbox.message_updated(order, index)
    order["IsSent"] = True
    if order.get("OrderStatus") in ("ToSend", "Draft", None):
        order["OrderStatus"] = "ToPay" if not order.get("Paid") else "Paid"
    order["CurrentDocumentDeliveryDetails"] = {"IsDocumentDelivered": False, "DocumentDeliveryStatus": "Pending"}
    token = sandbox.delivery_tokens.get(order["OrderID"], 0) + 1
    sandbox.delivery_tokens[order["OrderID"]] = token
    sandbox.counters["orders_sent"] += 1
    sandbox.mark_modified(order, when=now)
    sandbox.schedule(sandbox.delivery_delay_s, order["OrderID"], token)


def apply_due_events(sandbox: SandboxForDelivery, *, force: bool = False) -> int:
    """Apply every delivery transition that is due (all of them with ``force``); returns how many."""
    events = sandbox.events
    if not events:
        return 0
    now = time.monotonic()
    applied = 0
    while events and (force or events[0][0] <= now):
        _, _, order_id, token = heapq.heappop(events)
        order = sandbox.orders.get(order_id)
        if order is None or sandbox.delivery_tokens.get(order_id) != token:
            continue  # deleted, or re-sent since: a newer event owns the order
        _finish_delivery(sandbox, order)
        applied += 1
    return applied


def _finish_delivery(sandbox: SandboxForDelivery, order: Order) -> None:
    now = sandbox.now()
    messages = order.get("Messages", [])
    outgoing_index = next(
        (i for i in reversed(range(len(messages))) if messages[i].get("MessageDirection") == "Outgoing"), None
    )
    outgoing = messages[outgoing_index] if outgoing_index is not None else None
    transport = outgoing.get("TransportType", "Peppol") if outgoing else "Peppol"
    if sandbox.delivery_error_rate and sandbox.rng.random() < sandbox.delivery_error_rate:
        if outgoing is not None:
            outgoing["Success"] = False
        order["CurrentDocumentDeliveryDetails"] = {
            "DocumentRefusedDate": now,
            "DocumentRefusedReasonTC": "InvalidInvoice",
            "DocumentRefusedInfo": _REFUSAL_INFO,
            "IsDocumentDelivered": False,
            "DocumentDeliveryStatus": "Error",
        }
        if outgoing_index is not None:
            sandbox.message_updated(order, outgoing_index)
        sandbox.counters["deliveries_failed"] += 1
    else:
        details: dict[str, Any] = {"DocumentDeliveryDate": now}
        if transport == "Peppol":
            details["DocumentDeliveryInfo"] = "Received"
            imr = sandbox.add_file(
                order["CompanyID"], f"IMR_{order['OrderID']}.xml", None, order_id=order["OrderID"], role="imr"
            )
            sandbox.add_message(
                order,
                {
                    "Description": _AB_TEXT,
                    "FileID": imr.file_id,
                    "CreationDate": now,
                    "TransportType": "Peppol",
                    "Success": True,
                    "Trials": 0,
                    "Destination": outgoing.get("Destination", "") if outgoing else "",
                    "MessageDirection": "Incoming",
                },
            )
        else:
            details["DocumentDeliveryInfo"] = ""  # e-mail delivery carries no receiver response
            # (docs/reference/billit-api.md#delivery-status)
        details["IsDocumentDelivered"] = True
        details["DocumentDeliveryStatus"] = "Delivered"
        order["CurrentDocumentDeliveryDetails"] = details
        sandbox.counters["deliveries_delivered"] += 1
    sandbox.delivery_tokens.pop(order["OrderID"], None)
    sandbox.mark_modified(order, when=now)


def receive_response(sandbox: SandboxForDelivery, order: Order, code: str, reason: str | None = None) -> None:
    """An invoice response (IMR ``code``: AB, AP, RE, IP, UQ, CA or PD) from the customer arrives for a sent sales
    document (``POST /_sandbox/orders/{id}/imr``): an incoming message, ``DocumentDeliveryInfo`` once delivered,
    ``OrderStatus`` ``Refused`` for an unpaid RE (docs/reference/billit-api.md#delivery-status); ``ValueError`` when
    the code is unknown or the order was not sent."""
    code = code.strip().upper()
    if code not in IMR_TEXTS:
        raise ValueError(f"unknown response code {code!r}; known: {', '.join(IMR_TEXTS)}")
    if order.get("OrderDirection") != "Income" or not order.get("IsSent"):
        raise ValueError(f"order {order['OrderID']} is not a sent sales document")
    now = sandbox.now()
    messages = order.get("Messages", [])
    outgoing: dict[str, Any] = next((m for m in reversed(messages) if m.get("MessageDirection") == "Outgoing"), {})
    imr = sandbox.add_file(
        order["CompanyID"], f"IMR_{order['OrderID']}.xml", None, order_id=order["OrderID"], role="imr"
    )
    description = IMR_TEXTS[code] + (f" {reason.strip()}" if reason and reason.strip() else "")
    message = {"Description": description, "FileID": imr.file_id, "CreationDate": now, "TransportType": "Peppol",
               "Success": True, "Trials": 0, "Destination": outgoing.get("Destination", ""),
               "MessageDirection": "Incoming"}  # fmt: skip
    sandbox.add_message(order, message)
    details = order.get("CurrentDocumentDeliveryDetails") or {}
    if details.get("DocumentDeliveryStatus") == "Delivered":
        details["DocumentDeliveryInfo"] = DELIVERY_INFO["EN"][code]
        for key in ("IsDocumentDelivered", "DocumentDeliveryStatus"):  # Billit's key order: the info before the flags
            details[key] = details.pop(key)
    if code == "RE" and not order.get("Paid"):
        order["OrderStatus"] = "Refused"
    sandbox.mark_modified(order, when=now)
