"""Step 5 of the push (tasks/outbound/push.py), when asked: send the created orders.

Customers not on Peppol stay `created` with the reason; the others are sent in batches per company, an order
Billit already shows as sent is recorded rather than sent twice, an order that differs from its row (the row edited
in the table after the create) is flagged instead of sent, and a refused batch is retried order by order to find
the culprit.
"""

from __future__ import annotations

import asyncio
from typing import Any

import sqlalchemy as sa

from connectors.billit import BillitClient, BillitError, BillitHTTPError, BillitValidationError
from tasks.normalise.identifiers import normalise_identifier, normalise_vat_number
from tasks.outbound import claims
from tasks.outbound.companies import CompanyClients
from tasks.outbound.payload import idempotency_key, lines_differing, order_payload
from tasks.outbound.run import PushOptions, PushSummary, warehouse_call

SEND_BATCH = 50
NOT_ON_PEPPOL = "TheCustomerIsNotActiveOnPeppol"


async def send_created(
    clients: CompanyClients, engine: sa.Engine, summary: PushSummary, options: PushOptions, run_id: str
) -> None:
    rows = await warehouse_call(claims.claim_sendable, engine, run_id, options.limit)
    lines = await warehouse_call(claims.lines_of, engine, [row["external_id"] for row in rows]) if rows else {}
    if held := await warehouse_call(claims.held_back, engine):  # the source changed: sending would send the old
        summary.not_sent[claims.CHANGED_AFTER_CREATE] += held
        summary.send_failed += held  # exit 1 on every run until a person decides, not on the first one only
    sendable: list[dict[str, Any]] = []
    outcomes: list[dict[str, Any]] = []
    for row in rows:
        if (moved := _company_changed_after_create(clients, row)) is not None:  # on every run until a person decides
            outcomes += _not_sent_because([row], claims.COMPANY_CHANGED_AFTER_CREATE, moved, summary)
            continue
        try:
            reason = await _not_sendable(clients, row, options)
        except BillitError as exc:  # the lookup failed: this row waits for the next run, the others go on
            outcomes += _not_sent([row], exc, summary)
            continue
        if reason is None:
            sendable.append(row)
        else:
            summary.not_sent[NOT_ON_PEPPOL] += 1
            outcomes.append(_left_created(row, NOT_ON_PEPPOL, reason))
    # A send names orders of the request's company only (docs/reference/billit-api.md#sending): batches per company.
    by_company: dict[int, list[dict[str, Any]]] = {}
    for row in sendable:
        by_company.setdefault(clients.order_company_of(row), []).append(row)
    for company, rows_of_company in by_company.items():
        billit = await clients.client_of(company)
        for start in range(0, len(rows_of_company), SEND_BATCH):
            batch = rows_of_company[start : start + SEND_BATCH]
            outcomes += await _send_batch(billit, batch, lines, summary, options)
    await warehouse_call(claims.write_outcomes, engine, outcomes, run_id)


def _company_changed_after_create(clients: CompanyClients, row: dict[str, Any]) -> str | None:
    """Why a created row whose company_id was changed since (an UPDATE of the table) is not sent, or None. Its order
    stays in the company it was made in; sending it from there, as a person who changed the seller did not ask, or
    from the new one, where Billit does not know it, would both be wrong (found by an outside tester)."""
    made_in, named = clients.order_company_of(row), clients.company_of(row)
    if made_in == named:
        return None
    return (
        f"company_id: {made_in} -> {named} after the order was created in company {made_in} (order "
        f"{row['billit_order_id']}), where it stays: not sent. To send it from {made_in}, set company_id back; to "
        f"invoice from {named}, credit or delete that order and add a new row"
    )


async def _not_sendable(clients: CompanyClients, row: dict[str, Any], options: PushOptions) -> str | None:
    if not options.check_participants or options.transport != "Peppol":
        return None
    billit = await clients.client_of(clients.order_company_of(row))
    candidates = []
    if value := row.get("customer_enterprise_number"):
        candidates.append(normalise_identifier("CBE", value).peppol_id)
    if value := row.get("customer_vat_number"):
        candidates.append(normalise_vat_number(value, country_hint=row.get("customer_country_code")).peppol_id)
    if value := row.get("customer_gln"):
        candidates.append(normalise_identifier("GLN", value).peppol_id)
    for peppol_id in filter(None, candidates):
        answer = await billit.participant_information(peppol_id)
        if answer.get("Registered") and any("Invoice" in str(kind) for kind in answer.get("DocumentTypes", [])):
            return None
    return "the customer is not registered on Peppol for invoices (participantInformation)"


