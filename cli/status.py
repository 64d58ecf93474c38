"""`billit-etl status`, `replay` and `db upgrade`: the warehouse's state, landed runs loaded again, its schema.

None of them calls Billit or imports Prefect; `status` only reads (a read-only replica is fine, and so is a SQLite
file this user may not write, docs/warehouse.md#where-the-warehouse-lives).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli.app import OperatorMistake, WarehouseOption, app, clear_errors, console, db_app
from cli.preflight import preflight, up_to_date_warehouse
from cli.sync import print_summaries
from cli.tables import data_table
from connectors.warehouse import check_warehouse, upgrade
from tasks.runtime import warehouse_engine
from tasks.status import warehouse_status


@app.command()
def replay(
    path: Annotated[str, typer.Argument(help="A landing directory, a stream directory or one run=... directory.")],
    warehouse_url: WarehouseOption = None,
) -> None:
    """Load landed Parquet again, without calling Billit (watermarks are not moved); exit 1 if a run was refused."""
    with clear_errors(warehouse_url):
        if not path.strip():  # a script's unset variable: as a Path it is `.`, every run landed under it
            raise OperatorMistake("replay: the path is empty; give the landing directory (or `.` for this one)")
        from tasks.inbound.replay import replay_landing  # the pipeline (pyarrow): only this command needs it

        summaries = replay_landing(Path(path), engine=preflight(billit=False))
    print_summaries(summaries)
    if any(summary["status"] != "succeeded" for summary in summaries):
        raise typer.Exit(1)


@app.command()
def status(warehouse_url: WarehouseOption = None) -> None:
    """Watermarks, the last runs with their counts, pending orders, the quarantine and webhook events (reads only)."""
    with clear_errors(warehouse_url):
        report = warehouse_status(up_to_date_warehouse())
    for title, rows in report.items():
        columns = [str(column) for column in rows[0]] if rows else ["(none)"]
        table = data_table(title, columns, [list(row.values()) for row in rows], prose=("error", "a reason", "reason"))
        console.print(table)


@db_app.command("upgrade")
def db_upgrade(warehouse_url: WarehouseOption = None) -> None:
    """Apply pending migrations from sql/migrations (idempotent)."""
    with clear_errors(warehouse_url):
        engine = warehouse_engine()
        check_warehouse(engine)
        applied = upgrade(engine)
    console.print(f"applied: {', '.join(applied)}" if applied else "the warehouse is up to date")
