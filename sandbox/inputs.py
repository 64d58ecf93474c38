"""Request-body binding for the sandbox: case-insensitive keys, typed values, Billit's date formats.

Billit binds JSON with ASP.NET/Newtonsoft, which matches member names case-insensitively (the docs themselves
send ``VatNumber``, ``Streetnumber``, ``box``, ``Transporttype``; clients send ``TransportType``/``OrderIds``,
docs/reference/billit-api.md#serialization) and silently ignores unknown members. This module turns a parsed JSON body
into the storage form: canonical PascalCase keys, ``Decimal`` numbers, naive Brussels-local ``datetime`` values and no
null members. Values that cannot be converted raise :class:`BindingError` (a 400 ``GenericError``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

__all__ = [
    "ADDRESS_SCHEMA",
    "BindingError",
    "FILE_SCHEMA",
    "LINE_SCHEMA",
    "ORDER_SCHEMA",
    "PARTY_SCHEMA",
    "Schema",
    "bind",
    "lookup",
    "parse_body",
    "parse_datetime",
    "to_bool",
    "to_decimal",
]

BRUSSELS = ZoneInfo("Europe/Brussels")

# A schema maps a canonical member name to its kind: "str", "int", "dec", "bool", "dt", "raw" (kept as
# parsed), a nested Schema (object), or a one-element list holding the kind of the items.
Schema = dict[str, Any]


class BindingError(ValueError):
    """A body member could not be converted to its type (ASP.NET model-binding error)."""


ADDRESS_SCHEMA: Schema = {
    name: "str"
    for name in (
        ["AddressType", "Tav", "Name", "Street", "StreetNumber", "Box", "Zipcode", "City", "CountryCode", "Phone"]
    )
}
IDENTIFIER_SCHEMA: Schema = {
    "IdentifierType": "str",
    "Identifier": "str",
    "SchemeID": "str",
    "Preferred": "bool",
    "IdentifierAddress": "str",
}
FILE_SCHEMA: Schema = {"FileID": "str", "FileName": "str", "MimeType": "str", "FileContent": "str"}
PARTY_SCHEMA: Schema = {
    **dict.fromkeys(
        [
            "Nr", "Name", "CommercialName", "DisplayName", "Street", "StreetNumber", "Box", "Zipcode", "City",
            "CountryCode", "IBAN", "BIC", "Mobile", "Phone", "Fax", "Email", "Website", "Contact",
            "ContactFirstName", "ContactLastName", "VATNumber", "PeppolIdentifier", "RPR", "PartyType",
            "Language", "VentilationCode", "ExternalProviderID", "ExternalProviderTC", "DefaultPaymentMethodTC",
            "DomiciliationMandateID", "DefaultTransportTypeTC", "Role", "InternalInfo", "BookCategoryTC",
            "DefaultCurrencyTC", "Regime", "SubRegime", "AccountingCostTypeName",
        ],
        "str",
    ),
    **dict.fromkeys(
        [
            "PartyID", "AccountantCode", "GLAccountCode", "FinancialReductionDaysDefault", "DefaultExpiryOffset",
            "GLDefaultExpiryOffset", "CostCategoryCode",
        ],
        "int",
    ),
    **dict.fromkeys(
        [
            "VATLiable", "VATDeductable", "DefaultPaid", "SmallEnterprise", "AutoSendInvoiceReminders",
            "IsHighRisk", "SendUBL", "SendPDF",
        ],
        "bool",
    ),
    "FinancialReductionPercentageDefault": "dec",
    "DefaultReductionPercentage": "dec",
    "DomiciliationMandateSigningDate": "dt",
    "LastModified": "dt",
    "Created": "dt",
    "Addresses": [ADDRESS_SCHEMA],
    "Identifiers": [IDENTIFIER_SCHEMA],
    "CustomFields": "raw",
    "BankAccounts": "raw",
    "Users": "raw",
}  # fmt: skip
LINE_SCHEMA: Schema = {
    "OrderLineID": "int",
    "Quantity": "dec",
    "UnitPriceExcl": "dec",
    "UnitPriceIncl": "dec",
    "Description": "str",
    "DescriptionExtended": "str",
    "Reference": "str",
    "VATPercentage": "dec",
    "VentilationCode": "str",
    "TotalExcl": "dec",
    "TotalVAT": "dec",
    "TotalIncl": "dec",
    "InclLeading": "bool",
    "ReductionPercentage": "dec",
    "ProductID": "int",
    "Unit": "str",
    "AccountCode": "raw",
    "AnalyticCostBearer": "str",
    "AnalyticCostCenter": "str",
    "ExternalProviderReferences": "raw",
    "CustomFields": "raw",
}  # fmt: skip
ORDER_SCHEMA: Schema = {
    **dict.fromkeys(
        [
            "OrderNumber", "OrderType", "OrderSubType", "OrderDirection", "Journal", "OrderTitle",
            "VentilationCode", "Reference", "PaymentReference", "AboutInvoiceNumber", "ExternalProviderID",
            "ExternalProvider", "ProjectName", "Comments", "Currency", "InternalInfo", "AccountingCostTypeTC",
            "OrderStatus", "ApprovalStatus", "PaymentMethod", "AnalyticCostBearer", "AnalyticCostCenter",
            "PaymentTerms", "IBAN", "BIC", "TaxReportingStatusTC",
        ],
        "str",
    ),
    **dict.fromkeys(
        [
            "OrderID", "CompanyID", "CustomerID", "SupplierID", "CounterPartyID", "PaymentReductionDays",
            "DepartmentID", "ProjectID", "CostCategoryCode", "RemindersSent", "TemplateID", "MessageTemplateID",
            "DaysOverdue",
        ],
        "int",
    ),
    **dict.fromkeys(
        [
            "PaymentDiscountPercentage", "PaymentDiscountAmount", "TotalExcl", "TotalVAT", "TotalIncl",
            "VatDeduction", "MixedUseProfessionalPercentage", "ToPay", "FXRateToForeign",
        ],
        "dec",
    ),
    **{
        name: "bool"
        for name in ["Paid", "IsSent", "Invoiced", "Overdue", "ExportedToConnector", "AccountantVerificationNeeded"]
    },
    **dict.fromkeys(
        [
            "OrderDate", "ExpiryDate", "LastModified", "Created", "PaymentDiscountDate", "PaidDate", "PeriodFrom",
            "PeriodTill", "LastReminder", "DeliveryDate", "TaxPointDate",
        ],
        "dt",
    ),
    "AccountCode": "raw",
    "OrderPDF": FILE_SCHEMA,
    "Attachments": [FILE_SCHEMA],
    "Customer": PARTY_SCHEMA,
    "Supplier": PARTY_SCHEMA,
    "CounterParty": PARTY_SCHEMA,
    "OrderLines": [LINE_SCHEMA],
    "Tags": ["str"],
    "CustomFields": "raw",
    "ExternalProviderReferences": "raw",
    "VatGroups": "raw",
    "Messages": "raw",
    "CurrentDocumentDeliveryDetails": "raw",
    "PaymentLinks": "raw",
    "BookingEntries": "raw",
    "AdditionalDocumentReference": "raw",
    "ContractDocumentReference": "raw",
    "CategoryFieldItems": "raw",
}  # fmt: skip

_LOWER_CACHE: dict[int, dict[str, str]] = {}


def _lowered(schema: Schema) -> dict[str, str]:
    table = _LOWER_CACHE.get(id(schema))
    if table is None:
        table = {name.lower(): name for name in schema}
        _LOWER_CACHE[id(schema)] = table
    return table


def lookup(body: Mapping[str, Any], *names: str) -> Any:
    """The value of the first of ``names`` present in ``body``, matching keys case-insensitively."""
    wanted = [name.lower() for name in names]
    lowered = {key.lower(): value for key, value in body.items()}
    for name in wanted:
        if name in lowered:
            return lowered[name]
    return None


def parse_body(raw: bytes) -> Any:
    """Parse a JSON request body keeping numbers exact (``Decimal``); raises :class:`BindingError`."""
    if not raw.strip():
        return None
    try:
        return json.loads(raw, parse_float=Decimal)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BindingError(f"The request body is not valid JSON: {exc}") from None


def bind(body: Any, schema: Schema, where: str = "") -> dict[str, Any]:
    """Bind a JSON object to ``schema``: canonical keys, typed values, unknown and null members dropped."""
    if not isinstance(body, dict):
        raise BindingError(f"Expected a JSON object{' for ' + where if where else ''}.")
    table = _lowered(schema)
    result: dict[str, Any] = {}
    for key, value in body.items():
        name = table.get(key.lower())
        if name is None or value is None:
            continue
        result[name] = _convert(value, schema[name], f"{where}.{name}" if where else name)
    return result


def _convert(value: Any, kind: Any, where: str) -> Any:
    if isinstance(kind, dict):
        return bind(value, kind, where)
    if isinstance(kind, list):
        if not isinstance(value, list):
            raise BindingError(f"Error converting value for '{where}': expected an array.")
        return [_convert(item, kind[0], f"{where}[{index}]") for index, item in enumerate(value) if item is not None]
    if kind == "raw":
        return value
    if kind == "str":
        if isinstance(value, str):
            return value
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int | Decimal):
            return str(value)
        raise BindingError(f"Error converting value for '{where}' to type 'System.String'.")
    if kind == "int":
        return _to_int(value, where)
    if kind == "dec":
        return to_decimal(value, where)
    if kind == "bool":
        return to_bool(value, where)
    if kind == "dt":
        return parse_datetime(value, where)
    raise AssertionError(f"unknown schema kind {kind!r}")


def _to_int(value: Any, where: str) -> int:
    if isinstance(value, bool):
        raise BindingError(f"Error converting value {value!r} to type 'System.Int32'. Path '{where}'.")
    if isinstance(value, int):
        return value
    if isinstance(value, Decimal) and value == value.to_integral_value():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d+\s*", value):
        return int(value)
    raise BindingError(f"Error converting value {_show(value)} to type 'System.Int32'. Path '{where}'.")


def to_decimal(value: Any, where: str = "") -> Decimal:
    """Newtonsoft-style decimal conversion: JSON numbers and numeric strings, never booleans."""
    if isinstance(value, bool):
        raise BindingError(f"Error converting value {value!r} to type 'System.Decimal'. Path '{where}'.")
    if isinstance(value, Decimal):
        return value
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, str):
        try:
            result = Decimal(value.strip())
        except InvalidOperation:
            pass
        else:
            if result.is_finite():
                return result
    raise BindingError(f"Error converting value {_show(value)} to type 'System.Decimal'. Path '{where}'.")


def to_bool(value: Any, where: str = "") -> bool:
    """Newtonsoft-style boolean conversion (``true``/``false``, also as strings)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise BindingError(f"Error converting value {_show(value)} to type 'System.Boolean'. Path '{where}'.")


