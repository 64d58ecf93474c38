"""The Belgian VAT return and listings of a period, read from the warehouse (docs/bi.md#vat-return).

`vat_return` adds up `bi_vat_return_monthly` over the months of a period, computes the 71/72 balance and runs
the checks an accountant runs before filing; `intra_listing` and `client_listing` give the rows of the
intra-community listing and of the annual listing of Belgian customers; `declarant` is the company itself.
`tasks/vat/intervat.py` writes them as Intervat XML drafts. Nothing here writes to the warehouse or to Billit.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import sqlalchemy as sa

from connectors.warehouse import reflect_tables
from tasks.normalise.identifiers import normalise_vat_number
from tasks.vat.intervat import Declarant, IntraClient, ListedClient, VatPeriod

ZERO = Decimal("0.00")
# The annual client listing holds Belgian customers billed (or credited net) 250 EUR or more excl. VAT in a year.
CLIENT_LISTING_THRESHOLD = Decimal("250.00")
# Grids the declarant owes (XX) and may deduct or recover (YY); 71 = XX − YY or 72 = YY − XX.
OWED_GRIDS = ("54", "55", "56", "57", "61", "63")
RECOVERABLE_GRIDS = ("59", "62", "64")
# Sales grids that make a Belgian customer's turnover in the client listing, and its VAT.
_TURNOVER_GRIDS, _TURNOVER_CREDIT_GRID = ("00", "01", "02", "03", "45"), "49"


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


def _cents(amount: Decimal) -> Decimal:
    return amount.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def _months(period: VatPeriod) -> list[str]:
    first = period.first_day.month
    return [f"{period.year}-{month:02d}" for month in range(first, period.last_day.month + 1)]


def _in_period(invoices: sa.Table, period: VatPeriod, company_id: int) -> sa.ColumnElement[bool]:
    return _between(invoices, period.first_day, period.last_day, company_id)


def _between(invoices: sa.Table, first_day: date, last_day: date, company_id: int) -> sa.ColumnElement[bool]:
    """The company's invoices and credit notes dated in [first_day, last_day], deleted ones left out: a VAT return
    is one company's (docs/warehouse.md#companies)."""
    return sa.and_(
        invoices.c.company_id == company_id,
        invoices.c.order_date >= first_day,
        invoices.c.order_date <= last_day,
        invoices.c.is_deleted.is_(False),
        invoices.c.order_type.in_(("Invoice", "CreditNote")),
    )


def _count(connection: sa.Connection, table: sa.FromClause, *conditions: sa.ColumnElement[bool]) -> int:
    return int(connection.execute(sa.select(sa.func.count()).select_from(table).where(*conditions)).scalar_one())


def invoices_between(engine: sa.Engine, first_day: date, last_day: date, *, company_id: int) -> int:
    """The company's invoices and credit notes dated in the period (deleted ones left out)."""
    invoices = reflect_tables(engine)["invoices"]
    with engine.connect() as connection:
        return _count(connection, invoices, _between(invoices, first_day, last_day, company_id))


