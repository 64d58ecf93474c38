"""The BI views of sql/views on SQLite and PostgreSQL: exact figures from a small hand-built warehouse, and how
``upgrade`` recreates the views (twice in a row, after a file was edited, removed or broken).

The warehouse is written with ``upsert_rows`` / ``insert_ignoring_duplicates``, the loaders the flows use, and
every expected figure below is computed by hand from the rows. Money is compared exactly: ``Decimal`` as
PostgreSQL returns it, and SQLite's REAL rounded to cents (``money``). Expiry dates are relative to today in
Brussels, because overdue-ness is computed by the views at query time.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from connectors.warehouse import insert_ignoring_duplicates, reflect_tables, upgrade, upsert_rows
from connectors.warehouse import views as views_module
from connectors.warehouse.views import VIEWS_DIR, ViewBlocked, ViewError, apply_views, discover_views
from tests.connectors.warehouse import DIALECTS, Warehouse, fresh_warehouse

CONTRACT_VIEWS = [
    "bi_customer_revenue_monthly",
    "bi_delivery_funnel_weekly",
    "bi_delivery_refusals",
    "bi_payables_ageing",
    "bi_quarantine_overview",
    "bi_receivables_ageing",
    "bi_supplier_spend_monthly",
    "bi_vat_return_exceptions",
    "bi_vat_return_inferred_lines",
    "bi_vat_return_monthly",
    "bi_vat_return_quarterly",
]
# Views the contract views are built on (named bi__ so they are created first).
SHARED_VIEWS = ["bi__counterparty_monthly", "bi__open_items_ageing"]
# The per-dialect date arithmetic the shared and contract views read (named bi___ so it is created before them).
HELPER_VIEWS = ["bi___companies", "bi___invoice_dates"]
DIALECT_HELPER_VIEWS = ["bi___invoice_dates"]
ALL_VIEWS = HELPER_VIEWS + SHARED_VIEWS + CONTRACT_VIEWS
QUARANTINE_KEY = ["company_id", "stream", "entity", "entity_key", "source_version", "reason"]
# The company whose books the figures below are; a second one gets the same books under other order ids.
HOME, OTHER = 574991, 574992
REFUSAL_INFO = "Inconsistency between VAT number and tax code of the recipient of the invoice (acquirer)"
UNKNOWN_CODE = "unknown ventilation code 99 for Income"
BRUSSELS = ZoneInfo("Europe/Brussels")
D = Decimal


def brussels_today() -> date:
    return datetime.now(BRUSSELS).date()


# ---------------------------------------------------------------------------------------------------------------
# The warehouse: (order, its lines). Lines are (base_grids, vat_grids, total_excl, total_vat, total_incl).
# Expiry dates are days relative to today: -45 means "due 45 days ago".


def _order(
    order_id: int,
    direction: str,
    order_type: str,
    order_date: str,
    party: tuple[int | None, str],
    totals: tuple[str, str, str],
    *,
    to_pay: str = "0",
    paid: bool | None = False,
    due_in: int | None = 30,
    currency: str = "EUR",
    is_deleted: bool = False,
    created_at: str | None = None,
    is_sent: bool = False,
    delivery_status: str | None = None,
    last_response_code: str | None = None,
    refused_reason_code: str | None = None,
    refused_info: str | None = None,
    delivery_info: str | None = None,
    enterprise_number: str | None = None,
    order_status: str | None = None,
) -> dict[str, Any]:
    excl, vat, incl = totals
    return {
        "order_id": order_id,
        "direction": direction,
        "order_type": order_type,
        "order_number": f"{order_type[:2].upper()}-{order_id}",
        "order_date": date.fromisoformat(order_date),
        "due_in": due_in,
        "created_at": datetime.fromisoformat(created_at) if created_at else None,
        "last_modified": datetime(2025, 5, 1, 12, 0, 0, 123456),
        "last_modified_raw": "2025-05-01T12:00:00.1234567",
        "currency": currency,
        "fx_rate_to_foreign": D("1.00000") if currency == "EUR" else D("1.08000"),
        "total_excl": D(excl),
        "total_vat": D(vat),
        "total_incl": D(incl),
        "to_pay": D(to_pay),
        "paid": paid,
        "is_sent": is_sent,
        "counterparty_party_id": party[0],
        "counterparty_name": party[1],
        "counterparty_enterprise_number": enterprise_number,
        "delivery_status": delivery_status,
        "last_response_code": last_response_code,
        "document_refused_reason_code": refused_reason_code,
        "document_refused_info": refused_info,
        "document_delivery_info": delivery_info,
        "is_deleted": is_deleted,
        "order_status": order_status,
    }


ACME, BETA, GAMMA_WITHOUT_ID = (501, "Acme NV"), (502, "Beta BV"), (None, "Gamma SRL")
SUPPLIER_ONE, SUPPLIER_TWO, SUPPLIER_THREE = (601, "Supplier One"), (602, "Supplier Two"), (603, "Supplier Three")

ORDERS: list[tuple[dict[str, Any], list[tuple[str | None, str | None, str, str, str]]]] = [
    # Sales.
    (
        _order(
            1001,
            "Income",
            "Invoice",
            "2025-01-15",
            ACME,
            ("150.00", "24.00", "174.00"),
            paid=True,
            enterprise_number="0123456749",
            created_at="2025-01-15 09:30:00.250000",
            is_sent=True,
            delivery_status="Delivered",
            last_response_code="AP",
        ),
        [("03", "54", "100.00", "21.00", "121.00"), ("01", "54", "50.00", "3.00", "53.00")],
    ),
    (
        _order(
            1002,
            "Income",
            "Invoice",
            "2025-01-31",
            BETA,
            ("200.00", "0.00", "200.00"),
            to_pay="200.00",
            due_in=-45,
            is_sent=True,
            delivery_status="Error",
            refused_reason_code="InvalidInvoice",
            refused_info=REFUSAL_INFO,
        ),  # no created_at: the funnel falls back to order_date (a Friday, W05)
        [("44", None, "200.00", "0.00", "200.00")],
    ),
    (
        _order(
            1003,
            "Income",
            "CreditNote",
            "2025-01-20",
            ACME,
            ("40.00", "8.40", "48.40"),
            to_pay="48.40",
            due_in=10,
            enterprise_number="0123456749",
            created_at="2025-01-19 23:59:59",
            is_sent=True,
            delivery_status="Delivered",
            last_response_code="RE",
            delivery_info="Rejected",
        ),
        [("49", "64", "40.00", "8.40", "48.40")],
    ),
    (
        _order(
            1004,
            "Income",
            "Invoice",
            "2025-02-10",
            ACME,
            ("1000.00", "210.00", "1210.00"),
            to_pay="1210.00",
            due_in=-100,
            currency="USD",
            enterprise_number="0123456749",
            created_at="2024-12-31 08:00:00",
            is_sent=True,
            delivery_status="Pending",
        ),
        [("03", "54", "1000.00", "210.00", "1210.00")],
    ),
    (
        _order(
            1005,
            "Income",
            "Invoice",
            "2025-01-20",
            ACME,
            ("999.00", "209.79", "1208.79"),
            to_pay="1208.79",
            due_in=-200,
            is_deleted=True,
            created_at="2025-01-14 10:00:00",
            is_sent=True,
            delivery_status="Error",
        ),
        [("03", "54", "999.00", "209.79", "1208.79")],
    ),
    (
        _order(
            1006,
            "Income",
            "Invoice",
            "2025-03-31",
            GAMMA_WITHOUT_ID,
            ("0.30", "0.06", "0.36"),
            to_pay="0.36",
            paid=None,
            due_in=-1,
            created_at="2025-03-31 07:00:00",
        ),
        [("03", "54", "0.10", "0.02", "0.12"), ("03", "54", "0.20", "0.04", "0.24")],
    ),
    (
        _order(
            1007,
            "Income",
            "Invoice",
            "2025-04-01",
            BETA,
            ("300.00", "63.00", "363.00"),
            to_pay="100.00",
            due_in=-30,
            created_at="2025-04-01 12:00:00",
            is_sent=True,
            delivery_status="Error",
            last_response_code="RE",
            refused_reason_code="InvalidInvoice",
            refused_info=REFUSAL_INFO,
        ),
        [("03", "54", "300.00", "63.00", "363.00")],
    ),
    # A draft is not issued: no revenue, no receivable (found by an accountant's independent check).
    (
        _order(
            1010,
            "Income",
            "Invoice",
            "2025-01-25",
            ACME,
            ("77.00", "16.17", "93.17"),
            to_pay="93.17",
            due_in=-60,
            order_status="DRAFT",  # in any case
        ),
        [],
    ),
    (
        _order(
            1008,
            "Income",
            "Offer",
            "2025-02-12",
            BETA,
            ("50.00", "10.50", "60.50"),
            to_pay="60.50",
            due_in=-40,
            created_at="2025-02-12 10:00:00",
        ),
        [(None, None, "50.00", "10.50", "60.50")],
    ),
    (
        _order(
            1009,
            "Income",
            "CreditNote",
            "2025-02-01",
            BETA,
            ("10.00", "2.10", "12.10"),
            paid=True,
            created_at="2025-02-02 18:00:00",
            is_sent=True,
            delivery_status="Error",
            refused_reason_code="InvalidInvoice",
            refused_info=REFUSAL_INFO,
        ),
        [],
    ),
    # Purchases.
    (
        _order(
            2001,
            "Cost",
            "Invoice",
            "2025-01-10",
            SUPPLIER_ONE,
            ("600.00", "105.00", "705.00"),
            to_pay="705.00",
            due_in=-61,
        ),
        [("82", "59", "500.00", "105.00", "605.00"), ("82,87", "56,59", "100.00", "0.00", "100.00")],
    ),
    (
        _order(2002, "Cost", "CreditNote", "2025-02-15", SUPPLIER_ONE, ("50.00", "10.50", "60.50"), paid=True),
        [("85", "63", "50.00", "10.50", "60.50")],
    ),
    (
        _order(
            2003,
            "Cost",
            "Invoice",
            "2025-03-05",
            SUPPLIER_TWO,
            ("1000.00", "0.00", "1000.00"),
            to_pay="1000.00",
            due_in=0,
        ),
        [("82,88", "55,59", "1000.00", "0.00", "1000.00")],
    ),
    (
        _order(
            2004,
            "Cost",
            "Invoice",
            "2025-03-06",
            SUPPLIER_TWO,
            ("80.00", "16.80", "96.80"),
            to_pay="96.80",
            due_in=None,
            currency="GBP",
        ),
        [("82", "59", "80.00", "16.80", "96.80")],
    ),
    (
        _order(2005, "Cost", "Invoice", "2025-01-12", SUPPLIER_TWO, ("10.00", "2.10", "12.10"), to_pay="0.00"),
        [("82", "59", "10.00", "2.10", "12.10")],
    ),
    (
        _order(
            2006,
            "Cost",
            "Invoice",
            "2025-04-10",
            SUPPLIER_THREE,
            ("20.00", "0.00", "20.00"),
            to_pay="20.00",
            due_in=-31,
        ),
        [],
    ),
    (
        _order(
            2007,
            "Cost",
            "Invoice",
            "2025-04-10",
            SUPPLIER_THREE,
            ("30.00", "0.00", "30.00"),
            to_pay="30.00",
            due_in=-90,
        ),
        [],
    ),
    (
        _order(
            2008,
            "Cost",
            "Invoice",
            "2025-04-10",
            SUPPLIER_THREE,
            ("40.00", "0.00", "40.00"),
            to_pay="40.00",
            due_in=-91,
        ),
        [],
    ),
]


def _quarantine(
    run_id: str,
    stream: str,
    entity: str,
    entity_key: str,
    version: str,
    reason: str,
    order_id: int | None,
    created_at: str,
    resolved_at: str | None = None,
) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "stream": stream,
        "order_id": order_id,
        "entity": entity,
        "entity_key": entity_key,
        "source_version": version,
        "reason": reason,
        "created_at": datetime.fromisoformat(created_at),
        "resolved_at": datetime.fromisoformat(resolved_at) if resolved_at else None,
    }


QUARANTINE = [
    _quarantine("r1", "orders_income", "line", "1001/3", "v1", UNKNOWN_CODE, 1001, "2025-05-01 10:00:00"),
    _quarantine("r2", "orders_income", "line", "1004/2", "v1", UNKNOWN_CODE, 1004, "2025-05-03 12:00:00"),
    _quarantine("r3", "orders_income", "line", "1001/3", "v2", UNKNOWN_CODE, 1001, "2025-05-04 08:15:00"),
    _quarantine(
        "r1",
        "orders_cost",
        "order",
        "2999",
        "v1",
        "OrderDirection must be Income or Cost",
        2999,
        "2025-05-02 09:00:00",
        resolved_at="2025-05-05 09:00:00",
    ),
    _quarantine("r1", "orders_cost", "party", "77", "", "party has no name", None, "2025-05-02 08:00:00"),
]


VAT_EXCEPTIONS = [
    {
        "order_id": order_id,
        "exception_number": 1,
        "source": "vat_group",
        "source_number": 1,
        "treatment": treatment,
        "is_reported": reported,
        "reason": reason,
        "currency": "EUR",
        "base": D("5.00"),
        "vat": D("0.00"),
    }
    for order_id, treatment, reported, reason in [
        (1001, "outside_scope", False, "no grid"),
        (2001, "import", True, "import VAT"),
        (1005, None, False, "deleted order: left out"),
    ]
]


def _entries(order: dict[str, Any], order_lines: list[tuple[str | None, str | None, str, str, str]]) -> list[Any]:
    """vat_return_entries rows of a line spec: a VAT grid list with 55/56/57 is self-assessed at 21 %."""
    entries: list[dict[str, Any]] = []
    for number, (base_grids, vat_grids, excl, vat, _incl) in enumerate(order_lines, start=1):
        self_assessed = bool(set((vat_grids or "").split(",")) & {"55", "56", "57"})
        amounts = [("base", grid, D(excl)) for grid in (base_grids or "").split(",") if grid] + [
            ("vat", grid, (D(excl) * D("0.21")).quantize(D("0.01")) if self_assessed else D(vat))
            for grid in (vat_grids or "").split(",")
            if grid
        ]
        for amount_type, grid, amount in amounts:
            entries.append(
                {
                    "order_id": order["order_id"],
                    "entry_number": len(entries) + 1,
                    "source": "line",
                    "source_number": number,
                    "treatment": "t",
                    "treatment_source": "code",
                    "grid": grid,
                    "amount_type": amount_type,
                    "is_self_assessed": self_assessed and amount_type == "vat",
                    "amount": amount,
                    "currency": order["currency"],
                }
            )
    return entries


def load_warehouse(engine: sa.Engine, today: date, company_id: int = HOME, offset: int = 0) -> None:
    """The books above as `company_id`'s, their order ids moved by `offset` (Billit's OrderIDs are global)."""
    tables = reflect_tables(engine)
    invoices, lines, entries = [], [], []
    for original, order_lines in ORDERS:
        order = {**original, "order_id": original["order_id"] + offset, "company_id": company_id}
        row = {key: value for key, value in order.items() if key != "due_in"}
        row["expiry_date"] = None if order["due_in"] is None else today + timedelta(days=order["due_in"])
        invoices.append(row)
        if order["order_type"] in ("Invoice", "CreditNote"):
            entries += _entries(order, order_lines)
        for number, (base_grids, vat_grids, excl, vat, incl) in enumerate(order_lines, start=1):
            lines.append(
                {
                    "company_id": company_id,
                    "order_id": order["order_id"],
                    "line_number": number,
                    "base_grids": base_grids,
                    "vat_grids": vat_grids,
                    "total_excl": D(excl),
                    "total_vat": D(vat),
                    "total_incl": D(incl),
                }
            )
    with engine.begin() as connection:
        upsert_rows(connection, tables["invoices"], invoices, key=["order_id"])
        upsert_rows(connection, tables["invoice_lines"], lines, key=["order_id", "line_number"])
        upsert_rows(connection, tables["vat_return_entries"], entries, key=["order_id", "entry_number"])
        upsert_rows(
            connection,
            tables["vat_return_exceptions"],
            [{**row, "order_id": row["order_id"] + offset} for row in VAT_EXCEPTIONS],
            key=["order_id", "exception_number"],
        )
        connection.execute(
            sa.update(tables["invoice_lines"])
            .where(tables["invoice_lines"].c.order_id.in_([2003 + offset, 1005 + offset]))
            .values(treatment="ic_services", treatment_source="inferred", treatment_reason="0 % from a DE supplier")
        )
        quarantine = [
            {**row, "company_id": company_id, "order_id": row["order_id"] and row["order_id"] + offset}
            for row in QUARANTINE
        ]
        insert_ignoring_duplicates(connection, tables["quarantine"], quarantine, key=QUARANTINE_KEY)


@dataclass(frozen=True)
class Loaded:
    engine: sa.Engine
    dialect: str
    today: date

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        """The rows of ``sql``, sorted, with dates as ISO text and money as exact Decimal (see ``money``)."""
        with self.engine.connect() as connection:
            result = connection.execute(sa.text(sql))
            return sorted((tuple(self._value(value) for value in row) for row in result), key=repr)

    def _value(self, value: Any) -> Any:
        if isinstance(value, float | Decimal):
            return money(value, self.dialect)
        if isinstance(value, datetime):
            return value.isoformat(sep=" ")
        if isinstance(value, date):
            return value.isoformat()
        if isinstance(value, str) and self.dialect == "sqlite" and value[:4].isdigit() and len(value) >= 19:
            return datetime.fromisoformat(value).isoformat(sep=" ")  # SQLite TIMESTAMP text
        return value


def money(value: float | Decimal, dialect: str) -> Decimal:
    """PostgreSQL: the Decimal itself, exact. SQLite: its REAL rounded to cents, then compared exactly."""
    if dialect == "postgresql":
        assert isinstance(value, Decimal), f"PostgreSQL returned {value!r}, not a Decimal"
        return value
    return Decimal(repr(value)).quantize(Decimal("0.01"))


@pytest.fixture(scope="module", params=DIALECTS)
def loaded(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Loaded]:
    with fresh_warehouse(request, tmp_path_factory.mktemp("views")) as warehouse:
        engine = warehouse.engine()
        upgrade(engine)
        today = brussels_today()
        load_warehouse(engine, today)
        yield Loaded(engine, warehouse.dialect, today)
        engine.dispose()


@pytest.fixture
def engine(warehouse: Warehouse) -> Iterator[sa.Engine]:
    """Unlike the shared fixture, an Engine on an *empty* warehouse: these tests run the migrations themselves."""
    engine = warehouse.engine()
    yield engine
    engine.dispose()


@pytest.fixture
def views_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private copy of sql/views that ``upgrade`` reads instead, for tests that edit view files."""
    copy = Path(shutil.copytree(VIEWS_DIR, tmp_path / "views"))
    monkeypatch.setattr(views_module, "VIEWS_DIR", copy)
    return copy


