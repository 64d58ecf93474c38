"""`billit-etl sync` and `billit-etl backfill`: Billit -> warehouse, incrementally or over a window.

They run the Prefect flows when a Prefect server is configured (PREFECT_API_URL), so runs show in the UI; without
one they call the same plain function (`tasks.inbound.sync.run_stream`) directly, which skips the temporary server
Prefect would otherwise start (8-18 s) and never imports Prefect. `--prefect/--no-prefect` overrides the choice.
"""

from __future__ import annotations

import threading
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, TypeGuard

import typer
from rich.markup import escape

from cli.app import (
    LandingOption,
    LookbackOption,
    OperatorMistake,
    PrefectOption,
    WarehouseOption,
    app,
    as_prefect_flow,
    clear_errors,
    console,
    error_console,
)
from cli.companies import CompaniesOption, print_outcomes, print_skipped
from cli.preflight import preflight
from cli.tables import data_table
from tasks.options import BILLIT_TIME_ZONE, billit_local
from tasks.runtime import billit_settings, configured, runs_as_prefect_flow

if TYPE_CHECKING:
    from cli.sync_progress import SyncProgress

STREAM_CHOICES = {"incoming": ["incoming"], "sales": ["sales"], "all": ["incoming", "sales"]}
#: Streams a plain sync runs side by side (each with BILLIT_MAX_CONCURRENCY requests in flight).
STREAMS_AT_ONCE = 2
EARLIEST_SINCE = datetime(2000, 1, 1)  # noqa: DTZ001 - naive Brussels local time, like --since


def _streams(choice: str, hint: str) -> list[str]:
    if choice not in STREAM_CHOICES:
        raise typer.BadParameter(f"choose one of {', '.join(STREAM_CHOICES)}", param_hint=hint)
    return STREAM_CHOICES[choice]


def _named(companies: str | None) -> TypeGuard[str]:
    """`--companies` names companies; empty (`--companies "$UNSET"`), like the flows' parameter, means the
    configured company."""
    return companies is not None and bool(companies.strip())


def run_sync(
    streams: list[str],
    since: datetime | None,
    until: datetime | None,
    lookback: float,
    landing_dir: str,
    prefect: bool | None,
    *,
    checked: bool = False,
) -> list[dict[str, Any]]:
    """Sync `streams` of one company (BILLIT_PARTY_ID, or the one `run_companies` configures and `checked`) as a
    Prefect flow or with the plain function, after the preflight; the runs' summaries. A flow starts only once
    Billit has said that the credentials reach the company with API access on, unless it is `checked`."""
    billit_settings().require_party_id()  # an accountant's key without --companies: one line, before any work
    preflight(billit=True, landing_dir=landing_dir)
    if runs_as_prefect_flow(prefect):
        if not checked:
            from tasks.companies import check_configured_company

            check_configured_company()  # a wrong key or company: one line, not a failed flow run
        from flows.sync import billit_to_warehouse, incoming_invoices_to_warehouse, sales_invoices_to_warehouse

        flows = {"incoming": incoming_invoices_to_warehouse, "sales": sales_invoices_to_warehouse}
        flow = flows[streams[0]] if len(streams) == 1 else billit_to_warehouse
        with as_prefect_flow():
            summaries = flow(since=since, until=until, lookback_minutes=lookback, landing_dir=landing_dir or None)
        assert isinstance(summaries, list)  # a State only for several companies, which run_companies runs one by one
        return summaries
    from cli.sync_progress import sync_progress

    with sync_progress() as progress:
        return run_plain(streams, since, until, lookback, landing_dir, progress)


def run_plain(
    streams: list[str],
    since: datetime | None,
    until: datetime | None,
    lookback: float,
    landing_dir: str,
    progress: SyncProgress,
) -> list[dict[str, Any]]:
    """`streams` of the configured company side by side with the plain function, shown on `progress`; the runs'
    summaries. Side by side, as for several companies: one after the other, the first stream's last load and the
    second's probe and first page left the key's rate unused (0.2 s of a 5 s sync under a 60 requests/s limit). A
    stream that Billit fails (its listing, a deletions list) does not stop the other: the others' summaries are
    shown, then its error ends the command. The key refused, or no answer from Billit, ends it with that error."""
    from connectors.billit import BillitAuthError, BillitError, BillitUnknownHostError, BillitUnreachableError
    from tasks.companies import side_by_side

    stop = threading.Event()

    def run(stream: str) -> dict[str, Any] | BillitError:
        try:
            return run_plain_stream(stream, since, until, lookback, landing_dir, progress, stop=stop)
        except BillitError as exc:
            return exc

    results = side_by_side(run, streams, STREAMS_AT_ONCE, stop)
    summaries = [result for result in results if not isinstance(result, BillitError)]
    failed = [result for result in results if isinstance(result, BillitError)]
    for error in failed:  # the key refused, or nothing ever answered there: the command's error, not a stream's
        if isinstance(error, BillitAuthError | BillitUnknownHostError | BillitUnreachableError):
            raise error
    if failed:
        if summaries:
            print_summaries(summaries)
        for other in failed[1:]:  # the first is the command's own red line
            error_console.print(f"[red]Billit: {escape(' '.join(str(other).split()))}[/]")
        raise failed[0]
    return summaries


def run_plain_stream(
    stream: str,
    since: datetime | None,
    until: datetime | None,
    lookback: float,
    landing_dir: str,
    progress: SyncProgress,
    *,
    company: int | None = None,
    stop: threading.Event | None = None,
) -> dict[str, Any]:
    from tasks.inbound.sync import run_stream  # the pipeline (httpx, pyarrow): loaded only when a sync runs

    company_setting: dict[str, Any] = {} if company is None else {"party_id": company}
    with progress.stream(stream if company is None else f"{company} {stream}") as shown:
        return run_stream(
            stream,
            since=since,
            until=until,
            lookback_minutes=lookback,
            landing_dir=landing_dir or None,
            on_batch=shown.loaded,
            on_listed=shown.listed,
            stop=stop,
            **company_setting,
        )


