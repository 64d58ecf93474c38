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
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from prefect import task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.concurrency.sync import concurrency

from connectors.billit import BillitClient, BillitError, BillitSettings, SettingsError, load_settings
from connectors.warehouse import create_warehouse_engine, reflect_tables, upgrade
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

if TYPE_CHECKING:
    from tasks.push import PushOptions

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


# ---- the reverse flow ----------------------------------------------------------------------------------

#: Rows that need a person (rejected, failed, changed after create) named in a run's artifact; the rest are counted.
PROBLEMS_SHOWN = 200


def push_invoices(options: PushOptions, *, engine: sa.Engine | None = None, taken: dict[str, Any] | None = None,
                  **settings_overrides: Any) -> dict[str, Any]:
    """Push (`tasks.push.run_push`) and add what needs a person to the summary.

    `taken` is what `tasks.outbound_source.take_in_source` did before the push, if it ran. The summary gains
    `source`, `problems` (at most PROBLEMS_SHOWN rows: external_id, outcome, code, reason), `problems_more`,
    `message` (one line, None when nothing needs a person) and `ok` (no row rejected, failed or newly changed
    after create).
    """
    from tasks.push import run_push

    engine = engine or warehouse_engine()
    started = _utc_now()
    summary = run_push(options, engine=engine, **settings_overrides)
    return push_outcome(engine, summary, taken, since=started)


def _utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def push_outcome(engine: sa.Engine, summary: dict[str, Any], taken: dict[str, Any] | None, *,
                 since: datetime) -> dict[str, Any]:
    """`summary` with the rows that need a person: those rejected or failed since `since` (the push writes
    `updated_at` with each outcome) and those the take-in newly found changed after create."""
    changed = list(taken["changed_rows"]) if taken else []
    problems = [{"external_id": row["external_id"], "outcome": "changed after create",
                 "code": "ChangedAfterCreate", "reason": row["reason"]} for row in changed[:PROBLEMS_SHOWN]]
    more = (taken["changed_after_create"] if taken else 0) - len(problems)
    if not summary["dry_run"]:
        table = reflect_tables(engine)["outbound_invoices"]
        outcome = sa.and_(table.c.status.in_(("rejected", "failed")), table.c.updated_at >= since)
        with engine.connect() as connection:
            total = connection.execute(sa.select(sa.func.count()).where(outcome)).scalar_one()
            rows = connection.execute(
                sa.select(table.c.external_id, table.c.status, table.c.last_error_code, table.c.last_error)
                .where(outcome).order_by(table.c.status.desc(), table.c.external_id)
                .limit(max(PROBLEMS_SHOWN - len(problems), 0))
            ).all()
        problems += [{"external_id": row.external_id, "outcome": row.status, "code": row.last_error_code or "",
                      "reason": row.last_error or ""} for row in rows]
        more += int(total) - len(rows)
    changed_now = taken["changed_after_create"] if taken else 0
    ok = bool(summary["ok"]) and not changed_now
    return summary | {"source": taken, "problems": problems, "problems_more": more, "ok": ok,
                      "message": None if ok else push_message(summary, changed_now)}


def push_message(summary: dict[str, Any], changed_after_create: int = 0) -> str:
    """One line saying what needs a person after a push."""
    parts = []
    if summary["rejected"]:
        reasons = ", ".join(f"{code} {count}" for code, count in summary["rejected_by_reason"].items())
        parts.append(f"{summary['rejected']} {'would be ' if summary['dry_run'] else ''}rejected ({reasons})")
    if summary["failed"]:
        parts.append(f"{summary['failed']} failed (tried again by the next run)")
    if changed_after_create:
        parts.append(f"{changed_after_create} changed in the source after they were created in Billit (not pushed "
                     "again)")
    if summary["dry_run"]:
        where = "a dry run writes nothing: the push records the reasons on the rows"
    else:
        where = "see outbound_invoices.last_error_code / last_error" + (
            " and change_reason" if changed_after_create else "")
    return f"push{' (dry run)' if summary['dry_run'] else ''}: {', '.join(parts)}; {where}"


def problems_markdown(summary: dict[str, Any]) -> str:
    """The artifact listing the rows that need a person (markdown)."""
    if summary["dry_run"] and summary["rejected"]:
        return ("# Rows that need a look\n\nDry run: nothing was written, so the reasons are not recorded on the "
                f"rows. {push_message(summary)}.\n")
    if not summary["problems"]:
        return "# Rows that need a look\n\nNone: no row was rejected or failed, and none changed after create.\n"
    lines = ["# Rows that need a look", "", f"{summary['message']}", "",
             "| external_id | outcome | code | reason |", "|---|---|---|---|"]
    lines += [f"| {_markdown(row['external_id'])} | {row['outcome']} | {_markdown(row['code'])} | "
              f"{_markdown(row['reason'], 300)} |" for row in summary["problems"]]
    if summary["problems_more"] > 0:
        lines += ["", f"... and {summary['problems_more']} more: `select external_id, status, last_error_code, "
                      "last_error from outbound_invoices where status in ('rejected', 'failed')`"]
    return "\n".join(lines) + "\n"


def _markdown(text: Any, limit: int = 120) -> str:
    cell = " ".join(str(text).split())
    cell = cell if len(cell) <= limit else cell[:limit - 3] + "..."
    return cell.replace("\\", "\\\\").replace("|", "\\|")


@task(name="take-in-outbound-source")
def take_in_outbound_source(source: str, dry_run: bool = False) -> dict[str, Any]:
    """Take the rows of the source's invoices and lines queries into outbound_invoices; refuse a bad source."""
    from tasks.outbound_source import OutboundSourceError, take_in_source

    try:
        return take_in_source(warehouse_engine(), source, dry_run=dry_run)
    except OutboundSourceError as exc:
        # An operator's mistake, not a crash: the flow ends Failed with this line, before anything is pushed.
        logger.error("%s", exc)
        return {"refused": str(exc)}


@task(name="push-outbound-invoices")
def push_outbound_invoices(
    limit: int | None = None, send: bool = False, transport: str = "Peppol", dry_run: bool = False,
    taken: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Create (and optionally send) the pending outbound_invoices rows in Billit, exactly once."""
    from tasks.push import PushOptions

    with billit_api_slots():
        return push_invoices(PushOptions(limit=limit, send=send, transport=transport, dry_run=dry_run), taken=taken)


@task(name="report-push")
def report_push(summary: dict[str, Any]) -> None:
    """Log the push counts and publish them, and the rows that need a person, as Prefect artifacts."""
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
    if taken := summary.get("source"):
        rows += [{"outcome": f"source: {key.replace('_', ' ')}", "rows": taken[key]} for key in SOURCE_COUNTS]
    create_table_artifact(key="billit-push-summary", table=rows, description="warehouse -> Billit push")
    create_markdown_artifact(key="billit-push-problems", markdown=problems_markdown(summary),
                             description="rows rejected, failed or changed after create in this push")


#: The take-in's counts, as the push summary shows them.
SOURCE_COUNTS = ("invoices", "lines", "inserted", "updated", "unchanged", "busy", "changed_after_create",
                 "still_changed_after_create", "cleared")
