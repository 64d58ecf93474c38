"""Fan-out backfills: submit one flow run per time slice and wait for all of them."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any
from uuid import UUID

from prefect import get_client, task
from prefect.deployments import run_deployment


class BackfillSliceFailed(RuntimeError):
    """At least one slice did not complete; its own flow run says why (and can be retried alone)."""


@task(name="submit-backfill-slices")
def submit_slices(deployment: str, windows: list[tuple[datetime, datetime]], streams: list[str]) -> list[UUID]:
    """One flow run of `deployment` per window, scheduled now; workers pick them up in parallel."""
    return [
        run_deployment(  # type: ignore[union-attr]  # called from sync code: returns the FlowRun itself
            deployment,
            parameters={"since": since, "until": until, "streams": streams},
            flow_run_name=f"backfill {since:%Y-%m-%d %H:%M} -> {until:%Y-%m-%d %H:%M}",
            timeout=0,
        ).id
        for since, until in windows
    ]


@task(name="wait-for-backfill-slices")
def wait_for_slices(flow_run_ids: list[UUID], poll_seconds: float = 2.0) -> list[dict[str, Any]]:
    """Wait until every slice is final; fail if any did not complete."""
    pending = set(flow_run_ids)
    finished: dict[UUID, Any] = {}
    with get_client(sync_client=True) as client:
        while pending:
            for flow_run_id in sorted(pending, key=str):
                flow_run = client.read_flow_run(flow_run_id)
                if flow_run.state is not None and flow_run.state.is_final():
                    finished[flow_run_id] = flow_run
                    pending.discard(flow_run_id)
            if pending:
                time.sleep(poll_seconds)
    outcomes = [{"flow_run": run.name, "state": run.state.name} for run in (finished[i] for i in flow_run_ids)]
    failed = [outcome for outcome in outcomes if outcome["state"] != "Completed"]
    if failed:
        raise BackfillSliceFailed(f"{len(failed)} of {len(outcomes)} slices did not complete: {failed}")
    return outcomes
