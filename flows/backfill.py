"""A large backfill, fanned out: each time slice is its own flow run, so several workers share the work."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from prefect import flow, get_run_logger

from tasks.inbound.backfill import submit_slices, wait_for_slices
from tasks.inbound.extract import split_window

SLICE_DEPLOYMENT = "billit-to-warehouse/backfill-slice"


@flow(name="billit-backfill")
def billit_backfill(
    since: datetime,
    until: datetime,
    slices: int = 4,
    streams: list[str] | None = None,
    slice_deployment: str = SLICE_DEPLOYMENT,
) -> list[dict[str, Any]]:
    """Split [since, until) into slices, run each as a flow run of `slice_deployment`; watermarks stay put."""
    windows = split_window(since, until, slices)
    runs = submit_slices(slice_deployment, windows, streams or ["incoming", "sales"])
    outcomes = wait_for_slices(runs)
    get_run_logger().info("backfill %s -> %s: %d slices completed", since, until, len(outcomes))
    return outcomes
