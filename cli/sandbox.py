"""`billit-etl sandbox serve`: the bundled Billit sandbox, with its faults, quirks and clock."""

from __future__ import annotations

import time
from typing import Annotated

import typer

from cli.app import clear_errors, console, sandbox_app


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
    modify_during_paging: Annotated[int, typer.Option(help="Orders modified before each list request.")] = 0,
    delivery_delay_s: Annotated[float, typer.Option(help="Seconds from send to Delivered/Error.")] = 0.5,
    refuse_or: Annotated[bool, typer.Option(help="Answer `or`/parentheses in $filter with 400 InvalidFilter.")] = False,
    refuse_gt: Annotated[bool, typer.Option(help="Answer `gt`/`lt` in $filter with 400 InvalidFilter.")] = False,
    ignore_inlinecount: Annotated[bool, typer.Option(help="Ignore $inlinecount=allpages (no Count).")] = False,
    deleted_ignores_filter: Annotated[
        bool, typer.Option(help="/v1/orders/deleted ignores $filter (every deleted order, both directions).")
    ] = False,
    deleted_last_modified: Annotated[
        str, typer.Option(help="LastModified on /v1/orders/deleted: `deletion` time or the `order`'s last change.")
    ] = "deletion",
    fraction_digits: Annotated[
        int, typer.Option(min=6, max=7, help="Fraction digits of timestamps (7 = .NET's 100 ns, as Billit writes).")
    ] = 6,
    next_link_host: Annotated[
        str | None, typer.Option(help="Scheme and host NextPageLink names, e.g. http://billit-internal:8080.")
    ] = None,
    clock_utc: Annotated[
        str | None, typer.Option(help="Run a simulated Brussels clock from this UTC instant, e.g. 2026-10-25T00:45:00.")
    ] = None,
    clock_speed: Annotated[
        float, typer.Option(min=0.0, help="Simulated seconds per real second (with --clock-utc; 0 freezes it).")
    ] = 1.0,
) -> None:
    """Serve the sandbox until interrupted. Api key `sandbox-api-key`; companies 574991 and 574992."""
    from sandbox.clock import SimulatedBrusselsClock
    from sandbox.faults import Faults
    from sandbox.identity import API_KEY, PARTY_ID, SECOND_PARTY_ID
    from sandbox.quirks import Quirks
    from sandbox.server import serve
    from sandbox.store import Sandbox

    faults = Faults(
        latency_ms=latency_ms,
        rate_429=fault_429,
        retry_after_s=retry_after_s,
        rate_5xx=fault_5xx,
        rate_drop=fault_drop,
        rate_post_commit_drop=fault_post_commit_drop,
        modify_during_paging=modify_during_paging,
        seed=seed,
    )
    try:
        quirks = Quirks(
            refuse_or=refuse_or,
            refuse_gt=refuse_gt,
            ignore_inlinecount=ignore_inlinecount,
            deleted_ignores_filter=deleted_ignores_filter,
            deleted_last_modified=deleted_last_modified,
            fraction_digits=fraction_digits,
            next_link_host=next_link_host,
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    try:
        clock = SimulatedBrusselsClock(clock_utc, clock_speed) if clock_utc is not None else None
    except ValueError as exc:
        raise typer.BadParameter(f"--clock-utc: {exc}") from None
    started = time.perf_counter()
    sandbox = Sandbox(
        seed=seed, orders=orders, faults=faults, delivery_delay_s=delivery_delay_s, quirks=quirks, clock=clock
    )
    console.print(
        f"[bold]Billit sandbox[/] on http://{host}:{port} — {orders} orders (seed {seed}) generated in "
        f"{time.perf_counter() - started:.1f}s; ApiKey {API_KEY}, PartyID {PARTY_ID} or {SECOND_PARTY_ID}; "
        f"faults, quirks, clock: GET/PUT http://{host}:{port}/_sandbox/faults|quirks|clock"
    )
    with clear_errors():
        serve(sandbox, host=host, port=port)
