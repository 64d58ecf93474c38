"""The Belgian VAT return of a period, read from the warehouse (docs/bi.md#vat-return).

`vat_return` adds up `bi_vat_return_monthly` over the months of a period, computes the 71/72 balance and runs
the checks an accountant runs before filing; the listings are `tasks/vat/listings.py`, and `tasks/vat/intervat.py`
writes both as Intervat XML drafts. Nothing here writes to the warehouse or to Billit.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

import sqlalchemy as sa

from connectors.warehouse import reflect_tables
from tasks.options import BILLIT_TIME_ZONE
from tasks.vat.intervat import VatPeriod
from tasks.vat.unloaded import VAT_DOCUMENTS, UnloadedOrders, unloaded_notes, unloaded_orders

ZERO = Decimal("0.00")
# Grids the declarant owes (XX) and may deduct or recover (YY); 71 = XX − YY or 72 = YY − XX.
OWED_GRIDS = ("54", "55", "56", "57", "61", "63")
RECOVERABLE_GRIDS = ("59", "62", "64")


class VatReturnError(ValueError):
    """The warehouse cannot give a trustworthy return for the period; the message says what to do."""


@dataclass(frozen=True)
class Check:
    """One consistency check: `actual` against `expected`, `relation` "=" (within `tolerance`) or "<="."""

    name: str
    actual: Decimal
    expected: Decimal
    relation: str
    tolerance: Decimal

    @property
    def passed(self) -> bool:
        if self.relation == "<=":
            return self.actual <= self.expected + self.tolerance
        return abs(self.actual - self.expected) <= self.tolerance


@dataclass
class VatReturn:
    period: VatPeriod
    grids: dict[str, Decimal]  # every grid with an amount, 71 or 72 included
    self_assessed: dict[str, Decimal]  # the self-assessed part of 55/56/57/59
    checks: list[Check] = field(default_factory=list)
    left_out: int = 0  # amounts not in the return (bi_vat_return_exceptions, is_reported false)
    to_review: int = 0  # amounts in it that need a look (is_reported true)
    inferred_lines: int = 0
    undated: int = 0  # amounts of orders without an invoice date (any period): in no return
    # Purchase invoices dated in the period that reached Billit after it ended: the right to deduct is exercised
    # in the return of the period the invoice is received in (a filed return does not change).
    received_late: int = 0
    # Sales documents dated in the period but made in Billit after it ended: a return filed before lacks them.
    issued_late: int = 0
    # Sales invoices dated in the period that their recipient refused: still due until a credit note cancels them.
    refused_sales: int = 0
    # The mirror of the two above: purchase invoices received (`created_at`) in the period but dated before it,
    # and sales documents made in it but dated before it. Their amounts are in their own period's grids; if that
    # return is filed, they belong in this one (a deduction, resp. a correction).
    received_from_earlier: int = 0
    issued_backdated: int = 0
    # Issued invoices and credit notes dated in the period that are deleted in Billit: out of the grids.
    deleted: int = 0
    # Orders Billit listed that are not loaded (quarantined, unreadable): in no grid, whatever their date.
    unloaded: UnloadedOrders = field(default_factory=UnloadedOrders)


def cents(amount: Decimal) -> Decimal:
    return amount.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def _months(period: VatPeriod) -> list[str]:
    first = period.first_day.month
    return [f"{period.year}-{month:02d}" for month in range(first, period.last_day.month + 1)]


def in_period(invoices: sa.Table, period: VatPeriod, company_id: int) -> sa.ColumnElement[bool]:
    return between_dates(invoices, period.first_day, period.last_day, company_id)


def vat_documents(invoices: sa.Table, company_id: int, *, deleted: bool = False) -> sa.ColumnElement[bool]:
    """The company's invoices and credit notes, deleted ones left out (or only those, with `deleted`): a VAT return
    is one company's (docs/warehouse.md#companies)."""
    return sa.and_(
        invoices.c.company_id == company_id,
        invoices.c.is_deleted.is_(deleted),
        invoices.c.order_type.in_(VAT_DOCUMENTS),
    )


def between_dates(
    invoices: sa.Table, first_day: date, last_day: date, company_id: int, *, deleted: bool = False
) -> sa.ColumnElement[bool]:
    """The company's invoices and credit notes dated in [first_day, last_day] (`vat_documents`)."""
    return sa.and_(
        vat_documents(invoices, company_id, deleted=deleted),
        invoices.c.order_date >= first_day,
        invoices.c.order_date <= last_day,
    )


def issued(invoices: sa.Table) -> sa.ColumnElement[bool]:
    """Not a draft (`OrderStatus` `Draft`, in any case): a VAT document."""
    return sa.func.lower(sa.func.coalesce(invoices.c.order_status, "")) != "draft"


