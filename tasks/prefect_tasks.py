"""The Prefect tasks of the sync flows: thin wrappers around the plain functions of `tasks/`, with retries on I/O only.

Each task takes its `billit-api` global-limit slots (`tasks.runtime.billit_api_slots`) when it calls Billit,
retries only errors Billit may not repeat, and reports its counts as Prefect artifacts. Only these wrappers (the
push's are `tasks.prefect_push_tasks`), `tasks/fanout.py` and `tasks/inbound/backfill.py` (which submit flow runs,
Prefect's own work) import Prefect at the top: the plain path (the CLI without a Prefect server) never loads it.
"""

from __future__ import annotations

import logging
import threading
import weakref
from datetime import datetime
from typing import Any

from prefect import task
from prefect.artifacts import create_table_artifact
from prefect.runtime import flow_run

from connectors.billit import BillitError
from connectors.warehouse import ready_for_work
from tasks.inbound.sync import run_stream
from tasks.inbound.webhook_apply import apply_stored_events
from tasks.runtime import billit_api_slots, warehouse_engine

logger = logging.getLogger("billit_pipelines.sync")

SUMMARY_COLUMNS = (
    "stream",
    "mode",
    "status",
    "requests",
    "pages",
    "orders_listed",
    "orders_new",
    "orders_changed",
    "orders_unchanged",
    "orders_deleted",
    "lines_loaded",
    "quarantined",
    "watermark_before",
    "watermark_after",
    "duration_s",
)


def retry_on_transient(task: Any, task_run: Any, state: Any) -> bool:
    """Prefect retries the task only for errors Billit may not repeat (429, 5xx, network)."""
    try:
        state.result()
    except BillitError as exc:
        return exc.retryable
    except Exception:  # noqa: BLE001 - anything else is a bug or bad data: do not retry
        return False
    return False


@task(name="prepare-warehouse")
def prepare_warehouse(warehouse_url: str | None = None, *, migrate: bool = True) -> list[str]:
    """Check the warehouse (one line when it is unusable, as the CLI's preflight says it; found from the outside: a
    worker's unreachable warehouse failed the flow with the driver's error) and apply pending migrations; without
    `migrate` (a dry run), refuse a warehouse that has some."""
    applied = ready_for_work(warehouse_engine(warehouse_url), migrate=migrate)
    if applied:
        logger.info("applied migrations: %s", ", ".join(applied))
    return applied


@task(name="extract-and-load", retries=2, retry_delay_seconds=[10, 60], retry_condition_fn=retry_on_transient)
def extract_and_load(
    stream_name: str,
    since: datetime | None = None,
    until: datetime | None = None,
    lookback_minutes: float = 15,
    landing_dir: str | None = "landing",
    warehouse_url: str | None = None,
    party_id: int | None = None,
) -> dict[str, Any]:
    """List changed orders, fetch them in full, land them as Parquet and load them with the watermark (of the
    company `party_id`, default: the configured one)."""
    company: dict[str, Any] = {"party_id": party_id} if party_id is not None else {}
    with billit_api_slots():
        return run_stream(
            stream_name,
            since=since,
            until=until,
            lookback_minutes=lookback_minutes,
            landing_dir=landing_dir,
            warehouse_url=warehouse_url,
            flow_run_id=flow_run.id,
            stop=streams_stop(flow_run.id),
            **company,
        )


def streams_stop(flow_run_id: str | None) -> threading.Event:
    """The event that stops the streams of a flow run before their next batch (`SyncOptions.stop`): its tasks run
    in threads of the flow run's process, which a cancellation (`prefect flow-run cancel`, SIGTERM) does not reach;
    the flow sets it (`flows/sync.py`)."""
    with _STOPS_LOCK:
        return _STOPS.setdefault(flow_run_id, threading.Event())


# Weak: an event lives as long as a stream or the flow holds it, not as long as a served process.
_STOPS: weakref.WeakValueDictionary[str | None, threading.Event] = weakref.WeakValueDictionary()
_STOPS_LOCK = threading.Lock()


@task(name="report-sync")
def report_sync(summaries: list[dict[str, Any]]) -> None:
    """Log each run's counts and publish them as a Prefect table artifact."""
    rows = [{column: _cell(summary.get(column)) for column in SUMMARY_COLUMNS} for summary in summaries]
    for row in rows:
        logger.info(
            "%(stream)s %(mode)s %(status)s: %(requests)s requests, %(pages)s pages, %(orders_new)s new, "
            "%(orders_changed)s changed, %(orders_unchanged)s unchanged, %(orders_deleted)s deleted, "
            "%(lines_loaded)s lines, %(quarantined)s quarantined, watermark %(watermark_before)s -> "
            "%(watermark_after)s in %(duration_s)ss",
            row,
        )
    create_table_artifact(key="billit-sync-summary", table=rows, description="Billit -> warehouse sync runs")


def _cell(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


@task(name="apply-webhook-events")
def apply_webhook_events(warehouse_url: str | None = None) -> dict[str, Any]:
    """Refresh the orders the due webhook events name, once each, into the warehouse."""
    with billit_api_slots():
        return apply_stored_events(warehouse_url=warehouse_url)
