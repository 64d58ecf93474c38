"""Tests for the sandbox seed data: deterministic, internally consistent and as messy as real books."""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from stdnum import ean, iban
from stdnum.be import vat as be_vat

from sandbox.calc import compute_order_totals
from sandbox.identity import COMPANIES, PARTY_ID, SECOND_PARTY_ID
from sandbox.seed import DEFAULT_START, OWN_COMPANIES, generate_orders, participant_registry

SEED = 20261031
MONEY_KEYS = {"TotalExcl", "TotalVAT", "TotalIncl", "Mtvh", "FinancialReductionAmount", "ToPay",
              "PaymentDiscountPercentage", "PaymentDiscountAmount", "ReductionPercentage", "VATPercentage",
              "DefaultReductionPercentage", "FinancialReductionPercentageDefault", "Saldo"}  # fmt: skip
FIVE_DECIMAL_KEYS = {"Quantity", "UnitPriceExcl", "FXRateToForeign"}
DATE_KEYS = {"OrderDate", "ExpiryDate", "DeliveryDate", "PaidDate", "PeriodFrom", "PeriodTill"}
OGM = re.compile(r"^\+\+\+(\d{3})/(\d{4})/(\d{5})\+\+\+$")


@pytest.fixture(scope="module")
def books() -> list[dict[str, Any]]:
    return generate_orders(seed=SEED, orders=2000)


