"""Tests of :class:`SandboxServer`: a real uvicorn server on loopback, fast enough for tests and benchmarks."""

from __future__ import annotations

import asyncio
import logging
import socket
import time

import httpx
import pytest

from sandbox.faults import Faults
from sandbox.identity import API_KEY
from sandbox.server import SandboxServer
from sandbox.store import Sandbox
from tests.sandbox.sandbox_helpers import FIXED_NOW, HEADERS, make_order


def test_server_starts_serves_and_stops_cleanly() -> None:
    server = SandboxServer(Sandbox(seed_start=FIXED_NOW))
    with server:
        base_url = server.base_url
        response = httpx.get(f"{base_url}/v1/account/accountInformation", headers={"ApiKey": API_KEY})
        assert response.status_code == 200
    assert server.base_url == base_url
    try:
        httpx.get(f"{base_url}/v1/orders", timeout=0.5)
        raise AssertionError("the server should be gone")
    except httpx.TransportError:
        pass


def test_sequential_requests_do_not_wait_for_delayed_acks() -> None:
    # With Nagle's algorithm left on, each request costs ~40 ms (delayed ACK); 50 requests must take far less. The
    # best of three rounds: one round on a machine busy with the rest of the suite once took 1.07 s, while Nagle
    # would make every round take 2 s or more.
    sandbox = Sandbox(seed_start=FIXED_NOW)
    sandbox.add_orders([make_order(1)])
    rounds = []
    with SandboxServer(sandbox) as server, httpx.Client(base_url=server.base_url, headers=HEADERS) as client:
        client.get("/v1/orders/1")
        for _ in range(3):
            started = time.perf_counter()
            for _ in range(50):
                assert client.get("/v1/orders/1").status_code == 200
            rounds.append(time.perf_counter() - started)
    assert min(rounds) < 1.0


async def test_concurrent_clients_with_injected_latency_overlap() -> None:
    sandbox = Sandbox(seed_start=FIXED_NOW, faults=Faults(latency_ms=250))
    sandbox.add_orders([make_order(n) for n in range(1, 9)])
    with SandboxServer(sandbox) as server:
        async with httpx.AsyncClient(base_url=server.base_url, headers=HEADERS) as client:
            started = time.perf_counter()
            responses = await asyncio.gather(*(client.get(f"/v1/orders/{n}") for n in range(1, 9)))
            elapsed = time.perf_counter() - started
    assert all(r.status_code == 200 for r in responses)
    # The latency is an asyncio.sleep, so 8 requests overlap instead of taking 8 x 250 ms. Half of that is the bound:
    # with 50 ms and a bound of 0.4 s, a busy machine (the suite on two cores) took 0.72 s with overlap.
    assert elapsed < 1.0


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.mark.parametrize(("method", "path"), [("POST", "/v1/orders"), ("PUT", "/_sandbox/faults")])
def test_a_client_that_disconnects_before_its_body_arrives_costs_one_log_line_and_changes_nothing(
    method: str, path: str
) -> None:
    # A Ctrl-C during a push: the headers and part of the body are sent, then the connection closes.
    sandbox = Sandbox(seed_start=FIXED_NOW)
    with SandboxServer(sandbox) as server:
        logger = logging.getLogger("uvicorn.error")  # uvicorn's configuration, made when the server starts, kept it
        records = _Records()
        logger.addHandler(records)
        try:
            port = int(server.base_url.rsplit(":", 1)[1])
            head = "".join(f"{name}: {value}\r\n" for name, value in HEADERS.items())
            with socket.create_connection(("127.0.0.1", port)) as connection:
                connection.sendall(
                    f"{method} {path} HTTP/1.1\r\nHost: sandbox\r\n{head}Content-Type: application/json\r\n"
                    f'Content-Length: 1000\r\n\r\n{{"latency_ms": 900, "Customer":'.encode()
                )
                time.sleep(0.1)
            deadline = time.monotonic() + 5
            while not records.records and time.monotonic() < deadline:
                time.sleep(0.02)
            time.sleep(0.1)  # a traceback would follow the first record at once
            faults = httpx.get(f"{server.base_url}/_sandbox/faults").json()
        finally:
            logger.removeHandler(records)
    assert [(r.levelname, r.getMessage()) for r in records.records] == [
        ("WARNING", f"{method} {path}: the client disconnected before sending the whole request; nothing done")
    ]
    assert all(r.exc_info is None for r in records.records)
    assert sandbox.orders == {} and faults["latency_ms"] == 0
