"""Order commands of the sandbox: create (``POST /v1/orders``), patch and the party matching they need.

Creation follows billit-api.md §6.1–§6.3 and the checklist §14 item 3: required fields are validated and all
problems reported at once; VAT rates are checked against the company's tax country (BE: 0/6/12/21 →
``InvalidVAtPercentageForTaxCountry_0_``); ventilation codes must exist for the direction (§9);
``AboutInvoiceNumber`` must name an existing invoice; totals are recomputed with ``calc`` (Billit never
trusts posted totals, §10.4). The new order gets Billit's defaults: ``OrderStatus`` ``ToSend`` (Income) or
``ToPay`` (Cost), ``ExternalProvider`` ``APIFeed``, an auto ``OrderNumber`` and OGM ``PaymentReference`` when
missing, a generated PDF and the posted JSON as attachment (§4.2).

PATCH only accepts the documented patchable properties (§6.7). Billit's behaviour for other keys is [U];
the sandbox rejects them with 400 ``GenericError`` so a client that relies on an unsupported PATCH fails
loudly in tests instead of silently doing nothing.
"""

from __future__ import annotations

import base64
import binascii
import copy
import re
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from connectors.billit.sandbox.calc import compute_order_totals, ogm_reference, round_money
from connectors.billit.sandbox.errors import ApiError
from connectors.billit.sandbox.identity import order_number
from connectors.billit.sandbox.inputs import (
    ORDER_SCHEMA,
    BindingError,
    bind,
    parse_datetime,
    to_bool,
)
from connectors.billit.sandbox.peppol import ID_SCHEMES
from connectors.billit.sandbox.store import Order, Sandbox

__all__ = ["PATCHABLE", "create_order", "patch_order"]

ORDER_TYPES = ("Invoice", "CreditNote", "Offer", "DeliveryNote", "OrderForm")
DIRECTIONS = ("Income", "Cost")
PAYMENT_METHODS = ("Other", "Visa", "Bancontact", "Contant", "Wired", "Online", "Domiciliation", "PrivateAccount")
APPROVAL_STATUSES = ("Pending", "Approved", "Rejected", "ToApproveByMe")
# VAT rates allowed per tax country (§14 item 3); the own companies are Belgian.
ALLOWED_VAT_RATES: dict[str, frozenset[Decimal]] = {
    "BE": frozenset({Decimal(0), Decimal(6), Decimal(12), Decimal(21)}),
}
# Ventilation codes per direction (§9.1 sales, §9.2 purchases and self-billing).
VENTILATION_CODES: dict[str, frozenset[str]] = {
    "Income": frozenset({"1", "2", "3", "4", "21", "22", "24", "51", "55", "70", "101", "102", "104"}),
    "Cost": frozenset({"1", "21", "22", "51", "55", "70", "102", "111"}),
}
_ATTACHMENT_EXTENSIONS = (".pdf", ".xls", ".xlsx", ".csv")