# ---------------------------------------------------------------------------------------------------------------
# Figures.

VAT_COLUMNS = (
    "period_start, period, direction, grid, amount_type, is_self_assessed, amount, entry_count, converted_entry_count"
)


def vat_rows(loaded: Loaded, view: str) -> list[tuple[Any, ...]]:
    return sorted(
        ((*row[:5], bool(row[5]), *row[6:]) for row in loaded.rows(f"SELECT {VAT_COLUMNS} FROM {view}")), key=repr
    )


def test_the_monthly_vat_return_adds_up_the_entries_of_each_grid(loaded: Loaded) -> None:
    assert vat_rows(loaded, "bi_vat_return_monthly") == sorted(
        [
            # Sales, January: the deleted invoice 1005 is left out; the credit note's grids 49/64 hold it positive.
            ("2025-01-01", "2025-01", "Income", "01", "base", False, D("50.00"), 1, 0),
            ("2025-01-01", "2025-01", "Income", "03", "base", False, D("100.00"), 1, 0),
            ("2025-01-01", "2025-01", "Income", "44", "base", False, D("200.00"), 1, 0),
            ("2025-01-01", "2025-01", "Income", "49", "base", False, D("40.00"), 1, 0),
            ("2025-01-01", "2025-01", "Income", "54", "vat", False, D("24.00"), 2, 0),
            ("2025-01-01", "2025-01", "Income", "64", "vat", False, D("8.40"), 1, 0),
            # February: the USD invoice, in EUR as its entries hold it, counted as converted.
            ("2025-02-01", "2025-02", "Income", "03", "base", False, D("1000.00"), 1, 1),
            ("2025-02-01", "2025-02", "Income", "54", "vat", False, D("210.00"), 1, 1),
            # March: 0.10 + 0.20 and 0.02 + 0.04, exact to the cent on SQLite too. The offer 1008 has no entries.
            ("2025-03-01", "2025-03", "Income", "03", "base", False, D("0.30"), 2, 0),
            ("2025-03-01", "2025-03", "Income", "54", "vat", False, D("0.06"), 2, 0),
            ("2025-04-01", "2025-04", "Income", "03", "base", False, D("300.00"), 1, 0),
            ("2025-04-01", "2025-04", "Income", "54", "vat", False, D("63.00"), 1, 0),
            # Purchases: self-assessed VAT (56/59 of the co-contractor line, 55/59 of the IC service) apart from the
            # VAT on the invoices in 59.
            ("2025-01-01", "2025-01", "Cost", "56", "vat", True, D("21.00"), 1, 0),
            ("2025-01-01", "2025-01", "Cost", "59", "vat", False, D("107.10"), 2, 0),
            ("2025-01-01", "2025-01", "Cost", "59", "vat", True, D("21.00"), 1, 0),
            ("2025-01-01", "2025-01", "Cost", "82", "base", False, D("610.00"), 3, 0),
            ("2025-01-01", "2025-01", "Cost", "87", "base", False, D("100.00"), 1, 0),
            ("2025-02-01", "2025-02", "Cost", "63", "vat", False, D("10.50"), 1, 0),
            ("2025-02-01", "2025-02", "Cost", "85", "base", False, D("50.00"), 1, 0),
            ("2025-03-01", "2025-03", "Cost", "55", "vat", True, D("210.00"), 1, 0),
            ("2025-03-01", "2025-03", "Cost", "59", "vat", False, D("16.80"), 1, 1),
            ("2025-03-01", "2025-03", "Cost", "59", "vat", True, D("210.00"), 1, 0),
            ("2025-03-01", "2025-03", "Cost", "82", "base", False, D("1080.00"), 2, 1),
            ("2025-03-01", "2025-03", "Cost", "88", "base", False, D("1000.00"), 1, 0),
        ],
        key=repr,
    )