def _count(connection: sa.Connection, table: sa.FromClause, *conditions: sa.ColumnElement[bool]) -> int:
    return int(connection.execute(sa.select(sa.func.count()).select_from(table).where(*conditions)).scalar_one())


def invoices_between(engine: sa.Engine, first_day: date, last_day: date, *, company_id: int) -> int:
    """The company's invoices and credit notes dated in the period (deleted ones left out)."""
    invoices = reflect_tables(engine)["invoices"]
    with engine.connect() as connection:
        return _count(connection, invoices, between_dates(invoices, first_day, last_day, company_id))


def missing_rows(engine: sa.Engine, first_day: date, last_day: date, *, company_id: int) -> int:
    """Invoices and credit notes of the period with amounts but no VAT-return rows (loaded before migration
    0005): a return or listing would leave them out."""
    tables = reflect_tables(engine)
    invoices, entries, exceptions = tables["invoices"], tables["vat_return_entries"], tables["vat_return_exceptions"]
    lines = tables["invoice_lines"]
    has_amounts = sa.or_(
        sa.func.coalesce(invoices.c.total_excl, 0) != 0,
        sa.func.coalesce(invoices.c.total_vat, 0) != 0,
        sa.exists().where(
            lines.c.order_id == invoices.c.order_id,
            sa.or_(sa.func.coalesce(lines.c.total_excl, 0) != 0, sa.func.coalesce(lines.c.total_vat, 0) != 0),
        ),
    )
    with engine.connect() as connection:
        return _count(
            connection,
            invoices,
            between_dates(invoices, first_day, last_day, company_id),
            has_amounts,
            ~sa.exists().where(entries.c.order_id == invoices.c.order_id),
            ~sa.exists().where(exceptions.c.order_id == invoices.c.order_id),
        )


def refuse_missing_rows(engine: sa.Engine, first_day: date, last_day: date, label: str, *, company_id: int) -> None:
    """VatReturnError when some of the company's invoices of the period have no VAT-return rows."""
    if missing := missing_rows(engine, first_day, last_day, company_id=company_id):
        raise VatReturnError(
            f"{missing} invoice(s) of {label} were loaded before the warehouse kept VAT-return rows: "
            "run `billit-etl replay` of the landing first (a sync or backfill skips orders already stored)"
        )


def vat_return(engine: sa.Engine, period: VatPeriod, *, company_id: int) -> VatReturn:
    """The company's grids of `period`, the 71/72 balance and the checks. VatReturnError when some of the period's
    invoices have no VAT-return rows."""
    refuse_missing_rows(engine, period.first_day, period.last_day, str(period), company_id=company_id)
    columns = ("company_id", "period", "grid", "amount", "is_self_assessed", "entry_count")
    monthly = sa.table("bi_vat_return_monthly", *(sa.column(name) for name in columns))
    tables = reflect_tables(engine)
    invoices, exceptions, lines = tables["invoices"], tables["vat_return_exceptions"], tables["invoice_lines"]
    grids: dict[str, Decimal] = defaultdict(Decimal)
    self_assessed: dict[str, Decimal] = defaultdict(Decimal)
    entries: dict[str, int] = defaultdict(int)
    with engine.connect() as connection:
        for grid, amount, is_self_assessed, count in connection.execute(
            sa.select(monthly.c.grid, monthly.c.amount, monthly.c.is_self_assessed, monthly.c.entry_count).where(
                monthly.c.company_id == company_id, monthly.c.period.in_(_months(period))
            )
        ):
            amount = cents(Decimal(repr(amount)) if isinstance(amount, float) else amount)  # SQLite sums REAL
            grids[grid] += amount
            entries[grid] += count
            if is_self_assessed:
                self_assessed[grid] += amount
        reported: dict[bool, int] = {
            bool(is_reported): int(count)
            for is_reported, count in connection.execute(
                sa.select(exceptions.c.is_reported, sa.func.count())
                .join(invoices, invoices.c.order_id == exceptions.c.order_id)
                .where(in_period(invoices, period, company_id))
                .group_by(exceptions.c.is_reported)
            )
        }
        # The notes below are of issued documents: a draft is in no return (its exceptions say so, counted above).
        dated = sa.and_(in_period(invoices, period, company_id), issued(invoices))
        inferred = _count(
            connection,
            lines.join(invoices, invoices.c.order_id == lines.c.order_id),
            dated,
            lines.c.treatment_source == "inferred",
        )
        undated = _count(
            connection,
            exceptions.join(invoices, invoices.c.order_id == exceptions.c.order_id),
            invoices.c.company_id == company_id,
            invoices.c.order_date.is_(None),
            invoices.c.is_deleted.is_(False),
            issued(invoices),
        )
        late: dict[str, int] = {
            direction: count
            for direction, count in connection.execute(
                sa.select(invoices.c.direction, sa.func.count())
                .where(dated, invoices.c.created_at >= period.last_day + timedelta(days=1))
                .group_by(invoices.c.direction)
            )
        }
        earlier: dict[str, int] = {
            direction: count
            for direction, count in connection.execute(
                sa.select(invoices.c.direction, sa.func.count())
                .where(
                    vat_documents(invoices, company_id),
                    invoices.c.created_at >= period.first_day,
                    invoices.c.created_at < period.last_day + timedelta(days=1),
                    invoices.c.order_date < period.first_day,
                    issued(invoices),
                )
                .group_by(invoices.c.direction)
            )
        }
        deleted = _count(
            connection,
            invoices,
            between_dates(invoices, period.first_day, period.last_day, company_id, deleted=True),
            issued(invoices),
        )
        refused_sales = _count(
            connection,
            invoices,
            dated,
            invoices.c.direction == "Income",
            invoices.c.order_type == "Invoice",
            # As bi_delivery_refusals tells a refusal, or Billit's Refused status; not once credited.
            sa.or_(invoices.c.delivery_status == "Error", invoices.c.last_response_code == "RE")
            | (invoices.c.order_status == "Refused"),
            sa.func.coalesce(invoices.c.order_status, "") != "Credited",
        )
    result = VatReturn(
        period,
        dict(grids),
        dict(self_assessed),
        left_out=reported.get(False, 0),
        to_review=reported.get(True, 0),
        inferred_lines=inferred,
        undated=undated,
        received_late=late.get("Cost", 0),
        issued_late=late.get("Income", 0),
        refused_sales=refused_sales,
        received_from_earlier=earlier.get("Cost", 0),
        issued_backdated=earlier.get("Income", 0),
        deleted=deleted,
        unloaded=unloaded_orders(engine, period.first_day, period.last_day, company_id=company_id),
    )
    owed = sum((grids.get(grid, ZERO) for grid in OWED_GRIDS), ZERO)
    recoverable = sum((grids.get(grid, ZERO) for grid in RECOVERABLE_GRIDS), ZERO)
    result.grids["71" if owed >= recoverable else "72"] = abs(owed - recoverable)
    result.checks = _checks(result.grids, entries)
    return result


