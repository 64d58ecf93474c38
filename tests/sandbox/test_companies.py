"""A sandbox of many companies: all reachable by the sandbox's credentials and listed by accountInformation, each with
its own books, one with API access off (docs/reference/billit-api.md#companies); the default sandbox unchanged."""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from sandbox.account import CompanyRequestCounter
from sandbox.app import create_app
from sandbox.identity import API_KEY, BEARER_TOKEN, PARTY_ID, SECOND_PARTY_ID
from sandbox.quirks import Quirks
from sandbox.seed import company_roster
from sandbox.store import Sandbox
from tests.sandbox.sandbox_helpers import FIXED_NOW, asgi_client, fixed_clock, invoice_body

REPO_ROOT = Path(__file__).resolve().parents[2]
COMPANIES = 20
ORDERS_PER_COMPANY = 300
LAST_PARTY_ID = PARTY_ID + COMPANIES - 1


def _enterprise_number_is_valid(number: str) -> bool:
    return len(number) == 10 and number.isdigit() and number[0] in "01" and 97 - int(number[:8]) % 97 == int(number[8:])


def _iban_is_valid(iban: str) -> bool:
    # ISO 13616: the country and check digits moved to the end, letters as numbers, the whole is 1 modulo 97.
    moved = iban[4:] + iban[:4]
    return iban.isalnum() and int("".join(str(int(c, 36)) for c in moved)) % 97 == 1


def _belgian_account_is_valid(iban: str) -> bool:
    account = iban[4:]
    return iban.startswith("BE") and len(iban) == 16 and (int(account[:10]) % 97 or 97) == int(account[10:])


@pytest.fixture(scope="module")
def many() -> Sandbox:
    return Sandbox(seed=4, companies=COMPANIES, orders_per_company=ORDERS_PER_COMPANY, seed_start=FIXED_NOW)


@pytest.fixture
async def client(many: Sandbox) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(many, headers={"ApiKey": API_KEY}) as http:
        yield http


