"""Each path of the push (tasks/outbound/push.py) that only a fault reaches, against the sandbox over HTTP, on both
databases.

The faults are one-shot tokens of the sandbox's fault script, consumed by the next `/v1` requests in order; each
test checks from the sandbox's request counts that its fault hit the request it meant, so a change in the order
of the push's requests shows up as a clear failure instead of a test that no longer tests anything.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from connectors.billit import BillitAuthError
from connectors.warehouse import reflect_tables
from sandbox.identity import SECOND_PARTY_ID
from sandbox.server import SandboxServer
from sandbox.store import Sandbox
from tasks.outbound.run import PushSummary
from tests.tasks.corrupting_proxy import CorruptingProxy
from tests.tasks.push_helpers import (
    COMPANY,
    CREATE_ROUTE,
    SEND_ROUTE,
    VALID_VAT,
    answers,
    insert,
    orders_by_external_id,
    outbound,
    posts,
    push,
    stored,
)
from tests.tasks.sync_helpers import SEED_START


@pytest.fixture
def server() -> Iterator[SandboxServer]:
    with SandboxServer(Sandbox(seed=3, orders=0, seed_start=SEED_START, hold_deliveries=True)) as running:
        yield running


def script(server: SandboxServer, *tokens: str) -> None:
    """The answers to the next requests; the first is the run's opening read (tasks/outbound/push.py), answered ok."""
    server.sandbox.injector.update({"script": ["ok", *tokens]})


def outgoing_messages(server: SandboxServer, order_id: int) -> int:
    messages = server.sandbox.get_order(order_id)["Messages"]
    return sum(message["MessageDirection"] == "Outgoing" for message in messages)


def lose_a_send_answer(server: SandboxServer, engine: sa.Engine, external_id: str) -> tuple[int, PushSummary]:
    """Create a row's order, then send it with the answer lost after Billit sent it; its OrderID and the run."""
    server.sandbox.register_participant("9925:BE0412345614")
    insert(engine, [outbound(external_id)])
    push(server, engine)
    order_id = stored(engine)[external_id].billit_order_id
    # The send: one GET of the order (already sent?), then the command; Billit sends, the answer never arrives.
    script(server, "ok", "post-commit-drop")
    run = push(server, engine, send=True, check_participants=False)
    assert answers(server, SEND_ROUTE) == {"200": 1}  # the drop hit the send, after Billit processed it
    return order_id, run


def test_a_send_whose_answer_was_lost_is_recorded_as_sent_by_the_next_run_and_never_sent_twice(
    server: SandboxServer, engine: sa.Engine
) -> None:
    order_id, first = lose_a_send_answer(server, engine, "lost-0")
    row = stored(engine)["lost-0"]
    assert (row.status, row.last_error_code, first.sent) == ("created", "BillitTransportError", 0)
    assert server.sandbox.get_order(order_id)["IsSent"]

    second = push(server, engine, send=True, check_participants=False)
    row = stored(engine)["lost-0"]
    assert (second.sent, row.status, row.last_error_code) == (1, "sent", None) and row.sent_at is not None
    assert answers(server, SEND_ROUTE) == {"200": 1}
    assert server.sandbox.counters["orders_sent"] == 1 and outgoing_messages(server, order_id) == 1


def test_a_lost_send_is_not_sent_again_while_is_sent_lags_behind_the_delivery(
    server: SandboxServer, engine: sa.Engine
) -> None:
    # When IsSent flips is not documented. Found against an independent simulator flipping it 20 s late: the next
    # run read IsSent false and sent again. The delivery under way and the outgoing message say it was sent.
    order_id, _ = lose_a_send_answer(server, engine, "lagging-0")
    assert server.sandbox.get_order(order_id)["IsSent"]

    def is_sent_late(status: int, order: dict[str, object]) -> tuple[int, object]:
        return status, {**order, "IsSent": False}

    with CorruptingProxy(server.base_url) as proxy:
        proxy.corrupt("GET", rf"/v1/orders/{order_id}$", is_sent_late, times=100)
        second = push(server, engine, send=True, check_participants=False, via=proxy.base_url)
    assert (second.sent, stored(engine)["lagging-0"].status) == (1, "sent")
    assert answers(server, SEND_ROUTE) == {"200": 1} and server.sandbox.counters["orders_sent"] == 1


