"""The own companies as Party dicts, built from :mod:`sandbox.identity`.

``OWN_COMPANIES`` are the companies as they appear on their own sales (``PartyType`` Supplier); the seed flips
``PartyType`` to Customer where a company appears on its purchases.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from sandbox.identity import COMPANIES, OwnCompany
from sandbox.seed.state import ZERO

__all__ = ["OWN_BY_ID", "OWN_COMPANIES", "own_company_party"]


def own_company_party(own: OwnCompany) -> dict[str, Any]:
    """The Party dict of an own company, as Billit returns it on the company's sales."""
    address: dict[str, Any] = {"Name": own.name.upper(), "Street": own.street, "StreetNumber": own.street_number}
    if own.box:
        address["Box"] = own.box
    address.update({"Zipcode": own.zipcode, "City": own.city, "CountryCode": "BE"})
    flat = {k: v for k, v in address.items() if k != "Name"}
    first, last = own.contact
    account = {"IBAN": own.iban, "BIC": own.bic, "Currency": "EUR", "Verified": True, "Saldo": ZERO}
    return {
        "PartyID": own.party_id,
        "Name": own.name,
        "Addresses": [
            {"AddressType": "InvoiceAddress", **address},
            {"AddressType": "DeliveryAddress", **address},
        ],
        **flat,
        "IBAN": own.iban,
        "BIC": own.bic,
        "Email": own.email,
        "Contact": f"{first} {last}",
        "ContactFirstName": first,
        "ContactLastName": last,
        "VATNumber": own.vat_number,
        "LastModified": own.created + timedelta(days=420, hours=7, seconds=12, microseconds=500_000),
        "Created": own.created,
        "PartyType": "Supplier",
        "VATLiable": True,
        "Language": own.language,
        "VentilationCode": "4",
        "CustomFields": [],
        "BankAccounts": [account],
        "DefaultPaid": False,
        "DisplayName": own.name,
        "FinancialReductionPercentageDefault": Decimal("2.00"),
        "FinancialReductionDaysDefault": 8,
        "DefaultExpiryOffset": 30,
        "GLDefaultExpiryOffset": 30,
        "VATDeductable": True,
        "DefaultReductionPercentage": ZERO,
        "Identifiers": [
            {"IdentifierType": "CBE", "Identifier": own.enterprise_number, "SchemeID": "0208", "Preferred": True}
        ],
        "SmallEnterprise": False,
        "DefaultCurrencyTC": "EUR",
        "SendUBL": True,
        "SendPDF": True,
    }


OWN_COMPANIES: list[dict[str, Any]] = [own_company_party(own) for own in COMPANIES]
"""The companies the sandbox hosts, as Party dicts (``PartyType`` as Supplier, i.e. as they appear on sales)."""

OWN_BY_ID: dict[int, tuple[int, dict[str, Any]]] = {
    company["PartyID"]: (index, company) for index, company in enumerate(OWN_COMPANIES)
}
"""PartyID -> (position among the own companies, Party dict)."""
