"""The sync stays exact whichever way Billit answers where its docs are silent (docs/reference/billit-api.md):
each sandbox switch, and all of them at once with faults, on first, changed, quiet and crash runs; and across the
October fall-back, when Billit's naive local clock goes back an hour."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from connectors.billit import BillitPaginationError
from sandbox.clock import SimulatedBrusselsClock
from sandbox.faults import Faults
from sandbox.identity import API_KEY
from sandbox.quirks import Quirks
from sandbox.server import SandboxServer
from sandbox.store import Sandbox
from tasks.inbound.sync import run_stream
from tests.tasks.corrupting_proxy import CorruptingProxy
from tests.tasks.sync_helpers import (
    COMPANY,
    SEED_START,
    assert_warehouse_matches_billit,
    kill_a_sales_sync_after_its_first_batch,
    sync,
)

SWITCHES: dict[str, dict[str, Any]] = {
    "or refused": {"refuse_or": True},
    "gt and lt refused": {"refuse_gt": True},
    "$inlinecount ignored": {"ignore_inlinecount": True},
    "/deleted ignores $filter": {"deleted_ignores_filter": True},
    "/deleted refuses $filter": {"deleted_refuses_filter": True},
    "/deleted LastModified is the order's last change": {"deleted_last_modified": "order"},
    "7 fraction digits": {"fraction_digits": 7},
    "NextPageLink on another host": {"next_link_host": "http://billit-internal:8080"},
    "member names in camelCase": {"member_case": "camel"},
}


@pytest.fixture(params=list(SWITCHES))
def switched(request: pytest.FixtureRequest) -> Iterator[SandboxServer]:
    sandbox = Sandbox(
        seed=21, orders=1300, delivery_delay_s=0.05, seed_start=SEED_START, quirks=Quirks(**SWITCHES[request.param])
    )
    with SandboxServer(sandbox) as running:
        yield running


def change_things(server: SandboxServer) -> None:
    """A paid invoice, a changed purchase, and the deletion of the order changed longest ago."""
    sandbox = server.sandbox
    orders = sandbox.company_orders(COMPANY)
    oldest = min(orders.values(), key=lambda order: order["LastModified"])
    income = sorted(i for i, o in orders.items() if o["OrderDirection"] == "Income" and not o.get("Paid"))
    cost = sorted(i for i, o in orders.items() if o["OrderDirection"] == "Cost" and i != oldest["OrderID"])
    sandbox.touch_order(income[0], Paid=True, OrderStatus="Paid")
    sandbox.touch_order(cost[0], Comments="changed")
    sandbox.delete_order(sandbox.get_order(oldest["OrderID"]))


def sync_both(server: SandboxServer, engine: sa.Engine, **options: Any) -> list[dict[str, Any]]:
    return [sync(server, engine, stream, **options) for stream in ("incoming", "sales")]


# On SQLite alone: a guess is about Billit's answers, which reach both databases through the same load; every guess
# at once (below) runs on both, and this suite's time is bounded (CI: 15 minutes on two cores).
@pytest.mark.parametrize("warehouse", ["sqlite"], indirect=True)
def test_each_guess_answered_the_other_way_leaves_the_warehouse_equal_to_billit(
    switched: SandboxServer, engine: sa.Engine
) -> None:
    assert all(summary["status"] == "succeeded" for summary in sync_both(switched, engine))
    assert_warehouse_matches_billit(switched, engine)
    change_things(switched)
    sync_both(switched, engine)
    assert_warehouse_matches_billit(switched, engine)
    quiet = sync_both(switched, engine)
    assert [summary["requests"] for summary in quiet] == [2, 2]
    assert_warehouse_matches_billit(switched, engine)


ALL_AT_ONCE = Quirks(
    refuse_or=True,
    refuse_gt=True,
    ignore_inlinecount=True,
    deleted_ignores_filter=True,
    deleted_items_bare=True,
    deleted_last_modified="order",
    fraction_digits=7,
    next_link_host="http://elsewhere:81",
    member_case="lower",  # camelCase above; bare deletion items have a test of their own below
)


def test_every_guess_the_other_way_at_once_under_faults_and_modifications_while_paging(engine: sa.Engine) -> None:
    faults = Faults(rate_429=0.03, retry_after_s=0.05, rate_5xx=0.05, rate_drop=0.03, modify_during_paging=2, seed=3)
    sandbox = Sandbox(seed=21, orders=1300, delivery_delay_s=0.05, seed_start=SEED_START, quirks=ALL_AT_ONCE)
    with SandboxServer(sandbox) as server:
        sandbox.injector.update(faults.to_dict())
        sync_both(server, engine)
        change_things(server)
        sync_both(server, engine)
        sandbox.injector.update({"rate_429": 0, "rate_5xx": 0, "rate_drop": 0, "modify_during_paging": 0})
        sync_both(server, engine)  # a calm run after the storm picks up what changed during it
        assert_warehouse_matches_billit(server, engine)


def change_and_sync_across_a_clock_change(
    engine: sa.Engine, utc_start: datetime, steps_in_minutes: list[int]
) -> tuple[Sandbox, list[int]]:
    """On a frozen simulated Brussels clock from `utc_start`: a first sync, then for each step the clock moves on,
    one purchase changes and both streams sync, the warehouse equal to Billit each time."""
    clock = SimulatedBrusselsClock(utc_start, speed=0)
    sandbox = Sandbox(
        seed=4,
        orders=200,
        delivery_delay_s=0.05,
        seed_start=utc_start - timedelta(days=5),
        clock=clock,
        quirks=Quirks(fraction_digits=7),
    )
    cost = sorted(i for i, o in sandbox.company_orders(COMPANY).items() if o["OrderDirection"] == "Cost")
    with SandboxServer(sandbox) as server:
        sync_both(server, engine)
        for minutes, order_id in zip(steps_in_minutes, cost, strict=False):
            clock.advance(timedelta(minutes=minutes))
            sandbox.touch_order(order_id, Comments=f"changed at {clock.utc_now():%H:%M} UTC")
            sync_both(server, engine)
            assert_warehouse_matches_billit(server, engine)
    return sandbox, cost


def test_orders_changed_in_the_repeated_october_hour_are_loaded_by_the_next_run(engine: sa.Engine) -> None:
    # 2026-10-25, 00:30 UTC is 02:30 summer time; at 01:00 UTC Brussels goes back to 02:00 (winter time). The
    # changes land at 02:50 summer time (the watermark goes there), 02:10 winter time (below that watermark),
    # 02:50 and 03:30 winter time.
    sandbox, cost = change_and_sync_across_a_clock_change(engine, datetime(2026, 10, 25, 0, 30), [20, 20, 40, 40])
    assert str(sandbox.get_order(cost[1])["LastModified"]) < str(sandbox.get_order(cost[0])["LastModified"])


def test_doctor_reports_each_guess_as_the_sandbox_answers_it(engine: sa.Engine) -> None:
    from connectors.billit import load_settings
    from tasks.doctor import run_doctor

    def answers(quirks: Quirks) -> dict[str, str]:
        sandbox = Sandbox(seed=21, orders=400, seed_start=SEED_START, quirks=quirks)
        some = sorted(sandbox.company_orders(COMPANY))[:3]
        for order_id in some:
            sandbox.delete_order(sandbox.get_order(order_id))
        with SandboxServer(sandbox) as server:
            settings = load_settings(base_url=server.base_url, api_key=API_KEY, party_id=COMPANY)
            return {finding.check: finding.answer for finding in run_doctor(settings)}

    default, switched = answers(Quirks()), answers(ALL_AT_ONCE)
    assert default["filter with `or` and parentheses"] == "accepted"
    assert switched["filter with `or` and parentheses"] == "refused (400)"
    assert (default["filter with `gt` / `lt`"], switched["filter with `gt` / `lt`"]) == ("accepted", "refused (400)")
    assert default["$inlinecount=allpages (Count)"].startswith("Count = ")
    assert switched["$inlinecount=allpages (Count)"] == "ignored (no Count)"
    assert "up to 6 fraction digits" in default["timestamp precision"]
    assert "up to 7 fraction digits" in switched["timestamp precision"]
    assert switched["NextPageLink host"].startswith("elsewhere:81 (not 127.0.0.1:")
    assert default["/v1/orders/deleted honours $filter"] == "honoured"
    assert switched["/v1/orders/deleted honours $filter"].startswith("ignored")


def test_a_run_killed_mid_load_with_every_guess_the_other_way_is_made_right_by_the_next_run(
    engine: sa.Engine, warehouse: Any
) -> None:
    sandbox = Sandbox(seed=21, orders=1300, delivery_delay_s=0.05, seed_start=SEED_START, quirks=ALL_AT_ONCE)
    with SandboxServer(sandbox) as server:
        sandbox.injector.update({"latency_ms": 15})
        kill_a_sales_sync_after_its_first_batch(server, engine, warehouse)
        sandbox.injector.update({"latency_ms": 0})
        change_things(server)
        sync_both(server, engine)
        assert_warehouse_matches_billit(server, engine)


def test_orders_changed_around_the_march_spring_forward_are_all_loaded(engine: sa.Engine) -> None:
    # 2026-03-29, 01:00 UTC: Brussels jumps from 02:00 to 03:00 (summer time); changes at 01:55, 03:05 and 03:20.
    change_and_sync_across_a_clock_change(engine, datetime(2026, 3, 29, 0, 40), [15, 10, 15])


def test_a_patch_that_leaves_last_modified_alone_is_repaired_by_a_backfill_of_its_window(engine: sa.Engine) -> None:
    """Whether a PATCH moves LastModified is unknown (docs/reference/billit-api.md#timestamps). If it does not, no
    incremental run can see the change; a backfill reads every order of its window in full, whatever is stored."""
    sandbox = Sandbox(seed=21, orders=300, seed_start=SEED_START, patch_bumps_last_modified=False)
    with SandboxServer(sandbox) as server:
        sync_both(server, engine)
        orders = sandbox.company_orders(COMPANY)
        unpaid = sorted(i for i, order in orders.items() if order["OrderDirection"] == "Income" and not order["Paid"])
        with httpx.Client(base_url=server.base_url, headers={"ApiKey": API_KEY, "PartyID": str(COMPANY)}) as http:
            for order_id in unpaid[:3]:
                http.patch(f"/v1/orders/{order_id}", json={"Paid": True, "PaidDate": "2026-11-30"}).raise_for_status()
        assert all(orders[order_id]["Paid"] for order_id in unpaid[:3])
        sync_both(server, engine)  # lists the orders at their stored LastModified: nothing to read again
        with pytest.raises(AssertionError):  # so the incremental run cannot see the payments
            assert_warehouse_matches_billit(server, engine)

        stamps = [order["LastModified"] for order in orders.values()]
        window = {"since": min(stamps), "until": max(stamps) + timedelta(seconds=1)}
        backfilled = sync_both(server, engine, **window)
        assert [summary["mode"] for summary in backfilled] == ["backfill", "backfill"]
        assert sum(summary["orders_changed"] for summary in backfilled) == 3  # the repaired ones, said so
        assert_warehouse_matches_billit(server, engine)


def test_every_deletion_is_marked_when_the_deletions_list_answers_one_page_and_no_link(engine: sa.Engine) -> None:
    # Found by an outside review: /v1/orders/deleted was read without $top, so a list that answered 120 and no
    # NextPageLink ended the listing there; with 200 purchases deleted, 80 stayed live and the run succeeded.
    sandbox = Sandbox(seed=5, orders=600, seed_start=SEED_START, quirks=Quirks(deleted_page_without_link=True))
    with SandboxServer(sandbox) as server:
        purchases = sorted(i for i, o in sandbox.company_orders(COMPANY).items() if o["OrderDirection"] == "Cost")
        assert len(purchases) > 150
        sync_both(server, engine)
        for order_id in purchases[:150]:
            sandbox.delete_order(sandbox.get_order(order_id))
        assert [summary["status"] for summary in sync_both(server, engine)] == ["succeeded", "succeeded"]
        with engine.connect() as connection:
            deleted = connection.execute(sa.text("SELECT count(*) FROM invoices WHERE is_deleted")).scalar_one()
        assert deleted == 150
        assert_warehouse_matches_billit(server, engine)


def test_a_server_paging_by_fewer_than_120_with_a_next_link_loses_no_order(engine: sa.Engine) -> None:
    # Found from the outside: a server answering pages of 100 with a NextPageLink (Billit documents 120) had its
    # first page taken as the whole window, and every keyset page under 120 as the last: 195 of 395 orders were
    # never loaded, and every run succeeded.
    sandbox = Sandbox(seed=5, orders=600, seed_start=SEED_START, page_size=100)
    with SandboxServer(sandbox) as server:
        assert [summary["status"] for summary in sync_both(server, engine)] == ["succeeded", "succeeded"]
        assert_warehouse_matches_billit(server, engine)
        change_things(server)
        sync_both(server, engine)
        assert_warehouse_matches_billit(server, engine)


def test_a_newest_first_page_not_in_that_order_fails_the_run_instead_of_bounding_it_wrong(engine: sa.Engine) -> None:
    # Found from the outside: a server ignoring `desc` answered the run's first page oldest first; its first order
    # became the run's upper bound and every later run listed nothing newer: 130 orders missing, 150 stale, and
    # every run succeeded.
    sandbox = Sandbox(seed=5, orders=600, seed_start=SEED_START)
    with SandboxServer(sandbox) as server, CorruptingProxy(server.base_url) as proxy:

        def oldest_first(status: int, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
            return status, {**body, "Items": body["Items"][::-1]}

        proxy.corrupt("GET", r"/v1/orders$", oldest_first, 10, query="desc")
        with pytest.raises(BillitPaginationError, match="newest orders first"):
            run_stream(
                "incoming", engine=engine, base_url=proxy.base_url, api_key=API_KEY, party_id=COMPANY, landing_dir=None
            )


def test_a_newest_first_page_whose_ties_come_in_ascending_orderid_is_no_reason_to_fail(engine: sa.Engine) -> None:
    # The run's bound is the first order's LastModified alone: a server sorting only by its first key (ties in
    # OrderID order) must not fail the check made for a server ignoring `desc`.
    sandbox = Sandbox(seed=5, orders=600, seed_start=SEED_START)
    with SandboxServer(sandbox) as server, CorruptingProxy(server.base_url) as proxy:

        def ties_ascending(status: int, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
            items = body["Items"]
            newest = items[0]["LastModified"]
            tied = [{**item, "LastModified": newest} for item in items[:3]][::-1]  # three at one time, OrderID asc
            return status, {**body, "Items": tied + items[3:]}

        proxy.corrupt("GET", r"/v1/orders$", ties_ascending, 1, query="desc")
        summary = run_stream(
            "incoming", engine=engine, base_url=proxy.base_url, api_key=API_KEY, party_id=COMPANY, landing_dir=None
        )
        assert summary["status"] == "succeeded"


def test_deletions_listed_without_their_direction_are_counted_by_the_stream_they_belong_to(engine: sa.Engine) -> None:
    # Found by an outside simulator: a sale's deletion, listed without OrderDirection, was marked and counted by
    # the purchases' run (the data was right; the run's counts were not).
    sandbox = Sandbox(seed=21, orders=200, seed_start=SEED_START, quirks=Quirks(deleted_items_bare=True))
    with SandboxServer(sandbox) as server:
        sync_both(server, engine)
        orders = sandbox.company_orders(COMPANY)
        for direction in ("Income", "Income", "Cost"):
            sandbox.delete_order(next(o for o in orders.values() if o["OrderDirection"] == direction))
        incoming, sales = sync_both(server, engine)
        assert (incoming["orders_deleted"], sales["orders_deleted"]) == (1, 2)
        assert_warehouse_matches_billit(server, engine)
