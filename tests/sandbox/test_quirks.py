"""The sandbox's switches for Billit answers we only inferred or do not know, over real HTTP (uvicorn).

Each switch is tested both ways: off, the sandbox answers as it always did; on, it plays the other answer
(docs/reference/billit-api.md). Plus the 100-ns timestamps and the simulated Brussels clock that crosses the
daylight-saving changes.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from sandbox.clock import SandboxClock, SimulatedBrusselsClock, TickDateTime, add_ticks
from sandbox.identity import PARTY_ID
from sandbox.quirks import Quirks
from sandbox.server import SandboxServer
from sandbox.store import Sandbox
from tests.sandbox.sandbox_helpers import HEADERS, fixed_clock, invoice_body

SEED_START = datetime(2026, 5, 1, 12, 0)
SEVEN_DIGITS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{7}$")
REPO_ROOT = Path(__file__).resolve().parents[4]


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    sandbox = Sandbox(seed=7, orders=50, seed_start=SEED_START, clock=fixed_clock(SEED_START), delivery_delay_s=60)
    with SandboxServer(sandbox) as running:
        yield running


@pytest.fixture
def client(server: SandboxServer) -> Iterator[httpx.Client]:
    server.sandbox.update_quirks(Quirks().to_dict())
    with httpx.Client(base_url=server.base_url, headers=HEADERS, timeout=5) as http:
        yield http
    server.sandbox.update_quirks(Quirks().to_dict())


def _quirks(client: httpx.Client, **changes: Any) -> None:
    response = client.put("/_sandbox/quirks", json=changes)
    assert response.status_code == 200, response.text


def _list(client: httpx.Client, path: str = "/v1/orders", **params: Any) -> httpx.Response:
    return client.get(path, params={f"${key}": value for key, value in params.items()})


def _ids(response: httpx.Response) -> list[int]:
    assert response.status_code == 200, response.text
    return [item["OrderID"] for item in response.json()["Items"]]


def _invalid_filter(response: httpx.Response) -> str:
    assert response.status_code == 400, response.text
    (error,) = response.json()["errors"]
    assert error["Code"] == "InvalidFilter"
    return str(error["Description"])


# --------------------------------------------------------------------------------------------------------------
# The runtime endpoint


def test_quirks_default_to_the_answers_the_sandbox_always_gave(client: httpx.Client) -> None:
    assert client.get("/_sandbox/quirks").json() == {
        "refuse_or": False,
        "refuse_gt": False,
        "ignore_inlinecount": False,
        "deleted_ignores_filter": False,
        "deleted_refuses_filter": False,
        "deleted_page_without_link": False,
        "deleted_items_bare": False,
        "deleted_last_modified": "deletion",
        "fraction_digits": 6,
        "next_link_host": None,
        "api_off_status": 401,
        "account_needs_party_id": False,
        "account_lists_party_only": False,
        "deleted_order_status": 404,
        "idempotency_header": "both",
        "member_case": "pascal",
        "webhook_limit": 4,
        "webhook_refresh_method": "POST",
        "webhook_order_shape": "envelope",
        "webhook_refusal_shape": "envelope",
        "webhook_retries": 5,
        "webhook_backoff_s": 1.0,
        "webhook_timeout_s": 10.0,
    }


def test_put_quirks_changes_only_what_it_names(client: httpx.Client, server: SandboxServer) -> None:
    response = client.put("/_sandbox/quirks", json={"refuse_or": True, "Deleted_Last_Modified": "order"})
    assert response.status_code == 200
    assert response.json()["refuse_or"] is True
    assert response.json()["deleted_last_modified"] == "order"
    assert response.json()["refuse_gt"] is False
    assert server.sandbox.quirks.refuse_or is True


@pytest.mark.parametrize(
    "changes",
    [
        {"refuse_orr": True},
        {"refuse_gt": True, "bogus": 1},
        {"refuse_or": "yes"},
        {"fraction_digits": 8},
        {"fraction_digits": True},
        {"deleted_last_modified": "deleted"},
        {"next_link_host": "http://host/with/path"},
        {"next_link_host": 8080},
        {"api_off_status": 404},
        {"api_off_status": True},
        {"deleted_order_status": 403},
        {"deleted_order_status": True},
        {"idempotency_header": "Idempotency_Key"},
        {"idempotency_header": 1},
        {"member_case": "snake"},
        {"member_case": 1},
    ],
)
def test_put_quirks_refuses_unknown_keys_and_bad_values_and_changes_nothing(
    client: httpx.Client, changes: dict[str, Any]
) -> None:
    response = client.put("/_sandbox/quirks", json=changes)
    assert response.status_code == 400
    assert "error" in response.json()
    assert client.get("/_sandbox/quirks").json() == Quirks().to_dict()


def test_quirks_refuse_bad_values_in_the_constructor_too() -> None:
    with pytest.raises(ValueError, match="fraction_digits"):
        Quirks(fraction_digits=3)
    with pytest.raises(ValueError, match="deleted_last_modified"):
        Quirks(deleted_last_modified="never")


# --------------------------------------------------------------------------------------------------------------
# $filter operators


def test_or_and_parentheses_are_accepted_by_default(client: httpx.Client) -> None:
    both = _ids(_list(client, filter="OrderDirection eq 'Income' or OrderDirection eq 'Cost'"))
    assert len(both) == 45  # the 90 % of 50 orders that belong to the first company
    assert _ids(_list(client, filter="(OrderDirection eq 'Cost')")) == _ids(
        _list(client, filter="OrderDirection eq 'Cost'")
    )


def test_refuse_or_answers_or_and_parentheses_with_invalid_filter(client: httpx.Client) -> None:
    _quirks(client, refuse_or=True)
    assert "'or'" in _invalid_filter(_list(client, filter="OrderDirection eq 'Income' or Paid eq true"))
    assert "Parentheses" in _invalid_filter(_list(client, filter="(OrderDirection eq 'Cost')"))
    assert _invalid_filter(_list(client, "/v1/orders/deleted", filter="Paid eq true or Paid eq false"))
    # and, eq, ge, le stay accepted: the documented grammar.
    accepted = _list(client, filter="OrderDirection eq 'Cost' and LastModified ge DateTime'2025-01-01'")
    assert accepted.status_code == 200


def test_gt_and_lt_are_accepted_by_default(client: httpx.Client) -> None:
    assert _list(client, filter="TotalIncl gt 0").status_code == 200
    assert _list(client, filter="LastModified lt DateTime'2030-01-01'").status_code == 200


def test_refuse_gt_answers_gt_and_lt_with_invalid_filter_and_keeps_eq_ne_ge_le_and(client: httpx.Client) -> None:
    _quirks(client, refuse_gt=True)
    assert "'gt'" in _invalid_filter(_list(client, filter="LastModified gt DateTime'2025-01-01'"))
    assert "'lt'" in _invalid_filter(_list(client, filter="OrderID ge 1 and OrderID lt 9999999"))
    everything = _ids(_list(client))
    same = _list(
        client,
        filter="LastModified ge DateTime'2000-01-01' and LastModified le DateTime'2100-01-01' and OrderID ne 0 "
        f"and CompanyID eq {PARTY_ID}",
    )
    assert _ids(same) == everything


def test_an_ordinary_filter_error_keeps_the_generic_error_code(client: httpx.Client) -> None:
    _quirks(client, refuse_or=True, refuse_gt=True)
    response = _list(client, filter="VATNumber eq 'BE0412345614'")
    assert response.status_code == 400
    assert response.json()["errors"][0]["Code"] == "GenericError"


# --------------------------------------------------------------------------------------------------------------
# $inlinecount and NextPageLink


def test_inlinecount_fills_count_unless_ignored(client: httpx.Client) -> None:
    counted = _list(client, inlinecount="allpages", top="5").json()
    assert counted["Count"] == 45
    assert len(counted["Items"]) == 5
    _quirks(client, ignore_inlinecount=True)
    ignored = _list(client, inlinecount="allpages", top="5").json()
    assert "Count" not in ignored
    assert [item["OrderID"] for item in ignored["Items"]] == [item["OrderID"] for item in counted["Items"]]


@pytest.fixture
def small_pages(server: SandboxServer) -> Iterator[None]:
    server.sandbox.page_size = 20
    server.sandbox.list_cache.clear()
    yield
    server.sandbox.page_size = 120


@pytest.mark.usefixtures("small_pages")
def test_next_page_link_names_the_request_host_by_default(client: httpx.Client, server: SandboxServer) -> None:
    link = _list(client, orderby="OrderID asc").json()["NextPageLink"]
    assert link.startswith(f"{server.base_url}/v1/orders?")


@pytest.mark.usefixtures("small_pages")
@pytest.mark.parametrize("host", ["http://billit-internal:8080", "billit-internal:8080"])
def test_next_page_link_can_name_another_host(client: httpx.Client, server: SandboxServer, host: str) -> None:
    default = _list(client, orderby="OrderID asc").json()["NextPageLink"]
    _quirks(client, next_link_host=host)
    link = _list(client, orderby="OrderID asc").json()["NextPageLink"]
    assert link.startswith("http://billit-internal:8080/v1/orders?")
    # Only the origin differs: the path and query, sent to our own host, give the next page.
    assert link.removeprefix("http://billit-internal:8080") == default.removeprefix(server.base_url)
    following = client.get(server.base_url + link.removeprefix("http://billit-internal:8080"))
    assert _ids(following)[0] > _ids(_list(client, orderby="OrderID asc"))[-1]


# --------------------------------------------------------------------------------------------------------------
# /v1/orders/deleted


@pytest.fixture
def deletions() -> Iterator[tuple[httpx.Client, Sandbox, dict[str, int]]]:
    """A fresh sandbox with one Income and two Cost orders deleted (at 2026-05-01 12:00 and after)."""
    sandbox = Sandbox(seed=11, orders=50, seed_start=SEED_START, clock=fixed_clock(SEED_START), page_size=2)
    orders = sorted(sandbox.company_orders(PARTY_ID).values(), key=lambda order: order["OrderID"])
    chosen = {
        "income": next(o["OrderID"] for o in orders if o["OrderDirection"] == "Income"),
        "cost": next(o["OrderID"] for o in orders if o["OrderDirection"] == "Cost"),
        "cost2": [o["OrderID"] for o in orders if o["OrderDirection"] == "Cost"][1],
    }
    with SandboxServer(sandbox) as running, httpx.Client(base_url=running.base_url, headers=HEADERS) as http:
        for order_id in chosen.values():
            assert http.delete(f"/v1/orders/{order_id}").status_code == 200
        yield http, sandbox, chosen


def test_deleted_honours_filter_by_default(deletions: tuple[httpx.Client, Sandbox, dict[str, int]]) -> None:
    client, _sandbox, chosen = deletions
    costs = _list(client, "/v1/orders/deleted", filter="OrderDirection eq 'Cost'", orderby="OrderID asc")
    assert _ids(costs) == sorted([chosen["cost"], chosen["cost2"]])


def test_deleted_can_refuse_any_filter_and_still_list_without_one(
    deletions: tuple[httpx.Client, Sandbox, dict[str, int]],
) -> None:
    client, sandbox, chosen = deletions
    sandbox.quirks.deleted_refuses_filter = True
    refused = _list(client, "/v1/orders/deleted", filter="OrderDirection eq 'Cost'")
    assert refused.status_code == 400, refused.text
    unfiltered = _list(client, "/v1/orders/deleted", orderby="OrderID asc")
    assert _ids(unfiltered) == sorted(chosen.values())[:2]  # page size 2 in this sandbox
    assert _ids(_list(client, filter="OrderDirection eq 'Cost'", top="100"))  # the orders list still filters


def test_deleted_can_ignore_the_filter_yet_sort_top_skip_and_page(
    deletions: tuple[httpx.Client, Sandbox, dict[str, int]],
) -> None:
    client, sandbox, chosen = deletions
    sandbox.quirks.deleted_ignores_filter = True
    everything = sorted(chosen.values())
    first = _list(client, "/v1/orders/deleted", filter="OrderDirection eq 'Cost'", orderby="OrderID asc")
    assert _ids(first) == everything[:2]  # page size 2 in this sandbox
    link = first.json()["NextPageLink"]
    assert _ids(client.get(link)) == everything[2:]
    descending = _list(client, "/v1/orders/deleted", filter="OrderID eq 1", orderby="OrderID desc", top="1")
    assert _ids(descending) == everything[-1:]
    skipped = _list(client, "/v1/orders/deleted", filter="OrderID eq 1", orderby="OrderID asc", skip="1", top="1")
    assert _ids(skipped) == everything[1:2]
    # Active orders keep their filter.
    assert chosen["income"] not in _ids(_list(client, filter="OrderDirection eq 'Cost'", top="100"))


def test_deleted_last_modified_is_the_deletion_time_by_default_or_the_orders_last_change(
    deletions: tuple[httpx.Client, Sandbox, dict[str, int]],
) -> None:
    client, sandbox, chosen = deletions
    order_id = chosen["cost"]
    before = sandbox.last_change_before_deletion[order_id]
    assert before < SEED_START  # seeded books end at seed_start; the deletion happened after it

    def listed(**params: Any) -> dict[int, str]:
        items = _list(client, "/v1/orders/deleted", top="100", **params).json()["Items"]
        return {item["OrderID"]: item["LastModified"] for item in items}

    deleted_at = listed()[order_id]
    assert datetime.fromisoformat(deleted_at) >= SEED_START
    watermark = f"DateTime'{SEED_START.isoformat()}'"
    assert order_id in listed(filter=f"LastModified ge {watermark}")

    sandbox.quirks.deleted_last_modified = "order"
    shown = listed()[order_id]
    assert datetime.fromisoformat(shown) == before
    assert order_id not in listed(filter=f"LastModified ge {watermark}")  # older than a deletions watermark
    assert order_id in listed(filter=f"LastModified eq DateTime'{shown}'")
    # The order's own GET (404 once deleted) and the active list are untouched by the switch.
    assert client.get(f"/v1/orders/{order_id}").status_code == 404


def test_a_deleted_orders_detail_answers_404_by_default_or_an_empty_401(
    deletions: tuple[httpx.Client, Sandbox, dict[str, int]],
) -> None:
    client, sandbox, chosen = deletions
    detail = client.get(f"/v1/orders/{chosen['cost']}")
    assert detail.status_code == 404 and detail.json()["errors"][0]["Code"] == "GenericError"
    sandbox.quirks.merge({"deleted_order_status": 401})
    for answer in (client.get(f"/v1/orders/{chosen['cost']}"), client.delete(f"/v1/orders/{chosen['income']}")):
        assert (answer.status_code, answer.content) == (401, b"")
    assert client.get("/v1/orders/999999999").status_code == 404  # an id that never was stays unknown


# --------------------------------------------------------------------------------------------------------------
# 7 fraction digits


def test_timestamps_keep_at_most_six_fraction_digits_by_default(client: httpx.Client) -> None:
    for item in _list(client, top="100").json()["Items"]:
        fraction = item["LastModified"].partition(".")[2]
        assert len(fraction) <= 6


def test_seven_fraction_digits_render_every_last_modified_with_seven_digits(client: httpx.Client) -> None:
    before = [item["LastModified"] for item in _list(client, orderby="OrderID asc", top="100").json()["Items"]]
    _quirks(client, fraction_digits=7)
    items = _list(client, orderby="OrderID asc", top="100").json()["Items"]
    assert all(SEVEN_DIGITS.match(item["LastModified"]) for item in items), [i["LastModified"] for i in items]
    assert all(SEVEN_DIGITS.match(item["Created"]) for item in items)
    # The seventh digit is added, the microseconds kept, and orders sharing a timestamp still share it.
    after = [item["LastModified"] for item in items]
    assert [text[:26] for text in after] == [
        text.ljust(26, "0")[:26] if "." in text else text + ".000000" for text in before
    ]
    assert max(Counter(after).values()) == max(Counter(before).values()) > 1
    # Switching back drops the digit again.
    _quirks(client, fraction_digits=6)
    assert [item["LastModified"] for item in _list(client, orderby="OrderID asc", top="100").json()["Items"]] == before


def test_a_cursor_built_from_the_seven_digit_text_finds_exactly_that_order(client: httpx.Client) -> None:
    _quirks(client, fraction_digits=7)
    items = _list(client, orderby="LastModified asc,OrderID asc", top="100").json()["Items"]
    counts = Counter(item["LastModified"] for item in items)
    single = next(item for item in items if counts[item["LastModified"]] == 1)
    text = single["LastModified"]
    assert _ids(_list(client, filter=f"LastModified eq DateTime'{text}'")) == [single["OrderID"]]
    # The same instant cut to 6 digits is another instant: no match.
    assert _ids(_list(client, filter=f"LastModified eq DateTime'{text[:-1]}'")) == []
    later = _ids(_list(client, filter=f"LastModified gt DateTime'{text}'", orderby="LastModified asc,OrderID asc"))
    from_it = _ids(_list(client, filter=f"LastModified ge DateTime'{text}'", orderby="LastModified asc,OrderID asc"))
    assert from_it == [single["OrderID"], *later]


def test_filters_and_orderby_compare_at_tick_precision(client: httpx.Client, server: SandboxServer) -> None:
    _quirks(client, fraction_digits=7)
    first, second = sorted(server.sandbox.company_orders(PARTY_ID))[:2]
    touched = {}
    for order_id, text in ((first, "2026-05-01T12:30:00.1234564"), (second, "2026-05-01T12:30:00.1234563")):
        response = client.post(f"/_sandbox/orders/{order_id}/touch", json={"LastModified": text})
        assert response.status_code == 200, response.text
        touched[order_id] = response.json()["LastModified"]
    assert touched == {first: "2026-05-01T12:30:00.1234564", second: "2026-05-01T12:30:00.1234563"}

    def matching(expression: str) -> list[int]:
        return _ids(
            _list(
                client,
                filter=f"LastModified {expression} and OrderID le {max(first, second)}",
                orderby="LastModified desc",
            )
        )

    assert matching("eq DateTime'2026-05-01T12:30:00.1234563'") == [second]
    assert matching("ge DateTime'2026-05-01T12:30:00.1234564'") == [first]
    assert matching("gt DateTime'2026-05-01T12:30:00.1234563'") == [first]
    assert matching("gt DateTime'2026-05-01T12:30:00.123456'") == [first, second]  # desc: .1234564 first
    assert matching("le DateTime'2026-05-01T12:30:00.1234563'")[0] == second
    assert first not in matching("lt DateTime'2026-05-01T12:30:00.1234564'")
    full = client.get(f"/v1/orders/{first}").json()
    assert full["LastModified"] == "2026-05-01T12:30:00.1234564"


def test_trailing_zeros_of_the_seventh_digit_are_trimmed(client: httpx.Client, server: SandboxServer) -> None:
    _quirks(client, fraction_digits=7)
    order_id = min(server.sandbox.company_orders(PARTY_ID))
    shown = client.post(f"/_sandbox/orders/{order_id}/touch", json={"LastModified": "2026-05-01T12:30:00.1200000"})
    assert shown.json()["LastModified"] == "2026-05-01T12:30:00.12"
    assert client.get(f"/v1/orders/{order_id}").json()["LastModified"] == "2026-05-01T12:30:00.12"


def test_new_changes_get_seven_digits_and_stay_distinct_at_one_tick(client: httpx.Client) -> None:
    _quirks(client, fraction_digits=7)
    ids = []
    for _ in range(2):
        response = client.post("/v1/orders", json=invoice_body())
        assert response.status_code == 200, response.text
        ids.append(int(response.text))
    stamps = [client.get(f"/v1/orders/{order_id}").json()["LastModified"] for order_id in ids]
    assert all(SEVEN_DIGITS.match(stamp) or re.search(r"\.\d{1,6}$", stamp) for stamp in stamps)
    assert SEVEN_DIGITS.match(stamps[0])
    assert stamps[0] < stamps[1]  # the fixed clock: the second change is a few ticks later


def test_tick_datetimes_compare_with_plain_datetimes_at_100_ns() -> None:
    plain = datetime(2026, 5, 1, 12, 0, 0, 123456)
    ticked = TickDateTime(2026, 5, 1, 12, 0, 0, 123456, tick=7)
    assert plain < ticked and ticked > plain and plain != ticked and plain <= ticked
    assert TickDateTime(2026, 5, 1, 12, 0, 0, 123456) == plain
    assert sorted([ticked, plain]) == [plain, ticked]
    assert str(ticked) == "2026-05-01 12:00:00.1234567"
    assert add_ticks(ticked, 3) == datetime(2026, 5, 1, 12, 0, 0, 123457)
    assert add_ticks(ticked, 4).isoformat() == "2026-05-01T12:00:00.1234571"


# --------------------------------------------------------------------------------------------------------------
# The simulated Brussels clock


def test_the_clock_goes_back_an_hour_at_the_october_fall_back() -> None:
    clock = SimulatedBrusselsClock(datetime(2026, 10, 25, 0, 59, 59), speed=0)
    assert clock.now() == datetime(2026, 10, 25, 2, 59, 59)  # 00:59:59 UTC = 02:59:59 CEST
    clock.advance(timedelta(seconds=1))
    after = clock.now()
    assert after == datetime(2026, 10, 25, 2, 0, 0)  # 01:00:00 UTC = 02:00:00 CET
    # Same instant again: a distinct value, but not forced above the 02:59:59 written before the change.
    again = clock.now()
    assert again == datetime(2026, 10, 25, 2, 0, 0, 1)
    assert again < datetime(2026, 10, 25, 2, 59, 59)


def test_the_clock_jumps_an_hour_at_the_march_spring_forward() -> None:
    clock = SimulatedBrusselsClock(datetime(2026, 3, 29, 0, 59, 59), speed=0)
    assert clock.now() == datetime(2026, 3, 29, 1, 59, 59)  # CET
    clock.advance(timedelta(seconds=1))
    assert clock.now() == datetime(2026, 3, 29, 3, 0, 0)  # CEST: 02:xx never shows


def test_the_simulated_clock_steps_by_one_tick_with_seven_digits_and_follows_its_speed() -> None:
    ticks = [0]
    clock = SimulatedBrusselsClock("2026-10-25T00:45:00Z", speed=60, monotonic_ns=lambda: ticks[0])
    first, second = clock.now(7), clock.now(7)
    assert second == add_ticks(first, 1)
    ticks[0] = 1_000_000_000  # one real second = one simulated minute
    assert clock.now() == datetime(2026, 10, 25, 2, 46, 0)
    assert clock.utc_now() == datetime(2026, 10, 25, 0, 46, 0)
    clock.set_speed(0)
    ticks[0] = 5_000_000_000
    assert clock.utc_now() == datetime(2026, 10, 25, 0, 46, 0)
    clock.set_utc(datetime(2026, 1, 1))
    assert clock.now() == datetime(2026, 1, 1, 1, 0, 0)  # a jump back is allowed when asked for
    with pytest.raises(ValueError):
        clock.advance(timedelta(seconds=-1))
    with pytest.raises(ValueError):
        SimulatedBrusselsClock(datetime(2026, 1, 1), speed=-1)


def test_the_default_clock_stays_strictly_increasing_in_local_time() -> None:
    values = iter([datetime(2026, 10, 25, 2, 59, 59), datetime(2026, 10, 25, 2, 0, 0)])
    clock = SandboxClock(lambda: next(values))
    first, second = clock.now(), clock.now()
    assert second == first + timedelta(microseconds=1)


def test_seeding_works_with_the_simulated_clock() -> None:
    simulated = Sandbox(seed=5, orders=50, clock=SimulatedBrusselsClock("2026-10-25T00:30:00", speed=0))
    newest = max(order["LastModified"] for order in simulated.orders.values())
    assert newest <= datetime(2026, 10, 25, 2, 30)  # the books end at the clock's local now
    pinned = Sandbox(
        seed=5, orders=50, seed_start=SEED_START, clock=SimulatedBrusselsClock("2026-10-25T00:30:00", speed=0)
    )
    reference = Sandbox(seed=5, orders=50, seed_start=SEED_START, clock=fixed_clock(SEED_START))
    assert {i: o["LastModified"] for i, o in pinned.orders.items()} == {
        i: o["LastModified"] for i, o in reference.orders.items()
    }


def test_the_clock_is_steered_over_http_across_the_fall_back(client: httpx.Client, server: SandboxServer) -> None:
    assert client.get("/_sandbox/clock").json()["clock"] == "system"
    original = server.sandbox.clock
    try:
        response = client.put("/_sandbox/clock", json={"utc": "2026-10-25T00:59:59", "speed": 0})
        assert response.status_code == 200, response.text
        assert response.json() == {
            "clock": "simulated",
            "utc": "2026-10-25T00:59:59",
            "local": "2026-10-25T02:59:59",
            "speed": 0.0,
        }
        first, second = sorted(server.sandbox.company_orders(PARTY_ID))[:2]
        before = client.patch(f"/v1/orders/{first}", json={"InternalInfo": "before the fall-back"})
        assert before.status_code == 200
        assert client.put("/_sandbox/clock", json={"advance_s": 1}).json()["local"] == "2026-10-25T02:00:00"
        assert client.patch(f"/v1/orders/{second}", json={"InternalInfo": "after"}).status_code == 200
        stamps = {i: client.get(f"/v1/orders/{i}").json()["LastModified"] for i in (first, second)}
        assert stamps == {first: "2026-10-25T02:59:59", second: "2026-10-25T02:00:00"}
        # The later change sorts first by LastModified: what a watermark on local time runs into.
        listed = _ids(_list(client, filter=f"OrderID le {second}", orderby="LastModified desc"))
        assert listed.index(first) < listed.index(second)
        assert client.put("/_sandbox/clock", json={"speed": 3600}).json()["speed"] == 3600.0
    finally:
        assert client.put("/_sandbox/clock", json={"utc": None}).json()["clock"] == "system"
        server.sandbox.set_clock(original)


@pytest.mark.parametrize(
    "body",
    [
        {"utc": "2026-10-25T00:59:59", "sped": 1},
        {"utc": "yesterday"},
        {"utc": 5},
        {"speed": 2},
        {"utc": "2026-10-25T00:59:59", "speed": -1},
        {"utc": None, "speed": 1},
        {"advance_s": -5},
    ],
)
def test_put_clock_refuses_bad_settings(client: httpx.Client, body: dict[str, Any]) -> None:
    response = client.put("/_sandbox/clock", json=body)
    assert response.status_code == 400, response.text
    assert client.get("/_sandbox/clock").json()["clock"] == "system"


# --------------------------------------------------------------------------------------------------------------
# sandbox serve


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_sandbox_serve_takes_one_flag_per_switch_and_the_clock() -> None:
    port = _free_port()
    command = [
        sys.executable, "-c", "from cli.main import app; app()", "sandbox", "serve", "--port", str(port),
        "--orders", "10", "--refuse-or", "--refuse-gt", "--ignore-inlinecount", "--deleted-ignores-filter",
        "--deleted-refuses-filter", "--deleted-page-without-link", "--deleted-items-bare",
        "--deleted-last-modified", "order", "--fraction-digits", "7", "--next-link-host", "http://billit-internal:8080",
        "--clock-utc", "2026-03-29T00:59:00", "--clock-speed", "0", "--api-off-status", "403",
        "--account-needs-party-id", "--account-lists-party-only", "--deleted-order-status", "401",
        "--idempotency-header", "idempotent-key",
        "--member-case", "camel", "--webhook-limit", "20",
        "--webhook-refresh-method", "put",
        "--webhook-order-shape", "flat",
        "--webhook-refusal-shape", "flat", "--webhook-retries", "2", "--webhook-backoff-s", "0.5",
        "--webhook-timeout-s", "3", "--webhook-drop-rate", "0.1", "--webhook-down-rate", "0.2",
        "--webhook-duplicate-rate", "0.3", "--webhook-delay-ms", "40",
    ]  # fmt: skip
    process = subprocess.Popen(
        command, cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env={**os.environ, "NO_COLOR": "1"}
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                quirks = httpx.get(f"http://127.0.0.1:{port}/_sandbox/quirks", timeout=1).json()
                break
            except httpx.TransportError:
                assert process.poll() is None, process.stderr.read() if process.stderr else ""
                assert time.monotonic() < deadline, "sandbox serve did not start"
                time.sleep(0.1)
        assert quirks == {
            "refuse_or": True,
            "refuse_gt": True,
            "ignore_inlinecount": True,
            "deleted_ignores_filter": True,
            "deleted_refuses_filter": True,
            "deleted_page_without_link": True,
            "deleted_items_bare": True,
            "deleted_last_modified": "order",
            "fraction_digits": 7,
            "next_link_host": "http://billit-internal:8080",
            "api_off_status": 403,
            "account_needs_party_id": True,
            "account_lists_party_only": True,
            "deleted_order_status": 401,
            "idempotency_header": "Idempotent-Key",
            "member_case": "camel",
            "webhook_limit": 20,
            "webhook_refresh_method": "PUT",
            "webhook_order_shape": "flat",
            "webhook_refusal_shape": "flat",
            "webhook_retries": 2,
            "webhook_backoff_s": 0.5,
            "webhook_timeout_s": 3.0,
        }
        faults = httpx.get(f"http://127.0.0.1:{port}/_sandbox/faults").json()
        assert (
            faults["webhook_drop_rate"], faults["webhook_down_rate"], faults["webhook_duplicate_rate"],
            faults["webhook_delay_ms"],
        ) == (0.1, 0.2, 0.3, 40.0)  # fmt: skip
        clock = httpx.get(f"http://127.0.0.1:{port}/_sandbox/clock").json()
        assert clock["clock"] == "simulated" and clock["utc"] == "2026-03-29T00:59:00" and clock["speed"] == 0
    finally:
        process.terminate()
        process.wait(10)


def test_sandbox_serve_refuses_a_bad_switch_value_before_serving() -> None:
    command = [
        sys.executable,
        "-c",
        "from cli.main import app; app()",
        "sandbox",
        "serve",
        "--port",
        "1",
        "--deleted-last-modified",
        "never",
    ]
    result = subprocess.run(
        command,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "NO_COLOR": "1", "COLUMNS": "200"},
    )
    assert result.returncode == 2
    assert "deleted_last_modified" in result.stderr


@pytest.mark.parametrize(
    ("case", "names"),
    [
        ("camel", ["orderID", "orderLines", "vatPercentage", "customer", "vatNumber"]),
        ("lower", ["orderid", "orderlines", "vatpercentage", "customer", "vatnumber"]),
    ],
)
def test_member_case_writes_every_member_name_of_an_answer_so(
    client: httpx.Client, server: SandboxServer, case: str, names: list[str]
) -> None:
    order_id = min(server.sandbox.company_orders(PARTY_ID))
    documented = client.get(f"/v1/orders/{order_id}").json()
    client.put("/_sandbox/quirks", json={"member_case": case})
    answer = client.get(f"/v1/orders/{order_id}")
    recased = answer.json()
    assert int(answer.headers["content-length"]) == len(answer.content)
    order_id_name, lines_name, vat_percentage_name, customer_name, vat_number_name = names
    assert order_id_name in recased and vat_percentage_name in recased[lines_name][0]
    assert vat_number_name in recased[customer_name]
    assert json.dumps(recased).lower() == json.dumps(documented).lower()  # only the names' case differs
    listing = client.get("/v1/orders", params={"$top": 1}).json()
    assert "items" in {name.lower() for name in listing} and "Items" not in listing
