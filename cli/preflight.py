"""What every command checks before any work: the settings, the warehouse and the landing directory.

A mistake found here is one red line (`cli.app.clear_errors`) before a Billit request is sent or a Prefect flow
starts, whose logs would show a traceback instead.
"""

from __future__ import annotations

import sqlalchemy as sa
from rich.markup import escape

from cli.app import error_console
from connectors.warehouse import check_warehouse, ready_for_work, require_up_to_date
from tasks.env_file import unknown_names
from tasks.options import check_landing_dir
from tasks.runtime import billit_settings, require_warehouse_file, warehouse_engine, warehouse_url


def preflight(*, billit: bool, landing_dir: str = "", existing: str = "", migrate: bool = True) -> sa.Engine:
    """Check what the operator configures before any work starts, and return the (migrated) warehouse Engine.

    The Billit settings (when the command calls Billit), the warehouse (reachable,
    writable, migrated; with `existing`, why it must exist already, a mistyped SQLite path is reported rather
    than created; without `migrate`, a dry run's, readable and up to date already) and the landing directory
    (writable). It runs before a Prefect flow too, so a mistake never becomes a failed run.
    """
    for line in unknown_names():  # a misspelt name would be ignored without a word
        error_console.print(f"[yellow]{escape(line)}[/]")
    if billit:
        billit_settings()  # missing or malformed settings are refused before any work
    if existing:
        require_warehouse_file(existing)
    engine = warehouse_engine()
    ready_for_work(engine, migrate=migrate)
    check_landing_dir(landing_dir)
    return engine


def readable_warehouse(url: str | None = None) -> sa.Engine:
    """For commands that only read (status, doctor): the warehouse must exist and answer; a read-only replica is
    fine, and a mistyped SQLite path is reported rather than created."""
    url = warehouse_url(url)
    # Found by a newcomer: before the first sync, "check WAREHOUSE_URL" alone blamed a setting that was right.
    require_warehouse_file("a sync, or billit-etl db upgrade, creates it", url=url)
    engine = warehouse_engine(url)
    check_warehouse(engine, writable=False)
    return engine


def up_to_date_warehouse() -> sa.Engine:
    """A readable warehouse with every migration applied (commands that only read do not upgrade it)."""
    engine = readable_warehouse()
    require_up_to_date(engine)
    return engine
