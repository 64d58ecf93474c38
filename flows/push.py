"""Reverse flow: invoices prepared in the warehouse are created (and optionally sent) in Billit, exactly once."""

from __future__ import annotations

from typing import Any

from prefect import flow

from tasks.sync import prepare_warehouse, push_outbound_invoices, report_push


class PushIncomplete(RuntimeError):
    """Some rows were rejected or failed; their reasons are on the rows (last_error_code, last_error)."""


@flow(name="warehouse-invoices-to-billit")
def warehouse_invoices_to_billit(
    limit: int | None = None, send: bool = False, transport: str = "Peppol", dry_run: bool = False
) -> dict[str, Any]:
    """Push pending outbound_invoices rows to Billit; the run fails when any row was rejected or failed."""
    prepare_warehouse()
    summary = push_outbound_invoices(limit=limit, send=send, transport=transport, dry_run=dry_run)
    report_push(summary)
    if not summary["ok"]:
        raise PushIncomplete(
            f"{summary['rejected']} rejected {summary['rejected_by_reason']}, {summary['failed']} failed; "
            "see outbound_invoices.last_error"
        )
    return summary