# §6.7: the only properties PATCH /v1/orders/{id} may change, with their value kinds.
PATCHABLE: dict[str, str] = {
    "Paid": "bool",
    "PaidDate": "dt",
    "IsSent": "bool",
    "ApprovalStatus": "approval",
    "AccountCode": "account",
    "InternalInfo": "str",
    "Invoiced": "bool",
    "AccountantVerificationNeeded": "bool",
    "PaymentMethod": "payment",
}
_PATCHABLE_LOWER = {name.lower(): name for name in PATCHABLE}

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
    errors = _validate(sandbox, company_id, data)
    if errors:
        raise ApiError(400, errors)
    direction = data["OrderDirection"]
    now = sandbox.now()
    counter_role = "Customer" if direction == "Income" else "Supplier"
    counterparty = resolve_party(
        sandbox, company_id, data.get(counter_role), data.get(f"{counter_role}ID"), counter_role, now
    )
    own = _own_party(sandbox, company_id, "Supplier" if direction == "Income" else "Customer")

    lines_in = [_line_input(line) for line in data["OrderLines"]]
    header_code = data.get("VentilationCode")
    discount = data.get("PaymentDiscountPercentage", Decimal(0))
    lines_out, vat_groups, totals = compute_order_totals(
        lines_in, header_ventilation_code=header_code, direction=direction, payment_discount_percentage=discount
    )
    if totals["TotalIncl"] < 0:
        # §6.2 "Negative line": positive quantity, negative price, but the total must stay positive.
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
    order["OrderDate"] = data["OrderDate"]
    order["ExpiryDate"] = data["ExpiryDate"]
    order["OrderType"] = order_type
    if "OrderSubType" in data:
        order["OrderSubType"] = data["OrderSubType"]
    order["LastModified"] = now
    order["Created"] = now
    order["OrderDirection"] = direction
    order["OrderLines"] = [_ordered_line(sandbox, line) for line in lines_out]
    _copy_if_present(data, order, "OrderTitle")
    order["PaymentDiscountPercentage"] = discount.quantize(Q2)
    if "PaymentReductionDays" in data:
        order["PaymentReductionDays"] = data["PaymentReductionDays"]
        order["PaymentDiscountDate"] = data["OrderDate"] + timedelta(days=data["PaymentReductionDays"])
    # The cash discount is rounded per VAT group, and its VAT already left TotalVAT: paying early means paying
    # TotalIncl - PaymentDiscountAmount (docs/reference/billit-api.md#cash-discount).
    order["PaymentDiscountAmount"] = sum((group["FinancialReductionAmount"] for group in vat_groups), Decimal("0.00"))
    order["VatGroups"] = vat_groups
    order["VentilationCode"] = header_code or _derived_header_code(direction, lines_out)
    order["TotalExcl"] = totals["TotalExcl"]
    order["TotalIncl"] = totals["TotalIncl"]
    order["TotalVAT"] = totals["TotalVAT"]
    _copy_if_present(data, order, "Reference")
    for key in _PASS_THROUGH:
        _copy_if_present(data, order, key)
    order["Tags"] = list(data.get("Tags", []))
    order["PaymentReference"] = data.get("PaymentReference") or ogm_reference(_ogm_digits(company_id, order_id))
    _copy_if_present(data, order, "AboutInvoiceNumber")
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
    order["ToPay"] = _to_pay(data, totals["TotalIncl"], paid, order_type)
    order["OrderStatus"] = _initial_status(direction, paid)
    _copy_if_present(data, order, "ApprovalStatus")
    order["FXRateToForeign"] = data.get("FXRateToForeign", Decimal(1)).quantize(Q5)
    _copy_if_present(data, order, "PaymentMethod")
    order["DeliveryDate"] = data.get("DeliveryDate", data["OrderDate"])
    order["PaymentLinks"] = []
    order["AccountantVerificationNeeded"] = bool(data.get("AccountantVerificationNeeded", False))
    order["ExportedToConnector"] = False
    order["CurrentDocumentDeliveryDetails"] = {"IsDocumentDelivered": False}
    order["Messages"] = []
    sandbox.insert_order(order)
    sandbox.counters["orders_created"] += 1
    return order


def _validate(sandbox: Sandbox, company_id: int, data: dict[str, Any]) -> list[tuple[str, str | None]]:
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
    # Sales show the code of the highest-rate line ("4" for 21 %); purchases "1" (§9).
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
        return Decimal("0.00")  # §6.3: a credit note about a Billit invoice is always fully prepaid
    if "ToPay" in data:
        return round_money(data["ToPay"])  # §6.2 "Prepaid": partially paid documents post ToPay
    return total


def _initial_status(direction: str, paid: bool) -> str:
    if direction == "Income":
        return "ToSend"  # §5.4: a new API sales document waits to be sent, paid or not
    return "Paid" if paid else "ToPay"


def _ogm_digits(company_id: int, order_id: int) -> int:
    return (company_id % 1000) * 10**7 + order_id % 10**7


def _auto_number(
    sandbox: Sandbox, company_id: int, direction: str, order_type: str, order_date: datetime
) -> str | None:
    if direction != "Income":
        return None  # a purchase carries the supplier's number; Billit only numbers sales (§4.2)
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
    while sandbox.number_in_use(company_id, order_number(company_id, order_type, year, n)):
        n += 1
    sandbox.next_numbers[key] = n + 1
    return order_number(company_id, order_type, year, n)


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
        # Billit renders its own PDF when none is supplied (§6.1): a stub generated on first download.
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
# Parties


_PARTY_KEY_ORDER = (
    "PartyID", "Nr", "Name", "CommercialName", "Addresses", "Street", "StreetNumber", "Box", "Zipcode", "City",
    "CountryCode", "IBAN", "BIC", "Mobile", "Phone", "Fax", "Email", "Website", "Contact", "ContactFirstName",
    "ContactLastName", "VATNumber", "PeppolIdentifier", "RPR", "LastModified", "Created", "PartyType",
    "VATLiable", "Language", "VentilationCode", "ExternalProviderID", "ExternalProviderTC", "CustomFields",
    "BankAccounts", "Users", "DefaultPaymentMethodTC", "DomiciliationMandateID", "DomiciliationMandateSigningDate",
    "DefaultPaid", "DisplayName", "DefaultExpiryOffset", "GLDefaultExpiryOffset", "VATDeductable",
    "DefaultReductionPercentage", "Identifiers", "SmallEnterprise", "DefaultCurrencyTC", "SendUBL", "SendPDF",
)  # fmt: skip
_FLAT_ADDRESS = ("Street", "StreetNumber", "Box", "Zipcode", "City", "CountryCode")
_SUMMARY_KEYS = (
    "PartyID", "Nr", "Name", "Addresses", "Street", "StreetNumber", "Box", "Zipcode", "City", "CountryCode",
    "VATNumber", "PartyType", "VATLiable", "Language", "DisplayName", "VATDeductable", "Identifiers",
)  # fmt: skip