def walk(value: Any, path: str = "") -> Iterator[tuple[str, str, Any]]:
    """Yield (path, key, value) for every member of nested dicts and lists."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield path, key, item
            yield from walk(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from walk(item, f"{path}[{index}]")


def income(books: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [o for o in books if o["OrderDirection"] == "Income"]


def test_the_same_arguments_give_identical_orders() -> None:
    first = generate_orders(seed=5, orders=300)
    second = generate_orders(seed=5, orders=300)

    assert first == second
    assert generate_orders(seed=6, orders=300) != first


def test_the_requested_number_of_orders_comes_back_with_ascending_unique_ids(books: list[dict[str, Any]]) -> None:
    ids = [o["OrderID"] for o in books]
    line_ids = [line["OrderLineID"] for o in books for line in o["OrderLines"]]

    assert len(books) == 2000
    assert ids == sorted(set(ids))
    assert ids[0] == 2_600_000
    assert len(line_ids) == len(set(line_ids))
    assert generate_orders(seed=1, orders=0) == []
    assert len(generate_orders(seed=1, orders=7)) == 7


def test_both_directions_and_credit_notes_appear_in_realistic_shares(books: list[dict[str, Any]]) -> None:
    directions = Counter(o["OrderDirection"] for o in books)
    credit_notes = sum(o["OrderType"] == "CreditNote" for o in books)
    line_counts = [len(o["OrderLines"]) for o in books]

    assert 0.48 < directions["Income"] / len(books) < 0.62
    assert 0.38 < directions["Cost"] / len(books) < 0.52
    assert 0.06 < credit_notes / len(books) < 0.14
    assert min(line_counts) >= 1 and max(line_counts) <= 11
    assert 4.3 < sum(line_counts) / len(line_counts) < 5.8


def test_every_total_equals_the_sum_of_its_vat_groups_and_matches_a_recalculation(
    books: list[dict[str, Any]],
) -> None:
    for order in books:
        groups = order["VatGroups"]
        assert order["TotalExcl"] == sum(g["TotalExcl"] for g in groups)
        assert order["TotalVAT"] == sum(g["TotalVAT"] for g in groups)
        assert order["TotalIncl"] == order["TotalExcl"] + order["TotalVAT"]
        header = order["VentilationCode"] if order["VentilationCode"] not in ("1", "4") else None
        lines, again, totals = compute_order_totals(
            order["OrderLines"], header_ventilation_code=header, direction=order["OrderDirection"]
        )
        assert again == groups
        assert totals == {k: order[k] for k in ("TotalExcl", "TotalVAT", "TotalIncl")}
        assert lines == order["OrderLines"]


def test_no_member_is_ever_none(books: list[dict[str, Any]]) -> None:
    nones = [f"{path}.{key}" for o in books for path, key, value in walk(o) if value is None]

    assert nones == []


def test_members_have_the_storage_types(books: list[dict[str, Any]]) -> None:
    for order in books:
        assert "Overdue" not in order and "DaysOverdue" not in order
        for path, key, value in walk(order):
            where = f"{order['OrderID']}{path}.{key}"
            assert not isinstance(value, float), where
            if key in MONEY_KEYS:
                assert isinstance(value, Decimal) and value.as_tuple().exponent == -2, where
            elif key in FIVE_DECIMAL_KEYS:
                assert isinstance(value, Decimal) and value.as_tuple().exponent == -5, where
            elif isinstance(value, datetime):
                assert value.tzinfo is None, where
                if key in DATE_KEYS:
                    assert value == value.replace(hour=0, minute=0, second=0, microsecond=0), where
        assert isinstance(order["OrderID"], int) and isinstance(order["CompanyID"], int)
        assert isinstance(order["Paid"], bool) and isinstance(order["IsSent"], bool)
        assert isinstance(order["OrderPDF"]["FileID"], str)
        assert order["CustomFields"] == {}


def test_timestamps_are_ordered_and_end_at_start(books: list[dict[str, Any]]) -> None:
    for order in books:
        assert order["Created"] <= order["LastModified"] <= DEFAULT_START
        assert order["OrderDate"] <= order["Created"]
        for message in order["Messages"]:
            assert order["Created"] <= message["CreationDate"] <= order["LastModified"]
        if "PaidDate" in order:
            assert order["PaidDate"] <= order["LastModified"]
    created = [o["Created"] for o in books]
    assert DEFAULT_START - min(created) > timedelta(days=500)
    assert DEFAULT_START - max(created) < timedelta(days=3)


def test_timestamps_have_varying_fraction_precision(books: list[dict[str, Any]]) -> None:
    digits = Counter(len(f"{o['Created'].microsecond:06d}".rstrip("0")) for o in books)

    assert {0, 1, 2, 3, 6} <= set(digits)


def test_a_cluster_of_300_orders_shares_one_last_modified_from_1000_orders_on() -> None:
    orders = generate_orders(seed=3, orders=1000)

    sizes = [count for _, count in Counter(o["LastModified"] for o in orders).most_common(2)]

    assert sizes == [300, 130]


def test_small_books_get_one_cluster_and_tie_sizes_can_be_chosen() -> None:
    default = Counter(o["LastModified"] for o in generate_orders(seed=3, orders=200))
    chosen = Counter(o["LastModified"] for o in generate_orders(seed=3, orders=600, tie_sizes=(121, 240)))
    untied = Counter(o["LastModified"] for o in generate_orders(seed=3, orders=300, tie_sizes=()))

    assert default.most_common(1)[0][1] == 50
    assert [c for _, c in chosen.most_common(2)] == [240, 121]
    assert untied.most_common(1)[0][1] < 5


def test_order_ids_are_not_in_last_modified_order(books: list[dict[str, Any]]) -> None:
    by_last_modified = [o["OrderID"] for o in sorted(books, key=lambda o: (o["LastModified"], o["OrderID"]))]

    assert by_last_modified != [o["OrderID"] for o in books]


def test_every_delivery_state_is_present_in_2000_orders(books: list[dict[str, Any]]) -> None:
    sales = income(books)
    states = Counter(o["CurrentDocumentDeliveryDetails"].get("DocumentDeliveryStatus", "NotSent") for o in sales)
    responses = Counter(m["Description"][:2] for o in sales for m in o["Messages"] if m.get("Description"))
    transports = Counter(o["Messages"][0]["TransportType"] for o in sales if o["Messages"])

    assert {"NotSent", "Pending", "Delivered", "Error"} <= set(states)
    assert {"AB", "AP", "RE", "IP", "UQ", "CA", "PD"} <= set(responses)
    assert {"Peppol", "SMTP"} == set(transports)


def test_unsent_sales_look_like_billit_before_sending(books: list[dict[str, Any]]) -> None:
    unsent = [o for o in income(books) if not o["IsSent"]]

    assert unsent
    for order in unsent:
        assert order["CurrentDocumentDeliveryDetails"] == {"IsDocumentDelivered": False}
        assert order["Messages"] == []
        assert order["OrderStatus"] in ("ToSend", "Paid")


def test_refused_deliveries_carry_the_refusal_details(books: list[dict[str, Any]]) -> None:
    errors = [o for o in income(books) if o["CurrentDocumentDeliveryDetails"].get("DocumentDeliveryStatus") == "Error"]

    assert errors
    for order in errors:
        details = order["CurrentDocumentDeliveryDetails"]
        assert details["DocumentRefusedReasonTC"] == "InvalidInvoice"
        assert details["DocumentRefusedInfo"]
        assert isinstance(details["DocumentRefusedDate"], datetime)
        assert details["IsDocumentDelivered"] is False


def test_delivered_peppol_sales_start_with_an_outgoing_message_and_an_ab_response(
    books: list[dict[str, Any]],
) -> None:
    delivered = [
        o for o in income(books)
        if o["Messages"] and o["Messages"][0]["TransportType"] == "Peppol"
        and o["CurrentDocumentDeliveryDetails"].get("DocumentDeliveryStatus") == "Delivered"
    ]  # fmt: skip

    assert delivered
    for order in delivered:
        first = order["Messages"][0]
        assert first["MessageDirection"] == "Outgoing" and "Description" not in first
        for response in order["Messages"][1:]:
            assert response["MessageDirection"] == "Incoming"
    with_ab = [o for o in delivered if len(o["Messages"]) > 1]
    assert all(o["Messages"][1]["Description"] == "AB: The document has been successfully received." for o in with_ab)


def test_payment_fields_agree_with_paid(books: list[dict[str, Any]]) -> None:
    statuses = Counter(o["OrderStatus"] for o in books)

    assert {"ToSend", "ToPay", "Paid"} <= set(statuses)
    for order in books:
        if order["Paid"]:
            assert "PaidDate" in order and order["ToPay"] == 0
            assert order["OrderStatus"] == "Paid"
        else:
            assert "PaidDate" not in order
            assert 0 < order["ToPay"] <= order["TotalIncl"]


def test_credit_notes_about_an_invoice_point_to_an_earlier_sales_invoice(books: list[dict[str, Any]]) -> None:
    seen: set[str] = set()
    about = 0
    for order in books:
        if "AboutInvoiceNumber" in order:
            about += 1
            assert order["OrderType"] == "CreditNote" and order["OrderDirection"] == "Income"
            assert order["AboutInvoiceNumber"] in seen
            assert order["Paid"] and order["ToPay"] == 0
        if order["OrderDirection"] == "Income" and order["OrderType"] == "Invoice":
            seen.add(order["OrderNumber"])
    credit_notes = [o for o in income(books) if o["OrderType"] == "CreditNote"]
    assert 0 < about < len(credit_notes)


def test_the_own_company_is_supplier_on_sales_and_customer_on_purchases(books: list[dict[str, Any]]) -> None:
    for order in books:
        if order["OrderDirection"] == "Income":
            own, other = order["Supplier"], order["Customer"]
        else:
            own, other = order["Customer"], order["Supplier"]
        assert own["PartyID"] == PARTY_ID
        assert order["CounterParty"]["PartyID"] == other["PartyID"] != PARTY_ID
        assert order["CompanyID"] == PARTY_ID


def test_channels_files_and_payment_references_follow_the_direction(books: list[dict[str, Any]]) -> None:
    for order in books:
        if order["OrderDirection"] == "Income":
            assert order["ExternalProvider"] == "APIFeed"
            assert order["Attachments"][0]["FileName"].endswith(".json")
            match = OGM.match(order["PaymentReference"])
            assert match is not None
            digits = "".join(match.groups())
            assert int(digits[10:]) == (int(digits[:10]) % 97 or 97)
        elif order.get("ExternalProvider") == "Peppol":
            assert order["Attachments"][0]["FileName"].endswith(".xml")
            assert order["OrderPDF"]["FileName"] == order["Attachments"][0]["FileName"] + "_1.pdf"
    cost = [o for o in books if o["OrderDirection"] == "Cost"]
    assert sum(o.get("ExternalProvider") == "Peppol" for o in cost) > len(cost) / 2


def test_foreign_currencies_carry_an_fx_rate(books: list[dict[str, Any]]) -> None:
    foreign = [o for o in books if o["Currency"] != "EUR"]

    assert {"USD", "GBP", "CHF"} <= {o["Currency"] for o in foreign}
    assert 0.02 < len(foreign) / len(books) < 0.09
    assert all(o["FXRateToForeign"] != 1 for o in foreign)
    assert all(o["FXRateToForeign"] == 1 for o in books if o["Currency"] == "EUR")


def test_ventilation_codes_cover_the_zero_rate_categories(books: list[dict[str, Any]]) -> None:
    sales_codes = {g["VentilationCode"] for o in income(books) for g in o["VatGroups"]}
    cost_codes = {g["VentilationCode"] for o in books if o["OrderDirection"] == "Cost" for g in o["VatGroups"]}

    assert {"2", "3", "4", "21", "22", "51", "55", "70"} <= sales_codes
    assert {"1", "21", "22", "51", "55", "70", "102", "111"} <= cost_codes


def test_counterparties_are_a_reused_pool_with_unicode_names(books: list[dict[str, Any]]) -> None:
    parties = {o["CounterParty"]["PartyID"]: o["CounterParty"] for o in books}
    names = {p["Name"] for p in parties.values()}

    assert 150 <= len(parties) <= 400
    assert {"Zoë Vermeersch", "Müller GmbH", "Société Générale d'Électricité SA", "Łódź Logistics Sp. z o.o."} <= names


def test_vat_numbers_are_messy_but_mostly_valid(books: list[dict[str, Any]]) -> None:
    parties = {o["CounterParty"]["PartyID"]: o["CounterParty"] for o in books}
    be_numbers = [p["VATNumber"] for p in parties.values() if p["CountryCode"] == "BE" and "VATNumber" in p]
    valid = [n for n in be_numbers if be_vat.is_valid(n)]
    all_numbers = [p.get("VATNumber", "") for p in parties.values()]

    assert 0.9 < len(valid) / len(be_numbers) < 1
    assert any(n.startswith("be") for n in be_numbers)
    assert any(re.fullmatch(r"\d{9}", n) for n in be_numbers)
    assert any(" " in n or "." in n for n in be_numbers)
    assert any(n.startswith("NL") and n[-3] == "B" for n in all_numbers)
    assert any(n.startswith("FR") for n in all_numbers) and any(n.startswith("DE") for n in all_numbers)
    assert any("VATNumber" not in p for p in parties.values())


def test_identifiers_include_cbe_gln_kvk_and_siret(books: list[dict[str, Any]]) -> None:
    identifiers = [i for o in books for i in o["CounterParty"]["Identifiers"]]
    by_type: dict[str, set[str]] = {}
    for entry in identifiers:
        by_type.setdefault(entry["IdentifierType"], set()).add(entry["Identifier"])
        assert set(entry) >= {"IdentifierType", "Identifier", "SchemeID", "Preferred"}

    assert {"CBE", "GLN", "KVK", "SIRET"} <= set(by_type)
    glns = by_type["GLN"]
    assert all(len(g) == 13 for g in glns)
    assert sum(ean.is_valid(g) for g in glns) / len(glns) > 0.85
    assert all(re.fullmatch(r"\d{8}", k) for k in by_type["KVK"])
    assert all(re.fullmatch(r"\d{14}", s) for s in by_type["SIRET"])


def test_own_companies_have_valid_numbers() -> None:
    assert [c["PartyID"] for c in OWN_COMPANIES] == [PARTY_ID, SECOND_PARTY_ID]
    for company in OWN_COMPANIES:
        assert be_vat.is_valid(company["VATNumber"])
        assert iban.is_valid(company["IBAN"])
    assert OWN_COMPANIES[0]["VATNumber"] == COMPANIES[0].vat_number


def test_the_second_company_gets_its_own_ids_and_numbering() -> None:
    orders = generate_orders(seed=2, orders=200, company_id=SECOND_PARTY_ID)

    assert orders[0]["OrderID"] == 3_600_000
    assert {o["CompanyID"] for o in orders} == {SECOND_PARTY_ID}
    assert any(o["OrderNumber"].startswith("F20") for o in orders if o["OrderDirection"] == "Income")
    with pytest.raises(ValueError):
        generate_orders(seed=2, orders=10, company_id=123)


def test_registry_knows_every_peppol_destination_and_some_unregistered_customers(
    books: list[dict[str, Any]],
) -> None:
    registry = participant_registry(books)
    destinations = {
        m["Destination"] for o in books for m in o["Messages"]
        if m["TransportType"] == "Peppol" and m["MessageDirection"] == "Outgoing"
    }  # fmt: skip

    for destination in destinations:
        entry = registry[destination]
        assert entry["Registered"] and "BISv3Invoice" in entry["DocumentTypes"]
        assert entry["Identifier"] == destination
    registered = [e for e in registry.values() if e["Registered"]]
    unregistered = [e for e in registry.values() if not e["Registered"]]
    assert len(registered) > len(unregistered) > 0
    assert all(e["DocumentTypes"] == [] and e["ServiceDetails"] == [] for e in unregistered)
    assert any(e["Registered"] and "BISv3Invoice" not in e["DocumentTypes"] for e in registry.values())
    assert registry[f"0208:{COMPANIES[0].enterprise_number}"]["Registered"]
    assert registry[f"9925:{COMPANIES[0].vat_number}"]["Registered"]


def test_generating_20000_orders_is_fast() -> None:
    began = time.perf_counter()
    orders = generate_orders(seed=SEED, orders=20_000)
    elapsed = time.perf_counter() - began

    print(f"generated {len(orders)} orders in {elapsed:.2f} s")
    assert len(orders) == 20_000
