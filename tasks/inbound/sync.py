"""One stream's sync: the plain function behind the extraction flows and the CLI (the replay of landed runs is
`tasks.inbound.replay`).

`run_stream` is what a flow's "extract -> normalise -> land -> load" step does for one stream: it records the run
in `sync_runs`, runs the pipelined extraction of `tasks.inbound.extract`, and closes the run with its counts,
also when it fails. Listing, fetching, normalising and loading overlap inside one call because splitting them into
Prefect task runs per page would serialise them through the Prefect API and cost more than the work itself
(`tasks.prefect_tasks.extract_and_load` wraps it).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from connectors.billit import BillitAuthError, BillitClient, BillitSettings
from connectors.billit.account import with_company_reason
from tasks.inbound.extract import STREAMS, ExtractStats, SyncOptions, sync_stream
from tasks.inbound.warehouse import (
    LoadCounts,
    driver_message,
    finish_run,
    start_run,
)
from tasks.options import InvalidSyncOption, billit_local, check_landing_dir, check_window
from tasks.runtime import billit_settings, warehouse_engine
from tasks.warehouse_common import shortened


def run_stream(
    stream_name: str,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    lookback_minutes: float = 15,
    landing_dir: str | None = "landing",
    landing_rows: bool = True,
    warehouse_url: str | None = None,
    engine: sa.Engine | None = None,
    flow_run_id: str | None = None,
    on_batch: Callable[[LoadCounts], None] | None = None,
    on_listed: Callable[[int, int | None], None] | None = None,
    stop: threading.Event | None = None,
    **settings_overrides: Any,
) -> dict[str, Any]:
    """Sync one stream of one company (incremental, or the since/until window as a backfill) and return the run
    summary.

    The Billit settings come from the environment; `settings_overrides` replace single ones (tests, the demo, the
    orchestration's `party_id=`): the company is `party_id`, and its watermarks, pending orders and rows are its own.
    `on_batch` is told the counts after every committed batch, `on_listed` the orders listed so far and how many
    the window holds when that is known (`SyncOptions.on_listed`). `landing_rows=False` lands the raw orders only
    (a replay then normalises them again). `stop`, set from another thread, stops the run before its next batch.
    """
    if stream_name not in STREAMS:
        raise InvalidSyncOption(f"unknown stream {stream_name!r}: choose one of {', '.join(STREAMS)}")
    stream = STREAMS[stream_name]
    since, until = billit_local(since), billit_local(until)
    check_window(since=since, until=until, lookback_minutes=lookback_minutes)
    check_landing_dir(landing_dir)
    engine = engine or warehouse_engine(warehouse_url)
    settings = billit_settings(**settings_overrides)
    options = SyncOptions(
        lookback=timedelta(minutes=lookback_minutes),
        landing_dir=Path(landing_dir) if landing_dir else None,
        landing_rows=landing_rows,
        on_batch=on_batch,
        on_listed=on_listed,
        stop=stop,
    )
    mode = "backfill" if since is not None or until is not None else "incremental"
    run = start_run(
        engine,
        stream.name,
        mode,
        window_since=since,
        window_until=until,
        flow_run_id=flow_run_id,
        company_id=settings.require_party_id(),
    )
    started = time.perf_counter()

    billit: BillitClient | None = None  # kept, so that a failed run still says how many requests it sent

    async def extract(client: BillitClient) -> ExtractStats:
        async with client:
            return await sync_stream(client, engine, stream, run, options, since=since, until=until)

    try:
        billit = BillitClient(settings)
        stats = asyncio.run(extract(billit))
    except BaseException as exc:
        failure = exc
        try:
            if isinstance(exc, BillitAuthError):  # Billit's empty 401 blames the key: ask why, once
                failure = asyncio.run(with_company_reason(exc, settings))
        finally:  # recorded whatever happens while asking why (an interrupt included)
            sent = billit.requests_sent if billit is not None else 0
            finish_run(engine, run, requests=sent, pages=0, orders_listed=0, error=error_text(failure, settings))
        if failure is exc:
            raise
        raise failure from exc
    summary = finish_run(
        engine, run, requests=stats.requests, pages=stats.paging.pages, orders_listed=stats.orders_listed
    )
    return summary | {"duration_s": round(time.perf_counter() - started, 3), "quiet": stats.skipped_quiet}


def error_text(exc: BaseException, settings: BillitSettings | None = None) -> str:
    """What `sync_runs.error` keeps of a failure: one line of at most 300 characters, no data, no secret.

    A database error's text carries the statement's parameters (customer data): only the driver's first line
    is kept.
    """
    first_line = driver_message(exc, limit=None)
    text = f"{type(exc).__name__}: {first_line}" if first_line else type(exc).__name__
    for secret in (settings.api_key, settings.bearer_token) if settings else ():
        if secret is not None and secret.get_secret_value():
            text = text.replace(secret.get_secret_value(), "***")
    return shortened(text, 300)
