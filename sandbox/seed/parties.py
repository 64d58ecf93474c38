"""The seeded customers and suppliers: names, addresses, VAT numbers and identifiers, per country.

Each counterparty has a full Party form (as on an order's ``Customer``/``Supplier``) and the shorter
``CounterParty`` form, plus what the order generator needs to know about it: its payment terms, whether it is
a private person or a co-contractor, which Peppol id it receives on and, for suppliers, what it sells.
"""

from __future__ import annotations

import random
import re
import unicodedata
from datetime import datetime, timedelta
from itertools import accumulate
from typing import Any

from sandbox.checkdigits import iban as make_iban
from sandbox.checkdigits import luhn_check
from sandbox.seed import catalogue as cat
from sandbox.seed import identifiers as ids
from sandbox.seed.registry import peppol_ids, peppol_status
from sandbox.seed.state import SPAN_DAYS, ZERO, Counterparty

__all__ = ["Counterparty", "copy_party", "make_counterparty", "make_pool", "pareto_weights", "slug"]


def slug(name: str) -> str:
    folded = name.lower().replace("ł", "l").replace("ø", "o").replace("ß", "ss")
    ascii_name = unicodedata.normalize("NFKD", folded).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_name).strip("-")[:30] or "party"


def copy_party(party: dict[str, Any]) -> dict[str, Any]:
    out = dict(party)
    for key in ("Addresses", "Identifiers", "BankAccounts"):
        if key in out:
            out[key] = [dict(item) for item in out[key]]
    for key in ("CustomFields", "Users"):
        if key in out:
            out[key] = list(out[key])
    return out


def _identifier(
    kind: str, value: str, scheme: str, preferred: bool = False, with_address: bool = False
) -> dict[str, Any]:
    entry: dict[str, Any] = {"IdentifierType": kind, "Identifier": value, "SchemeID": scheme, "Preferred": preferred}
    if with_address:
        entry["IdentifierAddress"] = f"{scheme}:{value}"
    return entry


def _name(rng: random.Random, party_type: str, country: str, language: str) -> tuple[str, bool]:
    """A made-up name and whether the party is a private person."""
    if country != "BE":
        return rng.choice(cat.FOREIGN_NAMES[country]), False
    roll = rng.random()
    surname = rng.choice(cat.SURNAMES_BE)
    if party_type == "Customer" and roll < 0.07:
        return f"{rng.choice(cat.FIRST_NAMES)} {surname}", True
    if language == "FR":
        return f"{rng.choice(cat.ACTIVITIES_FR)} {surname} {rng.choice(cat.FORMS_BE_FR)}", False
    return f"{rng.choice(cat.ACTIVITIES_NL)} {surname} {rng.choice(cat.FORMS_BE_NL)}", False


def _address(rng: random.Random, country: str, zipcode: str, city: str, language: str) -> dict[str, Any]:
    street = rng.choice(cat.STREETS[language if language in cat.STREETS else "EN"])
    number = str(rng.randrange(1, 240))
    address: dict[str, Any] = {"Street": street, "StreetNumber": number}
    if rng.random() < 0.12:
        address["Box"] = rng.choice(["1", "2", "A", "bus 3", "b12"])
    address.update({"Zipcode": zipcode, "City": city, "CountryCode": country})
    if rng.random() < 0.08:
        # Some parties have the number inside Street and no StreetNumber, as in Billit's own example.
        address["Street"] = f"{street} {number}"
        del address["StreetNumber"]
    return address


def _email(rng: random.Random, name: str) -> str:
    domain = slug(name)
    email = f"{rng.choice(['facturen', 'invoices', 'compta', 'ap', 'boekhouding', 'info'])}@{domain}.example"
    if rng.random() < 0.06:
        email = f"{email};boekhouder@{domain}.example"
    return email


_TaxIds = tuple[str | None, list[dict[str, Any]], str | None]  # VAT number, Identifiers, IBAN


def _be_ids(rng: random.Random, with_address: bool, bad: bool) -> _TaxIds:
    identifiers: list[dict[str, Any]] = []
    enterprise = ids.enterprise_number(rng)
    if bad:
        enterprise = ids.break_check(rng, enterprise)
    vat = ids.messy_be_vat(rng, enterprise)
    if rng.random() < 0.6:
        shown = enterprise if rng.random() < 0.95 else f"{enterprise[:4]}.{enterprise[4:7]}.{enterprise[7:]}"
        identifiers.append(_identifier("CBE", shown, "0208", rng.random() < 0.2, with_address))
    if rng.random() < 0.15:
        gln = ids.gln(rng, "543000" if rng.random() < 0.5 else "54")
        identifiers.append(_identifier("GLN", ids.break_check(rng, gln) if rng.random() < 0.06 else gln, "0088"))
    account = f"{rng.randrange(1000):03d}{ids.rand_digits(rng, 7)}"
    return vat, identifiers, make_iban("BE", account + f"{int(account) % 97 or 97:02d}")


