"""One seeded order: its counterparty, dates, lines, number, files, references and currency.

``build_order`` makes the full storage form of one order created at ``created`` and returns it with its
natural ``LastModified`` (the latest thing that happened to it); the keys are in the order Billit's
``GET /v1/orders/{id}`` shows them.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sandbox.calc import compute_order_totals, ogm_reference
from sandbox.seed.catalogue import CURRENCIES, FX_BASE, SUPPLIER_NUMBER_FORMATS
from sandbox.seed.events import cost_events, income_events
from sandbox.seed.lines import LINE_KEYS, cost_lines, finish_lines, income_lines
from sandbox.seed.parties import Counterparty, copy_party, slug
from sandbox.seed.state import ONE5, Q5, ZERO, Order, SeedState, file_stamp, midnight

__all__ = ["build_order"]

ORDER_KEYS = (
    "OrderID", "CompanyID", "OrderPDF", "Attachments", "OrderNumber", "Customer", "Supplier", "CounterParty",
    "OrderDate", "ExpiryDate", "OrderType", "LastModified", "Created", "OrderDirection", "OrderLines",
    "OrderTitle", "PaymentDiscountPercentage", "PaymentDiscountAmount", "VatGroups", "VentilationCode",
    "TotalExcl", "TotalIncl", "TotalVAT", "Reference", "Tags", "PaymentReference", "AboutInvoiceNumber", "Paid",
    "PaidDate", "ExternalProviderID", "ExternalProvider", "ExternalProviderReferences", "Comments", "Currency",
    "IsSent", "Invoiced", "CustomFields", "PeriodFrom", "PeriodTill", "LastReminder", "RemindersSent", "ToPay",
    "OrderStatus", "ApprovalStatus", "FXRateToForeign", "DeliveryDate", "PaymentLinks",
    "AccountantVerificationNeeded", "CurrentDocumentDeliveryDetails", "Messages",
)  # fmt: skip


@dataclass
class _Draft:
    """What the parts of an order are built from."""

    order_id: int
    created: datetime
    cp: Counterparty
    income: bool
    is_credit_note: bool
    order_date: datetime
    via_peppol: bool

    @property
    def order_type(self) -> str:
        return "CreditNote" if self.is_credit_note else "Invoice"


def build_order(state: SeedState, order_id: int, created: datetime) -> tuple[Order, datetime]:
    """The order ``order_id`` created at ``created``, and its natural LastModified."""
    rng = state.rng
    income = rng.random() < 0.55
    is_credit_note = rng.random() < 0.10
    if income:
        cp = state.customers[rng.choices(range(len(state.customers)), cum_weights=state.customer_weights)[0]]
        order_date = midnight(created) - timedelta(days=0 if rng.random() < 0.8 else rng.randrange(1, 6))
    else:
        cp = state.suppliers[rng.choices(range(len(state.suppliers)), cum_weights=state.supplier_weights)[0]]
        order_date = midnight(created) - timedelta(days=rng.randrange(0, 12))
    terms = cp.terms if rng.random() < 0.9 else rng.choice([0, 8, 14, 30, 60, 90])
    delivery = order_date if rng.random() < 0.8 else order_date - timedelta(days=rng.randrange(1, 20))
    via_peppol = not income and cp.peppol_status == "invoice" and rng.random() < 0.93
    draft = _Draft(order_id, created, cp, income, is_credit_note, order_date, via_peppol)

    order: Order = {"OrderID": order_id, "CompanyID": state.company_id}
    _add_lines(state, draft, order)
    number = _number(state, draft)
    _add_files(state, draft, order, number)
    order["OrderNumber"] = number
    if income:
        order["Customer"] = copy_party(cp.party)
        order["Supplier"] = copy_party(state.own_as_supplier)
    else:
        order["Customer"] = copy_party(state.own_as_customer)
        order["Supplier"] = copy_party(cp.party)
    order["CounterParty"] = copy_party(cp.summary)
    order["OrderDate"] = order_date
    order["ExpiryDate"] = order_date + timedelta(days=terms)
    order["OrderType"] = draft.order_type
    order["LastModified"] = created  # replaced by the caller
    order["Created"] = created
    order["OrderDirection"] = "Income" if income else "Cost"
    _add_references(state, draft, order, number)
    currency = _currency(rng, cp)
    order.update({"Currency": currency, "IsSent": False, "Invoiced": False, "CustomFields": {}})
    if not income and rng.random() < 0.1:
        period_from = order_date.replace(day=1)
        order["PeriodFrom"] = period_from
        order["PeriodTill"] = (period_from + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    if income:
        last = income_events(state, order, cp, created, is_credit_note)
    else:
        last = cost_events(state, order, cp, created)
    _finish(state, draft, order, currency, delivery)
    if income and not is_credit_note:
        state.income_invoice_numbers.append(number)
    return _in_key_order(order, ORDER_KEYS), last


def _add_lines(state: SeedState, draft: _Draft, order: Order) -> None:
    """Lines, VAT groups, the header ventilation code and the totals (computed by ``calc``, as Billit does)."""
    if draft.income:
        lines, calc_code, shown_code = income_lines(state, draft.cp)
    else:
        lines, calc_code, shown_code = cost_lines(state, draft.cp, draft.via_peppol)
    lines_out, vat_groups, totals = compute_order_totals(
        finish_lines(state, lines), header_ventilation_code=calc_code, direction="Income" if draft.income else "Cost"
    )
    order["OrderLines"] = [_in_key_order(line, LINE_KEYS) for line in lines_out]
    order["PaymentDiscountPercentage"] = ZERO
    order["PaymentDiscountAmount"] = ZERO
    order["VatGroups"] = vat_groups
    order["VentilationCode"] = shown_code
    order["TotalExcl"] = totals["TotalExcl"]
    order["TotalIncl"] = totals["TotalIncl"]
    order["TotalVAT"] = totals["TotalVAT"]


def _number(state: SeedState, draft: _Draft) -> str:
    """The own company's next sales number, or the supplier's own numbering (with gaps) on a purchase."""
    year = draft.order_date.year
    if draft.income:
        kind = draft.order_type
        return state.own.number(kind, year, state.next_number(kind, year))
    rng, cp = state.rng, draft.cp
    if not cp.number_format:
        cp.number_format = rng.choice(SUPPLIER_NUMBER_FORMATS)
        cp.next_number = rng.randrange(1, 5000)
    fmt = cp.number_format
    if draft.is_credit_note:
        fmt = "CN-" + fmt if rng.random() < 0.6 else "C" + fmt
    number = fmt.format(y=year, n=cp.next_number)
    cp.next_number += rng.randrange(1, 40)  # suppliers invoice other customers in between
    return number


def _add_files(state: SeedState, draft: _Draft, order: Order, number: str) -> None:
    """The PDF and attachments: Billit's own PDF and JSON for sales, the UBL for Peppol purchases, else a scan."""
    rng = state.rng
    if draft.income:
        stem = state.own.pdf_stem
        safe_number = number.replace("/", "-")
        order["OrderPDF"] = {"FileID": state.uuid(), "FileName": f"{draft.order_type}_{safe_number}_{stem}.pdf"}
        json_name = f"{number.replace('/', '_')}__{file_stamp(draft.created)}.json"
        order["Attachments"] = [{"FileID": state.uuid(), "FileName": json_name}]
    elif draft.via_peppol:
        state.inbox_sequence += rng.randrange(1, 40)
        xml_name = f"188201-{state.inbox_sequence}-{state.uuid()}.xml"
        order["OrderPDF"] = {"FileID": state.uuid(), "FileName": f"{xml_name}_1.pdf"}
        order["Attachments"] = [{"FileID": state.uuid(), "FileName": xml_name}]
        order["ExternalProvider"] = "Peppol"
    else:
        order["OrderPDF"] = {"FileID": state.uuid(), "FileName": f"scan_{slug(number)}_{draft.order_id}.pdf"}
        order["Attachments"] = []


