"""Reverse flow: invoices prepared in the warehouse are created (and optionally sent) in Billit, exactly once.

A row rejected or failed is an outcome, not a crash: the run ends `Failed` with one line saying how many and
why (no traceback), and its artifact `billit-push-problems` lists the rows (docs/operations.md#push-outcomes).
The Failed state's data is a `PushIncomplete` carrying the summary, so a caller that asks for the state
(`return_state=True`) still gets the counts, and one that calls the flow directly gets that exception.
"""

from __future__ import annotations

from typing import Any

from prefect import State, flow
from prefect.states import Failed

from connectors.warehouse import WarehouseError
from tasks.outbound.run import PUSH_READS_THE_WAREHOUSE
from tasks.outbound.source import OutboundSourceError
from tasks.prefect_push_tasks import push_outbound_invoices, report_push, take_in_outbound_source
from tasks.prefect_tasks import prepare_warehouse
from tasks.runtime import require_warehouse_file


class PushIncomplete(RuntimeError):
    """Some rows were rejected or failed, or changed after create; `summary` has the counts and the rows."""

    def __init__(self, message: str, summary: dict[str, Any]) -> None:
        super().__init__(message)
        self.summary = summary

    def __reduce__(self) -> tuple[Any, ...]:  # results are pickled
        return type(self), (str(self), self.summary)


@flow(name="warehouse-invoices-to-billit")
def warehouse_invoices_to_billit(
    limit: int | None = None,
    send: bool = False,
    transport: str = "Peppol",
    dry_run: bool = False,
    source: str | None = None,
) -> dict[str, Any] | State[Any]:
    """Take the source queries in (if given), push pending outbound_invoices rows to Billit, report the outcome."""
    try:
        require_warehouse_file(PUSH_READS_THE_WAREHOUSE)
    except WarehouseError as missing:
        return Failed(message=str(missing), data=missing)
    prepare_warehouse(migrate=not dry_run)
    taken = None
    if source is not None:
        taken = take_in_outbound_source(source, dry_run=dry_run)
        if "refused" in taken:
            return Failed(message=taken["refused"], data=OutboundSourceError(taken["refused"]))
    summary = push_outbound_invoices(limit=limit, send=send, transport=transport, dry_run=dry_run, taken=taken)
    report_push(summary)
    if not summary["ok"]:
        return Failed(message=summary["message"], data=PushIncomplete(summary["message"], summary))
    return summary
