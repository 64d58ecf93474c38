"""The fan-out of a run over all companies: one flow run per company, so several workers share a large office.

`flows/companies.py` lists the companies the key reaches (`choose_companies`), submits one flow run of the
per-company deployment for each (`submit_company_runs`), waits for them all (`wait_for_company_runs`) and reports
which failed and why. A company's run fails alone (its key revoked, its API access off, a persistent 5xx): the
others load. Like `tasks/inbound/backfill.py`, this module is Prefect's own work and imports it; what a company's
run does is the plain `tasks.companies` and `tasks.inbound.sync`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any
from uuid import UUID

from prefect import State, get_client, get_run_logger, task
from prefect.artifacts import create_table_artifact
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
from prefect.deployments import run_deployment
from prefect.exceptions import MissingContextError
from prefect.runtime import flow_run

from connectors.billit.account import BillitCompany
from tasks.companies import (
    CompaniesParameter,
    CompanySelection,
    configured_company,
    parse_companies,
    resolve_companies,
)
from tasks.prefect_tasks import retry_on_transient
from tasks.runtime import cancelled_with_parent, warehouse_engine


def _logger() -> logging.Logger | logging.LoggerAdapter[logging.Logger]:
    """The run's logger, whose lines the flow run's log on the server shows (not only the worker's output); the
    module's outside a run (a task's function called directly)."""
    try:
        return get_run_logger()
    except MissingContextError:
        return logging.getLogger("billit_pipelines.companies")


@dataclass(frozen=True)
class CompanyRun:
    """A company's flow run: submitted, then final with its state and message."""

    party_id: int
    name: str
    flow_run_id: UUID
    state: str = "Scheduled"
    message: str | None = None

    @property
    def completed(self) -> bool:
        return self.state == "Completed"


@task(name="choose-companies", retries=2, retry_delay_seconds=[10, 60], retry_condition_fn=retry_on_transient)
def choose_companies(companies: CompaniesParameter) -> CompanySelection:
    """The companies to run: `all` (API access on), the PartyIDs given or (None) the configured one, checked against
    accountInformation; every company the key reaches is recorded in the warehouse's companies dimension."""
    choice = configured_company() if parse_companies(companies) is None else companies
    selection = resolve_companies(choice, engine=warehouse_engine())
    assert selection is not None  # a choice was given
    for company, reason in selection.skipped:
        _logger().warning("skipped company %s (%s): %s", company.party_id, company.name, reason)
    return selection


#: Company runs submitted before the others. A process worker starts a Python process per run, and starting seven
#: at once on two cores took ~8 s before the first request; two alone are up in ~3.5 s and send their requests
#: while the others start (bench/README.md#fan-out).
FIRST_WAVE = 2
#: The others follow once one of the first two is running or has ended, or after this long at the latest: a worker
#: polls every 10 s unless told otherwise, and a busy pool may hold the first back.
FIRST_WAVE_WAIT_S = 15.0


@task(name="submit-company-runs")
def submit_company_runs(deployment: str, selection: CompanySelection, parameters: dict[str, Any]) -> list[CompanyRun]:
    """One flow run of `deployment` per chosen company (its `companies` parameter that company), scheduled now: the
    first `FIRST_WAVE`, then the others once one of those is running or has ended.

    The idempotency key ties each to this parent run: a retried parent finds the runs it already made."""
    parent = flow_run.id or "no-parent"
    made: list[UUID] = []  # cancelled with the parent, if it is cancelled while it submits

    def submit(company: BillitCompany) -> CompanyRun:
        run = run_deployment(
            deployment,
            parameters=parameters | {"companies": [company.party_id]},
            flow_run_name=f"company {company.party_id} {company.name}"[:100],
            idempotency_key=f"{parent}:company:{company.party_id}",
            timeout=0,
        )
        made.append(run.id)  # type: ignore[union-attr]  # called from sync code: the FlowRun, not a coroutine
        return CompanyRun(party_id=company.party_id, name=company.name, flow_run_id=made[-1])

    chosen = selection.available  # the others are reported, never run
    with cancelled_with_parent(made):
        first = [submit(company) for company in chosen[:FIRST_WAVE]]
        if len(chosen) > FIRST_WAVE:
            try:
                _wait_until_one_runs(first, FIRST_WAVE_WAIT_S)
            except Exception as exc:  # noqa: BLE001 - the wait only saves time: the others go now
                _logger().warning("submitting the other company runs now: %s", " ".join(str(exc).split())[:200])
        return first + [submit(company) for company in chosen[FIRST_WAVE:]]


