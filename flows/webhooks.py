"""Stored Billit webhook events applied on Prefect workers: what `billit-etl webhooks apply` does, as a flow.

The receiver (`billit-etl webhooks serve`) applies events as they come; this flow is for scale (the receiver run
with `--no-apply`, the work done by workers) and the safety net of the receiver's applier (a deployment every
minute). Claims keep two appliers from fetching an order for the same events (tasks/inbound/webhook_events.py).
"""

from __future__ import annotations

from typing import Any

from prefect import flow

from tasks.prefect_tasks import apply_webhook_events, prepare_warehouse


@flow(name="webhook-events-to-warehouse")
def webhook_events_to_warehouse() -> dict[str, Any]:
    """Apply the stored Billit webhook events that are due; the counts by outcome. The warehouse is the worker's
    WAREHOUSE_URL, never a parameter: a password in it would show in the Prefect UI (found from the outside)."""
    prepare_warehouse()
    return apply_webhook_events()
