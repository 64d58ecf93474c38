"""``POST /v1/orders``: building a posted order in storage form and storing it.

Creation follows docs/reference/billit-api.md#creating-orders and the checklist
docs/reference/billit-api.md#creating-orders: required fields are validated and all problems reported at once; VAT rates
are checked against the company's tax country (BE: 0/6/12/21 →
``InvalidVAtPercentageForTaxCountry_0_``); ventilation codes must exist for the direction
(docs/reference/vat.md#ventilation-codes);
``AboutInvoiceNumber`` must name an existing invoice; totals are recomputed with ``calc`` (Billit never
trusts posted totals, docs/reference/billit-api.md#calculations). The new order gets Billit's defaults: ``OrderStatus``
``ToSend`` (Income) or
``ToPay`` (Cost), ``ExternalProvider`` ``APIFeed``, an auto ``OrderNumber`` and OGM ``PaymentReference`` when
missing, a generated PDF and the posted JSON as attachment (docs/reference/billit-api.md#order-fields).

The checks live in ``order_rules``, the party matching in ``order_parties``, PATCH in ``order_patch``.
"""

from __future__ import annotations

import base64
import re
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sandbox.calc import compute_order_totals, ogm_reference, round_money
from sandbox.errors import ApiError
from sandbox.inputs import (
    ORDER_SCHEMA,
    BindingError,
    bind,
)
from sandbox.order_parties import counter_party_summary, own_party, resolve_party
from sandbox.order_rules import validate
from sandbox.store import Order, Sandbox

__all__ = ["create_order"]


Q2 = Decimal("0.01")
Q5 = Decimal("0.00001")
_LINE_KEY_ORDER = (
    "OrderLineID", "Quantity", "UnitPriceExcl", "UnitPriceIncl", "Reference", "Description", "DescriptionExtended",
    "Unit", "ProductID", "ReductionPercentage", "TotalExcl", "TotalVAT", "VATPercentage", "VentilationCode",
    "AccountCode", "AnalyticCostBearer", "AnalyticCostCenter", "ExternalProviderReferences", "CustomFields",
    "InclLeading", "TotalIncl",
)  # fmt: skip
_PASS_THROUGH = (
    "Journal", "DepartmentID", "ProjectID", "ProjectName", "VatDeduction", "MixedUseProfessionalPercentage",
    "CostCategoryCode", "AccountCode", "AccountingCostTypeTC", "TemplateID", "MessageTemplateID",
    "AnalyticCostBearer", "AnalyticCostCenter", "PaymentTerms", "TaxPointDate", "IBAN", "BIC",
)  # fmt: skip


# --------------------------------------------------------------------------------------------------------------
# POST /v1/orders


def create_order(sandbox: Sandbox, company_id: int, body: Any, raw_body: bytes) -> Order:
    """Validate a posted order, build it in storage form and store it; raises :class:`ApiError`."""
    try:
        data = bind(body, ORDER_SCHEMA)
    except BindingError as exc:
        raise ApiError.generic(str(exc)) from None
    errors = validate(sandbox, company_id, data)
    if errors:
        raise ApiError(400, errors)
    direction = data["OrderDirection"]
    now = sandbox.now()
    counter_role = "Customer" if direction == "Income" else "Supplier"
    counterparty = resolve_party(
        sandbox, company_id, data.get(counter_role), data.get(f"{counter_role}ID"), counter_role, now
    )
    own = own_party(sandbox, company_id, "Supplier" if direction == "Income" else "Customer")

    lines_in = [_line_input(line) for line in data["OrderLines"]]
    header_code = data.get("VentilationCode")
    discount = data.get("PaymentDiscountPercentage", Decimal(0))
    lines_out, vat_groups, totals = compute_order_totals(
        lines_in, header_ventilation_code=header_code, direction=direction, payment_discount_percentage=discount
    )
    if totals["TotalIncl"] < 0:
        # docs/reference/billit-api.md#order-body "Negative line": positive quantity, negative price, but the total must
        # stay positive.
        raise ApiError.generic("The total amount of the document cannot be negative.")

    order_id = sandbox.next_order_id()
    order_type = data["OrderType"]
    number = data.get("OrderNumber") or _auto_number(sandbox, company_id, direction, order_type, data["OrderDate"])
    order: Order = {"OrderID": order_id, "CompanyID": company_id}
    order["OrderPDF"] = _order_pdf(sandbox, company_id, order_id, data, order_type, number)
    order["Attachments"] = _attachments(sandbox, company_id, order_id, data, number, now, raw_body)
    if number is not None:
        order["OrderNumber"] = number
    order["Customer"] = counterparty if direction == "Income" else own
    order["Supplier"] = own if direction == "Income" else counterparty
    order["CounterParty"] = counter_party_summary(counterparty)
    _add_dates(order, data, now)
    order["OrderLines"] = [_ordered_line(sandbox, line) for line in lines_out]
    _copy_if_present(data, order, "OrderTitle")
    _add_amounts(order, data, discount, vat_groups, totals, header_code or _derived_header_code(direction, lines_out))
    _add_references(order, data, company_id)
    _add_status(order, data, totals["TotalIncl"])
    sandbox.insert_order(order)
    sandbox.counters["orders_created"] += 1
    return order


