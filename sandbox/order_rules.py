"""What a posted order must satisfy (docs/reference/billit-api.md, docs/reference/billit-api.md#creating-orders and the
checklist docs/reference/billit-api.md#creating-orders).

Every problem is reported at once: required fields, order types and directions, VAT rates for the company's
tax country (BE: 0/6/12/21), ventilation codes per direction (docs/reference/vat.md#ventilation-codes), payment methods,
approval statuses and the file types of attachments.
"""

from __future__ import annotations

import base64
import binascii
import re
from decimal import Decimal
from typing import Any

from sandbox.store import Sandbox

ORDER_TYPES = ("Invoice", "CreditNote", "Offer", "DeliveryNote", "OrderForm")
DIRECTIONS = ("Income", "Cost")
PAYMENT_METHODS = ("Other", "Visa", "Bancontact", "Contant", "Wired", "Online", "Domiciliation", "PrivateAccount")
APPROVAL_STATUSES = ("Pending", "Approved", "Rejected", "ToApproveByMe")
# VAT rates allowed per tax country (docs/reference/billit-api.md#creating-orders); the own companies are Belgian.
ALLOWED_VAT_RATES: dict[str, frozenset[Decimal]] = {
    "BE": frozenset({Decimal(0), Decimal(6), Decimal(12), Decimal(21)}),
}
# Ventilation codes per direction (docs/reference/vat.md#sales-codes sales, docs/reference/vat.md#cost-codes purchases
# and self-billing).
VENTILATION_CODES: dict[str, frozenset[str]] = {
    "Income": frozenset({"1", "2", "3", "4", "21", "22", "24", "51", "55", "70", "101", "102", "104"}),
    "Cost": frozenset({"1", "21", "22", "51", "55", "70", "102", "111"}),
}
_ATTACHMENT_EXTENSIONS = (".pdf", ".xls", ".xlsx", ".csv")


def validate(sandbox: Sandbox, company_id: int, data: dict[str, Any]) -> list[tuple[str, str | None]]:
    errors: list[tuple[str, str | None]] = []

    def required(field: str) -> None:
        errors.append(("GenericError", f"Data is Required: {field}"))

    for field in ("OrderType", "OrderDirection", "OrderDate", "ExpiryDate"):
        if field not in data or data[field] == "":
            required(field)
    order_type = data.get("OrderType")
    if order_type and order_type not in ORDER_TYPES:
        errors.append(("GenericError", f"'{order_type}' is not a valid OrderType."))
    direction = data.get("OrderDirection")
    if direction and direction not in DIRECTIONS:
        errors.append(("GenericError", f"'{direction}' is not a valid OrderDirection."))
    lines = data.get("OrderLines") or []
    if not lines:
        required("OrderLines")
    if direction == "Income" and "Customer" not in data and "CustomerID" not in data:
        required("Customer")
    if direction == "Cost" and "Supplier" not in data and "SupplierID" not in data:
        required("Supplier")
    role = "Customer" if direction == "Income" else "Supplier"
    party = data.get(role)
    if isinstance(party, dict) and "PartyID" not in party and not party.get("Name"):
        required(f"{role}.Name")

    country = str(sandbox.companies[company_id].get("CountryCode", "BE"))
    allowed_rates = ALLOWED_VAT_RATES.get(country)
    codes = VENTILATION_CODES.get(direction or "", VENTILATION_CODES["Income"])
    header_code = data.get("VentilationCode")
    if header_code is not None and header_code not in codes:
        errors.append(("GenericError", f"Invalid VentilationCode '{header_code}'."))
    for index, line in enumerate(lines):
        where = f"OrderLines[{index}]"
        incl_leading = bool(line.get("InclLeading")) and "TotalIncl" in line
        if "Quantity" not in line and not incl_leading:
            required(f"{where}.Quantity")
        if "UnitPriceExcl" not in line and not incl_leading:
            if "ProductID" in line:
                errors.append(("GenericError", f"Product {line['ProductID']} was not found."))
            else:
                required(f"{where}.UnitPriceExcl")
        rate = line.get("VATPercentage", Decimal(0))
        if allowed_rates is not None and rate not in allowed_rates:
            errors.append(
                ("InvalidVAtPercentageForTaxCountry_0_", f"Invalid VAT percentage for country code {country}")
            )
        code = line.get("VentilationCode")
        if code is not None and code not in codes:
            errors.append(("GenericError", f"Invalid VentilationCode '{code}' on {where}."))
    about = data.get("AboutInvoiceNumber")
    if about is not None:
        matches = [
            order
            for order in sandbox.invoice_numbers(company_id, about)
            if order.get("OrderType") == "Invoice" and order.get("OrderDirection") == (direction or "Income")
        ]
        if not matches:
            errors.append(("GenericError", f"The invoice with number '{about}' (AboutInvoiceNumber) does not exist."))
    currency = data.get("Currency")
    if currency is not None and not re.fullmatch(r"[A-Za-z]{3}", currency):
        errors.append(("GenericError", f"'{currency}' is not a valid currency code."))
    method = data.get("PaymentMethod")
    if method is not None and method not in PAYMENT_METHODS:
        errors.append(("GenericError", f"'{method}' is not a valid PaymentMethod."))
    approval = data.get("ApprovalStatus")
    if approval is not None and approval not in APPROVAL_STATUSES:
        errors.append(("GenericError", f"'{approval}' is not a valid ApprovalStatus."))
    errors += _validate_files(data)
    return errors


def _validate_files(data: dict[str, Any]) -> list[tuple[str, str | None]]:
    errors: list[tuple[str, str | None]] = []
    pdf = data.get("OrderPDF")
    candidates = ([("OrderPDF", pdf, (".pdf",))] if pdf else []) + [
        (f"Attachments[{i}]", item, _ATTACHMENT_EXTENSIONS) for i, item in enumerate(data.get("Attachments", []))
    ]
    for where, item, extensions in candidates:
        if "FileContent" not in item:
            continue
        name = item.get("FileName", "")
        if not name.lower().endswith(extensions):
            errors.append(("Invalid Filename", "Please change the file name to the correct format"))
        try:
            base64.b64decode(item["FileContent"], validate=True)
        except (binascii.Error, ValueError):
            errors.append(("GenericError", f"{where}.FileContent is not valid base64."))
    return errors
