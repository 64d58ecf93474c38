"""`billit-etl sandbox serve`: the bundled Billit sandbox, with its companies, faults, quirks and clock."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from cli.app import clear_errors, console, listen, sandbox_app

if TYPE_CHECKING:
    from sandbox.store import Sandbox

_DEFAULT_ORDERS = 2000
_Built = TypeVar("_Built")


def _share(help: str) -> Any:
    """The option of a share of requests or deliveries: a number from 0 to 1."""
    return typer.Option(min=0.0, max=1.0, metavar="<float>", help=help)


def _non_negative(help: str) -> Any:
    """The option of a latency, delay or timeout: never below 0."""
    return typer.Option(min=0.0, metavar="<float>", help=help)


@sandbox_app.command("serve")
def sandbox_serve(
    host: Annotated[str, typer.Option(help="Interface to listen on (loopback by default).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, metavar="<int>", help="TCP port.")] = 8765,
    seed: Annotated[int, typer.Option(help="Seed of the generated books (same seed, same data).")] = 1,
    orders: Annotated[
        int | None,
        typer.Option(
            min=0,
            help=f"Orders to generate ({_DEFAULT_ORDERS} unless --orders-per-company is given): nine tenths for the "
            "first company (all, when it is the only one) and a tenth for every other, so each company past the "
            "second adds a tenth more.",
        ),
    ] = None,
    companies: Annotated[
        int, typer.Option(min=1, help="Companies the key reaches: 574991, 574992, then generated ones.")
    ] = 2,
    orders_per_company: Annotated[
        int | None, typer.Option(min=0, help="Orders to generate for every company (instead of --orders).")
    ] = None,
    api_off_companies: Annotated[
        str | None,
        typer.Option(
            help="PartyIDs with API access off, comma-separated, or `none` (default: the last of 3+ companies)."
        ),
    ] = None,
    api_off_status: Annotated[
        int,
        typer.Option(help="Answer for a company with API access off: 401 (empty), 403 (error body) or 200 (served)."),
    ] = 401,
    account_needs_party_id: Annotated[
        bool, typer.Option(help="Answer accountInformation without PartyID with 400 when the key sees 2+ companies.")
    ] = False,
    account_lists_party_only: Annotated[
        bool,
        typer.Option("--account-lists-party-only", help="accountInformation asked with a PartyID lists it alone."),
    ] = False,
    deleted_order_status: Annotated[
        int, typer.Option(help="Answer for GET of one of the caller's deleted orders: 404 or 401 (empty).")
    ] = 404,
    idempotency_header: Annotated[
        str, typer.Option(help="Idempotency header a create reads: both, Idempotency-Key, Idempotent-Key or none.")
    ] = "both",
    latency_ms: Annotated[float, _non_negative("Latency added to every /v1 request.")] = 0.0,
    fault_429: Annotated[float, _share("Share of requests answered 429 (opens a window).")] = 0.0,
    retry_after_s: Annotated[float, _non_negative("Retry-After of injected 429s, in seconds.")] = 1.0,
    fault_5xx: Annotated[float, _share("Share of requests answered 500/502/503.")] = 0.0,
    fault_drop: Annotated[float, _share("Share of requests whose connection is dropped.")] = 0.0,
    fault_post_commit_drop: Annotated[
        float, _share("Share of POST /v1/orders that commit, then drop the connection.")
    ] = 0.0,
    modify_during_paging: Annotated[int, typer.Option(min=0, help="Orders modified before each list request.")] = 0,
    rate_limit: Annotated[
        float, typer.Option(min=0.0, help="Requests a second the server accepts; beyond, 429 Retry-After 1 (0 = none).")
    ] = 0.0,
    rate_limit_mode: Annotated[
        str, typer.Option(help="How the limit counts: `fixed` 1-second windows, `sliding` window, token `bucket`.")
    ] = "fixed",
    delivery_delay_s: Annotated[float, _non_negative("Seconds from send to Delivered/Error.")] = 0.5,
    refuse_or: Annotated[bool, typer.Option(help="Answer `or`/parentheses in $filter with 400 InvalidFilter.")] = False,
    refuse_gt: Annotated[bool, typer.Option(help="Answer `gt`/`lt` in $filter with 400 InvalidFilter.")] = False,
    ignore_inlinecount: Annotated[bool, typer.Option(help="Ignore $inlinecount=allpages (no Count).")] = False,
    deleted_ignores_filter: Annotated[
        bool, typer.Option(help="/v1/orders/deleted ignores $filter (every deleted order, both directions).")
    ] = False,
    deleted_refuses_filter: Annotated[
        bool, typer.Option(help="/v1/orders/deleted answers any $filter with 400.")
    ] = False,
    deleted_page_without_link: Annotated[
        bool,
        typer.Option(
            "--deleted-page-without-link", help="/v1/orders/deleted answers one page of 120 and no NextPageLink."
        ),
    ] = False,
    deleted_items_bare: Annotated[
        bool, typer.Option("--deleted-items-bare", help="/v1/orders/deleted items hold OrderID and LastModified only.")
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
    member_case: Annotated[
        str, typer.Option(help="Member names of answers: `pascal` as documented (VATNumber), `camel` or `lower`.")
    ] = "pascal",
    webhook_limit: Annotated[int, typer.Option(help="Webhooks per company: 4 (one doc page) or 20 (another).")] = 4,
    webhook_refresh_method: Annotated[
        str, typer.Option(help="The method /v1/webhooks/refresh/{id} accepts (POST, PUT, GET or PATCH; others 405).")
    ] = "POST",
    webhook_order_shape: Annotated[
        str, typer.Option(help="Order webhook bodies: the Message-like `envelope` or `flat`.")
    ] = "envelope",
    webhook_refusal_shape: Annotated[
        str, typer.Option(help="Refusal Message webhook bodies: the documented `envelope` or the docs' `flat` example.")
    ] = "envelope",
    webhook_retries: Annotated[int, typer.Option(min=0, help="Retries of a failed webhook delivery.")] = 5,
    webhook_backoff_s: Annotated[
        float, _non_negative("Seconds before the first retry of a webhook delivery, doubling each time.")
    ] = 1.0,
    webhook_timeout_s: Annotated[float, _non_negative("Timeout of one webhook delivery attempt.")] = 10.0,
    webhook_drop_rate: Annotated[float, _share("Share of webhook deliveries lost for good.")] = 0.0,
    webhook_down_rate: Annotated[
        float, _share("Share of webhook attempts failing as if the receiver were down (then retried).")
    ] = 0.0,
    webhook_duplicate_rate: Annotated[float, _share("Share of webhook deliveries sent twice.")] = 0.0,
    webhook_delay_ms: Annotated[float, _non_negative("Delay before each webhook delivery's first attempt.")] = 0.0,
    clock_utc: Annotated[
        str | None, typer.Option(help="Run a simulated Brussels clock from this UTC instant, e.g. 2026-10-25T00:45:00.")
    ] = None,
    clock_speed: Annotated[
        float, typer.Option(min=0.0, help="Simulated seconds per real second (with --clock-utc; 0 freezes it).")
    ] = 1.0,
) -> None:
    """Serve the sandbox until interrupted. Api key `sandbox-api-key`; companies 574991, 574992 and --companies."""
    from sandbox.clock import SimulatedBrusselsClock
    from sandbox.faults import Faults
    from sandbox.identity import API_KEY
    from sandbox.quirks import Quirks
    from sandbox.server import serve
    from sandbox.store import Sandbox

    if orders is not None and orders_per_company is not None:
        raise typer.BadParameter("give --orders (shared out) or --orders-per-company, not both")
    # Faults and quirks check their own values, and their messages name the setting; the other errors get the option.
    faults = _checked(
        None,
        lambda: Faults(
            latency_ms=latency_ms, rate_429=fault_429, retry_after_s=retry_after_s, rate_5xx=fault_5xx,
            rate_drop=fault_drop, rate_post_commit_drop=fault_post_commit_drop,
            modify_during_paging=modify_during_paging, seed=seed,
            rate_limit_per_s=rate_limit, rate_limit_mode=rate_limit_mode, webhook_drop_rate=webhook_drop_rate,
            webhook_down_rate=webhook_down_rate, webhook_duplicate_rate=webhook_duplicate_rate,
            webhook_delay_ms=webhook_delay_ms,
        ),
    )  # fmt: skip
    quirks = _checked(
        None,
        lambda: Quirks(
            refuse_or=refuse_or, refuse_gt=refuse_gt, ignore_inlinecount=ignore_inlinecount,
            deleted_ignores_filter=deleted_ignores_filter, deleted_refuses_filter=deleted_refuses_filter,
            deleted_page_without_link=deleted_page_without_link, deleted_last_modified=deleted_last_modified,
            deleted_items_bare=deleted_items_bare,
            fraction_digits=fraction_digits, next_link_host=next_link_host, api_off_status=api_off_status,
            account_needs_party_id=account_needs_party_id, deleted_order_status=deleted_order_status,
            account_lists_party_only=account_lists_party_only,
            idempotency_header=idempotency_header, member_case=member_case,
            webhook_limit=webhook_limit,
            webhook_refresh_method=webhook_refresh_method,
            webhook_order_shape=webhook_order_shape, webhook_refusal_shape=webhook_refusal_shape,
            webhook_retries=webhook_retries, webhook_backoff_s=webhook_backoff_s, webhook_timeout_s=webhook_timeout_s,
        ),
    )  # fmt: skip
    clock = _checked(
        "--clock-utc", lambda: SimulatedBrusselsClock(clock_utc, clock_speed) if clock_utc is not None else None
    )
    api_off = _checked("--api-off-companies", lambda: _hosted(_party_ids(api_off_companies), companies, seed))
    started = time.perf_counter()
    sandbox = _checked(
        "--companies",
        lambda: Sandbox(
            seed=seed, orders=_DEFAULT_ORDERS if orders is None and orders_per_company is None else orders or 0,
            companies=companies, orders_per_company=orders_per_company, api_off=api_off,
            faults=faults, delivery_delay_s=delivery_delay_s, quirks=quirks, clock=clock,
        ),
    )  # fmt: skip
    seconds = time.perf_counter() - started
    with clear_errors():  # a port in use or a host not of this machine: one red line, before the banner
        listening = listen(host, port)
    console.print(
        f"[bold]Billit sandbox[/] on http://{host}:{port} — {len(sandbox.orders)} orders (seed {seed}) over "
        f"{companies} companies generated in {seconds:.1f}s; ApiKey {API_KEY}, {_party_line(sandbox)}; faults, "
        f"quirks, clock, companies: GET/PUT http://{host}:{port}/_sandbox/faults|quirks|clock|companies; webhook "
        f"deliveries: GET http://{host}:{port}/_sandbox/webhooks/deliveries"
    )
    with clear_errors():
        serve(sandbox, listening)


def _checked(option: str | None, build: Callable[[], _Built]) -> _Built:
    """``build()``, with a ``ValueError`` turned into typer's one-line usage error (exit code 2)."""
    try:
        return build()
    except ValueError as exc:
        raise typer.BadParameter(f"{option}: {exc}" if option else str(exc)) from None


def _party_ids(text: str | None) -> list[int] | None:
    if text is None:
        return None
    if text.strip().lower() == "none":
        return []
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ValueError(f"expected PartyIDs separated by commas, or none, not {text!r}") from None


def _hosted(party_ids: list[int] | None, companies: int, seed: int) -> list[int] | None:
    """`party_ids`, checked here (not in the sandbox, whose error would be taken for --companies') to be hosted."""
    from sandbox.account import api_off_companies
    from sandbox.seed.companies import company_roster

    if party_ids is not None:
        api_off_companies([own.party_id for own in company_roster(companies, seed)], party_ids)
    return party_ids


def _party_line(sandbox: Sandbox) -> str:
    ids = sorted(sandbox.companies)
    shown = " or ".join(map(str, ids)) if len(ids) <= 2 else f"{ids[0]}..{ids[-1]}"
    off = f" (API off: {', '.join(map(str, sorted(sandbox.api_off)))})" if sandbox.api_off else ""
    return f"PartyID {shown}{off}"
