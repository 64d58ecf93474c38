"""Deterministic seed data for the Billit sandbox: orders that look like a real Belgian company's books.

``generate_orders`` returns full orders in the sandbox's storage form: Billit's PascalCase keys (billit-api.md
§4.7/§4.8), ``Decimal`` money (0.01), quantities, unit prices and FX rates (0.00001) and VAT rates (0.01), naive
``datetime`` timestamps (dates at midnight), and null members simply absent. ``Overdue``/``DaysOverdue`` are left
out: the sandbox derives them from ``ExpiryDate`` when it renders an order.

The books cover about 18 months of sales (``Income``) and purchases (``Cost``) with the mess real data has:
messy and occasionally invalid VAT numbers and identifiers, accented names, foreign currencies, credit notes,
every e-invoice delivery state (§5), and bulk updates that give hundreds of orders one shared ``LastModified``.
``participant_registry`` answers the Peppol participant lookups (§6.5) for the parties those orders mention.

Everything comes from one ``random.Random(seed)``: the same arguments always give the same orders.
"""

from __future__ import annotations

import gc
import random
import re
import unicodedata
import uuid
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from itertools import accumulate
from typing import Any

from connectors.billit.sandbox.calc import compute_order_totals, ogm_reference

__all__ = ["DEFAULT_START", "OWN_COMPANIES", "generate_orders", "participant_registry"]

# Billit writes naive local (Brussels) times (billit-api.md §4.1), so the seed data is naive on purpose.
DEFAULT_START = datetime(2026, 10, 31, 18, 0)  # noqa: DTZ001
SPAN_DAYS = 548  # about 18 months of books end at ``start``

_ORDER_ID_BASE = 2_600_000
_ORDER_LINE_ID_BASE = 20_500_000
_CUSTOMER_ID_BASE = 1_080_000
_SUPPLIER_ID_BASE = 1_090_000
_COMPANY_ID_STRIDE = 1_000_000  # OrderIDs/PartyIDs of the second own company start one stride higher
_CUSTOMER_POOL = 230
_SUPPLIER_POOL = 120

Q2 = Decimal("0.01")
Q5 = Decimal("0.00001")
ZERO = Decimal("0.00")
ONE5 = Decimal("1.00000")

Order = dict[str, Any]


# --------------------------------------------------------------------------------------------------------------
# Own companies


def _own_company(
    party_id: int,
    name: str,
    street: str,
    number: str,
    box: str | None,
    zipcode: str,
    city: str,
    enterprise: str,
    iban: str,
    bic: str,
    email: str,
    language: str,
    contact: tuple[str, str],
    created: datetime,
) -> dict[str, Any]:
    address: dict[str, Any] = {"Name": name.upper(), "Street": street, "StreetNumber": number}
    if box:
        address["Box"] = box
    address.update({"Zipcode": zipcode, "City": city, "CountryCode": "BE"})
    flat = {k: v for k, v in address.items() if k != "Name"}
    return {
        "PartyID": party_id,
        "Name": name,
        "Addresses": [
            {"AddressType": "InvoiceAddress", **address},
            {"AddressType": "DeliveryAddress", **address},
        ],
        **flat,
        "IBAN": iban,
        "BIC": bic,
        "Email": email,
        "Contact": f"{contact[0]} {contact[1]}",
        "ContactFirstName": contact[0],
        "ContactLastName": contact[1],
        "VATNumber": f"BE{enterprise}",
        "LastModified": created + timedelta(days=420, hours=7, seconds=12, microseconds=500_000),
        "Created": created,
        "PartyType": "Supplier",
        "VATLiable": True,
        "Language": language,
        "VentilationCode": "4",
        "CustomFields": [],
        "BankAccounts": [{"IBAN": iban, "BIC": bic, "Currency": "EUR", "Verified": True, "Saldo": ZERO}],
        "DefaultPaid": False,
        "DisplayName": name,
        "FinancialReductionPercentageDefault": Decimal("2.00"),
        "FinancialReductionDaysDefault": 8,
        "DefaultExpiryOffset": 30,
        "GLDefaultExpiryOffset": 30,
        "VATDeductable": True,
        "DefaultReductionPercentage": ZERO,
        "Identifiers": [{"IdentifierType": "CBE", "Identifier": enterprise, "SchemeID": "0208", "Preferred": True}],
        "SmallEnterprise": False,
        "DefaultCurrencyTC": "EUR",
        "SendUBL": True,
        "SendPDF": True,
    }


OWN_COMPANIES: list[dict[str, Any]] = [
    _own_company(
        574991, "Demo BV", "Veldstraat", "3", "2", "9000", "Gent", "0765432146", "BE94735001234514", "KREDBEBB",
        "finance@demo.example", "NL", ("An", "Peeters"), datetime(2024, 6, 3, 9, 11, 58, 27_000),  # noqa: DTZ001
    ),
    _own_company(
        574992, "Atelier Zoë SRL", "Rue Saint-Gilles", "27", None, "4000", "Liège", "0812345603",
        "BE57063345678935", "GKCCBEBB", "compta@atelier-zoe.example", "FR", ("Zoë", "Lefèvre"),
        datetime(2024, 9, 16, 14, 2, 7, 130_000),  # noqa: DTZ001
    ),
]  # fmt: skip
"""The companies the sandbox hosts, as Party dicts (``PartyType`` as Supplier, i.e. as they appear on sales)."""

_OWN_BY_ID = {company["PartyID"]: (index, company) for index, company in enumerate(OWN_COMPANIES)}

# Per own company: invoice/credit-note number formats, PDF name stem and what it sells.
_NUMBERING = {
    574991: ("INV-{y}-{n:04d}", "CN-{y}-{n:04d}", "DemoBV"),
    574992: ("F{y}/{n:05d}", "NC{y}/{n:04d}", "AtelierZoeSRL"),
}


# --------------------------------------------------------------------------------------------------------------
# Check digits (identifiers-and-vat.md §1.3-§1.7)


def _be_check(first8: str) -> str:
    return f"{97 - int(first8) % 97:02d}"


def _gs1_check(digits: str) -> str:
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(digits)))
    return str((10 - total % 10) % 10)


def _luhn_check(digits: str) -> str:
    total = 0
    for i, d in enumerate(reversed(digits)):
        v = int(d)
        if i % 2 == 0:
            v *= 2
            if v > 9:
                v -= 9
        total += v
    return str((10 - total % 10) % 10)


def _mod11_10_check(digits: str) -> str:
    product = 10
    for d in digits:
        s = (int(d) + product) % 10 or 10
        product = (2 * s) % 11
    return str((11 - product) % 10)


def _iban(country: str, bban: str) -> str:
    converted = "".join(str(int(c, 36)) for c in bban + country) + "00"
    return f"{country}{98 - int(converted) % 97:02d}{bban}"


def _rand_digits(rng: random.Random, n: int) -> str:
    return f"{rng.randrange(10**n):0{n}d}"


def _enterprise_number(rng: random.Random) -> str:
    # Since September 2023 new enterprise numbers start with 1 (identifiers-and-vat.md §1.3).
    first8 = f"100{_rand_digits(rng, 5)}" if rng.random() < 0.05 else f"0{rng.randrange(2_000_000, 9_999_999)}"
    return first8 + _be_check(first8)


def _gln(rng: random.Random, prefix: str) -> str:
    body = prefix + _rand_digits(rng, 12 - len(prefix))
    return body + _gs1_check(body)


def _siren(rng: random.Random) -> str:
    body = f"{rng.randrange(1, 10)}{_rand_digits(rng, 7)}"
    return body + _luhn_check(body)


def _nl_vat_digits(rng: random.Random) -> str:
    while True:
        body = f"{rng.randrange(1, 10)}{_rand_digits(rng, 7)}"
        check = sum(int(d) * w for d, w in zip(body, range(9, 1, -1), strict=True)) % 11
        if check < 10:
            return body + str(check)


def _de_vat_digits(rng: random.Random) -> str:
    body = f"{rng.randrange(1, 10)}{_rand_digits(rng, 7)}"
    return body + _mod11_10_check(body)


def _pl_nip(rng: random.Random) -> str:
    while True:
        body = f"{rng.randrange(1, 10)}{_rand_digits(rng, 8)}"
        check = sum(int(d) * w for d, w in zip(body, (6, 5, 7, 2, 3, 4, 5, 6, 7), strict=True)) % 11
        if check < 10:
            return body + str(check)


def _gb_vat_digits(rng: random.Random) -> str:
    body = f"{rng.randrange(1, 10)}{_rand_digits(rng, 6)}"
    total = sum(int(d) * w for d, w in zip(body, range(8, 1, -1), strict=True))
    return body + f"{-total % 97:02d}"


def _ch_uid_digits(rng: random.Random) -> str:
    while True:
        body = f"{rng.randrange(1, 10)}{_rand_digits(rng, 7)}"
        check = 11 - sum(int(d) * w for d, w in zip(body, (5, 4, 3, 2, 7, 6, 5, 4), strict=True)) % 11
        if check != 10:
            return body + str(check % 11)


