"""The raw Peppol inbox of the sandbox: ``GET /v1/peppol/inbox`` plus confirm/refuse
(docs/reference/billit-api.md#peppol-inbox).

The inbox model hands out received documents as raw UBL, at most the **10 oldest** unconfirmed items per
call; confirming (or refusing) an item removes it. The sandbox fills each company's inbox from its seeded
books: the most recent purchases received via Peppol (their ``.xml`` attachment is the SBDH-wrapped UBL served
by ``GET /v1/files/{PeppolFileID}``) and the IMR responses received for recent sales.
"""

from __future__ import annotations

from typing import Any, Protocol

from sandbox.book import Order
from sandbox.errors import ApiError
from sandbox.peppol import party_peppol_ids

__all__ = ["INBOX_PAGE", "SandboxForInbox", "inbox_page", "remove_inbox_item", "seed_inbox"]


class SandboxForInbox(Protocol):
    """What the inbox uses of ``store.Sandbox``: store.py seeds the inbox, so this module names the members it
    needs instead of importing the store (no import circle, not even for typing)."""

    companies: dict[int, dict[str, Any]]
    inbox: dict[int, dict[int, dict[str, Any]]]

    def company_orders(self, company_id: int, *, deleted: bool = False) -> dict[int, Order]: ...


INBOX_PAGE = 10
_INVOICE_TYPE = (
    "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2::Invoice##urn:cen.eu:en16931:2017#compliant"
    "#urn:fdc:peppol.eu:2017:poacc:billing:3.0::2.1"
)
_CREDIT_NOTE_TYPE = (
    "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2::CreditNote##urn:cen.eu:en16931:2017#compliant"
    "#urn:fdc:peppol.eu:2017:poacc:billing:3.0::2.1"
)


def _receiver_ids(sandbox: SandboxForInbox, company_id: int) -> tuple[str, str]:
    company = sandbox.companies[company_id]
    vat = str(company.get("VATNumber", ""))
    return f"9925:{vat}", vat


def seed_inbox(sandbox: SandboxForInbox, per_company: int = 15) -> None:
    """Fill each company's inbox with its latest Peppol purchases and received IMRs (not yet confirmed)."""
    next_id = 69_790
    for company_id in sandbox.companies:
        receiver_peppol, receiver_vat = _receiver_ids(sandbox, company_id)
        orders = sorted(sandbox.company_orders(company_id).values(), key=lambda o: (o["Created"], o["OrderID"]))
        items: list[dict[str, Any]] = []
        purchases = [o for o in orders if o.get("ExternalProvider") == "Peppol" and o.get("Attachments")]
        for order in purchases[-per_company:]:
            sender = next(iter(party_peppol_ids(order.get("Supplier") or {})), "")
            kind = _CREDIT_NOTE_TYPE if order.get("OrderType") == "CreditNote" else _INVOICE_TYPE
            items.append(_item(sender, kind, receiver_peppol, receiver_vat, order["Created"], _xml_file(order)))
        for order in orders[-per_company * 4 :]:
            for message in order.get("Messages", []):
                if message.get("MessageDirection") == "Incoming" and "FileID" in message:
                    created = message["CreationDate"]
                    items.append(
                        _item(
                            message.get("Destination", ""),
                            "IMR",
                            receiver_peppol,
                            receiver_vat,
                            created,
                            message["FileID"],
                        )
                    )
        items.sort(key=lambda item: item["CreationDate"])
        for item in items:
            next_id += 1
            item["InboxItemID"] = next_id
            # Reorder so the id comes first, as in the docs' example.
            sandbox.inbox[company_id][next_id] = {"InboxItemID": next_id, **item}


def _xml_file(order: Order) -> str:
    for attachment in order.get("Attachments", []):
        if str(attachment.get("FileName", "")).lower().endswith(".xml"):
            return str(attachment["FileID"])
    return str(order["Attachments"][0]["FileID"])


def _item(sender: str, doc_type: str, receiver: str, receiver_vat: str, created: Any, file_id: str) -> dict[str, Any]:
    return {
        "SenderPeppolID": sender,
        "PeppolDocumentType": doc_type,
        "ReceiverPeppolID": receiver,
        "ReceiverCompanyID": receiver_vat,
        "CreationDate": created,
        "PeppolFileID": file_id,
    }


def inbox_page(sandbox: SandboxForInbox, company_id: int, receiver_company_id: str | None = None) -> dict[str, Any]:
    """The ``{"InboxItems": [...]}`` body: the 10 oldest unconfirmed items."""
    items = list(sandbox.inbox[company_id].values())
    if receiver_company_id:
        items = [item for item in items if item["ReceiverCompanyID"] == receiver_company_id]
    items.sort(key=lambda item: (item["CreationDate"], item["InboxItemID"]))
    return {"InboxItems": items[:INBOX_PAGE]}


def remove_inbox_item(sandbox: SandboxForInbox, company_id: int, item_id: int) -> None:
    """Confirm or refuse an item: it leaves the queue (401 for another company's item, 404 if unknown)."""
    if sandbox.inbox[company_id].pop(item_id, None) is not None:
        return
    if any(item_id in items for items in sandbox.inbox.values()):
        raise ApiError(401)
    raise ApiError(404, [("GenericError", f"Inbox item {item_id} was not found.")])