_DATETIME = re.compile(
    r"\s*(\d{4})-(\d{1,2})-(\d{1,2})(?:[T ](\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,7}))?)?)?"
    r"\s*(Z|[+-]\d{2}:?\d{2})?\s*"
)


def parse_datetime(value: Any, where: str = "") -> datetime:
    """Parse Billit's accepted date inputs (``2025-09-01`` or ISO ``2025-05-05T11:25:00.4667841+02:00``).

    An offset is converted to Brussels local time, as .NET's ``DateTime`` binding does on a server running in
    that zone; the result is naive (Billit's timestamps carry no zone, docs/reference/billit-api.md#timestamps).
    """
    if isinstance(value, datetime):
        return value
    match = _DATETIME.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise BindingError(f"Could not convert {_show(value)} to DateTime. Path '{where}'.")
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    try:
        result = datetime(  # noqa: DTZ001 - naive Brussels local time, like Billit
            int(year),
            int(month),
            int(day),
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
            int((fraction or "").ljust(6, "0")[:6]),
        )
    except ValueError:
        raise BindingError(f"Could not convert {_show(value)} to DateTime. Path '{where}'.") from None
    if zone:
        if zone == "Z":
            offset = timedelta(0)
        else:
            digits = zone[1:].replace(":", "")
            offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
            offset = -offset if zone[0] == "-" else offset
        result = result.replace(tzinfo=timezone(offset)).astimezone(BRUSSELS).replace(tzinfo=None)
    return result


def _show(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."
