"""Fan-out backfills: submit one flow run per (company, time slice) and wait for all of them.

Each slice run names its company (`companies: [PartyID]`), as the fan-out over companies does (tasks/fanout.py), so
a slice loads the same company whichever worker runs it, and a key reaching several companies (an accountant's,
with no BILLIT_PARTY_ID) backfills each of them in slices.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from prefect import get_client, task
from prefect.deployments import run_deployment
from prefect.runtime import flow_run

from connectors.billit.account import BillitCompany
from tasks.runtime import cancelled_with_parent


class BackfillSliceFailed(RuntimeError):
    """At least one slice did not complete; its own flow run says why (and can be retried alone)."""


@dataclass(frozen=True)
class SliceRun:
    """One slice's flow run, before it is submitted: its parameters, its name and its idempotency key."""

    parameters: dict[str, Any]
    name: str
    idempotency_key: str


def slice_runs(
    windows: Sequence[tuple[datetime, datetime]], streams: list[str], companies: Sequence[BillitCompany], parent: str
) -> list[SliceRun]:
    """One run per company and window, company by company. The idempotency key ties each to the parent run
    `parent`: a retried parent finds the runs it already made."""
    return [
        SliceRun(
            parameters={"since": since, "until": until, "streams": streams, "companies": [company.party_id]},
            name=f"backfill {company.party_id} {since:%Y-%m-%d %H:%M} -> {until:%Y-%m-%d %H:%M}",
            idempotency_key=f"{parent}:slice:{company.party_id}:{since.isoformat()}:{until.isoformat()}",
        )
        for company in companies
        for since, until in windows
    ]


@task(name="submit-backfill-slices")
def submit_slices(
    deployment: str,
    windows: list[tuple[datetime, datetime]],
    streams: list[str],
    companies: Sequence[BillitCompany],
) -> list[UUID]:
    """One flow run of `deployment` per company and window, scheduled now; workers pick them up in parallel. The
    backfill cancelled meanwhile cancels those made."""
    made: list[UUID] = []
    with cancelled_with_parent(made):
        for run in slice_runs(windows, streams, companies, str(flow_run.id or "no-parent")):
            made.append(
                run_deployment(  # type: ignore[union-attr]  # called from sync code: returns the FlowRun itself
                    deployment,
                    parameters=run.parameters,
                    flow_run_name=run.name,
                    idempotency_key=run.idempotency_key,
                    timeout=0,
                ).id
            )
    return made


@task(name="wait-for-backfill-slices")
def wait_for_slices(flow_run_ids: list[UUID], poll_seconds: float = 2.0) -> list[dict[str, Any]]:
    """Wait until every slice is final; fail if any did not complete. The backfill cancelled (or its process
    stopped) while it waits cancels the slices too: Prefect leaves them running to their end."""
    pending = set(flow_run_ids)
    finished: dict[UUID, Any] = {}
    with get_client(sync_client=True) as client, cancelled_with_parent(pending):
        while pending:
            for flow_run_id in sorted(pending, key=str):
                read = client.read_flow_run(flow_run_id)
                if read.state is not None and read.state.is_final():
                    finished[flow_run_id] = read
                    pending.discard(flow_run_id)
            if pending:
                time.sleep(poll_seconds)
    outcomes = [{"flow_run": run.name, "state": run.state.name} for run in (finished[i] for i in flow_run_ids)]
    failed = [outcome for outcome in outcomes if outcome["state"] != "Completed"]
    if failed:
        raise BackfillSliceFailed(f"{len(failed)} of {len(outcomes)} slices did not complete: {failed}")
    return outcomes