def test_the_vat_exceptions_and_inferred_lines_of_orders_not_deleted(loaded: Loaded) -> None:
    assert [
        (*row[:2], bool(row[2]), row[3])
        for row in loaded.rows("SELECT order_id, treatment, is_reported, reason FROM bi_vat_return_exceptions")
    ] == [(1001, "outside_scope", False, "no grid"), (2001, "import", True, "import VAT")]
    assert loaded.rows(
        "SELECT order_id, line_number, treatment, treatment_reason, total_excl FROM bi_vat_return_inferred_lines"
    ) == [(2003, 1, "ic_services", "0 % from a DE supplier", D("1000.00"))]


def test_the_quarterly_vat_return_adds_up_the_months_of_each_calendar_quarter(loaded: Loaded) -> None:
    assert vat_rows(loaded, "bi_vat_return_quarterly") == sorted(
        [
            ("2025-01-01", "2025-Q1", "Income", "01", "base", False, D("50.00"), 1, 0),
            ("2025-01-01", "2025-Q1", "Income", "03", "base", False, D("1100.30"), 4, 1),
            ("2025-01-01", "2025-Q1", "Income", "44", "base", False, D("200.00"), 1, 0),
            ("2025-01-01", "2025-Q1", "Income", "49", "base", False, D("40.00"), 1, 0),
            ("2025-01-01", "2025-Q1", "Income", "54", "vat", False, D("234.06"), 5, 1),
            ("2025-01-01", "2025-Q1", "Income", "64", "vat", False, D("8.40"), 1, 0),
            ("2025-04-01", "2025-Q2", "Income", "03", "base", False, D("300.00"), 1, 0),
            ("2025-04-01", "2025-Q2", "Income", "54", "vat", False, D("63.00"), 1, 0),
            ("2025-01-01", "2025-Q1", "Cost", "55", "vat", True, D("210.00"), 1, 0),
            ("2025-01-01", "2025-Q1", "Cost", "56", "vat", True, D("21.00"), 1, 0),
            ("2025-01-01", "2025-Q1", "Cost", "59", "vat", False, D("123.90"), 3, 1),
            ("2025-01-01", "2025-Q1", "Cost", "59", "vat", True, D("231.00"), 2, 0),
            ("2025-01-01", "2025-Q1", "Cost", "63", "vat", False, D("10.50"), 1, 0),
            ("2025-01-01", "2025-Q1", "Cost", "82", "base", False, D("1690.00"), 5, 1),
            ("2025-01-01", "2025-Q1", "Cost", "85", "base", False, D("50.00"), 1, 0),
            ("2025-01-01", "2025-Q1", "Cost", "87", "base", False, D("100.00"), 1, 0),
            ("2025-01-01", "2025-Q1", "Cost", "88", "base", False, D("1000.00"), 1, 0),
        ],
        key=repr,
    )


