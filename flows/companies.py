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
from tasks.companies import CompaniesParameter, mistake_in_run_settings
from tasks.fanout import choose_companies, report_companies, submit_company_runs, wait_for_company_runs
from tasks.prefect_tasks import prepare_warehouse

COMPANY_DEPLOYMENT = "billit-to-warehouse/company"
#: A company run whose worker or machine died never ends unless Prefect's heartbeat automation marks it Crashed
#: (docs/operations.md#a-worker-that-died); without that, the fan-out still ends, after this long, naming it.
GIVE_UP_AFTER_MINUTES = 360.0


@flow(name="billit-companies")
def billit_companies(
    companies: CompaniesParameter = "all",
    streams: list[str] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    lookback_minutes: float = 15,
    landing_dir: str | None = "landing",
    company_deployment: str = COMPANY_DEPLOYMENT,
    give_up_after_minutes: float | None = GIVE_UP_AFTER_MINUTES,
) -> dict[str, Any] | State[Any]:
    """List the companies (all, or the PartyIDs given), run each as a flow run of `company_deployment`, report; a
    company run not final after `give_up_after_minutes` (None: no limit) is reported failed with its state."""
    if mistake := mistake_in_run_settings(companies):
        return Failed(message=mistake)
    prepare_warehouse()  # the companies dimension the listing is recorded in
    selection = choose_companies(companies)
    parameters = {
        "streams": streams or ["incoming", "sales"],
        "since": since,
        "until": until,
        "lookback_minutes": lookback_minutes,
        "landing_dir": landing_dir,
    }
    runs = wait_for_company_runs(
        submit_company_runs(company_deployment, selection, parameters),
        give_up_after_s=None if give_up_after_minutes is None else give_up_after_minutes * 60,
    )
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