async def _account(client: httpx.AsyncClient, **headers: str) -> dict[str, Any]:
    response = await client.get("/v1/account/accountInformation", headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def _listed_orders(client: httpx.AsyncClient, party_id: int, path: str = "/v1/orders") -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    url: str | None = f"{path}?$orderby=OrderID asc"
    while url:
        response = await client.get(url, headers={"PartyID": str(party_id)})
        assert response.status_code == 200, response.text
        page = response.json()
        items += page["Items"]
        url = page.get("NextPageLink")
    return items


# ------------------------------------------------------------------------------------------------------------
# Twenty companies


async def test_twenty_companies_are_listed_with_distinct_valid_vat_numbers_and_ibans(client: httpx.AsyncClient) -> None:
    companies = (await _account(client))["Companies"]
    assert [c["PartyID"] for c in companies] == list(range(PARTY_ID, LAST_PARTY_ID + 1))
    vat_numbers = [c["VATNumber"] for c in companies]
    ibans = [c["IBAN"] for c in companies]
    assert len(set(vat_numbers)) == len(set(ibans)) == len({c["Name"] for c in companies}) == COMPANIES
    for company in companies:
        vat = company["VATNumber"]
        assert vat.startswith("BE") and _enterprise_number_is_valid(vat[2:]), vat
        assert company["Identifiers"] == [
            {"IdentifierType": "CBE", "Identifier": vat[2:], "SchemeID": "0208", "Preferred": True}
        ]
        assert _iban_is_valid(company["IBAN"]) and _belgian_account_is_valid(company["IBAN"]), company["IBAN"]
        assert company["BankAccounts"][0]["IBAN"] == company["IBAN"]
        assert company["TabNameAlias"] == company["Name"]


async def test_the_bearer_token_reaches_every_company_too(client: httpx.AsyncClient, many: Sandbox) -> None:
    bearer = {"Authorization": f"Bearer {BEARER_TOKEN}"}
    async with asgi_client(many, headers=bearer) as http:
        companies = (await _account(http))["Companies"]
        listed = await http.get("/v1/orders?$top=1", headers={"PartyID": str(LAST_PARTY_ID - 1)})
    assert len(companies) == COMPANIES
    assert listed.status_code == 200 and listed.json()["Items"][0]["CompanyID"] == LAST_PARTY_ID - 1


async def test_the_last_company_has_its_api_access_off_by_default(client: httpx.AsyncClient) -> None:
    companies = (await _account(client))["Companies"]
    assert [c["PartyID"] for c in companies if not c["APIAllowed"]] == [LAST_PARTY_ID]


async def test_each_company_lists_only_its_own_orders_as_many_as_asked(
    client: httpx.AsyncClient, many: Sandbox
) -> None:
    seen: set[int] = set()
    for party_id in range(PARTY_ID, LAST_PARTY_ID):  # the last one's API access is off
        items = await _listed_orders(client, party_id)
        ids = {item["OrderID"] for item in items}
        assert len(items) == len(ids) == ORDERS_PER_COMPANY
        assert {item["CompanyID"] for item in items} == {party_id}
        assert ids == set(many.company_orders(party_id))
        assert not ids & seen
        seen |= ids
    assert len(many.company_orders(LAST_PARTY_ID)) == ORDERS_PER_COMPANY  # its books exist, unreachable


def test_a_generated_company_has_its_own_books_counterparties_and_numbering(many: Sandbox) -> None:
    counterparties: dict[int, set[int]] = {}
    for party_id in range(PARTY_ID + 2, LAST_PARTY_ID + 1):
        own = many.own_companies[party_id]
        orders = many.company_orders(party_id).values()
        sales = [o for o in orders if o["OrderDirection"] == "Income"]
        purchases = [o for o in orders if o["OrderDirection"] == "Cost"]
        assert sales and purchases
        assert {o["Supplier"]["VATNumber"] for o in sales} == {o["Customer"]["VATNumber"] for o in purchases}
        assert {o["Supplier"]["VATNumber"] for o in sales} == {own.vat_number}
        counterparties[party_id] = {o["CounterParty"]["PartyID"] for o in orders}
        invoices = sorted((o for o in sales if o["OrderType"] == "Invoice"), key=lambda o: o["OrderID"])
        first = invoices[0]
        assert first["OrderNumber"] == own.number("Invoice", first["OrderDate"].year, 1)
        assert first["OrderPDF"]["FileName"].endswith(f"_{own.pdf_stem}.pdf")
    for party_id, parties in counterparties.items():
        others = set().union(*(p for other, p in counterparties.items() if other != party_id))
        assert not parties & others


def test_every_generated_company_is_a_peppol_receiver() -> None:
    # 23 companies: the seed's registry would leave the 23rd (575013) unregistered were it any other party.
    sandbox = Sandbox(seed=4, companies=23, orders_per_company=3, api_off=(), seed_start=FIXED_NOW)
    for own in sandbox.own_companies.values():
        for participant in (f"0208:{own.enterprise_number}", f"9925:{own.vat_number}"):
            assert sandbox.registry[participant]["Registered"] is True, (own.party_id, participant)


async def test_a_posted_invoice_of_a_generated_company_follows_its_number_format() -> None:
    sandbox = Sandbox(seed=4, companies=4, seed_start=FIXED_NOW, clock=fixed_clock())
    party_id = PARTY_ID + 2
    async with asgi_client(sandbox, headers={"ApiKey": API_KEY, "PartyID": str(party_id)}) as http:
        order_id = (await http.post("/v1/orders", json=invoice_body(OrderDate="2026-05-04"))).json()
    own = sandbox.own_companies[party_id]
    assert own.invoice_format != "INV-{y}-{n:04d}"  # seed 4 gives this company a format of its own
    assert sandbox.get_order(order_id)["OrderNumber"] == own.number("Invoice", date(2026, 5, 4).year, 1)


def test_the_generated_companies_depend_on_the_seed_and_more_companies_only_add_some() -> None:
    twenty = company_roster(20, seed=4)
    assert company_roster(20, seed=4) == twenty
    assert company_roster(8, seed=4) == twenty[:8]
    other = company_roster(20, seed=5)
    assert other[:2] == twenty[:2]  # the declared companies
    assert [c.party_id for c in other] == [c.party_id for c in twenty]
    assert {c.vat_number for c in other[2:]}.isdisjoint({c.vat_number for c in twenty[2:]})


# ------------------------------------------------------------------------------------------------------------
# API access off


def _refused_requests(sandbox: Sandbox, party_id: int) -> list[tuple[str, str, dict[str, Any] | None]]:
    order_id = min(sandbox.company_orders(party_id))
    file_id = sandbox.company_orders(party_id)[order_id]["OrderPDF"]["FileID"]
    return [
        ("GET", "/v1/orders", None),
        ("GET", "/v1/orders/deleted", None),
        ("GET", f"/v1/orders/{order_id}", None),
        ("PATCH", f"/v1/orders/{order_id}", {"Paid": True}),
        ("DELETE", f"/v1/orders/{order_id}", None),
        ("POST", "/v1/orders", invoice_body()),
        ("POST", "/v1/orders/commands/send", {"Transporttype": "Peppol", "OrderIDs": [order_id]}),
        ("GET", f"/v1/files/{file_id}", None),
        ("GET", "/v1/peppol/inbox", None),
        ("GET", "/v1/account/accountInformation", None),
    ]


@pytest.mark.parametrize("credentials", [{"ApiKey": API_KEY}, {"Authorization": f"Bearer {BEARER_TOKEN}"}])
async def test_every_request_for_the_api_off_company_answers_an_empty_401_by_default(
    credentials: dict[str, str],
) -> None:
    sandbox = Sandbox(seed=2, companies=3, orders_per_company=30, seed_start=FIXED_NOW)
    off = PARTY_ID + 2
    before = {order_id: dict(order) for order_id, order in sandbox.company_orders(off).items()}
    async with asgi_client(sandbox, headers={**credentials, "PartyID": str(off)}) as http:
        for method, path, body in _refused_requests(sandbox, off):
            response = await http.request(method, path, json=body)
            assert (response.status_code, response.content) == (401, b""), (method, path)
    assert sandbox.company_orders(off) == before and not sandbox.company_orders(off, deleted=True)


async def test_every_request_for_the_api_off_company_answers_403_with_an_error_under_the_quirk() -> None:
    sandbox = Sandbox(
        seed=2, companies=3, orders_per_company=30, seed_start=FIXED_NOW, quirks=Quirks(api_off_status=403)
    )
    off = PARTY_ID + 2
    async with asgi_client(sandbox, headers={"ApiKey": API_KEY, "PartyID": str(off)}) as http:
        for method, path, body in _refused_requests(sandbox, off):
            response = await http.request(method, path, json=body)
            assert response.status_code == 403, (method, path)
            assert response.json() == {
                "errors": [
                    {"Code": "APIAccessNotAllowed", "Description": "API access is not enabled for this company."}
                ]
            }


async def test_the_api_off_answer_can_switch_at_run_time() -> None:
    sandbox = Sandbox(seed=2, companies=3, seed_start=FIXED_NOW)
    async with asgi_client(sandbox, headers={"ApiKey": API_KEY, "PartyID": str(PARTY_ID + 2)}) as http:
        assert (await http.get("/v1/orders")).status_code == 401
        assert (await http.put("/_sandbox/quirks", json={"api_off_status": 403})).status_code == 200
        assert (await http.get("/v1/orders")).status_code == 403
        assert (await http.put("/_sandbox/quirks", json={"api_off_status": 500})).status_code == 400


async def test_the_other_companies_answer_as_usual_beside_the_api_off_one() -> None:
    sandbox = Sandbox(seed=2, companies=3, orders_per_company=30, seed_start=FIXED_NOW)
    async with asgi_client(sandbox, headers={"ApiKey": API_KEY}) as http:
        for party_id in (PARTY_ID, SECOND_PARTY_ID):
            assert len(await _listed_orders(http, party_id)) == 30


async def test_a_key_that_reaches_only_the_api_off_company_is_refused_without_a_party_id() -> None:
    sandbox = Sandbox(seed=2, companies=3, api_keys={"only-off": [PARTY_ID + 2]}, seed_start=FIXED_NOW)
    async with asgi_client(sandbox, headers={"ApiKey": "only-off"}) as http:
        assert (await http.get("/v1/orders")).status_code == 401
        companies = (await _account(http))["Companies"]
    assert [(c["PartyID"], c["APIAllowed"]) for c in companies] == [(PARTY_ID + 2, False)]


def test_which_companies_have_api_access_off_can_be_chosen() -> None:
    assert Sandbox(companies=3, api_off=(), seed_start=FIXED_NOW).api_off == set()
    assert Sandbox(api_off=[SECOND_PARTY_ID], seed_start=FIXED_NOW).api_off == {SECOND_PARTY_ID}
    assert Sandbox(seed_start=FIXED_NOW).api_off == set()
    with pytest.raises(ValueError, match="hosted company"):
        Sandbox(companies=3, api_off=[PARTY_ID + 3], seed_start=FIXED_NOW)


async def test_admin_companies_lists_them_and_switches_api_access() -> None:
    sandbox = Sandbox(seed=2, companies=3, orders_per_company=12, seed_start=FIXED_NOW)
    async with asgi_client(sandbox, headers={"ApiKey": API_KEY, "PartyID": str(PARTY_ID)}) as http:
        listed = (await http.get("/_sandbox/companies")).json()["Companies"]
        switched = await http.put(f"/_sandbox/companies/{PARTY_ID}", json={"APIAllowed": False})
        refused = await http.get("/v1/orders")
        await http.put(f"/_sandbox/companies/{PARTY_ID + 2}", json={"APIAllowed": True})
        account = await _account(http, PartyID=str(PARTY_ID + 2))
        bad = await http.put(f"/_sandbox/companies/{PARTY_ID}", json={"APIAllowed": "no"})
        unknown = await http.put("/_sandbox/companies/1", json={"APIAllowed": True})
    assert [(c["PartyID"], c["APIAllowed"], c["Orders"]) for c in listed] == [
        (PARTY_ID, True, 12), (SECOND_PARTY_ID, True, 12), (PARTY_ID + 2, False, 12),
    ]  # fmt: skip
    assert switched.status_code == 200 and switched.json()["Companies"][0]["APIAllowed"] is False
    assert refused.status_code == 401
    assert [c["APIAllowed"] for c in account["Companies"]] == [False, True, True]
    assert (bad.status_code, unknown.status_code) == (400, 404)


# ------------------------------------------------------------------------------------------------------------
# ContextPartyID, requests per company, orders shared out


async def test_a_context_party_id_must_be_a_company_the_key_may_use() -> None:
    sandbox = Sandbox(seed=2, companies=3, orders_per_company=5, seed_start=FIXED_NOW)
    headers = {"ApiKey": API_KEY, "PartyID": str(SECOND_PARTY_ID)}
    async with asgi_client(sandbox, headers=headers) as http:
        as_accountant = await http.get("/v1/orders", headers={"ContextPartyID": str(PARTY_ID)})
        unknown = await http.get("/v1/orders", headers={"ContextPartyID": "999"})
        not_a_number = await http.get("/v1/orders", headers={"ContextPartyID": "accountant"})
        api_off = await http.get("/v1/orders", headers={"ContextPartyID": str(PARTY_ID + 2)})
    assert as_accountant.status_code == 200
    assert {item["CompanyID"] for item in as_accountant.json()["Items"]} == {SECOND_PARTY_ID}
    assert (unknown.status_code, not_a_number.status_code, api_off.status_code) == (401, 401, 401)


async def test_stats_count_requests_per_party_id_refusals_and_faults_included() -> None:
    sandbox = Sandbox(seed=2, companies=3, orders_per_company=5, seed_start=FIXED_NOW)
    async with asgi_client(sandbox, headers={"ApiKey": API_KEY}) as http:
        for party_id in (PARTY_ID, PARTY_ID, SECOND_PARTY_ID, PARTY_ID + 2):
            await http.get("/v1/orders", headers={"PartyID": str(party_id)})
        await http.get("/v1/account/accountInformation")
        await http.put("/_sandbox/faults", json={"script": ["429"]})
        await http.get("/v1/orders", headers={"PartyID": str(SECOND_PARTY_ID)})
        stats = (await http.get("/_sandbox/stats")).json()
    assert stats["requests_per_company"] == {
        str(PARTY_ID): {"200": 2},
        str(SECOND_PARTY_ID): {"200": 1, "429": 1},
        str(PARTY_ID + 2): {"401": 1},
        "none": {"200": 1},
    }


async def _counter_events(app: Any, method: str, path: str, headers: list[tuple[bytes, bytes]]) -> list[Any]:
    """What `CompanyRequestCounter` around `app` does for one request, in order: each message it sends on (its type)
    and each count it makes (party, status)."""
    events: list[Any] = []

    async def send(message: Any) -> None:
        events.append(message["type"])

    counter = CompanyRequestCounter(app, lambda party, status: events.append((party, status)))
    try:
        await counter({"type": "http", "method": method, "path": path, "headers": headers}, None, send)  # type: ignore[arg-type]
    except ConnectionResetError:
        events.append("reset")
    return events


@pytest.mark.parametrize(
    ("method", "status", "headers"),
    [("GET", 401, [(b"content-length", b"0")]), ("GET", 204, []), ("HEAD", 200, [(b"content-length", b"12")])],
)
async def test_an_answer_whole_with_its_head_is_counted_before_the_head_goes_out(
    method: str, status: int, headers: list[tuple[bytes, bytes]]
) -> None:
    # Found from a flaky test: the empty 401 for the API-off company is whole once its head is on the wire (the
    # server writes the head at once), so a client could hold it, and read the counts, before the body message that
    # counted it went out.
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": b""})

    events = await _counter_events(app, method, "/v1/orders", [(b"partyid", b"574994")])
    assert events == [("574994", status), "http.response.start", "http.response.body"]


async def test_an_answer_with_a_body_is_counted_before_its_last_body_message_and_a_drop_as_0() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"4")]})
        await send({"type": "http.response.body", "body": b"[]", "more_body": True})
        if scope["path"] == "/v1/orders/dropped":
            raise ConnectionResetError
        await send({"type": "http.response.body", "body": b"[]"})

    events = await _counter_events(app, "GET", "/v1/orders", [])
    assert events == ["http.response.start", "http.response.body", ("none", 200), "http.response.body"]
    events = await _counter_events(app, "GET", "/v1/orders/dropped", [])
    assert events == ["http.response.start", "http.response.body", ("none", 0), "reset"]


