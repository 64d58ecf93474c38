"""Outbound invoices from an ERP's own tables (tasks/outbound/source.py), on SQLite and PostgreSQL.

Each test creates a small ERP schema (erp_customers, erp_sales_invoices, erp_invoice_lines, with the ERP's own
column names) next to the warehouse's tables and takes it in through `samples/erp_source.sql`, the example
docs/warehouse.md shows, so the sample is tested as it ships.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from connectors.warehouse import reflect_tables
from sandbox.server import SandboxServer
from sandbox.store import Sandbox
from tasks.outbound.source import OutboundSourceError, read_source_file, take_in_source
from tests.tasks.push_helpers import expected_totals, orders_by_external_id, posts, push, stored
from tests.tasks.sync_helpers import SEED_START

SAMPLE = Path(__file__).resolve().parents[2] / "samples" / "erp_source.sql"

ERP_SCHEMA = [
    """CREATE TABLE erp_customers (
        customer_id INTEGER PRIMARY KEY, company_name TEXT NOT NULL, vat_no TEXT, kbo_no TEXT, invoice_email TEXT,
        street TEXT, house_no TEXT, postcode TEXT, town TEXT, country TEXT, lang TEXT)""",
    """CREATE TABLE erp_sales_invoices (
        invoice_id INTEGER PRIMARY KEY, doc_kind TEXT NOT NULL, doc_no TEXT, doc_date DATE NOT NULL, due_date DATE,
        customer_id INTEGER NOT NULL REFERENCES erp_customers (customer_id), cur TEXT, customer_po TEXT,
        memo TEXT, ogm TEXT, credits_doc_no TEXT, state TEXT NOT NULL)""",
    """CREATE TABLE erp_invoice_lines (
        invoice_id INTEGER NOT NULL REFERENCES erp_sales_invoices (invoice_id), seq INTEGER NOT NULL,
        article TEXT, label TEXT, qty NUMERIC(12, 3), unit_price NUMERIC(14, 4), vat_pct NUMERIC(5, 2),
        PRIMARY KEY (invoice_id, seq))""",
]
CUSTOMERS = [
    {
        "customer_id": 1,
        "company_name": "Voorbeeld Klant NV",
        "vat_no": "BE 0412.345.614",
        "kbo_no": None,
        "invoice_email": "ap@klant.example",
        "street": "Kerkstraat",
        "house_no": "12",
        "postcode": "9000",
        "town": "Gent",
        "country": "BE",
        "lang": "NL",
    },
    {
        "customer_id": 2,
        "company_name": "Bouwbedrijf Janssens BV",
        "vat_no": "BE0403019261",
        "kbo_no": "0403.019.261",
        "invoice_email": "facturen@janssens.example",
        "street": "Industrieweg",
        "house_no": "4",
        "postcode": "2800",
        "town": "Mechelen",
        "country": None,
        "lang": "NL",
    },
]
INVOICES = [
    {
        "invoice_id": 101,
        "doc_kind": "F",
        "doc_no": "2026/0101",
        "doc_date": "2026-11-02",
        "due_date": "2026-12-02",
        "customer_id": 1,
        "cur": "EUR",
        "customer_po": "PO-77",
        "memo": "Thank you",
        "ogm": None,
        "credits_doc_no": None,
        "state": "booked",
    },
    {
        "invoice_id": 102,
        "doc_kind": "F",
        "doc_no": "2026/0102",
        "doc_date": "2026-11-03",
        "due_date": "2026-12-03",
        "customer_id": 2,
        "cur": "EUR",
        "customer_po": None,
        "memo": None,
        "ogm": None,
        "credits_doc_no": None,
        "state": "booked",
    },
    # Not for Billit: a draft, and a document before the cut-over date.
    {
        "invoice_id": 103,
        "doc_kind": "F",
        "doc_no": None,
        "doc_date": "2026-11-04",
        "due_date": "2026-12-04",
        "customer_id": 1,
        "cur": "EUR",
        "customer_po": None,
        "memo": None,
        "ogm": None,
        "credits_doc_no": None,
        "state": "draft",
    },
    {
        "invoice_id": 104,
        "doc_kind": "F",
        "doc_no": "2025/0999",
        "doc_date": "2025-12-31",
        "due_date": "2026-01-31",
        "customer_id": 2,
        "cur": "EUR",
        "customer_po": None,
        "memo": None,
        "ogm": None,
        "credits_doc_no": None,
        "state": "booked",
    },
]
LINES = [
    {
        "invoice_id": 101,
        "seq": 1,
        "article": "CONS-01",
        "label": "Consultancy",
        "qty": "7.5",
        "unit_price": "95.00",
        "vat_pct": "21",
    },
    {
        "invoice_id": 101,
        "seq": 2,
        "article": "TRAV",
        "label": "Travel costs",
        "qty": "1",
        "unit_price": "42.35",
        "vat_pct": "21",
    },
    {
        "invoice_id": 102,
        "seq": 1,
        "article": "BOOK-7",
        "label": "Handboek",
        "qty": "3",
        "unit_price": "19.99",
        "vat_pct": "6",
    },
    {
        "invoice_id": 102,
        "seq": 2,
        "article": "LIC",
        "label": "Licentie",
        "qty": "1",
        "unit_price": "120",
        "vat_pct": "21",
    },
    {
        "invoice_id": 103,
        "seq": 1,
        "article": "X",
        "label": "Draft line",
        "qty": "1",
        "unit_price": "10",
        "vat_pct": "21",
    },
    {"invoice_id": 104, "seq": 1, "article": "X", "label": "Old line", "qty": "1", "unit_price": "10", "vat_pct": "21"},
]


def erp(engine: sa.Engine) -> None:
    """The ERP's tables and rows, beside the warehouse's (numbers and dates as text, as an ERP export binds them)."""
    with engine.begin() as connection:
        for statement in ERP_SCHEMA:
            connection.exec_driver_sql(statement)
        for table, rows in (
            ("erp_customers", CUSTOMERS),
            ("erp_sales_invoices", INVOICES),
            ("erp_invoice_lines", LINES),
        ):
            columns = list(rows[0])
            connection.execute(
                sa.text(
                    f"INSERT INTO {table} ({', '.join(columns)}) VALUES "
                    f"({', '.join(':' + column for column in columns)})"
                ),
                rows,
            )


def run(engine: sa.Engine, sql: str, **values: Any) -> None:
    with engine.begin() as connection:
        connection.execute(sa.text(sql), values)


def journal_lines(engine: sa.Engine, external_id: str) -> list[Any]:
    table = reflect_tables(engine)["outbound_invoice_lines"]
    with engine.connect() as connection:
        return list(
            connection.execute(sa.select(table).where(table.c.external_id == external_id).order_by(table.c.line_number))
        )


def counts(taken: dict[str, Any]) -> dict[str, Any]:
    return {
        key: taken[key]
        for key in (
            "invoices",
            "lines",
            "inserted",
            "updated",
            "unchanged",
            "busy",
            "changed_after_create",
            "still_changed_after_create",
            "cleared",
        )
    }


@pytest.fixture
def erp_engine(engine: sa.Engine) -> sa.Engine:
    erp(engine)
    return engine


def test_the_sample_queries_take_an_erp_schema_into_the_outbound_tables_as_pending_rows(erp_engine: sa.Engine) -> None:
    taken = take_in_source(erp_engine, SAMPLE)
    assert counts(taken) == {
        "invoices": 2,
        "lines": 4,
        "inserted": 2,
        "updated": 0,
        "unchanged": 0,
        "busy": 0,
        "changed_after_create": 0,
        "still_changed_after_create": 0,
        "cleared": 0,
    }
    rows = stored(erp_engine)
    assert set(rows) == {"SI-101", "SI-102"}  # not the draft, not the document before the cut-over
    first, second = rows["SI-101"], rows["SI-102"]
    assert (first.status, first.order_type, first.order_number, first.order_date, first.expiry_date) == (
        "pending",
        "Invoice",
        "2026/0101",
        date(2026, 11, 2),
        date(2026, 12, 2),
    )
    assert (
        first.customer_name,
        first.customer_vat_number,
        first.customer_nr,
        first.reference,
        first.comments,
        first.payment_method,
        first.customer_city,
    ) == ("Voorbeeld Klant NV", "BE 0412.345.614", "1", "PO-77", "Thank you", "Wired", "Gent")
    assert (second.customer_country_code, second.customer_enterprise_number) == ("BE", "0403.019.261")
    assert first.changed_after_create is False or first.changed_after_create == 0
    lines = journal_lines(erp_engine, "SI-101")
    assert [
        (line.line_number, line.description, line.quantity, line.unit_price_excl, line.vat_percentage, line.reference)
        for line in lines
    ] == [
        (1, "Consultancy", Decimal("7.5"), Decimal("95"), Decimal("21"), "CONS-01"),
        (2, "Travel costs", Decimal("1"), Decimal("42.35"), Decimal("21"), "TRAV"),
    ]
    assert all(isinstance(line.quantity, Decimal) for line in lines)


def test_the_same_source_again_changes_nothing_and_an_edit_before_create_updates_the_row_and_its_lines(
    erp_engine: sa.Engine,
) -> None:
    take_in_source(erp_engine, SAMPLE)
    assert counts(take_in_source(erp_engine, SAMPLE))["unchanged"] == 2

    run(erp_engine, "UPDATE erp_invoice_lines SET qty = 8 WHERE invoice_id = 101 AND seq = 1")
    run(erp_engine, "DELETE FROM erp_invoice_lines WHERE invoice_id = 102 AND seq = 2")
    run(erp_engine, "UPDATE erp_customers SET company_name = 'Bouwbedrijf Janssens NV' WHERE customer_id = 2")
    # SI-102 was rejected by an earlier push; the ERP's fix puts it back in line.
    run(
        erp_engine,
        "UPDATE outbound_invoices SET status = 'rejected', last_error_code = 'LocalValidation', "
        "last_error = 'a reason' WHERE external_id = 'SI-102'",
    )
    taken = take_in_source(erp_engine, SAMPLE)
    assert (taken["updated"], taken["unchanged"], taken["changed_after_create"]) == (2, 0, 0)
    rows = stored(erp_engine)
    assert [line.quantity for line in journal_lines(erp_engine, "SI-101")] == [Decimal(8), Decimal(1)]
    assert [line.line_number for line in journal_lines(erp_engine, "SI-102")] == [1]
    assert (rows["SI-102"].customer_name, rows["SI-102"].status, rows["SI-102"].last_error_code) == (
        "Bouwbedrijf Janssens NV",
        "pending",
        None,
    )
    assert rows["SI-101"].status == "pending"


def test_a_document_the_source_no_longer_returns_is_left_alone(erp_engine: sa.Engine) -> None:
    take_in_source(erp_engine, SAMPLE)
    run(erp_engine, "UPDATE erp_sales_invoices SET state = 'draft' WHERE invoice_id = 102")
    taken = take_in_source(erp_engine, SAMPLE)
    assert (taken["invoices"], taken["unchanged"]) == (1, 1)
    assert stored(erp_engine)["SI-102"].status == "pending" and len(journal_lines(erp_engine, "SI-102")) == 2


def test_a_row_a_push_run_holds_is_left_for_the_next_take_in(erp_engine: sa.Engine) -> None:
    take_in_source(erp_engine, SAMPLE)
    run(erp_engine, "UPDATE outbound_invoices SET claimed_by = 'another-run' WHERE external_id = 'SI-101'")
    run(erp_engine, "UPDATE erp_sales_invoices SET customer_po = 'PO-78' WHERE invoice_id = 101")
    taken = take_in_source(erp_engine, SAMPLE)
    assert (taken["busy"], taken["updated"]) == (1, 0) and stored(erp_engine)["SI-101"].reference == "PO-77"

    run(erp_engine, "UPDATE outbound_invoices SET claimed_by = NULL")
    taken = take_in_source(erp_engine, SAMPLE)
    assert (taken["busy"], taken["updated"]) == (0, 1) and stored(erp_engine)["SI-101"].reference == "PO-78"


def test_a_dry_run_reads_and_counts_the_source_but_writes_nothing(erp_engine: sa.Engine) -> None:
    taken = take_in_source(erp_engine, SAMPLE, dry_run=True)
    assert (taken["inserted"], taken["dry_run"]) == (2, True)
    assert stored(erp_engine) == {}


@pytest.fixture
def server() -> Iterator[SandboxServer]:
    with SandboxServer(Sandbox(seed=3, orders=0, seed_start=SEED_START)) as running:
        yield running


def test_the_sample_source_pushed_over_http_becomes_orders_and_a_later_edit_is_flagged_not_created_again(
    server: SandboxServer, erp_engine: sa.Engine
) -> None:
    take_in_source(erp_engine, SAMPLE)
    summary = push(server, erp_engine)
    assert (summary.created, summary.failed, sum(summary.rejected.values())) == (2, 0, 0)
    orders = orders_by_external_id(server)
    assert set(orders) == {"SI-101", "SI-102"}
    (order,) = orders["SI-101"]
    assert (order["OrderNumber"], order["Reference"], order["Customer"]["Name"]) == (
        "2026/0101",
        "PO-77",
        "Voorbeeld Klant NV",
    )
    assert [line["Description"] for line in order["OrderLines"]] == ["Consultancy", "Travel costs"]
    lines = [
        {
            "quantity": Decimal(line["qty"]),
            "unit_price_excl": Decimal(line["unit_price"]),
            "vat_percentage": Decimal(line["vat_pct"]),
        }
        for line in LINES
        if line["invoice_id"] == 101
    ]
    excl, vat, _ = expected_totals(lines)
    assert (order["TotalExcl"], order["TotalVAT"]) == (excl, vat) == (Decimal("754.85"), Decimal("158.52"))

    # The ERP edits a booked invoice that Billit already has: flagged with what changed, never created again.
    run(erp_engine, "UPDATE erp_invoice_lines SET qty = 8 WHERE invoice_id = 101 AND seq = 1")
    run(erp_engine, "UPDATE erp_sales_invoices SET customer_po = 'PO-78' WHERE invoice_id = 101")
    taken = take_in_source(erp_engine, SAMPLE)
    assert (taken["changed_after_create"], taken["unchanged"], taken["updated"]) == (1, 1, 0)
    (flagged,) = taken["changed_rows"]
    assert flagged == {"external_id": "SI-101", "reason": "reference: 'PO-77' -> 'PO-78'; line 1 quantity: 7.5 -> 8"}
    row = stored(erp_engine)["SI-101"]
    assert (row.status, bool(row.changed_after_create), row.change_reason, row.reference) == (
        "created",
        True,
        flagged["reason"],
        "PO-77",
    )
    assert row.change_noticed_at is not None
    assert journal_lines(erp_engine, "SI-101")[0].quantity == Decimal("7.5")  # the journal keeps what was pushed
    before = posts(server)
    again = push(server, erp_engine)
    assert (again.considered, again.created, posts(server)) == (0, 0, before)
    assert len(orders_by_external_id(server)["SI-101"]) == 1

    # Noticed once: the next take-in counts it as still flagged, with the time of the first notice.
    later = take_in_source(erp_engine, SAMPLE)
    assert (later["changed_after_create"], later["still_changed_after_create"]) == (0, 1)
    assert stored(erp_engine)["SI-101"].change_noticed_at == row.change_noticed_at

    # The ERP puts the booked invoice back as it was: the flag clears.
    run(erp_engine, "UPDATE erp_invoice_lines SET qty = 7.5 WHERE invoice_id = 101 AND seq = 1")
    run(erp_engine, "UPDATE erp_sales_invoices SET customer_po = 'PO-77' WHERE invoice_id = 101")
    assert take_in_source(erp_engine, SAMPLE)["cleared"] == 1
    row = stored(erp_engine)["SI-101"]
    assert (bool(row.changed_after_create), row.change_reason, row.change_noticed_at) == (False, None, None)


# ---- refused before anything is written -------------------------------------------------------------------

Edit = Callable[[str], str]


def replace(old: str, new: str, count: int = 1) -> Edit:
    def edit(text: str) -> str:
        assert old in text, old
        return text.replace(old, new, count)

    return edit


def alias(column: str, expression: str) -> Edit:
    """The sample's line that makes `column` selects `expression` instead."""

    def edit(text: str) -> str:
        edited, found = re.subn(
            rf"^ +\S.*? AS {column}(,?)$", rf"    {expression} AS {column}\1", text, count=1, flags=re.MULTILINE
        )
        assert found, column
        return edited

    return edit


