"""Which companies a run acts for, and a sync of several of them where one failing does not stop the others.

One API key reaches every company its user sees, an accountant's clients included
(docs/reference/billit-api.md#companies). `--companies` (the flows' `companies` parameter) says which of them a
sync or a backfill loads: `all` (every company `accountInformation` lists with API access on), or PartyIDs; none
means the configured company (`BILLIT_PARTY_ID`), as before (a key without one, an accountant's, must name them).
The choice is checked against what the key reaches before any work: a named id it does not reach, or with API
access off (asked for one order first, `connectors.billit.account.answering`), fails alone and by name, and with
`all` a company whose API access is off is reported as skipped, with the reason, not silently dropped.

`sync_companies` runs the companies one after the other (the Prefect path); `sync_company_streams` runs the
(company, stream) pieces a few side by side (the plain CLI path runs two: under a rate limit, one stream's start
and end, its probe, first page and last load, would otherwise leave the key's rate unused; every client of the key
shares one limiter). Several workers share a large office through the flows' fan-out (`flows/companies.py`). No
Prefect here: the plain path and the flows call the same functions.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

import sqlalchemy as sa

from connectors.billit import BillitAuthError, BillitError, BillitSettings, SettingsError
from connectors.billit.account import (
    BillitCompany,
    CompanyUnavailable,
    answering,
    companies_reached,
    company_problem,
    may_be_partial,
)
from connectors.warehouse import reflect_tables
from tasks.inbound.companies import record_companies
from tasks.inbound.sync import error_text
from tasks.options import InvalidSyncOption
from tasks.runtime import billit_settings

#: The `--companies` value that means every company the key reaches with API access on.
ALL = "all"
_Item = TypeVar("_Item")
_Result = TypeVar("_Result")

CompanyChoice = Literal["all"] | list[int]
#: The flows' `companies` parameter: `all`, PartyIDs as text or a list, or one PartyID, which Prefect's
#: `--param companies=574991` gives as a number (found from the outside: refused by the schema, no run made).
CompaniesParameter = str | int | list[int] | None


class CompanyChoiceError(InvalidSyncOption):
    """`--companies` (or the `companies` parameter) is malformed; webhook registration's `--company` is one the key
    cannot act for."""


@dataclass(frozen=True)
class CompanySelection:
    """The companies a run acts for, and those it leaves out with the reason."""

    chosen: list[BillitCompany]
    skipped: list[tuple[BillitCompany, str]] = field(default_factory=list)

    @property
    def unavailable(self) -> list[BillitCompany]:
        """The chosen companies the key cannot act for (named, but not reached or with API access off)."""
        return [company for company in self.chosen if company.unavailable]

    @property
    def available(self) -> list[BillitCompany]:
        """The chosen companies the key can act for: those a run runs."""
        return [company for company in self.chosen if not company.unavailable]


@dataclass
class CompanyOutcome:
    """What a sync did for one company: the summaries of its streams, and the error that stopped it (if any)."""

    company: BillitCompany
    summaries: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None

    @property
    def failed(self) -> bool:
        return self.error is not None


def parse_companies(value: str | int | Sequence[int | str] | None) -> CompanyChoice | None:
    """`all`, a comma-separated list of PartyIDs (`--companies 574992,574993`) or a list of them (a flow
    parameter) as the choice; None (or an empty text) for the configured company. CompanyChoiceError otherwise."""
    if value is None:
        return None
    if isinstance(value, str):
        parts = [part.strip() for part in value.split(",")]
    else:
        parts = [str(part) for part in (value if isinstance(value, Sequence) else [value])]
    parts = [part for part in parts if part]
    if not parts:
        if isinstance(value, str) and not value.strip():
            return None
        raise CompanyChoiceError("companies: give `all` or at least one PartyID")
    if [part.lower() for part in parts] == [ALL]:
        return "all"
    ids: list[int] = []
    for part in parts:
        if not part.isdigit() or int(part) <= 0:
            raise CompanyChoiceError(
                f"companies: {part!r} is not a PartyID (give `all`, or PartyIDs separated by commas; "
                "`billit-etl companies` lists them)"
            )
        if int(part) not in ids:
            ids.append(int(part))
    return ids


def list_companies(among: Collection[int] | None = None) -> list[BillitCompany]:
    """The companies the configured credentials reach (`GET /v1/account/accountInformation`), in PartyID order; those
    with API access off (all, or those `among`) asked whether Billit serves them all the same (`answering`)."""
    settings = billit_settings()
    if settings.party_id is None and among:  # Billit may want a PartyID even to list them: one of those named
        settings = settings.model_copy(update={"party_id": min(among)})

    async def listed() -> list[BillitCompany]:
        return await answering(settings, await companies_reached(settings), among)

    return asyncio.run(listed())


def select_companies(choice: CompanyChoice, reachable: Sequence[BillitCompany]) -> CompanySelection:
    """The companies `choice` names among those the key reaches.

    `all`: every reachable company with API access on; the others are skipped with the reason. PartyIDs: one named
    explicitly whose API access is off, or that the key does not reach (a typo, or access revoked since the
    deployment named it), is chosen all the same, so that it fails alone and by name, with that reason and without
    a request (`sync_companies`), while the others run.
    """
    if isinstance(choice, str):  # "all"
        return CompanySelection(
            chosen=[company for company in reachable if not company.unavailable],
            skipped=[(company, reason) for company in reachable if (reason := company.unavailable)],
        )
    by_id = {company.party_id: company for company in reachable}
    # A list that may be partial does not say a company it leaves out is not reached.
    unlisted = may_be_partial(reachable)
    return CompanySelection(
        chosen=[
            by_id.get(party_id) or BillitCompany(party_id, "", None, unlisted, reached=unlisted) for party_id in choice
        ]
    )


def check_configured_company() -> None:
    """Before a Prefect sync of the configured company (BILLIT_PARTY_ID): the credentials are accepted and reach it
    with API access on, asked of `accountInformation`, so that a wrong key or company is one line, not a failed
    flow run with a traceback (the plain path needs no question: its run fails in one line, recorded, with the
    reason `tasks.inbound.sync` asks for after Billit's 401).

    BillitAuthError for refused credentials (401), CompanyUnavailable for a company they do not reach or whose API
    access is off.
    """
    party_id = billit_settings().require_party_id()
    try:
        reachable = list_companies(among=[party_id])
    except CompanyUnavailable:
        raise  # Billit would not even list the companies for it
    except BillitError as exc:
        if isinstance(exc, BillitAuthError) and exc.status == 401:
            raise  # the credentials themselves are refused
        return  # not answered (a 5xx, a 403 for this one route, an answer we cannot read): the flow will tell
    if problem := company_problem(reachable, party_id):
        raise CompanyUnavailable(problem)


def mistake_in_run_settings(companies: str | int | Sequence[int | str] | None) -> str | None:
    """Why a flow run with this `companies` choice cannot start, in one line (the choice malformed, the Billit
    settings missing or malformed, no company configured for a run that names none), or None. A flow returns it as
    its Failed state before any task, so an operator's mistake is one line in the run's log, not a task's traceback
    (found from the outside: `companies=abc` and a worker without a key each logged two)."""
    try:
        if parse_companies(companies) is None:
            billit_settings().require_party_id()
        else:
            billit_settings()
    except (CompanyChoiceError, SettingsError) as mistake:
        return " ".join(str(mistake).split())
    return None


def configured_company() -> list[int]:
    """The configured company (BILLIT_PARTY_ID) as a choice of one; NoCompanyError when none is set."""
    return [billit_settings().require_party_id()]


def resolve_companies(
    value: str | int | Sequence[int | str] | None, *, engine: sa.Engine | None = None
) -> CompanySelection | None:
    """Parse and check a `companies` choice against what the key reaches; None for the configured company.

    With `engine`, every company the key reaches (chosen or not) is recorded in the warehouse's `companies`
    dimension with its name, VAT number and API access (docs/warehouse.md#companies)."""
    choice = parse_companies(value)
    if choice is None:
        return None
    if engine is None:
        return select_companies(choice, list_companies(among=None if isinstance(choice, str) else choice))
    # The warehouse's tables are reflected while Billit answers (recording the companies needs them, and so do the
    # streams). Reflected after, they put a gap between the companies' requests and the streams' first (~40 ms
    # with SQLAlchemy's whole reflection; 0.08 s on PostgreSQL still, 3 ms on SQLite with `reflect_tables`'s own) in
    # which a server's fixed rate window may end, so that the run's first burst counts two windows and its pace
    # overshoots (connectors/billit/ratelimit.py; bench/README.md#rate-limit).
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="reflect") as pool:
        reflecting = pool.submit(reflect_tables, engine)
        reachable = list_companies(among=None if isinstance(choice, str) else choice)
        reflecting.result()
    record_companies(engine, [company.as_row() for company in reachable])
    return select_companies(choice, reachable)


def sync_companies(
    companies: Sequence[BillitCompany],
    sync: Callable[[BillitCompany], list[dict[str, Any]]],
    *,
    fatal: tuple[type[Exception], ...] = (),
) -> list[CompanyOutcome]:
    """`sync(company)` (its streams' summaries) for every company, one after the other, outcomes in the order of
    `companies`.

    A company that fails (Billit refusing its key or its API access, a persistent 5xx) keeps its error, in one line
    without a secret, and the other companies go on; what its streams committed before stays loaded. One whose API
    access is off (accountInformation's APIAllowed, and Billit refused the question for one order), or that the key
    does not reach, fails with that reason and is not run: an empty 401 would read as a wrong key
    (docs/reference/billit-api.md#companies). A
    KeyboardInterrupt, or an error of a `fatal` kind (one no company can get past, such as a Prefect server that does
    not answer), still stops everything: the companies not started are not started.
    """
    outcomes = []
    for company in companies:
        if company.unavailable:
            outcomes.append(CompanyOutcome(company, error=company.unavailable))
            continue
        try:
            outcomes.append(CompanyOutcome(company, sync(company)))
        except fatal:
            raise
        except Exception as exc:  # noqa: BLE001 - one company's failure is its own: reported, not raised
            outcomes.append(CompanyOutcome(company, error=error_text(exc, _credentials())))
    return outcomes


def sync_company_streams(
    companies: Sequence[BillitCompany],
    streams: Sequence[str],
    sync_stream: Callable[[BillitCompany, str, threading.Event], dict[str, Any]],
    *,
    at_once: int,
) -> list[CompanyOutcome]:
    """`sync_companies` with each (company, stream) as its own piece of work, `at_once` of them side by side.

    Under a rate limit a stream's start and end (its probe, first page and last load) leave the key's rate unused;
    with companies of one size, two companies side by side reach those moments together. Pieces of different
    sizes, a company's two streams among them, keep requests going through them (bench/README.md#rate-limit).
    A company's outcome holds its streams' summaries in the order of `streams` (a failed stream's says only that),
    and the first of their errors. `sync_stream(company, stream, stop)` stops before its next batch once `stop` is
    set: an interrupt (Ctrl-C, SIGTERM) sets it, and is raised once the streams running have stopped.
    """
    stop = threading.Event()

    def run(piece: tuple[BillitCompany, str]) -> tuple[dict[str, Any] | None, str | None]:
        try:
            return sync_stream(*piece, stop), None
        except Exception as exc:  # noqa: BLE001 - one stream's failure is its company's: reported, not raised
            return None, f"{piece[1]}: {error_text(exc, _credentials())}"

    pieces = [(company, stream) for company in companies if not company.unavailable for stream in streams]
    results = iter(side_by_side(run, pieces, at_once, stop))
    outcomes = []
    for company in companies:
        if company.unavailable:
            outcomes.append(CompanyOutcome(company, error=company.unavailable))
            continue
        outcome = CompanyOutcome(company)
        for stream in streams:
            summary, error = next(results)
            outcome.summaries.append({"stream": stream, "status": "failed"} if summary is None else summary)
            outcome.error = outcome.error or error
        outcomes.append(outcome)
    return outcomes


def side_by_side(
    function: Callable[[_Item], _Result], items: Sequence[_Item], at_once: int, stop: threading.Event
) -> list[_Result]:
    """`function` of each item, `at_once` of them at a time in threads, results in the order of `items`. An
    interrupt sets `stop`, and waits for the items running to stop before raising; the others do not start."""
    if at_once <= 1 or len(items) <= 1:
        return [function(item) for item in items]
    pool = ThreadPoolExecutor(max_workers=at_once, thread_name_prefix="billit-sync")
    try:
        return list(pool.map(function, items))
    except BaseException:
        stop.set()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _credentials() -> BillitSettings | None:
    """The settings whose secrets an error text must not carry (None when there are none to read)."""
    try:
        return billit_settings()
    except SettingsError:
        return None


def failure_line(outcomes: Sequence[CompanyOutcome]) -> str | None:
    """One line naming the companies that failed and why, or None when none did."""
    failed = [outcome for outcome in outcomes if outcome.failed]
    if not failed:
        return None
    reasons = "; ".join(f"{outcome.company.party_id} ({outcome.error})" for outcome in failed)
    return f"{len(failed)} of {len(outcomes)} companies failed: {reasons}"
