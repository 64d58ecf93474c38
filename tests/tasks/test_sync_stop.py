"""A run asked to stop (`stop`, set when a command running streams side by side is interrupted) stops before its
next batch, also while it lists orders the warehouse holds already, against the sandbox over HTTP."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from sandbox.server import SandboxServer
from sandbox.store import Sandbox
from tasks.inbound.batches import SyncStopped
from tasks.options import MAX_LOOKBACK_MINUTES
from tests.tasks.sync_helpers import SEED_START, sync


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    with SandboxServer(Sandbox(seed=5, orders=4000, seed_start=SEED_START)) as running:
        yield running


def test_a_run_listing_unchanged_orders_stops_after_the_page_it_lists(server: SandboxServer, engine: sa.Engine) -> None:
    # Before: a run whose orders were all stored already had no batch to write until the end of its listing, and
    # listed every page before it stopped (9 s after the stop in a reviewer's run of 16,000 orders at 100 ms).
    sync(server, engine, "sales")
    stop = threading.Event()
    stop.set()
    with pytest.raises(SyncStopped):  # the whole window listed again: 16 pages of unchanged orders
        sync(server, engine, "sales", lookback_minutes=MAX_LOOKBACK_MINUTES, stop=stop)
    with engine.connect() as connection:
        [(status, error, unchanged)] = connection.execute(
            sa.text("select status, error, orders_unchanged from sync_runs where status <> 'succeeded'")
        ).all()
    assert unchanged <= 3 * 120  # the first page, and the pages listed ahead of it
    assert (status, error) == ("failed", "SyncStopped: stopped before its next batch: interrupted or cancelled")
