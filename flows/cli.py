"""`billit-etl`: the command line of billit-pipelines (typer)."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from decimal import Decimal
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from connectors.billit import BillitClient, ODataQuery, PagingStats, load_settings, prop

app = typer.Typer(help="Keep a SQL warehouse in step with Billit, and push invoices back.", no_args_is_help=True)
sandbox_app = typer.Typer(help="The bundled Billit sandbox server.", no_args_is_help=True)
app.add_typer(sandbox_app, name="sandbox")
console = Console()

SANDBOX_API_KEY = "sandbox-api-key"
SANDBOX_PARTY_ID = 574991


@sandbox_app.command("serve")
def sandbox_serve(
    host: Annotated[str, typer.Option(help="Interface to listen on (loopback by default).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8765,
    seed: Annotated[int, typer.Option(help="Seed of the generated books (same seed, same data).")] = 1,
    orders: Annotated[int, typer.Option(help="Orders to generate across both companies.")] = 2000,
    latency_ms: Annotated[float, typer.Option(help="Latency added to every /v1 request.")] = 0.0,
    fault_429: Annotated[float, typer.Option(help="Share of requests answered 429 (opens a window).")] = 0.0,
    retry_after_s: Annotated[float, typer.Option(help="Retry-After of injected 429s, in seconds.")] = 1.0,
    fault_5xx: Annotated[float, typer.Option(help="Share of requests answered 500/502/503.")] = 0.0,
    fault_drop: Annotated[float, typer.Option(help="Share of requests whose connection is dropped.")] = 0.0,
    fault_post_commit_drop: Annotated[
        float, typer.Option(help="Share of POST /v1/orders that commit, then drop the connection.")
    ] = 0.0,
    modify_during_paging: Annotated[
        int, typer.Option(help="Orders modified before each list page with $skip > 0.")
    ] = 0,
    delivery_delay_s: Annotated[float, typer.Option(help="Seconds from send to Delivered/Error.")] = 0.5,
) -> None:
    """Serve the sandbox until interrupted. Api key `sandbox-api-key`; companies 574991 and 574992."""
    from connectors.billit.sandbox.faults import Faults
    from connectors.billit.sandbox.server import serve
    from connectors.billit.sandbox.store import Sandbox

    faults = Faults(
        latency_ms=latency_ms, rate_429=fault_429, retry_after_s=retry_after_s, rate_5xx=fault_5xx,
        rate_drop=fault_drop, rate_post_commit_drop=fault_post_commit_drop,
        modify_during_paging=modify_during_paging, seed=seed,
    )
    started = time.perf_counter()
    sandbox = Sandbox(seed=seed, orders=orders, faults=faults, delivery_delay_s=delivery_delay_s)
    console.print(
        f"[bold]Billit sandbox[/] on http://{host}:{port} — {orders} orders (seed {seed}) generated in "
        f"{time.perf_counter() - started:.1f}s; ApiKey {SANDBOX_API_KEY}, PartyID 574991 or 574992; "
        f"faults: GET/PUT http://{host}:{port}/_sandbox/faults"
    )
    serve(sandbox, host=host, port=port)


@app.command()
def demo(
    orders: Annotated[int, typer.Option(help="Orders in the sandbox.")] = 2000,
) -> None:
    """Start the sandbox and run an extraction smoke through the Billit client (flows arrive with issue 3)."""
    from connectors.billit.sandbox.server import SandboxServer
    from connectors.billit.sandbox.store import Sandbox

    with SandboxServer(Sandbox(seed=1, orders=orders)) as server:
        console.print(f"Sandbox on {server.base_url} with {orders} orders")
        summary = asyncio.run(_extraction_smoke(server.base_url))
    table = Table(title="Purchase documents (OrderDirection eq 'Cost') extracted from the sandbox")
    for column in ("order type", "currency", "orders", "total incl."):
        table.add_column(column, justify="right" if column in ("orders", "total incl.") else "left")
    for (order_type, currency), (count, total) in sorted(summary["groups"].items()):
        table.add_row(order_type, currency, str(count), f"{total:,.2f}")
    console.print(table)
    console.print(
        f"{summary['orders']} orders, {summary['lines']} lines in {summary['pages']} list pages and "
        f"{summary['requests']} requests, {summary['seconds']:.2f}s"
    )


async def _extraction_smoke(base_url: str) -> dict[str, object]:
    settings = load_settings(base_url=base_url, api_key=SANDBOX_API_KEY, party_id=SANDBOX_PARTY_ID)
    started = time.perf_counter()
    stats = PagingStats()
    query = ODataQuery(filter=prop("OrderDirection").eq("Cost"), orderby=(("LastModified", "asc"),))
    groups: dict[tuple[str, str], tuple[int, Decimal]] = {}
    lines = Counter[str]()
    async with BillitClient(settings) as billit:
        async for page in billit.iter_order_pages(query, stats=stats):
            for order in await billit.get_orders([item["OrderID"] for item in page]):
                key = (order["OrderType"], order.get("Currency", "EUR"))
                count, total = groups.get(key, (0, Decimal(0)))
                groups[key] = (count + 1, total + order["TotalIncl"])
                lines["lines"] += len(order.get("OrderLines", []))
        requests = billit.requests_sent
    return {
        "orders": stats.records, "pages": stats.pages, "lines": lines["lines"], "groups": groups,
        "requests": requests, "seconds": time.perf_counter() - started,
    }
