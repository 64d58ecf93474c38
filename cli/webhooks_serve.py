"""`billit-etl webhooks serve` and `webhooks apply`: the webhook receiver, and applying what it stored.

`serve` runs the receiver (tasks/inbound/webhook_app.py) under uvicorn, with the applier in the same process unless
`--no-apply`; Ctrl-C or SIGTERM stops it gracefully (the calls in flight are answered, the applier's round ends
with its claims released or recorded). `apply` applies the stored events once and exits, for cron or Prefect
(flows/webhooks.py). Operator mistakes (no secret configured, the port in use, a bad warehouse URL or Billit
settings) are one red line before anything listens. Running it behind a reverse proxy: docs/operations.md#webhooks.
"""

from __future__ import annotations

import contextlib
import logging
import signal
from typing import Annotated

import typer

from cli.app import OperatorMistake, WarehouseOption, clear_errors, console, listen, webhooks_app
from cli.preflight import preflight

#: Why the receiver refuses a warehouse that does not exist: events stored in a new file that a mistyped path made
#: would keep the warehouse the dashboards read behind until its next sync, with nothing to show it.
WEBHOOKS_KEEP_A_WAREHOUSE = (
    "the receiver keeps an existing warehouse up to date: a sync or billit-etl db upgrade makes it"
)


@webhooks_app.command("serve")
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on (loopback: put a TLS reverse proxy in front).")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")] = 8787,
    warehouse_url: WarehouseOption = None,
    no_apply: Annotated[
        bool, typer.Option("--no-apply", help="Only store the events (apply them with `webhooks apply` or the flow).")
    ] = False,
    max_body_kb: Annotated[int, typer.Option(min=1, max=10_240, help="Largest body accepted, in KiB (413 beyond).")] = (
        256
    ),
    max_requests_per_s: Annotated[
        float,
        typer.Option(
            min=0.1,
            help="Refused calls a second allowed per client address before they get 429; "
            "verified events (new or replayed) are never refused for rate.",
        ),
    ] = 50.0,
    forwarded_allow_ips: Annotated[
        str,
        typer.Option(
            help="Proxies whose X-Forwarded-For names the client (the rate limit is per client address); comma-"
            "separated, '*' for any."
        ),
    ] = "127.0.0.1",
) -> None:
    """Receive Billit's webhooks: verify, store in the warehouse, answer, and apply the changes within seconds."""
    with clear_errors(warehouse_url):
        import uvicorn

        from tasks.inbound.webhook_app import create_app
        from tasks.runtime import billit_settings, load_webhook_secrets

        engine = preflight(billit=not no_apply, existing=WEBHOOKS_KEEP_A_WAREHOUSE)
        secrets = load_webhook_secrets()
        if not secrets:
            raise OperatorMistake(
                "no webhook secret is configured: run billit-etl webhooks register --url https://... first (it keeps "
                "the secrets in BILLIT_WEBHOOK_SECRETS or the Prefect Secret block billit-webhook-secrets)"
            )
        applier = None
        if not no_apply:
            from tasks.inbound.webhook_apply import EventApplier

            # No BILLIT_PARTY_ID needed: every URL `webhooks register` gives Billit names its company, so one
            # receiver serves every company of the key; an event naming none fails alone, with that reason.
            applier = EventApplier(engine, billit_settings())
        listening = listen(host, port)
        _log_to_console()
        app = create_app(
            engine,
            load_webhook_secrets,
            applier=applier,
            max_body_bytes=max_body_kb * 1024,
            max_requests_per_s=max_requests_per_s,
        )
        console.print(
            f"receiving Billit webhooks on http://{host}:{port}/ ({len(secrets)} webhook secret(s); "
            + ("storing only" if no_apply else "applying as they come")
            + ")"
        )
        config = uvicorn.Config(
            app,
            lifespan="on",
            log_level="warning",
            access_log=False,
            proxy_headers=True,
            forwarded_allow_ips=forwarded_allow_ips,
            timeout_graceful_shutdown=10,
        )
        # uvicorn stops gracefully on SIGTERM and then ends by it, as a stopped server should: not billit-etl's
        # handler, which makes a stopped command's work an "interrupted" line (cli/main.py).
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C: uvicorn stopped gracefully, then raised it again
            uvicorn.Server(config).run(sockets=[listening])


@webhooks_app.command("apply")
def apply(warehouse_url: WarehouseOption = None) -> None:
    """Apply the stored webhook events that are due, once, then exit (for cron; the receiver does it as they come)."""
    with clear_errors(warehouse_url):
        from tasks.inbound.webhook_apply import apply_stored_events

        engine = preflight(billit=True, existing=WEBHOOKS_KEEP_A_WAREHOUSE)
        summary = apply_stored_events(engine=engine)
    done = ", ".join(f"{count} {status}" for status, count in summary["events"].items()) or "nothing due"
    console.print(f"webhook events: {done} ({summary['orders']} orders fetched); {summary['waiting']} wait for a retry")


def _log_to_console() -> None:
    """The receiver's one-line records (refusals, applies) on stderr, with the time."""
    logger = logging.getLogger("billit.webhooks")
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
