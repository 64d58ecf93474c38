"""`billit-etl companies`, and what `--companies` prints: the companies the credentials reach, and how a sync of
several of them went, company by company.

One API key reaches every company its user sees (an accountant's clients included); `billit-etl companies` lists
them from `GET /v1/account/accountInformation` (docs/reference/billit-api.md#companies), and `sync` and
`backfill` take `--companies all|ID,ID,...` (`tasks.companies` parses and checks it).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from cli.app import app, clear_errors, console, error_console
from cli.tables import data_table, titled_table

if TYPE_CHECKING:
    from tasks.companies import CompanyOutcome, CompanySelection

CompaniesOption = Annotated[
    str | None,
    typer.Option(
        "--companies",
        help="all (every company the API key reaches with API access on), or PartyIDs separated by commas "
        "(default: BILLIT_PARTY_ID). `billit-etl companies` lists them.",
    ),
]

OUTCOME_COLUMNS = {
    "company": "company",
    "name": "name",
    "stream": "stream",
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


@app.command()
def companies() -> None:
    """List the companies the API key reaches: PartyID, name, VAT number and whether the API may act for them."""
    with clear_errors():
        from tasks.companies import list_companies  # httpx: only the commands that call Billit load it

        reachable = list_companies()
    table = titled_table("Companies the API key reaches")
    for label in ("PartyID", "name", "VAT number", "API allowed"):
        table.add_column(label, justify="right" if label == "PartyID" else "left", no_wrap=label != "name")
    for company in reachable:
        table.add_row(
            str(company.party_id),
            escape(company.name),
            company.vat_number or "",
            "yes" if company.api_allowed else "no, yet Billit answers" if company.answers_anyway else "[red]no[/]",
        )
    console.print(table)
    off = sum(bool(company.unavailable) for company in reachable)
    console.print(
        f"{len(reachable)} compan{'y' if len(reachable) == 1 else 'ies'}"
        + (f", {off} with API access off (skipped by --companies all)" if off else "")
    )


def print_skipped(selection: CompanySelection) -> None:
    """One yellow line per company `--companies all` leaves out, with the reason."""
    for company, reason in selection.skipped:
        console.print(f"[yellow]skipped company {company.party_id} ({escape(company.name)}): {escape(reason)}[/]")


def print_outcomes(outcomes: Sequence[CompanyOutcome]) -> None:
    """One table row per company and stream; a failed company is one row and one red line saying why."""
    rows = []
    for outcome in outcomes:
        company: dict[str, Any] = {"company": outcome.company.party_id, "name": outcome.company.name}
        for row in [company | summary for summary in outcome.summaries] or [company | {"status": "failed"}]:
            rows.append([row.get(column) for column in OUTCOME_COLUMNS])
    labels = list(OUTCOME_COLUMNS.values())
    right = [label for label in labels if label not in ("name", "stream", "status")]
    console.print(data_table("Billit -> warehouse, per company", labels, rows, right=right, prose=("name",)))
    for outcome in outcomes:
        for summary in outcome.summaries:
            if pending := summary.get("orders_pending"):  # "succeeded" all the same: say so rather than let it pass
                console.print(
                    f"[yellow]company {outcome.company.party_id} {escape(str(summary.get('stream')))}: "
                    f"{pending} order{'' if pending == 1 else 's'} not loaded yet (pending: every run tries them "
                    "again; `billit-etl status` says why)[/]"
                )
        if outcome.failed:
            name = f" ({escape(outcome.company.name)})" if outcome.company.name else ""  # none: a company not reached
            error = escape(" ".join(str(outcome.error).split()))
            error_console.print(f"[red]company {outcome.company.party_id}{name} failed: {error}[/]")