def _wait_until_one_runs(runs: list[CompanyRun], timeout_s: float, poll_seconds: float = 0.5) -> None:
    """Return once one of `runs` is running or final, or after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    ids = FlowRunFilter(id=FlowRunFilterId(any_=[run.flow_run_id for run in runs]))
    with get_client(sync_client=True) as client:
        while time.monotonic() < deadline:
            states = [read.state for read in client.read_flow_runs(flow_run_filter=ids)]
            if any(state is not None and (state.is_running() or state.is_final()) for state in states):
                return
            time.sleep(poll_seconds)


#: Seconds between the lines that name the company runs still being waited for: a run whose worker or machine died
#: stays Running (or Pending) until Prefect's heartbeat automation marks it Crashed, and the parent with it (found
#: from the outside: the parent waited for good, saying nothing; docs/operations.md#a-worker-that-died).
STILL_WAITING_EVERY_S = 300.0


@task(name="wait-for-company-runs")
def wait_for_company_runs(
    runs: list[CompanyRun], poll_seconds: float = 1.0, give_up_after_s: float | None = None
) -> list[CompanyRun]:
    """Wait until every company's run is final (one request per poll, however many companies), or `give_up_after_s`;
    their outcomes, a run not final by then with its state and why it is reported. The fan-out cancelled (or its
    process stopped) while it waits cancels the company runs too: Prefect leaves them running to their end."""
    with get_client(sync_client=True) as client:

        def read_states(ids: list[UUID]) -> dict[UUID, State[Any] | None]:
            flow_runs = client.read_flow_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=ids)))
            return {read.id: read.state for read in flow_runs}

        with cancelled_with_parent(run.flow_run_id for run in runs):
            return await_final(runs, read_states, poll_seconds=poll_seconds, give_up_after_s=give_up_after_s)


def await_final(
    runs: list[CompanyRun],
    read_states: Callable[[list[UUID]], Mapping[UUID, State[Any] | None]],
    *,
    poll_seconds: float,
    give_up_after_s: float | None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> list[CompanyRun]:
    """`wait_for_company_runs` without Prefect's client: `read_states` of the runs not final yet, every
    `poll_seconds`; a line every `STILL_WAITING_EVERY_S` naming those still waited for."""
    started = noticed = clock()
    final: dict[UUID, State[Any]] = {}
    last: dict[UUID, State[Any] | None] = {}
    while True:
        pending = [run.flow_run_id for run in runs if run.flow_run_id not in final]
        if pending:
            last.update(read_states(pending))
            final.update((run_id, state) for run_id, state in last.items() if state is not None and state.is_final())
        waiting = [run for run in runs if run.flow_run_id not in final]
        waited = clock() - started
        if not waiting or (give_up_after_s is not None and waited >= give_up_after_s):
            break
        if clock() - noticed >= STILL_WAITING_EVERY_S:
            noticed = clock()
            named = ", ".join(f"{run.party_id} ({_state_name(last.get(run.flow_run_id))})" for run in waiting[:10])
            _logger().warning(
                "still waiting after %d min for %d of %d company runs: %s%s (a run whose worker died stays so until "
                "Prefect's heartbeat automation marks it Crashed: docs/operations.md#a-worker-that-died)",
                waited // 60,
                len(waiting),
                len(runs),
                named,
                " and more" if len(waiting) > 10 else "",
            )
        sleep(poll_seconds)
    outcomes = []
    for run in runs:
        state = final.get(run.flow_run_id)
        if state is not None:
            outcomes.append(
                replace(run, state=_state_name(state), message=" ".join((state.message or "").split()) or None)
            )
            continue
        why = (
            f"not final when the fan-out stopped waiting after {waited / 60:.0f} min (give_up_after_minutes): its "
            "worker may have died"
        )
        outcomes.append(replace(run, state=_state_name(last.get(run.flow_run_id)), message=why))
    return outcomes


def _state_name(state: State[Any] | None) -> str:
    return "unknown" if state is None else state.name or state.type.value


@task(name="report-companies")
def report_companies(selection: CompanySelection, runs: list[CompanyRun]) -> str | None:
    """Log and publish each company's outcome (a table artifact); one line naming the failed ones, or None."""
    rows = [
        {"company": run.party_id, "name": run.name, "state": run.state, "why": "" if run.completed else run.message}
        for run in runs
    ]
    unavailable = selection.unavailable
    rows += [
        {"company": company.party_id, "name": company.name, "state": "Failed", "why": company.unavailable}
        for company in unavailable
    ]
    rows += [
        {"company": company.party_id, "name": company.name, "state": "Skipped", "why": reason}
        for company, reason in selection.skipped
    ]
    create_table_artifact(key="billit-companies", table=rows, description="one flow run per company")
    failed = [f"{run.party_id} ({run.state}: {run.message or 'no message'})" for run in runs if not run.completed]
    failed += [f"{company.party_id} (Failed: {company.unavailable})" for company in unavailable]
    chosen = len(selection.chosen)
    _logger().info("%d of %d companies completed, %d skipped", chosen - len(failed), chosen, len(selection.skipped))
    return f"{len(failed)} of {chosen} companies failed: {'; '.join(failed)}" if failed else None
