"""Outbound rows -> Billit orders (pure): validation, the POST body and the idempotency key.

A row that cannot succeed is rejected here, with every reason at once, and never sent to Billit. The
idempotency key is a hash of the row's content: the same row always sends the same key, and a row edited before
Billit has an order for it gets a new one (the push looks Billit up by ExternalProviderID before creating any
row it attempted before, so an edit after a lost answer cannot create a second order).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from tasks.normalise.identifiers import normalise_identifier, normalise_vat_number
from tasks.normalise.vat import SALES_VENTILATION_CODES

# billit-api.md §14 item 3: Billit refuses other rates for a Belgian company (InvalidVAtPercentageForTaxCountry).
BELGIAN_VAT_RATES = frozenset({Decimal(0), Decimal(6), Decimal(12), Decimal(21)})
ORDER_TYPES = ("Invoice", "CreditNote")
PAYMENT_METHODS = frozenset({"Other", "Visa", "Bancontact", "Contant", "Wired", "Online", "Domiciliation",
                             "PrivateAccount"})

Row = Mapping[str, Any]


@dataclass(frozen=True)
class Rejection:
    code: str
    reasons: tuple[str, ...]

    @property
    def message(self) -> str:
        return "; ".join(self.reasons)


def validate(row: Row, lines: Sequence[Row]) -> Rejection | None:
    """Every reason this row cannot become a Billit order, or None when it can."""
    reasons: list[str] = []
    order_type = row.get("order_type")
    if order_type not in ORDER_TYPES:
        reasons.append(f"order_type must be one of {', '.join(ORDER_TYPES)}, not {order_type!r}")
    for column in ("order_date", "expiry_date"):
        if not isinstance(row.get(column), date):
            reasons.append(f"{column} is required")
    if isinstance(row.get("order_date"), date) and isinstance(row.get("expiry_date"), date) and (
        row["expiry_date"] < row["order_date"]
    ):
        reasons.append("expiry_date is before order_date")
    if not _text(row.get("customer_name")):
        reasons.append("customer_name is required")
    currency = _text(row.get("currency")) or ""
    if len(currency) != 3 or not currency.isalpha():
        reasons.append(f"currency must be an ISO 4217 code, not {currency!r}")
    if row.get("payment_method") and row["payment_method"] not in PAYMENT_METHODS:
        reasons.append(f"payment_method {row['payment_method']!r} is not one of Billit's")
    if order_type == "CreditNote" and not _text(row.get("about_invoice_number")):
        reasons.append("a credit note needs about_invoice_number (the credited invoice's number in Billit)")
    if row.get("ventilation_code") and str(row["ventilation_code"]) not in SALES_VENTILATION_CODES:
        reasons.append(f"unknown ventilation_code {row['ventilation_code']!r}")
    reasons += _identifier_reasons(row)
    if not lines:
        reasons.append("no lines in outbound_invoice_lines")
    total = Decimal(0)
    for line in lines:
        number = line.get("line_number")
        if not _text(line.get("description")):
            reasons.append(f"line {number}: description is required")
        quantity, price, rate = line.get("quantity"), line.get("unit_price_excl"), line.get("vat_percentage")
        if not isinstance(quantity, Decimal) or quantity <= 0:
            reasons.append(f"line {number}: quantity must be positive (a discount is a negative unit price)")
        if not isinstance(price, Decimal):
            reasons.append(f"line {number}: unit_price_excl is required")
        if not isinstance(rate, Decimal) or rate not in BELGIAN_VAT_RATES:
            reasons.append(f"line {number}: VAT % {rate} is not allowed in Belgium (0, 6, 12 or 21)")
        code = line.get("ventilation_code")
        if code and str(code) not in SALES_VENTILATION_CODES:
            reasons.append(f"line {number}: unknown ventilation_code {code!r}")
        if isinstance(quantity, Decimal) and isinstance(price, Decimal) and isinstance(rate, Decimal):
            total += quantity * price * (1 + rate / 100)
    if lines and total <= 0:
        reasons.append("the document total must be positive (Billit refuses negative totals; use a credit note)")
    return Rejection("LocalValidation", tuple(reasons)) if reasons else None


def _identifier_reasons(row: Row) -> list[str]:
    reasons = []
    country = _text(row.get("customer_country_code")) or "BE"
    checks = (
        ("customer_vat_number", lambda value: normalise_vat_number(value, country_hint=country)),
        ("customer_enterprise_number", lambda value: normalise_identifier("CBE", value, country_hint=country)),
        ("customer_gln", lambda value: normalise_identifier("GLN", value)),
    )
    for column, normalise in checks:
        value = _text(row.get(column))
        if value and not (identifier := normalise(value)).is_valid:
            reasons.append(f"{column} {value!r} is invalid: {identifier.reason}")
    return reasons


def order_payload(row: Row, lines: Sequence[Row]) -> dict[str, Any]:
    """The POST /v1/orders body (billit-api.md §6.2); ExternalProviderID is the row's external_id."""
    customer: dict[str, Any] = {"Name": row["customer_name"], "PartyType": "Customer"}
    country = _text(row.get("customer_country_code")) or "BE"
    if vat := _text(row.get("customer_vat_number")):
        customer["VATNumber"] = normalise_vat_number(vat, country_hint=country).value
    identifiers = []
    if enterprise := _text(row.get("customer_enterprise_number")):
        identifiers.append({"IdentifierType": "CBE", "Identifier": normalise_identifier("CBE", enterprise).value})
    if gln := _text(row.get("customer_gln")):
        identifiers.append({"IdentifierType": "GLN", "Identifier": normalise_identifier("GLN", gln).value})
    if identifiers:
        customer["Identifiers"] = identifiers
    for column, key in (("customer_email", "Email"), ("customer_nr", "Nr"), ("customer_language", "Language")):
        if value := _text(row.get(column)):
            customer[key] = value
    address = {
        key: value for column, key in (
            ("customer_street", "Street"), ("customer_street_number", "StreetNumber"), ("customer_box", "Box"),
            ("customer_zipcode", "Zipcode"), ("customer_city", "City"),
        ) if (value := _text(row.get(column)))
    }
    if address:
        customer["Addresses"] = [{"AddressType": "InvoiceAddress", "Name": row["customer_name"], **address,
                                  "CountryCode": country}]
    customer["CountryCode"] = country

    body: dict[str, Any] = {
        "OrderType": row["order_type"], "OrderDirection": "Income", "OrderDate": row["order_date"],
        "ExpiryDate": row["expiry_date"], "Currency": row.get("currency") or "EUR",
        "ExternalProviderID": row["external_id"], "Customer": customer,
        "OrderLines": [_line_payload(line) for line in sorted(lines, key=lambda line: line["line_number"])],
    }
    for column, key in (
        ("order_number", "OrderNumber"), ("delivery_date", "DeliveryDate"), ("reference", "Reference"),
        ("order_title", "OrderTitle"), ("comments", "Comments"), ("payment_reference", "PaymentReference"),
        ("payment_method", "PaymentMethod"), ("about_invoice_number", "AboutInvoiceNumber"),
        ("ventilation_code", "VentilationCode"),
    ):
        value = row.get(column)
        if value is not None and value != "":
            body[key] = value
    return body


def _line_payload(line: Row) -> dict[str, Any]:
    body = {
        "Quantity": line["quantity"], "UnitPriceExcl": line["unit_price_excl"],
        "Description": line["description"], "VATPercentage": line["vat_percentage"],
    }
    for column, key in (("description_extended", "DescriptionExtended"), ("reference", "Reference"),
                        ("ventilation_code", "VentilationCode")):
        if value := _text(line.get(column)):
            body[key] = value
    return body


def idempotency_key(payload: Mapping[str, Any]) -> str:
    """Stable per content: "bp" + 40 hex digits of SHA-256 over the canonical POST body (Billit: alphanumeric)."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=_canonical)
    return "bp" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:40]


def _canonical(value: Any) -> str:
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"cannot hash {type(value).__name__}")


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None
