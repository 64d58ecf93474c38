"""A large backfill, fanned out: each (company, time slice) is its own flow run, so several workers share the work."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from prefect import flow, get_run_logger

from tasks.companies import CompaniesParameter
from tasks.fanout import choose_companies
from tasks.inbound.backfill import BackfillSliceFailed, submit_slices, wait_for_slices
from tasks.inbound.extract import STREAMS, split_window
from tasks.options import check_backfill
from tasks.prefect_tasks import prepare_warehouse

SLICE_DEPLOYMENT = "billit-to-warehouse/backfill-slice"


@flow(name="billit-backfill")
def billit_backfill(
    since: datetime,
    until: datetime,
    slices: int = 4,
    streams: list[str] | None = None,
    companies: CompaniesParameter = None,
    slice_deployment: str = SLICE_DEPLOYMENT,
) -> list[dict[str, Any]]:
    """Split [since, until) into slices, run each for each company (`companies`: all, PartyIDs; default: the
    configured one) as a flow run of `slice_deployment`; watermarks stay put."""
    streams = streams or list(STREAMS)
    check_backfill(since=since, until=until, slices=slices, streams=streams, known=list(STREAMS))
    prepare_warehouse()  # the companies dimension the listing is recorded in
    selection = choose_companies(companies)
    unavailable = selection.unavailable  # never run: reported
    available = selection.available
    for company in unavailable:
        get_run_logger().warning("company %s is not backfilled: %s", company.party_id, company.unavailable)
    windows = split_window(since, until, slices)
    runs = submit_slices(slice_deployment, windows, streams, available)
    outcomes = wait_for_slices(runs)
    get_run_logger().info(
        "backfill %s -> %s: %d slices of %d companies completed", since, until, len(outcomes), len(available)
    )
    if unavailable:
        reasons = "; ".join(f"{company.party_id} ({company.unavailable})" for company in unavailable)
        raise BackfillSliceFailed(f"{len(unavailable)} companies were not backfilled: {reasons}")
    return outcomes
