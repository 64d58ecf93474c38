"""Extraction flows: Billit -> warehouse, per stream or both, for the configured company or several. Each reads
like a runbook.

`companies` (`all`, or PartyIDs) runs them for several companies in this flow run, one after the other; a company
that fails does not stop the others, and the run ends Failed with one line naming the failed companies and why.
`flows/companies.py` fans the companies out over workers instead, one flow run each.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from prefect import State, flow
from prefect.futures import wait
from prefect.runtime import flow_run
from prefect.states import Failed

from tasks.companies import (
    CompaniesParameter,
    failure_line,
    mistake_in_run_settings,
    parse_companies,
    sync_companies,
)
from tasks.fanout import choose_companies
from tasks.prefect_tasks import extract_and_load, prepare_warehouse, report_sync, streams_stop


class CompaniesIncomplete(RuntimeError):
    """Some companies failed; `summaries` has the runs of the others (each with its `company_id`)."""

    def __init__(self, message: str, summaries: list[dict[str, Any]]) -> None:
        super().__init__(message)
        self.summaries = summaries

    def __reduce__(self) -> tuple[Any, ...]:  # results are pickled
        return type(self), (str(self), self.summaries)


def _sync(
    streams: list[str],
    since: datetime | None,
    until: datetime | None,
    lookback_minutes: float,
    landing_dir: str | None,
    companies: CompaniesParameter = None,
) -> list[dict[str, Any]] | State[Any]:
    if mistake := mistake_in_run_settings(companies):
        return Failed(message=mistake)
    prepare_warehouse()
    # Held here: its streams find it by the run's id, also those still waiting for slots when the run is cancelled.
    stop = streams_stop(flow_run.id)

    def one_company(party_id: int | None) -> list[dict[str, Any]]:
        runs = [
            extract_and_load.submit(
                stream,
                since=since,
                until=until,
                lookback_minutes=lookback_minutes,
                landing_dir=landing_dir,
                party_id=party_id,
            )
            for stream in streams
        ]
        try:
            wait(runs)  # both streams end before the next company starts, also when one fails
        except BaseException:  # cancelled: the streams, in threads the cancellation does not reach, stop too
            stop.set()
            raise
        return [run.result() for run in runs]

    if parse_companies(companies) is None:  # none given, or an empty text (an unset variable): the configured one
        summaries = one_company(None)
        report_sync(summaries)
        return summaries
    outcomes = sync_companies(choose_companies(companies).chosen, lambda company: one_company(company.party_id))
    summaries = [summary for outcome in outcomes for summary in outcome.summaries]
    report_sync(summaries)
    if problem := failure_line(outcomes):
        return Failed(message=problem, data=CompaniesIncomplete(problem, summaries))
    return summaries


@flow(name="billit-incoming-invoices-to-warehouse")
def incoming_invoices_to_warehouse(
    since: datetime | None = None,
    until: datetime | None = None,
    lookback_minutes: float = 15,
    landing_dir: str | None = "landing",
    companies: CompaniesParameter = None,
) -> list[dict[str, Any]] | State[Any]:
    """Purchase invoices and credit notes (OrderDirection Cost) into the warehouse; since/until = backfill."""
    return _sync(["incoming"], since, until, lookback_minutes, landing_dir, companies)


@flow(name="billit-sales-invoices-to-warehouse")
def sales_invoices_to_warehouse(
    since: datetime | None = None,
    until: datetime | None = None,
    lookback_minutes: float = 15,
    landing_dir: str | None = "landing",
    companies: CompaniesParameter = None,
) -> list[dict[str, Any]] | State[Any]:
    """Sales invoices (Income) with their e-invoice delivery status and its history; since/until = backfill."""
    return _sync(["sales"], since, until, lookback_minutes, landing_dir, companies)


@flow(name="billit-to-warehouse")
def billit_to_warehouse(
    since: datetime | None = None,
    until: datetime | None = None,
    lookback_minutes: float = 15,
    landing_dir: str | None = "landing",
    streams: list[str] | None = None,
    companies: CompaniesParameter = None,
) -> list[dict[str, Any]] | State[Any]:
    """Both streams (or the `streams` given), purchases and sales, side by side; `companies`: all, or PartyIDs
    (default: the configured company)."""
    return _sync(streams or ["incoming", "sales"], since, until, lookback_minutes, landing_dir, companies)
