"""The `billit-etl` typer app, its consoles, its shared options, the one-red-line error handling, and how help is
laid out so that nothing in it is cut (`help_width`; the tables are `cli.tables`).

Operator mistakes end as one red line on stderr that names the problem and the fix, with a non-zero exit code:
options are checked by typer at the edge, `cli.preflight` checks the settings, the warehouse and the landing
directory before any work (and before a Prefect flow starts, whose logs would show a traceback), and
`clear_errors` turns whatever is raised into that line. `billit-etl --debug ...` shows the traceback instead.

The command modules import the pipeline inside their commands, so that `billit-etl status` loads neither Prefect,
nor httpx, nor pyarrow (it runs in well under a second, most of it importing SQLAlchemy and pydantic).
"""

from __future__ import annotations

import errno
import inspect
import os
import shutil
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated

import typer
import typer.core
from rich.console import Console
from rich.markup import escape

from connectors.warehouse import WarehouseError
from connectors.warehouse.engine import WAREHOUSE_URL_ENV
from tasks.options import MAX_LOOKBACK_MINUTES, InvalidSyncOption
from tasks.runtime import configured, runtime_settings

if TYPE_CHECKING:  # typer vendors click: its context and formatter are these, not click's
    from typer._click import Context, HelpFormatter

#: Narrower than this, help is click's plain layout. Rich's table of options shares the width out among option
#: names, their `--no-` forms, types and help alike, and cuts what does not fit with `…` (`--orders-per-com…` at 80
#: columns, still at 100 for `sandbox serve`); click's layout never cuts an option name and wraps the help text.
RICH_HELP_MIN_WIDTH = 120
#: Widest plain help: lines longer than this read badly even on a wide terminal.
PLAIN_HELP_MAX_WIDTH = 120


