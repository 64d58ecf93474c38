"""The webhook management API of the sandbox: ``/v1/webhooks`` (docs/reference/billit-api.md#webhooks).

* ``POST /v1/webhooks`` ``{"EntityType": "Order"|"Message", "EntityUpdateType": "I"|"U"|"D", "WebhookURL": ...}``
  → the webhook with its ``Secret`` (the only answer that shows it);
* ``GET /v1/webhooks`` → the company's webhooks, without their secrets;
* ``DELETE /v1/webhooks/{WebhookID}`` → ``true``;
* ``/v1/webhooks/refresh/{WebhookID}`` → the new secret as a JSON string. Billit does not show the method: the
  sandbox accepts the one quirk ``webhook_refresh_method`` names (POST by default) and answers 405 to the others.

A webhook belongs to the company of the request's ``PartyID`` (``app.authorize`` resolves it, so ContextPartyID
and companies with API access off behave as on every other call). Input keys and the EntityType/EntityUpdateType
values are case-insensitive like the rest of the sandbox. Beyond ``quirks.webhook_limit`` webhooks per company
(4; the docs also say 20) a registration answers 400 in Billit's error body. Billit wants an HTTPS target; the
sandbox also takes ``http://`` to a loopback host, so a local receiver can be tested without TLS.

Secrets are random (``secrets.token_hex(32)``), never logged, and never shown by an admin route.
"""

from __future__ import annotations

import ipaddress
import secrets
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from sandbox.errors import ApiError
from sandbox.inputs import BindingError, lookup, parse_body
from sandbox.render import render_json

__all__ = ["ENTITY_TYPES", "UPDATE_TYPES", "Webhook", "WebhookRegistry", "check_webhook_url"]

ENTITY_TYPES = ("Order", "Message")
UPDATE_TYPES = ("I", "U", "D")
_ENTITY_LOWER = {name.lower(): name for name in ENTITY_TYPES}
_UPDATE_LOWER = {name.lower(): name for name in UPDATE_TYPES}
# The user behind the sandbox's API key (Billit answers the registering user's id; ours is made up).
SANDBOX_USER_ID = 410_001
_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


@dataclass
class Webhook:
    """One registered webhook. ``secret`` signs its deliveries; ``active`` turns False when it is deleted."""

    webhook_id: int
    company_id: int
    entity_type: str
    update_type: str
    url: str
    secret: str
    active: bool = True

    def public(self) -> dict[str, Any]:
        """The listing form (``GET /v1/webhooks``): everything but the secret."""
        return {
            "WebhookID": self.webhook_id,
            "CompanyID": self.company_id,
            "UserID": SANDBOX_USER_ID,
            "EntityType": self.entity_type,
            "EntityUpdateType": self.update_type,
            "WebhookURL": self.url,
        }

    def __repr__(self) -> str:  # the secret stays out of every repr, log line and traceback
        return f"Webhook({self.webhook_id}, company {self.company_id}, {self.entity_type}/{self.update_type})"


def check_webhook_url(url: Any) -> str:
    """The URL as given when it is https, or http to a loopback host; else :class:`ApiError` 400."""
    if not isinstance(url, str) or not url.strip():
        raise ApiError.generic("Data is Required: WebhookURL")
    text = url.strip()
    try:
        parts = urlsplit(text)
        host = parts.hostname or ""
        _ = parts.port  # a bad port raises ValueError
    except ValueError:
        raise ApiError.generic(f"'{text}' is not a valid URL.") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not host:
        raise ApiError.generic(f"'{text}' is not a valid URL.")
    if scheme == "http" and not _is_loopback(host):
        # docs/reference/billit-api.md#webhooks: Billit refuses non-SSL endpoints; http is a sandbox convenience
        # for loopback receivers only.
        raise ApiError.generic("The WebhookURL must use https.")
    return text


