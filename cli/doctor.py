"""`billit-etl doctor`: ask the live Billit API, read-only, what its docs leave open (`tasks.doctor`).

Exit 1 when the request of a check failed: a CI job running the doctor must not pass on answers Billit never gave.
A check that cannot tell from the data at hand (no orders yet, no warehouse given) was made, and says so.
"""

from __future__ import annotations

from typing import Annotated

import typer

from cli.app import app, clear_errors, console, error_console
from cli.preflight import readable_warehouse
from cli.tables import titled_table
from tasks.runtime import billit_settings, configured_warehouse_url

# The settings' own hint names --companies/--company, options of other commands: the doctor checks one company.
NO_COMPANY = (
    "no Billit company to check: set {prefix}PARTY_ID to a company the API key reaches, as `billit-etl companies` "
    "lists them"
)


@app.command()
def doctor(
    warehouse_url: Annotated[
        str | None,
        typer.Option(
            "--warehouse-url",
            help="A warehouse to compare deleted orders with (default: WAREHOUSE_URL when set, in the environment or "
            ".env; read, never written).",
        ),
    ] = None,
) -> None:
    """Ask the live Billit API, read-only, what its docs leave open, and print what it answered (exit 1 when Billit
    did not answer a check: "could not tell"; a check whose data had nothing to go by is made, and said so)."""
    with clear_errors(warehouse_url):
        # httpx and the pipeline: only this command needs them, and every command imports this module
        from connectors.billit import NoCompanyError
        from connectors.billit.settings import ENV_PREFIX
        from tasks.doctor import has_orders, run_doctor

        settings = billit_settings()
        if settings.party_id is None:  # the checks read one company's orders
            raise NoCompanyError(NO_COMPANY.format(prefix=ENV_PREFIX))
        company = settings.party_id
        engine = None
        warehouse_url = warehouse_url or configured_warehouse_url()
        if warehouse_url:
            engine = readable_warehouse(warehouse_url)
            engine = engine if has_orders(engine) else None
        findings = run_doctor(settings, engine)
    table = titled_table(f"Billit at {settings.base_url}, company {company}")
    for column in ("check", "Billit answered", "what the sync does"):
        table.add_column(column)
    for finding in findings:
        table.add_row(finding.check, finding.answer, finding.consequence)
    console.print(table)
    console.print("docs/reference/billit-api.md#to-confirm explains each check.")
    if not_made := sum(1 for finding in findings if not finding.made):
        error_console.print(f"[red]{not_made} of {len(findings)} checks could not be made: their rows say why[/]")
        raise typer.Exit(1)
