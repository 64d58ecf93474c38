"""The Intervat drafts of tasks/vat/intervat.py, validated against the FPS Finance XSDs (tests/fixtures/intervat/).

Every document built here goes through `xmlschema.XMLSchema(...).validate`; the content checks read the XML
back with ElementTree. One test per document removes or breaks what the schema requires and sees validation fail,
so a schema that accepts anything cannot make these tests pass.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import xmlschema

from tasks.vat.intervat import (
    CLIENT_LISTING_NS,
    COMMON_NS,
    INTRA_NS,
    VAT_NS,
    Declarant,
    IntraClient,
    ListedClient,
    VatPeriod,
    client_listing_xml,
    intra_listing_xml,
    vat_declaration_xml,
)

SCHEMAS = Path(__file__).resolve().parents[1] / "fixtures" / "intervat"
NS = {"vat": VAT_NS, "intra": INTRA_NS, "listing": CLIENT_LISTING_NS, "common": COMMON_NS}

DECLARANT = Declarant(
    vat_number="BE0123456749",
    name="Démo Trading SRL",
    street="Rue de la Loi 16",
    postcode="1000",
    city="Bruxelles",
    email="compta@demo-trading.be",
    phone="+32 2 123 45 67",
)
MINIMAL_DECLARANT = Declarant(vat_number="BE0403678168", name="Minimal BV")
# Valid Belgian VAT numbers (mod 97) for listed customers.
CUSTOMER_A, CUSTOMER_B, CUSTOMER_C = "BE0876543270", "BE0445523473", "BE1020304002"
LARGEST = Decimal("99999999999.99")
ONE_INTRA_ROW = [IntraClient("DE", "123456789", "L", Decimal(1))]


@cache
def schema(name: str) -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(str(SCHEMAS / name))


def valid_return(xml: bytes) -> ET.Element:
    schema("NewTVA-in_v0_9.xsd").validate(xml)
    return ET.fromstring(xml)


def valid_intra_listing(xml: bytes) -> ET.Element:
    schema("NewICO-in_v0_9.xsd").validate(xml)
    return ET.fromstring(xml)


def valid_client_listing(xml: bytes) -> ET.Element:
    schema("NewLK-in_v0_9.xsd").validate(xml)
    return ET.fromstring(xml)


def grids_written(root: ET.Element) -> dict[str, str]:
    return {
        amount.get("GridNumber", ""): amount.text or ""
        for amount in root.findall("vat:VATDeclaration/vat:Data/vat:Amount", NS)
    }


def child(element: ET.Element, path: str) -> ET.Element:
    found = element.find(path, NS)
    assert found is not None, path
    return found


def local_names(element: ET.Element) -> list[str]:
    return [child.tag.split("}")[1] for child in element]


def refused(call: Callable[[], Any], match: str) -> str:
    with pytest.raises(ValueError, match=match) as refusal:
        call()
    message = str(refusal.value)
    assert "\n" not in message
    return message


# --- VatPeriod -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "period", "shown"),
    [
        ("2026-Q3", VatPeriod(2026, quarter=3), "2026-Q3"),
        ("2026-07", VatPeriod(2026, month=7), "2026-07"),
        ("2026-q1", VatPeriod(2026, quarter=1), "2026-Q1"),
        (" 2026-12 ", VatPeriod(2026, month=12), "2026-12"),
    ],
)
def test_period_parses_a_quarter_or_a_month_and_prints_it_back(text: str, period: VatPeriod, shown: str) -> None:
    assert VatPeriod.parse(text) == period
    assert str(period) == shown


@pytest.mark.parametrize(
    ("period", "first_day", "last_day"),
    [
        (VatPeriod(2028, quarter=1), date(2028, 1, 1), date(2028, 3, 31)),
        (VatPeriod(2026, quarter=4), date(2026, 10, 1), date(2026, 12, 31)),
        (VatPeriod(2028, month=2), date(2028, 2, 1), date(2028, 2, 29)),
        (VatPeriod(2026, month=6), date(2026, 6, 1), date(2026, 6, 30)),
    ],
)
def test_period_first_and_last_day_cover_the_whole_month_or_quarter(
    period: VatPeriod, first_day: date, last_day: date
) -> None:
    assert (period.first_day, period.last_day) == (first_day, last_day)


@pytest.mark.parametrize(
    "text", ["2026-13", "2026-00", "2026-Q5", "2026-Q0", "2026", "26-07", "2026-7", "2026/07", "", "July 2026"]
)
def test_period_refuses_any_other_spelling_with_a_one_line_message(text: str) -> None:
    refused(lambda: VatPeriod.parse(text), "--period must look like 2026-Q3 or 2026-07")


@pytest.mark.parametrize(
    "arguments",
    [
        {"year": 2026},
        {"year": 2026, "month": 1, "quarter": 1},
        {"year": 2026, "month": 13},
        {"year": 2026, "quarter": 0},
        {"year": 26, "month": 1},
    ],
)
def test_period_needs_a_four_digit_year_and_exactly_one_valid_month_or_quarter(arguments: dict[str, int]) -> None:
    refused(lambda: VatPeriod(**arguments), "VAT period")


# --- The periodic VAT return (NewTVA-in) ------------------------------------------------------------------------


def test_quarterly_return_validates_with_its_grids_in_order_and_zero_grids_left_out() -> None:
    grids = {
        "54": Decimal("2100.00"),
        "03": Decimal("10000"),
        "00": Decimal("0.00"),
        "59": Decimal("450.50"),
        "82": Decimal("2145.24"),
        "71": Decimal("1649.50"),
        "81": Decimal("0"),
    }
    root = valid_return(vat_declaration_xml(DECLARANT, VatPeriod(2026, quarter=3), grids, reference="2026-Q3-A"))

    assert root.tag == f"{{{VAT_NS}}}VATConsignment"
    assert root.get("VATDeclarationsNbr") == "1"
    declaration = root.find("vat:VATDeclaration", NS)
    assert declaration is not None
    assert declaration.attrib == {"SequenceNumber": "1", "DeclarantReference": "2026-Q3-A"}
    assert local_names(declaration) == ["Declarant", "Period", "Data", "ClientListingNihil", "Ask"]
    assert local_names(child(declaration, "vat:Period")) == ["Quarter", "Year"]
    assert declaration.findtext("vat:Period/vat:Quarter", namespaces=NS) == "3"
    assert declaration.findtext("vat:Period/vat:Year", namespaces=NS) == "2026"
    assert list(grids_written(root).items()) == [
        ("3", "10000.00"),
        ("54", "2100.00"),
        ("59", "450.50"),
        ("71", "1649.50"),
        ("82", "2145.24"),
    ]
    assert declaration.findtext("vat:ClientListingNihil", namespaces=NS) == "NO"
    ask = declaration.find("vat:Ask", NS)
    assert ask is not None and ask.attrib == {"Restitution": "NO", "Payment": "NO"}


def test_monthly_return_validates_and_names_the_month() -> None:
    xml = vat_declaration_xml(
        MINIMAL_DECLARANT,
        VatPeriod(2026, month=7),
        {"01": Decimal("100"), "54": Decimal("6"), "71": Decimal("6")},
        reference="M07",
    )
    root = valid_return(xml)

    assert root.findtext("vat:VATDeclaration/vat:Period/vat:Month", namespaces=NS) == "7"
    assert root.find("vat:VATDeclaration/vat:Period/vat:Quarter", NS) is None
    assert xml.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n')


def test_declarant_fields_are_written_in_the_schema_order_in_the_input_common_namespace() -> None:
    root = valid_return(vat_declaration_xml(DECLARANT, VatPeriod(2026, month=1), {"71": Decimal(0)}, reference="R"))
    declarant = root.find("vat:VATDeclaration/vat:Declarant", NS)
    assert declarant is not None

    assert [child.tag for child in declarant] == [
        f"{{{COMMON_NS}}}{name}"
        for name in ("VATNumber", "Name", "Street", "PostCode", "City", "CountryCode", "EmailAddress", "Phone")
    ]
    assert declarant.findtext("common:VATNumber", namespaces=NS) == "0123456749"
    assert declarant.findtext("common:Name", namespaces=NS) == "Démo Trading SRL"
    assert declarant.findtext("common:CountryCode", namespaces=NS) == "BE"


def test_a_declarant_with_only_vat_number_and_name_validates() -> None:
    root = valid_return(
        vat_declaration_xml(MINIMAL_DECLARANT, VatPeriod(2026, quarter=1), {"71": Decimal(0)}, reference="R")
    )
    declarant = root.find("vat:VATDeclaration/vat:Declarant", NS)
    assert declarant is not None
    assert local_names(declarant) == ["VATNumber", "Name", "CountryCode"]


@pytest.mark.parametrize(
    "grids", [{"71": Decimal(0)}, {"00": Decimal(0), "71": Decimal("0.00")}, {"71": Decimal(0), "72": Decimal(0)}]
)
def test_a_nil_return_writes_grid_71_at_zero(grids: dict[str, Decimal]) -> None:
    root = valid_return(vat_declaration_xml(DECLARANT, VatPeriod(2026, quarter=2), grids, reference="NIL"))

    assert grids_written(root) == {"71": "0.00"}


def test_a_refundable_balance_writes_grid_72_and_may_ask_restitution_and_payment_forms() -> None:
    grids = {"59": Decimal("900"), "54": Decimal("100"), "71": Decimal(0), "72": Decimal("800")}
    root = valid_return(
        vat_declaration_xml(
            DECLARANT, VatPeriod(2026, month=3), grids, reference="REFUND", ask_restitution=True, ask_payment_forms=True
        )
    )

    assert grids_written(root) == {"54": "100.00", "59": "900.00", "72": "800.00"}
    ask = root.find("vat:VATDeclaration/vat:Ask", NS)
    assert ask is not None and ask.attrib == {"Restitution": "YES", "Payment": "YES"}


def test_grid_72_given_alone_at_zero_is_kept_as_given() -> None:
    root = valid_return(vat_declaration_xml(DECLARANT, VatPeriod(2026, month=3), {"72": Decimal(0)}, reference="R"))
    assert grids_written(root) == {"72": "0.00"}


def test_the_last_return_of_the_year_can_say_no_client_listing() -> None:
    root = valid_return(
        vat_declaration_xml(
            DECLARANT, VatPeriod(2026, quarter=4), {"71": Decimal(0)}, reference="R", client_listing_nihil=True
        )
    )
    assert root.findtext("vat:VATDeclaration/vat:ClientListingNihil", namespaces=NS) == "YES"


def test_asking_restitution_without_a_refundable_balance_is_refused() -> None:
    refused(
        lambda: vat_declaration_xml(
            DECLARANT, VatPeriod(2026, month=3), {"71": Decimal("5")}, reference="R", ask_restitution=True
        ),
        "grid 72",
    )


def test_grid_91_is_only_taken_in_the_monthly_return_of_december() -> None:
    grids = {"91": Decimal("1200"), "71": Decimal("300")}
    root = valid_return(vat_declaration_xml(DECLARANT, VatPeriod(2026, month=12), grids, reference="DEC"))
    assert grids_written(root) == {"71": "300.00", "91": "1200.00"}

    refused(
        lambda: vat_declaration_xml(DECLARANT, VatPeriod(2026, quarter=4), grids, reference="Q4"),
        "grid 91 is only for the monthly return of December, not 2026-Q4",
    )


def test_the_largest_amount_intervat_takes_validates_and_one_cent_more_is_refused() -> None:
    grids = {"03": LARGEST, "54": Decimal("20999999999.99"), "71": Decimal("20999999999.99")}
    root = valid_return(vat_declaration_xml(DECLARANT, VatPeriod(2026, month=5), grids, reference="BIG"))
    assert grids_written(root)["3"] == "99999999999.99"

    refused(
        lambda: vat_declaration_xml(
            DECLARANT, VatPeriod(2026, month=5), {"03": LARGEST + Decimal("0.01"), "71": Decimal(0)}, reference="BIG"
        ),
        "more than Intervat takes",
    )


def test_amounts_are_written_with_two_decimals_and_never_an_exponent_or_a_minus_zero() -> None:
    grids = {"01": Decimal("1E+3"), "54": Decimal("60.5"), "71": Decimal("-0.00"), "00": Decimal("7")}
    root = valid_return(vat_declaration_xml(DECLARANT, VatPeriod(2026, month=5), grids, reference="FMT"))
    assert grids_written(root) == {"0": "7.00", "1": "1000.00", "54": "60.50", "71": "0.00"}


def test_the_return_needs_grid_71_or_72() -> None:
    refused(
        lambda: vat_declaration_xml(DECLARANT, VatPeriod(2026, month=5), {"03": Decimal("10")}, reference="R"),
        "grid 71 .* or grid 72",
    )


def test_grids_71_and_72_cannot_both_hold_an_amount() -> None:
    refused(
        lambda: vat_declaration_xml(
            DECLARANT, VatPeriod(2026, month=5), {"71": Decimal("1"), "72": Decimal("1")}, reference="R"
        ),
        "cannot both hold an amount",
    )


@pytest.mark.parametrize(
    ("grids", "match"),
    [
        ({"54": Decimal("-5.00")}, "grid 54 is negative"),
        ({"54": Decimal("1.005")}, "more than 2 decimals"),
        ({"54": 1.5}, "must be a Decimal, not float"),
        ({"54": "1.50"}, "must be a Decimal, not str"),
        ({"54": Decimal("NaN")}, "not an amount"),
        ({"1": Decimal(1)}, "'1' is not a grid"),
        ({"99": Decimal(1)}, "'99' is not a grid"),
    ],
)
def test_grid_amounts_the_schema_would_refuse_are_refused(grids: dict[str, Any], match: str) -> None:
    refused(
        lambda: vat_declaration_xml(DECLARANT, VatPeriod(2026, month=5), {**grids, "71": Decimal(0)}, reference="R"),
        match,
    )


@pytest.mark.parametrize("reference", ["", "REFERENCE-15-CH", " R", "R ", "A  B", "A\tB"])
def test_a_reference_intervat_would_not_take_is_refused(reference: str) -> None:
    refused(
        lambda: vat_declaration_xml(DECLARANT, VatPeriod(2026, month=5), {"71": Decimal(0)}, reference=reference),
        "reference",
    )


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"vat_number": "0123456749"}, "must be BE followed by 10 digits"),
        ({"vat_number": "BE123456789"}, "must be BE followed by 10 digits"),
        ({"vat_number": "be0123456749"}, "must be BE followed by 10 digits"),
        ({"vat_number": "BE 0123.456.749"}, "must be BE followed by 10 digits"),
        ({"vat_number": "BE0123456748"}, "fails the Belgian check digits"),
        ({"name": " "}, "declarant name is empty"),
        ({"name": "N" * 201}, "longer than the 200 characters"),
        ({"postcode": "1" * 16}, "longer than the 15 characters"),
        ({"city": "C" * 185}, "longer than the 184 characters"),
        ({"name": "Tab\x01Corp"}, "control character"),
        ({"country": "US"}, "not a member-state code"),
        ({"country": "GR"}, "not a member-state code"),
        ({"email": "a+b@example.be"}, "email"),
        ({"email": "info@example.brussels"}, "email"),
        ({"phone": "+32 (0)2 123 45 67"}, "phone"),
    ],
)
def test_a_declarant_the_schema_would_refuse_is_refused(changes: dict[str, str], match: str) -> None:
    declarant = Declarant(**{**DECLARANT.__dict__, **changes})
    refused(lambda: vat_declaration_xml(declarant, VatPeriod(2026, month=5), {"71": Decimal(0)}, reference="R"), match)
    refused(lambda: client_listing_xml(declarant, 2026, []), match)


# --- The intra-community listing (NewICO-in) --------------------------------------------------------------------


def test_monthly_intra_listing_validates_with_one_row_per_customer_and_code() -> None:
    clients = [
        IntraClient("DE", "123456789", "L", Decimal("15000")),
        IntraClient("DE", "123456789", "S", Decimal("2500.25")),
        IntraClient("FR", "12345678901", "T", Decimal("0.75")),
        IntraClient("NL", "123456789B01", "S", Decimal("99")),
    ]
    root = valid_intra_listing(intra_listing_xml(DECLARANT, VatPeriod(2026, month=7), clients, reference="ICO-07"))

    assert root.tag == f"{{{INTRA_NS}}}IntraConsignment" and root.get("IntraListingsNbr") == "1"
    listing = root.find("intra:IntraListing", NS)
    assert listing is not None
    assert listing.attrib == {
        "SequenceNumber": "1",
        "ClientsNbr": "4",
        "DeclarantReference": "ICO-07",
        "AmountSum": "17600.00",
    }
    assert local_names(listing) == ["Declarant", "Period", "IntraClient", "IntraClient", "IntraClient", "IntraClient"]
    assert listing.findtext("intra:Period/intra:Month", namespaces=NS) == "7"
    rows = [
        (
            client.get("SequenceNumber"),
            local_names(client),
            child(client, "intra:CompanyVATNumber").get("issuedBy"),
            client.findtext("intra:CompanyVATNumber", namespaces=NS),
            client.findtext("intra:Code", namespaces=NS),
            client.findtext("intra:Amount", namespaces=NS),
        )
        for client in listing.findall("intra:IntraClient", NS)
    ]
    assert rows == [
        ("1", ["CompanyVATNumber", "Code", "Amount"], "DE", "123456789", "L", "15000.00"),
        ("2", ["CompanyVATNumber", "Code", "Amount"], "DE", "123456789", "S", "2500.25"),
        ("3", ["CompanyVATNumber", "Code", "Amount"], "FR", "12345678901", "T", "0.75"),
        ("4", ["CompanyVATNumber", "Code", "Amount"], "NL", "123456789B01", "S", "99.00"),
    ]


def test_quarterly_intra_listing_validates_without_a_reference() -> None:
    root = valid_intra_listing(
        intra_listing_xml(
            MINIMAL_DECLARANT, VatPeriod(2026, quarter=2), [IntraClient("LU", "12345613", "S", Decimal("480"))]
        )
    )
    listing = root.find("intra:IntraListing", NS)
    assert listing is not None and "DeclarantReference" not in listing.attrib
    assert local_names(child(listing, "intra:Period")) == ["Quarter", "Year"]


def test_greek_customers_are_listed_under_el_and_gr_is_refused_with_a_hint() -> None:
    root = valid_intra_listing(
        intra_listing_xml(DECLARANT, VatPeriod(2026, month=1), [IntraClient("EL", "094014201", "L", Decimal("1000"))])
    )
    vat_number = root.find("intra:IntraListing/intra:IntraClient/intra:CompanyVATNumber", NS)
    assert vat_number is not None and vat_number.get("issuedBy") == "EL" and vat_number.text == "094014201"

    refused(
        lambda: intra_listing_xml(
            DECLARANT, VatPeriod(2026, month=1), [IntraClient("GR", "094014201", "L", Decimal("1000"))]
        ),
        "Greece is EL",
    )


def test_british_customers_are_only_taken_before_2021() -> None:
    british = [IntraClient("GB", "123456789", "S", Decimal("10"))]
    valid_intra_listing(intra_listing_xml(DECLARANT, VatPeriod(2020, quarter=4), british))

    refused(lambda: intra_listing_xml(DECLARANT, VatPeriod(2021, quarter=1), british), "left the EU VAT area")


def test_large_intra_amounts_validate_and_their_sum_may_exceed_a_single_amount() -> None:
    clients = [IntraClient("DE", "123456789", "L", LARGEST), IntraClient("AT", "U12345678", "L", LARGEST)]
    root = valid_intra_listing(intra_listing_xml(DECLARANT, VatPeriod(2026, month=1), clients))
    assert child(root, "intra:IntraListing").get("AmountSum") == "199999999999.98"


def test_an_empty_intra_listing_raises_nothing_to_list() -> None:
    # The schema has no nil listing: IntraClient occurs at least once and ClientsNbr is a positive integer.
    refused(lambda: intra_listing_xml(DECLARANT, VatPeriod(2026, month=1), []), "nothing to list")


@pytest.mark.parametrize(
    ("client", "match"),
    [
        (IntraClient("US", "123456789", "L", Decimal(1)), "not a member-state code"),
        (IntraClient("de", "123456789", "L", Decimal(1)), "not a member-state code"),
        (IntraClient("BE", "0123456749", "L", Decimal(1)), "annual client listing"),
        (IntraClient("DE", "DE123456789", "L", Decimal(1)), "without its country prefix"),
        (IntraClient("EL", "GR094014201", "L", Decimal(1)), "without its country prefix"),
        (IntraClient("NL", "123456789b01", "L", Decimal(1)), "2 to 12 digits or capital letters"),
        (IntraClient("NL", "1234567890123", "L", Decimal(1)), "2 to 12 digits or capital letters"),
        (IntraClient("DE", "123456789", "X", Decimal(1)), "code is L"),
        (IntraClient("DE", "123456789", "l", Decimal(1)), "code is L"),
        (IntraClient("DE", "123456789", "L", Decimal("-10")), "is negative"),
        (IntraClient("DE", "123456789", "L", Decimal("10.001")), "more than 2 decimals"),
        (IntraClient("DE", "123456789", "L", LARGEST + 1), "more than Intervat takes"),
    ],
)
def test_intra_rows_the_schema_would_refuse_are_refused(client: IntraClient, match: str) -> None:
    refused(lambda: intra_listing_xml(DECLARANT, VatPeriod(2026, month=1), [client]), match)


def test_the_same_customer_and_code_twice_is_refused() -> None:
    twice = [IntraClient("DE", "123456789", "L", Decimal(1)), IntraClient("DE", "123456789", "L", Decimal(2))]
    refused(lambda: intra_listing_xml(DECLARANT, VatPeriod(2026, month=1), twice), "DE 123456789 L appears twice")


# --- The annual client listing (NewLK-in) -----------------------------------------------------------------------


def test_client_listing_validates_with_the_count_and_both_sums() -> None:
    clients = [
        ListedClient(CUSTOMER_A, Decimal("12500"), Decimal("2625")),
        ListedClient(CUSTOMER_B, Decimal("300.10"), Decimal("18.01")),
        ListedClient(CUSTOMER_C, Decimal("251"), Decimal("0")),
    ]
    root = valid_client_listing(client_listing_xml(DECLARANT, 2026, clients, reference="LK2026"))

    assert root.tag == f"{{{CLIENT_LISTING_NS}}}ClientListingConsignment" and root.get("ClientListingsNbr") == "1"
    listing = root.find("listing:ClientListing", NS)
    assert listing is not None
    assert listing.attrib == {
        "SequenceNumber": "1",
        "ClientsNbr": "3",
        "DeclarantReference": "LK2026",
        "TurnOverSum": "13051.10",
        "VATAmountSum": "2643.01",
    }
    assert local_names(listing) == ["Declarant", "Period", "Client", "Client", "Client"]
    assert listing.findtext("listing:Period", namespaces=NS) == "2026"
    rows = [
        (
            client.get("SequenceNumber"),
            local_names(client),
            child(client, "listing:CompanyVATNumber").get("issuedBy"),
            client.findtext("listing:CompanyVATNumber", namespaces=NS),
            client.findtext("listing:TurnOver", namespaces=NS),
            client.findtext("listing:VATAmount", namespaces=NS),
        )
        for client in listing.findall("listing:Client", NS)
    ]
    assert rows == [
        ("1", ["CompanyVATNumber", "TurnOver", "VATAmount"], "BE", "0876543270", "12500.00", "2625.00"),
        ("2", ["CompanyVATNumber", "TurnOver", "VATAmount"], "BE", "0445523473", "300.10", "18.01"),
        ("3", ["CompanyVATNumber", "TurnOver", "VATAmount"], "BE", "1020304002", "251.00", "0.00"),
    ]


def test_a_client_listing_without_clients_is_the_nil_listing_the_schema_allows() -> None:
    root = valid_client_listing(client_listing_xml(MINIMAL_DECLARANT, 2026, []))
    listing = root.find("listing:ClientListing", NS)
    assert listing is not None
    assert listing.attrib == {"SequenceNumber": "1", "ClientsNbr": "0", "TurnOverSum": "0.00", "VATAmountSum": "0.00"}
    assert local_names(listing) == ["Declarant", "Period"]


def test_large_listed_amounts_validate_and_their_sums_may_exceed_a_single_amount() -> None:
    clients = [ListedClient(CUSTOMER_A, LARGEST, LARGEST), ListedClient(CUSTOMER_B, LARGEST, Decimal("0.01"))]
    root = valid_client_listing(client_listing_xml(DECLARANT, 2026, clients))
    listing = root.find("listing:ClientListing", NS)
    assert listing is not None
    assert (listing.get("TurnOverSum"), listing.get("VATAmountSum")) == ("199999999999.98", "100000000000.00")


def test_a_client_credited_more_than_billed_is_written_with_signed_amounts_the_schema_takes() -> None:
    # TurnOver and VATAmount are SignedAmount_Type, their sums UnlimitedSignedAmount_Type: a customer whose credit
    # notes outweigh its invoices is listed with negative amounts (they used to be refused here as "negative").
    clients = [
        ListedClient(CUSTOMER_A, Decimal("-400.00"), Decimal("-84.00")),
        ListedClient(CUSTOMER_B, Decimal("300.00"), Decimal("63.00")),
    ]
    root = valid_client_listing(client_listing_xml(DECLARANT, 2026, clients))
    listing = root.find("listing:ClientListing", NS)
    assert listing is not None
    assert (listing.get("TurnOverSum"), listing.get("VATAmountSum")) == ("-100.00", "-21.00")
    amounts = [e.text for e in listing.iter() if e.tag.split("}")[-1] in ("TurnOver", "VATAmount")]
    assert amounts == ["-400.00", "-84.00", "300.00", "63.00"]


@pytest.mark.parametrize(
    ("client", "match"),
    [
        (ListedClient("0876543270", Decimal(1), Decimal(0)), "must be BE followed by 10 digits"),
        (ListedClient("NL123456789B01", Decimal(1), Decimal(0)), "must be BE followed by 10 digits"),
        (ListedClient("BE0876543271", Decimal(1), Decimal(0)), "fails the Belgian check digits"),
        (ListedClient(CUSTOMER_A, -LARGEST - 1, Decimal(0)), "more than Intervat takes"),
        (ListedClient(CUSTOMER_A, Decimal("1.234"), Decimal(0)), "more than 2 decimals"),
        (ListedClient(CUSTOMER_A, LARGEST + 1, Decimal(0)), "more than Intervat takes"),
        (ListedClient(CUSTOMER_A, Decimal(1), 0.21), "must be a Decimal, not float"),  # type: ignore[arg-type]
    ],
)
def test_listed_clients_the_schema_would_refuse_are_refused(client: ListedClient, match: str) -> None:
    refused(lambda: client_listing_xml(DECLARANT, 2026, [client]), match)


def test_the_same_listed_customer_twice_is_refused() -> None:
    twice = [ListedClient(CUSTOMER_A, Decimal(1), Decimal(0)), ListedClient(CUSTOMER_A, Decimal(2), Decimal(0))]
    refused(lambda: client_listing_xml(DECLARANT, 2026, twice), f"{CUSTOMER_A} appears twice")


@pytest.mark.parametrize("year", [26, 10000])
def test_a_client_listing_year_has_four_digits(year: int) -> None:
    refused(lambda: client_listing_xml(DECLARANT, year, []), "four digits")


# --- The schemas refuse what is wrong ---------------------------------------------------------------------------


def _without(xml: bytes, path: str) -> bytes:
    root = ET.fromstring(xml)
    parent_path, _, name = path.rpartition("/")
    parent = root.find(parent_path, NS) if parent_path else root
    assert parent is not None
    child = parent.find(name, NS)
    assert child is not None, path
    parent.remove(child)
    return ET.tostring(root, encoding="utf-8")


def _with_text(xml: bytes, path: str, text: str) -> bytes:
    root = ET.fromstring(xml)
    element = root.find(path, NS)
    assert element is not None, path
    element.text = text
    return ET.tostring(root, encoding="utf-8")


@pytest.mark.parametrize(
    ("schema_name", "build", "break_it"),
    [
        (
            "NewTVA-in_v0_9.xsd",
            lambda: vat_declaration_xml(DECLARANT, VatPeriod(2026, month=1), {"71": Decimal(1)}, reference="R"),
            lambda xml: _without(xml, "vat:VATDeclaration/vat:ClientListingNihil"),
        ),
        (
            "NewTVA-in_v0_9.xsd",
            lambda: vat_declaration_xml(DECLARANT, VatPeriod(2026, month=1), {"71": Decimal(1)}, reference="R"),
            lambda xml: _with_text(xml, "vat:VATDeclaration/vat:Data/vat:Amount", "1"),
        ),
        (
            "NewICO-in_v0_9.xsd",
            lambda: intra_listing_xml(DECLARANT, VatPeriod(2026, month=1), ONE_INTRA_ROW),
            lambda xml: _without(xml, "intra:IntraListing/intra:Period"),
        ),
        (
            "NewICO-in_v0_9.xsd",
            lambda: intra_listing_xml(DECLARANT, VatPeriod(2026, month=1), ONE_INTRA_ROW),
            lambda xml: _with_text(xml, "intra:IntraListing/intra:IntraClient/intra:Code", "X"),
        ),
        (
            "NewLK-in_v0_9.xsd",
            lambda: client_listing_xml(DECLARANT, 2026, [ListedClient(CUSTOMER_A, Decimal(1), Decimal(0))]),
            lambda xml: _without(xml, "listing:ClientListing/listing:Declarant/common:VATNumber"),
        ),
        (
            "NewLK-in_v0_9.xsd",
            lambda: client_listing_xml(DECLARANT, 2026, [ListedClient(CUSTOMER_A, Decimal(1), Decimal(0))]),
            lambda xml: _with_text(
                xml, "listing:ClientListing/listing:Client/listing:CompanyVATNumber", "BE0876543270"
            ),
        ),
    ],
)
def test_validation_fails_once_a_required_element_is_removed_or_a_value_broken(
    schema_name: str, build: Callable[[], bytes], break_it: Callable[[bytes], bytes]
) -> None:
    xml = build()
    schema(schema_name).validate(xml)

    with pytest.raises(xmlschema.XMLSchemaValidationError):
        schema(schema_name).validate(break_it(xml))
