"""`billit-etl push` and `billit-etl load-outbound`: invoices prepared in the warehouse, created in Billit.

`push` runs the reverse flow when a Prefect server is configured (PREFECT_API_URL), else the same plain function
(`tasks.outbound.report.push_invoices`) without importing Prefect; `--prefect/--no-prefect` overrides the choice.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from cli.app import PrefectOption, WarehouseOption, app, as_prefect_flow, clear_errors, console, error_console
from cli.preflight import preflight
from cli.tables import data_table, titled_table
from tasks.runtime import billit_settings, runs_as_prefect_flow


@app.command()
def push(
    limit: Annotated[int | None, typer.Option(min=1, help="Push at most this many rows (1 or more).")] = None,
    send: Annotated[bool, typer.Option("--send", help="Also send created invoices (commands/send).")] = False,
    transport: Annotated[str, typer.Option(help="Transport for --send: Peppol, SMTP (e-mail), Letter, ...")] = "Peppol",
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Validate and report; send and write nothing.")] = False,
    source: Annotated[
        Path | None,
        typer.Option(
            "--source",
            help="A .sql file of two named queries (-- name: invoices, -- name: lines) over your own "
            "tables, taken into outbound_invoices before the push (docs/warehouse.md).",
        ),
    ] = None,
    warehouse_url: WarehouseOption = None,
    prefect: PrefectOption = None,
) -> None:
    """Create pending outbound_invoices rows in Billit, exactly once; exit 1 if a row was rejected or failed."""
    with clear_errors(warehouse_url):
        if send:  # refused before anything is created: every send would be (Billit's list, tasks/outbound/run.py)
            from tasks.outbound.run import transport_type

            transport = transport_type(transport)
        ok = push_and_print(limit, send, transport, dry_run, prefect, source)
    if not ok:
        raise typer.Exit(1)


def push_and_print(
    limit: int | None, send: bool, transport: str, dry_run: bool, prefect: bool | None, source: Path | None = None
) -> bool:
    """Take the source in (if any), push (as a flow when Prefect is used) and print the outcome: the table and,
    when rows were rejected, failed or changed after create, one line. True when none was."""
    from tasks.outbound.companies import require_companies
    from tasks.outbound.run import PUSH_READS_THE_WAREHOUSE
    from tasks.outbound.source import read_source_file

    engine = preflight(billit=True, existing=PUSH_READS_THE_WAREHOUSE, migrate=not dry_run)
    require_companies(engine, billit_settings())  # a row naming no company, and none configured: refused here
    if source is not None:
        read_source_file(source)  # a file without both queries is refused before any work
    if runs_as_prefect_flow(prefect):
        from flows.push import PushIncomplete, warehouse_invoices_to_billit

        with as_prefect_flow():
            state = warehouse_invoices_to_billit(
                limit=limit,
                send=send,
                transport=transport,
                dry_run=dry_run,
                source=None if source is None else str(source),
                return_state=True,
            )
        result: Any = state.result(raise_on_failure=False)
        if isinstance(result, BaseException) and not isinstance(result, PushIncomplete):
            raise result  # a refused source or a crash: one line from _clear_errors
        summary: dict[str, Any] = result.summary if isinstance(result, PushIncomplete) else result
    else:
        from tasks.outbound.push import PushOptions
        from tasks.outbound.report import push_invoices
        from tasks.outbound.source import take_in_source

        taken = take_in_source(engine, source, dry_run=dry_run) if source is not None else None
        summary = push_invoices(
            PushOptions(limit=limit, send=send, transport=transport, dry_run=dry_run), engine=engine, taken=taken
        )
    table = titled_table("warehouse -> Billit" + (" (dry run: nothing sent)" if dry_run else ""))
    table.add_column("outcome")
    table.add_column("rows", justify="right")
    taken = summary.get("source")
    if taken:
        for key, label in (
            ("invoices", "source invoices"),
            ("inserted", "  new"),
            ("updated", "  updated"),
            ("unchanged", "  unchanged"),
            ("busy", "  held by a push run (next time)"),
            ("changed_after_create", "  changed after create"),
            ("still_changed_after_create", "  changed after create, flagged before"),
            ("cleared", "  changed after create before, matching again"),
        ):
            if key in ("invoices", "inserted", "updated", "unchanged") or taken[key]:
                table.add_row(label, str(taken[key]))
    # A dry run's `created` and `sent` are what a push would do (found by a newcomer: "created 4" read as done).
    would = {"created": "would be created", "sent": "would be sent"} if dry_run else {}
    for key in ("considered", "created", "already_existed", "sent", "rejected", "failed"):
        table.add_row(would.get(key, key.replace("_", " ")), str(summary[key]))
        if key == "already_existed" and summary.get("differs_in_billit"):
            table.add_row("  from other values than the row", str(summary["differs_in_billit"]))
        reasons = {"rejected": summary["rejected_by_reason"], "sent": summary["not_sent_by_reason"]}.get(key, {})
        if key == "sent" and reasons:
            table.add_row("created, not sent", str(sum(reasons.values())))
        for reason, count in reasons.items():  # each under the row it explains
            table.add_row(f"  {reason}", str(count))
    if summary.get("waiting"):
        table.add_row("waiting for their invoice", str(summary["waiting"]))
    if summary.get("skipped_with_order_id"):
        table.add_row("skipped: pending with a billit_order_id", str(summary["skipped_with_order_id"]))
    if summary.get("held_elsewhere"):
        table.add_row("held by another push run", str(summary["held_elsewhere"]))
    console.print(table)
    if summary.get("held_elsewhere"):  # not an error: that run pushes them, or its claims expire
        console.print(
            f"[yellow]{summary['held_elsewhere']} row(s) held by another push run, which pushes them; if it is gone, "
            f"its claims expire by {summary['held_until']} UTC (outbound_invoices.claimed_by names it)[/]"
        )
    if summary.get("waiting"):  # not an error, but left pending by every run until that invoice is in Billit
        console.print(
            f"[yellow]{summary['waiting']} credit note(s) wait for the invoice they credit, not created in Billit "
            "(rejected, failed or not pushed yet): see outbound_invoices.last_error[/]"
        )
    _print_problems(summary)
    if not summary["ok"]:
        console.print(f"[red]{escape(summary['message'])}[/]")
    elif taken and taken["still_changed_after_create"]:
        console.print(
            f"[yellow]{taken['still_changed_after_create']} row(s) flagged changed_after_create earlier "
            "still differ from the source: see outbound_invoices.change_reason[/]"
        )
    return bool(summary["ok"])


#: Rows that need a look printed under a push's table.
PROBLEMS_PRINTED = 10


def _print_problems(summary: dict[str, Any]) -> None:
    """The first rows that need a look (a dry run's are nowhere else); all of them are in outbound_invoices after a
    push, and in the Prefect artifact."""
    problems = summary.get("problems") or []
    if not problems:
        return
    columns = ["external_id", "outcome", "code", "reason"]
    rows = [[row[column] for column in columns] for row in problems[:PROBLEMS_PRINTED]]
    console.print(data_table("rows that need a look", columns, rows, prose=("reason",)))
    if (more := len(problems) - len(rows) + summary.get("problems_more", 0)) > 0:
        console.print(f"and {more} more" + ("" if summary["dry_run"] else " (outbound_invoices.last_error)"))


@app.command("load-outbound")
def load_outbound(
    invoices: Annotated[
        Path,
        typer.Argument(help="CSV (; or , separated) or XLSX with outbound_invoices columns (one row per invoice)."),
    ],
    lines: Annotated[Path, typer.Argument(help="CSV or XLSX with outbound_invoice_lines columns.")],
    warehouse_url: WarehouseOption = None,
) -> None:
    """Load invoices to push from two CSV or XLSX files (e.g. samples/) into outbound_invoices and their lines; exit
    1 if a row Billit already has newly differs (it is not changed) or a push run holds one (docs/warehouse.md)."""
    with clear_errors(warehouse_url):
        from tasks.outbound.files import load_outbound_files

        loaded = load_outbound_files(preflight(billit=False), invoices, lines)
    taken = loaded.taken
    console.print(f"read {loaded.read[0]}; {loaded.read[1]}")
    console.print(
        f"loaded {loaded.invoices} invoices and {loaded.lines} lines into outbound_invoices / "
        f"outbound_invoice_lines: {taken.inserted} new, {taken.updated} changed, {taken.unchanged} unchanged"
        + (f", {taken.cleared} matching again what was pushed (flag cleared)" if taken.cleared else "")
    )
    if loaded.reminder:
        console.print(f"[yellow]{escape(loaded.reminder)}[/]")
    for note in loaded.attention:
        error_console.print(f"[red]{escape(note)}[/]")
    if loaded.attention:
        raise typer.Exit(1)
