"""`billit-etl demo`: the bundled sandbox, both extraction flows and the reverse flow, into a fresh SQLite file.

The sandbox's address and credentials reach the pipeline through `tasks.runtime.configured`, in this process
only: nothing is written to the environment. They come with every other Billit setting at its default, so the
demo runs the same whatever BILLIT_* the environment or `.env` hold (`_sandbox_settings`).
"""

from __future__ import annotations

import contextlib
import shlex
import shutil
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from cli.app import app, as_prefect_flow, clear_errors, console
from cli.preflight import preflight
from cli.push import push_and_print
from cli.status import status
from cli.sync import print_summaries, run_sync
from cli.tables import data_table
from tasks.runtime import (
    BILLIT_API_LIMIT,
    configured,
    ensure_concurrency_limit,
    runs_as_prefect_flow,
    warehouse_engine,
)
from tasks.status import pushed_invoices

DEMO_LANDING = "data/demo-landing"
#: Slots of the `billit-api` limit the demo creates: two tasks of 8 requests in flight at once, as in
#: docs/operations.md.
DEMO_API_SLOTS = 16
SAMPLES = Path(__file__).resolve().parents[1] / "samples"
#: What the closing hint suggests asking the demo's warehouse.
DEMO_QUERY = "select direction, count(*), sum(total_incl) from invoices group by 1"


@app.command()
def demo(
    orders: Annotated[int, typer.Option(help="Orders in the sandbox.")] = 3000,
    warehouse_url: Annotated[str, typer.Option(help="Warehouse of the demo (recreated).")] = (
        "sqlite:///data/demo.sqlite"
    ),
    prefect: Annotated[
        bool,
        typer.Option(
            "--prefect/--no-prefect",
            help="Run the flows under Prefect: on the server PREFECT_API_URL names, else on a temporary one the demo "
            "starts (--no-prefect: plain Python, no Prefect server).",
        ),
    ] = True,
) -> None:
    """Start the sandbox, run both extraction flows and the reverse flow into a fresh SQLite warehouse."""
    with clear_errors(warehouse_url):
        _demo(orders, warehouse_url, prefect)


def _demo(orders: int, warehouse_url: str, prefect: bool | None) -> None:
    from sandbox.identity import PARTY_ID, SECOND_PARTY_ID
    from sandbox.server import SandboxServer
    from sandbox.store import Sandbox
    from tasks.outbound.files import load_outbound_csv

    database = warehouse_url.removeprefix("sqlite:///")
    if warehouse_url.startswith("sqlite:///"):
        for suffix in ("", "-wal", "-shm"):
            Path(database + suffix).unlink(missing_ok=True)
    preflight(billit=False, landing_dir=DEMO_LANDING)  # a mistake shows before the sandbox starts
    sandbox = Sandbox(seed=1, orders=orders, delivery_delay_s=0.2)
    # The sample customer Voorbeeld Klant NV is on Peppol; the others are not, and stay `created`.
    sandbox.register_participant("9925:BE0412345614")
    with SandboxServer(sandbox) as server, configured(**_sandbox_settings(server.base_url)):
        console.print(
            f"[bold]1. Billit sandbox[/] on {server.base_url}: the demo syncs company {PARTY_ID} "
            f"({len(sandbox.company_orders(PARTY_ID))} orders), not company {SECOND_PARTY_ID} "
            f"({len(sandbox.company_orders(SECOND_PARTY_ID))} orders)"
        )
        console.print("[bold]2. Extraction flows[/]: purchases and sales into the warehouse")
        if runs_as_prefect_flow(prefect):
            with as_prefect_flow():  # the limit docs/operations.md sets up, on the server the flows run on
                ensure_concurrency_limit(BILLIT_API_LIMIT, DEMO_API_SLOTS)
        print_summaries(run_sync(["incoming", "sales"], None, None, 15, DEMO_LANDING, prefect))

        console.print(f"[bold]3. Reverse flow[/]: {SAMPLES}/outbound_*.csv pushed to Billit and sent")
        invoices, lines = load_outbound_csv(
            warehouse_engine(), SAMPLES / "outbound_invoices.csv", SAMPLES / "outbound_invoice_lines.csv"
        )
        console.print(f"loaded {invoices} outbound invoices ({lines} lines); one has a bad VAT number on purpose")
        push_and_print(None, True, "Peppol", False, prefect)

        console.print("[bold]4. Sales extraction again[/]: the pushed invoices with their delivery status")
        time.sleep(0.5)  # the sandbox delivers asynchronously
        print_summaries(run_sync(["sales"], None, None, 15, DEMO_LANDING, prefect))
    _print_pushed()
    status(warehouse_url)
    console.print(
        f"\nThe warehouse is {warehouse_url} (docs/warehouse.md; BI views in docs/bi.md); raw orders landed under "
        f"{DEMO_LANDING}. Try:"
    )
    if warehouse_url.startswith("sqlite:///"):
        _print_command(f"sqlite3 {shlex.quote(database)} {shlex.quote(DEMO_QUERY)}")
    else:
        _print_command(f"{DEMO_QUERY};")
    console.print("With a Prefect server (docs/operations.md), the runs show in its UI: start it in another terminal")
    _print_command(f"{_installed('prefect')} server start")
    console.print("and run the demo on it")
    _print_command(f"PREFECT_API_URL=http://127.0.0.1:4200/api {_installed('billit-etl')} demo")


def _installed(command: str) -> str:
    """How to run `command` of this installation from here: by its name when it is on PATH, else by its path
    (`make demo` runs from .venv/bin, which a newcomer's shell does not have on PATH: found by a walk-through)."""
    beside = Path(sys.executable).parent / command
    if shutil.which(command) == str(beside):
        return command
    with contextlib.suppress(ValueError):
        return shlex.quote(str(beside.relative_to(Path.cwd())))
    return shlex.quote(str(beside))


def _sandbox_settings(base_url: str) -> dict[str, Any]:
    """Every Billit setting the demo runs with: the sandbox's address, key and company, the others at their
    defaults.

    All of them, because `configured` only overrides what it is given and the rest would come from BILLIT_* in
    the environment or `.env`: an operator's bearer token next to the sandbox's key is refused (one credential
    only), their key or ContextPartyID would be sent to the sandbox, their rate limit would slow the demo down.
    And with the sandbox's base URL pinned, the sandbox's key is never sent to Billit.
    """
    from connectors.billit import BillitSettings
    from sandbox.identity import API_KEY, PARTY_ID

    defaults = {
        name: field.get_default(call_default_factory=True) for name, field in BillitSettings.model_fields.items()
    }
    return defaults | {"base_url": base_url, "api_key": API_KEY, "bearer_token": None, "party_id": PARTY_ID}


def _print_command(command: str) -> None:
    """A command on a line of its own, never wrapped (soft_wrap), so that it can be copied whole."""
    console.print(f"  {command}", soft_wrap=True, markup=False, highlight=False)


def _print_pushed() -> None:
    columns = ("external_id", "status", "billit order", "delivery", "last error")
    console.print(data_table("outbound_invoices joined to invoices", columns, pushed_invoices(warehouse_engine())))