@pytest.mark.parametrize(
    ("order", "sent"),
    [
        ({"IsSent": True}, True),
        ({"IsSent": False, "CurrentDocumentDeliveryDetails": {"DocumentDeliveryStatus": "Pending"}}, True),
        ({"CurrentDocumentDeliveryDetails": {"IsDocumentDelivered": True}}, True),
        ({"Messages": [{"MessageDirection": "Outgoing", "Success": False}]}, True),  # tried: a person resends
        ({"IsSent": False, "CurrentDocumentDeliveryDetails": {"IsDocumentDelivered": False}}, False),
        ({"Messages": [{"MessageDirection": "Incoming"}], "CurrentDocumentDeliveryDetails": None}, False),
    ],
)
def test_each_trace_of_a_send_counts_as_sent_on_its_own(order: dict[str, object], sent: bool) -> None:
    from tasks.outbound.send import _already_sent

    assert _already_sent(order) is sent


def test_a_401_that_stops_the_run_leaves_every_other_row_it_created_recorded(
    server: SandboxServer, engine: sa.Engine
) -> None:
    # A review found the outcomes of the rows pushed beside the refused one lost: its batch raised before writing
    # them, and the task group cancelled the other batches in flight.
    insert(engine, [outbound(f"beside-{n:02d}") for n in range(30)])
    with CorruptingProxy(server.base_url) as proxy:
        proxy.corrupt("POST", r"/v1/orders$", lambda status, body: (401, None), times=1)  # created, answered 401
        with pytest.raises(BillitAuthError):
            push(server, engine, via=proxy.base_url, batch_size=5, window=15)
    rows = stored(engine)
    recorded = {key for key, row in rows.items() if row.status == "created"}
    in_billit = {key for key, found in orders_by_external_id(server).items() if found}
    assert len(in_billit) > len(recorded) >= 5  # more than one batch went out
    assert len(in_billit - recorded) == 1  # only the refused create is unknown to the warehouse
    assert all(row.claimed_by is None for row in rows.values())
    push(server, engine)  # the next run finds the refused one's order instead of creating it again
    assert {row.status for row in stored(engine).values()} == {"created"}
    assert all(len(found) == 1 for found in orders_by_external_id(server).values())


def test_a_send_batch_refused_for_one_customer_is_retried_row_by_row_and_the_others_are_sent(
    server: SandboxServer, engine: sa.Engine
) -> None:
    server.sandbox.register_participant("9925:BE0412345614")
    server.sandbox.register_participant("9925:BE0403019261", registered=False)
    server.sandbox.register_participant("9925:BE0899965307")
    insert(engine, [outbound("batch-0"), outbound("batch-1"), outbound("batch-2")])  # batch-1 is not on Peppol

    # Without the participant check all three go into one send, which Billit refuses whole.
    summary = push(server, engine, send=True, check_participants=False)
    assert answers(server, SEND_ROUTE) == {"400": 2, "200": 2}  # the batch, then each row alone
    rows = stored(engine)
    assert {key: (row.status, row.last_error_code) for key, row in rows.items()} == {
        "batch-0": ("sent", None),
        "batch-1": ("created", "TheCustomerIsNotActiveOnPeppol"),
        "batch-2": ("sent", None),
    }
    assert (summary.sent, dict(summary.not_sent)) == (2, {"TheCustomerIsNotActiveOnPeppol": 1})
    sent = {key: server.sandbox.get_order(row.billit_order_id)["IsSent"] for key, row in rows.items()}
    assert sent == {"batch-0": True, "batch-1": False, "batch-2": True}


