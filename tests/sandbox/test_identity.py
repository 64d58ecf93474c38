"""The sandbox's identity is declared once and everything in the sandbox agrees with it; the sandbox stands alone."""

from __future__ import annotations

import ast
from datetime import date
from pathlib import Path

from sandbox import identity
from sandbox.peppol import party_peppol_ids
from sandbox.seed import OWN_COMPANIES, generate_orders, participant_registry
from sandbox.store import Sandbox
from tests.sandbox.sandbox_helpers import FIXED_NOW, HEADERS, asgi_client, fixed_clock

SANDBOX_PACKAGE = Path(identity.__file__).resolve().parent


def test_the_own_companies_are_the_ones_identity_declares() -> None:
    assert [company["PartyID"] for company in OWN_COMPANIES] == [identity.PARTY_ID, identity.SECOND_PARTY_ID]
    for own, party in zip(identity.COMPANIES, OWN_COMPANIES, strict=True):
        assert (party["Name"], party["VATNumber"]) == (own.name, own.vat_number)
        assert party["Identifiers"][0]["Identifier"] == own.enterprise_number


def test_a_sandbox_accepts_the_identity_credentials_by_default() -> None:
    sandbox = Sandbox(seed_start=FIXED_NOW)
    assert identity.PARTY_ID in sandbox.api_keys[identity.API_KEY]
    assert identity.SECOND_PARTY_ID in sandbox.bearer_tokens[identity.BEARER_TOKEN]


def test_seeded_sales_numbers_follow_the_formats_identity_declares() -> None:
    for own in identity.COMPANIES:
        orders = generate_orders(seed=5, orders=120, company_id=own.party_id)
        sales = [order for order in orders if order["OrderDirection"] == "Income"]
        firsts = {}
        for order in sales:
            firsts.setdefault((order["OrderType"], order["OrderDate"].year), order["OrderNumber"])
        for (order_type, year), number in firsts.items():
            assert number == identity.order_number(own.party_id, order_type, year, 1)


async def test_a_posted_invoice_is_numbered_after_the_seeded_ones_in_the_same_format() -> None:
    sandbox = Sandbox(seed=5, orders=0, seed_start=FIXED_NOW, clock=fixed_clock())
    body = {
        "OrderType": "Invoice", "OrderDirection": "Income", "OrderDate": "2026-05-04", "ExpiryDate": "2026-06-03",
        "Customer": {"Name": "Klant BV", "PartyType": "Customer"},
        "OrderLines": [{"Quantity": 1, "UnitPriceExcl": 100, "Description": "Werk", "VATPercentage": 21}],
    }  # fmt: skip
    async with asgi_client(sandbox, headers=HEADERS) as client:
        order_id = (await client.post("/v1/orders", json=body)).json()
    number = sandbox.get_order(order_id)["OrderNumber"]
    assert number == identity.order_number(identity.PARTY_ID, "Invoice", date(2026, 5, 4).year, 1)


def test_the_registry_has_an_entry_for_every_id_the_sandbox_routes_a_seeded_party_on() -> None:
    orders = generate_orders(seed=9, orders=300)
    registry = participant_registry(orders)
    for order in orders:
        for role in ("Customer", "Supplier"):
            assert set(party_peppol_ids(order[role])) <= set(registry)


def test_the_sandbox_imports_nothing_of_the_rest_of_the_project() -> None:
    outside = []
    for path in SANDBOX_PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            for name in names:
                top = name.split(".")[0]
                if top in {"connectors", "tasks", "flows", "cli", "bench", "tests"} and not name.startswith("sandbox"):
                    outside.append(f"{path.relative_to(SANDBOX_PACKAGE)}: {name}")
    assert not outside