def help_width() -> int | None:
    """The width help is laid out for: COLUMNS when set, else the terminal's; None when stdout is not a terminal
    (piped into a file, `less` or `grep`), where click's plain help takes 80 columns."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit():
        return int(columns)
    return shutil.get_terminal_size().columns if sys.stdout.isatty() else None


def rich_help(width: int | None) -> bool:
    """Whether help at `width` (see `help_width`) is rich's layout rather than click's plain one."""
    return width is not None and width >= RICH_HELP_MIN_WIDTH


class _WholeSummaries(typer.core.TyperGroup):
    """A group whose plain help (piped, or a terminal narrower than `RICH_HELP_MIN_WIDTH`) lists each command with
    the first paragraph of its help, whole and wrapped, as rich's layout does: click cut it to the room left on
    one line (`companies  List the companies the API key reaches: PartyID, name,...`) or at a first `.` (`e.g.`)."""

    def format_commands(self, ctx: Context, formatter: HelpFormatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                help_text = inspect.cleandoc(command.short_help or command.help or "")
                rows.append((name, " ".join(help_text.split("\n\n")[0].split())))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


# Locals are never shown in a --debug traceback: they may hold the API key or a database password. The sub-apps
# take the markup mode and the context settings from this one.
app = typer.Typer(
    help="Keep a SQL warehouse in step with Billit, and push invoices back.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    rich_markup_mode="rich" if rich_help(help_width()) else None,
    context_settings={"max_content_width": PLAIN_HELP_MAX_WIDTH},
    cls=_WholeSummaries,
)
sandbox_app = typer.Typer(help="The bundled Billit sandbox server.", no_args_is_help=True, cls=_WholeSummaries)
db_app = typer.Typer(help="The warehouse schema.", no_args_is_help=True, cls=_WholeSummaries)
vat_listing_app = typer.Typer(
    help="Intervat listings of the warehouse's sales, as XML drafts (never submitted).",
    no_args_is_help=True,
    cls=_WholeSummaries,
)
webhooks_app = typer.Typer(
    help="Billit webhooks: register them, and serve the receiver that brings their changes in within seconds.",
    no_args_is_help=True,
    cls=_WholeSummaries,
)
app.add_typer(sandbox_app, name="sandbox")
app.add_typer(webhooks_app, name="webhooks")
app.add_typer(db_app, name="db")
app.add_typer(vat_listing_app, name="vat-listing")

#: Width of the tables when stdout is not a terminal (a log, a file, CI): wide enough that no column is cut.
LOG_WIDTH = 160
# Piped into a log or a file, tables are not cut to 80 columns (COLUMNS, the terminal's own width, still wins), and
# a message (a banner with its URLs, a note) is one line however long, not wrapped at that width mid-sentence.
# Values from files and from Billit are printed as they are: no `:x:` becomes an emoji (found from the outside: a
# bad cell `:x:` was quoted back as '❌').
console = Console(
    width=None if sys.stdout.isatty() or "COLUMNS" in os.environ else LOG_WIDTH,
    soft_wrap=not sys.stdout.isatty(),
    emoji=False,
)
error_console = Console(stderr=True, soft_wrap=True, highlight=False, emoji=False)  # soft_wrap: one line, however long


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
        if warehouse_url and isinstance(exc, WarehouseError):  # the URL came from the option ('' falls back)
            exc.args = tuple(
                a.replace(WAREHOUSE_URL_ENV, "--warehouse-url") if isinstance(a, str) else a for a in exc.args
            )
        if _Invocation.debug:
            raise  # the traceback's last line names the option too
        line, code = _one_line(exc)
        error_console.print(f"[red]{escape(line)}[/]")
        raise typer.Exit(code) from None


def listen(host: str, port: int) -> socket.socket:
    """The listening socket of a server command (`webhooks serve`, `sandbox serve`), bound here so that a port in
    use, or a host that is not an address of this machine, is one red line (`OperatorMistake`), not uvicorn's log
    line and exit code 3."""
    try:
        # IPPROTO_TCP named: asyncio sets TCP_NODELAY only on connections of a socket that says it is TCP; without
        # it, Nagle's algorithm held each answer ~40 ms for the client's delayed ACK (the sandbox: 63 ms a request
        # at 20 ms of latency).
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        listening = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    except OSError as exc:
        raise OperatorMistake(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    try:
        listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listening.bind((host, port))
    except OSError as exc:
        listening.close()
        reason = _LISTEN_REASONS.get(exc.errno or 0, exc.strerror)
        raise OperatorMistake(f"cannot listen on {host}:{port}: {reason or exc}") from None
    return listening


_LISTEN_REASONS = {
    errno.EADDRINUSE: "the port is in use (choose another with --port)",
    errno.EADDRNOTAVAIL: "not an address of this machine (choose another with --host)",
    errno.EACCES: "permission denied (choose a port above 1023 with --port)",
    # An unknown name, or no resolver answering (an offline machine): the same fix either way.
    socket.EAI_NONAME: "the host name does not resolve (choose another with --host)",
    socket.EAI_AGAIN: "the host name does not resolve (choose another with --host)",
}


#: The background services of Prefect's server: a temporary one, started for one command and gone after it, has
#: nothing for them to do but write to its SQLite file while the flow's own calls do, which then wait, and log
#: "database is locked" with a traceback (seen once in a fresh clone's first `make demo`, with a minute's stall).
_SERVER_SERVICES = (
    "cancellation_cleanup",
    "cleanup_reconciler",
    "event_persister",
    "foreman",
    "late_runs",
    "pause_expirations",
    "repossessor",
    "scheduler",
    "task_run_recorder",
    "triggers",
)


@contextmanager
def as_prefect_flow() -> Iterator[None]:
    """Around a flow run from the command line: the temporary server Prefect starts when none is configured sends
    no telemetry (offline, or with its SQLite busy, its heartbeat printed a traceback before the first table) and
    runs none of its background services (`_SERVER_SERVICES`). A configured server is another process: these
    settings of this one do not reach it. A configured server that does not answer is the operator's to start,
    or to skip: one line says so (Prefect's own words were "RuntimeError: Failed to reach API at ...")."""
    from prefect.settings import temporary_settings  # the flow path only

    quiet = {"server.analytics_enabled": False} | {
        f"server.services.{name}.enabled": False for name in _SERVER_SERVICES
    }
    try:
        with temporary_settings(quiet):  # type: ignore[arg-type]  # dotted keys are accepted, as in Prefect's docs
            yield
    except RuntimeError as exc:
        if not str(exc).startswith("Failed to reach API at "):
            raise
        api_url = runtime_settings().prefect_api_url or ""
        if api_url and not api_url.lower().startswith(("http://", "https://")):  # found by a newcomer
            raise OperatorMistake(
                f"PREFECT_API_URL {api_url!r} is not an http:// or https:// URL: e.g. http://127.0.0.1:4200/api"
            ) from None
        raise OperatorMistake(
            f"{exc}: is the Prefect server running? Check PREFECT_API_URL, or run with --no-prefect"
        ) from None


def _one_line(exc: Exception) -> tuple[str, int]:
    """The red line for `exc` and the exit code (the pipeline's error classes are imported only when the error is
    none of the commonest: importing them all would cost `billit-etl status` httpx, pyarrow and the XML schema
    library, 0.3 s to say that the warehouse is missing)."""
    message = " ".join(str(exc).split())
    if isinstance(exc, WarehouseError | InvalidSyncOption | OperatorMistake | OSError):
        return message, 2
    from connectors.billit import BillitError, BillitUnreachableError, SettingsError
    from tasks.inbound.landing import LandingError
    from tasks.inbound.warehouse import CompanyMismatch
    from tasks.outbound.files import OutboundFileError
    from tasks.outbound.source import OutboundSourceError
    from tasks.vat.returns import VatReturnError

    if isinstance(exc, SettingsError):
        return f"{message} (see .env.example)", 2
    if isinstance(exc, BillitError):
        if exc.retryable and not isinstance(exc, BillitUnreachableError):  # which says what to check
            message += " (still failing after its retries; what was loaded stays loaded: run the command again later)"
        return f"Billit: {message}", 1
    if isinstance(exc, CompanyMismatch | LandingError | OutboundFileError | OutboundSourceError | VatReturnError):
        return message, 2
    if getattr(getattr(exc, "orig", None), "sqlstate", None) == "42501":  # PostgreSQL: insufficient privilege
        # The readers' check asks for one table; a role may still lack another (found from the re-check).
        refused = next(iter(str(exc.orig).strip().splitlines()), "")[:200]  # type: ignore[attr-defined]
        return f"the warehouse refused this role: {refused} (grant it, or use a role that can, in WAREHOUSE_URL)", 2
    # A bug or bad data: the first line only (an SQL error's next lines hold the statement and its parameters).
    first = next(iter(str(exc).strip().splitlines()), "")[:300]
    return f"error: {type(exc).__name__}: {first} (run with --debug for the traceback)", 1
