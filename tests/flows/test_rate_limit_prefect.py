"""BILLIT_MAX_REQUESTS_PER_S on a Prefect server: its global limit with slot decay holds the sum of two workers.

Two workers as two machines would run them: each its own thread, event loop, client and limiter with a state of
its own (nothing shared on disk), both pacing at the configured rate; only the server's `billit-api-rate` limit
joins them. The sandbox has no limit of its own here, so nothing but Prefect's can hold the sum at the rate.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from connectors.billit import BillitClient, load_settings
from connectors.billit.ratelimit import AdaptiveRateLimiter
from sandbox.identity import API_KEY, PARTY_ID
from sandbox.server import SandboxServer
from sandbox.store import Sandbox
from tasks.runtime import BILLIT_RATE_LIMIT, PrefectRateGate, ensure_concurrency_limit, ensure_rate_limit
from tests.tasks.sync_helpers import SEED_START

pytestmark = pytest.mark.xdist_group("prefect")

RATE = 30.0


@pytest.fixture(scope="module")
def prefect_server() -> Iterator[None]:
    from tests.flows.prefect_harness import prefect_harness

    with prefect_harness():
        yield


def test_two_workers_sharing_only_the_prefect_rate_limit_stay_together_under_it(prefect_server: None) -> None:
    from prefect.client.orchestration import get_client

    batch = ensure_rate_limit(RATE)
    assert ensure_rate_limit(RATE) == batch  # idempotent: created once, then found as it is
    with get_client(sync_client=True) as client:
        limit = client.read_global_concurrency_limit_by_name(BILLIT_RATE_LIMIT)
    assert (limit.limit, limit.slot_decay_per_second) == (batch, RATE)

    with SandboxServer(Sandbox(seed=17, orders=400, seed_start=SEED_START)) as server:
        ids = sorted(server.sandbox.company_orders(PARTY_ID))[:240]
        halves = [ids[:120], ids[120:]]
        results: list[list[dict[str, Any]]] = [[], []]
        gates = [PrefectRateGate(batch), PrefectRateGate(batch)]

        def worker(index: int) -> None:
            settings = load_settings(base_url=server.base_url, api_key=API_KEY, party_id=PARTY_ID)
            limiter = AdaptiveRateLimiter(max_per_s=RATE, gate=gates[index])  # alone, each would go at RATE

            async def fetch() -> list[dict[str, Any]]:
                async with BillitClient(settings, limiter=limiter) as billit:
                    return await billit.get_orders(halves[index])

            results[index] = asyncio.run(fetch())

        workers = [threading.Thread(target=worker, args=(index,)) for index in (0, 1)]
        started = time.monotonic()
        for thread in workers:
            thread.start()
        for thread in workers:
            thread.join()
        elapsed = time.monotonic() - started

    for orders, wanted in zip(results, halves, strict=True):
        assert [order["OrderID"] for order in orders] == wanted
    # The sum held at the rate, not each worker: 240 requests at 30 a second together cannot take less than ~8 s
    # (less a batch each taken at once, and the local pace's one early request); each alone at 30 would take 4 s.
    assert elapsed >= (240 - 2 * (batch + 1)) / RATE
    assert all(gate.calls >= 120 // batch for gate in gates)  # every request's slot came from the server


def test_the_demo_creates_the_billit_api_limit_once_and_keeps_one_an_operator_set(prefect_server: None) -> None:
    # Without it every Billit task of the demo logged "Concurrency limits ['billit-api'] do not exist".
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import GlobalConcurrencyLimitUpdate

    ensure_concurrency_limit("billit-api-demo-test", 16)
    with get_client(sync_client=True) as client:
        assert client.read_global_concurrency_limit_by_name("billit-api-demo-test").limit == 16
        client.update_global_concurrency_limit("billit-api-demo-test", GlobalConcurrencyLimitUpdate(limit=24))
        ensure_concurrency_limit("billit-api-demo-test", 16)
        assert client.read_global_concurrency_limit_by_name("billit-api-demo-test").limit == 24