def _ageing(loaded: Loaded, view: str) -> list[tuple[Any, ...]]:
    rows = loaded.rows(
        f"SELECT as_of_date, order_id, days_overdue, bucket, bucket_order, counterparty_party_id, currency, "
        f"to_pay, open_amount FROM {view}"
    )
    as_of = {row[0] for row in rows}
    if as_of != {loaded.today.isoformat()}:
        assert as_of == {(loaded.today + timedelta(days=1)).isoformat()}, as_of
        pytest.skip("the date changed in Brussels between loading and querying")
    return [row[1:] for row in rows]


def test_receivables_ageing_lists_open_sales_documents_with_days_overdue_as_of_today(loaded: Loaded) -> None:
    # 1001 and 1009 are paid, 1005 deleted, 1008 an offer. A credit note is open money owed back: negative.
    assert _ageing(loaded, "bi_receivables_ageing") == sorted(
        [
            (1002, 45, "31-60", 2, 502, "EUR", D("200.00"), D("200.00")),
            (1003, -10, "not due", 0, 501, "EUR", D("48.40"), D("-48.40")),
            (1004, 100, "> 90", 4, 501, "USD", D("1210.00"), D("1210.00")),
            (1006, 1, "1-30", 1, None, "EUR", D("0.36"), D("0.36")),
            (1007, 30, "1-30", 1, 502, "EUR", D("100.00"), D("100.00")),
        ],
        key=repr,
    )


