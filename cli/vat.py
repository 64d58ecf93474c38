"""`billit-etl vat-return` and `billit-etl vat-listing ic|clients`: the Belgian VAT return of the warehouse, its
checks and its Intervat XML drafts (docs/bi.md#vat-return). They only read the warehouse; nothing is submitted.

Figures that could mislead end the command loudly: a period whose invoices have no VAT-return rows is refused
(`replay` first), a failed check or an invoice of the period not loaded yet exits 1 and writes no draft unless
`--force`, and a warehouse that was never synced is refused rather than reported as a nil return.
"""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from cli.app import OperatorMistake, WarehouseOption, app, clear_errors, console, error_console, vat_listing_app
from cli.preflight import up_to_date_warehouse
from cli.tables import titled_table

if TYPE_CHECKING:
    import sqlalchemy as sa

PeriodOption = Annotated[str, typer.Option("--period", help="A month (2026-07) or a calendar quarter (2026-Q3).")]
XmlOption = Annotated[
    Path | None,
    typer.Option("--xml", help="Also write the Intervat XML draft to this file ('-' for stdout); never submitted."),
]
CompanyOption = Annotated[
    int | None,
    typer.Option(
        "--company",
        help="The Billit company (PartyID) whose books to read; default: BILLIT_PARTY_ID, else the warehouse's only "
        "company.",
    ),
]
ForceOption = Annotated[
    bool,
    typer.Option(
        "--force",
        help="Replace an existing --xml file; write the draft even when a check failed or an invoice of the period is "
        "not loaded yet.",
    ),
]


def _vat_period(text: str) -> Any:
    from tasks.vat.intervat import VatPeriod

    try:
        return VatPeriod.parse(text)
    except ValueError as exc:
        raise OperatorMistake(str(exc)) from None


def _checked_target(path: Path, force: bool) -> Path | None:
    """Where the draft goes (None: stdout), refused before any work if it cannot be written as asked."""
    if str(path) == "-":
        return None
    target = path.resolve()  # a symlink is written through, not replaced
    if target.exists():
        if not stat.S_ISREG(target.stat().st_mode):
            raise OperatorMistake(f"--xml {path}: not a regular file (choose a file path, or '-' for stdout)")
        if not force:
            raise OperatorMistake(f"--xml {path} exists: add --force to replace it, or choose another file")
    elif not target.parent.is_dir():
        raise OperatorMistake(
            f"--xml {path}: directory {target.parent} does not exist (create it, or choose another --xml)"
        )
    if not os.access(target if target.exists() else target.parent, os.W_OK):
        raise OperatorMistake(f"--xml {path}: not writable (choose another --xml)")
    return target


def _write_draft(path: Path, target: Path | None, build: Callable[[], bytes]) -> None:
    """Write the XML draft whole or not at all (a half-written file is never left behind); an existing file keeps
    its permissions."""
    try:
        document = build()
    except ValueError as exc:  # the data does not fit Intervat's schema: the message says which value
        raise OperatorMistake(f"no XML draft written: {exc}") from None
    if target is None:
        sys.stdout.buffer.write(document)
        sys.stdout.flush()
        return
    partial = target.with_name(f".{target.name}.partial")
    mode = stat.S_IMODE(target.stat().st_mode) if target.exists() else 0o600
    try:
        partial.write_bytes(document)
        partial.chmod(mode)
        partial.replace(target)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise OperatorMistake(f"cannot write --xml {path}: {exc.strerror or exc}") from None
    error_console.print(f"XML draft written to {path} (review it, then upload it to Intervat yourself)")