async def _send_batch(
    billit: BillitClient,
    rows: list[dict[str, Any]],
    lines: dict[str, list[dict[str, Any]]],
    summary: PushSummary,
    options: PushOptions,
) -> list[dict[str, Any]]:
    # Never send twice: an order Billit already shows as sent (an earlier send whose answer was lost) is recorded.
    # Only the send's traces are read, so a stray byte in a name is no reason to stop
    # (docs/reference/billit-api.md#encoding).
    orders = await asyncio.gather(
        *(billit.get_order(row["billit_order_id"], replace_bad_bytes=True) for row in rows), return_exceptions=True
    )
    outcomes, to_send = [], []
    for row, order in zip(rows, orders, strict=True):
        if isinstance(order, BillitError):  # not readable now: this row waits for the next run, the others go on
            outcomes += _not_sent([row], order, summary)
        elif isinstance(order, BaseException):
            raise order
        elif _already_sent(order):
            summary.sent += 1
            outcomes.append(_sent(row))
        elif (difference := _differs_from_row(row, lines.get(row["external_id"], []), order)) is not None:
            summary.differs_in_billit += 1
            outcomes.append(_flagged(row, order, difference))
        else:
            to_send.append(row)
    if not to_send:
        return outcomes
    try:
        await billit.send_orders(
            [row["billit_order_id"] for row in to_send], transport_type=options.transport, strict_transport=True
        )
    except BillitError as exc:
        if isinstance(exc, BillitValidationError) and len(to_send) > 1:
            # Billit validates every id before sending any: find the refused ones one by one.
            for row in to_send:
                outcomes += await _send_batch(billit, [row], lines, summary, options)
            return outcomes
        return outcomes + _not_sent(to_send, exc, summary)
    summary.sent += len(to_send)
    return outcomes + [_sent(row) for row in to_send]


def _differs_from_row(row: dict[str, Any], lines: list[dict[str, Any]], order: dict[str, Any]) -> str | None:
    """How the order differs from its row now: its lines' amounts (`lines_differing`, as the push's check of an
    order found in Billit, tasks/outbound/existing.py), or the key of the create that made it (a hash of all it
    sent, the header included) against the row's now. Found from the outside: a row edited in the table after its
    create (only load-outbound and --source flag such a change) was sent with the old values. None: it is the row's.
    """
    try:
        payload = order_payload(row, lines)
    except (KeyError, TypeError, ValueError) as exc:  # edited into a row no create could be made from
        return f"the row no longer makes an order ({exc})"
    if (difference := lines_differing(payload, order)) is not None:
        return f"it holds other lines than the row: {difference}"
    if row.get("idempotency_key") not in (None, idempotency_key(payload)):
        return "the row was changed after the create"
    return None


def _flagged(row: dict[str, Any], order: dict[str, Any], difference: str) -> dict[str, Any]:
    """Left created, not sent, flagged as the push flags an order that differs from its row."""
    reason = (
        f"order {order['OrderID']} not sent: {difference}; make the row match the order in Billit again (then "
        "set changed_after_create to false), or credit the order"
    )
    flag = {"changed_after_create": True, "change_reason": reason, "change_noticed_at": claims.utc_now()}
    return _left_created(row, claims.ORDER_DIFFERS, reason) | flag


def _already_sent(order: dict[str, Any]) -> bool:
    """Whether Billit shows a send of the order: `IsSent`, or, should that flag lag behind (when it flips is not
    documented), a delivery under way or done, or an outgoing transport message
    (docs/reference/billit-api.md#delivery-status). Found against an independent simulator: with IsSent late, a
    send whose answer was lost was sent again."""
    delivery = order.get("CurrentDocumentDeliveryDetails")
    messages = order.get("Messages")
    return bool(
        order.get("IsSent")
        or (
            isinstance(delivery, dict)
            and (delivery.get("DocumentDeliveryStatus") or delivery.get("IsDocumentDelivered"))
        )
        or (
            isinstance(messages, list)
            and any(isinstance(m, dict) and m.get("MessageDirection") == "Outgoing" for m in messages)
        )
    )


def _not_sent(rows: list[dict[str, Any]], exc: BillitError, summary: PushSummary) -> list[dict[str, Any]]:
    """Left `created` with Billit's reason: a later run with --send tries again (never twice: see above)."""
    code = exc.codes[0] if isinstance(exc, BillitHTTPError) and exc.codes else type(exc).__name__
    return _not_sent_because(rows, code, str(exc), summary)


def _not_sent_because(rows: list[dict[str, Any]], code: str, reason: str, summary: PushSummary) -> list[dict[str, Any]]:
    """Left `created` with `code` and `reason`, counted as not sent: the run exits 1, since an invoice the user asked
    to send is not sent."""
    summary.not_sent[code] += len(rows)
    summary.send_failed += len(rows)
    return [_left_created(row, code, reason) for row in rows]


def _left_created(row: dict[str, Any], code: str, reason: str) -> dict[str, Any]:
    return {"external_id": row["external_id"], "status": "created", "last_error_code": code, "last_error": reason}


def _sent(row: dict[str, Any]) -> dict[str, Any]:
    """A sent row names the company its order is in, as a created one does, whatever an UPDATE of company_id said."""
    company = {"company_id": row["attempted_company_id"]} if row.get("attempted_company_id") is not None else {}
    return {
        "external_id": row["external_id"],
        "status": "sent",
        "sent_at": claims.utc_now(),
        "last_error_code": None,
        "last_error": None,
    } | company
