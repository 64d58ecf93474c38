"""The Intervat listings of a period's sales, read from the warehouse (docs/bi.md#vat-return): `intra_listing` (the
intra-community listing of a month or quarter) and `client_listing` (the annual listing of Belgian customers), and
`declarant`, the company itself. `tasks/vat/intervat.py` writes them as XML drafts.

A listing adds up the sales entries of `vat_return_entries`. A sale whose amounts are in no return (an exception:
a currency without an exchange rate, an unknown treatment, ...) is in no listing either, and is named among the
customers left out with its reason: never dropped without a word. Drafts are not sales yet, and are not named.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from connectors.warehouse import reflect_tables
from tasks.normalise.identifiers import normalise_vat_number
from tasks.normalise.vat_return import IC_TREATMENTS
from tasks.vat.intervat import Declarant, IntraClient, ListedClient, VatPeriod
from tasks.vat.returns import VatReturnError, between_dates, cents, in_period, issued

# The annual client listing holds Belgian customers billed (or credited net) 250 EUR or more excl. VAT in a year.
CLIENT_LISTING_THRESHOLD = Decimal("250.00")
# Sales grids that make a Belgian customer's turnover in the client listing, and its VAT.
_TURNOVER_GRIDS, _TURNOVER_CREDIT_GRID = ("00", "01", "02", "03", "45"), "49"


def _vat_number(raw: str | None, country: str | None = None) -> tuple[str, bool]:
    """(the VAT number as Intervat lists it, whether it is valid): separators and case repaired, Greece as EL, an
    old nine-digit Belgian number with its leading 0, a number without its prefix given the party's country."""
    if not (raw or "").strip():
        return "", False
    identifier = normalise_vat_number(raw or "", country_hint=country)
    return (identifier.value or "").upper(), identifier.is_valid


def _sales(engine: sa.Engine, source: str, columns: tuple[str, ...], *conditions: Any) -> list[Any]:
    """(VAT number as given, the customer's country, name, *`columns` of `source`) of the sales rows of `source`
    (`vat_return_entries` or `vat_return_exceptions`); the customer as the order's company's books hold it.
    `conditions` hold the company."""
    tables = reflect_tables(engine)
    invoices, rows, parties = tables["invoices"], tables[source], tables["parties"]
    query = (
        sa.select(
            invoices.c.counterparty_vat_number,
            parties.c.country_code,
            invoices.c.counterparty_name,
            *(invoices.c[name] if name in invoices.c else rows.c[name] for name in columns),
        )
        .join(invoices, invoices.c.order_id == rows.c.order_id)
        .outerjoin(
            parties,
            sa.and_(
                parties.c.company_id == invoices.c.company_id, parties.c.party_id == invoices.c.counterparty_party_id
            ),
        )
        .where(invoices.c.direction == "Income", *conditions)
    )
    with engine.connect() as connection:
        return list(connection.execute(query))


def _sales_amounts(engine: sa.Engine, grids: tuple[str, ...], *conditions: Any) -> list[Any]:
    """(VAT number, country, name, treatment, grid, amount) of sales entries in `grids`."""
    entries = reflect_tables(engine)["vat_return_entries"]
    return _sales(engine, "vat_return_entries", ("treatment", "grid", "amount"), entries.c.grid.in_(grids), *conditions)


def _sales_in_no_return(engine: sa.Engine, *conditions: Any) -> list[Any]:
    """(VAT number, country, name, order number, treatment, reason) of the sales amounts in no return (exceptions not
    reported), drafts left out."""
    tables = reflect_tables(engine)
    exceptions, invoices = tables["vat_return_exceptions"], tables["invoices"]
    return _sales(
        engine,
        "vat_return_exceptions",
        ("order_number", "treatment", "reason"),
        exceptions.c.is_reported.is_(False),
        issued(invoices),
        *conditions,
    )


def _in_belgium(vat_number: str, country: str | None) -> bool:
    """A customer of the client listing: a Belgian VAT number, or none usable and an address in Belgium (or none)."""
    return vat_number.startswith("BE") or (country or "BE").upper() == "BE"


def _not_listed(name: str | None, vat_number: str, order_number: str | None, reason: str) -> str:
    return f"{name or '?'} ({vat_number or 'no VAT number'}), order {order_number or '?'}: {reason}; not in the listing"


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
        engine, ("44", "46", "48"), in_period(invoices, period, company_id)
    ):
        vat_number, valid = _vat_number(raw_vat, country)
        if not valid or vat_number.startswith("BE"):
            left_out.append(
                f"{name or '?'}: {'no' if not raw_vat else 'not a valid'} EU VAT number "
                f"({raw_vat or ''}; grid {grid}, {amount})"
            )
            continue
        if vat_number.startswith("XI"):  # Northern Ireland: goods only (docs/reference/identifiers.md#countries)
            left_out.append(
                f"{name or '?'} ({vat_number}): the schema of these drafts (NewICO v0.9) has no XI (Northern "
                f"Ireland); add it in Intervat (grid {grid}, {amount})"
            )
            continue
        code = "L" if treatment == "ic_goods" else "S"
        totals[(vat_number, code)] += (-1 if grid == "48" else 1) * Decimal(str(amount))
    for raw_vat, country, name, order_number, treatment, reason in _sales_in_no_return(
        engine, in_period(invoices, period, company_id)
    ):
        vat_number, valid = _vat_number(raw_vat, country)
        foreign = valid and not vat_number.startswith("BE")
        if treatment in IC_TREATMENTS or (treatment is None and foreign):
            left_out.append(_not_listed(name, vat_number, order_number, reason))
    rows = []
    for (vat_number, code), amount in sorted(totals.items()):
        amount = cents(amount)
        if amount < 0:
            left_out.append(
                f"{vat_number} {code}: credit notes exceed the sales ({amount}); correct the earlier listing instead"
            )
        elif amount > 0:
            rows.append(IntraClient(vat_number[:2], vat_number[2:], code, amount))
    return Listing(rows, sorted(set(left_out)))


def client_listing(engine: sa.Engine, year: int, *, company_id: int) -> Listing:
    """The annual listing: Belgian customers (a Belgian VAT number, or a bare number of a customer in Belgium)
    billed, or credited net, CLIENT_LISTING_THRESHOLD or more in `year`: turnover 00-03 + 45 less 49, VAT 54 less
    62 (negative corrections) and 64."""
    invoices = reflect_tables(engine)["invoices"]
    in_year = between_dates(invoices, date(year, 1, 1), date(year, 12, 31), company_id)
    turnover: dict[str, Decimal] = defaultdict(Decimal)
    vat: dict[str, Decimal] = defaultdict(Decimal)
    left_out: list[str] = []
    for raw_vat, country, name, _treatment, grid, amount in _sales_amounts(
        engine, (*_TURNOVER_GRIDS, _TURNOVER_CREDIT_GRID, "54", "62", "64"), in_year
    ):
        vat_number, valid = _vat_number(raw_vat, country)
        if not _in_belgium(vat_number, country):
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
    for raw_vat, country, name, order_number, _treatment, reason in _sales_in_no_return(engine, in_year):
        vat_number, _valid = _vat_number(raw_vat, country)
        if _in_belgium(vat_number, country):
            left_out.append(_not_listed(name, vat_number, order_number, reason))
    rows = [
        ListedClient(number, cents(turnover[number]), cents(vat[number]))
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