def _read_filed(path: Path, period: Any) -> Any:
    """The filed return of `--filed`, refused in one line if it cannot be read or is another period's."""
    from tasks.vat.filed import read_filed_return

    try:
        filed = read_filed_return(path.read_bytes())
    except OSError as exc:
        raise OperatorMistake(f"cannot read --filed {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise OperatorMistake(f"--filed {path}: {exc}") from None
    if filed.period != period:
        raise OperatorMistake(f"--filed {path} is the return of {filed.period}, not of {period}")
    return filed


def _refuse_another_declarant(path: Path, filed_by: str, declaring: Any) -> None:
    if declaring.vat_number[2:] != filed_by:
        raise OperatorMistake(f"--filed {path} was filed by BE{filed_by}, not by this company ({declaring.vat_number})")


def _print_changes(out: Any, path: Path, filed: dict[str, Any], now: dict[str, Any]) -> str:
    """The grids that changed since the filed return, as a table; the note that says what to do with them."""
    from tasks.vat.filed import grid_changes

    changes = grid_changes(filed, now)
    if not changes:
        return f"the warehouse still gives the figures of the return filed in {path}"
    table = titled_table(f"Changed since the return filed in {path} (EUR)")
    for column in ("grid", "filed", "now", "difference"):
        table.add_column(column, justify="left" if column == "grid" else "right", overflow="fold")
    for change in changes:
        table.add_row(change.grid, f"{change.filed:,.2f}", f"{change.now:,.2f}", f"{change.difference:+,.2f}")
    out.print(table)
    return (
        f"{len(changes)} grid(s) changed since the return filed in {path}: a filed return is not filed again, "
        "the differences go into the current period's return"
    )


def _output(xml: Path | None) -> Any:
    """Where the tables go: stderr when the XML draft itself goes to stdout (`--xml -`)."""
    return error_console if xml is not None and str(xml) == "-" else console


def _open(xml: Path | None, force: bool, company: int | None) -> tuple[Path | None, sa.Engine, int]:
    """The --xml target (checked before any work), the warehouse, migrated and synced at least once (a
    never-synced warehouse would give a nil return), and the company whose books to read: --company, else
    BILLIT_PARTY_ID, as sync and push take it (found by a newcomer: it was ignored), else the warehouse's only one."""
    from tasks.inbound.warehouse import choose_company
    from tasks.runtime import configured_party_id

    target = _checked_target(xml, force) if xml is not None else None
    engine = up_to_date_warehouse()
    return target, engine, choose_company(engine, company if company is not None else configured_party_id())


def _notices(out: Any, counts: list[tuple[int, str]], notes: Sequence[str] = ()) -> None:
    """The notes under the tables, where the tables go (stderr when the XML draft is stdout)."""
    for line in [f"{count} {what}" for count, what in counts if count] + list(notes):
        out.print(f"[yellow]{escape(line)}[/]")


@app.command("vat-return")
def vat_return(
    period: PeriodOption,
    xml: XmlOption = None,
    force: ForceOption = False,
    company: CompanyOption = None,
    ask_restitution: Annotated[
        bool,
        typer.Option(
            "--ask-restitution",
            help="Ask for the refund of grid 72 in the --xml draft (Ask Restitution YES); refused without a 72.",
        ),
    ] = False,
    filed: Annotated[
        Path | None,
        typer.Option(
            "--filed",
            help="The Intervat XML of this period as filed: show each grid that changed since, to correct in the "
            "current return.",
        ),
    ] = None,
    warehouse_url: WarehouseOption = None,
) -> None:
    """The Belgian periodic VAT return of a month or a quarter: grids, the 71/72 balance and the checks.

    Exit 1 when a check fails or an invoice dated in the period is not loaded yet (no --xml draft then, unless
    --force). Rules: docs/bi.md#vat-return.
    """
    with clear_errors(warehouse_url):
        from tasks.vat.intervat import vat_declaration_xml
        from tasks.vat.listings import declarant
        from tasks.vat.returns import period_notes
        from tasks.vat.returns import vat_return as read_vat_return

        vat_period = _vat_period(period)
        if ask_restitution and xml is None:
            raise OperatorMistake("--ask-restitution only changes the Intervat draft: add --xml")
        filed_return = _read_filed(filed, vat_period) if filed is not None else None
        target, engine, company_id = _open(xml, force, company)
        report = read_vat_return(engine, vat_period, company_id=company_id)
        if filed is not None and filed_return is not None and filed_return.vat_number:
            _refuse_another_declarant(filed, filed_return.vat_number, declarant(engine, company_id=company_id))
        if ask_restitution and "72" not in report.grids:
            raise OperatorMistake(
                f"--ask-restitution: {vat_period} has no refund to ask (the balance is grid 71, "
                f"{report.grids.get('71', 0):,.2f} due): leave the option out"
            )
        failed = [check.name for check in report.checks if not check.passed]
        unfit = [f"{len(failed)} check(s) failed ({'; '.join(failed)})"] if failed else []
        # Invoices dated in the period that are not loaded are in no figure: the return is incomplete, as unfit for
        # filing as one that fails a check (an exception to review is in the figures). One of unknown date (a 404
        # keeps nothing) would make every period's return unfit for good: a note says it may be this one's.
        if missing := report.unloaded.in_period:
            unfit.append(f"{missing} invoice(s) or credit note(s) dated in {vat_period} are not loaded")
        if xml is not None and (force or not unfit):
            declaring = declarant(engine, company_id=company_id)
            _write_draft(
                xml,
                target,
                lambda: vat_declaration_xml(
                    declaring,
                    vat_period,
                    report.grids,
                    reference=str(vat_period).replace("-", ""),
                    ask_restitution=ask_restitution,
                ),
            )
        notes = period_notes(
            engine, vat_period.first_day, vat_period.last_day, str(vat_period), company_id, unloaded=report.unloaded
        )
    out = _output(xml)
    table = titled_table(f"VAT return {vat_period} of company {company_id} (EUR)")
    for column in ("grid", "amount", "of which self-assessed"):
        table.add_column(column, justify="left" if column == "grid" else "right", overflow="fold")
    for grid in sorted(report.grids, key=int):
        assessed = report.self_assessed.get(grid)
        table.add_row(grid, f"{report.grids[grid]:,.2f}", f"{assessed:,.2f}" if assessed else "")
    out.print(table)
    checks = titled_table("Checks")
    for column in ("check", "actual", "expected", "tolerance", ""):
        checks.add_column(column, justify="left" if column == "check" else "right", overflow="fold")
    for check in report.checks:
        checks.add_row(
            check.name,
            f"{check.actual:,.2f}",
            f"{check.expected:,.2f}",
            f"{check.tolerance:,.2f}",
            "[green]ok[/]" if check.passed else "[red]CHECK[/]",
        )
    out.print(checks)
    if filed is not None and filed_return is not None:
        notes.append(_print_changes(out, filed, filed_return.grids, report.grids))
    _notices(
        out,
        [
            (report.left_out, "amount(s) not in the return: see bi_vat_return_exceptions"),
            (report.to_review, "amount(s) in the return to review: see bi_vat_return_exceptions"),
            (report.inferred_lines, "line(s) with an inferred treatment: see bi_vat_return_inferred_lines"),
            (report.undated, "amount(s) of orders without an invoice date, in no return: see bi_vat_return_exceptions"),
            (
                report.received_late,
                "purchase invoice(s) dated in the period reached Billit after it ended (they "
                "are in the grids above; if the period is already filed, deduct them in the "
                "current return)",
            ),
            (
                report.issued_late,
                "sales document(s) dated in the period were made in Billit after it ended (they are in the grids "
                "above; a return filed before lacks them)",
            ),
            (
                report.received_from_earlier,
                "purchase invoice(s) dated before the period reached Billit in it: they are in their own "
                "period's grids; if that period is already filed, deduct them here",
            ),
            (
                report.issued_backdated,
                "sales document(s) dated before the period were made in Billit in it: they are in their own "
                "period's grids; if that period is already filed, correct it in this return",
            ),
            (
                report.deleted,
                "invoice(s) or credit note(s) dated in the period are deleted in Billit: not in the grids above; "
                "if the period was filed with them, correct it in the current return",
            ),
            (
                report.refused_sales,
                "sales invoice(s) dated in the period were refused by their recipient (they are in the grids "
                "above until a credit note cancels them: see bi_delivery_refusals)",
            ),
        ],
        notes,
    )
    if unfit:
        error_console.print(
            f"[red]{' and '.join(unfit)}: the return is not fit for "
            f"filing{'' if xml is None or force else ', so no XML draft was written'}[/]"
        )
        raise typer.Exit(1)


@vat_listing_app.command("ic")
def vat_listing_ic(
    period: PeriodOption,
    xml: XmlOption = None,
    force: ForceOption = False,
    company: CompanyOption = None,
    warehouse_url: WarehouseOption = None,
) -> None:
    """The intra-community listing of a month or quarter: IC sales per EU customer and code (L goods, S services)."""
    with clear_errors(warehouse_url):
        from tasks.vat.intervat import intra_listing_xml
        from tasks.vat.listings import declarant, intra_listing
        from tasks.vat.returns import period_notes, refuse_missing_rows

        vat_period = _vat_period(period)
        target, engine, company_id = _open(xml, force, company)
        refuse_missing_rows(engine, vat_period.first_day, vat_period.last_day, str(vat_period), company_id=company_id)
        listing = intra_listing(engine, vat_period, company_id=company_id)
        if xml is not None and listing.rows:
            declaring = declarant(engine, company_id=company_id)
            _write_draft(xml, target, lambda: intra_listing_xml(declaring, vat_period, listing.rows))
        notes = period_notes(
            engine, vat_period.first_day, vat_period.last_day, str(vat_period), company_id, "an empty listing"
        )
    out = _output(xml)
    table = titled_table(f"Intra-community listing {vat_period} (EUR)")
    for column in ("country", "VAT number", "code", "amount"):
        table.add_column(column, justify="right" if column == "amount" else "left", overflow="fold")
    for row in listing.rows:
        table.add_row(row.country, row.vat_number, row.code, f"{row.amount:,.2f}")
    if listing.rows:
        table.add_row("", "total", "", f"{sum(row.amount for row in listing.rows):,.2f}")
        out.print(table)
    else:
        out.print(
            f"nothing to list for {vat_period}: no intra-community sales"
            + (" (no XML written: the listing has no nil form)" if xml is not None else "")
        )
    for reason in listing.left_out:
        out.print(f"[yellow]left out: {escape(reason)}[/]")
    _notices(out, [], notes)


@vat_listing_app.command("clients")
def vat_listing_clients(
    year: Annotated[int, typer.Option("--year", min=2000, max=2999, help="The calendar year, e.g. 2026.")],
    xml: XmlOption = None,
    force: ForceOption = False,
    company: CompanyOption = None,
    warehouse_url: WarehouseOption = None,
) -> None:
    """The annual listing of Belgian customers billed 250 EUR or more excluding VAT in the year, net of credit notes
    (one credited that much more than it was invoiced is listed with negative amounts)."""
    with clear_errors(warehouse_url):
        from tasks.vat.intervat import client_listing_xml
        from tasks.vat.listings import client_listing, declarant
        from tasks.vat.returns import period_notes, refuse_missing_rows

        target, engine, company_id = _open(xml, force, company)
        first_day, last_day = date(year, 1, 1), date(year, 12, 31)
        refuse_missing_rows(engine, first_day, last_day, str(year), company_id=company_id)
        listing = client_listing(engine, year, company_id=company_id)
        if xml is not None:
            declaring = declarant(engine, company_id=company_id)
            _write_draft(xml, target, lambda: client_listing_xml(declaring, year, listing.rows))
        notes = period_notes(engine, first_day, last_day, str(year), company_id, "an empty listing")
    out = _output(xml)
    table = titled_table(f"Annual client listing {year} (EUR)")
    for column in ("VAT number", "turnover", "VAT"):
        table.add_column(column, justify="left" if column == "VAT number" else "right", overflow="fold")
    for row in listing.rows:
        table.add_row(row.vat_number, f"{row.turnover:,.2f}", f"{row.vat_amount:,.2f}")
    out.print(table if listing.rows else f"no Belgian customer reached 250 EUR in {year}: a nil listing")
    for reason in listing.left_out:
        out.print(f"[yellow]left out: {escape(reason)}[/]")
    _notices(out, [], notes)