@pytest.mark.parametrize("answer", ["a name in Latin-1", "404"])
def test_an_order_whose_sent_flag_cannot_be_read_cleanly_does_not_stop_the_send_of_the_others(
    answer: str, server: SandboxServer, engine: sa.Engine
) -> None:
    for vat_number in VALID_VAT[:2]:
        server.sandbox.register_participant(f"9925:{vat_number}")
    insert(engine, [outbound("read-0"), outbound("read-1")])
    push(server, engine)
    order_id = stored(engine)["read-0"].billit_order_id
    with CorruptingProxy(server.base_url) as proxy:
        if answer == "404":
            proxy.not_found(order_id)
        else:
            proxy.corrupt_order(order_id, lambda order: {**order, "Comments": "@LATIN1@"})
        summary = push(server, engine, via=proxy.base_url, send=True, check_participants=False)
        assert proxy.hits == 1

    rows = stored(engine)
    if answer == "404":  # unknown whether it was sent: left for the next run, with Billit's answer
        assert (rows["read-0"].status, rows["read-0"].last_error_code) == ("created", "NotFound")
        assert (rows["read-1"].status, summary.sent, dict(summary.not_sent)) == ("sent", 1, {"NotFound": 1})
        assert not summary.ok  # exit 1: an invoice asked to be sent is not (found by an outside re-check)
        assert push(server, engine, send=True, check_participants=False).ok
    else:  # IsSent is read whatever the bytes of a name
        assert (summary.sent, dict(summary.not_sent)) == (2, {})
    assert {key: row.status for key, row in stored(engine).items()} == {"read-0": "sent", "read-1": "sent"}
    assert server.sandbox.counters["orders_sent"] == 2


def test_a_participant_lookup_that_cannot_be_read_leaves_its_row_created_and_the_others_are_sent(
    server: SandboxServer, engine: sa.Engine
) -> None:
    for vat_number in VALID_VAT[:2]:
        server.sandbox.register_participant(f"9925:{vat_number}")
    insert(engine, [outbound("lookup-0"), outbound("lookup-1")])
    push(server, engine)
    with CorruptingProxy(server.base_url) as proxy:
        proxy.corrupt("GET", rf"/v1/peppol/participantInformation/9925:{VALID_VAT[0]}$", lambda status, body: (200, []))
        summary = push(server, engine, via=proxy.base_url, send=True)
        assert proxy.hits == 1

    rows = stored(engine)
    assert (rows["lookup-0"].status, rows["lookup-0"].last_error_code) == ("created", "BillitProtocolError")
    assert (rows["lookup-1"].status, summary.sent, summary.ok) == ("sent", 1, False)


def test_a_create_that_fails_every_retry_is_failed_and_the_next_run_creates_it_once(
    server: SandboxServer, engine: sa.Engine
) -> None:
    insert(engine, [outbound("flaky-1")])
    # The look-up before it, then each try and the look-up after it (a 5xx may hide a create that committed).
    script(server, "ok", "500", "ok", "500", "ok", "500")
    first = push(server, engine, max_retries=2)
    row = stored(engine)["flaky-1"]
    assert (first.failed, first.created) == (1, 0)
    assert (row.status, row.attempts, row.billit_order_id, row.last_error_code) == (
        "failed",
        1,
        None,
        "GenericError",
    )  # Billit's code in the 500's body
    assert answers(server, CREATE_ROUTE) == {"500": 3} and orders_by_external_id(server) == {}

    second = push(server, engine, max_retries=2)
    row = stored(engine)["flaky-1"]
    (order,) = orders_by_external_id(server)["flaky-1"]
    assert (second.failed, second.created) == (0, 1)
    assert (row.status, row.attempts, row.billit_order_id, row.last_error_code) == (
        "created",
        2,
        order["OrderID"],
        None,
    )
    assert answers(server, CREATE_ROUTE) == {"500": 3, "200": 1}