def test_payables_ageing_buckets_days_overdue_at_their_boundaries(loaded: Loaded) -> None:
    # 2002 is paid; 2005 is not marked paid but has nothing left to pay.
    assert _ageing(loaded, "bi_payables_ageing") == sorted(
        [
            (2001, 61, "61-90", 3, 601, "EUR", D("705.00"), D("705.00")),
            (2003, 0, "not due", 0, 602, "EUR", D("1000.00"), D("1000.00")),
            (2004, None, "no due date", 5, 602, "GBP", D("96.80"), D("96.80")),
            (2006, 31, "31-60", 2, 603, "EUR", D("20.00"), D("20.00")),
            (2007, 90, "61-90", 3, 603, "EUR", D("30.00"), D("30.00")),
            (2008, 91, "> 90", 4, 603, "EUR", D("40.00"), D("40.00")),
        ],
        key=repr,
    )


def test_the_documented_ageing_summary_query_totals_each_bucket_per_currency(loaded: Loaded) -> None:
    summary = (
        "SELECT bucket_order, bucket, currency, COUNT(*) AS documents, SUM(open_amount) AS open_amount "
        "FROM {view} GROUP BY bucket_order, bucket, currency ORDER BY bucket_order, currency"
    )
    assert loaded.rows(summary.format(view="bi_receivables_ageing")) == sorted(
        [
            (0, "not due", "EUR", 1, D("-48.40")),
            (1, "1-30", "EUR", 2, D("100.36")),
            (2, "31-60", "EUR", 1, D("200.00")),
            (4, "> 90", "USD", 1, D("1210.00")),
        ],
        key=repr,
    )
    assert loaded.rows(summary.format(view="bi_payables_ageing")) == sorted(
        [
            (0, "not due", "EUR", 1, D("1000.00")),
            (2, "31-60", "EUR", 1, D("20.00")),
            (3, "61-90", "EUR", 2, D("735.00")),
            (4, "> 90", "EUR", 1, D("40.00")),
            (5, "no due date", "GBP", 1, D("96.80")),
        ],
        key=repr,
    )


