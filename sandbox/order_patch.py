"""``PATCH /v1/orders/{id}``: only the documented patchable properties (docs/reference/billit-api.md,
docs/reference/billit-api.md#patch).

Billit's behaviour for other keys is [U]; the sandbox rejects them with 400 ``GenericError`` so a client that
relies on an unsupported PATCH fails loudly in tests instead of silently doing nothing.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sandbox.errors import ApiError
from sandbox.inputs import (
    BindingError,
    parse_datetime,
    to_bool,
)
from sandbox.order_rules import APPROVAL_STATUSES, PAYMENT_METHODS
from sandbox.store import Order, Sandbox

# docs/reference/billit-api.md#patch: the only properties PATCH /v1/orders/{id} may change, with their value kinds.
PATCHABLE: dict[str, str] = {
    "Paid": "bool",
    "PaidDate": "dt",
    "IsSent": "bool",
    "ApprovalStatus": "approval",
    "AccountCode": "account",
    "InternalInfo": "str",
    "Invoiced": "bool",
    "AccountantVerificationNeeded": "bool",
    "PaymentMethod": "payment",
}
_PATCHABLE_LOWER = {name.lower(): name for name in PATCHABLE}


def patch_order(sandbox: Sandbox, order: Order, body: Any) -> None:
    """Apply a PATCH body of patchable properties (docs/reference/billit-api.md#patch); anything else → 400
    ``GenericError``."""
    if not isinstance(body, dict):
        raise ApiError.generic("The request body must be a JSON object.")
    changes: dict[str, Any] = {}
    rejected = [key for key in body if key.lower() not in _PATCHABLE_LOWER]
    if rejected:
        names = ", ".join(f"'{key}'" for key in rejected)
        raise ApiError.generic(f"The property {names} cannot be patched. Patchable properties: {', '.join(PATCHABLE)}.")
    for key, value in body.items():
        name = _PATCHABLE_LOWER[key.lower()]
        try:
            changes[name] = _patch_value(name, value)
        except BindingError as exc:
            raise ApiError.generic(str(exc)) from None
    for name, value in changes.items():
        if value is None:
            order.pop(name, None)
        else:
            order[name] = value
    if changes.get("Paid") is True:
        order["OrderStatus"] = "Paid"
        order["ToPay"] = Decimal("0.00")
        if "PaidDate" not in order:
            today = sandbox.now()
            order["PaidDate"] = today.replace(hour=0, minute=0, second=0, microsecond=0)
    elif changes.get("Paid") is False and order.get("OrderStatus") == "Paid":
        order["ToPay"] = order.get("TotalIncl", Decimal("0.00"))
        order["OrderStatus"] = "ToPay" if order.get("IsSent") or order.get("OrderDirection") == "Cost" else "ToSend"
        order.pop("PaidDate", None)
    sandbox.counters["orders_patched"] += 1
    sandbox.mark_modified(order, bump=sandbox.patch_bumps_last_modified)


def _patch_value(name: str, value: Any) -> Any:
    if value is None:
        return None
    kind = PATCHABLE[name]
    if kind == "bool":
        return to_bool(value, name)
    if kind == "dt":
        return parse_datetime(value, name)
    if kind == "approval":
        if value not in APPROVAL_STATUSES:
            raise BindingError(f"'{value}' is not a valid ApprovalStatus.")
        return value
    if kind == "payment":
        if value not in PAYMENT_METHODS:
            raise BindingError(f"'{value}' is not a valid PaymentMethod.")
        return value
    if kind == "account":
        # Swagger says int, the patch table says string: accept both, store digits as int.
        if isinstance(value, bool):
            raise BindingError("AccountCode must be a number or a string.")
        if isinstance(value, int | Decimal) or (isinstance(value, str) and value.strip().isdigit()):
            return int(value)
        if isinstance(value, str):
            return value
        raise BindingError("AccountCode must be a number or a string.")
    if not isinstance(value, str):
        raise BindingError(f"Error converting value for '{name}' to type 'System.String'.")
    return value
