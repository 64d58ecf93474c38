"""Every company a key reaches, fanned out: one flow run per company, so several workers share a large office.

A company whose run fails (its key revoked for it, API access off, a persistent 5xx) fails alone: the others load,
and this run ends Failed with one line naming the failed companies and why.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from prefect import State, flow, get_run_logger
from prefect.states import Failed

from flows.sync import CompaniesIncomplete
from tasks.companies import CompaniesParameter
from tasks.fanout import choose_companies, report_companies, submit_company_runs, wait_for_company_runs
from tasks.prefect_tasks import prepare_warehouse

COMPANY_DEPLOYMENT = "billit-to-warehouse/company"


@flow(name="billit-companies")
def billit_companies(
    companies: CompaniesParameter = "all",
    streams: list[str] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    lookback_minutes: float = 15,
    landing_dir: str | None = "landing",
    company_deployment: str = COMPANY_DEPLOYMENT,
) -> dict[str, Any] | State[Any]:
    """List the companies (all, or the PartyIDs given), run each as a flow run of `company_deployment`, report."""
    prepare_warehouse()  # the companies dimension the listing is recorded in
    selection = choose_companies(companies)
    parameters = {
        "streams": streams or ["incoming", "sales"],
        "since": since,
        "until": until,
        "lookback_minutes": lookback_minutes,
        "landing_dir": landing_dir,
    }
    runs = wait_for_company_runs(submit_company_runs(company_deployment, selection, parameters))
    problem = report_companies(selection, runs)
    summary = {
        "completed": [run.party_id for run in runs if run.completed],
        "failed": {run.party_id: f"{run.state}: {run.message}" for run in runs if not run.completed}
        | {company.party_id: f"Failed: {company.unavailable}" for company in selection.unavailable},
        "skipped": {company.party_id: reason for company, reason in selection.skipped},
    }
    if problem:
        return Failed(message=problem, data=CompaniesIncomplete(problem, [summary]))
    get_run_logger().info("%d companies completed", len(runs))
    return summary
