"""Which Billit company each outbound row goes into, and one client per company for the push.

`outbound_invoices.company_id` decides the PartyID of a row's create, look-up and send; NULL means the push's
configured company (`BILLIT_PARTY_ID`), and every outcome written back names the company it was pushed with, so a
created row always says whose books it is in (docs/warehouse.md#companies). Billit picks the company from the
`PartyID` header of each request (docs/reference/billit-api.md#authentication), so a push of several companies'
rows keeps one client per company, built from the configured client's settings with another `party_id`, opened
when a row first needs it and closed with the push. All of them pace as one API key
(`connectors.billit.ratelimit`). Without a configured company (an accountant's key) every row must name its own:
`require_companies` refuses the push before any work otherwise.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from contextlib import AsyncExitStack, suppress
from types import TracebackType
from typing import Any

import sqlalchemy as sa

from connectors.billit import BillitAuthError, BillitClient, BillitSettings, NoCompanyError
from connectors.billit.account import (
    CompanyUnavailable,
    answering,
    companies_reached,
    company_problem,
    with_company_reason,
)
from connectors.billit.settings import ENV_PREFIX
from connectors.warehouse import reflect_tables
from tasks.outbound.claims import rows_to_push_or_send
from tasks.outbound.query import read_integer


class NotReached(str):
    """Why a company is unavailable, when it is not among those the API key reaches at all (accountInformation
    does not list it: a typo, a company of another account). Its rows are rejected, not failed: no later run can
    create them until the row names another company. (API access switched off is failed: it may be switched on.)"""


class CompanyClients:
    """The configured client and, on demand, a sibling client for each other company an outbound row names;
    `unavailable` holds why the key cannot act for some of them (`unavailable_companies`)."""

    def __init__(self, configured: BillitClient, unavailable: Mapping[int, str] | None = None) -> None:
        self.configured = configured
        self.unavailable = dict(unavailable or {})
        self.default_company = configured.settings.party_id  # None: every row names its company
        self._clients: dict[int, BillitClient] = {}
        if self.default_company is not None:
            self._clients[self.default_company] = configured
        self._stack = AsyncExitStack()
        self._asked: dict[int, asyncio.Task[str | None]] = {}

    def company_of(self, row: Mapping[str, Any]) -> int:
        """The PartyID a row is pushed with: its company_id, else the configured company."""
        company = row.get("company_id")
        return self.configured.settings.require_party_id() if company is None else int(company)

    def order_company_of(self, row: Mapping[str, Any]) -> int:
        """The PartyID a created row's order is in: the company its create was made in (0009), whatever its
        company_id says since (an UPDATE of the table cannot move an order); else as `company_of`."""
        attempted = row.get("attempted_company_id")
        return self.company_of(row) if attempted is None else int(attempted)

    async def client_for(self, row: Mapping[str, Any]) -> BillitClient:
        return await self.client_of(self.company_of(row))

    async def client_of(self, company: int) -> BillitClient:
        client = self._clients.get(company)
        if client is None:
            settings = self.configured.settings.model_copy(update={"party_id": company})
            client = self._clients[company] = await self._stack.enter_async_context(BillitClient(settings))
        return client

    async def why_refused(self, company: int, refused: BillitAuthError) -> str | None:
        """Why Billit refused a request for `company` in the middle of a run, when accountInformation says the key
        can no longer act for it (API access switched off, access revoked): the company's rows then fail with that
        reason, and the other companies' go on. None: the key itself is refused. Asked once per company."""
        if company not in self._asked:
            self._asked[company] = asyncio.create_task(self._ask_why(company, refused))
        return await asyncio.shield(self._asked[company])  # a row cancelled while waiting cancels not the others

    async def _ask_why(self, company: int, refused: BillitAuthError) -> str | None:
        settings = self.configured.settings.model_copy(update={"party_id": company})
        explained = await with_company_reason(refused, settings)
        if explained is refused or not isinstance(explained, BillitAuthError):
            return None
        self.unavailable[company] = explained.hint or str(explained)
        return self.unavailable[company]

    async def __aenter__(self) -> CompanyClients:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        await self._stack.aclose()


def require_companies(engine: sa.Engine, settings: BillitSettings) -> None:
    """Without a configured company, refuse the push (NoCompanyError, one line) before any work if a row still to
    create or send names none: it could only fail, after the others had been pushed."""
    if settings.party_id is not None:
        return
    table = reflect_tables(engine)["outbound_invoices"]
    with engine.connect() as connection:
        nameless = connection.execute(
            sa.select(table.c.external_id).where(rows_to_push_or_send(table), table.c.company_id.is_(None)).limit(1)
        ).first()
    if nameless is not None:
        raise NoCompanyError(
            f"no Billit company to act for: set {ENV_PREFIX}PARTY_ID, or outbound_invoices.company_id of every row "
            f"(row {nameless[0]!r} names none)"
        )


async def unavailable_companies(engine: sa.Engine, settings: BillitSettings) -> dict[int, str]:
    """Why the key cannot act for the companies rows still to create or send name, other than the configured one
    (checked by the push's first read): not reached, or API access off, as accountInformation says. Their rows fail
    with that reason, and the others go on: one row naming a wrong company must not stop every push."""

    def named() -> set[int]:  # in a thread, as every warehouse call of the push
        table = reflect_tables(engine)["outbound_invoices"]
        with engine.connect() as connection:
            query = sa.select(table.c.company_id).where(rows_to_push_or_send(table), table.c.company_id.is_not(None))
            companies = set()
            for company in connection.execute(query.distinct()).scalars():
                with suppress(ValueError):  # not a PartyID: its rows are rejected (tasks/outbound/table_rows.py)
                    companies.add(read_integer(company))
            return companies

    others = sorted(await asyncio.to_thread(named) - {settings.party_id})
    if not others:
        return {}
    unavailable: dict[int, str] = {}
    # Without a configured company, Billit may want a PartyID even to list them
    # (docs/reference/billit-api.md#companies): the rows' own companies are tried in turn, and one Billit refuses
    # there is unavailable.
    for asking in [settings.party_id] if settings.party_id is not None else others:
        try:
            reachable = await companies_reached(settings.model_copy(update={"party_id": asking}))
        except CompanyUnavailable:
            unavailable[asking] = (
                f"Billit company {asking} refuses this key (accountInformation, asked with its PartyID): API access "
                "off, or a company the key does not reach (`billit-etl companies` lists them)"
            )
            continue
        reachable = await answering(settings, reachable, others)
        listed = {company.party_id for company in reachable}
        problems = {company: company_problem(reachable, company) for company in others}
        return unavailable | {
            company: NotReached(problem) if company not in listed else problem
            for company, problem in problems.items()
            if problem
        }
    return unavailable
