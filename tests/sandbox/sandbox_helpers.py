"""Shared helpers for the sandbox tests: default headers, an in-process client and hand-made orders.

Kept as a plain module (not a conftest) so the sandbox tests own their helpers explicitly.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx

from sandbox.app import create_app
from sandbox.identity import API_KEY, PARTY_ID, SECOND_PARTY_ID, company
from sandbox.store import Sandbox

HEADERS = {"ApiKey": API_KEY, "PartyID": str(PARTY_ID)}
OTHER_COMPANY_HEADERS = {"ApiKey": API_KEY, "PartyID": str(SECOND_PARTY_ID)}
FIXED_NOW = datetime(2026, 3, 10, 15, 0, 49, 720000)


def fixed_clock(start: datetime = FIXED_NOW) -> Any:
    """A clock frozen at ``start`` (the sandbox makes it strictly increasing by 1 µs per read)."""
    return lambda: start


@asynccontextmanager
async def asgi_client(sandbox: Sandbox, headers: dict[str, str] | None = None) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client wired to the sandbox app in-process."""
    transport = httpx.ASGITransport(app=create_app(sandbox))
    async with httpx.AsyncClient(
        transport=transport, base_url="https://api.sandbox.test", headers=HEADERS if headers is None else headers
    ) as client:
        yield client


def make_order(order_id: int, *, company_id: int = PARTY_ID, **overrides: Any) -> dict[str, Any]:
    """A small but complete storage-form sales invoice (totals consistent with one 21 % line)."""
    created = overrides.pop("Created", datetime(2026, 3, 2, 10, 14, 7, 183000))
    counter = {
        "PartyID": 1088213,
        "Nr": "C-1001",
        "Name": "Voorbeeld Klant NV",
        "Addresses": [
            {
                "AddressType": "InvoiceAddress",
                "Street": "Kouter",
                "StreetNumber": "12",
                "City": "Gent",
                "CountryCode": "BE",
            }
        ],
        "Street": "Kouter",
        "StreetNumber": "12",
        "Zipcode": "9000",
        "City": "Gent",
        "CountryCode": "BE",
        "VATNumber": "BE0412345614",
        "PartyType": "Customer",
        "VATLiable": True,
        "DisplayName": "Voorbeeld Klant NV",
        "VATDeductable": True,
        "Identifiers": [{"IdentifierType": "CBE", "Identifier": "0412345614", "SchemeID": "0208", "Preferred": False}],
    }
    order: dict[str, Any] = {
        "OrderID": order_id,
        "CompanyID": company_id,
        "OrderPDF": {"FileID": f"00000000-0000-4000-8000-{order_id:012d}", "FileName": f"Invoice_{order_id}.pdf"},
        "Attachments": [],
        "OrderNumber": f"INV-{order_id}",
        "Customer": {**counter, "Email": "ap@voorbeeldklant.example"},
        "Supplier": {"PartyID": company_id, "Name": company(PARTY_ID).name, "PartyType": "Supplier"},
        "CounterParty": counter,
        "OrderDate": datetime(2026, 3, 2),
        "ExpiryDate": datetime(2026, 4, 1),
        "OrderType": "Invoice",
        "LastModified": created + timedelta(minutes=7, seconds=38, microseconds=417000),
        "Created": created,
        "OrderDirection": "Income",
        "OrderLines": [
            {
                "OrderLineID": order_id * 10,
                "Quantity": Decimal("8.00000"),
                "UnitPriceExcl": Decimal("95.00000"),
                "Description": "Consultancy (uur)",
                "TotalExcl": Decimal("760.00"),
                "TotalVAT": Decimal("159.60"),
                "VATPercentage": Decimal("21.00"),
                "VentilationCode": "4",
                "CustomFields": {},
                "InclLeading": False,
                "TotalIncl": Decimal("919.60"),
            }
        ],
        "VatGroups": [
            {
                "VentilationCode": "4",
                "VATPercentage": Decimal("21.00"),
                "TotalExcl": Decimal("760.00"),
                "TotalVAT": Decimal("159.60"),
                "TotalIncl": Decimal("919.60"),
                "Mtvh": Decimal("760.00"),
                "FinancialReductionAmount": Decimal("0.00"),
            }
        ],
        "TotalExcl": Decimal("760.00"),
        "TotalIncl": Decimal("919.60"),
        "TotalVAT": Decimal("159.60"),
        "Tags": [],
        "PaymentReference": "+++002/6100/45179+++",
        "Paid": False,
        "ExternalProvider": "APIFeed",
        "Currency": "EUR",
        "IsSent": False,
        "Invoiced": False,
        "CustomFields": {},
        "RemindersSent": 0,
        "ToPay": Decimal("919.60"),
        "OrderStatus": "ToSend",
        "FXRateToForeign": Decimal("1.00000"),
        "DeliveryDate": datetime(2026, 3, 2),
        "ExportedToConnector": False,
        "AccountantVerificationNeeded": False,
        "CurrentDocumentDeliveryDetails": {"IsDocumentDelivered": False},
        "Messages": [],
    }
    order.update(overrides)
    return order


def invoice_body(**overrides: Any) -> dict[str, Any]:
    """The documented minimal POST body (docs/reference/billit-api.md#creating-orders) with the calculation example's
    lines (docs/reference/billit-api.md#calculations)."""
    body: dict[str, Any] = {
        "OrderType": "Invoice",
        "OrderDirection": "Income",
        "OrderDate": "2026-03-02",
        "ExpiryDate": "2026-04-01",
        "OrderLines": [
            {"Quantity": 1, "UnitPriceExcl": 49.99, "Description": "Boek", "VATPercentage": 6},
            {"Quantity": 1, "UnitPriceExcl": 24.95, "Description": "Kabel", "VATPercentage": 21},
            {"Quantity": 1, "UnitPriceExcl": 59.99, "Description": "Muis", "VATPercentage": 21},
        ],
        "Customer": {
            "Name": "Billit",
            "VATNumber": "BE0563846944",
            "PartyType": "Customer",
            "Email": "ap@billit.example",
        },
    }
    body.update(overrides)
    return body