def _break_check(rng: random.Random, number: str) -> str:
    last = int(number[-1])
    return number[:-1] + str((last + rng.randrange(1, 10)) % 10)


# --------------------------------------------------------------------------------------------------------------
# Places, names and what gets bought and sold

# (zipcode, city, language) — Language is the party's invoice language (NL/FR/DE/EN).
_PLACES: dict[str, list[tuple[str, str, str]]] = {
    "BE": [
        ("9000", "Gent", "NL"), ("2000", "Antwerpen", "NL"), ("1000", "Brussel", "NL"), ("1000", "Bruxelles", "FR"),
        ("3000", "Leuven", "NL"), ("8000", "Brugge", "NL"), ("4000", "Liège", "FR"), ("5000", "Namur", "FR"),
        ("6000", "Charleroi", "FR"), ("2800", "Mechelen", "NL"), ("3500", "Hasselt", "NL"),
        ("1050", "Ixelles", "FR"), ("7000", "Mons", "FR"), ("8500", "Kortrijk", "NL"), ("9300", "Aalst", "NL"),
        ("1348", "Louvain-la-Neuve", "FR"), ("4700", "Eupen", "DE"), ("8400", "Oostende", "NL"),
        ("1080", "Sint-Jans-Molenbeek", "NL"), ("6700", "Arlon", "FR"), ("9100", "Sint-Niklaas", "NL"),
    ],
    "NL": [("1012 AB", "Amsterdam", "NL"), ("3011 AD", "Rotterdam", "NL"), ("3511 LX", "Utrecht", "NL"),
           ("5611 EM", "Eindhoven", "NL"), ("4811 ZK", "Breda", "NL"), ("6211 CK", "Maastricht", "NL")],
    "FR": [("75008", "Paris", "FR"), ("59000", "Lille", "FR"), ("69002", "Lyon", "FR"),
           ("13001", "Marseille", "FR"), ("67000", "Strasbourg", "FR")],
    "DE": [("50667", "Köln", "DE"), ("40213", "Düsseldorf", "DE"), ("52062", "Aachen", "DE"),
           ("80331", "München", "DE"), ("20095", "Hamburg", "DE")],
    "LU": [("L-1611", "Luxembourg", "FR"), ("L-4002", "Esch-sur-Alzette", "FR")],
    "PL": [("90-001", "Łódź", "EN"), ("31-042", "Kraków", "EN"), ("00-001", "Warszawa", "EN")],
    "GB": [("EC1A 1BB", "London", "EN"), ("M1 1AE", "Manchester", "EN")],
    "US": [("10001", "New York", "EN"), ("94105", "San Francisco", "EN"), ("98101", "Seattle", "EN")],
    "CH": [("8001", "Zürich", "DE"), ("1201", "Genève", "FR")],
}  # fmt: skip

_STREETS: dict[str, list[str]] = {
    "NL": ["Kerkstraat", "Stationsstraat", "Veldstraat", "Kouter", "Meir", "Grote Markt", "Industrieweg",
           "Nijverheidslaan", "Molenstraat", "Steenweg op Brussel", "Vlaanderenstraat", "Zuidlaan"],
    "FR": ["Rue de la Loi", "Chaussée de Louvain", "Place Saint-Lambert", "Rue Haute", "Boulevard d'Avroy",
           "Avenue Louise", "Rue de l'Église", "Rue du Pont d'Île", "Quai de la Sambre"],
    "DE": ["Hauptstraße", "Bahnhofstraße", "Königsallee", "Schillerstraße", "Große Bleichen"],
    "EN": ["High Street", "Market Street", "Main Street", "ul. Piotrkowska", "Station Road"],
}  # fmt: skip

_SURNAMES_BE = [
    "Peeters", "Janssens", "Maes", "Jacobs", "Mertens", "Willems", "Claes", "Goossens", "Wouters", "De Smet",
    "Dubois", "Lambert", "Dupont", "Martin", "Vermeulen", "Van den Broeck", "Desmet", "Lefèvre", "Hermans",
    "Verstraete", "D'Hondt", "Van Damme", "Renard", "Lemaître", "Gérard", "Michaux", "Declercq", "Nuyts",
]  # fmt: skip
_FIRST_NAMES = ["Zoë", "Noël", "Anaïs", "Jérôme", "Hélène", "Lucas", "Emma", "Thibault", "Inès", "Jef", "Brecht"]
_ACTIVITIES_NL = [
    "Bouwbedrijf",
    "Drukkerij",
    "Bakkerij",
    "Transport",
    "Schrijnwerkerij",
    "Tuinaanleg",
    "Elektriciteitswerken",
    "Architectenbureau",
    "Boekhandel",
    "Kapsalon",
    "Slagerij",
]
_ACTIVITIES_FR = [
    "Menuiserie",
    "Boulangerie",
    "Garage",
    "Imprimerie",
    "Toiture",
    "Bureau d'études",
    "Librairie",
    "Électricité",
    "Pâtisserie",
    "Brasserie",
]
_FORMS_BE_NL = ["BV", "BV", "NV", "CommV", "VZW", "BVBA", "CV"]
_FORMS_BE_FR = ["SRL", "SRL", "SA", "SComm", "ASBL", "SPRL", "SC"]
_FOREIGN_NAMES: dict[str, list[str]] = {
    "NL": ["Van der Berg Installatietechniek B.V.", "De Vries Logistiek B.V.", "Bakker & Zonen B.V.",
           "Hoogendijk Software B.V.", "IJsselmeer Visserij B.V.", "Coöperatie De Zwaluw U.A."],
    "FR": ["Château Lumière SAS", "Société Générale d'Électricité SA", "Éditions Fénelon SARL",
           "Crème & Brûlée SAS", "Ateliers Réunis de Picardie SA"],
    "DE": ["Müller GmbH", "Bäckerei Groß KG", "Schröder & Söhne GmbH", "Weißbier Brauerei AG",
           "Köhler Maschinenbau GmbH"],
    "LU": ["Moselle Conseil S.à r.l.", "Lëtzebuerger Software S.A."],
    "PL": ["Łódź Logistics Sp. z o.o.", "Żabka Dystrybucja Sp. z o.o.", "Kraków Print S.A."],
    "GB": ["Thames Valley Analytics Ltd", "Brontë & Co Ltd"],
    "US": ["Cloudberry Hosting Inc.", "Northwind Data LLC", "Acme Analytics Inc."],
    "CH": ["Zürcher Präzision AG", "Genève Horlogerie SA"],
}  # fmt: skip
_SPECIAL_BE_NAMES = [
    "Brasserie Sainte-Hélène SRL",
    "Café 't Hoekske",
    "Atelier Noël & Fils SRL",
    "Crèmerie Ø-Vijf BV",
    "Société Coopérative L'Aïeul",
    "De Zwaluw – Coöperatie CV",
]
_CURRENCIES = {"US": "USD", "GB": "GBP", "CH": "CHF"}
_FX_BASE = {"USD": Decimal("1.0834"), "GBP": Decimal("0.8512"), "CHF": Decimal("0.9421")}

# Sales catalogues per own company: (description, reference or "", unit price range in cents, VAT %, quantity kind)
_SALES_CATALOGUE: dict[int, list[tuple[str, str, int, int, int, str]]] = {
    574991: [
        ("Consultancy (uur)", "SRV-CONS", 8500, 12500, 21, "hours"),
        ("Projectmanagement (uur)", "SRV-PM", 9500, 13500, 21, "hours"),
        ("Ontwikkeling maatwerk (uur)", "SRV-DEV", 7500, 11000, 21, "hours"),
        ("Licentie Billit-connector (maand)", "LIC-BC", 4900, 4900, 21, "months"),
        ("Hosting & onderhoud (maand)", "HOST-M", 2900, 14900, 21, "months"),
        ("Opleiding e-facturatie (dag)", "TRN-DAY", 65000, 95000, 21, "days"),
        ("Handboek e-facturatie", "BK-EF", 1245, 3495, 6, "pieces"),
        ("Boek 'Peppol in de praktijk'", "BK-PEP", 2450, 2450, 6, "pieces"),
        ("Verplaatsingskosten (km)", "KM", 43, 43, 21, "km"),
        ("Catering workshop", "CAT", 1850, 3200, 12, "pieces"),
        ("Laptop Lenovo ThinkPad", "HW-LT", 89900, 149900, 21, "pieces"),
        ("Kantoorbenodigdheden", "", 350, 4500, 21, "pieces"),
    ],
    574992: [
        ("Création graphique (heure)", "CRE-H", 6500, 9500, 21, "hours"),
        ("Impression affiches A2", "IMP-A2", 180, 450, 21, "pieces"),
        ("Livre d'art « Lumière »", "LIV-LUM", 3900, 5900, 6, "pieces"),
        ("Atelier céramique (séance)", "ATL-CER", 4500, 8500, 21, "pieces"),
        ("Frais de déplacement (km)", "KM", 43, 43, 21, "km"),
        ("Restauration événement", "REST", 2200, 3800, 12, "pieces"),
        ("Vase en grès émaillé", "VAS", 3500, 18000, 21, "pieces"),
        ("Identité visuelle (forfait)", "ID-FF", 120000, 350000, 21, "months"),
    ],
}  # fmt: skip

