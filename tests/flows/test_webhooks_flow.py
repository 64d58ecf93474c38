"""The Prefect flow that applies stored webhook events (flows/webhooks.py) does what `webhooks apply` does."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from connectors.billit.webhook_signature import Signed
from connectors.warehouse import create_warehouse_engine, upgrade
from sandbox.identity import API_KEY, PARTY_ID
from sandbox.server import SandboxServer
from sandbox.store import Sandbox
from tasks import runtime
from tasks.inbound.webhook_events import store_event
from tests.flows.prefect_harness import prefect_harness
from tests.tasks.sync_helpers import SEED_START
from tests.tasks.webhook_helpers import events, invoice, order_event, order_gets

# The Prefect tests run one after the other on one pytest-xdist worker (`make test`: --dist loadgroup).
pytestmark = pytest.mark.xdist_group("prefect")


@pytest.fixture
def server() -> Iterator[SandboxServer]:
    with SandboxServer(Sandbox(seed=8, orders=200, seed_start=SEED_START)) as running:
        yield running


def test_the_flow_applies_the_stored_events_once(
    server: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flows.webhooks import webhook_events_to_warehouse

    url = f"sqlite:///{tmp_path / 'warehouse.sqlite'}"
    for name, value in {
        "BILLIT_BASE_URL": server.base_url,
        "BILLIT_API_KEY": API_KEY,
        "BILLIT_PARTY_ID": str(PARTY_ID),
        "WAREHOUSE_URL": url,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    runtime._engine_for.cache_clear()
    engine = create_warehouse_engine(url)
    upgrade(engine)
    order_id = next(i for i, o in server.sandbox.company_orders(PARTY_ID).items() if o["OrderDirection"] == "Cost")
    for n in range(3):
        store_event(engine, Signed("wh-1", 1_800_000_000 + n, f"{n:064x}"), json.loads(order_event(order_id)))

    with prefect_harness():
        first = webhook_events_to_warehouse()
        again = webhook_events_to_warehouse()
    assert first == {"events": {"applied": 3}, "orders": 1, "waiting": 0}
    assert again == {"events": {}, "orders": 0, "waiting": 0}
    assert order_gets(server) == 1
    row = invoice(engine, order_id)
    assert row is not None and row["direction"] == "Cost"
    assert [event["status"] for event in events(engine)] == ["applied"] * 3