def test_the_delivery_funnel_counts_sales_documents_per_iso_week_of_creation(loaded: Loaded) -> None:
    # 2024-12-31 is in ISO week 2025-W01 (which starts on Monday 2024-12-30); Sunday 2025-01-19 23:59:59 is
    # still in the week of Monday 2025-01-13. 1007 is both an Error and refused (RE): once in refused_or_error.
    assert loaded.rows(
        "SELECT week_start, iso_week, created, sent, pending, delivered, error, refused, refused_or_error "
        "FROM bi_delivery_funnel_weekly"
    ) == sorted(
        [
            ("2024-12-30", "2025-W01", 1, 1, 1, 0, 0, 0, 0),
            ("2025-01-13", "2025-W03", 2, 2, 0, 2, 0, 1, 1),
            ("2025-01-27", "2025-W05", 2, 2, 0, 0, 2, 0, 2),
            ("2025-03-31", "2025-W14", 2, 1, 0, 0, 1, 1, 1),
        ],
        key=repr,
    )


def test_delivery_refusals_count_documents_per_week_status_and_reason(loaded: Loaded) -> None:
    assert loaded.rows(
        "SELECT week_start, iso_week, delivery_status, reason_code, reason_info, document_count "
        "FROM bi_delivery_refusals"
    ) == sorted(
        [
            ("2025-01-13", "2025-W03", "Delivered", "RE", "Rejected", 1),
            ("2025-01-27", "2025-W05", "Error", "InvalidInvoice", REFUSAL_INFO, 2),
            ("2025-03-31", "2025-W14", "Error", "InvalidInvoice", REFUSAL_INFO, 1),
        ],
        key=repr,
    )


def test_customer_revenue_subtracts_credit_notes_per_customer_month_and_currency(loaded: Loaded) -> None:
    assert loaded.rows(
        "SELECT period, counterparty_party_id, counterparty_name, counterparty_enterprise_number, currency, "
        "invoice_count, credit_note_count, total_excl, total_vat, total_incl FROM bi_customer_revenue_monthly"
    ) == sorted(
        [
            ("2025-01", 501, "Acme NV", "0123456749", "EUR", 1, 1, D("110.00"), D("15.60"), D("125.60")),
            ("2025-01", 502, "Beta BV", None, "EUR", 1, 0, D("200.00"), D("0.00"), D("200.00")),
            ("2025-02", 501, "Acme NV", "0123456749", "USD", 1, 0, D("1000.00"), D("210.00"), D("1210.00")),
            ("2025-02", 502, "Beta BV", None, "EUR", 0, 1, D("-10.00"), D("-2.10"), D("-12.10")),
            ("2025-03", None, "Gamma SRL", None, "EUR", 1, 0, D("0.30"), D("0.06"), D("0.36")),
            ("2025-04", 502, "Beta BV", None, "EUR", 1, 0, D("300.00"), D("63.00"), D("363.00")),
        ],
        key=repr,
    )


def test_supplier_spend_subtracts_credit_notes_per_supplier_month_and_currency(loaded: Loaded) -> None:
    assert loaded.rows(
        "SELECT period_start, counterparty_party_id, counterparty_name, currency, invoice_count, credit_note_count, "
        "total_excl, total_vat, total_incl FROM bi_supplier_spend_monthly"
    ) == sorted(
        [
            ("2025-01-01", 601, "Supplier One", "EUR", 1, 0, D("600.00"), D("105.00"), D("705.00")),
            ("2025-01-01", 602, "Supplier Two", "EUR", 1, 0, D("10.00"), D("2.10"), D("12.10")),
            ("2025-02-01", 601, "Supplier One", "EUR", 0, 1, D("-50.00"), D("-10.50"), D("-60.50")),
            ("2025-03-01", 602, "Supplier Two", "EUR", 1, 0, D("1000.00"), D("0.00"), D("1000.00")),
            ("2025-03-01", 602, "Supplier Two", "GBP", 1, 0, D("80.00"), D("16.80"), D("96.80")),
            ("2025-04-01", 603, "Supplier Three", "EUR", 3, 0, D("90.00"), D("0.00"), D("90.00")),
        ],
        key=repr,
    )


