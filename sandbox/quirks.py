"""Switches for the Billit answers we only inferred or do not know: the :class:`Quirks` dataclass.

Every behaviour the sync relies on without Billit documenting it (``docs/reference/billit-api.md``, tagged
inferred or unknown there) gets a switch, so the client can be tested against both answers. The defaults are
the sandbox's best guess, i.e. how it answered before the switches existed; each switch plays the other answer:

* ``refuse_or``: ``or`` or parentheses in ``$filter`` answer 400 ``InvalidFilter`` (``#filters``);
* ``refuse_gt``: ``gt`` or ``lt`` in ``$filter`` answer 400 ``InvalidFilter`` (``#filters``);
* ``ignore_inlinecount``: ``$inlinecount=allpages`` is ignored, no ``Count`` member (``#count``);
* ``deleted_ignores_filter``: ``/v1/orders/deleted`` ignores ``$filter``, still sorts, tops, skips and pages
  (``#deletions``);
* ``deleted_refuses_filter``: ``/v1/orders/deleted`` answers any ``$filter`` with 400
  (``#deletions``);
* ``deleted_page_without_link``: ``/v1/orders/deleted`` answers at most a page (120) and never a ``NextPageLink``:
  only ``$top`` and ``$skip`` reach the rest (``#deletions``);
* ``deleted_items_bare``: the items of ``/v1/orders/deleted`` carry their ``OrderID`` and ``LastModified`` only,
  not the list item's other members (``OrderDirection`` among them): what an item holds is not written down
  (``#deletions``);
* ``deleted_last_modified="order"``: ``LastModified`` on ``/v1/orders/deleted`` is the order's last change
  before the deletion, not the deletion time (``#deletions``);
* ``fraction_digits=7``: timestamps carry .NET's 7th fraction digit, 100 ns (``#timestamps``);
* ``next_link_host``: ``NextPageLink`` names this scheme/host instead of the request's (``#paging``);
* ``api_off_status=403``: a request for a company whose API access is off answers 403 with an error body
  instead of an empty 401; ``200``: the flag gates nothing, and such a company is served as any other
  (``#companies``);
* ``idempotency_header``: the one spelling of the idempotency header ``POST /v1/orders`` reads,
  ``Idempotency-Key`` or ``Idempotent-Key``, instead of ``both``; ``none``: neither, every create is a new order
  (whether Billit honours the key is unknown, ``#idempotency``);
* ``deleted_order_status=401``: ``GET`` (``PATCH``, ``DELETE``) of one of the caller's orders that was deleted
  answers an empty 401, as for an id one may not see, instead of 404 (``#deletions``);
* ``account_needs_party_id``: ``accountInformation`` without a ``PartyID`` answers 400, as every other call does,
  when the user sees more than one company (``#companies``);
* ``account_lists_party_only``: ``accountInformation`` asked with a ``PartyID`` lists that company alone, not
  every company the key reaches (``#companies``);
* ``member_case``: the member names of every ``/v1`` answer written ``camel`` (ASP.NET Core's default:
  ``vatNumber``, ``orderID``) or ``lower`` instead of the documented PascalCase (``VATNumber``); the docs themselves
  write ``VatNumber`` beside Swagger's ``VATNumber`` (``#serialization``);
* webhooks (``#webhooks``): ``webhook_limit`` (4 per company, or 20: the docs give both), ``webhook_refresh_method``
  (the one HTTP method ``/v1/webhooks/refresh/{id}`` accepts, POST by default; the others answer 405),
  ``webhook_order_shape`` (Order events in the Message ``envelope`` or ``flat``), ``webhook_refusal_shape`` (a
  refusal Message event in the ``envelope`` or the docs' ``flat`` example), and the unknown retry policy:
  ``webhook_retries`` more attempts after a failed one, ``webhook_backoff_s`` before the first retry (doubling
  each time), ``webhook_timeout_s`` per attempt.

The clock that crosses daylight-saving changes is a clock object, not a switch
(``clock.SimulatedBrusselsClock``). Quirks change at runtime like faults: ``PUT /_sandbox/quirks`` with a
partial JSON object (unknown keys and bad values are refused), or by assigning the attributes of
``sandbox.quirks`` (a new ``fraction_digits`` reaches the stored timestamps at the next request, or at once
through ``Sandbox.update_quirks``).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, fields
from typing import Any

__all__ = [
    "API_OFF_STATUSES",
    "DELETED_LAST_MODIFIED",
    "DELETED_ORDER_STATUSES",
    "FRACTION_DIGITS",
    "IDEMPOTENCY_HEADERS",
    "MEMBER_CASES",
    "Quirks",
]

API_OFF_STATUSES = (401, 403, 200)
DELETED_ORDER_STATUSES = (404, 401)
IDEMPOTENCY_HEADERS = ("both", "Idempotency-Key", "Idempotent-Key", "none")
DELETED_LAST_MODIFIED = ("deletion", "order")
FRACTION_DIGITS = (6, 7)
MEMBER_CASES = ("pascal", "camel", "lower")
WEBHOOK_LIMITS = (4, 20)
WEBHOOK_REFRESH_METHODS = ("POST", "PUT", "GET", "PATCH")
WEBHOOK_SHAPES = ("envelope", "flat")
_ORIGIN = re.compile(r"(?:(?P<scheme>https?)://)?(?P<host>[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?)(?::\d{1,5})?/?")
_BOOLEAN = frozenset(
    {
        "refuse_or",
        "refuse_gt",
        "ignore_inlinecount",
        "deleted_ignores_filter",
        "deleted_refuses_filter",
        "deleted_page_without_link",
        "deleted_items_bare",
        "account_needs_party_id",
        "account_lists_party_only",
    }
)


@dataclass
class Quirks:
    """The sandbox's answers to questions Billit's documentation leaves open (see the module docstring)."""

    refuse_or: bool = False
    refuse_gt: bool = False
    ignore_inlinecount: bool = False
    deleted_ignores_filter: bool = False
    deleted_refuses_filter: bool = False
    deleted_page_without_link: bool = False
    deleted_items_bare: bool = False
    deleted_last_modified: str = "deletion"
    fraction_digits: int = 6
    next_link_host: str | None = None
    api_off_status: int = 401
    deleted_order_status: int = 404
    idempotency_header: str = "both"
    account_needs_party_id: bool = False
    account_lists_party_only: bool = False
    member_case: str = "pascal"
    webhook_limit: int = 4
    webhook_refresh_method: str = "POST"
    webhook_order_shape: str = "envelope"
    webhook_refusal_shape: str = "envelope"
    webhook_retries: int = 5
    webhook_backoff_s: float = 1.0
    webhook_timeout_s: float = 10.0

    def __post_init__(self) -> None:
        for item in fields(self):
            setattr(self, item.name, _coerce(item.name, getattr(self, item.name)))

    def to_dict(self) -> dict[str, Any]:
        """The JSON form served by ``GET /_sandbox/quirks``."""
        return asdict(self)

    def merge(self, changes: dict[str, Any]) -> None:
        """Apply a partial update (``PUT /_sandbox/quirks``); raises ``ValueError`` on unknown keys or values.

        Nothing changes unless every key and value is valid.
        """
        lowered = {item.name.lower(): item.name for item in fields(self)}
        validated: dict[str, Any] = {}
        for raw_key, value in changes.items():
            name = lowered.get(str(raw_key).lower())
            if name is None:
                raise ValueError(f"unknown quirk {raw_key!r}; known: {', '.join(sorted(lowered.values()))}")
            validated[name] = _coerce(name, value)
        for name, value in validated.items():
            setattr(self, name, value)


def _coerce(name: str, value: Any) -> Any:
    if name in _BOOLEAN:
        if not isinstance(value, bool):
            raise ValueError(f"{name} must be true or false, not {value!r}")
        return value
    if name == "deleted_last_modified":
        if value not in DELETED_LAST_MODIFIED:
            raise ValueError(f"deleted_last_modified must be 'deletion' or 'order', not {value!r}")
        return value
    if name == "fraction_digits":
        if isinstance(value, bool) or value not in FRACTION_DIGITS:
            raise ValueError(f"fraction_digits must be 6 or 7, not {value!r}")
        return int(value)
    if name == "api_off_status":
        if isinstance(value, bool) or value not in API_OFF_STATUSES:
            raise ValueError(f"api_off_status must be 401, 403 or 200, not {value!r}")
        return int(value)
    if name == "deleted_order_status":
        if isinstance(value, bool) or value not in DELETED_ORDER_STATUSES:
            raise ValueError(f"deleted_order_status must be 404 or 401, not {value!r}")
        return int(value)
    if name == "idempotency_header":
        spelling = {choice.lower(): choice for choice in IDEMPOTENCY_HEADERS}.get(str(value).lower())
        if not isinstance(value, str) or spelling is None:
            raise ValueError(f"idempotency_header must be one of {', '.join(IDEMPOTENCY_HEADERS)}, not {value!r}")
        return spelling
    if name == "member_case":
        if not isinstance(value, str) or value.lower() not in MEMBER_CASES:
            raise ValueError(f"member_case must be one of {', '.join(MEMBER_CASES)}, not {value!r}")
        return value.lower()
    if name == "webhook_limit":
        if isinstance(value, bool) or value not in WEBHOOK_LIMITS:
            raise ValueError(f"webhook_limit must be 4 or 20, not {value!r}")
        return int(value)
    if name == "webhook_refresh_method":
        method = str(value).upper()
        if not isinstance(value, str) or method not in WEBHOOK_REFRESH_METHODS:
            raise ValueError(
                f"webhook_refresh_method must be one of {', '.join(WEBHOOK_REFRESH_METHODS)}, not {value!r}"
            )
        return method
    if name in ("webhook_order_shape", "webhook_refusal_shape"):
        if not isinstance(value, str) or value.lower() not in WEBHOOK_SHAPES:
            raise ValueError(f"{name} must be 'envelope' or 'flat', not {value!r}")
        return value.lower()
    if name == "webhook_retries":
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 20:
            raise ValueError(f"webhook_retries must be a whole number from 0 to 20, not {value!r}")
        return value
    if name in ("webhook_backoff_s", "webhook_timeout_s"):
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 3600:
            raise ValueError(f"{name} must be a number of seconds above 0 (at most 3600), not {value!r}")
        return float(value)
    if name == "next_link_host":
        if value is None or value == "":
            return None
        if not isinstance(value, str) or _ORIGIN.fullmatch(value.strip()) is None:
            raise ValueError(
                f"next_link_host must be a host[:port], optionally with http:// or https://, not {value!r}"
            )
        return value.strip().rstrip("/")
    raise AssertionError(f"no coercion for quirk {name!r}")
