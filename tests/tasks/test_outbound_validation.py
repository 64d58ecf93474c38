"""The push's own validation (tasks/outbound/payload.py): what Billit would choke on is rejected with every reason,
and a bad value rejects its row alone: `validate` never raises, whatever a database hands back."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from connectors.warehouse import create_warehouse_engine, reflect_tables, upgrade
from sandbox.server import SandboxServer
from sandbox.store import Sandbox
from tasks.outbound.claims import take
from tasks.outbound.payload import idempotency_key, order_payload, validate
from tests.tasks.push_helpers import insert, orders_by_external_id, outbound, push, stored
from tests.tasks.sync_helpers import SEED_START


def reasons(**changes: Any) -> str:
    row, lines = outbound("check-1", **changes)
    rejection = validate(row, lines)
    return rejection.message if rejection else ""


def test_a_pushable_row_has_no_reason() -> None:
    assert reasons() == ""


@pytest.mark.parametrize("currency", ["EUR", "USD", "GBP", "CHF", "JPY"])
def test_a_currency_in_use_is_accepted(currency: str) -> None:
    assert reasons(currency=currency) == ""


@pytest.mark.parametrize("currency", ["XYZ", "eur", "EUR ", "XTS", "HRK", "", None])
def test_a_currency_that_is_not_an_iso_4217_code_in_use_is_rejected(currency: str | None) -> None:
    assert f"currency must be an ISO 4217 code in use (EUR, USD, ...), not {currency!r}" in reasons(currency=currency)


@pytest.mark.parametrize("country", ["BE", "GR", "NL", "DE", "US", None])
def test_an_iso_3166_country_code_is_accepted(country: str | None) -> None:
    assert reasons(customer_country_code=country) == ""


@pytest.mark.parametrize(("country", "hint"), [("XX", ""), ("be", ""), ("BEL", ""), ("EL", "Greece is GR")])
def test_a_country_code_that_is_not_iso_3166_alpha_2_is_rejected(country: str, hint: str) -> None:
    message = reasons(customer_country_code=country)
    assert f"customer_country_code must be an ISO 3166-1 alpha-2 code in capitals, not {country!r}" in message
    assert hint in message


@pytest.mark.parametrize(
    "email",
    [
        "ap@klant.example",
        "a.b+c@sub.klant.be",
        "ap@klant.be;boekhouding@klant.be",
        "ap@klant.be; boekhouding@klant.be",
        None,
        "",
    ],
)
def test_one_e_mail_address_or_several_separated_by_semicolons_are_accepted(email: str | None) -> None:
    assert reasons(customer_email=email) == ""


@pytest.mark.parametrize(
    "email",
    [
        "ap",
        "ap@klant",
        "ap@@klant.be",
        "ap klant@klant.be",
        "ap@klant..be",
        "ap@klant.be, boekhouding@klant.be",
        "ap@klant.be;",
        "Klant <ap@klant.be>",
    ],
)
def test_a_malformed_e_mail_address_is_rejected(email: str) -> None:
    assert f"customer_email {email!r} is not one e-mail address" in reasons(customer_email=email)


@pytest.mark.parametrize(
    ("external_id", "message"),
    [
        ("", "external_id is empty"),
        ("   ", "external_id is empty"),
        (" lead-1", "external_id ' lead-1' has spaces around it"),
        ("trail-1 ", "external_id 'trail-1 ' has spaces around it"),
    ],
)
def test_an_empty_external_id_or_one_with_spaces_around_it_is_rejected(external_id: str, message: str) -> None:
    row, lines = outbound("check-1")
    rejection = validate({**row, "external_id": external_id}, lines)
    assert rejection is not None and message in rejection.message


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("quantity", Decimal("NaN"), "quantity is not a finite number (NaN)"),
        ("quantity", Decimal("sNaN"), "quantity is not a finite number (sNaN)"),
        ("quantity", Decimal("Infinity"), "quantity is not a finite number (Infinity)"),
        ("unit_price_excl", Decimal("-Infinity"), "unit_price_excl is not a finite number (-Infinity)"),
        ("unit_price_excl", float("nan"), "unit_price_excl is not a number (nan)"),
        ("unit_price_excl", float("inf"), "unit_price_excl is not a number (inf)"),
        ("vat_percentage", Decimal("NaN"), "vat_percentage is not a finite number (NaN)"),
        ("unit_price_excl", Decimal("1e20"), "unit_price_excl 1E+20 is out of range"),
        ("quantity", 1e20, "quantity 1E+20 is out of range"),
        ("vat_percentage", Decimal("100000"), "vat_percentage 100000 is out of range"),
        ("quantity", "3", "quantity is not a number ('3')"),
        ("quantity", True, "quantity is not a number (True)"),
        ("unit_price_excl", None, "unit_price_excl is required"),
    ],
)
def test_a_non_finite_out_of_range_or_non_numeric_line_value_is_a_reason_not_an_exception(
    column: str, value: Any, message: str
) -> None:
    assert f"line 1: {message}" in reasons(line={column: value})


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (  # each within its column, the product beyond any amount the warehouse holds
            {"quantity": Decimal("9999999999"), "unit_price_excl": Decimal("9999999999.99999")},
            "line 1: its amount 99,999,999,989,999,900,000.00 is out of range",
        ),
        (  # the amount within, with its VAT beyond
            {"quantity": Decimal(1_000_000), "unit_price_excl": Decimal(9_000_000), "vat_percentage": Decimal(21)},
            "line 1: its amount 10,890,000,000,000.00 with VAT is out of range",
        ),
        (  # each line within, the document beyond
            {"quantity": Decimal(1_000_000), "unit_price_excl": Decimal(6_000_000), "vat_percentage": Decimal(0)},
            "the document total 12,000,000,000,000.00 is out of range",
        ),
    ],
)
def test_an_amount_beyond_what_the_warehouse_holds_is_rejected(line: dict[str, Decimal], message: str) -> None:
    """Billit creates such an order, and the sync could then never load it back (it stays pending for good)."""
    found = reasons(line=line)
    assert message in found and "below 10,000,000,000,000" in found


def test_a_zero_total_is_rejected_as_not_positive() -> None:
    found = reasons(line={"unit_price_excl": Decimal(0)})
    assert "the document total is 0.00 and must be positive" in found and "refuses negative" not in found


def test_a_finite_float_read_back_from_a_database_is_checked_by_its_value() -> None:
    assert reasons(line={"quantity": 2.0, "unit_price_excl": 19.99, "vat_percentage": 21.0}) == ""
    assert "VAT % 7.0 is not allowed" in reasons(line={"vat_percentage": 7.0})


def test_every_reason_of_a_row_is_given_at_once() -> None:
    message = reasons(
        currency="XYZ",
        customer_country_code="XX",
        customer_email="nobody",
        line={"quantity": Decimal("NaN"), "unit_price_excl": Decimal("Infinity")},
    )
    for reason in (
        "currency",
        "customer_country_code",
        "customer_email",
        "line 1: quantity is not a finite number",
        "line 1: unit_price_excl is not a finite number",
        "line 2: quantity",
    ):
        assert reason in message


def test_a_value_of_an_unforeseen_type_rejects_its_row_instead_of_raising() -> None:
    row, lines = outbound("check-1")
    rejection = validate({**row, "currency": ["EUR"], "payment_method": {"Wired": 1}}, lines)
    assert rejection is not None and rejection.code == "LocalValidation"


# ---- through a real database and the push ----------------------------------------------------------------------


@pytest.fixture
def server() -> Iterator[SandboxServer]:
    with SandboxServer(Sandbox(seed=3, orders=0, seed_start=SEED_START)) as running:
        yield running


def test_a_nan_or_infinite_amount_stored_in_the_warehouse_rejects_its_row_alone_and_the_batch_goes_on(
    server: SandboxServer, engine: sa.Engine
) -> None:
    insert(
        engine,
        [
            outbound("ok-1"),
            outbound("odd-2"),
            outbound("bad-currency-3", currency="XYZ"),
            outbound("bad-country-4", customer_country_code="XX"),
            outbound("ok-5"),
        ],
    )
    lines = reflect_tables(engine)["outbound_invoice_lines"]
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":  # NUMERIC(18, 5) holds NaN (not Infinity)
            connection.execute(
                sa.text(
                    "UPDATE outbound_invoice_lines SET quantity = 'NaN' WHERE external_id = 'odd-2' AND line_number = 1"
                )
            )
        else:  # SQLite stores a REAL: 9e999 is infinity, read back as Decimal('Infinity')
            connection.execute(
                sa.text(
                    "UPDATE outbound_invoice_lines SET quantity = 9e999 WHERE external_id = 'odd-2' AND line_number = 1"
                )
            )
        read_back = connection.execute(
            sa.select(lines.c.quantity).where(lines.c.external_id == "odd-2", lines.c.line_number == 1)
        ).scalar_one()
    assert isinstance(read_back, Decimal) and not read_back.is_finite()

    summary = push(server, engine)
    rows = stored(engine)
    assert {key: row.status for key, row in rows.items()} == {
        "ok-1": "created",
        "odd-2": "rejected",
        "bad-currency-3": "rejected",
        "bad-country-4": "rejected",
        "ok-5": "created",
    }
    # Read cell by cell (tasks/outbound/table_rows.py): the stored value is named.
    infinite = "NaN" if engine.dialect.name == "postgresql" else "Infinity"
    assert f"line 1: quantity: {infinite} is not a finite number" in rows["odd-2"].last_error
    assert "XYZ" in rows["bad-currency-3"].last_error and "'XX'" in rows["bad-country-4"].last_error
    assert summary.rejected["LocalValidation"] == 3 and summary.created == 2
    assert set(orders_by_external_id(server)) == {"ok-1", "ok-5"}


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[sa.Engine]:
    """A migrated SQLite warehouse: it stores in a column whatever is written there, as PostgreSQL does not."""
    engine = create_warehouse_engine(f"sqlite:///{tmp_path / 'w.sqlite'}")
    upgrade(engine)
    yield engine
    engine.dispose()


def with_edits(engine: sa.Engine, rows: list[str], *edits: str) -> sa.Engine:
    """`engine` holding a pushable row for each external id of `rows`, then changed by the SQL `edits`."""
    insert(engine, [outbound(external_id) for external_id in rows])
    with engine.begin() as connection:
        for statement in edits:
            connection.exec_driver_sql(statement)
    return engine


def test_a_cell_sqlite_holds_that_its_column_type_cannot_rejects_its_row_alone(
    server: SandboxServer, sqlite_engine: sa.Engine
) -> None:
    # SQLite stores whatever is written into a column; reading one such cell failed the whole push, before any row
    # was created and with no row named (an operator's review). PostgreSQL refuses these values when written.
    edits = {
        "row-2": "UPDATE outbound_invoices SET order_date = '2026-13-45' WHERE external_id = 'row-2'",
        "row-3": "UPDATE outbound_invoices SET company_id = 'abc' WHERE external_id = 'row-3'",
        "row-4": "UPDATE outbound_invoice_lines SET quantity = 'three' WHERE external_id = 'row-4' AND line_number = 1",
        "row-5": "UPDATE outbound_invoices SET customer_name = 'Klant' || char(0) || 'BV' WHERE external_id = 'row-5'",
    }
    engine = with_edits(sqlite_engine, [f"row-{number}" for number in range(1, 7)], *edits.values())

    dry_run = push(server, engine, dry_run=True)
    assert dry_run.rejected == {"LocalValidation": 4} and orders_by_external_id(server) == {}
    summary = push(server, engine)

    with engine.connect() as connection:
        outcomes = dict(
            connection.exec_driver_sql(
                "SELECT external_id, status || ': ' || coalesce(last_error, '') FROM outbound_invoices"
            ).all()
        )
    assert outcomes == {
        "row-1": "created: ",
        "row-2": "rejected: order_date: cannot read '2026-13-45' as a date (a DATE, or ISO text like 2026-11-02)",
        "row-3": "rejected: company_id: cannot read 'abc' as a whole number",
        "row-4": "rejected: line 1: quantity: cannot read 'three' as a number",
        "row-5": "rejected: customer_name: holds a NUL character or a lone surrogate",
        "row-6": "created: ",
    }
    assert summary.created == 2 and set(orders_by_external_id(server)) == {"row-1", "row-6"}


def test_a_real_stored_in_a_numeric_cell_is_read_as_before_and_keeps_its_idempotency_key(
    sqlite_engine: sa.Engine,
) -> None:
    # A review: read cell by cell, a REAL with more decimals than its column (a price computed as 100 / 1.21) was
    # refused, where SQLAlchemy had read it rounded to the scale; a row created so would then never be sent, its
    # key no longer matching. It is read as before.
    edit = "UPDATE outbound_invoice_lines SET unit_price_excl = 100 / 1.21 WHERE external_id = 'row-1'"
    engine = with_edits(sqlite_engine, ["row-1"], edit)
    tables = reflect_tables(engine)
    with engine.connect() as connection:  # as SQLAlchemy's own types read it
        row = dict(connection.execute(sa.select(tables["outbound_invoices"])).mappings().one())
        lines = [dict(line) for line in connection.execute(sa.select(tables["outbound_invoice_lines"])).mappings()]
    assert {line["unit_price_excl"] for line in lines} == {Decimal("82.64463")}
    taken = take(engine, "run-1", 10, set(), dry_run=True)
    assert taken.rejected == [] and [key for _, _, key in taken.ready] == [idempotency_key(order_payload(row, lines))]


def test_a_blob_in_a_text_cell_rejects_its_row(sqlite_engine: sa.Engine) -> None:
    edit = "UPDATE outbound_invoices SET customer_name = X'4B6C616E74' WHERE external_id = 'row-1'"
    taken = take(with_edits(sqlite_engine, ["row-1"], edit), "run-1", 10, set(), dry_run=True)
    assert [outcome["last_error"] for outcome in taken.rejected] == ["customer_name: 5 bytes, not text (a BLOB)"]