def _add_references(state: SeedState, draft: _Draft, order: Order, number: str) -> None:
    """Title, PO reference, payment reference (OGM), the invoice a credit note is about, provider ids."""
    rng, income = state.rng, draft.income
    if rng.random() < 0.25:
        order["OrderTitle"] = rng.choice(["Project Atlas", "Bestelling", "Commande", "Maintenance Q", "Onderhoud"])
    if rng.random() < 0.3:
        order["Reference"] = f"PO-{draft.order_date.year}-{rng.randrange(1, 9999):04d}"
    order["Tags"] = []
    if income or draft.cp.country == "BE":
        order["PaymentReference"] = ogm_reference(rng.randrange(10**10))
    else:
        order["PaymentReference"] = number
    if draft.is_credit_note and income and state.income_invoice_numbers and rng.random() < 0.7:
        order["AboutInvoiceNumber"] = rng.choice(state.income_invoice_numbers[-200:])
    if income and rng.random() < 0.6:
        kind = "cn" if draft.is_credit_note else "inv"
        order["ExternalProviderID"] = f"erp-{kind}-{draft.order_id - 2_000_000:07d}"
    elif not income and rng.random() < 0.05:
        order["ExternalProviderID"] = f"dms-{rng.getrandbits(32):08x}"
    if income:
        order["ExternalProvider"] = "APIFeed"
    order["ExternalProviderReferences"] = []
    if not income and order.get("ExternalProvider") == "Peppol" and "OrderTitle" in order:
        order["Comments"] = order["OrderTitle"]


def _currency(rng: random.Random, cp: Counterparty) -> str:
    if cp.country in CURRENCIES and rng.random() < 0.8:
        return CURRENCIES[cp.country]
    if rng.random() < 0.02:
        return rng.choice(["USD", "GBP", "CHF"])
    return "EUR"


def _finish(state: SeedState, draft: _Draft, order: Order, currency: str, delivery: datetime) -> None:
    """FX rate, delivery date, payment links and the accountant flag."""
    rng = state.rng
    if currency == "EUR":
        order["FXRateToForeign"] = ONE5
    else:
        jitter = Decimal(rng.randrange(-400, 401)) / 10_000
        order["FXRateToForeign"] = (FX_BASE[currency] + jitter).quantize(Q5)
    order["DeliveryDate"] = delivery
    order["PaymentLinks"] = (
        [{"ClickUrl": "", "QRImageUrl": f"https://files.example/qr/{draft.order_id}.png"}]
        if draft.income and not draft.is_credit_note
        else []
    )
    order["AccountantVerificationNeeded"] = rng.random() < 0.02


def _in_key_order(item: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    # Key order has no meaning in JSON, but a stored order that reads like Billit's GET output is easier to
    # compare with the docs; keys missing from ``keys`` keep their place at the end.
    ordered = {key: item[key] for key in keys if key in item}
    if len(ordered) != len(item):
        ordered.update(item)
    return ordered
