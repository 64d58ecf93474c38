"""The parties of a posted order: matching the posted Customer/Supplier with a known party or creating one.

A party matches on its PartyID, else on its VAT number (compared without separators), else on its name
(docs/reference/billit-api.md, docs/reference/billit-api.md#creating-orders); a new party gets the next PartyID. The own
company stands on the other side of every order (Supplier on sales, Customer on purchases,
docs/reference/billit-api.md#order-fields).
"""

from __future__ import annotations

import copy
import re
from datetime import datetime
from decimal import Decimal
from typing import Any

from sandbox.errors import ApiError
from sandbox.peppol import ID_SCHEMES
from sandbox.store import Sandbox

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
    """Find or create the counterparty of a posted order (docs/reference/billit-api.md#parties "Party matching on POST
    /v1/orders").

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
        # docs/reference/billit-api.md#parties: without a DeliveryAddress Billit uses the invoice address.
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
    # On output Billit adds SchemeID and Preferred (docs/reference/billit-api.md#party-identifiers).
    out = dict(entry)
    kind = str(out.get("IdentifierType", "")).upper()
    if "SchemeID" not in out and kind in ID_SCHEMES:
        out["SchemeID"] = ID_SCHEMES[kind]
    out.setdefault("Preferred", False)
    return out


def counter_party_summary(party: dict[str, Any]) -> dict[str, Any]:
    """The ``CounterParty`` form of a full party (docs/reference/billit-api.md#sales-invoice-example): identity, invoice
    address, VAT data."""
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


def own_party(sandbox: Sandbox, company_id: int, party_type: str) -> dict[str, Any]:
    # Sales: Supplier == self; purchases: Customer == self (docs/reference/billit-api.md#order-fields).
    party = copy.deepcopy(sandbox.companies[company_id])
    party["PartyType"] = party_type
    return party