def test_orders_are_shared_out_like_the_second_companys_without_orders_per_company() -> None:
    sandbox = Sandbox(seed=3, orders=400, companies=4, api_off=(), seed_start=FIXED_NOW)
    counts = [len(sandbox.company_orders(party_id)) for party_id in sorted(sandbox.companies)]
    assert counts == [360, 40, 40, 40]
    with pytest.raises(ValueError, match="not both"):
        Sandbox(orders=10, orders_per_company=5, seed_start=FIXED_NOW)


# ------------------------------------------------------------------------------------------------------------
# The default sandbox


def _digest(value: object) -> str:
    return hashlib.sha256(repr(value).encode()).hexdigest()[:16]


async def test_the_default_sandbox_is_the_one_it_was_before_there_could_be_more_companies() -> None:
    # Digests of the books, registry, inbox, parties and accountInformation of a default two-company sandbox, taken
    # before companies could be generated. A deliberate change of the default seed updates them; nothing else may.
    now = datetime(2026, 3, 10, 15, 0, 49, 720000)
    sandbox = Sandbox(seed=7, orders=400, seed_start=now, clock=fixed_clock(now))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(sandbox)), base_url="http://x") as http:
        account = (await http.get("/v1/account/accountInformation", headers={"ApiKey": API_KEY})).content
    assert sorted(sandbox.companies) == [PARTY_ID, SECOND_PARTY_ID] and not sandbox.api_off
    assert {
        "orders": _digest(sorted(sandbox.orders.items())),
        "registry": _digest(sorted(sandbox.registry.items())),
        "inbox": _digest(sorted((k, sorted(v.items())) for k, v in sandbox.inbox.items())),
        "parties": _digest(sorted((k, sorted(v.items())) for k, v in sandbox.parties.items())),
        "companies": _digest(sorted(sandbox.companies.items())),
        "account": hashlib.sha256(account).hexdigest()[:16],
    } == {
        "orders": "9639880ee20ad96a",
        "registry": "31be18646440fc72",
        "inbox": "234d5d59a79189ae",
        "parties": "02ad70ba79d1b8fa",
        "companies": "776b29fb04cde0fd",
        "account": "c8a2f612da6059ce",
    }


