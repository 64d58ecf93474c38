"""Orders Billit already holds for an outbound row: found by ExternalProviderID (before every create, and after
an answer that may hide one that committed: tasks/outbound/push.py), and what such an order means for the row."""

from __future__ import annotations

import unicodedata
from typing import Any

from connectors.billit import BillitClient, ODataQuery, prop
from tasks.normalise.identifiers import normalise_vat_number
from tasks.outbound import claims
from tasks.outbound.claims import ORDER_DIFFERS, SEVERAL_ORDERS
from tasks.outbound.payload import lines_differing
from tasks.outbound.run import PushSummary

# Orders read to find one by ExternalProviderID: enough for every case-or-space variant of one id.
FIND_ORDER_MATCHES = 50


class SeveralOrders(Exception):
    """Billit holds more than one order with exactly a row's ExternalProviderID."""

    def __init__(self, external_id: str, order_ids: list[int]) -> None:
        self.external_id, self.order_ids = external_id, order_ids
        super().__init__(
            f"Billit holds {len(order_ids)} orders with ExternalProviderID {external_id!r} "
            f"({', '.join(map(str, order_ids))}): which one is this row's cannot be told, so nothing is created or "
            "sent for it; keep one in Billit (delete or credit the others) and the next push links it"
        )

    def outcome(self, summary: PushSummary) -> dict[str, Any]:
        """`failed` (looked at again by every run, linked once one order is left), naming the orders."""
        summary.failed += 1
        return {
            "external_id": self.external_id,
            "status": "failed",
            "last_error_code": SEVERAL_ORDERS,
            "last_error": str(self),
        }


def created_outcome(external_id: str, order_id: int) -> dict[str, Any]:
    """The outcome of a row whose order Billit holds: created, with the order's id."""
    return {
        "external_id": external_id,
        "status": "created",
        "billit_order_id": order_id,
        "created_at": claims.utc_now(),
        "last_error_code": None,
        "last_error": None,
    }


def found_outcome(
    external_id: str,
    order: dict[str, Any],
    payload: dict[str, Any],
    summary: PushSummary,
    *,
    made_from_other_values: bool = False,
    by_attempt: bool = True,
) -> dict[str, Any]:
    """The outcome of a row whose order Billit already holds: created. An earlier attempt may have made it from
    values the row no longer has (its answer lost, the row corrected since: its type, direction, currency, customer
    or lines' amounts differ, or that attempt's idempotency key, a hash of what it sent, is not this one's): then
    the row says so, in `last_error` and as `changed_after_create`, the run fails, and the order is not sent while
    it is flagged (`claims._sendable`).
    Without `by_attempt` the order was there before the row's first attempt (made by another tool, or before the
    warehouse was restored): compared the same way, and named so."""
    summary.already_existed += 1
    outcome = created_outcome(external_id, int(order["OrderID"]))
    header, lines = header_differing(payload, order), lines_differing(payload, order)
    difference = "; ".join(
        filter(
            None, (header and f"is another document: {header}", lines and f"holds other lines than the row: {lines}")
        )
    )
    if difference or made_from_other_values:
        summary.differs_in_billit += 1
        how = difference or "was made from other values"
        made = (
            "created by an earlier attempt whose answer was lost"
            if by_attempt
            else "found in Billit with this ExternalProviderID before the row's first create (another tool's, or "
            "one this table forgot)"
        )
        what_to_do = (
            "if it is not this row's invoice, give the row another external_id (the order is left alone)"
            if header
            else "check it in Billit: once it is right, set changed_after_create to false to let --send send it "
            "(if you credit it, leave it)"
        )
        reason = f"order {order['OrderID']}, {made}, {how}; {what_to_do}"
        outcome |= {
            "last_error_code": ORDER_DIFFERS,
            "last_error": reason,
            "changed_after_create": True,
            "change_reason": reason,
            "change_noticed_at": claims.utc_now(),
        }
    return outcome


def header_differing(payload: dict[str, Any], order: dict[str, Any]) -> str | None:
    """How an order Billit holds differs from what `payload` would create in what makes it another document: its
    type, direction, currency, date, number (where the row gives one) or customer (by VAT number where both have
    one, else by name), or None. Found by outside checks: an order of another tool with the row's
    ExternalProviderID and lines, but an invoice in USD to another customer (or a purchase, or last year's invoice
    of a subscription), was linked to the row and taken as sent."""
    customer = payload.get("Customer") or {}
    held = order.get("Customer") or order.get("CounterParty") or {}  # a sale's customer; the list's CounterParty
    vat_numbers = [_vat_number(party) for party in (customer, held)]
    pairs = [
        ("OrderType", payload.get("OrderType"), order.get("OrderType")),
        ("OrderDirection", payload.get("OrderDirection"), order.get("OrderDirection")),
        ("Currency", payload.get("Currency") or "EUR", order.get("Currency") or "EUR"),
        ("OrderDate", str(payload.get("OrderDate") or "")[:10], str(order.get("OrderDate") or "")[:10]),
        ("the customer's VATNumber", *vat_numbers)
        if all(vat_numbers)
        else ("the customer's Name", customer.get("Name"), held.get("Name") or held.get("DisplayName")),
    ]
    if payload.get("OrderNumber"):
        pairs.append(("OrderNumber", payload.get("OrderNumber"), order.get("OrderNumber")))
    differing = [
        f"{name} {theirs or 'none'} in Billit, {ours or 'none'} in the row"
        for name, ours, theirs in pairs
        if _plain(ours) != _plain(theirs)
    ]
    return ", ".join(differing) or None


def _vat_number(party: dict[str, Any]) -> str | None:
    """A party's VAT number as the normaliser writes it (`0123456749` and `BE 0123.456.749` are `BE0123456749`)."""
    raw = party.get("VATNumber")
    if not raw:
        return None
    country = party.get("CountryCode")
    return normalise_vat_number(str(raw), country_hint=country if isinstance(country, str) else None).value


def _plain(value: Any) -> str:
    """Compared without case, spaces or punctuation, in any script (`Société` written decomposed or not)."""
    text = unicodedata.normalize("NFKC", str(value)).casefold() if value is not None else ""
    return "".join(char for char in text if char.isalnum())


async def find_order(billit: BillitClient, external_id: str) -> dict[str, Any] | None:
    """The order Billit holds for exactly this ExternalProviderID, in full, or None. Billit's filter ignores case and
    trailing spaces (`CaseTwin-1` finds `casetwin-1`'s order), so the matches are compared exactly here. Billit does
    not enforce uniqueness either (docs/reference/billit-api.md#idempotency): several exact matches raise
    `SeveralOrders`, since which one is the row's cannot be told (taking the oldest tied rows to other orders)."""
    query = ODataQuery(
        filter=prop("ExternalProviderID").eq(external_id), orderby=(("OrderID", "asc"),), top=FIND_ORDER_MATCHES
    )
    page = await billit.list_page(query)
    if not page.items:
        return None
    # The list's items do not carry ExternalProviderID: the full orders do.
    orders = await billit.get_orders([int(item["OrderID"]) for item in page.items])
    exact = [order for order in orders if order.get("ExternalProviderID") == external_id]
    if len(exact) > 1:
        raise SeveralOrders(external_id, [int(order["OrderID"]) for order in exact])
    return exact[0] if exact else None