# Purchase categories: (name stem NL, default VAT %, Cost ventilation code, item list)
_SUPPLIER_CATEGORIES: dict[str, tuple[int, str, list[tuple[str, int, int, str]]]] = {
    "printing": (21, "1", [("Flyers A5 (5000 st.)", 9900, 19900, "pieces"), ("Brochure", 180, 450, "pieces"),
                           ("Verzending", 900, 3500, "pieces"), ("Visitekaartjes", 2500, 6500, "pieces")]),
    "telecom": (21, "1", [("Abonnement mobiel", 1500, 4500, "months"), ("Internet Pro", 4900, 8900, "months"),
                          ("Toestel - afbetaling", 1200, 3500, "months")]),
    "energy": (21, "1", [("Elektriciteit - voorschot", 18000, 62000, "months"),
                         ("Gas - voorschot", 9000, 35000, "months"), ("Bijdrage energiefonds", 300, 900, "months")]),
    "saas": (21, "1", [("Cloud hosting", 2000, 90000, "months"), ("SaaS subscription (seats)", 900, 2900, "pieces"),
                       ("Support plan", 4900, 19900, "months")]),
    "office": (21, "1", [("Printerpapier A4", 450, 690, "pieces"), ("Toner", 4500, 11900, "pieces"),
                         ("Bureaustoel", 19900, 64900, "pieces"), ("Koffiebonen (kg)", 1590, 2890, "kg")]),
    "horeca": (12, "1", [("Maaltijd klantenbezoek", 2500, 9500, "pieces"), ("Dranken", 250, 900, "pieces")]),
    "books": (6, "1", [("Vakliteratuur", 1990, 8900, "pieces"), ("Abonnement vaktijdschrift", 4900, 14900,
                                                                   "months")]),
    "insurance": (0, "22", [("Premie BA-verzekering", 24000, 180000, "months"),
                            ("Premie brandverzekering", 18000, 90000, "months")]),
    "construction": (0, "21", [("Renovatiewerken kantoor", 150000, 900000, "pieces"),
                               ("Elektrische installatie", 60000, 350000, "pieces")]),
    "ic_services": (0, "55", [("Consulting services", 60000, 400000, "hours"),
                              ("Software licence", 9900, 99000, "pieces")]),
    "ic_goods": (0, "51", [("Onderdelen", 1500, 25000, "pieces"), ("Verpakkingsmateriaal", 300, 2500, "pieces")]),
    "import": (0, "70", [("Import goederen", 5000, 150000, "pieces"), ("Douanekosten", 2500, 9000, "pieces")]),
    "import_eu": (0, "102", [("Goederen invoer via EU", 4000, 80000, "pieces")]),
    "second_hand": (0, "111", [("Tweedehands bestelwagen", 800000, 1800000, "pieces"),
                               ("Occasie meubilair", 15000, 90000, "pieces")]),
    "fuel": (21, "1", [("Diesel (l)", 165, 205, "litres"), ("Carwash", 1200, 2500, "pieces")]),
}  # fmt: skip

_CATEGORY_BY_COUNTRY: dict[str, list[tuple[str, int]]] = {
    "BE": [("printing", 12), ("telecom", 8), ("energy", 6), ("office", 14), ("horeca", 10), ("books", 5),
           ("insurance", 5), ("construction", 5), ("fuel", 7), ("saas", 6), ("second_hand", 2)],
    "NL": [("ic_services", 5), ("ic_goods", 4), ("saas", 2)],
    "FR": [("ic_services", 3), ("ic_goods", 3), ("energy", 1)],
    "DE": [("ic_goods", 5), ("ic_services", 2), ("import_eu", 1)],
    "LU": [("ic_services", 2)],
    "PL": [("ic_goods", 3), ("import_eu", 1)],
    "GB": [("import", 2), ("saas", 2)],
    "US": [("saas", 4), ("import", 1)],
    "CH": [("import", 2)],
}  # fmt: skip

_SUPPLIER_NUMBER_FORMATS = ["F{y}-{n:05d}", "{n}", "INV/{y}/{n:06d}", "FAC-{y}{n:04d}", "{y}{n:06d}",
                            "VF{n:07d}", "R-{n}", "{y}-{n:04d}"]  # fmt: skip

_IMR_TEXTS = {
    "AB": "AB: The document has been successfully received.",
    "AP": "AP: The document has been accepted.",
    "RE": "RE: The document has been rejected.",
    "IP": "IP: The document is in process.",
    "UQ": "UQ: The document is under query.",
    "CA": "CA: The document has been conditionally accepted.",
    "PD": "PD: The document has been paid.",
}
# DocumentDeliveryInfo carries the receiver's last response, in the company's language (§5.1).
_DELIVERY_INFO = {
    "NL": {"AB": "Ontvangen", "AP": "Goedgekeurd", "RE": "Geweigerd", "IP": "In behandeling",
           "UQ": "In vraag gesteld", "CA": "Voorwaardelijk goedgekeurd", "PD": "Betaald"},
    "FR": {"AB": "Reçu", "AP": "Approuvé", "RE": "Refusé", "IP": "En traitement",
           "UQ": "En question", "CA": "Approuvé sous conditions", "PD": "Payé"},
    "EN": {"AB": "Received", "AP": "Approved", "RE": "Rejected", "IP": "In process",
           "UQ": "Under query", "CA": "Conditionally accepted", "PD": "Paid"},
}  # fmt: skip
_REJECT_REASONS = [
    "Wrong purchase order reference",
    "Unknown buyer reference; please state our PO number",
    "Prices do not match the quotation",
    "Goods not received",
    "Duplicate invoice",
]
_REFUSAL_INFOS = [
    "Inconsistency between VAT number and tax code of the recipient of the invoice (acquirer)",
    "[BR-CO-15]-Invoice total amount with VAT (BT-112) = Invoice total amount without VAT (BT-109) + "
    "Invoice total VAT amount (BT-110).",
    "[PEPPOL-EN16931-R010]-Buyer electronic address MUST be provided",
    "The receiving access point refused the document: unknown participant",
]

_PEPPOL_DOCUMENT_TYPES = ["BISv3Invoice", "IMR", "MLR", "BISv3CreditNote"]
_SERVICE_DETAILS = [
    {
        "DocumentIdentifier": "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2::Invoice##urn:cen.eu:en16931"
        ":2017#compliant#urn:fdc:peppol.eu:2017:poacc:billing:3.0::2.1",
        "DocumentIdentifierScheme": "busdox-docid-qns",
        "Processes": [
            {
                "ProcessIdentifier": "urn:fdc:peppol.eu:2017:poacc:billing:01:1.0",
                "ProcessIdentifierScheme": "cenbii-procid-ubl",
            }
        ],
    },
    {
        "DocumentIdentifier": "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2::CreditNote##urn:cen.eu:"
        "en16931:2017#compliant#urn:fdc:peppol.eu:2017:poacc:billing:3.0::2.1",
        "DocumentIdentifierScheme": "busdox-docid-qns",
        "Processes": [
            {
                "ProcessIdentifier": "urn:fdc:peppol.eu:2017:poacc:billing:01:1.0",
                "ProcessIdentifierScheme": "cenbii-procid-ubl",
            }
        ],
    },
]
_IMR_SERVICE_DETAILS = [
    {
        "DocumentIdentifier": "urn:oasis:names:specification:ubl:schema:xsd:ApplicationResponse-2::Application"
        "Response##urn:fdc:peppol.eu:poacc:trns:invoice_response:3::2.1",
        "DocumentIdentifierScheme": "busdox-docid-qns",
        "Processes": [
            {
                "ProcessIdentifier": "urn:fdc:peppol.eu:poacc:bis:invoice_response:3",
                "ProcessIdentifierScheme": "cenbii-procid-ubl",
            }
        ],
    }
]


# --------------------------------------------------------------------------------------------------------------
# Counterparties


@dataclass
class _Counterparty:
    party: dict[str, Any]  # full Customer/Supplier form
    summary: dict[str, Any]  # CounterParty form
    country: str
    language: str
    category: str = ""
    cocontractor: bool = False
    private: bool = False
    number_format: str = ""
    next_number: int = 1
    terms: int = 30
    email: str = ""
    peppol_destination: str | None = None
    peppol_status: str = "none"


def _slug(name: str) -> str:
    folded = name.lower().replace("ł", "l").replace("ø", "o").replace("ß", "ss")
    ascii_name = unicodedata.normalize("NFKD", folded).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_name).strip("-")[:30] or "party"