def test_the_quarantine_overview_counts_unresolved_rows_by_stream_entity_and_reason(loaded: Loaded) -> None:
    assert loaded.rows(
        "SELECT stream, entity, reason, row_count, order_count, first_seen, last_seen FROM bi_quarantine_overview"
    ) == sorted(
        [
            ("orders_cost", "party", "party has no name", 1, 0, "2025-05-02 08:00:00", "2025-05-02 08:00:00"),
            ("orders_income", "line", UNKNOWN_CODE, 3, 2, "2025-05-01 10:00:00", "2025-05-04 08:15:00"),
        ],
        key=repr,
    )


# ---------------------------------------------------------------------------------------------------------------
# Recreating the views.


def _view_names(engine: sa.Engine) -> list[str]:
    return sorted(sa.inspect(engine).get_view_names())


def test_every_view_has_a_file_for_both_dialects_named_after_the_view() -> None:
    for dialect in ("sqlite", "postgresql"):
        views = discover_views(dialect)
        assert [view.name for view in views] == ALL_VIEWS
        assert all(view.path.name in (f"{view.name}.sql", f"{view.name}.{dialect}.sql") for view in views)


def test_only_the_helper_views_differ_by_dialect() -> None:
    for dialect in ("sqlite", "postgresql"):
        for view in discover_views(dialect):
            variant = view.name in DIALECT_HELPER_VIEWS
            assert view.path.name == (f"{view.name}.{dialect}.sql" if variant else f"{view.name}.sql"), view.name


def test_upgrade_twice_keeps_every_view_working(engine: sa.Engine) -> None:
    upgrade(engine)
    load_warehouse(engine, brussels_today())
    assert upgrade(engine) == []
    assert apply_views(engine) == ALL_VIEWS
    assert _view_names(engine) == ALL_VIEWS
    with engine.connect() as connection:
        for name in CONTRACT_VIEWS:
            assert connection.execute(sa.text(f"SELECT COUNT(*) FROM {name}")).scalar_one() > 0, name


def test_an_edited_view_file_takes_effect_and_a_removed_one_is_dropped_on_the_next_upgrade(
    engine: sa.Engine, views_copy: Path
) -> None:
    upgrade(engine)
    load_warehouse(engine, brussels_today())
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE VIEW my_own_view AS SELECT order_id FROM invoices")
    overview = views_copy / "bi_quarantine_overview.sql"
    # A % in the SQL must reach the database as written (psycopg would read it as a placeholder).
    overview.write_text(
        overview.read_text().replace(
            "WHERE q.resolved_at IS NULL", "WHERE q.resolved_at IS NULL OR q.reason LIKE '%must be Income or Cost'"
        )
    )
    (views_copy / "bi_delivery_refusals.sql").unlink()

    assert upgrade(engine) == []

    with engine.connect() as connection:
        orders_cost = connection.execute(
            sa.text("SELECT reason, row_count FROM bi_quarantine_overview WHERE stream = 'orders_cost'")
        ).all()
    assert sorted(orders_cost) == [("OrderDirection must be Income or Cost", 1), ("party has no name", 1)]
    assert _view_names(engine) == sorted(
        [name for name in ALL_VIEWS if name != "bi_delivery_refusals"] + ["my_own_view"]
    )


def test_a_view_that_fails_to_build_leaves_the_previous_views_in_place(engine: sa.Engine, views_copy: Path) -> None:
    upgrade(engine)
    (views_copy / "bi_zz_broken.sql").write_text(
        "-- a typo that SQLite would only notice when the view is queried\n"
        "CREATE VIEW bi_zz_broken AS SELECT no_such_column FROM invoices;\n"
    )
    with pytest.raises(ViewError, match=r"bi_zz_broken\.sql: view bi_zz_broken failed"):
        upgrade(engine)
    assert _view_names(engine) == ALL_VIEWS
    with engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT COUNT(*) FROM bi_quarantine_overview").scalar_one() == 0


def test_a_view_file_is_read_like_a_migration_crlf_comments_and_all(views_copy: Path) -> None:
    (views_copy / "bi_extra.sql").write_bytes(
        b"-- bi_extra: a comment line\r\nCREATE VIEW bi_extra AS\r\n-- inside\r\nSELECT 1 AS one; -- trailing\r\n"
    )
    [extra] = [view for view in discover_views("sqlite", views_copy) if view.name == "bi_extra"]
    assert extra.sql == "CREATE VIEW bi_extra AS\nSELECT 1 AS one"


def test_a_view_file_must_create_the_view_it_is_named_after(views_copy: Path) -> None:
    (views_copy / "bi_extra.sql").write_text("CREATE VIEW bi_other AS SELECT 1 AS one;\n")
    with pytest.raises(ViewError, match="bi_extra.sql creates view bi_other"):
        discover_views("postgresql", views_copy)
    (views_copy / "bi_extra.sql").write_text("CREATE VIEW bi_extra AS SELECT 1 AS one;\nSELECT 2;\n")
    with pytest.raises(ViewError, match="exactly one statement"):
        discover_views("sqlite", views_copy)
    (views_copy / "bi_extra.sql").unlink()
    (views_copy / "bi_extra.postgresql.sql").write_text("CREATE VIEW bi_extra AS SELECT 1 AS one;\n")
    with pytest.raises(ViewError, match="bi_extra has no file for sqlite"):
        discover_views("sqlite", views_copy)


# ---------------------------------------------------------------------------------------------------------------
# Companies: every view has the company as a dimension.

