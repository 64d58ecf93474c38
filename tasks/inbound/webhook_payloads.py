"""What a webhook call's JSON says: the entity, the update, the order it names and the company; and the body as the
warehouse may keep it (every `Secret` redacted).

Billit documents the Message payload and not the Order one (docs/reference/billit-api.md#webhooks), so every shape
the notes describe is read, and anything else is an event with no order (stored, then `ignored`):

* the envelope `{"UpdatedEntityID", "UpdatedEntityType", "WebhookUpdateTypeTC", "EntityDetail": {...}}`, whose
  detail is, for a Message, `{"OrderMessage": {"OrderID", ...}, "AdditionalMessageInformation": {...}}` or the
  flatter refusal example with `OrderID` directly in it, and for an Order a summary with `OrderID` (else the
  envelope's `UpdatedEntityID` is the order);
* a flat Order object `{"OrderID", "EntityType": "Order", ...}`.

A Message's `UpdatedEntityID` is the message's id, never the order's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

REDACTED = "***"

#: The query parameter `billit-etl webhooks register` adds to the receiver's URL: the PartyID the webhook was
#: registered for. Billit's bodies name no company (docs/reference/billit-api.md#webhooks), and a webhook belongs
#: to one, so the URL Billit calls says whose order an event names.
COMPANY_PARAMETER = "company"


def company_of_url(value: str | None) -> int | None:
    """The PartyID a `company` query value names, or None when absent or not a PartyID."""
    text = (value or "").strip()
    return int(text) if text.isascii() and text.isdigit() and 0 < len(text) <= 18 and int(text) > 0 else None


@dataclass(frozen=True)
class EventFacts:
    """What the store keeps beside the body: each None when the body does not say."""

    entity_type: str | None
    update_type: str | None
    entity_id: str | None
    order_id: int | None
    company_id: int | None
    last_modified: str | None  # the order's LastModified when the body carries it (an Order summary)


def describe_event(body: Any) -> EventFacts:
    """The facts of a parsed webhook body of any known shape; an unknown one names no order."""
    if not isinstance(body, Mapping):
        return EventFacts(None, None, None, None, None, None)
    # Keys in any letter case: Billit writes PascalCase, a .NET or JavaScript serialiser may write camelCase.
    body = _folded(body)
    detail = _folded(body.get("entitydetail"))
    entity_type = _entity(_text(body.get("updatedentitytype") or body.get("entitytype")))
    update_type = _text(body.get("webhookupdatetypetc") or body.get("entityupdatetype") or body.get("updatetype"))
    update_type = update_type.upper() if update_type in ("i", "u", "d") else update_type
    entity_id = _text(body.get("updatedentityid"))
    message = _folded(detail.get("ordermessage"))
    order_id = _id(message.get("orderid")) or _id(detail.get("orderid")) or _id(body.get("orderid"))
    if order_id is None and entity_type == "Order":
        order_id = _id(body.get("updatedentityid"))
    if entity_id is None and order_id is not None and entity_type in (None, "Order"):
        entity_id = str(order_id)
    company_id = _id(body.get("companyid")) or _id(detail.get("companyid"))
    last_modified = detail.get("lastmodified") if entity_type == "Order" else None
    if last_modified is None and entity_type == "Order":
        last_modified = body.get("lastmodified")
    return EventFacts(
        entity_type=entity_type,
        update_type=update_type,
        entity_id=entity_id,
        order_id=order_id,
        company_id=company_id,
        last_modified=last_modified if isinstance(last_modified, str) else None,
    )


def redact_secrets(body: Any) -> Any:
    """The body with the value of every `Secret` key (any case, any depth) replaced: a webhook's secret Billit
    pushes in a body must never reach the warehouse. Iterative, so no nesting the JSON parser accepted is too deep."""
    if not isinstance(body, Mapping | list):
        return body
    root: list[Any] = [None]
    stack: list[tuple[Any, Any, Any]] = [(body, root, 0)]
    while stack:
        value, parent, slot = stack.pop()
        if isinstance(value, Mapping):
            copy: dict[Any, Any] = {}
            for key, item in value.items():
                if isinstance(key, str) and key.lower() == "secret":
                    copy[key] = REDACTED
                else:
                    copy[key] = None
                    stack.append((item, copy, key))
            parent[slot] = copy
        elif isinstance(value, list):
            items: list[Any] = [None] * len(value)
            stack.extend((item, items, index) for index, item in enumerate(value))
            parent[slot] = items
        else:
            parent[slot] = value
    return root[0]


def _folded(value: Any) -> dict[str, Any]:
    """A JSON object with its keys in lower case (the first of two keys differing only in case wins); {} else."""
    if not isinstance(value, Mapping):
        return {}
    folded: dict[str, Any] = {}
    for key, item in value.items():
        if isinstance(key, str):
            folded.setdefault(key.lower(), item)
    return folded


def _entity(value: str | None) -> str | None:
    """`Order` or `Message` in Billit's spelling whatever the case; anything else as it came."""
    return {"order": "Order", "message": "Message"}.get(value.lower(), value) if value is not None else None


#: The largest id a BIGINT column holds: a larger "id" names no order of Billit's.
_MAX_ID = 2**63 - 1


def _id(value: Any) -> int | None:
    """A positive id that fits a BIGINT, as a JSON number or a string of digits."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 0 < value <= _MAX_ID else None
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit() and len(value.strip()) <= 18:
        return int(value.strip()) or None
    return None


def _text(value: Any) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | str):
        return str(value)[:100]
    return None
