"""Prefect tasks of the extraction flows, and `run_stream`, the plain function they wrap.

`run_stream` is what a flow's "extract -> normalise -> land -> load" step does for one stream: it records the run
in `sync_runs`, runs the pipelined extraction of `tasks.extract`, and closes the run with its counts, also when it
fails. Listing, fetching, normalising and loading overlap inside one task because splitting them into Prefect
task runs per page would serialise them through the Prefect API and cost more than the work itself.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from prefect import task
from prefect.artifacts import create_table_artifact
from prefect.concurrency.sync import concurrency

from connectors.billit import BillitClient, BillitError, BillitSettings, SettingsError, load_settings
from connectors.warehouse import create_warehouse_engine, upgrade
from connectors.warehouse.engine import DEFAULT_WAREHOUSE_URL, WAREHOUSE_URL_ENV
from tasks.extract import STREAMS, ExtractStats, Stream, SyncOptions, sync_stream
from tasks.landing import LandingError, check_landed_run, landed_runs, read_landed_orders
from tasks.options import InvalidSyncOption, billit_local, check_window
from tasks.warehouse import (
    LoadCounts,
    check_company,
    claim_company,
    company_ids,
    driver_message,
    finish_run,
    load_orders_isolating_refusals,
    start_run,
    warehouse_company,
)

logger = logging.getLogger("billit_pipelines.sync")

SUMMARY_COLUMNS = (
    "stream", "mode", "status", "requests", "pages", "orders_listed", "orders_new", "orders_changed",
    "orders_unchanged", "orders_deleted", "lines_loaded", "quarantined", "watermark_before", "watermark_after",
    "duration_s",
)


def warehouse_engine(url: str | None = None) -> sa.Engine:
    """One Engine per process and URL (default: $WAREHOUSE_URL as it is now, else the SQLite file)."""
    return _engine_for(url or os.environ.get(WAREHOUSE_URL_ENV) or DEFAULT_WAREHOUSE_URL)


@functools.cache
def _engine_for(url: str) -> sa.Engine:
    return create_warehouse_engine(url)


#: Prefect Secret block holding the Billit API key, used when the environment has no credential.
API_KEY_BLOCK = "billit-api-key"


def billit_settings(**overrides: Any) -> BillitSettings:
    """Billit settings from the environment (and .env); on a Prefect server, a missing API key may come from the
    Secret block `billit-api-key` (`BILLIT_API_KEY_BLOCK` names another), never from prefect.yaml."""
    try:
        return load_settings(**overrides)
    except SettingsError as missing:
        from prefect.blocks.system import Secret
        from prefect.settings import PREFECT_API_URL

        if not PREFECT_API_URL.value() or "api_key" in overrides or "bearer_token" in overrides:
            raise

        try:
            block_name = os.environ.get("BILLIT_API_KEY_BLOCK", API_KEY_BLOCK)
            secret = Secret.load(block_name)
        except ValueError:  # no such block: the environment's error is the one to show
            raise missing from None
        try:
            return load_settings(**overrides, api_key=secret.get())  # type: ignore[union-attr]  # sync context
        except SettingsError as bad:
            raise SettingsError(str(bad).replace(
                "BILLIT_API_KEY", f"the API key in the Prefect Secret block {block_name!r}")) from None


def run_stream(
    stream_name: str, *, since: datetime | None = None, until: datetime | None = None,
    lookback_minutes: float = 15, landing_dir: str | None = "landing", warehouse_url: str | None = None,
    engine: sa.Engine | None = None, flow_run_id: str | None = None,
    on_batch: Callable[[LoadCounts], None] | None = None, **settings_overrides: Any,
) -> dict[str, Any]:
    """Sync one stream (incremental, or the since/until window as a backfill) and return the run summary.

    The Billit settings come from the environment; `settings_overrides` replace single ones (tests, the demo).
    `on_batch` is told the counts after every committed batch.
    """
    if stream_name not in STREAMS:
        raise InvalidSyncOption(f"unknown stream {stream_name!r}: choose one of {', '.join(STREAMS)}")
    stream = STREAMS[stream_name]
    since, until = billit_local(since), billit_local(until)
    check_window(since=since, until=until, lookback_minutes=lookback_minutes)
    engine = engine or warehouse_engine(warehouse_url)
    settings = billit_settings(**settings_overrides)
    check_company(engine, settings.party_id)
    options = SyncOptions(lookback=timedelta(minutes=lookback_minutes),
                          landing_dir=Path(landing_dir) if landing_dir else None, on_batch=on_batch)
    mode = "backfill" if since is not None or until is not None else "incremental"
    run = start_run(engine, stream.name, mode, window_since=since, window_until=until, flow_run_id=flow_run_id,
                    party_id=settings.party_id)
    started = time.perf_counter()

    async def extract() -> ExtractStats:
        async with BillitClient(settings) as billit:
            return await sync_stream(billit, engine, stream, run, options, since=since, until=until)

    try:
        stats = asyncio.run(extract())
    except BaseException as exc:
        finish_run(engine, run, requests=0, pages=0, orders_listed=0, error=error_text(exc, settings))
        raise
    summary = finish_run(engine, run, requests=stats.requests, pages=stats.paging.pages,
                         orders_listed=stats.orders_listed)
    claim_company(engine, settings.party_id)
    return summary | {"duration_s": round(time.perf_counter() - started, 3), "quiet": stats.skipped_quiet}


def error_text(exc: BaseException, settings: BillitSettings | None = None) -> str:
    """What `sync_runs.error` keeps of a failure: one line of at most 300 characters, no data, no secret.

    A database error's text carries the statement's parameters (customer data): only the driver's first line
    is kept.
    """
    first_line = driver_message(exc)
    text = f"{type(exc).__name__}: {first_line}" if first_line else type(exc).__name__
    for secret in (settings.api_key, settings.bearer_token) if settings else ():
        if secret is not None and secret.get_secret_value():
            text = text.replace(secret.get_secret_value(), "***")
    return text[:300]


def replay_landing(
    path: str | Path, *, warehouse_url: str | None = None, engine: sa.Engine | None = None
) -> list[dict[str, Any]]:
    """Load landed runs from disk again, without calling Billit; watermarks are not moved.

    Only runs landed for this warehouse's company, in a folder named after their stream, are loaded; the others
    are refused by name, and a corrupt file fails its own run with its path, not the whole replay.
    """
    engine = engine or warehouse_engine(warehouse_url)
    checked: list[tuple[Path, int | None, str | None]] = []
    for run_directory in landed_runs(path):
        try:
            if run_directory.parent.name not in STREAMS:
                raise LandingError(f"{run_directory}: not under a stream folder ({' or '.join(STREAMS)})")
            checked.append((run_directory, check_landed_run(run_directory, stream=run_directory.parent.name),
                            None))
        except LandingError as exc:
            checked.append((run_directory, None, str(exc)))
    home: int | None = warehouse_company(engine)
    companies: set[int] = {company for _, company, _ in checked if company is not None}
    if home is None and len(companies) == 1:
        home = companies.pop()
        claim_company(engine, home)

    known_company_ids = company_ids(engine)
    summaries = []
    for run_directory, company, problem in checked:
        stream_name = run_directory.parent.name
        if problem is None and company != home:
            problem = (f"{run_directory}: landed for Billit company {company}, but this warehouse holds company "
                       f"{home}" if home is not None else
                       f"{run_directory}: the folder holds runs of companies {sorted(companies)}; replay one "
                       "company's landing directory into its own warehouse")
        if problem is not None:
            summaries.append({"stream": stream_name, "mode": "replay", "status": "refused",
                              "source": str(run_directory), "error": problem})
            continue
        run = start_run(engine, stream_name, "replay", party_id=company)
        orders, error = 0, None
        try:
            for batch in read_landed_orders(run_directory):
                _check_orders_belong(batch, known_company_ids, STREAMS[stream_name], run_directory)
                run.counts.add(load_orders_isolating_refusals(engine, batch, stream=stream_name, run_id=run.run_id))
                orders += len(batch)
        except LandingError as exc:
            error = str(exc)
        except BaseException as exc:
            finish_run(engine, run, requests=0, pages=0, orders_listed=orders, error=error_text(exc))
            raise
        summaries.append(finish_run(engine, run, requests=0, pages=0, orders_listed=orders, error=error)
                         | {"source": str(run_directory)})
    return summaries


def _check_orders_belong(orders: list[Any], known: set[int], stream: Stream, run_directory: Path) -> None:
    """The orders themselves must be of the folder's stream and of the warehouse's company (a file's metadata can
    be edited): their OrderDirection, and their CompanyID once the warehouse holds orders."""
    objects = [order for order in orders if isinstance(order, dict)]
    directions = {order.get("OrderDirection") for order in objects} - {stream.direction, None}
    if directions:
        raise LandingError(f"{run_directory}: holds {sorted(map(str, directions))} orders, not the {stream.name} "
                           f"stream's {stream.direction}")
    foreign = {order.get("CompanyID") for order in objects} - known
    if known and foreign:
        raise LandingError(f"{run_directory}: holds orders of CompanyID {sorted(map(str, foreign))[:3]}, but this "
                           f"warehouse's orders are of {sorted(known)}")


#: Global concurrency limit shared by every flow that calls Billit (create it once:
#: `prefect gcl create billit-api --limit 16`). Each task holds as many slots as its client may have requests
#: in flight, so all flows together never exceed the limit. Without the limit, tasks run unrestricted.
BILLIT_API_LIMIT = "billit-api"


def billit_api_slots() -> Any:
    return concurrency(BILLIT_API_LIMIT, occupy=billit_settings().max_concurrency, strict=False)


def _retry_on_transient(task: Any, task_run: Any, state: Any) -> bool:
    """Prefect retries the task only for errors Billit may not repeat (429, 5xx, network)."""
    try:
        state.result()
    except BillitError as exc:
        return exc.retryable
    except Exception:  # noqa: BLE001 - anything else is a bug or bad data: do not retry
        return False
    return False


@task(name="prepare-warehouse")
def prepare_warehouse(warehouse_url: str | None = None) -> list[str]:
    """Apply pending migrations from sql/migrations."""
    applied = upgrade(warehouse_engine(warehouse_url))
    if applied:
        logger.info("applied migrations: %s", ", ".join(applied))
    return applied


@task(name="extract-and-load", retries=2, retry_delay_seconds=[10, 60], retry_condition_fn=_retry_on_transient)
def extract_and_load(
    stream_name: str, since: datetime | None = None, until: datetime | None = None, lookback_minutes: float = 15,
    landing_dir: str | None = "landing", warehouse_url: str | None = None,
) -> dict[str, Any]:
    """List changed orders, fetch them in full, land them as Parquet and load them with the watermark."""
    from prefect.runtime import flow_run

    with billit_api_slots():
        return run_stream(stream_name, since=since, until=until, lookback_minutes=lookback_minutes,
                          landing_dir=landing_dir, warehouse_url=warehouse_url, flow_run_id=flow_run.id)


@task(name="report-sync")
def report_sync(summaries: list[dict[str, Any]]) -> None:
    """Log each run's counts and publish them as a Prefect table artifact."""
    rows = [{column: _cell(summary.get(column)) for column in SUMMARY_COLUMNS} for summary in summaries]
    for row in rows:
        logger.info(
            "%(stream)s %(mode)s %(status)s: %(requests)s requests, %(pages)s pages, %(orders_new)s new, "
            "%(orders_changed)s changed, %(orders_unchanged)s unchanged, %(orders_deleted)s deleted, "
            "%(lines_loaded)s lines, %(quarantined)s quarantined, watermark %(watermark_before)s -> "
            "%(watermark_after)s in %(duration_s)ss", row,
        )
    create_table_artifact(key="billit-sync-summary", table=rows, description="Billit -> warehouse sync runs")


