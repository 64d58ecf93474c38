"""What happens to a seeded document after it is created: sending, e-invoice delivery, responses, payment.

Sales documents are sent by Peppol or e-mail and go through every delivery state Billit shows
(docs/reference/billit-api.md, docs/reference/billit-api.md#delivery-status): pending, refused by the access point,
delivered, answered with invoice responses (IMR: received, approved, rejected, in process, under query, conditionally
accepted, paid), then paid (or not) and reminded when overdue. Purchases are approved, paid and exported. Nothing
happens after the seed's ``start``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sandbox.seed.parties import Counterparty
from sandbox.seed.state import Q2, ZERO, Order, SeedState, business_moment, midnight, stamp

__all__ = ["cost_events", "income_events"]

IMR_TEXTS = {
    "AB": "AB: The document has been successfully received.",
    "AP": "AP: The document has been accepted.",
    "RE": "RE: The document has been rejected.",
    "IP": "IP: The document is in process.",
    "UQ": "UQ: The document is under query.",
    "CA": "CA: The document has been conditionally accepted.",
    "PD": "PD: The document has been paid.",
}
# DocumentDeliveryInfo carries the receiver's last response, in the company's language
# (docs/reference/billit-api.md#delivery-status).
DELIVERY_INFO = {
    "NL": {"AB": "Ontvangen", "AP": "Goedgekeurd", "RE": "Geweigerd", "IP": "In behandeling",
           "UQ": "In vraag gesteld", "CA": "Voorwaardelijk goedgekeurd", "PD": "Betaald"},
    "FR": {"AB": "Reçu", "AP": "Approuvé", "RE": "Refusé", "IP": "En traitement",
           "UQ": "En question", "CA": "Approuvé sous conditions", "PD": "Payé"},
    "EN": {"AB": "Received", "AP": "Approved", "RE": "Rejected", "IP": "In process",
           "UQ": "Under query", "CA": "Conditionally accepted", "PD": "Paid"},
}  # fmt: skip
REJECT_REASONS = [
    "Wrong purchase order reference",
    "Unknown buyer reference; please state our PO number",
    "Prices do not match the quotation",
    "Goods not received",
    "Duplicate invoice",
]
REFUSAL_INFOS = [
    "Inconsistency between VAT number and tax code of the recipient of the invoice (acquirer)",
    "[BR-CO-15]-Invoice total amount with VAT (BT-112) = Invoice total amount without VAT (BT-109) + "
    "Invoice total VAT amount (BT-110).",
    "[PEPPOL-EN16931-R010]-Buyer electronic address MUST be provided",
    "The receiving access point refused the document: unknown participant",
]


@dataclass
class _Trail:
    """The messages and delivery details a sales document collects, and its latest change so far."""

    last: datetime
    language: str = "EN"
    sent_at: datetime | None = None
    refused: bool = False  # the receiver answered RE
    messages: list[dict[str, Any]] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=lambda: {"IsDocumentDelivered": False})

    def happened(self, moment: datetime) -> None:
        self.last = max(self.last, moment)


def income_events(
    state: SeedState, order: Order, cp: Counterparty, created: datetime, is_credit_note: bool
) -> datetime:
    """Delivery, responses, payment and reminders of a sales document; returns the natural LastModified."""
    rng = state.rng
    trail = _Trail(last=created)
    if rng.random() < 0.3:
        trail.language = state.own.language
    trail.sent_at = _sent_at(state, created)
    if trail.sent_at is not None:
        order["IsSent"] = True
        trail.happened(trail.sent_at)
        if cp.peppol_status == "invoice" and rng.random() < 0.93:
            _deliver_by_peppol(state, cp, trail, trail.sent_at)
        else:
            _deliver_by_email(state, cp, trail, trail.sent_at)
    paid_at = _income_paid_at(state, order, cp, created, is_credit_note, trail)
    status = "ToPay" if trail.sent_at is not None else "ToSend"
    if paid_at is not None:
        status = "Paid"
        _record_payment(order, trail, paid_at)
        _payment_response(state, trail, paid_at, is_credit_note)
    else:
        order["Paid"] = False
        total: Decimal = order["TotalIncl"]
        if trail.sent_at is not None and rng.random() < 0.03 and total > 1:
            order["ToPay"] = (total * Decimal(rng.randrange(20, 80)) / 100).quantize(Q2)
        else:
            order["ToPay"] = total
        if trail.refused:
            status = "Refused"
    order["RemindersSent"] = _reminders(state, order, trail, paid_at, is_credit_note)
    order["OrderStatus"] = status
    order["CurrentDocumentDeliveryDetails"] = trail.details
    order["Messages"] = trail.messages
    return trail.last


def _sent_at(state: SeedState, created: datetime) -> datetime | None:
    """When the document was sent: most within minutes, some days later, recent ones often not yet."""
    rng = state.rng
    age_days = (state.start - created).total_seconds() / 86400
    unsent_chance = 0.6 if age_days < 10 else 0.015
    if rng.random() < unsent_chance:
        return None
    delay = (
        timedelta(seconds=rng.randrange(20, 900))
        if rng.random() < 0.7
        else timedelta(days=rng.randrange(0, 4), hours=rng.randrange(1, 20))
    )
    candidate = stamp(rng, created + delay)
    return candidate if candidate <= state.start else None


def _deliver_by_peppol(state: SeedState, cp: Counterparty, trail: _Trail, sent_at: datetime) -> None:
    rng, start = state.rng, state.start
    destination = cp.peppol_destination or ""
    outgoing = {
        "FileID": state.uuid(),
        "CreationDate": sent_at,
        "TransportType": "Peppol",
        "Success": True,
        "Trials": 1,
        "Destination": destination,
        "MessageDirection": "Outgoing",
    }
    trail.messages.append(outgoing)
    roll = rng.random()
    if roll < 0.035 or (start - sent_at) < timedelta(minutes=3):
        trail.details = {"IsDocumentDelivered": False, "DocumentDeliveryStatus": "Pending"}
    elif roll < 0.075:
        refused_at = min(stamp(rng, sent_at + timedelta(seconds=rng.randrange(5, 3600))), start)
        outgoing["Success"] = False
        outgoing["Trials"] = rng.randrange(1, 4)
        trail.details = {
            "DocumentRefusedDate": refused_at,
            "DocumentRefusedReasonTC": "InvalidInvoice",
            "DocumentRefusedInfo": rng.choice(REFUSAL_INFOS),
            "IsDocumentDelivered": False,
            "DocumentDeliveryStatus": "Error",
        }
        trail.happened(refused_at)
    else:
        delivered_at = min(stamp(rng, sent_at + timedelta(seconds=rng.randrange(2, 90))), start)
        trail.details = {
            "DocumentDeliveryDate": delivered_at,
            "IsDocumentDelivered": True,
            "DocumentDeliveryStatus": "Delivered",
        }
        trail.happened(delivered_at)
        _receiver_responses(state, trail, delivered_at, destination)


def _receiver_responses(state: SeedState, trail: _Trail, delivered_at: datetime, destination: str) -> None:
    """Most receivers confirm receipt (AB); some go on to approve, reject, query or accept with conditions."""
    rng = state.rng
    responses: list[tuple[str, datetime]] = []
    if rng.random() < 0.9:
        responses.append(("AB", delivered_at + timedelta(seconds=rng.randrange(5, 600))))
        follow = rng.random()
        later = delivered_at + timedelta(days=rng.randrange(1, 12), seconds=rng.randrange(86400))
        if follow < 0.03:
            responses.append(("RE", later))
            trail.refused = True
        elif follow < 0.06:
            responses.append(("IP", later))
        elif follow < 0.085:
            responses.append(("UQ", later))
        elif follow < 0.105:
            responses.append(("CA", later))
        elif follow < 0.3:
            responses.append(("AP", later))
    for code, when in responses:
        moment = stamp(rng, when)
        if moment > state.start:
            break
        _add_response(state, trail, code, moment, destination)
        if code == "RE":
            trail.messages[-1]["Description"] += f" {rng.choice(REJECT_REASONS)}."
        trail.happened(moment)


def _deliver_by_email(state: SeedState, cp: Counterparty, trail: _Trail, sent_at: datetime) -> None:
    rng = state.rng
    outgoing = {
        "Description": "",
        "FileID": state.uuid(),
        "CreationDate": sent_at,
        "TransportType": "SMTP",
        "Success": True,
        "Trials": 1,
        "Destination": cp.email.split(";")[0],
        "MessageDirection": "Outgoing",
    }
    trail.messages.append(outgoing)
    if rng.random() < 0.02:
        trail.details = {"IsDocumentDelivered": False, "DocumentDeliveryStatus": "Pending"}
        return
    delivered_at = min(stamp(rng, sent_at + timedelta(seconds=rng.randrange(1, 30))), state.start)
    trail.details = {
        "DocumentDeliveryDate": delivered_at,
        "DocumentDeliveryInfo": "",
        "IsDocumentDelivered": True,
        "DocumentDeliveryStatus": "Delivered",
    }
    trail.happened(delivered_at)


def _income_paid_at(
    state: SeedState, order: Order, cp: Counterparty, created: datetime, is_credit_note: bool, trail: _Trail
) -> datetime | None:
    # docs/reference/billit-api.md#credit-notes: a credit note about an invoice is always fully prepaid.
    rng, sent_at = state.rng, trail.sent_at
    if is_credit_note and "AboutInvoiceNumber" in order:
        return created
    if sent_at is not None and not trail.refused and not (is_credit_note and rng.random() < 0.5):
        order_date: datetime = order["OrderDate"]
        if rng.random() < 0.93:
            delay_days = max(0, int(rng.gauss(cp.terms * 0.8, cp.terms * 0.5)))
            candidate = stamp(rng, business_moment(rng, order_date + timedelta(days=delay_days)))
            if candidate <= state.start:
                return max(candidate, sent_at)
        return None
    if is_credit_note and sent_at is not None and rng.random() < 0.5:
        return sent_at
    return None


def _record_payment(order: Order, trail: _Trail, paid_at: datetime) -> None:
    order["Paid"] = True
    order["PaidDate"] = midnight(paid_at)
    order["ToPay"] = ZERO
    trail.happened(paid_at)


def _payment_response(state: SeedState, trail: _Trail, paid_at: datetime, is_credit_note: bool) -> None:
    # Only receivers that answer with IMRs at all (they sent AB) report the payment with a PD response.
    rng, messages = state.rng, trail.messages
    answers_imr = len(messages) > 1 and messages[0]["TransportType"] == "Peppol"
    if answers_imr and not is_credit_note and rng.random() < 0.35:
        moment = stamp(rng, paid_at + timedelta(hours=rng.randrange(1, 72)))
        if moment <= state.start:
            _add_response(state, trail, "PD", moment, messages[0]["Destination"])
            trail.happened(moment)


def _reminders(state: SeedState, order: Order, trail: _Trail, paid_at: datetime | None, is_credit_note: bool) -> int:
    """How many payment reminders went out (a fortnight apart, from a week after the expiry date)."""
    rng, start = state.rng, state.start
    if trail.sent_at is None or is_credit_note or trail.refused:
        return 0
    expiry: datetime = order["ExpiryDate"]
    overdue_days = ((paid_at or start) - expiry).days
    if overdue_days <= 7:
        return 0
    reminders = min(3, overdue_days // 14 + (0 if paid_at else 1))
    if reminders:
        last_reminder = stamp(rng, business_moment(rng, expiry + timedelta(days=7 + 14 * (reminders - 1))))
        if last_reminder <= start:
            order["LastReminder"] = last_reminder
            trail.happened(last_reminder)
        else:
            reminders -= 1
    return reminders


def _add_response(state: SeedState, trail: _Trail, code: str, moment: datetime, destination: str) -> None:
    trail.messages.append({"Description": IMR_TEXTS[code], "FileID": state.uuid(), "CreationDate": moment,
                           "TransportType": "Peppol", "Success": True, "Trials": 0, "Destination": destination,
                           "MessageDirection": "Incoming"})  # fmt: skip
    details = trail.details
    details["DocumentDeliveryInfo"] = DELIVERY_INFO[trail.language][code]
    # Keep Billit's key order: DocumentDeliveryInfo sits between the date and the flags.
    for key in ("IsDocumentDelivered", "DocumentDeliveryStatus"):
        details[key] = details.pop(key)


def cost_events(state: SeedState, order: Order, cp: Counterparty, created: datetime) -> datetime:
    rng, start = state.rng, state.start
    # Billit saves a received document twice within a second or two
    # (docs/reference/billit-api.md#received-invoice-example: Created .231, LastModified .05 s).
    last = min(created + timedelta(milliseconds=rng.randrange(50, 2500)), start)
    age_days = (start - created).total_seconds() / 86400
    status = "ToPay"
    paid_at: datetime | None = None
    if age_days < 20 and rng.random() < 0.1:
        status = "ApprovalNeeded"
        order["ApprovalStatus"] = "Pending"
    elif rng.random() < 0.95:
        delay = max(0, int(rng.gauss(cp.terms * 0.9, cp.terms * 0.4)))
        candidate = stamp(rng, business_moment(rng, order["OrderDate"] + timedelta(days=delay)))
        if candidate <= start:
            paid_at = max(candidate, last)
    if paid_at is not None:
        order["Paid"] = True
        order["PaidDate"] = midnight(paid_at)
        order["ToPay"] = ZERO
        status = "Paid"
        last = max(last, paid_at)
    else:
        order["Paid"] = False
        order["ToPay"] = order["TotalIncl"]
    # IsSent on purchases is a free export flag that the accountant's tool PATCHes
    # (docs/reference/billit-api.md#order-fields).
    if rng.random() < 0.45:
        exported = stamp(rng, created + timedelta(days=rng.randrange(0, 30), seconds=rng.randrange(86400)))
        if exported <= start:
            order["IsSent"] = True
            last = max(last, exported)
    order["RemindersSent"] = 0
    order["OrderStatus"] = status
    order["CurrentDocumentDeliveryDetails"] = {"IsDocumentDelivered": False}
    order["Messages"] = []
    return last
