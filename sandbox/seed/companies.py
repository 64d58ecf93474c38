"""The own companies: the declared ones from :mod:`sandbox.identity`, the generated ones, and their Party dicts.

``OWN_COMPANIES`` are the declared companies as they appear on their own sales (``PartyType`` Supplier); the
seed flips ``PartyType`` to Customer where a company appears on its purchases. ``company_roster`` gives a
sandbox's companies when it hosts more than the declared two.
"""

from __future__ import annotations

import random
import re
import unicodedata
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sandbox.checkdigits import iban
from sandbox.identity import COMPANIES, OwnCompany
from sandbox.seed.catalogue import ACTIVITIES_FR, ACTIVITIES_NL, FIRST_NAMES, PLACES, STREETS, SURNAMES_BE
from sandbox.seed.identifiers import enterprise_number, rand_digits
from sandbox.seed.state import ZERO

__all__ = ["OWN_BY_ID", "OWN_COMPANIES", "company_roster", "own_company_party"]


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


# ----------------------------------------------------------------------------------------------------------
# Companies beyond the two declared ones (``Sandbox(companies=N)``)

# Bank code (the first three digits of a Belgian account number) -> BIC, for the generated companies' IBANs.
_BANKS = (("001", "GEBABEBB"), ("230", "GEBABEBB"), ("363", "BBRUBEBB"), ("310", "BBRUBEBB"),
          ("735", "KREDBEBB"), ("734", "KREDBEBB"), ("063", "GKCCBEBB"), ("068", "GKCCBEBB"),
          ("103", "NICABEBB"))  # fmt: skip
_INVOICE_FORMATS = (("INV-{y}-{n:04d}", "CN-{y}-{n:04d}"), ("F{y}/{n:05d}", "NC{y}/{n:04d}"),
                    ("{y}{n:05d}", "CN{y}{n:05d}"), ("FV{y}-{n:04d}", "CN{y}-{n:04d}"),
                    ("{y}/{n:04d}", "C{y}/{n:04d}"), ("VF-{y}-{n:05d}", "CF-{y}-{n:05d}"),
                    ("FAC{y}{n:04d}", "NC{y}{n:04d}"))  # fmt: skip
_FORMS = {"NL": ("BV", "BV", "NV", "CommV", "CV"), "FR": ("SRL", "SRL", "SA", "SComm", "SC")}
_ACTIVITIES = {"NL": ACTIVITIES_NL, "FR": ACTIVITIES_FR}
_MAILBOX = {"NL": "boekhouding", "FR": "comptabilite"}


def company_roster(count: int, seed: int) -> tuple[OwnCompany, ...]:
    """The first ``count`` companies of a sandbox: the declared ones (:data:`identity.COMPANIES`), then generated.

    Generated companies take the PartyIDs after the last declared one (574993, 574994, ...) and their facts from
    one ``random.Random`` of ``seed``: a unique name, a valid enterprise number (mod 97) that is not one of the
    declared ones, a Belgian address, an IBAN with valid check digits and a BIC of its bank, a contact, and
    invoice and credit-note number formats. The same ``count`` and ``seed`` always give the same companies, and
    a larger ``count`` only adds companies after the same ones.
    """
    if count < 1:
        raise ValueError(f"a sandbox hosts at least one company, not {count}")
    roster = list(COMPANIES[:count])
    rng = random.Random(f"sandbox-companies:{seed}")
    names = {own.name for own in COMPANIES}
    numbers = {own.enterprise_number for own in COMPANIES}
    while len(roster) < count:
        roster.append(_generated_company(rng, COMPANIES[-1].party_id + len(roster) - 1, names, numbers))
    return tuple(roster)


def _generated_company(rng: random.Random, party_id: int, names: set[str], numbers: set[str]) -> OwnCompany:
    language = "NL" if rng.random() < 0.6 else "FR"
    name = ""
    while not name or name in names:
        name = f"{rng.choice(_ACTIVITIES[language])} {rng.choice(SURNAMES_BE)} {rng.choice(_FORMS[language])}"
    names.add(name)
    number = ""
    while not number or number in numbers:
        number = enterprise_number(rng)
    numbers.add(number)
    zipcode, city = rng.choice([(z, c) for z, c, lang in PLACES["BE"] if lang == language])
    bank, bic = rng.choice(_BANKS)
    account = f"{bank}{rand_digits(rng, 7)}"
    bban = f"{account}{int(account) % 97 or 97:02d}"  # the Belgian account number's own mod-97 check
    invoice_format, credit_note_format = rng.choice(_INVOICE_FORMATS)
    stem = re.sub(r"[^0-9A-Za-z]", "", unicodedata.normalize("NFKD", name))
    created = datetime(2018, 1, 8, 9) + timedelta(days=rng.randrange(2500), seconds=rng.randrange(8 * 3600))  # noqa: DTZ001
    return OwnCompany(
        party_id=party_id,
        name=name,
        enterprise_number=number,
        street=rng.choice(STREETS[language]),
        street_number=str(rng.randrange(1, 240)),
        box=str(rng.randrange(1, 9)) if rng.random() < 0.2 else None,
        zipcode=zipcode,
        city=city,
        iban=iban("BE", bban),
        bic=bic,
        email=f"{_MAILBOX[language]}@{stem.lower()}.example",
        language=language,
        contact=(rng.choice(FIRST_NAMES), rng.choice(SURNAMES_BE)),
        created=created.replace(microsecond=rng.randrange(1000) * 1000),
        invoice_format=invoice_format,
        credit_note_format=credit_note_format,
        pdf_stem=stem,
    )