INVOICES_MARKER, LINES_MARKER = "-- name: invoices", "-- name: lines"
# Queries that run and are refused (both dialects), then files refused before any query runs.
BAD_SOURCES: list[tuple[str, Edit, str]] = [
    ("syntax error", replace("SELECT\n", "SELEC\n"), "the invoices query fails: "),
    ("unknown ERP table", replace("FROM erp_invoice_lines l", "FROM erp_invoice_line l"), "the lines query fails: "),
    ("no external_id", replace("AS external_id,", "AS doc_id,"), "the invoices query returns no external_id column"),
    ("no line_number", replace("AS line_number", "AS seq"), "the lines query returns no line_number column"),
    ("unknown column", replace("AS customer_name", "AS klant"), "returns klant: not columns of outbound_invoices"),
    ("a result column", replace("AS payment_method", "AS status"), "returns status: the push's results"),
    ("a column twice", replace("AS comments", "AS reference"), "returns the column(s) reference twice"),
    (
        "duplicate external ids",
        replace("'SI-' || i.invoice_id", "'SI-1'"),
        "the invoices query returns the same external_id more than once: 'SI-1'",
    ),
    (
        "duplicate line keys",
        alias("line_number", "1"),
        "the lines query returns the same (external_id, line_number) more than once",
    ),
    (
        "lines of other invoices",
        replace(
            "FROM erp_invoice_lines l\nJOIN erp_sales_invoices i ON i.invoice_id = "
            "l.invoice_id\nWHERE i.state = 'booked' AND i.doc_date >= '2026-01-01'",
            "FROM erp_invoice_lines l",
        ),
        "the lines query returns lines of 2 invoice(s) the invoices query does not: 'SI-103', 'SI-104'",
    ),
    ("a date-time", alias("order_date", "i.doc_date || ' 10:30:00'"), "order_date: 2026-11-02T10:30:00 is a date-time"),
    ("a date that is not ISO", alias("order_date", "'02/11/2026'"), "order_date: cannot read '02/11/2026' as a date"),
    ("too many decimals", alias("unit_price_excl", "l.unit_price / 3"), "decimals (ROUND it in the query)"),
]
BAD_FILES: list[tuple[str, Edit, str]] = [
    ("no lines query", lambda text: text[: text.index(LINES_MARKER)], "no '-- name: lines' query"),
    (
        "no markers",
        lambda text: text.replace(INVOICES_MARKER, "").replace(LINES_MARKER, ""),
        "no '-- name: invoices' and '-- name: lines' marker lines",
    ),
    ("an unknown query name", replace(INVOICES_MARKER, "-- name: headers"), "unknown query name 'headers'"),
    ("two queries of one name", replace(LINES_MARKER, INVOICES_MARKER), "two queries named invoices"),
    ("SQL before the first marker", lambda text: "SELECT 1;\n" + text, "SQL before the first '-- name:' line"),
    (
        "two statements in one query",
        replace("'2026-01-01';\n\n-- name: lines", "'2026-01-01';\nDELETE FROM erp_customers;\n\n-- name: lines"),
        "the invoices query holds more than one statement",
    ),
    (
        "an empty query",
        lambda text: text[: text.index(LINES_MARKER)] + LINES_MARKER + "\n-- nothing yet\n",
        "the lines query is empty",
    ),
]