# ------------------------------------------------------------------------------------------------------------
# sandbox serve


def _serve(*options: str) -> list[str]:
    return [sys.executable, "-c", "from cli.main import app; app()", "sandbox", "serve", *options]


def test_sandbox_serve_hosts_the_companies_it_is_asked_for() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    options = ["--port", str(port), "--companies", "5", "--orders-per-company", "20"]
    options += ["--api-off-companies", f"{PARTY_ID},{PARTY_ID + 3}", "--api-off-status", "403"]
    process = subprocess.Popen(
        _serve(*options), cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        env={**os.environ, "NO_COLOR": "1"},
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                companies = httpx.get(f"http://127.0.0.1:{port}/_sandbox/companies", timeout=1).json()["Companies"]
                break
            except httpx.TransportError:
                assert process.poll() is None, process.stderr.read() if process.stderr else ""
                assert time.monotonic() < deadline, "sandbox serve did not start"
                time.sleep(0.1)
        refused = httpx.get(f"http://127.0.0.1:{port}/v1/orders", headers={"ApiKey": API_KEY, "PartyID": str(PARTY_ID)})
    finally:
        process.terminate()
        process.wait(10)
    assert [(c["PartyID"], c["APIAllowed"], c["Orders"]) for c in companies] == [
        (PARTY_ID, False, 20), (SECOND_PARTY_ID, True, 20), (PARTY_ID + 2, True, 20), (PARTY_ID + 3, False, 20),
        (PARTY_ID + 4, True, 20),
    ]  # fmt: skip
    assert refused.status_code == 403


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--orders", "10", "--orders-per-company", "5"], "not both"),
        (["--companies", "3", "--api-off-companies", "574991;574992"], "--api-off-companies"),
        (["--companies", "3", "--api-off-companies", "574994"], "hosted company"),
        (["--api-off-status", "404"], "api_off_status"),
    ],
)
def test_sandbox_serve_refuses_company_options_that_do_not_fit_before_serving(options: list[str], message: str) -> None:
    result = subprocess.run(
        _serve("--port", "1", *options), cwd=REPO_ROOT, capture_output=True, text=True, timeout=60,
        env={**os.environ, "NO_COLOR": "1", "COLUMNS": "200"},
    )  # fmt: skip
    assert result.returncode == 2
    assert message in result.stderr