def pending_count(engine: sa.Engine, *, company_id: int) -> int:
    """The company's orders Billit listed that are not loaded yet, of any period."""
    pending = reflect_tables(engine)["pending_orders"]
    with engine.connect() as connection:
        return _count(connection, pending, pending.c.company_id == company_id)


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
            _between(invoices, first_day, last_day, company_id),
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
            amount = _cents(Decimal(repr(amount)) if isinstance(amount, float) else amount)  # SQLite sums REAL
            grids[grid] += amount
            entries[grid] += count
            if is_self_assessed:
                self_assessed[grid] += amount
        reported: dict[bool, int] = {
            bool(is_reported): int(count)
            for is_reported, count in connection.execute(
                sa.select(exceptions.c.is_reported, sa.func.count())
                .join(invoices, invoices.c.order_id == exceptions.c.order_id)
                .where(_in_period(invoices, period, company_id))
                .group_by(exceptions.c.is_reported)
            )
        }
        in_period = _in_period(invoices, period, company_id)
        inferred = _count(
            connection,
            lines.join(invoices, invoices.c.order_id == lines.c.order_id),
            in_period,
            lines.c.treatment_source == "inferred",
        )
        undated = _count(
            connection,
            exceptions.join(invoices, invoices.c.order_id == exceptions.c.order_id),
            invoices.c.company_id == company_id,
            invoices.c.order_date.is_(None),
            invoices.c.is_deleted.is_(False),
        )
        late: dict[str, int] = {
            direction: count
            for direction, count in connection.execute(
                sa.select(invoices.c.direction, sa.func.count())
                .where(in_period, invoices.c.created_at >= period.last_day + timedelta(days=1))
                .group_by(invoices.c.direction)
            )
        }
        refused_sales = _count(
            connection,
            invoices,
            in_period,
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
            _cents(g("01") * Decimal("0.06") + g("02") * Decimal("0.12") + g("03") * rate),
            "=",
            slack("54"),
        ),
        Check("55 = 21 % × (86 + 88)", g("55"), _cents(g("86", "88") * rate), "=", slack("55")),
        Check("56 + 57 = 21 % × 87", g("56", "57"), _cents(g("87") * rate), "=", slack("56", "57")),
        Check("55 + 56 + 57 <= 59 (self-assessed VAT is deducted)", g("55", "56", "57"), g("59"), "<=", ZERO),
        Check("63 <= 21 % × 85", g("63"), _cents(g("85") * rate), "<=", slack("63")),
        Check("64 <= 21 % × 49", g("64"), _cents(g("49") * rate), "<=", slack("64")),
    ]


def _vat_number(raw: str | None, country: str | None = None) -> tuple[str, bool]:
    """(the VAT number as Intervat lists it, whether it is valid): separators and case repaired, Greece as EL, an
    old nine-digit Belgian number with its leading 0, a number without its prefix given the party's country."""
    if not (raw or "").strip():
        return "", False
    identifier = normalise_vat_number(raw or "", country_hint=country)
    return (identifier.value or "").upper(), identifier.is_valid


def _sales_amounts(engine: sa.Engine, grids: tuple[str, ...], *conditions: Any) -> list[Any]:
    """(VAT number as given, the customer's country, name, treatment, grid, amount) of sales entries; the customer
    as the order's company's books hold it. `conditions` hold the company."""
    tables = reflect_tables(engine)
    invoices, entries, parties = tables["invoices"], tables["vat_return_entries"], tables["parties"]
    query = (
        sa.select(
            invoices.c.counterparty_vat_number,
            parties.c.country_code,
            invoices.c.counterparty_name,
            entries.c.treatment,
            entries.c.grid,
            entries.c.amount,
        )
        .join(invoices, invoices.c.order_id == entries.c.order_id)
        .outerjoin(
            parties,
            sa.and_(
                parties.c.company_id == invoices.c.company_id, parties.c.party_id == invoices.c.counterparty_party_id
            ),
        )
        .where(invoices.c.direction == "Income", entries.c.grid.in_(grids), *conditions)
    )
    with engine.connect() as connection:
        return list(connection.execute(query))


@dataclass
class Listing:
    """Rows of a listing, and the customers left out of it with the reason (no usable VAT number, ...)."""

    rows: list[Any]
    left_out: list[str]


