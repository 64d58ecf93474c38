"""Full orders -> warehouse rows, on the documented examples
(docs/reference/billit-api.md#sales-invoice-example, #received-invoice-example)."""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

from connectors.billit.wire import parse_json
from sandbox.identity import PARTY_ID
from tasks.normalise.orders import normalise_orders

FIXTURES = Path(__file__).parent / "fixtures"


def load(name: str) -> dict:
    return parse_json((FIXTURES / name).read_text())


def test_the_documented_sales_invoice_becomes_one_invoice_with_lines_groups_messages_and_parties() -> None:
    batch = normalise_orders([load("docs_sales_order.json")], stream="sales", run_id="r1")
    (invoice,) = batch.invoices
    assert invoice["order_id"] == 2610451 and invoice["direction"] == "Income"
    assert (invoice["total_excl"], invoice["total_vat"], invoice["total_incl"]) == (
        Decimal("777.35"),
        Decimal("157.64"),
        Decimal("934.99"),
    )
    assert invoice["order_date"] == date(2026, 3, 2) and invoice["expiry_date"] == date(2026, 4, 1)
    assert invoice["last_modified"] == datetime(2026, 3, 2, 10, 21, 45, 600000)
    assert invoice["last_modified_raw"] == "2026-03-02T10:21:45.6"
    assert (invoice["delivery_status"], invoice["is_document_delivered"], invoice["document_delivery_info"]) == (
        "Delivered",
        True,
        "Received",
    )
    assert invoice["last_response_code"] == "AB"
    # The customer's CBE (0208) is preferred over its VAT number, as Billit routes it
    # (docs/reference/billit-api.md#party-identifiers).
    assert invoice["counterparty_peppol_id"] == "0208:0412345614"
    assert invoice["counterparty_enterprise_number"] == "0412345614"
    assert "overdue" not in " ".join(invoice)  # computed at query time, never stored

    assert [line["total_incl"] for line in batch.lines] == [Decimal("919.60"), Decimal("39.59"), Decimal("-24.20")]
    assert [(line["vat_category"], line["base_grids"], line["vat_grids"]) for line in batch.lines] == [
        ("S", "03", "54"),
        ("S", "01", "54"),
        ("S", "03", "54"),
    ]
    assert [(group["vat_category"], group["taxable_base"]) for group in batch.vat_groups] == [
        ("S", Decimal("37.35")),
        ("S", Decimal("740.00")),
    ]
    assert [(m["message_direction"], m["response_code"]) for m in batch.messages] == [
        ("Outgoing", None),
        ("Incoming", "AB"),
    ]
    assert set(batch.parties) == {1088213, PARTY_ID}
    assert {(row["source"], row["peppol_id"], row["is_valid"]) for row in batch.identifiers[1088213]} == {
        ("VATNumber", "9925:BE0412345614", True),
        ("CBE", "0208:0412345614", True),
    }
    assert batch.quarantine == []


def test_the_documented_purchase_invoice_maps_cost_code_1_by_rate() -> None:
    batch = normalise_orders([load("docs_cost_order.json")], stream="incoming", run_id="r1")
    (invoice,) = batch.invoices
    assert invoice["direction"] == "Cost" and invoice["counterparty_party_id"] == 1090044
    assert invoice["delivery_status"] is None and invoice["is_document_delivered"] is False
    assert invoice["period_from"] == date(2026, 3, 1) and invoice["comments"] == "Bestelling maart"
    assert [(line["ventilation_code"], line["vat_category"], line["vat_rate"]) for line in batch.lines] == [
        ("1", "S", Decimal("21.00")),
        ("1", "S", Decimal("21.00")),
        ("1", "S", Decimal("6.00")),
    ]
    assert [line["vat_grids"] for line in batch.lines] == ["59", "59", "59"]
    assert sum(group["total_incl"] for group in batch.vat_groups) == invoice["total_incl"] == Decimal("416.77")