def _is_loopback(host: str) -> bool:
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class WebhookRegistry:
    """The registered webhooks of every company, and the management calls on them.

    Management calls run under the sandbox lock; :meth:`matching` is also read by the events code under that same
    lock. The registry's own lock only guards the id counter and the dict for readers off the sandbox lock.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._hooks: dict[int, Webhook] = {}
        self._next_id = 81_000

    def __len__(self) -> int:
        return len(self._hooks)

    def matching(self, company_id: int, entity_type: str, update_type: str) -> list[Webhook]:
        """The company's active webhooks for one (EntityType, EntityUpdateType) pair."""
        if not self._hooks:
            return []
        with self._lock:
            return [
                hook
                for hook in self._hooks.values()
                if hook.company_id == company_id and hook.entity_type == entity_type and hook.update_type == update_type
            ]

    def listing(self, company_id: int) -> list[Webhook]:
        """The company's webhooks, oldest first."""
        with self._lock:
            return [hook for hook in self._hooks.values() if hook.company_id == company_id]

    def register(self, company_id: int, body: Any, *, limit: int) -> Webhook:
        """Validate a registration body and store the webhook; :class:`ApiError` 400 when invalid or over the limit."""
        if not isinstance(body, dict):
            raise ApiError.generic("The request body must be a JSON object.")
        entity = _choice(lookup(body, "EntityType"), "EntityType", _ENTITY_LOWER)
        update = _choice(lookup(body, "EntityUpdateType"), "EntityUpdateType", _UPDATE_LOWER)
        url = check_webhook_url(lookup(body, "WebhookURL"))
        with self._lock:
            if sum(1 for hook in self._hooks.values() if hook.company_id == company_id) >= limit:
                # docs/reference/billit-api.md#webhooks: a limit of webhooks per company (4, or 20 on another page).
                raise ApiError.generic(f"The maximum number of {limit} webhooks for this company has been reached.")
            self._next_id += 1
            hook = Webhook(self._next_id, company_id, entity, update, url, secrets.token_hex(32))
            self._hooks[hook.webhook_id] = hook
        return hook

    def find(self, company_id: int, webhook_id: int) -> Webhook:
        """The company's webhook; 404 when unknown, 401 when it belongs to another company (as orders do)."""
        hook = self._hooks.get(webhook_id)
        if hook is None:
            raise ApiError(404, [("GenericError", f"Webhook {webhook_id} was not found.")])
        if hook.company_id != company_id:
            raise ApiError(401)
        return hook

    def delete(self, company_id: int, webhook_id: int) -> None:
        """Remove the webhook; deliveries still queued for it are cancelled by the outbox."""
        hook = self.find(company_id, webhook_id)
        with self._lock:
            del self._hooks[webhook_id]
        hook.active = False

    def refresh(self, company_id: int, webhook_id: int) -> str:
        """Give the webhook a new secret and return it (deliveries from now on are signed with it)."""
        hook = self.find(company_id, webhook_id)
        hook.secret = secrets.token_hex(32)
        return hook.secret

    def handle(self, company_id: int, method: str, path_params: dict[str, Any], raw: bytes, quirks: Any) -> bytes:
        """Serve one management request of ``company_id`` (``app.webhooks_route``); returns the JSON body."""
        webhook_id: int | None = path_params.get("webhook_id")
        if path_params.get("refresh") and webhook_id is not None:
            if method != quirks.webhook_refresh_method:
                raise ApiError(405, headers={"Allow": quirks.webhook_refresh_method})
            return render_json(self.refresh(company_id, webhook_id))
        if webhook_id is not None:
            self.delete(company_id, webhook_id)
            return b"true"
        if method == "GET":
            return render_json([hook.public() for hook in self.listing(company_id)])
        try:
            body = parse_body(raw)
        except BindingError as exc:
            raise ApiError.generic(str(exc)) from None
        hook = self.register(company_id, body, limit=quirks.webhook_limit)
        return render_json({**hook.public(), "Secret": hook.secret})


def _choice(value: Any, name: str, allowed: dict[str, str]) -> str:
    if value is None or value == "":
        raise ApiError.generic(f"Data is Required: {name}")
    canonical = allowed.get(str(value).strip().lower()) if isinstance(value, str) else None
    if canonical is None:
        raise ApiError.generic(f"'{value}' is not a valid {name}; expected one of {', '.join(allowed.values())}.")
    return canonical