def _messy_be_vat(rng: random.Random, number: str) -> str:
    r = rng.random()
    dotted = f"{number[:4]}.{number[4:7]}.{number[7:]}"
    if r < 0.60:
        return f"BE{number}"
    if r < 0.68:
        return f"BE {dotted}"
    if r < 0.73:
        return f"be{number}"
    if r < 0.78 and number[0] == "0":
        return number[1:]  # the pre-2005 nine-digit form
    if r < 0.83:
        return f"BE{number[:4]} {number[4:7]} {number[7:]}"
    if r < 0.87:
        return dotted
    if r < 0.90:
        return f"BE-{number}"
    if r < 0.94:
        return f"BE {number}"
    if r < 0.97 and number[0] == "0":
        return f"Be {number[1:]}"
    return f"BE{number}"


def _identifier(
    kind: str, value: str, scheme: str, preferred: bool = False, with_address: bool = False
) -> dict[str, Any]:
    entry: dict[str, Any] = {"IdentifierType": kind, "Identifier": value, "SchemeID": scheme, "Preferred": preferred}
    if with_address:
        entry["IdentifierAddress"] = f"{scheme}:{value}"
    return entry


def _make_counterparty(
    rng: random.Random, party_id: int, party_type: str, country: str, name: str | None, start: datetime
) -> _Counterparty:
    zipcode, city, language = rng.choice(_PLACES[country])
    private = False
    if name is None:
        if country == "BE":
            roll = rng.random()
            surname = rng.choice(_SURNAMES_BE)
            if party_type == "Customer" and roll < 0.07:
                private = True
                name = f"{rng.choice(_FIRST_NAMES)} {surname}"
            elif language == "FR":
                name = f"{rng.choice(_ACTIVITIES_FR)} {surname} {rng.choice(_FORMS_BE_FR)}"
            else:
                name = f"{rng.choice(_ACTIVITIES_NL)} {surname} {rng.choice(_FORMS_BE_NL)}"
        else:
            name = rng.choice(_FOREIGN_NAMES[country])
    street_lang = language if language in _STREETS else "EN"
    street = rng.choice(_STREETS[street_lang])
    number = str(rng.randrange(1, 240))
    address: dict[str, Any] = {"Street": street, "StreetNumber": number}
    if rng.random() < 0.12:
        address["Box"] = rng.choice(["1", "2", "A", "bus 3", "b12"])
    address.update({"Zipcode": zipcode, "City": city, "CountryCode": country})
    if rng.random() < 0.08:
        # Some parties have the number inside Street and no StreetNumber, as in Billit's own example.
        address["Street"] = f"{street} {number}"
        del address["StreetNumber"]

    slug = _slug(name)
    email = f"{rng.choice(['facturen', 'invoices', 'compta', 'ap', 'boekhouding', 'info'])}@{slug}.example"
    if rng.random() < 0.06:
        email = f"{email};boekhouder@{slug}.example"

    vat: str | None = None
    identifiers: list[dict[str, Any]] = []
    with_address = rng.random() < 0.3
    bad = rng.random() < 0.02
    iban: str | None = None
    if country == "BE" and not private:
        enterprise = _enterprise_number(rng)
        if bad:
            enterprise = _break_check(rng, enterprise)
        vat = _messy_be_vat(rng, enterprise)
        if rng.random() < 0.6:
            shown = enterprise if rng.random() < 0.95 else f"{enterprise[:4]}.{enterprise[4:7]}.{enterprise[7:]}"
            identifiers.append(_identifier("CBE", shown, "0208", rng.random() < 0.2, with_address))
        if rng.random() < 0.15:
            gln = _gln(rng, "543000" if rng.random() < 0.5 else "54")
            identifiers.append(_identifier("GLN", _break_check(rng, gln) if rng.random() < 0.06 else gln, "0088"))
        account = f"{rng.randrange(1000):03d}{_rand_digits(rng, 7)}"
        iban = _iban("BE", account + f"{int(account) % 97 or 97:02d}")
    elif country == "NL":
        digits = _nl_vat_digits(rng)
        suffix = f"B{rng.choice(['01', '01', '02', '03'])}"
        vat = rng.choice(
            [f"NL{digits}{suffix}"] * 8
            + [f"nl{digits}{suffix.lower()}", f"NL {digits[:4]}.{digits[4:6]}.{digits[6:]}.{suffix}"]
        )
        identifiers.append(_identifier("KVK", _rand_digits(rng, 8), "0106", False, with_address))
        iban = _iban("NL", rng.choice(["ABNA", "INGB", "RABO"]) + _rand_digits(rng, 10))
    elif country == "FR":
        siren = _siren(rng)
        fr_key = (12 + 3 * (int(siren) % 97)) % 97
        vat = rng.choice([f"FR{fr_key:02d}{siren}"] * 4 + [f"FR {fr_key:02d} {siren[:3]} {siren[3:6]} {siren[6:]}"])
        nic = _rand_digits(rng, 4)
        siret = siren + nic + _luhn_check(siren + nic)
        identifiers.append(_identifier("SIRET", _break_check(rng, siret) if rng.random() < 0.05 else siret, "0009"))
    elif country == "DE":
        digits = _de_vat_digits(rng)
        vat = rng.choice([f"DE{digits}"] * 6 + [f"DE {digits[:3]} {digits[3:6]} {digits[6:]}"])
        if rng.random() < 0.3:
            identifiers.append(_identifier("GLN", _gln(rng, "40"), "0088"))
        iban = _iban("DE", _rand_digits(rng, 18))
    elif country == "LU":
        first6 = f"{rng.randrange(100000, 999999)}"
        vat = f"LU{first6}{int(first6) % 89:02d}"
    elif country == "PL":
        vat = f"PL{_pl_nip(rng)}"
    elif country == "GB":
        vat = f"GB{_gb_vat_digits(rng)}"
    elif country == "CH":
        uid = _ch_uid_digits(rng)
        vat = f"CHE-{uid[:3]}.{uid[3:6]}.{uid[6:]} MWST"
    elif country == "US":
        identifiers.append(_identifier("EIN", f"{rng.randrange(10, 99)}-{_rand_digits(rng, 7)}", "9959"))

    created = start - timedelta(days=rng.randrange(SPAN_DAYS, SPAN_DAYS + 900), seconds=rng.randrange(86400))
    created = created.replace(microsecond=rng.randrange(1000) * 1000)
    last_modified = created + timedelta(days=rng.randrange(0, 400), seconds=rng.randrange(86400))
    last_modified = last_modified.replace(microsecond=rng.randrange(100) * 10000)
    is_customer = party_type == "Customer"
    default_code = "1"  # suppliers: "Binnenland" (§9.2)
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
    full["Email"] = email
    full["Contact"] = ""
    full["ContactLastName"] = ""
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
        full["DefaultCurrencyTC"] = _CURRENCIES.get(country, "EUR")
    full["SendUBL"] = True
    full["SendPDF"] = rng.random() < 0.8

    summary: dict[str, Any] = {"PartyID": party_id, "Nr": nr, "Name": name}
    summary["Addresses"] = [full["Addresses"][0]]
    summary.update(address)
    for key in ("VATNumber", "PartyType", "VATLiable", "Language", "DisplayName", "VATDeductable", "Identifiers"):
        if key in full:
            summary[key] = full[key]

    cp = _Counterparty(party=full, summary=summary, country=country, language=language, private=private, email=email)
    cp.terms = rng.choice([30, 30, 30, 14, 60, 45, 15])
    ids = _peppol_ids(full)
    cp.peppol_status = _peppol_status(full, ids)
    cp.peppol_destination = next((i for i, ok in ids if ok), None)
    return cp


def _copy_party(party: dict[str, Any]) -> dict[str, Any]:
    out = dict(party)
    for key in ("Addresses", "Identifiers", "BankAccounts"):
        if key in out:
            out[key] = [dict(item) for item in out[key]]
    for key in ("CustomFields", "Users"):
        if key in out:
            out[key] = list(out[key])
    return out


# --------------------------------------------------------------------------------------------------------------
# Peppol participants (§6.5): derived from the party data only, so the registry agrees with the orders.

_VAT_SCHEMES = {"BE": "9925", "NL": "9944", "FR": "9957", "DE": "9930", "LU": "9938", "PL": "9945", "GB": "9932"}
_ID_SCHEMES = {"CBE": "0208", "GLN": "0088", "KVK": "0106", "SIRET": "0009"}


def _be_valid(number: str) -> bool:
    return len(number) == 10 and number.isdigit() and number[0] in "01" and _be_check(number[:8]) == number[8:]


def _peppol_ids(party: dict[str, Any]) -> list[tuple[str, bool]]:
    """The participant ids a party can be reached on, in routing preference, each with "is the number valid"."""
    ids: list[tuple[str, bool]] = []
    raw = re.sub(r"[^0-9A-Za-z]", "", party.get("VATNumber", "")).upper()
    country = party.get("CountryCode", "")
    enterprise: str | None = None
    if raw and country == "BE":
        digits = raw[2:] if raw.startswith("BE") else raw
        enterprise = digits.zfill(10)
    for entry in party.get("Identifiers", []):
        scheme = _ID_SCHEMES.get(entry["IdentifierType"])
        if scheme is None:
            continue
        value = re.sub(r"[^0-9]", "", entry["Identifier"])
        if scheme == "0208":
            ok = _be_valid(value)
        elif scheme == "0088":
            ok = len(value) == 13 and _gs1_check(value[:12]) == value[12]
        elif scheme == "0009":
            ok = len(value) == 14 and _luhn_check(value[:13]) == value[13]
        else:
            ok = True
        ids.append((f"{scheme}:{value}", ok))
    if enterprise is not None:
        ids.insert(0, (f"0208:{enterprise}", _be_valid(enterprise)))
        ids.insert(1, (f"9925:BE{enterprise}", _be_valid(enterprise)))
    elif raw and country in _VAT_SCHEMES:
        ids.insert(0, (f"{_VAT_SCHEMES[country]}:{raw}", True))
    seen: set[str] = set()
    unique = []
    for pid, ok in ids:
        if pid not in seen:
            seen.add(pid)
            unique.append((pid, ok))
    return unique