def test_an_order_without_an_id_or_with_an_unknown_code_is_quarantined_not_dropped() -> None:
    broken = load("docs_sales_order.json")
    del broken["OrderID"]
    odd = load("docs_cost_order.json")
    odd["OrderLines"][1]["VentilationCode"] = "77"
    batch = normalise_orders([broken, odd], stream="incoming", run_id="r1")
    assert [invoice["order_id"] for invoice in batch.invoices] == [2611907]
    reasons = {(row["entity"], row["entity_key"]): row["reason"] for row in batch.quarantine}
    assert set(reasons) == {("order", "?"), ("line", "2611907/2")}
    assert "OrderID" in reasons[("order", "?")] and "77" in reasons[("line", "2611907/2")]
    assert json.loads(next(r["payload"] for r in batch.quarantine if r["entity"] == "order"))["OrderNumber"] == (
        "INV-2026-0042"
    )
    assert batch.lines[1]["vat_category"] is None and batch.lines[1]["total_incl"] == Decimal("42.35")


def _with_customer(**changes: object) -> dict:
    order = load("docs_sales_order.json")
    order["Customer"].update(changes)
    return order


def test_a_partys_enterprise_number_is_its_peppol_ids_and_another_one_is_noted() -> None:
    # Found by an outside tester: parties.enterprise_number came from the VAT number and peppol_id from the CBE,
    # two companies on one row and no flag.
    order = _with_customer(
        VATNumber="BE0123456749", Identifiers=[{"IdentifierType": "CBE", "Identifier": "0403019261"}]
    )
    batch = normalise_orders([order], stream="sales", run_id="r1")
    (invoice,) = batch.invoices
    assert (invoice["counterparty_peppol_id"], invoice["counterparty_enterprise_number"]) == (
        "0208:0403019261",
        "0403019261",
    )
    assert batch.parties[1088213]["enterprise_number"] == "0403019261"
    rows = {row["source"]: row for row in batch.identifiers[1088213]}
    # Still valid: a VAT unit's member keeps its own enterprise number beside the unit's VAT number.
    assert (rows["VATNumber"]["is_valid"], rows["VATNumber"]["peppol_id"]) == (True, "9925:BE0123456749")
    assert rows["VATNumber"]["reason"] == (
        "conflict: names enterprise number 0123456749, the party's CBE names 0403019261 (a VAT unit and its member, "
        "or a mistake: check)"
    )


def test_a_valid_identifier_wins_over_the_same_text_under_a_wrong_scheme_id() -> None:
    # Found by a review: the first of two entries with one text was kept even when it was the invalid one, and the
    # party lost its Peppol id.
    order = _with_customer(
        VATNumber=None,
        Identifiers=[
            {"IdentifierType": "CBE", "Identifier": "0123456749", "SchemeID": "9925"},
            {"IdentifierType": "CBE", "Identifier": "0123456749", "SchemeID": "0208"},
        ],
    )
    batch = normalise_orders([order], stream="sales", run_id="r1")
    (row,) = batch.identifiers[1088213]
    assert (row["is_valid"], row["peppol_id"]) == (True, "0208:0123456749")
    assert batch.invoices[0]["counterparty_peppol_id"] == "0208:0123456749"


def test_the_same_text_under_one_type_with_two_scheme_ids_is_one_row_and_the_partys_id_names_it() -> None:
    order = _with_customer(
        VATNumber=None,
        Identifiers=[
            {"IdentifierType": "VAT", "Identifier": "0123456749", "SchemeID": "0208"},
            {"IdentifierType": "VAT", "Identifier": "0123456749", "SchemeID": "9925"},
        ],
    )
    batch = normalise_orders([order], stream="sales", run_id="r1")
    (row,) = batch.identifiers[1088213]
    assert batch.parties[1088213]["peppol_id"] == row["peppol_id"] == "0208:0123456749"


def test_an_overlong_identifier_is_stored_under_a_bounded_key_and_the_order_loads() -> None:
    # PostgreSQL refused the row (an index row of 12,040 bytes): raw is part of party_identifiers' key.
    raw = "ABCDEFGHIJ" * 1200
    batch = normalise_orders([_with_customer(VATNumber=raw)], stream="sales", run_id="r1")
    assert batch.quarantine == [] and len(batch.invoices) == 1
    row = next(row for row in batch.identifiers[1088213] if row["source"] == "VATNumber")
    assert len(row["raw"]) <= 200 and row["raw"].startswith(raw[:100]) and "12000 characters" in row["raw"]
    assert row["is_valid"] is False
