"""`billit-etl doctor`: ask the live Billit API, read-only, what its docs leave open (`tasks.doctor`)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from cli.app import app, clear_errors, console
from cli.preflight import readable_warehouse
from tasks.runtime import billit_settings, configured_warehouse_url


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
    """Ask the live Billit API, read-only, what its docs leave open, and print what it answered."""
    with clear_errors():
        from tasks.doctor import has_orders, run_doctor  # httpx and the pipeline: only this command needs them

        settings = billit_settings()
        company = settings.require_party_id()  # the checks read one company's orders
        engine = None
        warehouse_url = warehouse_url or configured_warehouse_url()
        if warehouse_url:
            engine = readable_warehouse(warehouse_url)
            engine = engine if has_orders(engine) else None
        findings = run_doctor(settings, engine)
    table = Table(title=f"Billit at {settings.base_url}, company {company}")
    for column in ("check", "Billit answered", "what the sync does"):
        table.add_column(column)
    for finding in findings:
        table.add_row(finding.check, finding.answer, finding.consequence)
    console.print(table)
    console.print("docs/reference/billit-api.md#to-confirm explains each check.")