def _add_dates(order: Order, data: dict[str, Any], now: datetime) -> None:
    order["OrderDate"] = data["OrderDate"]
    order["ExpiryDate"] = data["ExpiryDate"]
    order["OrderType"] = data["OrderType"]
    if "OrderSubType" in data:
        order["OrderSubType"] = data["OrderSubType"]
    order["LastModified"] = now
    order["Created"] = now
    order["OrderDirection"] = data["OrderDirection"]


def _add_amounts(
    order: Order,
    data: dict[str, Any],
    discount: Decimal,
    vat_groups: list[dict[str, Any]],
    totals: dict[str, Decimal],
    header_code: str,
) -> None:
    order["PaymentDiscountPercentage"] = discount.quantize(Q2)
    if "PaymentReductionDays" in data:
        order["PaymentReductionDays"] = data["PaymentReductionDays"]
        order["PaymentDiscountDate"] = data["OrderDate"] + timedelta(days=data["PaymentReductionDays"])
    # The cash discount is rounded per VAT group, and its VAT already left TotalVAT: paying early means paying
    # TotalIncl - PaymentDiscountAmount (docs/reference/billit-api.md#cash-discount).
    order["PaymentDiscountAmount"] = sum((group["FinancialReductionAmount"] for group in vat_groups), Decimal("0.00"))
    order["VatGroups"] = vat_groups
    order["VentilationCode"] = header_code
    order["TotalExcl"] = totals["TotalExcl"]
    order["TotalIncl"] = totals["TotalIncl"]
    order["TotalVAT"] = totals["TotalVAT"]


def _add_references(order: Order, data: dict[str, Any], company_id: int) -> None:
    _copy_if_present(data, order, "Reference")
    for key in _PASS_THROUGH:
        _copy_if_present(data, order, key)
    order["Tags"] = list(data.get("Tags", []))
    order["PaymentReference"] = data.get("PaymentReference") or ogm_reference(_ogm_digits(company_id, order["OrderID"]))
    _copy_if_present(data, order, "AboutInvoiceNumber")


def _add_status(order: Order, data: dict[str, Any], total: Decimal) -> None:
    """Payment, provider, currency and the flags a new order starts with (docs/reference/billit-api.md#order-fields)."""
    paid = bool(data.get("Paid", False))
    order["Paid"] = paid
    if paid:
        order["PaidDate"] = data.get("PaidDate", data["OrderDate"])
    _copy_if_present(data, order, "ExternalProviderID")
    order["ExternalProvider"] = "APIFeed"
    order["ExternalProviderReferences"] = list(data.get("ExternalProviderReferences") or [])
    _copy_if_present(data, order, "Comments")
    order["Currency"] = data.get("Currency", "EUR").upper()
    _copy_if_present(data, order, "InternalInfo")
    order["IsSent"] = False
    order["Invoiced"] = bool(data.get("Invoiced", False))
    order["CustomFields"] = dict(data.get("CustomFields") or {})
    _copy_if_present(data, order, "PeriodFrom")
    _copy_if_present(data, order, "PeriodTill")
    order["RemindersSent"] = 0
    order["ToPay"] = _to_pay(data, total, paid, data["OrderType"])
    order["OrderStatus"] = _initial_status(data["OrderDirection"], paid)
    _copy_if_present(data, order, "ApprovalStatus")
    order["FXRateToForeign"] = data.get("FXRateToForeign", Decimal(1)).quantize(Q5)
    _copy_if_present(data, order, "PaymentMethod")
    order["DeliveryDate"] = data.get("DeliveryDate", data["OrderDate"])
    order["PaymentLinks"] = []
    order["AccountantVerificationNeeded"] = bool(data.get("AccountantVerificationNeeded", False))
    order["ExportedToConnector"] = False
    order["CurrentDocumentDeliveryDetails"] = {"IsDocumentDelivered": False}
    order["Messages"] = []


def _line_input(line: dict[str, Any]) -> dict[str, Any]:
    out = dict(line)
    for key in ("OrderLineID", "TotalExcl", "TotalVAT"):
        out.pop(key, None)
    if not out.get("InclLeading"):
        out.pop("TotalIncl", None)
    out.setdefault("VATPercentage", Decimal(0))
    return out


def _ordered_line(sandbox: Sandbox, line: dict[str, Any]) -> dict[str, Any]:
    line = dict(line)
    line["OrderLineID"] = sandbox.next_line_id()
    if "Quantity" in line:
        line["Quantity"] = line["Quantity"].quantize(Q5)
    for key in ("UnitPriceExcl", "UnitPriceIncl"):
        if key in line:
            line[key] = line[key].quantize(Q5)
    line["VATPercentage"] = line["VATPercentage"].quantize(Q2)
    if "ReductionPercentage" in line:
        line["ReductionPercentage"] = line["ReductionPercentage"].quantize(Q2)
    line.setdefault("CustomFields", {})
    line["InclLeading"] = bool(line.get("InclLeading", False))
    ordered = {key: line[key] for key in _LINE_KEY_ORDER if key in line}
    ordered.update({key: value for key, value in line.items() if key not in ordered})
    return ordered


