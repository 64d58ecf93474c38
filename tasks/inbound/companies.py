"""The companies dimension: which Billit companies (PartyIDs) the warehouse holds, their names, and which one a
command works for.

One API key reaches several companies (`GET /v1/account/accountInformation` lists them); a warehouse holds the
books of any number of them, each row carrying its `company_id` (docs/warehouse.md#companies). The sync records
its company in `companies` when a run starts; `record_companies` adds what accountInformation says of them (the
orchestration calls it once per run of all companies).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from connectors.warehouse import insert_ignoring_duplicates, reflect_tables, write_transaction


class CompanyMismatch(ValueError):
    """A command names a company the warehouse does not hold, or names none where it holds several."""


def warehouse_companies(engine: sa.Engine) -> list[int]:
    """The companies whose books the warehouse holds (a sync or replay of theirs succeeded, or orders of theirs
    are loaded), in PartyID order. A run Billit refused (a mistyped PartyID) adds none."""
    tables = reflect_tables(engine)
    runs, invoices = tables["sync_runs"], tables["invoices"]
    query = sa.union(
        sa.select(runs.c.company_id).where(runs.c.status == "succeeded", runs.c.company_id.is_not(None)),
        sa.select(invoices.c.company_id).where(invoices.c.company_id.is_not(None)).distinct(),
    )
    with engine.connect() as connection:
        return sorted(connection.execute(query).scalars())


def choose_company(engine: sa.Engine, company_id: int | None) -> int:
    """The company a command that reads one company's books works for: `company_id` when the warehouse holds it,
    else the warehouse's only company. CompanyMismatch (one line) otherwise."""
    known = warehouse_companies(engine)
    if company_id is not None:
        if company_id not in known:
            raise CompanyMismatch(
                f"the warehouse holds no books of Billit company {company_id}"
                + (f" (it holds {', '.join(map(str, known))})" if known else " (it was never synced)")
            )
        return company_id
    if len(known) == 1:
        return known[0]
    if not known:
        raise CompanyMismatch("the warehouse has no company yet: run `billit-etl sync` first")
    raise CompanyMismatch(
        f"the warehouse holds the books of {len(known)} companies ({', '.join(map(str, known))}): choose one "
        "with --company, or set BILLIT_PARTY_ID"
    )


def record_companies(engine: sa.Engine, companies: Iterable[Mapping[str, Any]]) -> int:
    """Record the companies an API key reaches, as `GET /v1/account/accountInformation` lists them (`PartyID`,
    `Name`, `VATNumber`, `APIAllowed`), in the `companies` dimension; return how many. A company seen again gets
    its new name, VAT number and API access; one no longer listed keeps its row (its books stay in the
    warehouse)."""
    rows = [
        {
            "company_id": company["PartyID"],
            "name": company.get("Name") or company.get("CommercialName"),
            "vat_number": company.get("VATNumber"),
            "api_allowed": company.get("APIAllowed"),
        }
        for company in companies
        if isinstance(company.get("PartyID"), int) and not isinstance(company.get("PartyID"), bool)
    ]
    companies_table = reflect_tables(engine)["companies"]
    with write_transaction(engine) as connection:
        see_companies(connection, companies_table, rows, datetime.now(UTC).replace(tzinfo=None))
    return len(rows)


def see_companies(
    connection: sa.Connection, companies: sa.Table, rows: Sequence[Mapping[str, Any]], now: datetime
) -> None:
    """Insert unknown companies (first and last seen now), update the others' last seen and the given facts."""
    for row in rows:
        facts = {name: value for name, value in row.items() if name != "company_id"}
        insert_ignoring_duplicates(
            connection, companies, [{**row, "first_seen_at": now, "last_seen_at": now}], ["company_id"]
        )
        connection.execute(
            companies.update().where(companies.c.company_id == row["company_id"]).values(last_seen_at=now, **facts)
        )
