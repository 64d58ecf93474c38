"""The sandbox's ``/_sandbox`` admin routes: no auth, never affected by faults.

``GET``/``PUT /_sandbox/faults``, ``GET``/``PUT /_sandbox/quirks`` (the undocumented answers, ``quirks.py``),
``GET``/``PUT /_sandbox/clock`` (a simulated Brussels clock, ``clock.py``), ``GET /_sandbox/stats``,
``POST /_sandbox/orders/{id}/touch``, ``POST /_sandbox/deliveries/flush``,
``PUT /_sandbox/participants/{id}``, and ``GET /_sandbox/companies`` (each company's PartyID, name, VAT number,
API access and order counts) with ``PUT /_sandbox/companies/{id}`` ``{"APIAllowed": false}`` to switch a
company's API access off or on (``account.py``).

Webhooks: ``POST /_sandbox/orders/{id}/imr`` ``{"Code": "PD", "Reason": "..."}`` makes a customer's invoice
response arrive (``delivery.receive_response``); ``GET /_sandbox/webhooks/deliveries`` lists every delivery and
its attempts (``?order_id=``, ``?webhook_id=``, ``?status=`` filter); ``POST /_sandbox/webhooks/wait?timeout_s=10``
answers once nothing is queued or in flight (``{"idle": true}``), or when the time is up (``false``, 200 still).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sandbox.clock import SimulatedBrusselsClock, parse_tick_datetime
from sandbox.delivery import apply_due_events, receive_response
from sandbox.errors import survives_disconnects
from sandbox.inputs import ORDER_SCHEMA, BindingError, bind, parse_body
from sandbox.peppol import canonical_participant_id
from sandbox.render import render_json
from sandbox.store import Sandbox

__all__ = ["admin_routes"]

JSON = "application/json; charset=utf-8"


def _json(body: bytes, status: int = 200) -> Response:
    return Response(body, status_code=status, media_type=JSON)


def admin_routes(sandbox: Sandbox) -> list[Route]:
    """The admin routes of ``sandbox``."""
    routes = [
        Route("/_sandbox/faults", _admin_settings(sandbox, sandbox.injector.update,
                                                  lambda: sandbox.injector.faults.to_dict()), methods=["GET", "PUT"]),
        Route("/_sandbox/quirks", _admin_settings(sandbox, sandbox.update_quirks,
                                                  lambda: sandbox.quirks.to_dict()), methods=["GET", "PUT"]),
        Route("/_sandbox/clock", _admin_settings(sandbox, lambda changes: _update_clock(sandbox, changes),
                                                 lambda: sandbox.clock.describe()), methods=["GET", "PUT"]),
        Route("/_sandbox/stats", _admin_stats(sandbox), methods=["GET"]),
        Route("/_sandbox/orders/{order_id:int}/touch", _admin_touch(sandbox), methods=["POST"]),
        Route("/_sandbox/deliveries/flush", _admin_flush(sandbox), methods=["POST"]),
        Route("/_sandbox/participants/{identifier}", _admin_participant(sandbox), methods=["PUT"]),
        Route("/_sandbox/companies", _admin_companies(sandbox), methods=["GET"]),
        Route("/_sandbox/companies/{party_id:int}", _admin_companies(sandbox), methods=["PUT"]),
        Route("/_sandbox/orders/{order_id:int}/imr", _admin_imr(sandbox), methods=["POST"]),
        Route("/_sandbox/webhooks/deliveries", _admin_deliveries(sandbox), methods=["GET"]),
        Route("/_sandbox/webhooks/wait", _admin_wait(sandbox), methods=["POST"]),
    ]  # fmt: skip
    return [Route(route.path, survives_disconnects(route.endpoint), methods=route.methods) for route in routes]


def _admin_settings(
    sandbox: Sandbox, apply: Callable[[dict[str, Any]], None], show: Callable[[], dict[str, Any]]
) -> Callable[[Request], Any]:
    """GET shows a group of settings; PUT applies a partial JSON object under the sandbox lock first (400 and
    nothing changed when it is not valid)."""

    async def endpoint(request: Request) -> Response:
        if request.method == "PUT":
            try:
                changes = json.loads(await request.body() or b"{}")
                if not isinstance(changes, dict):
                    raise ValueError("expected a JSON object")
                with sandbox.lock:
                    apply(changes)
            except (TypeError, ValueError) as exc:
                return _json(json.dumps({"error": str(exc)}).encode(), 400)
        with sandbox.lock:
            return _json(json.dumps(show()).encode())

    return endpoint


_CLOCK_KEYS = frozenset({"utc", "speed", "advance_s"})


def _update_clock(sandbox: Sandbox, changes: dict[str, Any]) -> None:
    """``{"utc": ..., "speed": ..., "advance_s": ...}``: start or steer a simulated clock; ``utc`` null = wall clock."""
    unknown = sorted(set(changes) - _CLOCK_KEYS)
    if unknown:
        raise ValueError(f"unknown clock setting(s) {', '.join(map(repr, unknown))}; known: advance_s, speed, utc")
    advance = changes.get("advance_s")
    if advance is not None and (
        isinstance(advance, bool) or not isinstance(advance, int | float) or not math.isfinite(advance) or advance < 0
    ):
        raise ValueError(f"advance_s must be a number of seconds >= 0, not {advance!r}")
    if not changes:
        return
    if "utc" in changes and changes["utc"] is None:
        if set(changes) != {"utc"}:
            raise ValueError("utc null (back to the wall clock) takes no other setting")
        sandbox.set_clock(None)
        return
    clock = sandbox.clock
    if "utc" in changes:
        if not isinstance(changes["utc"], str):
            raise ValueError("utc must be an ISO timestamp string (naive = UTC) or null")
        speed = changes.get("speed", clock.speed if isinstance(clock, SimulatedBrusselsClock) else 1.0)
        clock = SimulatedBrusselsClock(changes["utc"], speed)
    elif not isinstance(clock, SimulatedBrusselsClock):
        raise ValueError("the sandbox runs on the wall clock: set utc first")
    elif "speed" in changes:
        clock.set_speed(changes["speed"])
    if advance:
        clock.advance(timedelta(seconds=advance))
    sandbox.set_clock(clock)


def _admin_stats(sandbox: Sandbox) -> Callable[[Request], Any]:
    async def endpoint(request: Request) -> Response:
        with sandbox.lock:
            apply_due_events(sandbox)
        return _json(json.dumps(sandbox.stats()).encode())

    return endpoint


def _admin_touch(sandbox: Sandbox) -> Callable[[Request], Any]:
    async def endpoint(request: Request) -> Response:
        raw = await request.body()
        order_id = request.path_params["order_id"]
        try:
            body = parse_body(raw) or {}
            changes = bind(body, ORDER_SCHEMA)
            given = next((v for k, v in body.items() if k.lower() == "lastmodified"), None)
            if isinstance(given, str):
                # Keep a 7th fraction digit (the binder, like a µs datetime, stops at 6).
                changes["LastModified"] = parse_tick_datetime(given)
            last_modified = sandbox.touch_order(order_id, **changes)
        except (BindingError, ValueError) as exc:
            return _json(json.dumps({"error": str(exc)}).encode(), 400)
        except KeyError:
            return _json(json.dumps({"error": f"order {order_id} not found"}).encode(), 404)
        return _json(render_json({"OrderID": order_id, "LastModified": last_modified}))

    return endpoint


def _admin_flush(sandbox: Sandbox) -> Callable[[Request], Any]:
    async def endpoint(request: Request) -> Response:
        applied = sandbox.flush_deliveries()
        return _json(json.dumps({"applied": applied}).encode())

    return endpoint


def _admin_participant(sandbox: Sandbox) -> Callable[[Request], Any]:
    async def endpoint(request: Request) -> Response:
        try:
            body = json.loads(await request.body() or b"{}")
        except ValueError as exc:
            return _json(json.dumps({"error": str(exc)}).encode(), 400)
        sandbox.register_participant(
            request.path_params["identifier"],
            registered=bool(body.get("Registered", True)),
            document_types=body.get("DocumentTypes"),
        )
        key = canonical_participant_id(request.path_params["identifier"])
        return _json(render_json(sandbox.registry[key]))

    return endpoint


def _admin_companies(sandbox: Sandbox) -> Callable[[Request], Any]:
    async def endpoint(request: Request) -> Response:
        if request.method == "PUT":
            party_id = request.path_params["party_id"]
            try:
                body = json.loads(await request.body() or b"{}")
                if (
                    not isinstance(body, dict)
                    or set(body) != {"APIAllowed"}
                    or not isinstance(body["APIAllowed"], bool)
                ):
                    raise ValueError('expected {"APIAllowed": true|false}')
                allowed = body["APIAllowed"]
            except ValueError as exc:
                return _json(json.dumps({"error": str(exc)}).encode(), 400)
            if party_id not in sandbox.companies:
                return _json(json.dumps({"error": f"company {party_id} not found"}).encode(), 404)
            with sandbox.lock:
                (sandbox.api_off.discard if allowed else sandbox.api_off.add)(party_id)
        with sandbox.lock:
            companies = [
                {
                    "PartyID": party_id,
                    "Name": company.get("Name"),
                    "VATNumber": company.get("VATNumber"),
                    "APIAllowed": party_id not in sandbox.api_off,
                    "Orders": len(sandbox.company_orders(party_id)),
                    "DeletedOrders": len(sandbox.company_orders(party_id, deleted=True)),
                }
                for party_id, company in sandbox.companies.items()
            ]
        return _json(json.dumps({"Companies": companies}, ensure_ascii=False).encode())

    return endpoint


def _admin_imr(sandbox: Sandbox) -> Callable[[Request], Any]:
    async def endpoint(request: Request) -> Response:
        order_id = request.path_params["order_id"]
        try:
            body = json.loads(await request.body() or b"{}")
            if not isinstance(body, dict):
                raise ValueError('expected {"Code": "AB|AP|RE|IP|UQ|CA|PD", "Reason": "..."}')
            lowered = {str(key).lower(): value for key, value in body.items()}
            code, reason = lowered.get("code"), lowered.get("reason")
            if not isinstance(code, str) or not (reason is None or isinstance(reason, str)):
                raise ValueError('expected {"Code": "AB|AP|RE|IP|UQ|CA|PD", "Reason": "..."}')
            with sandbox.lock:
                apply_due_events(sandbox)
                order = sandbox.find_order(order_id)
                if order is None:
                    return _json(json.dumps({"error": f"order {order_id} not found"}).encode(), 404)
                receive_response(sandbox, order, code, reason)
                return _json(sandbox.render_full(order, sandbox.today()))
        except ValueError as exc:
            return _json(json.dumps({"error": str(exc)}).encode(), 400)

    return endpoint


def _admin_deliveries(sandbox: Sandbox) -> Callable[[Request], Any]:
    async def endpoint(request: Request) -> Response:
        query = request.query_params
        try:
            order_id = int(query["order_id"]) if "order_id" in query else None
            webhook_id = int(query["webhook_id"]) if "webhook_id" in query else None
        except ValueError:
            return _json(json.dumps({"error": "order_id and webhook_id must be integers"}).encode(), 400)
        outbox = sandbox.webhooks.outbox
        deliveries = outbox.deliveries(order_id=order_id, webhook_id=webhook_id, status=query.get("status"))
        return _json(json.dumps({"Pending": outbox.pending(), "Deliveries": deliveries}).encode())

    return endpoint


def _admin_wait(sandbox: Sandbox) -> Callable[[Request], Any]:
    async def endpoint(request: Request) -> Response:
        try:
            timeout_s = float(request.query_params.get("timeout_s", "10"))
            if not 0 <= timeout_s <= 600:
                raise ValueError
        except ValueError:
            return _json(json.dumps({"error": "timeout_s must be a number of seconds from 0 to 600"}).encode(), 400)
        idle = await run_in_threadpool(sandbox.webhooks.outbox.wait_idle, timeout_s)
        return _json(json.dumps({"idle": idle, "pending": sandbox.webhooks.outbox.pending()}).encode())

    return endpoint
