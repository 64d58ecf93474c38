"""Outbound rows -> Billit orders (pure): validation, the POST body and the idempotency key.

A row that cannot succeed is rejected here, with every reason at once, and never sent to Billit. The
idempotency key is a hash of the row's content: the same row always sends the same key, and a row edited before
Billit has an order for it gets a new one (the push looks Billit up by ExternalProviderID before creating any
row it attempted before, so an edit after a lost answer cannot create a second order).

`validate` never raises: a value of any type (a NUMERIC read back as `Decimal('NaN')`, `Decimal('Infinity')` or a
float, text where a date belongs) is a reason, so one bad row is rejected alone and the rest of the batch goes on.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from tasks.normalise.fields import MONEY, PERCENT, QUANTITY, Numeric
from tasks.normalise.identifiers import normalise_identifier, normalise_vat_number
from tasks.normalise.vat import SALES_VENTILATION_CODES

#: The code of a row rejected by the push's own checks, before any request.
LOCAL_VALIDATION = "LocalValidation"
# docs/reference/billit-api.md#creating-orders: Billit refuses other rates for a Belgian company
# (InvalidVAtPercentageForTaxCountry).
BELGIAN_VAT_RATES = frozenset({Decimal(0), Decimal(6), Decimal(12), Decimal(21)})
ORDER_TYPES = ("Invoice", "CreditNote")
PAYMENT_METHODS = frozenset(
    {"Other", "Visa", "Bancontact", "Contant", "Wired", "Online", "Domiciliation", "PrivateAccount"}
)

# ISO 4217 currencies in use (list one as of 2025, without funds, precious metals and test codes such as XAU or
# XTS; HRK, ANG, SLL and ZWL are withdrawn). Billit's Currency is the ISO code
# (docs/reference/billit-api.md#order-body).
_CURRENCY_CODES = """
    AED AFN ALL AMD AOA ARS AUD AWG AZN BAM BBD BDT BHD BIF BMD BND BOB BRL BSD BTN BWP BYN BZD CAD CDF CHF CLP CNY
    COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS
    INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP
    MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR
    SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD UYU UZS VED VES VND
    VUV WST XAF XCD XCG XOF XPF YER ZAR ZMW ZWG
"""
CURRENCIES = frozenset(_CURRENCY_CODES.split())
# ISO 3166-1 alpha-2, all 249 officially assigned codes. Greece is GR (EL is only its VAT prefix).
_COUNTRY_CODES = """
    AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ CA
    CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA
    GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP
    KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS
    MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS
    RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW
    TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW
"""
COUNTRIES = frozenset(_COUNTRY_CODES.split())
# One e-mail address: no spaces, one @, a domain of at least two dot-separated labels (docs/warehouse.md). Several
# are separated by `;`. Deliberately simple: it catches typos and lists, not every RFC 5322 corner.
EMAIL = re.compile(r"[^@\s;,<>]+@[^@\s;,<>.]+(?:\.[^@\s;,<>.]+)+")
# The line columns' limits, as the loader and the inbound orders hold them (tasks/normalise/orders.py).
_LINE_AMOUNTS = ("Quantity", "UnitPriceExcl", "VATPercentage")
LINE_NUMBERS: dict[str, Numeric] = {"quantity": QUANTITY, "unit_price_excl": QUANTITY, "vat_percentage": PERCENT}
# Billit creates an order of any size, but the warehouse holds amounts below MONEY.below: the sync could never load
# such an order back (it would stay pending for good), so the push refuses it first.
_HELD = f" (the warehouse holds amounts below {MONEY.below:,.0f})"

Row = Mapping[str, Any]


@dataclass(frozen=True)
class Rejection:
    code: str
    reasons: tuple[str, ...]

    @property
    def message(self) -> str:
        return "; ".join(self.reasons)


def validate(row: Row, lines: Sequence[Row], *, quantity_decimals: int = 2) -> Rejection | None:
    """Every reason this row cannot become a Billit order, or None when it can (never raises); a quantity with more
    decimals than the company's Billit keeps (`quantity_decimals`) is one: Billit would drop them, and the totals."""
    try:
        reasons = _reasons(row, lines, quantity_decimals)
    except Exception as exc:  # noqa: BLE001 - a value no check foresaw rejects its row, never the batch
        reasons = [f"cannot be checked: {type(exc).__name__}: {exc}"]
    return Rejection(LOCAL_VALIDATION, tuple(reasons)) if reasons else None