def _cell(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


@task(name="push-outbound-invoices")
def push_outbound_invoices(
    limit: int | None = None, send: bool = False, transport: str = "Peppol", dry_run: bool = False
) -> dict[str, Any]:
    """Create (and optionally send) the pending outbound_invoices rows in Billit, exactly once."""
    from tasks.push import PushOptions, run_push

    with billit_api_slots():
        return run_push(PushOptions(limit=limit, send=send, transport=transport, dry_run=dry_run))


@task(name="report-push")
def report_push(summary: dict[str, Any]) -> None:
    """Log the push counts and publish them as a Prefect table artifact."""
    logger.info(
        "push%s: %s considered, %s created, %s already existed, %s sent, %s rejected %s, %s failed",
        " (dry run)" if summary["dry_run"] else "", summary["considered"], summary["created"],
        summary["already_existed"], summary["sent"], summary["rejected"], summary["rejected_by_reason"],
        summary["failed"],
    )
    rows = [{"outcome": key, "rows": value} for key, value in summary.items()
            if key in ("considered", "created", "already_existed", "sent", "rejected", "failed")]
    rows += [{"outcome": f"rejected: {reason}", "rows": count}
             for reason, count in summary["rejected_by_reason"].items()]
    rows += [{"outcome": f"not sent: {reason}", "rows": count}
             for reason, count in summary["not_sent_by_reason"].items()]
    create_table_artifact(key="billit-push-summary", table=rows, description="warehouse -> Billit push")
