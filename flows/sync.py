"""Extraction flows: Billit -> warehouse, per stream or both. Each reads like a runbook."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from prefect import flow

from tasks.prefect_tasks import extract_and_load, prepare_warehouse, report_sync


def _sync(
    streams: list[str], since: datetime | None, until: datetime | None, lookback_minutes: float, landing_dir: str | None
) -> list[dict[str, Any]]:
    prepare_warehouse()
    runs = [
        extract_and_load.submit(
            stream, since=since, until=until, lookback_minutes=lookback_minutes, landing_dir=landing_dir
        )
        for stream in streams
    ]
    summaries = [run.result() for run in runs]
    report_sync(summaries)
    return summaries


@flow(name="billit-incoming-invoices-to-warehouse")
def incoming_invoices_to_warehouse(
    since: datetime | None = None,
    until: datetime | None = None,
    lookback_minutes: float = 15,
    landing_dir: str | None = "landing",
) -> list[dict[str, Any]]:
    """Purchase invoices and credit notes (OrderDirection Cost) into the warehouse; since/until = backfill."""
    return _sync(["incoming"], since, until, lookback_minutes, landing_dir)


@flow(name="billit-sales-invoices-to-warehouse")
def sales_invoices_to_warehouse(
    since: datetime | None = None,
    until: datetime | None = None,
    lookback_minutes: float = 15,
    landing_dir: str | None = "landing",
) -> list[dict[str, Any]]:
    """Sales invoices (Income) with their e-invoice delivery status and its history; since/until = backfill."""
    return _sync(["sales"], since, until, lookback_minutes, landing_dir)


@flow(name="billit-to-warehouse")
def billit_to_warehouse(
    since: datetime | None = None,
    until: datetime | None = None,
    lookback_minutes: float = 15,
    landing_dir: str | None = "landing",
    streams: list[str] | None = None,
) -> list[dict[str, Any]]:
    """Both streams (or the `streams` given), purchases and sales, side by side."""
    return _sync(streams or ["incoming", "sales"], since, until, lookback_minutes, landing_dir)
