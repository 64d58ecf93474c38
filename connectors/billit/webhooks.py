"""Billit's webhook management: list, register and delete the company's webhooks, and refresh a webhook's secret
(docs/reference/billit-api.md#webhooks).

A webhook belongs to the company of the client's `PartyID`, and is one (entity, update type, URL): `Order` or
`Message`, `I` (insert), `U` (update) or `D` (delete). Billit returns its signing secret when it is created and
when it is refreshed, never in the listing; a `Webhook` holds it only then, and never shows it in its repr.

These functions go through the client's own request loop (retries on 429, 5xx and I/O errors, the shared rate
limiter, the error tree of `connectors.billit.errors`, redaction of every text an error is built from): they are
the client's methods in all but the file, which keeps `client.py` within its size. Answers are read defensively:
keys in any letter case, `WebhookID` as a number or a string, a listing as an array or wrapped in `Items`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import quote

from connectors.billit.client import BillitClient, Repeat
from connectors.billit.errors import BillitHTTPError, BillitProtocolError
from connectors.billit.wire import encode_json, parse_json

WEBHOOKS_PATH = "/v1/webhooks"

EntityType = Literal["Order", "Message"]
UpdateType = Literal["I", "U", "D"]
ENTITY_TYPES: tuple[EntityType, ...] = ("Order", "Message")
UPDATE_TYPES: tuple[UpdateType, ...] = ("I", "U", "D")

#: docs/reference/billit-api.md#webhooks: the HTTP method of the refresh is not documented. POST is the likely
#: one; a 405 (method not allowed) moves on to the next.
REFRESH_METHODS = ("POST", "PUT", "PATCH", "GET")
_METHOD_NOT_ALLOWED = 405


@dataclass(frozen=True)
class Webhook:
    """One webhook of a company. `secret` only on creation and refresh; never in repr or comparisons."""

    webhook_id: str
    company_id: int | None
    entity_type: str
    update_type: str
    url: str
    secret: str | None = field(default=None, repr=False, compare=False)

    @property
    def event(self) -> tuple[str, str]:
        """(entity type, update type), e.g. ("Message", "U")."""
        return (self.entity_type, self.update_type)

    def without_secret(self) -> Webhook:
        return Webhook(self.webhook_id, self.company_id, self.entity_type, self.update_type, self.url)


async def list_webhooks(billit: BillitClient) -> list[Webhook]:
    """The active webhooks of the client's company (`GET /v1/webhooks`), in the order Billit lists them."""
    response = await billit._request("GET", WEBHOOKS_PATH, repeat=Repeat.ALWAYS)
    body = billit._read(response, _as_is)
    if isinstance(body, Mapping):  # defensive: a listing wrapped like the orders' (`Items`)
        body = _folded(body).get("items", body)
    if body is None:
        return []
    if not isinstance(body, list):
        raise BillitProtocolError(f"GET {WEBHOOKS_PATH}: expected a list of webhooks, got {type(body).__name__}")
    return [parse_webhook(item, where=f"GET {WEBHOOKS_PATH}").without_secret() for item in body]


async def create_webhook(billit: BillitClient, entity_type: str, update_type: str, url: str) -> Webhook:
    """Register a webhook (`POST /v1/webhooks`); the answer carries its secret.

    A create is not idempotent, so it is repeated only when Billit surely never saw it (429, a connection that
    could not be opened): after an answer that was lost, the caller lists the webhooks to see whether it exists.
    """
    if entity_type not in ENTITY_TYPES or update_type not in UPDATE_TYPES:
        raise ValueError(f"a webhook is one of {ENTITY_TYPES} with one of {UPDATE_TYPES}")
    body = {"EntityType": entity_type, "EntityUpdateType": update_type, "WebhookURL": url}
    response = await billit._request(
        "POST",
        WEBHOOKS_PATH,
        content=encode_json(body),
        headers={"Content-Type": "application/json"},
        repeat=Repeat.IF_UNSENT,
    )
    webhook = parse_webhook(billit._read(response, _as_is), where=f"POST {WEBHOOKS_PATH}")
    if not webhook.secret:
        raise BillitProtocolError(f"POST {WEBHOOKS_PATH}: no Secret in the answer for webhook {webhook.webhook_id}")
    return webhook


async def delete_webhook(billit: BillitClient, webhook_id: str | int) -> None:
    """Delete a webhook (`DELETE /v1/webhooks/{id}`). Repeating a delete is harmless: it is retried like a read."""
    await billit._request("DELETE", _webhook_path(webhook_id), repeat=Repeat.ALWAYS, names_id=True)


