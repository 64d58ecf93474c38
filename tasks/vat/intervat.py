"""Intervat XML drafts: the periodic VAT return, the intra-community listing and the annual client listing.

Intervat is the FPS Finance portal where Belgian VAT returns are filed. The functions here only write the XML an
accountant uploads there (and then reviews and signs in the portal); nothing is submitted, read or stored.

- `vat_declaration_xml`: a `VATConsignment` holding one `VATDeclaration`, the periodic return (form 625) for a
  month or a quarter: the declarant, the period and the grid amounts (schema `NewTVA-in_v0_9.xsd`).
- `intra_listing_xml`: an `IntraConsignment` holding one `IntraListing`, the intra-community listing (form 723) for
  a month or a quarter: one row per EU customer and code (L goods, T triangular, S services), `NewICO-in_v0_9.xsd`.
- `client_listing_xml`: a `ClientListingConsignment` holding one `ClientListing`, the annual listing of Belgian
  VAT-registered customers with their turnover and VAT, `NewLK-in_v0_9.xsd`.

The schemas (versions, sources, what each file is) are in tests/fixtures/intervat/README.md; the tests validate
every document written here against them. Input the schemas would refuse, or that Intervat's own rules quoted in
the schemas forbid (grid 71 or 72, grid 91 only in December), is refused here with a one-line ValueError, so a
draft that comes out of these functions is valid against its schema. The inputs (the declarant, the period, the
listing rows) are in tasks/vat/filing.py and importable from here too; the checks of single values against
their schema types in tasks/vat/intervat_values.py.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from decimal import Decimal

from tasks.vat.filing import PERIOD_FORMAT, Declarant, IntraClient, ListedClient, VatPeriod
from tasks.vat.intervat_values import (
    EMAIL,
    FOREIGN_VAT,
    PHONE,
    amount_text,
    belgian_vat_digits,
    checked_amount,
    checked_text,
    reference_text,
    refuse_duplicates,
    yes_no,
)

__all__ = [
    "CLIENT_LISTING_NS",
    "COMMON_NS",
    "DECLARANT_COUNTRIES",
    "GRID_DECEMBER_ADVANCE",
    "GRID_DUE",
    "GRID_REFUNDABLE",
    "INTRA_CODES",
    "INTRA_COUNTRIES",
    "INTRA_NS",
    "PERIOD_FORMAT",
    "VAT_GRIDS",
    "VAT_NS",
    "Declarant",
    "IntraClient",
    "ListedClient",
    "VatPeriod",
    "client_listing_xml",
    "intra_listing_xml",
    "vat_declaration_xml",
]

VAT_NS = "http://www.minfin.fgov.be/VATConsignment"
INTRA_NS = "http://www.minfin.fgov.be/IntraConsignment"
CLIENT_LISTING_NS = "http://www.minfin.fgov.be/ClientListingConsignment"
COMMON_NS = "http://www.minfin.fgov.be/InputCommon"

# ElementTree keeps namespace prefixes in one process-wide table; registering them only decides how these four
# namespaces are spelled in what we write (`common:` as the schemas call InputCommon). ElementTree cannot write a
# default namespace here: its default_namespace option refuses the documents' unqualified attributes.
for _prefix, _namespace in (
    ("vat", VAT_NS),
    ("intra", INTRA_NS),
    ("listing", CLIENT_LISTING_NS),
    ("common", COMMON_NS),
):
    ET.register_namespace(_prefix, _namespace)

# The grids of the periodic return: GridNumberCode in NewTVA-in_v0_9.xsd.
VAT_GRIDS = (
    "00",
    "01",
    "02",
    "03",
    "44",
    "45",
    "46",
    "47",
    "48",
    "49",
    "54",
    "55",
    "56",
    "57",
    "59",
    "61",
    "62",
    "63",
    "64",
    "71",
    "72",
    "81",
    "82",
    "83",
    "84",
    "85",
    "86",
    "87",
    "88",
    "91",
)
GRID_DUE, GRID_REFUNDABLE, GRID_DECEMBER_ADVANCE = "71", "72", "91"

# iso:MSCountryCodeExclBE in IntervatIsoTypes_v0_9.xsd: who can be on an intra-community listing. That schema
# version still has GB (refused below from 2021, when the UK left the EU VAT area) and no XI (Northern Ireland);
# Greece is EL, never GR.
INTRA_COUNTRIES = frozenset(
    {
        "AT",
        "BG",
        "CY",
        "CZ",
        "DK",
        "EE",
        "FI",
        "FR",
        "DE",
        "EL",
        "HU",
        "IE",
        "IT",
        "LV",
        "LT",
        "LU",
        "MT",
        "NL",
        "PL",
        "PT",
        "RO",
        "SK",
        "SI",
        "ES",
        "SE",
        "GB",
        "MC",
        "HR",
    }
)
# iso:MSCountryCode: the declarant's address country.
DECLARANT_COUNTRIES = INTRA_COUNTRIES | {"BE"}
INTRA_CODES = ("L", "T", "S")


def vat_declaration_xml(
    declarant: Declarant,
    period: VatPeriod,
    grids: Mapping[str, Decimal],
    *,
    reference: str,
    client_listing_nihil: bool = False,
    ask_restitution: bool = False,
    ask_payment_forms: bool = False,
) -> bytes:
    """The periodic VAT return for `period`, as a UTF-8 `VATConsignment` document (NewTVA-in_v0_9.xsd).

    `grids` maps grid numbers ("00", "01", ... "91", two digits) to amounts: Decimal, positive, at most 2 decimals
    and at most 99,999,999,999.99. Grids at 0.00 are left out, except the balance: exactly one of grid 71 (VAT
    due) or grid 72 (VAT refundable) must be given, and it is written even at 0.00 (given both, the one at 0.00
    is dropped). Grid 91 (December advance) is only for the monthly return of December. `reference` is your own
    reference for this return (at most 14 characters). The three flags are written as YES/NO; they default to
    NO, and asking restitution needs a refundable balance in grid 72.
    """
    amounts = _grid_amounts(grids, period)
    if ask_restitution and not amounts.get(GRID_REFUNDABLE):
        raise ValueError("asking restitution needs a refundable balance in grid 72")
    consignment = ET.Element(_tag(VAT_NS, "VATConsignment"), VATDeclarationsNbr="1")
    declaration = _element(
        consignment, VAT_NS, "VATDeclaration", SequenceNumber="1", DeclarantReference=reference_text(reference)
    )
    _declarant(declaration, VAT_NS, declarant)
    _period(declaration, VAT_NS, period)
    data = _element(declaration, VAT_NS, "Data")
    for grid in sorted(amounts, key=int):
        # GridNumberCode is an xs:integer whose enumeration reads "0", "1", ... "91": written the same way.
        _element(data, VAT_NS, "Amount", amount_text(amounts[grid]), GridNumber=str(int(grid)))
    _element(declaration, VAT_NS, "ClientListingNihil", yes_no(client_listing_nihil))
    _element(declaration, VAT_NS, "Ask", Restitution=yes_no(ask_restitution), Payment=yes_no(ask_payment_forms))
    return _serialise(consignment)


def intra_listing_xml(
    declarant: Declarant,
    period: VatPeriod,
    clients: Iterable[IntraClient],
    *,
    reference: str | None = None,
) -> bytes:
    """The intra-community listing for `period`, as a UTF-8 `IntraConsignment` document (NewICO-in_v0_9.xsd).

    One row per customer and code, in the order given. The schema has no nil listing (at least one client, and
    `ClientsNbr` is a positive integer): with no clients this raises ValueError "nothing to list", and nothing is
    to be filed for that period. Countries are the schema's member-state codes other than BE (Greece is EL);
    VAT numbers come without their country prefix. Amounts are positive: a negative amount corrects an earlier
    period, which Intervat wants with a correcting period these drafts do not write.
    """
    rows = list(clients)
    if not rows:
        raise ValueError(
            "nothing to list: an intra-community listing needs at least one client, "
            "file none for a period without intra-community supplies"
        )
    amounts = [_intra_row(row, period) for row in rows]
    refuse_duplicates([(row.country, row.vat_number, row.code) for row in rows], "intra-community listing")
    consignment = ET.Element(_tag(INTRA_NS, "IntraConsignment"), IntraListingsNbr="1")
    listing_attributes = {"SequenceNumber": "1", "ClientsNbr": str(len(rows))}
    if reference is not None:
        listing_attributes["DeclarantReference"] = reference_text(reference)
    listing_attributes["AmountSum"] = amount_text(sum(amounts, Decimal("0.00")))
    listing = _element(consignment, INTRA_NS, "IntraListing", **listing_attributes)
    _declarant(listing, INTRA_NS, declarant)
    _period(listing, INTRA_NS, period)
    for sequence, (row, amount) in enumerate(zip(rows, amounts, strict=True), start=1):
        client = _element(listing, INTRA_NS, "IntraClient", SequenceNumber=str(sequence))
        _element(client, INTRA_NS, "CompanyVATNumber", row.vat_number, issuedBy=row.country)
        _element(client, INTRA_NS, "Code", row.code)
        _element(client, INTRA_NS, "Amount", amount_text(amount))
    return _serialise(consignment)


def client_listing_xml(
    declarant: Declarant,
    year: int,
    clients: Iterable[ListedClient],
    *,
    reference: str | None = None,
) -> bytes:
    """The annual listing of Belgian customers for `year`, as a UTF-8 `ClientListingConsignment` (NewLK-in_v0_9.xsd).

    One row per customer, in the order given; the listing carries the count and the sums of turnover and VAT.
    Which customers to list (FPS Finance's threshold: 250 EUR excluding VAT per customer and year) is the caller's.
    With no clients the document is the nil listing the schema allows (`ClientsNbr="0"`, sums 0.00); a return of
    the last period may say the same with `client_listing_nihil=True` instead.
    """
    if not 1000 <= year <= 9999:
        raise ValueError(f"a client listing's year has four digits, not {year}")
    rows = list(clients)
    figures = [_listed_row(row) for row in rows]
    refuse_duplicates([(row.vat_number,) for row in rows], "client listing")
    consignment = ET.Element(_tag(CLIENT_LISTING_NS, "ClientListingConsignment"), ClientListingsNbr="1")
    listing_attributes = {"SequenceNumber": "1", "ClientsNbr": str(len(rows))}
    if reference is not None:
        listing_attributes["DeclarantReference"] = reference_text(reference)
    listing_attributes["TurnOverSum"] = amount_text(sum((turnover for _, turnover, _ in figures), Decimal("0.00")))
    listing_attributes["VATAmountSum"] = amount_text(sum((vat for _, _, vat in figures), Decimal("0.00")))
    listing = _element(consignment, CLIENT_LISTING_NS, "ClientListing", **listing_attributes)
    _declarant(listing, CLIENT_LISTING_NS, declarant)
    _element(listing, CLIENT_LISTING_NS, "Period", str(year))
    for sequence, (digits, turnover, vat) in enumerate(figures, start=1):
        client = _element(listing, CLIENT_LISTING_NS, "Client", SequenceNumber=str(sequence))
        _element(client, CLIENT_LISTING_NS, "CompanyVATNumber", digits, issuedBy="BE")
        _element(client, CLIENT_LISTING_NS, "TurnOver", amount_text(turnover))
        _element(client, CLIENT_LISTING_NS, "VATAmount", amount_text(vat))
    return _serialise(consignment)


def _grid_amounts(grids: Mapping[str, Decimal], period: VatPeriod) -> dict[str, Decimal]:
    """The grids to write: checked, zero grids dropped, exactly one of 71 and 72 kept."""
    amounts: dict[str, Decimal] = {}
    for grid, value in grids.items():
        if grid not in VAT_GRIDS:
            raise ValueError(f"grid {grid!r} is not a grid of the periodic return ({', '.join(VAT_GRIDS)})")
        amounts[grid] = checked_amount(value, f"grid {grid}")
    balances = {grid: amounts[grid] for grid in (GRID_DUE, GRID_REFUNDABLE) if grid in amounts}
    if not balances:
        raise ValueError("the return needs its balance: grid 71 (VAT due) or grid 72 (VAT refundable)")
    if len(balances) == 2 and all(balances.values()):
        raise ValueError("grids 71 (VAT due) and 72 (VAT refundable) cannot both hold an amount")
    # The schema's own note on Data: "grille 71 ou 72 obligatoire". Given both, the one at 0.00 goes (71 stays
    # when both are 0.00: a nil balance).
    if len(balances) == 1:
        (balance_grid,) = balances
    else:
        balance_grid = GRID_REFUNDABLE if balances[GRID_REFUNDABLE] else GRID_DUE
    if amounts.get(GRID_DECEMBER_ADVANCE) and period.month != 12:
        raise ValueError(f"grid 91 is only for the monthly return of December, not {period}")
    written = {grid: amount for grid, amount in amounts.items() if amount and grid not in balances}
    written[balance_grid] = balances[balance_grid]
    return written


def _intra_row(row: IntraClient, period: VatPeriod) -> Decimal:
    where = f"intra-community client {row.country} {row.vat_number}"
    if row.country == "GR":
        raise ValueError(f"{where}: Greece is EL on the intra-community listing, not GR")
    if row.country == "BE":
        raise ValueError(f"{where}: Belgian customers belong on the annual client listing, not this one")
    if row.country == "GB" and period.year >= 2021:
        raise ValueError(f"{where}: the United Kingdom left the EU VAT area at the end of 2020")
    if row.country not in INTRA_COUNTRIES:
        raise ValueError(f"{where}: {row.country!r} is not a member-state code the listing takes")
    if not isinstance(row.vat_number, str) or not FOREIGN_VAT.fullmatch(row.vat_number):
        raise ValueError(f"{where}: a VAT number is 2 to 12 digits or capital letters")
    if row.vat_number.startswith(row.country) or (row.country == "EL" and row.vat_number.startswith("GR")):
        raise ValueError(f"{where}: give the VAT number without its country prefix")
    if row.code not in INTRA_CODES:
        raise ValueError(f"{where}: code is L (goods), T (triangular) or S (services), not {row.code!r}")
    return checked_amount(
        row.amount, f"{where} amount", negative_hint="; corrections of earlier periods are not written"
    )


def _listed_row(row: ListedClient) -> tuple[str, Decimal, Decimal]:
    digits = belgian_vat_digits(row.vat_number, "listed client VAT number")
    where = f"listed client {row.vat_number}"
    return (
        digits,
        checked_amount(row.turnover, f"{where} turnover", signed=True),  # credit notes may outweigh the sales
        checked_amount(row.vat_amount, f"{where} VAT amount", signed=True),
    )


def _declarant(parent: ET.Element, namespace: str, declarant: Declarant) -> None:
    """The Declarant block (common:Declarant_Type): its fields are in the InputCommon namespace."""
    block = _element(parent, namespace, "Declarant")
    _element(block, COMMON_NS, "VATNumber", belgian_vat_digits(declarant.vat_number, "declarant VAT number"))
    _element(block, COMMON_NS, "Name", checked_text(declarant.name, "declarant name", 200))
    # Name_Type, Street_Type, PostCode_Type and City_Type are strings of at most 200, 200, 15 and 184 characters.
    for tag, value, what, longest in (
        ("Street", declarant.street, "declarant street", 200),
        ("PostCode", declarant.postcode, "declarant postcode", 15),
        ("City", declarant.city, "declarant city", 184),
    ):
        if value is not None:
            _element(block, COMMON_NS, tag, checked_text(value, what, longest))
    if declarant.country not in DECLARANT_COUNTRIES:
        raise ValueError(f"declarant country {declarant.country!r} is not a member-state code Intervat takes")
    _element(block, COMMON_NS, "CountryCode", declarant.country)
    if declarant.email is not None:
        if not EMAIL.fullmatch(declarant.email):
            raise ValueError(f"declarant email {declarant.email!r} does not match Intervat's address pattern")
        _element(block, COMMON_NS, "EmailAddress", declarant.email)
    if declarant.phone is not None:
        if not PHONE.fullmatch(declarant.phone):
            raise ValueError(f"declarant phone {declarant.phone!r}: digits, spaces and dashes, an optional leading +")
        _element(block, COMMON_NS, "Phone", declarant.phone)


def _period(parent: ET.Element, namespace: str, period: VatPeriod) -> None:
    block = _element(parent, namespace, "Period")
    if period.month is not None:
        _element(block, namespace, "Month", str(period.month))
    else:
        _element(block, namespace, "Quarter", str(period.quarter))
    _element(block, namespace, "Year", str(period.year))


def _tag(namespace: str, name: str) -> str:
    return f"{{{namespace}}}{name}"


def _element(parent: ET.Element, namespace: str, name: str, text: str | None = None, **attributes: str) -> ET.Element:
    element = ET.SubElement(parent, _tag(namespace, name), attributes)
    element.text = text
    return element


def _serialise(root: ET.Element) -> bytes:
    """UTF-8 with a declaration, indented for whoever opens the draft; the FPS examples are UTF-8 too."""
    ET.indent(root)
    body = ET.tostring(root, encoding="unicode")
    return f'<?xml version="1.0" encoding="UTF-8"?>\n{body}\n'.encode()