def test_a_create_that_committed_but_failed_every_retry_is_found_by_the_next_run_and_not_posted_again(
    server: SandboxServer, engine: sa.Engine
) -> None:
    insert(engine, [outbound("ghost-1")])
    # The look-up first; then Billit creates it, its answer is lost, and the look-up after it fails every retry.
    script(server, "ok", "post-commit-drop", "503", "503", "503")
    first = push(server, engine, max_retries=2)
    assert (first.failed, stored(engine)["ghost-1"].status) == (1, "failed")
    (order,) = orders_by_external_id(server)["ghost-1"]

    before = posts(server)
    second = push(server, engine, max_retries=2)
    row = stored(engine)["ghost-1"]
    assert (second.already_existed, second.created, posts(server)) == (1, 0, before)
    assert (row.status, row.billit_order_id) == ("created", order["OrderID"])
    assert len(orders_by_external_id(server)["ghost-1"]) == 1


def test_an_order_an_earlier_attempt_created_from_values_changed_since_is_recorded_flagged_and_never_sent(
    server: SandboxServer, engine: sa.Engine
) -> None:
    """The create committed, its answer was lost and every retry failed; the row was then corrected (its price) and
    pushed again. The order found is recorded, not created twice, but it holds the old price: the row says so, the
    run fails, and `--send` leaves it alone."""
    server.sandbox.register_participant("9925:BE0412345614")
    insert(engine, [outbound("fixed-1")])
    script(server, "ok", "post-commit-drop", "503", "503", "503")  # the look-up after the lost answer fails too
    push(server, engine, max_retries=2)
    (order,) = orders_by_external_id(server)["fixed-1"]
    table = reflect_tables(engine)["outbound_invoice_lines"]
    with engine.begin() as connection:  # what a reload of the corrected files does to a failed row
        connection.execute(table.update().where(table.c.line_number == 1).values(unit_price_excl=250))

    summary = push(server, engine, max_retries=2, send=True)
    row = stored(engine)["fixed-1"]
    assert (summary.already_existed, summary.created, summary.differs_in_billit, summary.ok) == (1, 0, 1, False)
    assert (row.status, row.billit_order_id, row.last_error_code, bool(row.changed_after_create)) == (
        "created",
        order["OrderID"],
        "OrderDiffersFromRow",
        True,
    )
    assert "holds other lines than the row" in row.last_error and "250" in row.last_error
    assert row.change_reason == row.last_error
    assert len(orders_by_external_id(server)["fixed-1"]) == 1
    assert outgoing_messages(server, order["OrderID"]) == 0  # the old price never went to the customer

    again = push(server, engine, send=True)
    assert (again.sent, stored(engine)["fixed-1"].status, outgoing_messages(server, order["OrderID"])) == (
        0,
        "created",
        0,
    )


def test_an_order_an_earlier_attempt_made_before_another_field_changed_is_flagged_too(
    server: SandboxServer, engine: sa.Engine
) -> None:
    """Its lines are the row's, but the customer changed after the attempt that made it (review): the attempt's key,
    a hash of what it sent, is not this one's."""
    insert(engine, [outbound("renamed-1")])
    script(server, "ok", "post-commit-drop", "503", "503", "503")  # the look-up after the lost answer fails too
    push(server, engine, max_retries=2)
    table = reflect_tables(engine)["outbound_invoices"]
    with engine.begin() as connection:
        connection.execute(table.update().values(customer_name="Another Customer NV"))
    summary = push(server, engine)
    row = stored(engine)["renamed-1"]
    assert (summary.already_existed, summary.differs_in_billit) == (1, 1)
    assert row.last_error_code == "OrderDiffersFromRow" and "was made from other values" in row.last_error