def _peppol_status(party: dict[str, Any], ids: list[tuple[str, bool]]) -> str:
    """ "invoice" (can receive invoices), "imr_only" (registered for responses only) or "none"."""
    if not ids or party.get("CountryCode") in ("US", "CH"):
        return "none"
    if party.get("CountryCode") == "BE" and not ids[0][1]:
        return "none"  # a wrong enterprise number is not registered anywhere
    identity = party.get("PartyID", party.get("VATNumber", party.get("Name", "")))
    bucket = zlib.crc32(f"peppol:{identity}".encode()) % 100
    if bucket < 13:
        return "none"
    if bucket < 16:
        return "imr_only"
    return "invoice"


def participant_registry(orders: list[Order]) -> dict[str, dict[str, Any]]:
    """Peppol participant lookups for every party in ``orders``: ``"scheme:value"`` -> response body (§6.5).

    Keys are canonical (upper-case VAT numbers, digits only for 0208/0088/0106/0009); most customers are
    registered for invoices, some only for IMR/MLR (``Registered`` true but no invoice document types) and
    some not at all (``{"Registered": false, ...}``). The own companies are registered.
    """
    parties: dict[Any, dict[str, Any]] = {}
    for order in orders:
        for role in ("Customer", "Supplier"):
            party = order.get(role)
            if party is not None:
                parties.setdefault(party.get("PartyID", id(party)), party)
    registry: dict[str, dict[str, Any]] = {}
    for party_id, party in parties.items():
        ids = _peppol_ids(party)
        status = "invoice" if party_id in _OWN_BY_ID else _peppol_status(party, ids)
        country = party.get("CountryCode", "")
        for pid, ok in ids:
            if status == "none" or not ok:
                registry[pid] = {"Registered": False, "Identifier": pid, "DocumentTypes": [], "ServiceDetails": []}
                continue
            if status == "imr_only":
                doc_types, details = ["IMR", "MLR"], _IMR_SERVICE_DETAILS
            else:
                doc_types = list(_PEPPOL_DOCUMENT_TYPES)
                if country == "NL":
                    doc_types += ["SIInvoice", "SICreditNote"]
                details = _SERVICE_DETAILS
            registry[pid] = {
                "Registered": True,
                "Identifier": pid,
                "DocumentTypes": doc_types,
                "ServiceDetails": [_deep_copy_detail(d) for d in details],
                "ServiceProviderID": f"P{country or 'BE'}{zlib.crc32(pid.encode()) % 1000:06d}",
            }
    return registry


def _deep_copy_detail(detail: dict[str, Any]) -> dict[str, Any]:
    return {**detail, "Processes": [dict(p) for p in detail["Processes"]]}


# --------------------------------------------------------------------------------------------------------------
# Time helpers

_FRACTION_DIGITS = (0, 0, 1, 2, 2, 3, 3, 3, 4, 5, 6, 6)


def _stamp(rng: random.Random, moment: datetime) -> datetime:
    """Billit's timestamps: .NET ticks written without trailing zeros, so the precision varies per value."""
    digits = rng.choice(_FRACTION_DIGITS)
    micro = rng.randrange(10**digits) * 10 ** (6 - digits) if digits else 0
    return moment.replace(microsecond=micro)


def _midnight(moment: datetime) -> datetime:
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def _created_times(rng: random.Random, count: int, start: datetime) -> list[datetime]:
    first_day = _midnight(start) - timedelta(days=SPAN_DAYS)
    out: list[datetime] = []
    for _ in range(count):
        while True:
            day = first_day + timedelta(days=rng.randrange(SPAN_DAYS + 1))
            if day.weekday() < 5 or rng.random() < 0.15:
                break
        # Mostly office hours; Peppol documents also arrive at night.
        office = rng.random() < 0.85
        seconds = rng.randrange(7 * 3600 + 1800, 18 * 3600 + 1800) if office else rng.randrange(86400)
        moment = day + timedelta(seconds=seconds)
        if moment > start:
            moment = start - timedelta(seconds=rng.randrange(60, 8 * 3600))
        out.append(_stamp(rng, moment))
    out.sort()
    return out


def _business_moment(rng: random.Random, day: datetime) -> datetime:
    return _midnight(day) + timedelta(seconds=rng.randrange(8 * 3600, 18 * 3600))


def _file_stamp(moment: datetime) -> str:
    return f"{moment.day}_{moment.month:02d}_{moment.year} {moment:%H_%M_%S}"


# --------------------------------------------------------------------------------------------------------------
# Orders


@dataclass
class _State:
    rng: random.Random
    start: datetime
    company_id: int
    company_index: int
    own_as_supplier: dict[str, Any]
    own_as_customer: dict[str, Any]
    customers: list[_Counterparty]
    customer_weights: list[float]
    suppliers: list[_Counterparty]
    supplier_weights: list[float]
    next_line_id: int
    sequences: dict[tuple[str, int], int] = field(default_factory=dict)
    income_invoice_numbers: list[str] = field(default_factory=list)
    inbox_sequence: int = 301_554

    def uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))


def _money_cents(rng: random.Random, low: int, high: int) -> int:
    return low if low == high else rng.randrange(low, high + 1)


def _quantity(rng: random.Random, kind: str) -> Decimal:
    if kind == "hours":
        value = Decimal(rng.randrange(1, 80)) / 4 if rng.random() < 0.8 else Decimal(rng.randrange(25, 4000)) / 100
    elif kind == "km":
        value = Decimal(rng.randrange(8, 420))
    elif kind in ("kg", "litres"):
        value = Decimal(rng.randrange(100, 90000)) / 100
    elif kind == "days":
        value = Decimal(rng.randrange(1, 6))
    elif kind == "months":
        value = Decimal(1) if rng.random() < 0.85 else Decimal(rng.randrange(2, 13))
    else:
        value = Decimal(rng.randrange(1, 25)) if rng.random() < 0.8 else Decimal(rng.randrange(25, 5001))
    if rng.random() < 0.01:
        # Some companies enable 5-decimal quantities (§4.4).
        value += Decimal(rng.randrange(1, 1000)) / 100_000
    return value.quantize(Q5)


