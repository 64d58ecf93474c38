"""`billit-etl`: the command line of billit-pipelines (typer).

Sync commands run the Prefect flows when a Prefect server is configured (PREFECT_API_URL), so runs show in the
UI; without one they call the same task functions directly, which skips the temporary server Prefect would
otherwise start (8-18 s). `--prefect/--no-prefect` overrides the choice.

Operator mistakes end as one red line on stderr that names the problem and the fix, with a non-zero exit code:
options are checked by typer at the edge, `_preflight` checks the settings, the warehouse and the landing directory
before any work (and before a Prefect flow starts, whose logs would show a traceback), and `_clear_errors` turns
whatever is raised into that line. `billit-etl --debug ...` shows the traceback instead.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from tasks.options import BILLIT_TIME_ZONE, MAX_LOOKBACK_MINUTES, billit_local

if TYPE_CHECKING:
    import sqlalchemy as sa

# Locals are never shown in a --debug traceback: they may hold the API key or a database password.
app = typer.Typer(help="Keep a SQL warehouse in step with Billit, and push invoices back.", no_args_is_help=True,
                  pretty_exceptions_show_locals=False)
sandbox_app = typer.Typer(help="The bundled Billit sandbox server.", no_args_is_help=True)
db_app = typer.Typer(help="The warehouse schema.", no_args_is_help=True)
app.add_typer(sandbox_app, name="sandbox")
app.add_typer(db_app, name="db")
# Piped into a log or a file, tables are not cut to 80 columns (COLUMNS still wins when set).
console = Console(width=None if sys.stdout.isatty() or "COLUMNS" in os.environ else 160)
error_console = Console(stderr=True, soft_wrap=True, highlight=False)  # soft_wrap: one line, however long

SANDBOX_API_KEY = "sandbox-api-key"
SANDBOX_PARTY_ID = 574991
STREAM_CHOICES = {"incoming": ["incoming"], "sales": ["sales"], "all": ["incoming", "sales"]}
DEMO_LANDING = "data/demo-landing"
EARLIEST_SINCE = datetime(2000, 1, 1)  # noqa: DTZ001 - naive Brussels local time, like --since


class _Invocation:
    """Global options of the current invocation: the app callback sets them before any command runs (typer 0.29
    vendors click, so there is no public way to the current context)."""

    debug = False


class OperatorMistake(Exception):
    """Something the operator can fix outside the settings and the warehouse; the message names it and the fix."""


WarehouseOption = Annotated[
    str | None,
    typer.Option("--warehouse-url", envvar="WAREHOUSE_URL", show_envvar=True,
                 help="SQLAlchemy URL of the warehouse (default sqlite:///data/warehouse.sqlite)."),
]
PrefectOption = Annotated[
    bool | None,
    typer.Option("--prefect/--no-prefect", help="Run as a Prefect flow (default: when PREFECT_API_URL is set)."),
]
LookbackOption = Annotated[
    float,
    typer.Option(min=0, max=MAX_LOOKBACK_MINUTES,
                 help=f"Minutes of overlap below the watermark, for changes Billit commits late (0 to "
                      f"{MAX_LOOKBACK_MINUTES})."),
]
LandingOption = Annotated[
    str, typer.Option(help="Directory where raw orders land as Parquet ('' to skip landing).")
]


def _streams(choice: str, hint: str) -> list[str]:
    if choice not in STREAM_CHOICES:
        raise typer.BadParameter(f"choose one of {', '.join(STREAM_CHOICES)}", param_hint=hint)
    return STREAM_CHOICES[choice]


def _use_warehouse(url: str | None) -> None:
    if url:
        os.environ["WAREHOUSE_URL"] = url


@app.callback()
def global_options(
    debug: Annotated[bool, typer.Option("--debug", help="Show the traceback of an error instead of one line.")] = False,
) -> None:
    """Keep a SQL warehouse in step with Billit, and push invoices back."""
    _Invocation.debug = debug


@contextmanager
def _clear_errors() -> Iterator[None]:
    """Whatever a command raises becomes one red line and an exit code, never a traceback (unless --debug).

    Exit 2 for what the operator fixes (settings, the warehouse, files, options: the message names the fix), 1 for
    a Billit error and for anything unexpected, which is shown by its type and first line.
    """
    try:
        yield
    except (typer.Exit, typer.Abort, typer.BadParameter):
        raise  # typer's own exits and usage errors (typer.Exit is a RuntimeError)
    except Exception as exc:
        if _Invocation.debug:
            raise
        line, code = _one_line(exc)
        error_console.print(f"[red]{escape(line)}[/]")
        raise typer.Exit(code) from None


def _one_line(exc: Exception) -> tuple[str, int]:
    """The red line for `exc` and the exit code (the exception classes are imported only when one is raised)."""
    from connectors.billit import BillitError, SettingsError
    from connectors.warehouse import WarehouseError
    from tasks.landing import LandingError
    from tasks.options import InvalidSyncOption
    from tasks.outbound_files import OutboundFileError
    from tasks.outbound_source import OutboundSourceError
    from tasks.vat_return import VatReturnError
    from tasks.warehouse import CompanyMismatch

    message = " ".join(str(exc).split())
    if isinstance(exc, SettingsError):
        return f"{message} (see .env.example)", 2
    if isinstance(exc, BillitError):
        return f"Billit: {message}", 1
    mistakes = (WarehouseError, CompanyMismatch, InvalidSyncOption, LandingError, OutboundFileError,
                OutboundSourceError, OperatorMistake, VatReturnError, OSError)
    if isinstance(exc, mistakes):
        return message, 2
    # A bug or bad data: the first line only (an SQL error's next lines hold the statement and its parameters).
    first = next(iter(str(exc).strip().splitlines()), "")[:300]
    return f"error: {type(exc).__name__}: {first} (run with --debug for the traceback)", 1


def _preflight(*, billit: bool, landing_dir: str = "") -> sa.Engine:
    """Check what the operator configures before any work starts, and return the (migrated) warehouse Engine.

    The Billit settings and the warehouse's company (when the command calls Billit), the warehouse (reachable,
    writable, migrated) and the landing directory (writable). It runs before a Prefect flow too, so a mistake never
    becomes a failed run.
    """
    from connectors.warehouse import check_warehouse, upgrade
    from tasks.sync import billit_settings, warehouse_engine
    from tasks.warehouse import check_company

    settings = billit_settings() if billit else None
    engine = warehouse_engine()
    check_warehouse(engine)
    upgrade(engine)
    if settings is not None:
        check_company(engine, settings.party_id)  # another company's warehouse is refused before any work
    if landing_dir:
        try:
            Path(landing_dir).mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=landing_dir):
                pass
        except OSError as exc:
            raise OperatorMistake(
                f"cannot write the landing directory {landing_dir}: {exc.strerror or exc} (make it writable, or "
                "choose another with --landing-dir; --landing-dir '' skips landing)"
            ) from None
    return engine


def _readable_warehouse(url: str | None = None) -> sa.Engine:
    """For commands that only read (status, doctor): the warehouse must exist and answer; a read-only replica is
    fine, and a mistyped SQLite path is reported rather than created."""
    import sqlalchemy as sa

    from connectors.warehouse import WarehouseError, check_warehouse
    from tasks.sync import warehouse_engine

    url = url or os.environ.get("WAREHOUSE_URL") or "sqlite:///data/warehouse.sqlite"
    try:
        parsed = sa.make_url(url)
    except sa.exc.ArgumentError:
        parsed = None  # warehouse_engine says what is wrong with it
    if parsed is not None and parsed.get_backend_name() == "sqlite":
        database = (parsed.database or "").removeprefix("file:")
        if database and ":memory:" not in database and not Path(database).exists():
            raise WarehouseError(f"no warehouse at {database}: check WAREHOUSE_URL / --warehouse-url")
    engine = warehouse_engine(url)
    check_warehouse(engine, writable=False)
    return engine


def _up_to_date_warehouse() -> sa.Engine:
    """A readable warehouse with every migration applied (commands that only read do not upgrade it)."""
    from connectors.warehouse import pending_migrations

    engine = _readable_warehouse()
    if pending := pending_migrations(engine):
        raise OperatorMistake(f"the warehouse is not up to date ({', '.join(pending)} not applied): run "
                              "billit-etl db upgrade, or a sync, first")
    return engine


def _run_sync(streams: list[str], since: datetime | None, until: datetime | None, lookback: float,
              landing_dir: str, prefect: bool | None) -> list[dict[str, Any]]:
    use_prefect = bool(os.environ.get("PREFECT_API_URL")) if prefect is None else prefect
    _preflight(billit=True, landing_dir=landing_dir)
    if use_prefect:
        from flows.sync import billit_to_warehouse, incoming_invoices_to_warehouse, sales_invoices_to_warehouse

        flows = {"incoming": incoming_invoices_to_warehouse, "sales": sales_invoices_to_warehouse}
        flow = flows[streams[0]] if len(streams) == 1 else billit_to_warehouse
        return flow(since=since, until=until, lookback_minutes=lookback, landing_dir=landing_dir or None)
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from tasks.sync import run_stream

    summaries = []
    columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        for stream in streams:
            bar = progress.add_task(f"{stream}: listing and loading", total=None)

            def show(counts: Any, stream: str = stream, bar: Any = bar) -> None:
                progress.update(bar, description=(
                    f"{stream}: {counts.orders_new} new, {counts.orders_changed} changed, "
                    f"{counts.lines_loaded} lines loaded"))

            summaries.append(run_stream(stream, since=since, until=until, lookback_minutes=lookback,
                                        landing_dir=landing_dir or None, on_batch=show))
            progress.remove_task(bar)
    return summaries


def _print_summaries(summaries: list[dict[str, Any]]) -> None:
    table = Table(title="Billit -> warehouse")
    columns = {"stream": "stream", "mode": "mode", "status": "status", "requests": "requests", "orders_new": "new",
               "orders_changed": "changed", "orders_unchanged": "unchanged", "orders_deleted": "deleted",
               "orders_pending": "pending", "lines_loaded": "lines", "quarantined": "quarantined",
               "duration_s": "seconds"}
    for label in columns.values():
        table.add_column(label, justify="left" if label in ("stream", "mode", "status") else "right",
                         min_width=len(label))
    for summary in summaries:
        # Orders listed but not loaded yet (later runs retry them); older summaries do not carry the count.
        row = {"orders_pending": 0, **summary}
        table.add_row(*(_cell(row.get(column)) for column in columns))
    console.print(table)
    for summary in summaries:
        console.print(f"  {summary['stream']}: watermark {summary.get('watermark_before') or '(none)'} -> "
                      f"{summary.get('watermark_after') or '(none)'}")
    for summary in summaries:
        if summary.get("error"):
            error_console.print(f"[red]{escape(summary['stream'])} {escape(summary['status'])}: "
                                f"{escape(' '.join(str(summary['error']).split()))}[/]")


@app.command()
def sync(
    stream: Annotated[str, typer.Argument(help="incoming (purchases), sales, or all.")] = "all",
    lookback_minutes: LookbackOption = 15,
    landing_dir: LandingOption = "landing",
    warehouse_url: WarehouseOption = None,
    prefect: PrefectOption = None,
) -> None:
    """Bring the warehouse up to date from Billit (incremental, from each stream's watermark)."""
    streams = _streams(stream, "STREAM")
    _use_warehouse(warehouse_url)
    with _clear_errors():
        _print_summaries(_run_sync(streams, None, None, lookback_minutes, landing_dir, prefect))


@app.command()
def backfill(
    since: Annotated[datetime, typer.Option(help="Start of the window (Billit's local time), inclusive.")],
    until: Annotated[datetime | None, typer.Option(help="End of the window, exclusive (default: open).")] = None,
    stream: Annotated[str, typer.Option(help="incoming, sales or all.")] = "all",
    landing_dir: LandingOption = "landing",
    warehouse_url: WarehouseOption = None,
    prefect: PrefectOption = None,
) -> None:
    """Extract orders last modified in [since, until) without moving the incremental watermark."""
    streams = _streams(stream, "--stream")
    since, until = billit_local(since) or since, billit_local(until)  # an offset becomes Billit's local time
    if until is not None and until <= since:
        raise typer.BadParameter("--until must be after --since", param_hint="--until")
    if since < EARLIEST_SINCE:
        raise typer.BadParameter(f"must be on or after {EARLIEST_SINCE:%Y-%m-%d}", param_hint="--since")
    billit_now = datetime.now(BILLIT_TIME_ZONE).replace(tzinfo=None)
    if since > billit_now:
        raise typer.BadParameter(f"is in the future (it is {billit_now:%Y-%m-%d %H:%M} in Brussels, Billit's time)",
                                 param_hint="--since")
    _use_warehouse(warehouse_url)
    with _clear_errors():
        _print_summaries(_run_sync(streams, since, until, 0, landing_dir, prefect))


@app.command()
def replay(
    path: Annotated[Path, typer.Argument(help="A landing directory, a stream directory or one run=... directory.")],
    warehouse_url: WarehouseOption = None,
) -> None:
    """Load landed Parquet again, without calling Billit (watermarks are not moved); exit 1 if a run was refused."""
    _use_warehouse(warehouse_url)
    with _clear_errors():
        from tasks.sync import replay_landing

        summaries = replay_landing(path, engine=_preflight(billit=False))
    _print_summaries(summaries)
    if any(summary["status"] != "succeeded" for summary in summaries):
        raise typer.Exit(1)


@app.command()
def push(
    limit: Annotated[int | None, typer.Option(min=1, help="Push at most this many rows (1 or more).")] = None,
    send: Annotated[bool, typer.Option("--send", help="Also send created invoices (commands/send).")] = False,
    transport: Annotated[str, typer.Option(help="Transport for --send: Peppol, SMTP, ...")] = "Peppol",
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Validate and report; send and write nothing.")] = False,
    source: Annotated[Path | None, typer.Option(
        "--source", help="A .sql file of two named queries (-- name: invoices, -- name: lines) over your own "
                         "tables, taken into outbound_invoices before the push (docs/warehouse.md).")] = None,
    warehouse_url: WarehouseOption = None,
    prefect: PrefectOption = None,
) -> None:
    """Create pending outbound_invoices rows in Billit, exactly once; exit 1 if a row was rejected or failed."""
    _use_warehouse(warehouse_url)
    with _clear_errors():
        ok = _run_push(limit, send, transport, dry_run, prefect, source)
    if not ok:
        raise typer.Exit(1)


def _run_push(limit: int | None, send: bool, transport: str, dry_run: bool, prefect: bool | None,
              source: Path | None = None) -> bool:
    """Take the source in (if any), push (as a flow when Prefect is used) and print the outcome: the table and,
    when rows were rejected, failed or changed after create, one line. True when none was."""
    from tasks.outbound_source import read_source_file

    use_prefect = bool(os.environ.get("PREFECT_API_URL")) if prefect is None else prefect
    engine = _preflight(billit=True)
    if source is not None:
        read_source_file(source)  # a file without both queries is refused before any work
    if use_prefect:
        from flows.push import PushIncomplete, warehouse_invoices_to_billit

        state = warehouse_invoices_to_billit(limit=limit, send=send, transport=transport, dry_run=dry_run,
                                             source=None if source is None else str(source), return_state=True)
        result: Any = state.result(raise_on_failure=False)
        if isinstance(result, BaseException) and not isinstance(result, PushIncomplete):
            raise result  # a refused source or a crash: one line from _clear_errors
        summary: dict[str, Any] = result.summary if isinstance(result, PushIncomplete) else result
    else:
        from tasks.outbound_source import take_in_source
        from tasks.push import PushOptions
        from tasks.sync import push_invoices

        taken = take_in_source(engine, source, dry_run=dry_run) if source is not None else None
        summary = push_invoices(PushOptions(limit=limit, send=send, transport=transport, dry_run=dry_run),
                                engine=engine, taken=taken)
    table = Table(title="warehouse -> Billit" + (" (dry run: nothing sent)" if dry_run else ""))
    table.add_column("outcome")
    table.add_column("rows", justify="right")
    taken = summary.get("source")
    if taken:
        for key, label in (("invoices", "source invoices"), ("inserted", "  new"), ("updated", "  updated"),
                           ("unchanged", "  unchanged"), ("busy", "  held by a push run (next time)"),
                           ("changed_after_create", "  changed after create"),
                           ("still_changed_after_create", "  changed after create, flagged before")):
            if key in ("invoices", "inserted", "updated", "unchanged") or taken[key]:
                table.add_row(label, str(taken[key]))
    for key in ("considered", "created", "already_existed", "sent", "rejected", "failed"):
        table.add_row(key.replace("_", " "), str(summary[key]))
    for reason, count in {**summary["rejected_by_reason"], **summary["not_sent_by_reason"]}.items():
        table.add_row(f"  {reason}", str(count))
    console.print(table)
    if not summary["ok"]:
        console.print(f"[red]{escape(summary['message'])}[/]")
    elif taken and taken["still_changed_after_create"]:
        console.print(f"[yellow]{taken['still_changed_after_create']} row(s) flagged changed_after_create earlier "
                      "still differ from the source: see outbound_invoices.change_reason[/]")
    return bool(summary["ok"])


@app.command("load-outbound")
def load_outbound(
    invoices: Annotated[Path, typer.Argument(help="CSV (; or , separated) or XLSX with outbound_invoices columns "
                                                  "(one row per invoice).")],
    lines: Annotated[Path, typer.Argument(help="CSV or XLSX with outbound_invoice_lines columns.")],
    warehouse_url: WarehouseOption = None,
) -> None:
    """Load invoices to push from two CSV or XLSX files (e.g. samples/) into outbound_invoices and their lines; exit
    1 if a row Billit already has newly differs (it is not changed) or a push run holds one (docs/warehouse.md)."""
    _use_warehouse(warehouse_url)
    with _clear_errors():
        from tasks.outbound_files import load_outbound_files

        loaded = load_outbound_files(_preflight(billit=False), invoices, lines)
    taken = loaded.taken
    console.print(f"read {loaded.read[0]}; {loaded.read[1]}")
    console.print(f"loaded {loaded.invoices} invoices and {loaded.lines} lines into outbound_invoices / "
                  f"outbound_invoice_lines: {taken.inserted} new, {taken.updated} changed, {taken.unchanged} unchanged")
    if loaded.reminder:
        console.print(f"[yellow]{escape(loaded.reminder)}[/]")
    for note in loaded.attention:
        error_console.print(f"[red]{escape(note)}[/]")
    if loaded.attention:
        raise typer.Exit(1)


@app.command()
def status(warehouse_url: WarehouseOption = None) -> None:
    """Watermarks, the last runs with their counts, pending orders and the quarantine (reads only)."""
    _use_warehouse(warehouse_url)
    with _clear_errors():
        from tasks.status import warehouse_status

        report = warehouse_status(_up_to_date_warehouse())
    for title, rows in report.items():
        table = Table(title=title)
        for column in rows[0] if rows else ["(none)"]:
            table.add_column(str(column), min_width=min(len(str(column)), 12))
        for row in rows:
            table.add_row(*(_cell(value) for value in row.values()))
        console.print(table)


@app.command()
def doctor(
    warehouse_url: Annotated[str | None, typer.Option(
        "--warehouse-url", envvar="WAREHOUSE_URL",
        help="A warehouse to compare deleted orders with (optional; read, never written).")] = None,
) -> None:
    """Ask the live Billit API, read-only, what its docs leave open, and print what it answered."""
    with _clear_errors():
        from connectors.warehouse import reflect_tables
        from tasks.doctor import run_doctor
        from tasks.sync import billit_settings

        settings = billit_settings()
        engine = None
        if warehouse_url:
            engine = _readable_warehouse(warehouse_url)
            engine = engine if "invoices" in reflect_tables(engine) else None
        findings = run_doctor(settings, engine)
    table = Table(title=f"Billit at {settings.base_url}, company {settings.party_id}")
    for column in ("check", "Billit answered", "what the sync does"):
        table.add_column(column)
    for finding in findings:
        table.add_row(finding.check, finding.answer, finding.consequence)
    console.print(table)
    console.print("docs/reference/billit-api.md#to-confirm explains each check.")


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)