def run_companies(
    companies: str,
    streams: list[str],
    since: datetime | None,
    until: datetime | None,
    lookback: float,
    landing_dir: str,
    prefect: bool | None,
) -> None:
    """`--companies`: check the choice against what the key reaches (an id it does not reach, or with API access
    off, fails by name without a request), then sync the companies: as Prefect flows one after the other, or with the
    plain function `STREAMS_AT_ONCE` streams side by side. One failing does not stop the others, and the command
    exits 1 after loading them, with one line per failed company."""
    from tasks.companies import (  # loaded only when a sync runs
        parse_companies,
        resolve_companies,
        sync_companies,
        sync_company_streams,
    )

    parse_companies(companies)  # a malformed choice is refused before anything else
    selection = resolve_companies(companies, engine=preflight(billit=True, landing_dir=landing_dir))
    assert selection is not None  # the option was given
    print_skipped(selection)

    if runs_as_prefect_flow(prefect):

        def one_company(party_id: int) -> list[dict[str, Any]]:
            with configured(party_id=party_id):
                return run_sync(streams, since, until, lookback, landing_dir, prefect, checked=True)

        outcomes = sync_companies(
            selection.chosen, lambda company: one_company(company.party_id), fatal=(OperatorMistake,)
        )
    else:
        from cli.sync_progress import sync_progress

        # Streams of companies side by side, so one stream's start and end (its probe, its first page, its last
        # load) do not leave the key's rate unused: all their requests go through the key's one limiter.
        with sync_progress() as progress:
            outcomes = sync_company_streams(
                selection.chosen,
                streams,
                lambda company, stream, stop: run_plain_stream(
                    stream, since, until, lookback, landing_dir, progress, company=company.party_id, stop=stop
                ),
                at_once=STREAMS_AT_ONCE,
            )
    print_outcomes(outcomes)
    if any(outcome.failed for outcome in outcomes):
        raise typer.Exit(1)


def print_summaries(summaries: list[dict[str, Any]]) -> None:
    """The runs' counts, one row each (with the company when they are of several, as a replay can be), then each
    run's watermark move and error."""
    columns = {
        "stream": "stream",
        "mode": "mode",
        "status": "status",
        "requests": "requests",
        "orders_new": "new",
        "orders_changed": "changed",
        "orders_unchanged": "unchanged",
        "orders_deleted": "deleted",
        "orders_pending": "pending",
        "lines_loaded": "lines",
        "quarantined": "quarantined",
        "duration_s": "seconds",
    }
    # A run refused before it started (a replay's) names no company.
    several = len({summary["company_id"] for summary in summaries if summary.get("company_id") is not None}) > 1
    if several:
        columns = {"company_id": "company"} | columns
    labels = list(columns.values())
    # Orders listed but not loaded yet (later runs retry them); older summaries do not carry the count.
    rows = [[{"orders_pending": 0, **summary}.get(column) for column in columns] for summary in summaries]
    console.print(data_table("Billit -> warehouse", labels, rows, right=labels[labels.index("requests") :]))
    for summary in summaries:
        if summary.get("status") == "refused":  # refused before it ran: no watermark
            continue
        run = f"{summary['company_id']} {summary['stream']}" if several else summary["stream"]
        console.print(
            f"  {run}: watermark {summary.get('watermark_before') or '(none)'} -> "
            f"{summary.get('watermark_after') or '(none)'}",
            soft_wrap=True,
        )
    for summary in summaries:
        if summary.get("error"):
            error_console.print(
                f"[red]{escape(summary['stream'])} {escape(summary['status'])}: "
                f"{escape(' '.join(str(summary['error']).split()))}[/]"
            )


@app.command()
def sync(
    stream: Annotated[str, typer.Argument(help="incoming (purchases), sales, or all.")] = "all",
    lookback_minutes: LookbackOption = 15,
    landing_dir: LandingOption = "landing",
    warehouse_url: WarehouseOption = None,
    prefect: PrefectOption = None,
    companies: CompaniesOption = None,
) -> None:
    """Bring the warehouse up to date from Billit (incremental, from each stream's watermark)."""
    streams = _streams(stream, "STREAM")
    with clear_errors(warehouse_url):
        if _named(companies):
            run_companies(companies, streams, None, None, lookback_minutes, landing_dir, prefect)
            return
        print_summaries(run_sync(streams, None, None, lookback_minutes, landing_dir, prefect))


@app.command()
def backfill(
    since: Annotated[datetime, typer.Option(help="Start of the window (Billit's local time), inclusive.")],
    until: Annotated[datetime | None, typer.Option(help="End of the window, exclusive (default: open).")] = None,
    stream: Annotated[str, typer.Option(help="incoming, sales or all.")] = "all",
    landing_dir: LandingOption = "landing",
    warehouse_url: WarehouseOption = None,
    prefect: PrefectOption = None,
    companies: CompaniesOption = None,
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
        raise typer.BadParameter(
            f"is in the future (it is {billit_now:%Y-%m-%d %H:%M} in Brussels, Billit's time)", param_hint="--since"
        )
    with clear_errors(warehouse_url):
        if _named(companies):
            run_companies(companies, streams, since, until, 0, landing_dir, prefect)
            return
        print_summaries(run_sync(streams, since, until, 0, landing_dir, prefect))
