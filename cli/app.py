"""The `billit-etl` typer app, its consoles, its shared options and the one-red-line error handling.

Operator mistakes end as one red line on stderr that names the problem and the fix, with a non-zero exit code:
options are checked by typer at the edge, `cli.preflight` checks the settings, the warehouse and the landing
directory before any work (and before a Prefect flow starts, whose logs would show a traceback), and
`clear_errors` turns whatever is raised into that line. `billit-etl --debug ...` shows the traceback instead.

The command modules import the pipeline inside their commands, so that `billit-etl status` loads neither Prefect,
nor httpx, nor pyarrow (it runs in well under a second, most of it importing SQLAlchemy and pydantic).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from connectors.warehouse import WarehouseError
from tasks.options import MAX_LOOKBACK_MINUTES, InvalidSyncOption
from tasks.runtime import configured

# Locals are never shown in a --debug traceback: they may hold the API key or a database password.
app = typer.Typer(
    help="Keep a SQL warehouse in step with Billit, and push invoices back.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
sandbox_app = typer.Typer(help="The bundled Billit sandbox server.", no_args_is_help=True)
db_app = typer.Typer(help="The warehouse schema.", no_args_is_help=True)
vat_listing_app = typer.Typer(
    help="Intervat listings of the warehouse's sales, as XML drafts (never submitted).", no_args_is_help=True
)
webhooks_app = typer.Typer(
    help="Billit webhooks: register them, and serve the receiver that brings their changes in within seconds.",
    no_args_is_help=True,
)
app.add_typer(sandbox_app, name="sandbox")
app.add_typer(webhooks_app, name="webhooks")
app.add_typer(db_app, name="db")
app.add_typer(vat_listing_app, name="vat-listing")

#: Width of the tables when stdout is not a terminal (a log, a file, CI): wide enough that no column is cut.
LOG_WIDTH = 160
# Piped into a log or a file, tables are not cut to 80 columns (COLUMNS, the terminal's own width, still wins).
console = Console(width=None if sys.stdout.isatty() or "COLUMNS" in os.environ else LOG_WIDTH)
error_console = Console(stderr=True, soft_wrap=True, highlight=False)  # soft_wrap: one line, however long


class _Invocation:
    """Global options of the current invocation: the app callback sets them before any command runs (typer 0.29
    vendors click, so there is no public way to the current context)."""

    debug = False


class OperatorMistake(Exception):
    """Something the operator can fix outside the settings and the warehouse; the message names it and the fix."""


WarehouseOption = Annotated[
    str | None,
    typer.Option(
        "--warehouse-url",
        help="SQLAlchemy URL of the warehouse (default: WAREHOUSE_URL from the environment or .env, else "
        "sqlite:///data/warehouse.sqlite).",
    ),
]
PrefectOption = Annotated[
    bool | None,
    typer.Option("--prefect/--no-prefect", help="Run as a Prefect flow (default: when PREFECT_API_URL is set)."),
]
LookbackOption = Annotated[
    float,
    typer.Option(
        min=0,
        max=MAX_LOOKBACK_MINUTES,
        help=f"Minutes of overlap below the watermark, for changes Billit commits late (0 to {MAX_LOOKBACK_MINUTES}).",
    ),
]
LandingOption = Annotated[str, typer.Option(help="Directory where raw orders land as Parquet ('' to skip landing).")]


@app.callback()
def global_options(
    debug: Annotated[bool, typer.Option("--debug", help="Show the traceback of an error instead of one line.")] = False,
) -> None:
    """Keep a SQL warehouse in step with Billit, and push invoices back."""
    _Invocation.debug = debug


@contextmanager
def clear_errors(warehouse_url: str | None = None) -> Iterator[None]:
    """Run a command's work against `warehouse_url` (when given); whatever it raises becomes one red line and an
    exit code, never a traceback (unless --debug).

    Exit 2 for what the operator fixes (settings, the warehouse, files, options: the message names the fix), 1 for
    a Billit error and for anything unexpected, which is shown by its type and first line.
    """
    try:
        with configured(warehouse_url=warehouse_url):
            yield
    except (typer.Exit, typer.Abort, typer.BadParameter):
        raise  # typer's own exits and usage errors (typer.Exit is a RuntimeError)
    except Exception as exc:
        if _Invocation.debug:
            raise
        line, code = _one_line(exc)
        error_console.print(f"[red]{escape(line)}[/]")
        raise typer.Exit(code) from None


@contextmanager
def as_prefect_flow() -> Iterator[None]:
    """Around a flow run from the command line: the temporary server Prefect starts when none is configured sends
    no telemetry (offline, or with its SQLite busy, its heartbeat printed a traceback before the first table)."""
    from prefect.settings import PREFECT_SERVER_ANALYTICS_ENABLED, temporary_settings  # the flow path only

    with temporary_settings({PREFECT_SERVER_ANALYTICS_ENABLED: False}):
        yield


def _one_line(exc: Exception) -> tuple[str, int]:
    """The red line for `exc` and the exit code (the pipeline's error classes are imported only when one is
    raised: importing them all up front would cost `billit-etl status` httpx, pyarrow and the XML schema library)."""
    from connectors.billit import BillitError, SettingsError
    from tasks.inbound.landing import LandingError
    from tasks.inbound.warehouse import CompanyMismatch
    from tasks.outbound.files import OutboundFileError
    from tasks.outbound.source import OutboundSourceError
    from tasks.vat.returns import VatReturnError

    message = " ".join(str(exc).split())
    if isinstance(exc, SettingsError):
        return f"{message} (see .env.example)", 2
    if isinstance(exc, BillitError):
        return f"Billit: {message}", 1
    mistakes = (
        WarehouseError,
        CompanyMismatch,
        InvalidSyncOption,
        LandingError,
        OutboundFileError,
        OutboundSourceError,
        OperatorMistake,
        VatReturnError,
        OSError,
    )
    if isinstance(exc, mistakes):
        return message, 2
    # A bug or bad data: the first line only (an SQL error's next lines hold the statement and its parameters).
    first = next(iter(str(exc).strip().splitlines()), "")[:300]
    return f"error: {type(exc).__name__}: {first} (run with --debug for the traceback)", 1


def cell(value: object) -> str:
    """A table cell: empty for None, timestamps to the second, floats to one decimal."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)