@pytest.mark.parametrize(
    ("edit", "expected"), [case[1:] for case in BAD_SOURCES], ids=[case[0] for case in BAD_SOURCES]
)
def test_a_bad_source_is_refused_in_one_line_naming_the_file_and_nothing_is_written(
    erp_engine: sa.Engine, tmp_path: Path, edit: Edit, expected: str
) -> None:
    path = tmp_path / "erp.sql"
    path.write_text(edit(SAMPLE.read_text()))
    with pytest.raises(OutboundSourceError) as refused:
        take_in_source(erp_engine, path)
    message = str(refused.value)
    assert message.startswith(f"{path}: ") and "\n" not in message and expected in message, message
    assert stored(erp_engine) == {}
    with erp_engine.connect() as connection:  # the ERP is only read
        assert connection.execute(sa.text("select count(*) from erp_customers")).scalar_one() == 2


@pytest.mark.parametrize(("edit", "expected"), [case[1:] for case in BAD_FILES], ids=[case[0] for case in BAD_FILES])
def test_a_file_without_exactly_the_two_queries_is_refused_before_any_query_runs(
    tmp_path: Path, edit: Edit, expected: str
) -> None:
    path = tmp_path / "erp.sql"
    path.write_text(edit(SAMPLE.read_text()))
    with pytest.raises(OutboundSourceError) as refused:
        read_source_file(path)
    message = str(refused.value)
    assert message.startswith(f"{path}: ") and "\n" not in message and expected in message, message


def test_a_missing_file_is_refused_in_one_line(tmp_path: Path) -> None:
    with pytest.raises(OutboundSourceError, match=r"erp\.sql: no such file"):
        read_source_file(tmp_path / "erp.sql")


def test_the_sample_file_holds_the_two_queries_without_their_final_semicolons() -> None:
    queries = read_source_file(SAMPLE)
    assert queries.invoices.startswith("SELECT") and queries.lines.startswith("SELECT")
    assert not queries.invoices.endswith(";") and "erp_invoice_lines" in queries.lines