def test_a_created_row_changed_in_its_source_since_is_not_sent_and_is_counted(
    server: SandboxServer, engine: sa.Engine
) -> None:
    """Found from the outside: `push --source --send` sent an invoice whose customer had changed in the ERP after it
    was created, to the old customer. A row flagged changed_after_create waits until the flag clears, and so does a
    credit note of it (found from the outside: the customer got a credit for an invoice it never received)."""
    credit_note = outbound("later-3", order_type="CreditNote", about_invoice_number="INV-LATER-1")
    insert(engine, [outbound("later-1", order_number="INV-LATER-1"), outbound("later-2"), credit_note])
    push(server, engine)
    table = reflect_tables(engine)["outbound_invoices"]
    with engine.begin() as connection:  # what a take-in of a changed source does to a created row
        connection.execute(
            table.update().where(table.c.external_id == "later-1").values(changed_after_create=True, change_reason="x")
        )
    summary = push(server, engine, send=True, transport="SMTP")  # every customer is reachable by e-mail
    rows = stored(engine)
    assert [rows[f"later-{n}"].status for n in (1, 2, 3)] == ["created", "sent", "created"]
    assert summary.sent == 1 and summary.not_sent["ChangedAfterCreate"] == 2
    assert outgoing_messages(server, rows["later-1"].billit_order_id) == 0
    assert outgoing_messages(server, rows["later-3"].billit_order_id) == 0

    with engine.begin() as connection:  # the source matches again: the take-in clears the flag
        connection.execute(table.update().values(changed_after_create=False, change_reason=None))
    assert push(server, engine, send=True, transport="SMTP").sent == 2
    assert [row.status for row in stored(engine).values()] == ["sent"] * 3


def test_a_created_row_edited_in_the_table_since_is_not_sent_and_is_flagged_as_differing(
    server: SandboxServer, engine: sa.Engine
) -> None:
    """Found from the outside: a row edited directly in the table after its create (only load-outbound and --source
    flag such a change) was sent with the old values. The send compares each order with its row, as the push does
    with an order it finds: its lines, and the key of the create against the row's now."""
    insert(engine, [outbound("edited-1"), outbound("edited-2"), outbound("kept-3")])
    push(server, engine)
    invoices, lines = (reflect_tables(engine)[name] for name in ("outbound_invoices", "outbound_invoice_lines"))
    with engine.begin() as connection:
        connection.execute(lines.update().where(lines.c.external_id == "edited-1").values(unit_price_excl=250))
        connection.execute(invoices.update().where(invoices.c.external_id == "edited-2").values(customer_name="Other"))
    summary = push(server, engine, send=True, transport="SMTP")  # every customer is reachable by e-mail
    rows = stored(engine)
    assert (summary.sent, summary.differs_in_billit, summary.ok) == (1, 2, False)
    assert [rows[key].status for key in ("edited-1", "edited-2", "kept-3")] == ["created", "created", "sent"]
    assert "holds other lines than the row" in rows["edited-1"].last_error and "250" in rows["edited-1"].last_error
    assert "the row was changed after the create" in rows["edited-2"].last_error
    for key in ("edited-1", "edited-2"):
        assert (rows[key].last_error_code, bool(rows[key].changed_after_create)) == ("OrderDiffersFromRow", True)
        assert outgoing_messages(server, rows[key].billit_order_id) == 0
    # Every later run says so too, until a person decides (a review: the second run exited 0, still unsent).
    later = push(server, engine, send=True, transport="SMTP")
    assert (later.sent, later.not_sent["ChangedAfterCreate"], later.ok) == (0, 2, False)

    with engine.begin() as connection:  # the row matches its order again and the flag is cleared: it goes
        connection.execute(
            invoices.update().where(invoices.c.external_id == "edited-2").values(customer_name="Klant 2 NV")
        )
        connection.execute(invoices.update().values(changed_after_create=False, change_reason=None))
    again = push(server, engine, send=True, transport="SMTP")
    assert (again.sent, again.differs_in_billit, stored(engine)["edited-2"].status) == (1, 1, "sent")


