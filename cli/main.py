"""`billit-etl`: the command line of billit-pipelines (typer), assembled from one module per command group.

`cli.app` holds the app, its options and the error handling; each command module registers its commands on it
when imported: sync and backfill (`cli.sync`), companies (`cli.companies`), status, replay and db upgrade
(`cli.status`), push and load-outbound (`cli.push`), doctor, the VAT return and listings (`cli.vat`), webhooks
(`cli.webhooks`, `cli.webhooks_serve`), the sandbox, and the demo.
"""

from __future__ import annotations

import gc
import signal
import sys
from types import FrameType

import typer
from rich.markup import escape

from cli import companies, demo, doctor, push, sandbox, status, sync, vat, webhooks, webhooks_serve
from cli.app import app, error_console

COMMAND_MODULES = (sync, companies, status, push, doctor, vat, sandbox, demo, webhooks, webhooks_serve)

__all__ = ["app", "main"]


class Terminated(KeyboardInterrupt):
    """SIGTERM (a scheduler's timeout, `systemctl stop`, `kill`) stops a command as Ctrl-C does: its runs are closed
    as failed with this reason, rather than left `running` until a later run finds them abandoned."""


def _terminate(signum: int, _frame: FrameType | None) -> None:
    signal.signal(signum, signal.SIG_IGN)  # once: a second SIGTERM must not break off the run's bookkeeping
    raise Terminated(f"stopped by signal {signal.Signals(signum).name}")


def main() -> None:
    """The `billit-etl` command: typer's own usage errors (a bad option value, a bad date) are one red line too,
    and so is an interruption (Ctrl-C, SIGTERM)."""
    signal.signal(signal.SIGTERM, _terminate)  # servers (`sandbox serve`, `webhooks serve`) install their own
    try:
        code = app(standalone_mode=False)
    except typer.TyperException as exc:  # click's usage errors, as typer vendors them
        error_console.print(f"[red]{escape(' '.join(exc.format_message().split()))}[/] (see billit-etl --help)")
        code = getattr(exc, "exit_code", 2)
    except typer.Abort:
        error_console.print("[red]aborted[/]")
        code = 1
    if code == 130:  # typer's exit for a KeyboardInterrupt, SIGTERM's included
        error_console.print("[red]interrupted: what was committed stays; run the command again to go on[/]")
        if signal.getsignal(signal.SIGTERM) is signal.SIG_IGN:  # _terminate's: 128 + the signal, as shells say
            code = 128 + signal.SIGTERM
    # What is left goes with the process: without this, the interpreter's last garbage collections walk every
    # object a sync made and imported, 0.2-0.3 s after the work is done (bench/README.md#rate-limit). Files and
    # connections are closed by then; atexit handlers and threads still finish as usual.
    gc.freeze()
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
