"""Helpers for the webhook receiver's tests: signed calls, event bodies of each shape, the receiver over real HTTP."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

import sqlalchemy as sa
import uvicorn
from starlette.applications import Starlette

from connectors.billit import BillitSettings, load_settings
from connectors.billit.webhook_signature import SIGNATURE_HEADER, sign
from connectors.warehouse import reflect_tables
from sandbox.identity import API_KEY
from sandbox.server import SandboxServer
from tests.tasks.sync_helpers import COMPANY

WEBHOOK_ID = "wh-123"
SECRET = "s3cr3t-of-the-webhook"
SECRETS = {WEBHOOK_ID: SECRET}


def signed_headers(body: bytes, *, secret: str = SECRET, at: float | None = None) -> dict[str, str]:
    return {
        SIGNATURE_HEADER: sign(secret, body, int(time.time() if at is None else at)),
        "Content-Type": "application/json",
    }


def order_event(order_id: int, update: str = "U", *, shape: str = "envelope", **detail: Any) -> bytes:
    """An Order event in one of the two shapes the notes describe."""
    if shape == "flat":
        body: dict[str, Any] = {"OrderID": order_id, "EntityType": "Order", "EntityUpdateType": update, **detail}
    else:
        body = {
            "UpdatedEntityID": order_id,
            "UpdatedEntityType": "Order",
            "WebhookUpdateTypeTC": update,
            "EntityDetail": {"OrderID": order_id, **detail},
        }
    return json.dumps(body).encode()


def message_event(order_id: int, message_id: int, state: str = "Delivered", *, flat: bool = False) -> bytes:
    """A Message event: the documented nested detail, or the flatter refusal example."""
    if flat:
        detail: dict[str, Any] = {
            "OrderID": order_id,
            "Description": "No Valid VAT",
            "MessageAdditionalInformation": {"EInvoiceFlowState": state},
        }
    else:
        detail = {
            "OrderMessage": {"OrderID": order_id, "MessageDirection": "Incoming", "TransportType": "Peppol"},
            "AdditionalMessageInformation": {"EInvoiceFlowState": state},
        }
    return json.dumps(
        {
            "UpdatedEntityID": message_id,
            "UpdatedEntityType": "Message",
            "WebhookUpdateTypeTC": "I",
            "EntityDetail": detail,
        }
    ).encode()


def billit_settings_for(server: SandboxServer, **overrides: Any) -> BillitSettings:
    options: dict[str, Any] = {
        "base_url": server.base_url,
        "api_key": API_KEY,
        "party_id": COMPANY,
        "max_retries": 2,
        "backoff_base_s": 0.01,
        "backoff_max_s": 0.05,
    }
    return load_settings(**(options | overrides))


def order_gets(server: SandboxServer) -> int:
    """GET /v1/orders/{id} requests the sandbox answered, whatever their status."""
    return sum(server.sandbox.stats()["requests"].get("GET /v1/orders/{id}", {}).values())


def events(engine: sa.Engine) -> list[dict[str, Any]]:
    table = reflect_tables(engine)["webhook_events"]
    with engine.connect() as connection:
        return [dict(row) for row in connection.execute(sa.select(table).order_by(table.c.event_id)).mappings()]


def invoice(engine: sa.Engine, order_id: int) -> dict[str, Any] | None:
    table = reflect_tables(engine)["invoices"]
    with engine.connect() as connection:
        row = connection.execute(sa.select(table).where(table.c.order_id == order_id)).mappings().first()
    return dict(row) if row else None


def wait_for(condition: Callable[[], Any], timeout_s: float = 20.0, what: str = "the condition") -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.05)


class ReceiverServer:
    """The receiver app under uvicorn (lifespan on, so its applier runs) on a free loopback port, in a thread."""

    def __init__(self, app: Starlette) -> None:
        self.app = app
        self.url = ""
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> ReceiverServer:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        config = uvicorn.Config(self.app, log_level="warning", access_log=False, lifespan="on", loop="asyncio")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]}, daemon=True)
        self._thread.start()
        wait_for(lambda: self._server is not None and self._server.started, 10, "the receiver to start")
        self.url = f"http://127.0.0.1:{port}"
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._server is not None and self._thread is not None
        self._server.should_exit = True
        self._thread.join(timeout=10)