def _reasons(row: Row, lines: Sequence[Row], quantity_decimals: int) -> list[str]:
    reasons: list[str] = []
    external_id = row.get("external_id")
    if not isinstance(external_id, str) or not external_id.strip():
        reasons.append("external_id is empty")
    elif external_id != external_id.strip():
        reasons.append(
            f"external_id {external_id!r} has spaces around it (Billit ignores them when it matches "
            "ExternalProviderID, so it would not tell it from the id without them)"
        )
    order_type = row.get("order_type")
    if order_type not in ORDER_TYPES:
        reasons.append(f"order_type must be one of {', '.join(ORDER_TYPES)}, not {order_type!r}")
    for column in ("order_date", "expiry_date"):
        if not isinstance(row.get(column), date):
            reasons.append(f"{column} is required")
    if (
        isinstance(row.get("order_date"), date)
        and isinstance(row.get("expiry_date"), date)
        and (row["expiry_date"] < row["order_date"])
    ):
        reasons.append("expiry_date is before order_date")
    if not _text(row.get("customer_name")):
        reasons.append("customer_name is required")
    currency = row.get("currency")
    if currency not in CURRENCIES:
        reasons.append(f"currency must be an ISO 4217 code in use (EUR, USD, ...), not {currency!r}")
    country = row.get("customer_country_code")
    if country not in (None, "") and country not in COUNTRIES:  # empty: BE, as the payload sends it
        hint = " (Greece is GR; EL is its VAT prefix)" if str(country).strip().upper() == "EL" else ""
        reasons.append(f"customer_country_code must be an ISO 3166-1 alpha-2 code in capitals, not {country!r}{hint}")
    reasons += _email_reasons(row.get("customer_email"))
    if row.get("payment_method") and str(row["payment_method"]) not in PAYMENT_METHODS:
        reasons.append(f"payment_method {row['payment_method']!r} is not one of Billit's")
    if order_type == "CreditNote" and not _text(row.get("about_invoice_number")):
        reasons.append("a credit note needs about_invoice_number (the credited invoice's number in Billit)")
    if row.get("ventilation_code") and str(row["ventilation_code"]) not in SALES_VENTILATION_CODES:
        reasons.append(f"unknown ventilation_code {row['ventilation_code']!r}")
    reasons += _identifier_reasons(row)
    if not lines:
        reasons.append("no lines in outbound_invoice_lines")
    total, counted = Decimal(0), True
    for line in lines:
        number = line.get("line_number")
        if not _text(line.get("description")):
            reasons.append(f"line {number}: description is required")
        values = {}
        for column, kind in LINE_NUMBERS.items():
            value, problem = _number(line.get(column), kind)
            if problem:
                reasons.append(f"line {number}: {column} {problem}")
            values[column] = value
        quantity, price, rate = values["quantity"], values["unit_price_excl"], values["vat_percentage"]
        if quantity is not None and quantity <= 0:
            reasons.append(f"line {number}: quantity must be positive (a discount is a negative unit price)")
        if quantity is not None and quantity != round(quantity, quantity_decimals):
            reasons.append(
                f"line {number}: quantity {quantity.normalize()} has more decimals than the {quantity_decimals} "
                "Billit keeps (BILLIT_QUANTITY_DECIMALS: 5 where the company's settings allow it)"
            )
        if rate is not None and rate not in BELGIAN_VAT_RATES:
            reasons.append(f"line {number}: VAT % {rate} is not allowed in Belgium (0, 6, 12 or 21)")
        code = line.get("ventilation_code")
        if code and str(code) not in SALES_VENTILATION_CODES:
            reasons.append(f"line {number}: unknown ventilation_code {code!r}")
        if quantity is not None and price is not None and rate is not None:
            amount = quantity * price
            with_vat = amount * (1 + rate / 100)
            if abs(amount) >= MONEY.below:
                reasons.append(f"line {number}: its amount {_money(amount)} is out of range{_HELD}")
            elif abs(with_vat) >= MONEY.below:
                reasons.append(f"line {number}: its amount {_money(with_vat)} with VAT is out of range{_HELD}")
            total += with_vat
        else:
            counted = False
    if lines and counted and total >= MONEY.below:
        reasons.append(f"the document total {_money(total)} is out of range{_HELD}")
    elif lines and counted and total <= 0:
        reasons.append(
            f"the document total is {_money(total)} and must be positive (Billit keeps an order's total positive: "
            "for a negative one, create a credit note)"
        )
    return reasons


def _money(amount: Decimal) -> str:
    return f"{amount.quantize(MONEY.step):,}"