def intra_listing(engine: sa.Engine, period: VatPeriod, *, company_id: int) -> Listing:
    """The intra-community listing: per EU customer VAT number and code (L goods, S services), the period's IC
    sales (44/46) less its credit notes on them (48)."""
    invoices = reflect_tables(engine)["invoices"]
    totals: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    left_out: list[str] = []
    for raw_vat, country, name, treatment, grid, amount in _sales_amounts(
        engine, ("44", "46", "48"), _in_period(invoices, period, company_id)
    ):
        vat_number, valid = _vat_number(raw_vat, country)
        if not valid or vat_number.startswith("BE"):
            left_out.append(
                f"{name or '?'}: {'no' if not raw_vat else 'not a valid'} EU VAT number "
                f"({raw_vat or ''}; grid {grid}, {amount})"
            )
            continue
        code = "L" if treatment == "ic_goods" else "S"
        totals[(vat_number, code)] += (-1 if grid == "48" else 1) * Decimal(str(amount))
    rows = []
    for (vat_number, code), amount in sorted(totals.items()):
        amount = _cents(amount)
        if amount < 0:
            left_out.append(
                f"{vat_number} {code}: credit notes exceed the sales ({amount}); correct the earlier listing instead"
            )
        elif amount > 0:
            rows.append(IntraClient(vat_number[:2], vat_number[2:], code, amount))
    return Listing(rows, left_out)


def client_listing(engine: sa.Engine, year: int, *, company_id: int) -> Listing:
    """The annual listing: Belgian customers (a Belgian VAT number, or a bare number of a customer in Belgium)
    billed, or credited net, CLIENT_LISTING_THRESHOLD or more in `year`: turnover 00-03 + 45 less 49, VAT 54 - 64."""
    invoices = reflect_tables(engine)["invoices"]
    in_year = sa.and_(
        invoices.c.company_id == company_id,
        invoices.c.order_date >= date(year, 1, 1),
        invoices.c.order_date <= date(year, 12, 31),
        invoices.c.is_deleted.is_(False),
        invoices.c.order_type.in_(("Invoice", "CreditNote")),
    )
    turnover: dict[str, Decimal] = defaultdict(Decimal)
    vat: dict[str, Decimal] = defaultdict(Decimal)
    left_out: list[str] = []
    for raw_vat, country, name, _treatment, grid, amount in _sales_amounts(
        engine, (*_TURNOVER_GRIDS, _TURNOVER_CREDIT_GRID, "54", "64"), in_year
    ):
        vat_number, valid = _vat_number(raw_vat, country)
        if not vat_number.startswith("BE") and (country or "BE").upper() != "BE":
            continue  # a customer abroad: not in this listing
        if not valid or not vat_number.startswith("BE"):
            left_out.append(
                f"{name or '?'}: {'no' if not raw_vat else repr(raw_vat) + ' is not a'} valid Belgian VAT number"
            )
            continue
        amount = Decimal(str(amount))
        if grid in _TURNOVER_GRIDS:
            turnover[vat_number] += amount
        elif grid == _TURNOVER_CREDIT_GRID:
            turnover[vat_number] -= amount
        else:
            vat[vat_number] += amount if grid == "54" else -amount
    rows = [
        ListedClient(number, _cents(turnover[number]), _cents(vat[number]))
        for number in sorted(turnover)
        if abs(turnover[number]) >= CLIENT_LISTING_THRESHOLD
    ]
    return Listing(rows, sorted(set(left_out)))


def declarant(engine: sa.Engine, *, company_id: int) -> Declarant:
    """The company as Intervat's declarant, from its own party row in its books. Its e-mail address is left for the
    accountant to add: Intervat's schema refuses many real addresses (top-level domains over five letters)."""
    party_id = company_id
    parties = reflect_tables(engine)["parties"]
    with engine.connect() as connection:
        party = connection.execute(
            sa.select(parties).where(parties.c.company_id == company_id, parties.c.party_id == party_id)
        ).first()
    vat_number, valid = _vat_number(
        party.vat_number_raw if party is not None else None, party.country_code if party is not None else None
    )
    if not valid or not vat_number.startswith("BE"):
        raise VatReturnError(
            f"the company (PartyID {party_id}) has no Belgian VAT number in the warehouse "
            f"({'none' if not vat_number else vat_number[:2] + '…'}): the Belgian VAT return does not apply"
        )
    assert party is not None
    return Declarant(
        vat_number=vat_number,
        name=party.name or party.display_name or str(party_id),
        street=" ".join(filter(None, (party.street, party.street_number))) or None,
        postcode=party.zipcode,
        city=party.city,
        country=party.country_code or "BE",
    )