def _checks(grids: dict[str, Decimal], entries: dict[str, int]) -> list[Check]:
    """What an accountant checks before filing: each VAT grid against the rate times its bases. VAT is rounded
    per VAT group, so each may be half a cent off: the tolerance is a cent per group."""

    def g(*names: str) -> Decimal:
        return sum((grids.get(name, ZERO) for name in names), ZERO)

    def slack(*names: str) -> Decimal:
        return Decimal("0.01") * sum(entries.get(name, 0) for name in names)

    rate = Decimal("0.21")
    return [
        Check(
            "54 = 6 % × 01 + 12 % × 02 + 21 % × 03",
            g("54"),
            cents(g("01") * Decimal("0.06") + g("02") * Decimal("0.12") + g("03") * rate),
            "=",
            slack("54"),
        ),
        Check("55 = 21 % × (86 + 88)", g("55"), cents(g("86", "88") * rate), "=", slack("55")),
        Check("56 + 57 = 21 % × 87", g("56", "57"), cents(g("87") * rate), "=", slack("56", "57")),
        Check("55 + 56 + 57 <= 59 (self-assessed VAT is deducted)", g("55", "56", "57"), g("59"), "<=", ZERO),
        # No purchase bears more than 21 %: more VAT deducted than that is a VAT amount to look at.
        Check("59 <= 21 % × (81 + 82 + 83)", g("59"), cents(g("81", "82", "83") * rate), "<=", slack("59")),
        # 61 and 62 hold the VAT of negative corrections on invoices, whose bases are in 85 and 49 (vat_return_rows).
        Check("61 + 63 <= 21 % × 85", g("61", "63"), cents(g("85") * rate), "<=", slack("61", "63")),
        Check("62 + 64 <= 21 % × 49", g("62", "64"), cents(g("49") * rate), "<=", slack("62", "64")),
    ]


def period_notes(
    engine: sa.Engine,
    first_day: date,
    last_day: date,
    label: str,
    company_id: int,
    empty: str = "a nil return",
    unloaded: UnloadedOrders | None = None,
) -> list[str]:
    """What a reader of a period's figures must know: nothing in it (`empty`: what the report then is), not over
    yet, orders still to load (counted by the period of their date; `unloaded`: as the report counted them)."""
    notes = []
    if not invoices_between(engine, first_day, last_day, company_id=company_id):
        notes.append(f"no invoices dated in {label}: {empty}")
    if last_day >= datetime.now(BILLIT_TIME_ZONE).date():
        notes.append(f"{label} has not ended yet: its figures can still change")
    if unloaded is None:
        unloaded = unloaded_orders(engine, first_day, last_day, company_id=company_id)
    return notes + unloaded_notes(unloaded, label)