def _derived_header_code(direction: str, lines: list[dict[str, Any]]) -> str:
    # Sales show the code of the highest-rate line ("4" for 21 %); purchases "1"
    # (docs/reference/vat.md#ventilation-codes).
    if direction == "Cost":
        return "1"
    best = max(lines, key=lambda line: line["VATPercentage"], default=None)
    return str(best["VentilationCode"]) if best is not None else "1"


def _copy_if_present(source: dict[str, Any], target: Order, key: str) -> None:
    if key in source and source[key] not in (None, ""):
        target[key] = source[key]


def _to_pay(data: dict[str, Any], total: Decimal, paid: bool, order_type: str) -> Decimal:
    if paid:
        return Decimal("0.00")
    if order_type == "CreditNote" and "AboutInvoiceNumber" in data:
        return Decimal("0.00")  # docs/reference/billit-api.md#credit-notes: a credit note about a Billit invoice is
        # always fully prepaid
    if "ToPay" in data:
        return round_money(data["ToPay"])  # docs/reference/billit-api.md#order-body "Prepaid": partially paid documents
        # post ToPay
    return total


def _initial_status(direction: str, paid: bool) -> str:
    if direction == "Income":
        return "ToSend"  # docs/reference/billit-api.md#order-status: a new API sales document waits to be sent, paid or
        # not
    return "Paid" if paid else "ToPay"


def _ogm_digits(company_id: int, order_id: int) -> int:
    return (company_id % 1000) * 10**7 + order_id % 10**7


def _auto_number(
    sandbox: Sandbox, company_id: int, direction: str, order_type: str, order_date: datetime
) -> str | None:
    if direction != "Income":
        return None  # a purchase carries the supplier's number; Billit only numbers sales
        # (docs/reference/billit-api.md#order-fields)
    year = order_date.year
    key = (company_id, order_type, year)
    n = sandbox.next_numbers.get(key)
    if n is None:  # the first number of the year after the seeded books'
        n = 1 + sum(
            1
            for order in sandbox.company_orders(company_id).values()
            if order.get("OrderType") == order_type
            and order.get("OrderDirection") == "Income"
            and order.get("OrderDate", order_date).year == year
        )
    own = sandbox.own_companies[company_id]
    while sandbox.number_in_use(company_id, own.number(order_type, year, n)):
        n += 1
    sandbox.next_numbers[key] = n + 1
    return own.number(order_type, year, n)


def _company_stem(sandbox: Sandbox, company_id: int) -> str:
    name = str(sandbox.companies[company_id].get("Name", "Company"))
    return re.sub(r"[^0-9A-Za-z]", "", name) or "Company"


def _order_pdf(
    sandbox: Sandbox, company_id: int, order_id: int, data: dict[str, Any], order_type: str, number: str | None
) -> dict[str, Any]:
    posted = data.get("OrderPDF")
    if posted and "FileContent" in posted:
        content = base64.b64decode(posted["FileContent"])
        record = sandbox.add_file(company_id, posted.get("FileName", "document.pdf"), content, order_id=order_id)
    else:
        # Billit renders its own PDF when none is supplied (docs/reference/billit-api.md#creating-orders): a stub
        # generated on first download.
        prefix = "CreditNote" if order_type == "CreditNote" else "Invoice"
        safe_number = (number or str(order_id)).replace("/", "-")
        name = f"{prefix}_{safe_number}_{_company_stem(sandbox, company_id)}.pdf"
        record = sandbox.add_file(company_id, name, None, order_id=order_id, role="pdf")
    return {"FileID": record.file_id, "FileName": record.file_name}


def _attachments(
    sandbox: Sandbox,
    company_id: int,
    order_id: int,
    data: dict[str, Any],
    number: str | None,
    now: datetime,
    raw_body: bytes,
) -> list[dict[str, Any]]:
    out = []
    for item in data.get("Attachments", []):
        if "FileContent" not in item:
            continue
        record = sandbox.add_file(
            company_id, item.get("FileName", "attachment.pdf"), base64.b64decode(item["FileContent"]), order_id=order_id
        )
        out.append({"FileID": record.file_id, "FileName": record.file_name})
    # Sales orders created by API get the posted JSON attached: "{OrderNumber}__{d_MM_yyyy H_mm_ss}.json".
    stamp = f"{now.day}_{now.month:02d}_{now.year} {now:%H_%M_%S}"
    json_name = f"{(number or str(order_id)).replace('/', '_')}__{stamp}.json"
    record = sandbox.add_file(company_id, json_name, raw_body, order_id=order_id, role="json")
    out.append({"FileID": record.file_id, "FileName": record.file_name})
    return out


# --------------------------------------------------------------------------------------------------------------
