"""The sandbox's HTTP layer: Billit's ``/v1`` routes and :func:`create_app`.

Routes implemented (docs/reference/billit-api.md#endpoints, checklist docs/reference/billit-api.md#sandbox):

* ``GET /v1/orders``, ``GET /v1/orders/deleted`` — OData list with summary items (``listing.py``);
* ``POST /v1/orders`` (→ bare integer id, idempotency headers), ``GET``/``PATCH``/``DELETE /v1/orders/{id}``;
* ``POST /v1/orders/commands/send`` (``delivery.py``);
* ``GET /v1/peppol/participantInformation/{id}``, ``GET /v1/peppol/inbox`` + ``confirm``/``refuse``
  (``inbox.py``), ``GET /v1/files/{FileID}``, ``GET /v1/account/accountInformation``;
* ``POST``/``GET /v1/webhooks``, ``DELETE /v1/webhooks/{id}``, ``/v1/webhooks/refresh/{id}`` (``webhooks.py``;
  the events they subscribe to are sent by ``webhook_events.py`` and ``webhook_outbox.py``).

Authentication (docs/reference/billit-api.md#authentication, #errors): ``ApiKey`` header (any case) or ``Authorization:
Bearer``; ``PartyID`` selects the company, ``ContextPartyID`` (an accountant's own company) must be one the caller may
use too. Billit answers 401 — not 404 — for a PartyID or an order id the caller may not access. A company with API
access off is refused as ``account.py`` says (#companies).

The ``/_sandbox`` admin routes (no auth, never affected by faults) live in ``admin.py``.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sandbox.account import CompanyRequestCounter, api_off_error
from sandbox.admin import admin_routes
from sandbox.delivery import apply_due_events, send_orders
from sandbox.errors import ApiError, survives_disconnects
from sandbox.faults import FaultMiddleware, Faults
from sandbox.files import stub_content
from sandbox.inbox import inbox_page, remove_inbox_item
from sandbox.inputs import BindingError, parse_body
from sandbox.listing import list_page, modify_random_orders, parse_list_query
from sandbox.odata import ODataError
from sandbox.order_patch import patch_order
from sandbox.orders import create_order
from sandbox.peppol import canonical_participant_id, unknown_participant
from sandbox.render import recase_members, render_json
from sandbox.store import Sandbox

__all__ = ["Faults", "Sandbox", "create_app"]

JSON = "application/json; charset=utf-8"
_IDEMPOTENCY_HEADERS = ("idempotency-key", "idempotent-key")

Handler = Callable[[Sandbox, Request, bytes], Response]


def _json(body: bytes, status: int = 200) -> Response:
    return Response(body, status_code=status, media_type=JSON)


def _error_response(exc: ApiError) -> Response:
    media_type = JSON if exc.body else None
    return Response(exc.body, status_code=exc.status, media_type=media_type, headers=exc.headers or None)


def authorize(sandbox: Sandbox, request: Request, *, need_party: bool = True) -> int:
    """The company the request acts on; raises 401 for bad credentials or an inaccessible PartyID or
    ContextPartyID, and refuses a company with API access off (``account.api_off_error``)."""
    headers = request.headers
    api_key = headers.get("apikey")
    if api_key is not None:
        allowed = sandbox.api_keys.get(api_key.strip())
        if allowed is None:
            raise ApiError(401)  # a wrong/missing key gives 401 "with no helpful message"
            # (docs/reference/billit-api.md#authentication)
    else:
        authorization = headers.get("authorization", "")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise ApiError(401)
        allowed = sandbox.bearer_tokens.get(token.strip())
        if allowed is None:
            raise ApiError(401, [("InvalidAccessToken", None)])
    context = headers.get("contextpartyid")
    if context is not None and context.strip():
        # An accountant's company acting for a client: the sandbox only checks that the caller may use it
        # (docs/reference/billit-api.md#authentication).
        _company(sandbox, allowed, context)
    party = headers.get("partyid")
    if party is None or not party.strip():
        if not need_party:
            return min(allowed)
        if len(allowed) != 1:
            # docs/reference/billit-api.md#authentication: PartyID is mandatory when the user has access to two or
            # more companies.
            raise ApiError.generic("The PartyID header is mandatory when the user has access to more than one company.")
        party = str(min(allowed))
    return _company(sandbox, allowed, party)


def _company(sandbox: Sandbox, allowed: frozenset[int], header: str) -> int:
    """The company a PartyID or ContextPartyID header names: 401 unless the caller may use it, refused if its API
    access is off."""
    try:
        company_id = int(header.strip())
    except ValueError:
        raise ApiError(401) from None
    if company_id not in allowed or company_id not in sandbox.companies:
        raise ApiError(401)
    if company_id in sandbox.api_off and sandbox.quirks.api_off_status != 200:  # 200: the flag gates nothing
        raise api_off_error(sandbox.quirks.api_off_status)
    return company_id


def _order_for(sandbox: Sandbox, company_id: int, order_id: int) -> dict[str, Any]:
    order = sandbox.orders.get(order_id)
    if order is None:
        deleted = sandbox.deleted.get(order_id)
        if deleted is not None and (deleted["CompanyID"] != company_id or sandbox.quirks.deleted_order_status == 401):
            raise ApiError(401)
        raise ApiError(404, [("GenericError", f"Order {order_id} was not found.")])
    if order["CompanyID"] != company_id:
        raise ApiError(401)  # docs/reference/billit-api.md#errors: an OrderID of another company is "no access", not
        # "not found"
    return order


# ----------------------------------------------------------------------------------------------------------
# /v1 handlers (synchronous, run under the sandbox lock)


def list_orders(sandbox: Sandbox, request: Request, _body: bytes, *, deleted: bool = False) -> Response:
    company_id = authorize(sandbox, request)
    try:
        query = parse_list_query(request.query_params.multi_items())
        modify = sandbox.injector.faults.modify_during_paging
        if modify and not deleted:
            # Rows change (and move to the end of a LastModified order) between any two list requests: the
            # $skip-paging trap, and the test of every other way of paging.
            modify_random_orders(sandbox, company_id, modify)
        url = request.url
        # Quirk next_link_host: the link names the host the server believes it is (a proxy's backend), not ours.
        host = sandbox.quirks.next_link_host or url.netloc
        origin = host if "://" in host else f"{url.scheme}://{host}"
        body = list_page(sandbox, company_id, deleted, query, origin + url.path, sandbox.today())
    except ODataError as exc:
        raise ApiError(400, [(exc.code, str(exc))]) from None
    return _json(body)


def list_deleted_orders(sandbox: Sandbox, request: Request, body: bytes) -> Response:
    return list_orders(sandbox, request, body, deleted=True)


def post_order(sandbox: Sandbox, request: Request, raw: bytes) -> Response:
    company_id = authorize(sandbox, request)
    read = sandbox.quirks.idempotency_header
    headers = {"both": _IDEMPOTENCY_HEADERS, "none": ()}.get(read, (read.lower(),))
    key = next((request.headers[h] for h in headers if request.headers.get(h)), None)
    used = sandbox.idempotency_keys[company_id]
    if key is not None and key in used:
        sandbox.counters["idempotent_replays"] += 1
        # docs/reference/billit-api.md#idempotency: a reused key answers 409 and does NOT return the original OrderID.
        raise ApiError(409, [("Idempotent token already exists", f"The idempotent token '{key}' was already used.")])
    try:
        body = parse_body(raw)
    except BindingError as exc:
        raise ApiError.generic(str(exc)) from None
    order = create_order(sandbox, company_id, body, raw)
    if key is not None:
        used.add(key)  # stored only after success: a failed request may be retried with the same key
    return _json(str(order["OrderID"]).encode())


def get_order(sandbox: Sandbox, request: Request, _body: bytes) -> Response:
    company_id = authorize(sandbox, request)
    order = _order_for(sandbox, company_id, request.path_params["order_id"])
    return _json(sandbox.render_full(order, sandbox.today()))


def patch_order_route(sandbox: Sandbox, request: Request, raw: bytes) -> Response:
    company_id = authorize(sandbox, request)
    order = _order_for(sandbox, company_id, request.path_params["order_id"])
    try:
        body = parse_body(raw)
    except BindingError as exc:
        raise ApiError.generic(str(exc)) from None
    patch_order(sandbox, order, body if body is not None else {})
    return Response(b"", status_code=200)


def delete_order(sandbox: Sandbox, request: Request, _body: bytes) -> Response:
    company_id = authorize(sandbox, request)
    order = _order_for(sandbox, company_id, request.path_params["order_id"])
    sandbox.delete_order(order)
    return _json(b"true")


def send_command(sandbox: Sandbox, request: Request, raw: bytes) -> Response:
    company_id = authorize(sandbox, request)
    try:
        body = parse_body(raw)
    except BindingError as exc:
        raise ApiError.generic(str(exc)) from None
    strict = request.headers.get("stricttransporttype", "").strip().lower() == "true"
    send_orders(sandbox, company_id, body, strict=strict)
    return Response(b"", status_code=200)


def participant_information(sandbox: Sandbox, request: Request, _body: bytes) -> Response:
    # Only 400 is declared and a third-party client calls it without auth
    # (docs/reference/billit-api.md#endpoints, #peppol-lookup): no auth check here.
    identifier = canonical_participant_id(request.path_params["identifier"])
    info = sandbox.registry.get(identifier) or unknown_participant(identifier)
    return _json(render_json(info))


def get_file(sandbox: Sandbox, request: Request, _body: bytes) -> Response:
    company_id = authorize(sandbox, request)
    file_id = request.path_params["file_id"]
    found = sandbox.find_file(file_id)
    if found is None:
        raise ApiError(404, [("GenericError", f"File {file_id} was not found.")])
    record, order, description = found
    if record.company_id != company_id:
        raise ApiError(401)
    if record.content is None:
        record.content = stub_content(record, order, description)
    payload = {
        "FileID": record.file_id,
        "FileName": record.file_name,
        "MimeType": record.mime_type,
        "FileContent": base64.b64encode(record.content).decode(),
    }
    return _json(render_json(payload))


def peppol_inbox(sandbox: Sandbox, request: Request, _body: bytes) -> Response:
    company_id = authorize(sandbox, request)
    receiver = request.query_params.get("ReceiverCompanyID")
    return _json(render_json(inbox_page(sandbox, company_id, receiver)))


def confirm_inbox_item(sandbox: Sandbox, request: Request, _body: bytes) -> Response:
    company_id = authorize(sandbox, request)
    remove_inbox_item(sandbox, company_id, request.path_params["item_id"])
    return Response(b"", status_code=200)


def refuse_inbox_item(sandbox: Sandbox, request: Request, raw: bytes) -> Response:
    company_id = authorize(sandbox, request)
    try:
        parse_body(raw)  # {"RefusalReason": "..."}: accepted, not stored
    except BindingError as exc:
        raise ApiError.generic(str(exc)) from None
    remove_inbox_item(sandbox, company_id, request.path_params["item_id"])
    return Response(b"", status_code=200)


def account_information(sandbox: Sandbox, request: Request, _body: bytes) -> Response:
    asked_for = authorize(sandbox, request, need_party=sandbox.quirks.account_needs_party_id)
    api_key = request.headers.get("apikey")
    if api_key is not None:
        allowed = sandbox.api_keys[api_key.strip()]
    else:
        allowed = sandbox.bearer_tokens[request.headers["authorization"].partition(" ")[2].strip()]
    if sandbox.quirks.account_lists_party_only and request.headers.get("partyid"):
        allowed = frozenset({asked_for})
    companies = []
    for company_id in sorted(allowed):
        company = sandbox.companies[company_id]
        companies.append(
            {
                "TabNameAlias": company.get("Name"),
                "APIAllowed": company_id not in sandbox.api_off,
                "UserLanguage": "EN",
                **{k: v for k, v in company.items() if k != "PartyType"},
                "BookYearStart": company["Created"].replace(month=1, day=1, hour=0, minute=0, second=0, microsecond=0),
                "Role": "Professional",
            }
        )
    return _json(render_json({"Email": sandbox.user_email, "Companies": companies}))


def webhooks_route(sandbox: Sandbox, request: Request, raw: bytes) -> Response:
    company_id = authorize(sandbox, request)
    params = dict(request.path_params)
    params["refresh"] = request.url.path.rstrip("/").lower().startswith("/v1/webhooks/refresh/")
    return _json(sandbox.webhooks.registry.handle(company_id, request.method, params, raw, sandbox.quirks))


def _endpoint(sandbox: Sandbox, handler: Handler) -> Callable[[Request], Any]:
    async def endpoint(request: Request) -> Response:
        raw = await request.body() if request.method in ("POST", "PATCH", "PUT") else b""
        with sandbox.lock:
            sandbox.apply_quirks()
            apply_due_events(sandbox)
            try:
                response = handler(sandbox, request, raw)
            except ApiError as exc:
                response = _error_response(exc)
            if response.media_type == JSON and sandbox.quirks.member_case != "pascal":
                response.body = recase_members(bytes(response.body), sandbox.quirks.member_case)
                response.headers["content-length"] = str(len(response.body))
            return response

    return endpoint


# ----------------------------------------------------------------------------------------------------------
def create_app(sandbox: Sandbox) -> Starlette:
    """The Starlette app serving ``sandbox`` (use with uvicorn or ``httpx.ASGITransport``)."""

    def api(path: str, handler: Handler, *methods: str) -> Route:
        return Route(path, survives_disconnects(_endpoint(sandbox, handler)), methods=list(methods))

    routes = [
        api("/v1/orders", list_orders, "GET"),
        api("/v1/orders", post_order, "POST"),
        api("/v1/orders/deleted", list_deleted_orders, "GET"),
        api("/v1/orders/commands/send", send_command, "POST"),
        api("/v1/orders/{order_id:int}", get_order, "GET"),
        api("/v1/orders/{order_id:int}", patch_order_route, "PATCH"),
        api("/v1/orders/{order_id:int}", delete_order, "DELETE"),
        api("/v1/peppol/participantInformation/{identifier}", participant_information, "GET"),
        api("/v1/peppol/inbox", peppol_inbox, "GET"),
        api("/v1/peppol/inbox/{item_id:int}/confirm", confirm_inbox_item, "POST"),
        api("/v1/peppol/inbox/{item_id:int}/refuse", refuse_inbox_item, "POST"),
        api("/v1/files/{file_id}", get_file, "GET"),
        api("/v1/account/accountInformation", account_information, "GET"),
        api("/v1/webhooks", webhooks_route, "GET", "POST"),
        api("/v1/webhooks/{webhook_id:int}", webhooks_route, "DELETE"),
        # The refresh method is a quirk: every candidate reaches the handler, which answers 405 to the others.
        api("/v1/webhooks/refresh/{webhook_id:int}", webhooks_route, "POST", "PUT", "GET", "PATCH"),
        *admin_routes(sandbox),
    ]
    middleware = [
        Middleware(CompanyRequestCounter, on_request=sandbox.record_company_request),
        Middleware(FaultMiddleware, injector=sandbox.injector, on_request=sandbox.record_request),
    ]
    app = Starlette(routes=routes, middleware=middleware)
    app.state.sandbox = sandbox
    return app
