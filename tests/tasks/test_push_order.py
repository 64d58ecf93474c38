"""The reverse flow, second round (issue 11): credit notes after the invoice they credit, work shared between
concurrent runs, a dead run's claims freed at once, external ids Billit cannot tell apart refused, a wrong key
stopped at the first answer. Against the sandbox over real HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa

from connectors.billit import BillitAuthError
from connectors.warehouse import reflect_tables
from sandbox.server import SandboxServer
from sandbox.store import Sandbox
from tasks.outbound.push import PushSummary
from tests.tasks.push_helpers import CREATE_ROUTE, answers, insert, orders_by_external_id, outbound, posts, push, stored
from tests.tasks.sync_helpers import SEED_START


@pytest.fixture
def server() -> Iterator[SandboxServer]:
    with SandboxServer(Sandbox(seed=3, orders=0, seed_start=SEED_START, hold_deliveries=True)) as running:
        yield running


def invoice_and_credit_notes(count: int) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """`count` invoices numbered DEMO-n, each credited by a credit note whose external id sorts *before* it."""
    items = []
    for n in range(count):
        items.append(outbound(f"inv-{n:04d}", order_number=f"DEMO-{n:04d}"))
        items.append(
            outbound(f"a-credit-{n:04d}", order_type="CreditNote", about_invoice_number=f"DEMO-{n:04d}", lines=1)
        )
    return items


def now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def test_a_credit_note_waits_for_its_invoice_in_the_same_push_under_concurrency_and_faults(
    server: SandboxServer, engine: sa.Engine
) -> None:
    # Issue 11: a credit note raced its invoice in one batch and Billit answered 400 "The invoice ... does not
    # exist"; the row ended rejected for good. Here every credit note sorts before its invoice.
    items = invoice_and_credit_notes(60)
    insert(engine, items)
    server.sandbox.injector.update({"rate_post_commit_drop": 0.1, "rate_5xx": 0.05, "rate_drop": 0.05, "seed": 4})
    summaries: list[PushSummary] = []

    def run() -> None:
        summaries.append(push(server, engine, batch_size=5))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    while any(row.status != "created" for row in stored(engine).values()):  # retries ran out: a later run
        assert push(server, engine).rejected == {}
    assert all(not summary.rejected for summary in summaries)
    orders = orders_by_external_id(server)
    assert len(orders) == 120 and all(len(found) == 1 for found in orders.values())
    for n in range(60):
        (invoice,), (credit_note,) = orders[f"inv-{n:04d}"], orders[f"a-credit-{n:04d}"]
        assert credit_note["AboutInvoiceNumber"] == invoice["OrderNumber"] == f"DEMO-{n:04d}"
        assert credit_note["OrderID"] > invoice["OrderID"]  # created after it


def test_a_credit_note_whose_invoice_is_rejected_stays_pending_with_the_reason_until_the_invoice_exists(
    server: SandboxServer, engine: sa.Engine
) -> None:
    insert(
        engine,
        [
            outbound("inv-0001", order_number="DEMO-0001", customer_name=None),
            outbound("cn-0001", order_type="CreditNote", about_invoice_number="DEMO-0001", lines=1),
        ],
    )
    summary = push(server, engine)
    assert (summary.rejected, summary.waiting) == ({"LocalValidation": 1}, 1)
    credit_note = stored(engine)["cn-0001"]
    assert (credit_note.status, credit_note.last_error_code) == ("pending", "WaitingForInvoice")
    assert "waits for invoice DEMO-0001 (outbound row 'inv-0001', rejected)" in credit_note.last_error
    assert posts(server) == 0

    table = reflect_tables(engine)["outbound_invoices"]
    with engine.begin() as connection:  # the user fixes the invoice
        connection.execute(
            table.update().where(table.c.external_id == "inv-0001").values(customer_name="Klant 1 NV", status="pending")
        )
    summary = push(server, engine)
    assert (summary.created, summary.rejected, summary.waiting) == (2, {}, 0)
    assert {row.status for row in stored(engine).values()} == {"created"}


def test_a_credit_note_about_an_invoice_nowhere_in_the_table_goes_and_billit_decides(
    server: SandboxServer, engine: sa.Engine
) -> None:
    insert(engine, [outbound("cn-0002", order_type="CreditNote", about_invoice_number="NOWHERE-1", lines=1)])
    summary = push(server, engine)
    assert sum(summary.rejected.values()) == 1 and summary.waiting == 0
    assert "NOWHERE-1" in stored(engine)["cn-0002"].last_error


def test_two_runs_started_together_share_the_rows(server: SandboxServer, engine: sa.Engine) -> None:
    # Issue 11: of two runs on 400 rows one claimed everything and the other considered 0.
    # "Together" as a scheduler starts them: the second a moment after the first.
    insert(engine, [outbound(f"erp-{n:05d}") for n in range(400)])
    server.sandbox.injector.update({"latency_ms": 20})
    summaries: list[PushSummary] = []

    def run() -> None:
        summaries.append(push(server, engine))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
        time.sleep(0.2)
    for thread in threads:
        thread.join()
    considered = sorted(summary.considered for summary in summaries)
    assert sum(considered) == 400 and considered[0] >= 100, considered
    assert len(orders_by_external_id(server)) == 400


def test_the_claims_of_a_dead_run_are_taken_over_at_once_and_a_live_runs_claims_are_named(
    server: SandboxServer, engine: sa.Engine
) -> None:
    # Issue 11: a killed push stalled the next one for 30 minutes ("considered 0", no hint). And found by an outside
    # tester: one killed whose parent had not reaped it yet (a zombie, as under an init that reaps late) still
    # counted as running, and its claims held every row.
    dead = subprocess.Popen(["true"])
    dead.wait()
    zombie = subprocess.Popen(["true"])  # exited, never waited for: a zombie until reaped
    time.sleep(0.3)
    host = socket.gethostname()
    insert(
        engine,
        [
            outbound("dead-1", claimed_by=f"{host}/{dead.pid}/{uuid.uuid4().hex}", claimed_at=now()),
            outbound("live-2", claimed_by=f"{host}/{os.getppid()}/{uuid.uuid4().hex}", claimed_at=now()),
            outbound("other-host-3", claimed_by=f"elsewhere/1/{uuid.uuid4().hex}", claimed_at=now()),
            outbound("zombie-4", claimed_by=f"{host}/{zombie.pid}/{uuid.uuid4().hex}", claimed_at=now()),
        ],
    )
    summary = push(server, engine)
    zombie.wait()
    assert (summary.considered, summary.created) == (2, 2)
    assert stored(engine)["dead-1"].status == "created" and stored(engine)["zombie-4"].status == "created"
    assert summary.held_elsewhere == 2 and summary.held_until is not None
    assert summary.as_dict()["held_until"] > now().isoformat(sep=" ", timespec="seconds")


def test_external_ids_billit_cannot_tell_apart_are_refused_and_lost_answers_never_link_the_wrong_order(
    server: SandboxServer, engine: sa.Engine
) -> None:
    # Issue 11: with lost answers the look-up by ExternalProviderID (case- and space-insensitive in Billit) took
    # the oldest match, so one row got the other's order.
    insert(engine, [outbound("CaseTwin-1"), outbound("casetwin-1"), outbound("Solo-7")])
    server.sandbox.injector.update({"rate_post_commit_drop": 1.0, "seed": 2})
    summary = push(server, engine, max_retries=1)
    rows = stored(engine)
    assert summary.rejected == {"ExternalIdCollision": 2}
    for twin, other in (("CaseTwin-1", "casetwin-1"), ("casetwin-1", "CaseTwin-1")):
        assert rows[twin].status == "rejected" and repr(other) in rows[twin].last_error
    server.sandbox.injector.update({"rate_post_commit_drop": 0.0})
    while rows["Solo-7"].status != "created":
        push(server, engine)
        rows = stored(engine)
    (order,) = orders_by_external_id(server)["Solo-7"]
    assert rows["Solo-7"].billit_order_id == order["OrderID"]


def test_a_row_attempted_before_its_twin_arrived_keeps_its_own_order(server: SandboxServer, engine: sa.Engine) -> None:
    insert(engine, [outbound("Twin-1")])
    push(server, engine)
    (order,) = orders_by_external_id(server)["Twin-1"]
    table = reflect_tables(engine)["outbound_invoices"]
    with engine.begin() as connection:  # as if its answer had been lost: attempted, no order id recorded
        connection.execute(table.update().values(status="failed", billit_order_id=None))
    insert(engine, [outbound("twin-1")])
    summary = push(server, engine)
    rows = stored(engine)
    assert (rows["Twin-1"].status, rows["Twin-1"].billit_order_id) == ("created", order["OrderID"])
    assert rows["twin-1"].status == "rejected" and summary.already_existed == 1


def test_a_wrong_api_key_stops_at_the_first_answer(server: SandboxServer, engine: sa.Engine) -> None:
    # Issue 11: a wrong key POSTed every row (300 answers 401) before the run ended with counts only.
    insert(engine, [outbound(f"erp-{n:05d}") for n in range(300)])
    with pytest.raises(BillitAuthError):
        push(server, engine, api_key="wrong-key")
    assert posts(server) == 0
    assert sum(answers(server, CREATE_ROUTE).values()) == 0
    assert {(row.status, row.attempts, row.claimed_by) for row in stored(engine).values()} == {("pending", 0, None)}