def _nl_ids(rng: random.Random, with_address: bool) -> _TaxIds:
    digits = ids.nl_vat_digits(rng)
    suffix = f"B{rng.choice(['01', '01', '02', '03'])}"
    vat = rng.choice(
        [f"NL{digits}{suffix}"] * 8
        + [f"nl{digits}{suffix.lower()}", f"NL {digits[:4]}.{digits[4:6]}.{digits[6:]}.{suffix}"]
    )
    identifiers = [_identifier("KVK", ids.rand_digits(rng, 8), "0106", False, with_address)]
    return vat, identifiers, make_iban("NL", rng.choice(["ABNA", "INGB", "RABO"]) + ids.rand_digits(rng, 10))


def _fr_ids(rng: random.Random) -> _TaxIds:
    siren = ids.siren(rng)
    fr_key = (12 + 3 * (int(siren) % 97)) % 97
    vat = rng.choice([f"FR{fr_key:02d}{siren}"] * 4 + [f"FR {fr_key:02d} {siren[:3]} {siren[3:6]} {siren[6:]}"])
    nic = ids.rand_digits(rng, 4)
    siret = siren + nic + luhn_check(siren + nic)
    siret = ids.break_check(rng, siret) if rng.random() < 0.05 else siret
    return vat, [_identifier("SIRET", siret, "0009")], None


def _de_ids(rng: random.Random) -> _TaxIds:
    digits = ids.de_vat_digits(rng)
    vat = rng.choice([f"DE{digits}"] * 6 + [f"DE {digits[:3]} {digits[3:6]} {digits[6:]}"])
    identifiers = [_identifier("GLN", ids.gln(rng, "40"), "0088")] if rng.random() < 0.3 else []
    return vat, identifiers, make_iban("DE", ids.rand_digits(rng, 18))


def _tax_ids(rng: random.Random, country: str, private: bool) -> _TaxIds:
    """The party's VAT number, identifiers and IBAN, as messy as real data (2 % with a broken check digit)."""
    with_address = rng.random() < 0.3
    bad = rng.random() < 0.02
    if country == "BE":
        return _be_ids(rng, with_address, bad) if not private else (None, [], None)
    if country == "NL":
        return _nl_ids(rng, with_address)
    if country == "FR":
        return _fr_ids(rng)
    if country == "DE":
        return _de_ids(rng)
    if country == "LU":
        first6 = f"{rng.randrange(100000, 999999)}"
        return f"LU{first6}{int(first6) % 89:02d}", [], None
    if country == "PL":
        return f"PL{ids.pl_nip(rng)}", [], None
    if country == "GB":
        return f"GB{ids.gb_vat_digits(rng)}", [], None
    if country == "CH":
        uid = ids.ch_uid_digits(rng)
        return f"CHE-{uid[:3]}.{uid[3:6]}.{uid[6:]} MWST", [], None
    if country == "US":
        return None, [_identifier("EIN", f"{rng.randrange(10, 99)}-{ids.rand_digits(rng, 7)}", "9959")], None
    return None, [], None


def _party(
    rng: random.Random,
    party_id: int,
    party_type: str,
    country: str,
    name: str,
    address: dict[str, Any],
    contact: tuple[str, str],
    tax: _TaxIds,
    private: bool,
    start: datetime,
) -> dict[str, Any]:
    """The full Party form: the fields in Billit's order, timestamps before ``start``; ``contact`` is
    (email, language)."""
    email, language = contact
    vat, identifiers, iban = tax
    created = start - timedelta(days=rng.randrange(SPAN_DAYS, SPAN_DAYS + 900), seconds=rng.randrange(86400))
    created = created.replace(microsecond=rng.randrange(1000) * 1000)
    last_modified = created + timedelta(days=rng.randrange(0, 400), seconds=rng.randrange(86400))
    last_modified = last_modified.replace(microsecond=rng.randrange(100) * 10000)
    is_customer = party_type == "Customer"
    default_code = "1"  # suppliers: "Binnenland" (docs/reference/vat.md#cost-codes)
    if is_customer:
        default_code = "4" if country == "BE" else ("70" if country in ("US", "GB", "CH") else "55")
    nr = f"C-{1000 + party_id % 10000}" if is_customer else ""
    full: dict[str, Any] = {"PartyID": party_id, "Nr": nr, "Name": name}
    full["Addresses"] = [{"AddressType": "InvoiceAddress", "Name": name, **address}]
    if rng.random() < 0.7:
        full["Addresses"].append({"AddressType": "DeliveryAddress", "Name": name, **address})
    full.update(address)
    if iban:
        full["IBAN"] = iban
    full.update({"Email": email, "Contact": "", "ContactLastName": ""})
    if vat:
        full["VATNumber"] = vat
    full.update(
        {
            "LastModified": last_modified,
            "Created": created,
            "PartyType": party_type,
            "VATLiable": not private,
            "Language": language,
            "VentilationCode": default_code,
            "CustomFields": [],
            "BankAccounts": [],
            "Users": [],
            "DefaultPaid": False,
            "DisplayName": name,
            "DefaultExpiryOffset": 30,
            "GLDefaultExpiryOffset": 30,
            "VATDeductable": not private,
            "DefaultReductionPercentage": ZERO,
            "Identifiers": identifiers,
            "SmallEnterprise": rng.random() < 0.1,
        }
    )
    if not is_customer and rng.random() < 0.7:
        full["CostCategoryCode"] = rng.choice([610220, 611000, 612100, 613200, 604000])
    if country == "BE" or rng.random() < 0.5:
        full["DefaultCurrencyTC"] = cat.CURRENCIES.get(country, "EUR")
    full["SendUBL"] = True
    full["SendPDF"] = rng.random() < 0.8
    return full