def _vat_key(vat: str | None) -> str:
    return re.sub(r"[^0-9A-Za-z]", "", vat or "").upper()


def resolve_party(
    sandbox: Sandbox,
    company_id: int,
    given: dict[str, Any] | None,
    party_id: int | None,
    role: str,
    now: datetime,
) -> dict[str, Any]:
    """Find or create the counterparty of a posted order (§4.3 "Party matching on POST /v1/orders").

    With an id: that party (401 when it belongs to another company, 404 when unknown). Without: match an
    existing party by VAT number, then Email, then customer ``Nr``; Billit overwrites a matched party with the
    posted data. Otherwise a new party is created.
    """
    party_type = "Customer" if role == "Customer" else "Supplier"
    known = sandbox.parties[company_id]
    given = dict(given or {})
    wanted_id = party_id if party_id is not None else given.pop("PartyID", None)
    existing: dict[str, Any] | None = None
    if wanted_id is not None:
        existing = known.get(wanted_id)
        if existing is None:
            if wanted_id in sandbox.party_company or wanted_id in sandbox.companies:
                raise ApiError(401)
            raise ApiError(404, [("GenericError", f"{role} {wanted_id} was not found.")])
    else:
        existing = _match_party(known, given, party_type)
    if existing is not None and not given:
        return copy.deepcopy(existing)
    party = build_party(given, existing, existing["PartyID"] if existing else sandbox.next_party_id(), party_type, now)
    known[party["PartyID"]] = party
    sandbox.party_company.setdefault(party["PartyID"], company_id)
    return copy.deepcopy(party)


def _match_party(known: dict[int, dict[str, Any]], given: dict[str, Any], party_type: str) -> dict[str, Any] | None:
    vat = _vat_key(given.get("VATNumber"))
    email = (given.get("Email") or "").strip().lower()
    nr = given.get("Nr")
    candidates = [party for party in known.values() if party.get("PartyType", party_type) == party_type]
    if vat:
        for party in candidates:
            if _vat_key(party.get("VATNumber")) == vat:
                return party
        return None  # a VAT number that matches nobody means a new party
    if email:
        for party in candidates:
            if (party.get("Email") or "").strip().lower() == email:
                return party
    if nr:
        for party in candidates:
            if party.get("Nr") == nr:
                return party
    return None


def build_party(
    given: dict[str, Any], existing: dict[str, Any] | None, party_id: int, party_type: str, now: datetime
) -> dict[str, Any]:
    """A full Party in Billit's output form from posted fields merged over an existing party."""
    merged: dict[str, Any] = copy.deepcopy(existing) if existing else {}
    merged.update({key: value for key, value in given.items() if value not in (None, "")})
    merged["PartyID"] = party_id
    merged["PartyType"] = party_type
    addresses = [dict(address) for address in merged.get("Addresses", [])]
    invoice = next((a for a in addresses if a.get("AddressType") == "InvoiceAddress"), None)
    flat = {key: merged[key] for key in _FLAT_ADDRESS if merged.get(key)}
    if invoice is None and addresses:
        invoice = addresses[0]
        invoice.setdefault("AddressType", "InvoiceAddress")
    if invoice is None and flat:
        invoice = {"AddressType": "InvoiceAddress", "Name": merged.get("Name"), **flat}
        addresses.insert(0, invoice)
    if invoice is not None:
        for key in _FLAT_ADDRESS:
            if invoice.get(key) and not given.get(key):
                merged[key] = invoice[key]
        # §4.3.1: without a DeliveryAddress Billit uses the invoice address.
        if not any(a.get("AddressType") == "DeliveryAddress" for a in addresses):
            addresses.append({**invoice, "AddressType": "DeliveryAddress"})
    merged["Addresses"] = [{k: v for k, v in a.items() if v not in (None, "")} for a in addresses]
    merged["Identifiers"] = [_identifier_out(entry) for entry in merged.get("Identifiers", [])]
    merged.setdefault("Created", now)
    merged["LastModified"] = now
    merged.setdefault("VATLiable", bool(merged.get("VATNumber")))
    merged.setdefault("VATDeductable", bool(merged.get("VATNumber")))
    merged.setdefault("VentilationCode", "4" if party_type == "Customer" else "1")
    merged.setdefault("CustomFields", [])
    merged.setdefault("BankAccounts", [])
    merged.setdefault("Users", [])
    merged.setdefault("DefaultPaid", False)
    merged.setdefault("DisplayName", merged.get("Name", ""))
    merged.setdefault("DefaultExpiryOffset", 30)
    merged.setdefault("GLDefaultExpiryOffset", 30)
    merged.setdefault("DefaultReductionPercentage", Decimal("0.00"))
    merged.setdefault("SmallEnterprise", False)
    merged.setdefault("DefaultCurrencyTC", "EUR")
    merged.setdefault("SendUBL", True)
    merged.setdefault("SendPDF", True)
    ordered = {key: merged[key] for key in _PARTY_KEY_ORDER if key in merged}
    ordered.update({key: value for key, value in merged.items() if key not in ordered})
    return ordered


