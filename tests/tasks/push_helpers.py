"""Helpers for the reverse-flow tests: outbound rows, a push against a sandbox, and what each side holds after."""

from __future__ import annotations

import asyncio
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import sqlalchemy as sa

from connectors.billit import BillitClient, load_settings
from connectors.warehouse import reflect_tables, upsert_rows
from sandbox.identity import API_KEY, PARTY_ID
from sandbox.server import SandboxServer
from tasks.outbound.push import PushOptions, PushSummary, push_outbound

COMPANY = PARTY_ID
VALID_VAT = ["BE0412345614", "BE0403019261", "BE0899965307", "BE1000000021"]
SEND_ROUTE = "POST /v1/orders/commands/send"
CREATE_ROUTE = "POST /v1/orders"
CENT = Decimal("0.01")

Row = dict[str, Any]


def outbound(external_id: str, lines: int = 2, **changes: Any) -> tuple[Row, list[Row]]:
    """A pushable row and its lines; the number after the last `-` picks the customer, prices and VAT rates."""
    number = int(external_id.rsplit("-", 1)[-1]) if external_id[-1].isdigit() else 0
    row = {
        "external_id": external_id,
        "order_type": "Invoice",
        "order_date": date(2026, 11, 2),
        "expiry_date": date(2026, 12, 2),
        "currency": "EUR",
        "reference": f"PO-{number}",
        "customer_name": f"Klant {number % 40} NV",
        "customer_vat_number": VALID_VAT[number % len(VALID_VAT)],
        "customer_email": f"ap{number % 40}@klant.example",
        "customer_city": "Gent",
        "customer_zipcode": "9000",
        "customer_country_code": "BE",
        "status": "pending",
        "attempts": 0,
    }
    row.update({key: value for key, value in changes.items() if key != "line"})
    rates = [Decimal(21), Decimal(6), Decimal(12), Decimal(0)]
    rows = [
        {
            "external_id": external_id,
            "line_number": index + 1,
            "description": f"Dienst {index + 1}",
            "quantity": Decimal(index + 1),
            "unit_price_excl": Decimal("19.99") + number % 7,
            "vat_percentage": rates[(number + index) % 4],
            "ventilation_code": None,
            "reference": None,
        }
        | changes.get("line", {})
        for index in range(lines)
    ]
    return row, rows


def insert(engine: sa.Engine, items: list[tuple[Row, list[Row]]]) -> None:
    tables = reflect_tables(engine)
    rows = [row for row, _ in items]
    columns = set().union(*(row.keys() for row in rows))
    with engine.begin() as connection:
        upsert_rows(
            connection, tables["outbound_invoices"], [{c: row.get(c) for c in columns} for row in rows], ["external_id"]
        )
        upsert_rows(
            connection,
            tables["outbound_invoice_lines"],
            [line for _, lines in items for line in lines],
            ["external_id", "line_number"],
        )


def push(
    server: SandboxServer,
    engine: sa.Engine,
    *,
    max_retries: int = 6,
    api_key: str = API_KEY,
    via: str | None = None,
    quantity_decimals: int = 2,
    **options: Any,
) -> PushSummary:
    """A push against the sandbox, or `via` a proxy in front of it."""
    settings = load_settings(
        base_url=via or server.base_url,
        api_key=api_key,
        party_id=COMPANY,
        backoff_base_s=0.01,
        backoff_max_s=0.1,
        max_retries=max_retries,
        quantity_decimals=quantity_decimals,
    )

    async def run() -> PushSummary:
        async with BillitClient(settings) as billit:
            return await push_outbound(billit, engine, PushOptions(**options))

    return asyncio.run(run())


def stored(engine: sa.Engine) -> dict[str, Any]:
    table = reflect_tables(engine)["outbound_invoices"]
    with engine.connect() as connection:
        return {row.external_id: row for row in connection.execute(sa.select(table))}


def orders_by_external_id(server: SandboxServer) -> dict[str, list[dict[str, Any]]]:
    """Billit's active orders of the company, by ExternalProviderID."""
    found: dict[str, list[dict[str, Any]]] = {}
    with server.sandbox.lock:
        for order in server.sandbox.company_orders(COMPANY).values():
            if "ExternalProviderID" in order:
                found.setdefault(order["ExternalProviderID"], []).append(order)
    return found


def answers(server: SandboxServer, route: str) -> dict[str, int]:
    """How often the sandbox answered `route` with each status ("0": the connection was dropped first)."""
    return dict(server.sandbox.stats()["requests"].get(route, {}))


def posts(server: SandboxServer) -> int:
    return sum(answers(server, CREATE_ROUTE).values())


def expected_totals(lines: list[Row]) -> tuple[Decimal, Decimal, dict[Decimal, tuple[Decimal, Decimal]]]:
    """(total excl, total VAT, {rate: (net, VAT)}) worked out here, not by the sandbox or the push.

    Billit's rule: the net of each VAT rate is the sum of quantity x unit price, and its VAT is that net times the
    rate, rounded half-up to the cent once per rate.
    """
    nets: dict[Decimal, Decimal] = {}
    for line in lines:
        rate = Decimal(line["vat_percentage"])
        nets[rate] = nets.get(rate, Decimal(0)) + Decimal(line["quantity"]) * Decimal(line["unit_price_excl"])
    groups = {
        rate: (net.quantize(CENT, ROUND_HALF_UP), (net * rate / 100).quantize(CENT, ROUND_HALF_UP))
        for rate, net in nets.items()
    }
    return sum(net for net, _ in groups.values()), sum(vat for _, vat in groups.values()), groups