def _summary(full: dict[str, Any], address: dict[str, Any]) -> dict[str, Any]:
    summary: dict[str, Any] = {"PartyID": full["PartyID"], "Nr": full["Nr"], "Name": full["Name"]}
    summary["Addresses"] = [full["Addresses"][0]]
    summary.update(address)
    for key in ("VATNumber", "PartyType", "VATLiable", "Language", "DisplayName", "VATDeductable", "Identifiers"):
        if key in full:
            summary[key] = full[key]
    return summary


def make_counterparty(
    rng: random.Random, party_id: int, party_type: str, country: str, name: str | None, start: datetime
) -> Counterparty:
    """One customer or supplier in ``country`` (``name`` None: make one up)."""
    zipcode, city, language = rng.choice(cat.PLACES[country])
    private = False
    if name is None:
        name, private = _name(rng, party_type, country, language)
    address = _address(rng, country, zipcode, city, language)
    email = _email(rng, name)
    tax = _tax_ids(rng, country, private)
    full = _party(rng, party_id, party_type, country, name, address, (email, language), tax, private, start)
    summary = _summary(full, address)
    cp = Counterparty(party=full, summary=summary, country=country, language=language, private=private, email=email)
    cp.terms = rng.choice([30, 30, 30, 14, 60, 45, 15])
    reachable = peppol_ids(full)
    cp.peppol_status = peppol_status(full, reachable)
    cp.peppol_destination = next((i for i, ok in reachable if ok), None)
    return cp


def pareto_weights(rng: random.Random, count: int) -> list[float]:
    # A few customers and suppliers account for most documents, as in real books.
    return [rng.paretovariate(1.3) for _ in range(count)]


def make_pool(rng: random.Random, party_type: str, id_base: int, size: int, start: datetime) -> list[Counterparty]:
    pool: list[Counterparty] = []
    special: list[tuple[str, str]]
    if party_type == "Customer":
        countries = [("BE", 78), ("NL", 7), ("FR", 5), ("DE", 4), ("LU", 2), ("GB", 1), ("US", 2), ("CH", 1)]
        special = [
            ("BE", "Zoë Vermeersch"), ("DE", "Müller GmbH"), ("FR", "Société Générale d'Électricité SA"),
            ("PL", "Łódź Logistics Sp. z o.o."), ("US", "Acme Analytics Inc."), ("GB", "Brontë & Co Ltd"),
        ] + [("BE", name) for name in cat.SPECIAL_BE_NAMES]  # fmt: skip
    else:
        countries = [("BE", 70), ("NL", 8), ("FR", 5), ("DE", 6), ("PL", 2), ("LU", 1), ("US", 5), ("GB", 2),
                     ("CH", 1)]  # fmt: skip
        special = [
            ("FR", "Société Générale d'Électricité SA"),
            ("PL", "Łódź Logistics Sp. z o.o."),
            ("DE", "Müller GmbH"),
            ("US", "Cloudberry Hosting Inc."),
            ("CH", "Zürcher Präzision AG"),
        ]
    country_cum = list(accumulate(w for _, w in countries))
    for n in range(size):
        name: str | None = None
        if n < len(special):
            country, name = special[n]
        else:
            country = countries[rng.choices(range(len(countries)), cum_weights=country_cum)[0]][0]
        cp = make_counterparty(rng, id_base + n, party_type, country, name, start)
        if name == "Zoë Vermeersch":
            _make_private(cp)
        if party_type == "Supplier":
            if name and "Électricité" in name:
                cp.category = "energy"
            else:
                options = cat.CATEGORY_BY_COUNTRY[country]
                cp.category = rng.choices([c for c, _ in options], weights=[w for _, w in options])[0]
        else:
            cp.cocontractor = country == "BE" and not cp.private and rng.random() < 0.08
        pool.append(cp)
    return pool


def _make_private(cp: Counterparty) -> None:
    cp.private = True
    for form in (cp.party, cp.summary):
        form.pop("VATNumber", None)
        form["Identifiers"] = []
        form["VATLiable"] = False
        form["VATDeductable"] = False
    cp.peppol_status = "none"
    cp.peppol_destination = None