def _unit_price(rng: random.Random, low: int, high: int) -> Decimal:
    cents = _money_cents(rng, low, high)
    if low != high and rng.random() < 0.5:
        cents = max(1, cents // 100 * 100 + rng.choice([0, 0, 50, 95, 99]))
    price = Decimal(cents) / 100
    if rng.random() < 0.03:
        price += Decimal(rng.randrange(1, 1000)) / 100_000  # unit prices carry up to 5 decimals
    return price.quantize(Q5)


_LINE_COUNT_WEIGHTS = list(accumulate([6, 9, 11, 13, 14, 13, 12, 11, 11]))  # 1..9 lines, mean about 5.2
_RATE = {rate: Decimal(rate).quantize(Q2) for rate in (0, 6, 12, 21)}


def _income_lines(state: _State, cp: _Counterparty) -> tuple[list[dict[str, Any]], str | None, str]:
    """Sales lines plus (header code passed to the calculation, header VentilationCode shown)."""
    rng = state.rng
    catalogue = _SALES_CATALOGUE[state.company_id]
    count = rng.choices(range(1, 10), cum_weights=_LINE_COUNT_WEIGHTS)[0]
    zero_code: str | None = None
    if cp.country in ("US", "GB", "CH"):
        zero_code = "70"
    elif cp.country != "BE" and not cp.private:
        zero_code = "51" if rng.random() < 0.35 else "55"
    elif cp.cocontractor and rng.random() < 0.7:
        zero_code = "21"
    elif rng.random() < 0.006:
        zero_code = "24"
    lines: list[dict[str, Any]] = []
    for _ in range(count):
        desc, ref, low, high, rate, kind = rng.choice(catalogue)
        line: dict[str, Any] = {"Quantity": _quantity(rng, kind), "UnitPriceExcl": _unit_price(rng, low, high)}
        if ref and rng.random() < 0.8:
            line["Reference"] = ref
        line["Description"] = desc
        if rng.random() < 0.15:
            line["DescriptionExtended"] = (
                f"{desc} — {rng.choice(['periode', 'période', 'project', 'dossier'])} {rng.randrange(1, 999):03d}"
            )
        if rng.random() < 0.05:
            line["ReductionPercentage"] = Decimal(rng.choice([5, 10, 15, 20, 25])).quantize(Q2)
        line["VATPercentage"] = _RATE[0 if zero_code else rate]
        lines.append(line)
    if zero_code is None and rng.random() < 0.04:
        # Disbursements passed on outside the scope of VAT need a line-level 0 % code (§9.1).
        lines.append({"Quantity": ONE5, "UnitPriceExcl": _unit_price(rng, 1500, 25000),
                      "Description": "Doorgerekende kosten (buiten btw)", "VATPercentage": _RATE[0],
                      "VentilationCode": "22"})  # fmt: skip
    if rng.random() < 0.05:
        rate_of_first = lines[0]["VATPercentage"]
        lines.append({"Quantity": ONE5, "UnitPriceExcl": -_unit_price(rng, 500, 5000),
                      "Description": rng.choice(["Korting vaste klant", "Remise fidélité", "Discount"]),
                      "VATPercentage": rate_of_first})  # fmt: skip
    shown = zero_code or "4"
    return lines, zero_code, shown


def _cost_lines(state: _State, cp: _Counterparty, via_peppol: bool) -> tuple[list[dict[str, Any]], str | None, str]:
    rng = state.rng
    rate, code, items = _SUPPLIER_CATEGORIES[cp.category]
    count = min(rng.choices(range(1, 10), cum_weights=_LINE_COUNT_WEIGHTS)[0], 2 * len(items) + 1)
    lines: list[dict[str, Any]] = []
    for n in range(1, count + 1):
        desc, low, high, kind = rng.choice(items)
        line_rate = rate
        if code == "1" and rng.random() < 0.05:
            line_rate = rng.choice([0, 6, 12])
        line = {
            "Quantity": _quantity(rng, kind),
            "UnitPriceExcl": _unit_price(rng, low, high),
            "Description": desc,
            "VATPercentage": _RATE[line_rate],
            "InclLeading": False,
        }
        if via_peppol:
            # Received UBL lines keep their InvoiceLine/ID and name in CustomFields (§4.8).
            line["CustomFields"] = {"Name": desc, "PeppolLineID": str(n)}
        lines.append(line)
    header = None if code == "1" else code
    return lines, header, code


_ORDER_KEYS = (
    "OrderID", "CompanyID", "OrderPDF", "Attachments", "OrderNumber", "Customer", "Supplier", "CounterParty",
    "OrderDate", "ExpiryDate", "OrderType", "LastModified", "Created", "OrderDirection", "OrderLines",
    "OrderTitle", "PaymentDiscountPercentage", "PaymentDiscountAmount", "VatGroups", "VentilationCode",
    "TotalExcl", "TotalIncl", "TotalVAT", "Reference", "Tags", "PaymentReference", "AboutInvoiceNumber", "Paid",
    "PaidDate", "ExternalProviderID", "ExternalProvider", "ExternalProviderReferences", "Comments", "Currency",
    "IsSent", "Invoiced", "CustomFields", "PeriodFrom", "PeriodTill", "LastReminder", "RemindersSent", "ToPay",
    "OrderStatus", "ApprovalStatus", "FXRateToForeign", "DeliveryDate", "PaymentLinks",
    "AccountantVerificationNeeded", "CurrentDocumentDeliveryDetails", "Messages",
)  # fmt: skip
_LINE_KEYS = (
    "OrderLineID", "Quantity", "UnitPriceExcl", "Reference", "Description", "DescriptionExtended",
    "ReductionPercentage", "TotalExcl", "TotalVAT", "VATPercentage", "VentilationCode", "CustomFields",
    "InclLeading", "TotalIncl",
)  # fmt: skip


def _finish_lines(state: _State, lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for line in lines:
        ordered: dict[str, Any] = {"OrderLineID": state.next_line_id}
        state.next_line_id += 1
        ordered.update(line)
        ordered.setdefault("CustomFields", {})
        ordered.setdefault("InclLeading", False)
        out.append(ordered)
    return out


def _next_number(state: _State, kind: str, year: int) -> int:
    key = (kind, year)
    state.sequences[key] = state.sequences.get(key, 0) + 1
    return state.sequences[key]


def _events_income(state: _State, order: Order, cp: _Counterparty, created: datetime, is_credit_note: bool) -> datetime:
    """Delivery, responses, payment and reminders of a sales document; returns the natural LastModified."""
    rng, start = state.rng, state.start
    age_days = (start - created).total_seconds() / 86400
    last = created
    total: Decimal = order["TotalIncl"]
    messages: list[dict[str, Any]] = []
    details: dict[str, Any] = {"IsDocumentDelivered": False}
    status = "ToSend"
    language = "EN"
    if rng.random() < 0.3:
        language = "NL" if state.company_id == 574991 else "FR"
    unsent_chance = 0.6 if age_days < 10 else 0.015
    sent_at: datetime | None = None
    if rng.random() >= unsent_chance:
        delay = (
            timedelta(seconds=rng.randrange(20, 900))
            if rng.random() < 0.7
            else timedelta(days=rng.randrange(0, 4), hours=rng.randrange(1, 20))
        )
        candidate = _stamp(rng, created + delay)
        if candidate <= start:
            sent_at = candidate
    refused = False
    if sent_at is not None:
        status = "ToPay"
        order["IsSent"] = True
        last = max(last, sent_at)
        use_peppol = cp.peppol_status == "invoice" and rng.random() < 0.93
        if use_peppol:
            destination = cp.peppol_destination or ""
            outgoing = {
                "FileID": state.uuid(),
                "CreationDate": sent_at,
                "TransportType": "Peppol",
                "Success": True,
                "Trials": 1,
                "Destination": destination,
                "MessageDirection": "Outgoing",
            }
            messages.append(outgoing)
            roll = rng.random()
            if roll < 0.035 or (start - sent_at) < timedelta(minutes=3):
                details = {"IsDocumentDelivered": False, "DocumentDeliveryStatus": "Pending"}
            elif roll < 0.075:
                refused_at = _stamp(rng, sent_at + timedelta(seconds=rng.randrange(5, 3600)))
                refused_at = min(refused_at, start)
                outgoing["Success"] = False
                outgoing["Trials"] = rng.randrange(1, 4)
                details = {
                    "DocumentRefusedDate": refused_at,
                    "DocumentRefusedReasonTC": "InvalidInvoice",
                    "DocumentRefusedInfo": rng.choice(_REFUSAL_INFOS),
                    "IsDocumentDelivered": False,
                    "DocumentDeliveryStatus": "Error",
                }
                last = max(last, refused_at)
            else:
                delivered_at = min(_stamp(rng, sent_at + timedelta(seconds=rng.randrange(2, 90))), start)
                details = {
                    "DocumentDeliveryDate": delivered_at,
                    "IsDocumentDelivered": True,
                    "DocumentDeliveryStatus": "Delivered",
                }
                last = max(last, delivered_at)
                responses: list[tuple[str, datetime]] = []
                if rng.random() < 0.9:
                    responses.append(("AB", delivered_at + timedelta(seconds=rng.randrange(5, 600))))
                    follow = rng.random()
                    later = delivered_at + timedelta(days=rng.randrange(1, 12), seconds=rng.randrange(86400))
                    if follow < 0.03:
                        responses.append(("RE", later))
                        refused = True
                    elif follow < 0.06:
                        responses.append(("IP", later))
                    elif follow < 0.085:
                        responses.append(("UQ", later))
                    elif follow < 0.105:
                        responses.append(("CA", later))
                    elif follow < 0.3:
                        responses.append(("AP", later))
                for code, moment in responses:
                    moment = _stamp(rng, moment)
                    if moment > start:
                        break
                    _add_response(state, messages, details, code, moment, destination, language)
                    if code == "RE":
                        messages[-1]["Description"] += f" {rng.choice(_REJECT_REASONS)}."
                    last = max(last, moment)
        else:
            outgoing = {
                "Description": "",
                "FileID": state.uuid(),
                "CreationDate": sent_at,
                "TransportType": "SMTP",
                "Success": True,
                "Trials": 1,
                "Destination": cp.email.split(";")[0],
                "MessageDirection": "Outgoing",
            }
            messages.append(outgoing)
            if rng.random() < 0.02:
                details = {"IsDocumentDelivered": False, "DocumentDeliveryStatus": "Pending"}
            else:
                delivered_at = min(_stamp(rng, sent_at + timedelta(seconds=rng.randrange(1, 30))), start)
                details = {
                    "DocumentDeliveryDate": delivered_at,
                    "DocumentDeliveryInfo": "",
                    "IsDocumentDelivered": True,
                    "DocumentDeliveryStatus": "Delivered",
                }
                last = max(last, delivered_at)

    # Payment (§6.3: a credit note about an invoice is always fully prepaid).
    paid_at: datetime | None = None
    if is_credit_note and "AboutInvoiceNumber" in order:
        paid_at = created
    elif sent_at is not None and not refused and not (is_credit_note and rng.random() < 0.5):
        order_date: datetime = order["OrderDate"]
        if rng.random() < 0.93:
            delay_days = max(0, int(rng.gauss(cp.terms * 0.8, cp.terms * 0.5)))
            candidate = _stamp(rng, _business_moment(rng, order_date + timedelta(days=delay_days)))
            if candidate <= start:
                paid_at = max(candidate, sent_at)
    elif is_credit_note and sent_at is not None and rng.random() < 0.5:
        paid_at = sent_at
    if paid_at is not None:
        order["Paid"] = True
        order["PaidDate"] = _midnight(paid_at)
        order["ToPay"] = ZERO
        status = "Paid"
        last = max(last, paid_at)
        # Only receivers that answer with IMRs at all (they sent AB) report the payment with a PD response.
        answers_imr = len(messages) > 1 and messages[0]["TransportType"] == "Peppol"
        if answers_imr and not is_credit_note and rng.random() < 0.35:
            moment = _stamp(rng, paid_at + timedelta(hours=rng.randrange(1, 72)))
            if moment <= start:
                _add_response(state, messages, details, "PD", moment, messages[0]["Destination"], language)
                last = max(last, moment)
    else:
        order["Paid"] = False
        if sent_at is not None and rng.random() < 0.03 and total > 1:
            order["ToPay"] = (total * Decimal(rng.randrange(20, 80)) / 100).quantize(Q2)
        else:
            order["ToPay"] = total
        if refused:
            status = "Refused"

    reminders = 0
    expiry: datetime = order["ExpiryDate"]
    if sent_at is not None and not is_credit_note and not refused:
        settled = paid_at or start
        overdue_days = (settled - expiry).days
        if overdue_days > 7:
            reminders = min(3, overdue_days // 14 + (0 if paid_at else 1))
            if reminders:
                last_reminder = _stamp(rng, _business_moment(rng, expiry + timedelta(days=7 + 14 * (reminders - 1))))
                if last_reminder <= start:
                    order["LastReminder"] = last_reminder
                    last = max(last, last_reminder)
                else:
                    reminders -= 1
    order["RemindersSent"] = reminders
    order["OrderStatus"] = status
    order["CurrentDocumentDeliveryDetails"] = details
    order["Messages"] = messages
    return last


def _add_response(
    state: _State,
    messages: list[dict[str, Any]],
    details: dict[str, Any],
    code: str,
    moment: datetime,
    destination: str,
    language: str,
) -> None:
    messages.append({"Description": _IMR_TEXTS[code], "FileID": state.uuid(), "CreationDate": moment,
                     "TransportType": "Peppol", "Success": True, "Trials": 0, "Destination": destination,
                     "MessageDirection": "Incoming"})  # fmt: skip
    details["DocumentDeliveryInfo"] = _DELIVERY_INFO[language][code]
    # Keep Billit's key order: DocumentDeliveryInfo sits between the date and the flags.
    for key in ("IsDocumentDelivered", "DocumentDeliveryStatus"):
        details[key] = details.pop(key)


def _events_cost(state: _State, order: Order, cp: _Counterparty, created: datetime) -> datetime:
    rng, start = state.rng, state.start
    # Billit saves a received document twice within a second or two (§4.8: Created .231, LastModified .05 s).
    last = min(created + timedelta(milliseconds=rng.randrange(50, 2500)), start)
    age_days = (start - created).total_seconds() / 86400
    status = "ToPay"
    paid_at: datetime | None = None
    if age_days < 20 and rng.random() < 0.1:
        status = "ApprovalNeeded"
        order["ApprovalStatus"] = "Pending"
    elif rng.random() < 0.95:
        delay = max(0, int(rng.gauss(cp.terms * 0.9, cp.terms * 0.4)))
        candidate = _stamp(rng, _business_moment(rng, order["OrderDate"] + timedelta(days=delay)))
        if candidate <= start:
            paid_at = max(candidate, last)
    if paid_at is not None:
        order["Paid"] = True
        order["PaidDate"] = _midnight(paid_at)
        order["ToPay"] = ZERO
        status = "Paid"
        last = max(last, paid_at)
    else:
        order["Paid"] = False
        order["ToPay"] = order["TotalIncl"]
    # IsSent on purchases is a free export flag that the accountant's tool PATCHes (§4.2).
    if rng.random() < 0.45:
        exported = _stamp(rng, created + timedelta(days=rng.randrange(0, 30), seconds=rng.randrange(86400)))
        if exported <= start:
            order["IsSent"] = True
            last = max(last, exported)
    order["RemindersSent"] = 0
    order["OrderStatus"] = status
    order["CurrentDocumentDeliveryDetails"] = {"IsDocumentDelivered": False}
    order["Messages"] = []
    return last


def _build_order(state: _State, order_id: int, created: datetime) -> tuple[Order, datetime]:
    rng = state.rng
    income = rng.random() < 0.55
    is_credit_note = rng.random() < 0.10
    if income:
        cp = state.customers[rng.choices(range(len(state.customers)), cum_weights=state.customer_weights)[0]]
    else:
        cp = state.suppliers[rng.choices(range(len(state.suppliers)), cum_weights=state.supplier_weights)[0]]

    if income:
        order_date = _midnight(created) - timedelta(days=0 if rng.random() < 0.8 else rng.randrange(1, 6))
    else:
        order_date = _midnight(created) - timedelta(days=rng.randrange(0, 12))
    terms = cp.terms if rng.random() < 0.9 else rng.choice([0, 8, 14, 30, 60, 90])
    expiry = order_date + timedelta(days=terms)
    delivery = order_date if rng.random() < 0.8 else order_date - timedelta(days=rng.randrange(1, 20))

    via_peppol = not income and cp.peppol_status == "invoice" and rng.random() < 0.93
    if income:
        lines, calc_code, shown_code = _income_lines(state, cp)
    else:
        lines, calc_code, shown_code = _cost_lines(state, cp, via_peppol)
    lines_out, vat_groups, totals = compute_order_totals(
        _finish_lines(state, lines), header_ventilation_code=calc_code, direction="Income" if income else "Cost"
    )
    lines_out = [_in_key_order(line, _LINE_KEYS) for line in lines_out]

    year = order_date.year
    if income:
        invoice_format, credit_format, stem = _NUMBERING[state.company_id]
        kind = "CreditNote" if is_credit_note else "Invoice"
        fmt = credit_format if is_credit_note else invoice_format
        number = fmt.format(y=year, n=_next_number(state, kind, year))
    else:
        if not cp.number_format:
            cp.number_format = rng.choice(_SUPPLIER_NUMBER_FORMATS)
            cp.next_number = rng.randrange(1, 5000)
        fmt = cp.number_format
        if is_credit_note:
            fmt = "CN-" + fmt if rng.random() < 0.6 else "C" + fmt
        number = fmt.format(y=year, n=cp.next_number)
        cp.next_number += rng.randrange(1, 40)  # suppliers invoice other customers in between

    order: Order = {"OrderID": order_id, "CompanyID": state.company_id}
    if income:
        safe_number = number.replace("/", "-")
        prefix = "CreditNote" if is_credit_note else "Invoice"
        order["OrderPDF"] = {"FileID": state.uuid(), "FileName": f"{prefix}_{safe_number}_{stem}.pdf"}
        json_name = f"{number.replace('/', '_')}__{_file_stamp(created)}.json"
        order["Attachments"] = [{"FileID": state.uuid(), "FileName": json_name}]
    elif via_peppol:
        state.inbox_sequence += rng.randrange(1, 40)
        xml_name = f"188201-{state.inbox_sequence}-{state.uuid()}.xml"
        order["OrderPDF"] = {"FileID": state.uuid(), "FileName": f"{xml_name}_1.pdf"}
        order["Attachments"] = [{"FileID": state.uuid(), "FileName": xml_name}]
        order["ExternalProvider"] = "Peppol"
    else:
        order["OrderPDF"] = {"FileID": state.uuid(), "FileName": f"scan_{_slug(number)}_{order_id}.pdf"}
        order["Attachments"] = []
    order["OrderNumber"] = number
    if income:
        order["Customer"] = _copy_party(cp.party)
        order["Supplier"] = _copy_party(state.own_as_supplier)
    else:
        order["Customer"] = _copy_party(state.own_as_customer)
        order["Supplier"] = _copy_party(cp.party)
    order["CounterParty"] = _copy_party(cp.summary)
    order["OrderDate"] = order_date
    order["ExpiryDate"] = expiry
    order["OrderType"] = "CreditNote" if is_credit_note else "Invoice"
    order["LastModified"] = created  # replaced below
    order["Created"] = created
    order["OrderDirection"] = "Income" if income else "Cost"
    order["OrderLines"] = lines_out
    if rng.random() < 0.25:
        order["OrderTitle"] = rng.choice(["Project Atlas", "Bestelling", "Commande", "Maintenance Q", "Onderhoud"])
    order["PaymentDiscountPercentage"] = ZERO
    order["PaymentDiscountAmount"] = ZERO
    order["VatGroups"] = vat_groups
    order["VentilationCode"] = shown_code
    order["TotalExcl"] = totals["TotalExcl"]
    order["TotalIncl"] = totals["TotalIncl"]
    order["TotalVAT"] = totals["TotalVAT"]
    if rng.random() < 0.3:
        order["Reference"] = f"PO-{year}-{rng.randrange(1, 9999):04d}"
    order["Tags"] = []
    if income or cp.country == "BE":
        order["PaymentReference"] = ogm_reference(rng.randrange(10**10))
    else:
        order["PaymentReference"] = number
    if is_credit_note and income and state.income_invoice_numbers and rng.random() < 0.7:
        recent = state.income_invoice_numbers[-200:]
        order["AboutInvoiceNumber"] = rng.choice(recent)
    if income and rng.random() < 0.6:
        order["ExternalProviderID"] = f"erp-{'cn' if is_credit_note else 'inv'}-{order_id - 2_000_000:07d}"
    elif not income and rng.random() < 0.05:
        order["ExternalProviderID"] = f"dms-{rng.getrandbits(32):08x}"
    if income:
        order["ExternalProvider"] = "APIFeed"
    order["ExternalProviderReferences"] = []
    if not income and order.get("ExternalProvider") == "Peppol" and "OrderTitle" in order:
        order["Comments"] = order["OrderTitle"]
    currency = "EUR"
    if cp.country in _CURRENCIES and rng.random() < 0.8:
        currency = _CURRENCIES[cp.country]
    elif rng.random() < 0.02:
        currency = rng.choice(["USD", "GBP", "CHF"])
    order["Currency"] = currency
    order["IsSent"] = False
    order["Invoiced"] = False
    order["CustomFields"] = {}
    if not income and rng.random() < 0.1:
        period_from = order_date.replace(day=1)
        order["PeriodFrom"] = period_from
        order["PeriodTill"] = (period_from + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    if income:
        last = _events_income(state, order, cp, created, is_credit_note)
    else:
        last = _events_cost(state, order, cp, created)
    if currency == "EUR":
        order["FXRateToForeign"] = ONE5
    else:
        jitter = Decimal(rng.randrange(-400, 401)) / 10_000
        order["FXRateToForeign"] = (_FX_BASE[currency] + jitter).quantize(Q5)
    order["DeliveryDate"] = delivery
    order["PaymentLinks"] = (
        [{"ClickUrl": "", "QRImageUrl": f"https://files.example/qr/{order_id}.png"}]
        if income and not is_credit_note
        else []
    )
    order["AccountantVerificationNeeded"] = rng.random() < 0.02
    if income and not is_credit_note:
        state.income_invoice_numbers.append(number)
    return _in_key_order(order, _ORDER_KEYS), last


def _in_key_order(item: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    # Key order has no meaning in JSON, but a stored order that reads like Billit's GET output is easier to
    # compare with the docs; keys missing from ``keys`` keep their place at the end.
    ordered = {key: item[key] for key in keys if key in item}
    if len(ordered) != len(item):
        ordered.update(item)
    return ordered


def _default_tie_sizes(orders: int) -> tuple[int, ...]:
    if orders >= 1000:
        return (300, 130)
    size = min(orders // 4, 150)
    return (size,) if size > 1 else ()


def _apply_ties(
    rng: random.Random, orders: list[Order], natural: list[datetime], sizes: tuple[int, ...], start: datetime
) -> None:
    """Bulk updates (imports, mass status changes) give hundreds of orders one identical LastModified."""
    taken: set[int] = set()
    by_time = sorted(range(len(orders)), key=natural.__getitem__)
    fractions = [0.62, 0.86, 0.4, 0.75, 0.93, 0.5]
    first = start - timedelta(days=SPAN_DAYS)
    for n, size in enumerate(sorted(sizes, reverse=True)):
        if size <= 0:
            continue
        moment = first + (start - first) * fractions[n % len(fractions)]
        moment = moment.replace(microsecond=rng.randrange(1000, 10_000) * 100)
        free = [i for i in by_time if i not in taken]
        candidates = [i for i in free if natural[i] <= moment]
        if len(candidates) < size:
            # Too few orders existed by then: move the bulk update late enough to find them.
            moment = natural[free[size - 1]]
            candidates = [i for i in free if natural[i] <= moment]
        for i in rng.sample(candidates, size):
            taken.add(i)
            orders[i]["LastModified"] = moment


def generate_orders(
    *,
    seed: int,
    orders: int,
    company_id: int = 574991,
    start: datetime | None = None,
    tie_sizes: tuple[int, ...] | None = None,
) -> list[Order]:
    """Generate ``orders`` full orders (storage form) for one own company, ascending by ``OrderID``.

    ``start`` is the "now" of the data set (default 2026-10-31 18:00): nothing happens after it and the books
    span the 18 months before it. ``tie_sizes`` are the sizes of the groups of orders that share one
    ``LastModified`` (default: 300 and 130 from 1,000 orders on, else one group of ``min(orders // 4, 150)``);
    pass ``()`` for none. The same arguments always return the same orders.
    """
    if company_id not in _OWN_BY_ID:
        known = ", ".join(str(c) for c in _OWN_BY_ID)
        raise ValueError(f"unknown own company {company_id}; the sandbox knows {known}")
    if orders < 0:
        raise ValueError("orders must be >= 0")
    start = start or DEFAULT_START
    sizes = _default_tie_sizes(orders) if tie_sizes is None else tuple(tie_sizes)
    if sum(sizes) > orders:
        raise ValueError(f"tie_sizes {sizes} need more than {orders} orders")
    # Every order stays alive until the end, so cyclic GC passes over the growing heap only cost time
    # (about 40 % of the run at 20,000 orders).
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _generate(seed, orders, company_id, start, sizes)
    finally:
        if gc_was_enabled:
            gc.enable()


def _generate(seed: int, orders: int, company_id: int, start: datetime, sizes: tuple[int, ...]) -> list[Order]:
    rng = random.Random(seed)
    company_index, own = _OWN_BY_ID[company_id]
    offset = company_index * _COMPANY_ID_STRIDE

    customers = _make_pool(rng, "Customer", _CUSTOMER_ID_BASE + offset // 10, _CUSTOMER_POOL, start)
    suppliers = _make_pool(rng, "Supplier", _SUPPLIER_ID_BASE + offset // 10, _SUPPLIER_POOL, start)
    own_as_customer = _copy_party(own)
    own_as_customer["PartyType"] = "Customer"
    state = _State(
        rng=rng,
        start=start,
        company_id=company_id,
        company_index=company_index,
        own_as_supplier=own,
        own_as_customer=own_as_customer,
        customers=customers,
        customer_weights=list(accumulate(_pareto_weights(rng, len(customers)))),
        suppliers=suppliers,
        supplier_weights=list(accumulate(_pareto_weights(rng, len(suppliers)))),
        next_line_id=_ORDER_LINE_ID_BASE + company_index * 10 * _COMPANY_ID_STRIDE,
    )
    result: list[Order] = []
    natural: list[datetime] = []
    for n, created in enumerate(_created_times(rng, orders, start)):
        order, last = _build_order(state, _ORDER_ID_BASE + offset + n, created)
        order["LastModified"] = last
        result.append(order)
        natural.append(last)
    _apply_ties(rng, result, natural, sizes, start)
    return result


def _pareto_weights(rng: random.Random, count: int) -> list[float]:
    # A few customers and suppliers account for most documents, as in real books.
    return [rng.paretovariate(1.3) for _ in range(count)]


def _make_pool(rng: random.Random, party_type: str, id_base: int, size: int, start: datetime) -> list[_Counterparty]:
    pool: list[_Counterparty] = []
    special: list[tuple[str, str]]
    if party_type == "Customer":
        countries = [("BE", 78), ("NL", 7), ("FR", 5), ("DE", 4), ("LU", 2), ("GB", 1), ("US", 2), ("CH", 1)]
        special = [
            ("BE", "Zoë Vermeersch"), ("DE", "Müller GmbH"), ("FR", "Société Générale d'Électricité SA"),
            ("PL", "Łódź Logistics Sp. z o.o."), ("US", "Acme Analytics Inc."), ("GB", "Brontë & Co Ltd"),
        ] + [("BE", name) for name in _SPECIAL_BE_NAMES]  # fmt: skip
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
        cp = _make_counterparty(rng, id_base + n, party_type, country, name, start)
        if name == "Zoë Vermeersch":
            _make_private(cp)
        if party_type == "Supplier":
            if name and "Électricité" in name:
                cp.category = "energy"
            else:
                options = _CATEGORY_BY_COUNTRY[country]
                cp.category = rng.choices([c for c, _ in options], weights=[w for _, w in options])[0]
        else:
            cp.cocontractor = country == "BE" and not cp.private and rng.random() < 0.08
        pool.append(cp)
    return pool


def _make_private(cp: _Counterparty) -> None:
    cp.private = True
    for form in (cp.party, cp.summary):
        form.pop("VATNumber", None)
        form["Identifiers"] = []
        form["VATLiable"] = False
        form["VATDeductable"] = False
    cp.peppol_status = "none"
    cp.peppol_destination = None