def _identifier_out(entry: dict[str, Any]) -> dict[str, Any]:
    # On output Billit adds SchemeID and Preferred (§4.3.2).
    out = dict(entry)
    kind = str(out.get("IdentifierType", "")).upper()
    if "SchemeID" not in out and kind in ID_SCHEMES:
        out["SchemeID"] = ID_SCHEMES[kind]
    out.setdefault("Preferred", False)
    return out


def counter_party_summary(party: dict[str, Any]) -> dict[str, Any]:
    """The ``CounterParty`` form of a full party (§4.7): identity, invoice address, VAT data."""
    summary: dict[str, Any] = {}
    for key in _SUMMARY_KEYS:
        if key not in party:
            continue
        if key == "Addresses":
            invoice = [a for a in party["Addresses"] if a.get("AddressType") == "InvoiceAddress"][:1]
            summary[key] = copy.deepcopy(invoice)
        elif key == "Identifiers":
            summary[key] = copy.deepcopy(party[key])
        else:
            summary[key] = party[key]
    return summary


def _own_party(sandbox: Sandbox, company_id: int, party_type: str) -> dict[str, Any]:
    # Sales: Supplier == self; purchases: Customer == self (§4.2).
    party = copy.deepcopy(sandbox.companies[company_id])
    party["PartyType"] = party_type
    return party


# --------------------------------------------------------------------------------------------------------------
# PATCH /v1/orders/{id}


def patch_order(sandbox: Sandbox, order: Order, body: Any) -> None:
    """Apply a PATCH body of patchable properties (§6.7); anything else → 400 ``GenericError``."""
    if not isinstance(body, dict):
        raise ApiError.generic("The request body must be a JSON object.")
    changes: dict[str, Any] = {}
    rejected = [key for key in body if key.lower() not in _PATCHABLE_LOWER]
    if rejected:
        names = ", ".join(f"'{key}'" for key in rejected)
        raise ApiError.generic(f"The property {names} cannot be patched. Patchable properties: {', '.join(PATCHABLE)}.")
    for key, value in body.items():
        name = _PATCHABLE_LOWER[key.lower()]
        try:
            changes[name] = _patch_value(name, value)
        except BindingError as exc:
            raise ApiError.generic(str(exc)) from None
    for name, value in changes.items():
        if value is None:
            order.pop(name, None)
        else:
            order[name] = value
    if changes.get("Paid") is True:
        order["OrderStatus"] = "Paid"
        order["ToPay"] = Decimal("0.00")
        if "PaidDate" not in order:
            today = sandbox.now()
            order["PaidDate"] = today.replace(hour=0, minute=0, second=0, microsecond=0)
    elif changes.get("Paid") is False and order.get("OrderStatus") == "Paid":
        order["ToPay"] = order.get("TotalIncl", Decimal("0.00"))
        order["OrderStatus"] = "ToPay" if order.get("IsSent") or order.get("OrderDirection") == "Cost" else "ToSend"
        order.pop("PaidDate", None)
    sandbox.counters["orders_patched"] += 1
    sandbox.mark_modified(order, bump=sandbox.patch_bumps_last_modified)


def _patch_value(name: str, value: Any) -> Any:
    if value is None:
        return None
    kind = PATCHABLE[name]
    if kind == "bool":
        return to_bool(value, name)
    if kind == "dt":
        return parse_datetime(value, name)
    if kind == "approval":
        if value not in APPROVAL_STATUSES:
            raise BindingError(f"'{value}' is not a valid ApprovalStatus.")
        return value
    if kind == "payment":
        if value not in PAYMENT_METHODS:
            raise BindingError(f"'{value}' is not a valid PaymentMethod.")
        return value
    if kind == "account":
        # Swagger says int, the patch table says string: accept both, store digits as int.
        if isinstance(value, bool):
            raise BindingError("AccountCode must be a number or a string.")
        if isinstance(value, int | Decimal) or (isinstance(value, str) and value.strip().isdigit()):
            return int(value)
        if isinstance(value, str):
            return value
        raise BindingError("AccountCode must be a number or a string.")
    if not isinstance(value, str):
        raise BindingError(f"Error converting value for '{name}' to type 'System.String'.")
    return value