def _number(value: Any, kind: Numeric) -> tuple[Decimal | None, str | None]:
    """`value` as a finite Decimal within the column's limit, or why not (a float is read by its shortest text)."""
    if value is None:
        return None, "is required"
    if isinstance(value, float) and math.isfinite(value):
        value = Decimal(repr(value))
    elif isinstance(value, int) and not isinstance(value, bool):
        value = Decimal(value)
    if not isinstance(value, Decimal):
        return None, f"is not a number ({value!r})"
    if not value.is_finite():
        return None, f"is not a finite number ({value})"
    if abs(value) >= kind.below:
        return None, f"{value} is out of range (below {kind.below:,.0f})"
    return value, None


def _email_reasons(value: Any) -> list[str]:
    if value is None or value == "":
        return []
    addresses = [address.strip() for address in str(value).strip().split(";")]
    if all(EMAIL.fullmatch(address) for address in addresses):
        return []
    return [
        f"customer_email {str(value)[:80]!r} is not one e-mail address or several separated by ';' "
        "(name@example.com;other@example.com)"
    ]


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
            shown = value if len(value) <= 80 else f"{value[:80]}…"  # a 6,000-character value filled the summary
            reasons.append(f"{column} {shown!r} is invalid: {identifier.reason}")
    return reasons


def order_payload(row: Row, lines: Sequence[Row]) -> dict[str, Any]:
    """The POST /v1/orders body (docs/reference/billit-api.md#order-body); ExternalProviderID is the row's
    external_id."""
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
        key: value
        for column, key in (
            ("customer_street", "Street"),
            ("customer_street_number", "StreetNumber"),
            ("customer_box", "Box"),
            ("customer_zipcode", "Zipcode"),
            ("customer_city", "City"),
        )
        if (value := _text(row.get(column)))
    }
    if address:
        customer["Addresses"] = [
            {"AddressType": "InvoiceAddress", "Name": row["customer_name"], **address, "CountryCode": country}
        ]
    customer["CountryCode"] = country

    body: dict[str, Any] = {
        "OrderType": row["order_type"],
        "OrderDirection": "Income",
        "OrderDate": row["order_date"],
        "ExpiryDate": row["expiry_date"],
        "Currency": row.get("currency") or "EUR",
        "ExternalProviderID": row["external_id"],
        "Customer": customer,
        "OrderLines": [_line_payload(line) for line in sorted(lines, key=lambda line: line["line_number"])],
    }
    for column, key in (
        ("order_number", "OrderNumber"),
        ("delivery_date", "DeliveryDate"),
        ("reference", "Reference"),
        ("order_title", "OrderTitle"),
        ("comments", "Comments"),
        ("payment_reference", "PaymentReference"),
        ("payment_method", "PaymentMethod"),
        ("about_invoice_number", "AboutInvoiceNumber"),
        ("ventilation_code", "VentilationCode"),
    ):
        value = row.get(column)
        if value is not None and value != "":
            body[key] = value
    return body


def lines_differing(payload: Mapping[str, Any], order: Mapping[str, Any]) -> str | None:
    """How an order Billit holds differs from what `payload` would create, in its lines' amounts (quantity, unit
    price, VAT %, as numbers, in any order), or None: the order of an earlier attempt, made from values that have
    changed since. An order without `OrderLines` cannot be compared, and is taken as it is."""
    if not isinstance(held := order.get("OrderLines"), list):
        return None
    in_row, in_billit = _amounts(payload["OrderLines"]), _amounts(held)
    if in_row == in_billit:
        return None
    return f"in Billit {_listed(in_billit - in_row)}; in the row {_listed(in_row - in_billit)}"


def _amounts(lines: Sequence[Mapping[str, Any]]) -> Counter[tuple[Decimal | None, ...]]:
    return Counter(
        tuple(None if line.get(key) is None else Decimal(str(line[key])) for key in _LINE_AMOUNTS) for line in lines
    )


def _listed(amounts: Counter[tuple[Decimal | None, ...]]) -> str:
    shown = [
        f"{_plain(quantity)} x {_plain(price)} at {_plain(rate)} %"
        for quantity, price, rate in sorted(amounts.elements(), key=str)
    ]
    return ", ".join(shown[:3]) + (f" and {len(shown) - 3} more" if len(shown) > 3 else "") if shown else "nothing"


def _plain(value: Decimal | None) -> str:
    return "?" if value is None else format(value.normalize(), "f")


def _line_payload(line: Row) -> dict[str, Any]:
    body = {
        "Quantity": line["quantity"],
        "UnitPriceExcl": line["unit_price_excl"],
        "Description": line["description"],
        "VATPercentage": line["vat_percentage"],
    }
    for column, key in (
        ("description_extended", "DescriptionExtended"),
        ("reference", "Reference"),
        ("ventilation_code", "VentilationCode"),
    ):
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