async def refresh_webhook_secret(billit: BillitClient, webhook_id: str | int) -> str:
    """A new secret for the webhook (`/v1/webhooks/refresh/{id}`); the old one stops signing.

    The method is tried in the order of `REFRESH_METHODS`, the next only after a 405. Not repeated after an answer
    that may have been lost: a refresh that did happen would leave us without the secret it made (refresh again).
    """
    path = f"{WEBHOOKS_PATH}/refresh/{_quoted_id(webhook_id)}"
    for method in REFRESH_METHODS:
        try:
            response = await billit._request(method, path, repeat=Repeat.IF_UNSENT, names_id=True)
        except BillitHTTPError as error:
            if error.status == _METHOD_NOT_ALLOWED:
                continue
            raise
        return _read_secret(response.text, response.headers.get("Content-Type"), f"{method} {path}")
    raise BillitProtocolError(f"{path}: Billit answered 405 (method not allowed) to {', '.join(REFRESH_METHODS)}")


def parse_webhook(item: Any, *, where: str) -> Webhook:
    """A webhook object of an answer, its keys in any letter case; its secret kept when it has one."""
    if not isinstance(item, Mapping):
        raise BillitProtocolError(f"{where}: expected a webhook object, got {type(item).__name__}")
    folded = _folded(item)
    webhook_id = webhook_id_text(folded.get("webhookid"))
    if webhook_id is None:
        raise BillitProtocolError(f"{where}: a webhook without a WebhookID")
    company = folded.get("companyid")
    company_id = int(company) if company is not None and _is_int(company) else None
    secret = folded.get("secret")
    return Webhook(
        webhook_id=webhook_id,
        company_id=company_id,
        entity_type=_canonical(folded.get("entitytype"), ENTITY_TYPES),
        update_type=_canonical(folded.get("entityupdatetype"), UPDATE_TYPES),
        url=str(folded.get("webhookurl") or ""),
        secret=secret if isinstance(secret, str) and secret else None,
    )


def webhook_id_text(value: Any) -> str | None:
    """A WebhookID as the text it is known by (a number or a string of one: `123`, `"123"`, `123.0`); None if
    there is none."""
    if isinstance(value, bool) or value is None:
        return None
    if _is_int(value):
        return str(int(value))
    if isinstance(value, str) and value.strip() and value.strip().isprintable():
        return value.strip()
    return None


def _read_secret(text: str, content_type: str | None, where: str) -> str:
    """The refreshed secret: a JSON string as documented, or (defensively) an object with a `Secret`, or the
    bare text of a text/plain answer. The error never quotes the body."""
    try:
        body = parse_json(text, content_type=content_type)
    except BillitProtocolError:
        plain = (content_type or "").lower().startswith("text/plain")
        body = text.strip() if plain else None
    if isinstance(body, Mapping):
        body = _folded(body).get("secret")
    if isinstance(body, str) and body and body.isprintable() and " " not in body:
        return body
    raise BillitProtocolError(f"{where}: the answer carries no secret (a body of {len(text)} characters)")


def _webhook_path(webhook_id: str | int) -> str:
    return f"{WEBHOOKS_PATH}/{_quoted_id(webhook_id)}"


def _quoted_id(webhook_id: str | int) -> str:
    text = webhook_id_text(webhook_id)
    if text is None:
        raise ValueError("a webhook id is a number or a printable text")
    return quote(text, safe="")


def _folded(mapping: Mapping[Any, Any]) -> dict[str, Any]:
    """The mapping with lowercase keys (the first of two spellings of a key wins)."""
    folded: dict[str, Any] = {}
    for key, value in mapping.items():
        folded.setdefault(str(key).lower(), value)
    return folded


def _canonical(value: Any, known: tuple[str, ...]) -> str:
    """`value` in the spelling of `known` when it is one of them in another letter case, else as given."""
    text = str(value or "").strip()
    return next((name for name in known if name.lower() == text.lower()), text)


def _is_int(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    if isinstance(value, float):
        return value.is_integer()
    if isinstance(value, str):
        return value.strip().isascii() and value.strip().isdigit()
    try:  # Decimal, as parse_json reads fractions
        return int(value) == value
    except (TypeError, ValueError):
        return False


def _as_is(body: Any) -> Any:
    return body