@db_app.command("upgrade")
def db_upgrade(warehouse_url: WarehouseOption = None) -> None:
    """Apply pending migrations from sql/migrations (idempotent)."""
    _use_warehouse(warehouse_url)
    with _clear_errors():
        from connectors.warehouse import check_warehouse, upgrade
        from tasks.sync import warehouse_engine

        engine = warehouse_engine()
        check_warehouse(engine)
        applied = upgrade(engine)
    console.print(f"applied: {', '.join(applied)}" if applied else "the warehouse is up to date")


@sandbox_app.command("serve")
def sandbox_serve(
    host: Annotated[str, typer.Option(help="Interface to listen on (loopback by default).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8765,
    seed: Annotated[int, typer.Option(help="Seed of the generated books (same seed, same data).")] = 1,
    orders: Annotated[int, typer.Option(help="Orders to generate across both companies.")] = 2000,
    latency_ms: Annotated[float, typer.Option(help="Latency added to every /v1 request.")] = 0.0,
    fault_429: Annotated[float, typer.Option(help="Share of requests answered 429 (opens a window).")] = 0.0,
    retry_after_s: Annotated[float, typer.Option(help="Retry-After of injected 429s, in seconds.")] = 1.0,
    fault_5xx: Annotated[float, typer.Option(help="Share of requests answered 500/502/503.")] = 0.0,
    fault_drop: Annotated[float, typer.Option(help="Share of requests whose connection is dropped.")] = 0.0,
    fault_post_commit_drop: Annotated[
        float, typer.Option(help="Share of POST /v1/orders that commit, then drop the connection.")
    ] = 0.0,
    modify_during_paging: Annotated[int, typer.Option(help="Orders modified before each list request.")] = 0,
    delivery_delay_s: Annotated[float, typer.Option(help="Seconds from send to Delivered/Error.")] = 0.5,
    refuse_or: Annotated[bool, typer.Option(help="Answer `or`/parentheses in $filter with 400 InvalidFilter.")] = False,
    refuse_gt: Annotated[bool, typer.Option(help="Answer `gt`/`lt` in $filter with 400 InvalidFilter.")] = False,
    ignore_inlinecount: Annotated[bool, typer.Option(help="Ignore $inlinecount=allpages (no Count).")] = False,
    deleted_ignores_filter: Annotated[
        bool, typer.Option(help="/v1/orders/deleted ignores $filter (every deleted order, both directions).")
    ] = False,
    deleted_last_modified: Annotated[
        str, typer.Option(help="LastModified on /v1/orders/deleted: `deletion` time or the `order`'s last change.")
    ] = "deletion",
    fraction_digits: Annotated[
        int, typer.Option(min=6, max=7, help="Fraction digits of timestamps (7 = .NET's 100 ns, as Billit writes).")
    ] = 6,
    next_link_host: Annotated[
        str | None, typer.Option(help="Scheme and host NextPageLink names, e.g. http://billit-internal:8080.")
    ] = None,
    clock_utc: Annotated[
        str | None, typer.Option(help="Run a simulated Brussels clock from this UTC instant, e.g. 2026-10-25T00:45:00.")
    ] = None,
    clock_speed: Annotated[
        float, typer.Option(min=0.0, help="Simulated seconds per real second (with --clock-utc; 0 freezes it).")
    ] = 1.0,
) -> None:
    """Serve the sandbox until interrupted. Api key `sandbox-api-key`; companies 574991 and 574992."""
    import time

    from connectors.billit.sandbox.clock import SimulatedBrusselsClock
    from connectors.billit.sandbox.faults import Faults
    from connectors.billit.sandbox.quirks import Quirks
    from connectors.billit.sandbox.server import serve
    from connectors.billit.sandbox.store import Sandbox

    faults = Faults(
        latency_ms=latency_ms, rate_429=fault_429, retry_after_s=retry_after_s, rate_5xx=fault_5xx,
        rate_drop=fault_drop, rate_post_commit_drop=fault_post_commit_drop,
        modify_during_paging=modify_during_paging, seed=seed,
    )
    try:
        quirks = Quirks(
            refuse_or=refuse_or, refuse_gt=refuse_gt, ignore_inlinecount=ignore_inlinecount,
            deleted_ignores_filter=deleted_ignores_filter, deleted_last_modified=deleted_last_modified,
            fraction_digits=fraction_digits, next_link_host=next_link_host,
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    try:
        clock = SimulatedBrusselsClock(clock_utc, clock_speed) if clock_utc is not None else None
    except ValueError as exc:
        raise typer.BadParameter(f"--clock-utc: {exc}") from None
    started = time.perf_counter()
    sandbox = Sandbox(seed=seed, orders=orders, faults=faults, delivery_delay_s=delivery_delay_s, quirks=quirks,
                      clock=clock)
    console.print(
        f"[bold]Billit sandbox[/] on http://{host}:{port} — {orders} orders (seed {seed}) generated in "
        f"{time.perf_counter() - started:.1f}s; ApiKey {SANDBOX_API_KEY}, PartyID 574991 or 574992; "
        f"faults, quirks, clock: GET/PUT http://{host}:{port}/_sandbox/faults|quirks|clock"
    )
    with _clear_errors():
        serve(sandbox, host=host, port=port)


@app.command()
def demo(
    orders: Annotated[int, typer.Option(help="Orders in the sandbox.")] = 3000,
    warehouse_url: Annotated[str, typer.Option(help="Warehouse of the demo (recreated).")] = (
        "sqlite:///data/demo.sqlite"
    ),
    prefect: PrefectOption = True,
) -> None:
    """Start the sandbox, run both extraction flows and the reverse flow into a fresh SQLite warehouse."""
    with _clear_errors():
        _demo(orders, warehouse_url, prefect)


def _demo(orders: int, warehouse_url: str, prefect: bool | None) -> None:
    from connectors.billit.sandbox.server import SandboxServer
    from connectors.billit.sandbox.store import Sandbox
    from tasks.outbound_files import load_outbound_csv
    from tasks.sync import warehouse_engine

    database = warehouse_url.removeprefix("sqlite:///")
    if warehouse_url.startswith("sqlite:///"):
        for suffix in ("", "-wal", "-shm"):
            Path(database + suffix).unlink(missing_ok=True)
    _use_warehouse(warehouse_url)
    _preflight(billit=False, landing_dir=DEMO_LANDING)  # a mistake shows before the sandbox starts
    samples = Path(__file__).resolve().parents[1] / "samples"
    sandbox = Sandbox(seed=1, orders=orders, delivery_delay_s=0.2)
    # The sample customer Voorbeeld Klant NV is on Peppol; the others are not, and stay `created`.
    sandbox.register_participant("9925:BE0412345614")
    with SandboxServer(sandbox) as server:
        console.print(f"[bold]1. Billit sandbox[/] on {server.base_url} with {orders} orders (two companies)")
        os.environ.update(BILLIT_BASE_URL=server.base_url, BILLIT_API_KEY=SANDBOX_API_KEY,
                          BILLIT_PARTY_ID=str(SANDBOX_PARTY_ID))
        console.print("[bold]2. Extraction flows[/]: purchases and sales into the warehouse")
        _print_summaries(_run_sync(["incoming", "sales"], None, None, 15, DEMO_LANDING, prefect))

        console.print(f"[bold]3. Reverse flow[/]: {samples}/outbound_*.csv pushed to Billit and sent")
        invoices, lines = load_outbound_csv(warehouse_engine(), samples / "outbound_invoices.csv",
                                            samples / "outbound_invoice_lines.csv")
        console.print(f"loaded {invoices} outbound invoices ({lines} lines); one has a bad VAT number on purpose")
        _run_push(None, True, "Peppol", False, prefect)

        console.print("[bold]4. Sales extraction again[/]: the pushed invoices with their delivery status")
        import time

        time.sleep(0.5)  # the sandbox delivers asynchronously
        _print_summaries(_run_sync(["sales"], None, None, 15, DEMO_LANDING, prefect))
    _print_pushed(warehouse_engine())
    status(warehouse_url)
    console.print(
        f"\nThe warehouse is {warehouse_url} (docs/warehouse.md; BI views in docs/bi.md). Raw orders landed under "
        f"{DEMO_LANDING}. Try: sqlite3 {database} "
        "'select direction, count(*), sum(total_incl) from invoices group by 1'. With a Prefect server "
        "(prefect server start; PREFECT_API_URL=http://127.0.0.1:4200/api) the runs show in its UI."
    )


def _print_pushed(engine: Any) -> None:
    import sqlalchemy as sa

    from connectors.warehouse import reflect_tables

    tables = reflect_tables(engine)
    pushed, invoices = tables["outbound_invoices"], tables["invoices"]
    query = (
        sa.select(pushed.c.external_id, pushed.c.status, pushed.c.billit_order_id, invoices.c.delivery_status,
                  pushed.c.last_error_code)
        .join(invoices, invoices.c.order_id == pushed.c.billit_order_id, isouter=True)
        .order_by(pushed.c.external_id)
    )
    table = Table(title="outbound_invoices joined to invoices")
    for column in ("external_id", "status", "billit order", "delivery", "last error"):
        table.add_column(column)
    with engine.connect() as connection:
        for row in connection.execute(query):
            table.add_row(*(_cell(value) for value in row))
    console.print(table)


def main() -> None:
    """The `billit-etl` command: typer's own usage errors (a bad option value, a bad date) are one red line too."""
    try:
        code = app(standalone_mode=False)
    except typer.TyperException as exc:  # click's usage errors, as typer vendors them
        error_console.print(f"[red]{escape(' '.join(exc.format_message().split()))}[/] (see billit-etl --help)")
        sys.exit(getattr(exc, "exit_code", 2))
    except typer.Abort:
        error_console.print("[red]aborted[/]")
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)


# The VAT return's commands live in their own module; importing it registers them on `app`.
from flows import cli_vat  # noqa: E402, F401