def test_a_credit_note_of_a_sent_invoice_changed_in_its_source_since_is_sent(
    server: SandboxServer, engine: sa.Engine
) -> None:
    """The usual correction: the invoice went out, the ERP corrected it (flagged), a credit note follows. Only an
    invoice held back holds its credit notes back (review)."""
    insert(engine, [outbound("sent-1", order_number="INV-SENT-1")])
    push(server, engine, send=True, transport="SMTP")
    table = reflect_tables(engine)["outbound_invoices"]
    with engine.begin() as connection:
        connection.execute(table.update().values(changed_after_create=True, change_reason="x"))
    insert(engine, [outbound("sent-2", order_type="CreditNote", about_invoice_number="INV-SENT-1")])
    summary = push(server, engine, send=True, transport="SMTP")
    assert (summary.sent, stored(engine)["sent-2"].status, summary.not_sent["ChangedAfterCreate"]) == (1, "sent", 0)


def test_an_order_found_after_a_lost_answer_with_the_rows_values_is_recorded_as_created(
    server: SandboxServer, engine: sa.Engine
) -> None:
    insert(engine, [outbound("same-1", lines=3)])
    script(server, "ok", "post-commit-drop", "503", "503", "503")  # the look-up after the lost answer fails too
    push(server, engine, max_retries=2)
    summary = push(server, engine)
    row = stored(engine)["same-1"]
    assert (summary.already_existed, summary.differs_in_billit, summary.ok) == (1, 0, True)
    assert (row.status, row.last_error_code, bool(row.changed_after_create)) == ("created", None, False)


def test_a_409_whose_order_cannot_be_found_leaves_the_row_failed_and_never_creates_another_order(
    server: SandboxServer, engine: sa.Engine
) -> None:
    insert(engine, [outbound("gone-1")])
    push(server, engine)
    # Someone deleted the order in Billit and re-queued the row: the same content, so the same idempotency key.
    server.sandbox.delete_order(server.sandbox.get_order(stored(engine)["gone-1"].billit_order_id))
    table = reflect_tables(engine)["outbound_invoices"]
    with engine.begin() as connection:
        connection.execute(table.update().values(status="pending", billit_order_id=None))

    for run in (1, 2):  # the next run meets the same answer: still no new order under another key
        summary = push(server, engine)
        row = stored(engine)["gone-1"]
        assert (summary.failed, summary.created, summary.already_existed) == (1, 0, 0)
        assert (row.status, row.billit_order_id, row.last_error_code) == (
            "failed",
            None,
            "Idempotent token already exists",
        )
        assert answers(server, CREATE_ROUTE) == {"200": 1, "409": run}
        assert "gone-1" not in orders_by_external_id(server)


def test_a_claim_whose_lease_expired_is_taken_over_and_a_live_claim_is_left_alone(
    server: SandboxServer, engine: sa.Engine
) -> None:
    now = datetime.now(UTC).replace(tzinfo=None)  # claims are naive UTC in the warehouse
    insert(
        engine,
        [
            outbound("stale-1", claimed_by="crashed-run", claimed_at=now - timedelta(hours=2)),
            outbound("live-2", claimed_by="live-run", claimed_at=now - timedelta(minutes=1)),
            outbound("free-3"),
        ],
    )
    summary = push(server, engine)
    rows = stored(engine)
    assert (summary.considered, summary.created) == (2, 2)
    assert {key: (row.status, row.claimed_by) for key, row in rows.items()} == {
        "stale-1": ("created", None),
        "live-2": ("pending", "live-run"),
        "free-3": ("created", None),
    }
    assert rows["live-2"].attempts == 0
    assert sorted(orders_by_external_id(server)) == ["free-3", "stale-1"]


