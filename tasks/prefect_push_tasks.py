"""The Prefect tasks of the push flow (`flows/push.py`): thin wrappers around `tasks.outbound`.

Apart from `tasks.prefect_tasks` so that a sync's flow runs (every company's, in a fan-out) do not import the
reverse flow and its spreadsheet reader: ~0.3 s of CPU and 6 MB a process (bench/README.md#fan-out).
"""

from __future__ import annotations

import logging
from typing import Any

from prefect import task
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from tasks.outbound.push import PushOptions
from tasks.outbound.report import SOURCE_COUNTS, problems_markdown, push_invoices
from tasks.outbound.source import OutboundSourceError, take_in_source
from tasks.runtime import billit_api_slots, warehouse_engine

logger = logging.getLogger("billit_pipelines.push")


@task(name="take-in-outbound-source")
def take_in_outbound_source(source: str, dry_run: bool = False) -> dict[str, Any]:
    """Take the rows of the source's invoices and lines queries into outbound_invoices; refuse a bad source."""
    try:
        return take_in_source(warehouse_engine(), source, dry_run=dry_run)
    except OutboundSourceError as exc:
        # An operator's mistake, not a crash: the flow ends Failed with this line, before anything is pushed.
        logger.error("%s", exc)
        return {"refused": str(exc)}


@task(name="push-outbound-invoices")
def push_outbound_invoices(
    limit: int | None = None,
    send: bool = False,
    transport: str = "Peppol",
    dry_run: bool = False,
    taken: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Create (and optionally send) the pending outbound_invoices rows in Billit, exactly once."""
    with billit_api_slots():
        return push_invoices(PushOptions(limit=limit, send=send, transport=transport, dry_run=dry_run), taken=taken)


@task(name="report-push")
def report_push(summary: dict[str, Any]) -> None:
    """Log the push counts and publish them, and the rows that need a person, as Prefect artifacts."""
    logger.info(
        "push%s: %s considered, %s created, %s already existed, %s sent, %s rejected %s, %s failed",
        " (dry run)" if summary["dry_run"] else "",
        summary["considered"],
        summary["created"],
        summary["already_existed"],
        summary["sent"],
        summary["rejected"],
        summary["rejected_by_reason"],
        summary["failed"],
    )
    rows = [
        {"outcome": key, "rows": value}
        for key, value in summary.items()
        if key in ("considered", "created", "already_existed", "sent", "rejected", "failed")
    ]
    rows += [
        {"outcome": f"rejected: {reason}", "rows": count} for reason, count in summary["rejected_by_reason"].items()
    ]
    rows += [
        {"outcome": f"not sent: {reason}", "rows": count} for reason, count in summary["not_sent_by_reason"].items()
    ]
    if summary.get("waiting"):  # credit notes whose invoice is not in Billit: pending until it is
        rows += [{"outcome": "waiting for their invoice", "rows": summary["waiting"]}]
    if taken := summary.get("source"):
        rows += [{"outcome": f"source: {key.replace('_', ' ')}", "rows": taken[key]} for key in SOURCE_COUNTS]
    create_table_artifact(key="billit-push-summary", table=rows, description="warehouse -> Billit push")
    create_markdown_artifact(
        key="billit-push-problems",
        markdown=problems_markdown(summary),
        description="rows rejected, failed or changed after create in this push",
    )