COMPANY_FIGURES = {
    "bi_vat_return_monthly": VAT_COLUMNS,
    "bi_vat_return_quarterly": VAT_COLUMNS,
    "bi_customer_revenue_monthly": "period, counterparty_party_id, currency, invoice_count, total_excl, total_incl",
    "bi_supplier_spend_monthly": "period, counterparty_party_id, currency, invoice_count, total_excl, total_incl",
    "bi_receivables_ageing": "bucket, counterparty_party_id, currency, open_amount",
    "bi_payables_ageing": "bucket, counterparty_party_id, currency, open_amount",
    "bi_delivery_funnel_weekly": "week_start, created, sent, pending, delivered, error, refused",
    "bi_delivery_refusals": "week_start, delivery_status, reason_code, document_count",
    "bi_quarantine_overview": "stream, entity, reason, row_count, order_count",
    "bi_vat_return_exceptions": "treatment, is_reported, reason, base",
    "bi_vat_return_inferred_lines": "line_number, treatment, total_excl",
}


def test_two_companies_books_in_one_warehouse_give_each_company_its_own_figures_and_name(engine: sa.Engine) -> None:
    upgrade(engine)
    today = brussels_today()
    load_warehouse(engine, today, HOME)
    single = Loaded(engine, engine.dialect.name, today)
    alone = {view: single.rows(f"SELECT {columns} FROM {view}") for view, columns in COMPANY_FIGURES.items()}
    load_warehouse(engine, today, OTHER, offset=100_000)
    tables = reflect_tables(engine)
    with engine.begin() as connection:
        # HOME named by accountInformation; OTHER only by its own party row in its books.
        connection.execute(tables["companies"].insert().values(company_id=HOME, name="Demo BV", first_seen_at=today))
        connection.execute(tables["companies"].insert().values(company_id=OTHER, first_seen_at=today))
        connection.execute(tables["parties"].insert().values(company_id=OTHER, party_id=OTHER, name="Atelier Zoë SRL"))
        connection.execute(tables["parties"].insert().values(company_id=HOME, party_id=OTHER, name="Zoë as a customer"))
    for view, columns in COMPANY_FIGURES.items():
        for company in (HOME, OTHER):
            assert single.rows(f"SELECT {columns} FROM {view} WHERE company_id = {company}") == alone[view], view
        names = single.rows(f"SELECT DISTINCT company_id, company_name FROM {view}")
        assert names == [(HOME, "Demo BV"), (OTHER, "Atelier Zoë SRL")], view


def test_a_users_view_on_a_bi_view_stops_no_upgrade_until_the_views_change(engine: sa.Engine, views_copy: Path) -> None:
    # Found from the outside: every upgrade (every sync runs one) dropped and recreated the views, so on PostgreSQL
    # one analyst's view reading a bi_ view stopped every sync with a raw DependentObjectsStillExist.
    upgrade(engine)
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE VIEW my_rev AS SELECT * FROM bi_customer_revenue_monthly")
    assert upgrade(engine) == [] and upgrade(engine) == []
    assert "my_rev" in _view_names(engine)
    overview = views_copy / "bi_quarantine_overview.sql"
    overview.write_text(overview.read_text().replace("WHERE q.resolved_at IS NULL", "WHERE q.resolved_at IS NULL "))
    if engine.dialect.name == "sqlite":  # SQLite drops a view whatever reads it
        assert upgrade(engine) == []
        return
    with pytest.raises(ViewBlocked, match=r"bi_customer_revenue_monthly cannot be dropped: view my_rev depends"):
        upgrade(engine)
    assert _view_names(engine) == sorted([*ALL_VIEWS, "my_rev"])  # the previous views, in place


def test_the_views_are_built_again_after_a_migration_even_one_applied_by_a_process_that_stopped_before_them(
    engine: sa.Engine, migrations_copy_for_views: Path
) -> None:
    # A review found the views left stale when a migration committed and its process stopped before the views (or a
    # user's view was in the way): the next upgrade applied nothing, found the same view files, and skipped them.
    upgrade(engine, directory=migrations_copy_for_views)
    (migrations_copy_for_views / "0099_extra.sql").write_text("CREATE TABLE extra_table (id INTEGER);\n")
    with engine.begin() as connection:
        connection.exec_driver_sql("DROP VIEW bi_quarantine_overview")
        connection.exec_driver_sql("CREATE VIEW bi_quarantine_overview AS SELECT 1 AS stale")
    applied = views_module.apply_views
    views_module.apply_views = lambda *args, **kwargs: []  # the process stops before its views
    try:
        import connectors.warehouse.migrations as migrations_module

        migrations_module.apply_views = views_module.apply_views
        assert upgrade(engine, directory=migrations_copy_for_views) == ["0099_extra"]
    finally:
        views_module.apply_views = migrations_module.apply_views = applied
    assert upgrade(engine, directory=migrations_copy_for_views) == []
    with engine.connect() as connection:
        columns = connection.exec_driver_sql("SELECT * FROM bi_quarantine_overview LIMIT 0").keys()
    assert "stale" not in columns


def test_a_bi_view_dropped_by_hand_is_built_again_by_the_next_upgrade(engine: sa.Engine) -> None:
    upgrade(engine)
    with engine.begin() as connection:
        connection.exec_driver_sql("DROP VIEW bi_delivery_refusals")
    assert upgrade(engine) == [] and _view_names(engine) == ALL_VIEWS


@pytest.fixture
def migrations_copy_for_views(tmp_path: Path) -> Path:
    from connectors.warehouse import MIGRATIONS_DIR

    return Path(shutil.copytree(MIGRATIONS_DIR, tmp_path / "migrations"))