def test_a_row_whose_company_id_is_edited_after_an_unresolved_attempt_is_rejected_not_created_in_the_new_company(
    server: SandboxServer, engine: sa.Engine
) -> None:
    # Found from the outside: a reload may not move a row attempted before to another company (journal.py), but an
    # UPDATE of company_id in the table could. The create had committed in the old company with its answer lost and
    # the look-up failing; the next run looked the order up in the new company only and created a second one there.
    insert(engine, [outbound("moved-01")])
    look_ups = []

    def failing_after_the_first(status: int, body: object) -> tuple[int, object]:
        look_ups.append(status)
        return (status, body) if len(look_ups) == 1 else (503, None)

    with CorruptingProxy(server.base_url) as proxy:
        proxy.corrupt("POST", r"/v1/orders$", lambda status, body: (503, None), times=100)  # created, answer lost
        # The look-up before the create finds nothing; the ones after the lost answer fail.
        proxy.corrupt("GET", r"/v1/orders$", failing_after_the_first, times=100, query="ExternalProviderID")
        summary = push(server, engine, via=proxy.base_url, max_retries=1)
    assert summary.failed == 1 and stored(engine)["moved-01"].attempts == 1
    assert len(orders_by_external_id(server)["moved-01"]) == 1  # the order is in the configured company
    table = reflect_tables(engine)["outbound_invoices"]
    with engine.begin() as connection:
        connection.execute(table.update().values(company_id=SECOND_PARTY_ID))
    created_before = posts(server)

    summary = push(server, engine)

    row = stored(engine)["moved-01"]
    assert (row.status, row.last_error_code) == ("rejected", "CompanyChangedAfterAttempt")
    assert f"company {COMPANY}" in row.last_error and str(SECOND_PARTY_ID) in row.last_error
    assert posts(server) == created_before  # nothing created in the new company
    with server.sandbox.lock:
        assert not any(
            order.get("ExternalProviderID") == "moved-01"
            for order in server.sandbox.company_orders(SECOND_PARTY_ID).values()
        )
    assert summary.rejected["CompanyChangedAfterAttempt"] == 1 and not summary.ok

    with engine.begin() as connection:  # put back, the next push finds the order where it was made
        connection.execute(table.update().values(company_id=None, status="pending"))
    push(server, engine)
    row = stored(engine)["moved-01"]
    assert (row.status, row.company_id) == ("created", COMPANY)
    assert row.billit_order_id == orders_by_external_id(server)["moved-01"][0]["OrderID"]


def test_a_created_row_whose_company_id_is_edited_is_not_sent_and_says_why_until_it_names_its_order_s_company(
    server: SandboxServer, engine: sa.Engine
) -> None:
    # An UPDATE of a created row's company_id sent the send to the other company, where Billit refuses the order
    # (another company's OrderID answers 401), read as the key refused: the run stopped. Then, found by an outside
    # tester: the order was sent from the company it was made in and company_id silently written back, though an
    # operator who changed the seller did not want this invoice sent from the old one. An order cannot move.
    server.sandbox.register_participant("9925:BE0403019261")
    insert(engine, [outbound("sent-where-made-01"), outbound("other-01")])  # both to customer BE0403019261
    push(server, engine)
    table = reflect_tables(engine)["outbound_invoices"]
    with engine.begin() as connection:
        connection.execute(
            table.update().where(table.c.external_id == "sent-where-made-01").values(company_id=SECOND_PARTY_ID)
        )

    summary = push(server, engine, send=True, check_participants=False)

    rows = stored(engine)
    row = rows["sent-where-made-01"]
    assert (row.status, row.company_id, row.last_error_code) == (
        "created",
        SECOND_PARTY_ID,
        "CompanyChangedAfterCreate",
    )
    assert f"created in company {COMPANY}" in row.last_error and str(SECOND_PARTY_ID) in row.last_error
    assert rows["other-01"].status == "sent" and not summary.ok  # the others go on; the run says it needs a look
    assert summary.not_sent["CompanyChangedAfterCreate"] == 1 and answers(server, SEND_ROUTE) == {"200": 1}

    with engine.begin() as connection:  # the operator puts it back: sent from the company its order is in
        connection.execute(table.update().values(company_id=COMPANY))
    summary = push(server, engine, send=True, check_participants=False)
    assert summary.ok and stored(engine)["sent-where-made-01"].status == "sent", (
        summary,
        stored(engine)["sent-where-made-01"],
    )
    assert answers(server, SEND_ROUTE) == {"200": 2}
