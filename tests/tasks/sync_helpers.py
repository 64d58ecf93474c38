"""Helpers for the extraction tests: run a stream against a sandbox, and compare the warehouse with Billit.

The comparison reads Billit's side straight from the sandbox's stored orders; the identifiers' validity comes
from `tests.tasks.identifier_checks` (check digits written out in the tests), never from the normaliser the sync
itself uses, so a bug in the normaliser cannot hide behind the same bug in the expectation.

`SEED_START` pins the "now" of every seeded book, so the data is the same every day; it lies before this
repository's first commit, so the seeded changes are always in the past of the wall clock.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import defaultdict
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from connectors.warehouse import reflect_tables
from sandbox.identity import API_KEY, PARTY_ID
from sandbox.server import SandboxServer
from tasks.inbound.sync import run_stream
from tasks.inbound.warehouse import read_watermark
from tests.connectors.warehouse import Warehouse
from tests.tasks.identifier_checks import expected_identifiers

COMPANY = PARTY_ID
SEED_START = datetime(2026, 11, 2, 9, 0)  # naive Brussels time, like Billit's


def sync(
    server: SandboxServer, engine: sa.Engine, stream: str, *, company: int = COMPANY, **options: Any
) -> dict[str, Any]:
    options.setdefault("landing_dir", None)
    return run_stream(
        stream,
        engine=engine,
        base_url=server.base_url,
        api_key=API_KEY,
        party_id=company,
        backoff_base_s=0.01,
        backoff_max_s=0.2,
        **options,
    )


def _to_microseconds(moment: datetime) -> datetime:
    return datetime(*moment.timetuple()[:6], moment.microsecond)  # noqa: DTZ001 - Billit's times are naive


def billit_view(order: dict[str, Any]) -> tuple[Any, ...]:
    lines = order.get("OrderLines", [])
    party = order.get("Customer") if order["OrderDirection"] == "Income" else order.get("Supplier")
    identifiers = expected_identifiers(party or {})
    return (
        # To the microsecond: the warehouse's TIMESTAMP stops there (its last_modified_raw keeps Billit's 7 digits).
        order["OrderDirection"],
        order["OrderNumber"],
        _to_microseconds(order["LastModified"]),
        order["TotalExcl"],
        order["TotalVAT"],
        order["TotalIncl"],
        order.get("OrderStatus"),
        order.get("Paid", False),
        (order.get("CurrentDocumentDeliveryDetails") or {}).get("DocumentDeliveryStatus"),
        tuple((line["Quantity"], line["UnitPriceExcl"], line["TotalIncl"]) for line in lines),
        tuple((group["VATPercentage"], group["TotalIncl"]) for group in order.get("VatGroups", [])),
        len(order.get("Messages", [])),
        (party or {}).get("PartyID"),
        tuple(identifiers),
    )


def warehouse_views(engine: sa.Engine, company: int | None = None) -> tuple[dict[int, tuple[Any, ...]], set[int]]:
    """Each loaded, non-deleted order (of `company`, else of every company) as `billit_view` sees it, and the ids
    flagged deleted. A counterparty's identifiers are those of the order's company's books."""
    tables = reflect_tables(engine)
    invoice_table = tables["invoices"]
    with engine.connect() as connection:
        invoices = connection.execute(
            sa.select(invoice_table).where(invoice_table.c.company_id == company)
            if company is not None
            else sa.select(invoice_table)
        ).all()
        lines = defaultdict(list)
        for row in connection.execute(sa.select(tables["invoice_lines"]).order_by("order_id", "line_number")):
            lines[row.order_id].append((row.quantity, row.unit_price_excl, row.total_incl))
        groups = defaultdict(list)
        for row in connection.execute(sa.select(tables["invoice_vat_groups"]).order_by("order_id", "group_number")):
            groups[row.order_id].append((row.vat_percentage.quantize(Decimal("0.01")), row.total_incl))
        messages: dict[int, int] = defaultdict(int)
        for row in connection.execute(sa.select(tables["invoice_messages"].c.order_id)):
            messages[row.order_id] += 1
        identifiers = defaultdict(list)
        for row in connection.execute(sa.select(tables["party_identifiers"])):
            identifiers[(row.company_id, row.party_id)].append((row.source, row.raw, row.is_valid))
    views = {}
    for row in invoices:
        if row.is_deleted:
            continue
        views[row.order_id] = (
            row.direction,
            row.order_number,
            row.last_modified,
            row.total_excl,
            row.total_vat,
            row.total_incl,
            row.order_status,
            bool(row.paid),
            row.delivery_status,
            tuple(lines[row.order_id]),
            tuple(groups[row.order_id]),
            messages[row.order_id],
            row.counterparty_party_id,
            tuple(sorted(identifiers[(row.company_id, row.counterparty_party_id)])),
        )
    return views, {row.order_id for row in invoices if row.is_deleted}


def assert_warehouse_matches_billit(server: SandboxServer, engine: sa.Engine, company: int = COMPANY) -> None:
    """The company's orders in the warehouse are the sandbox's truth of that company (other companies' rows aside)."""
    sandbox = server.sandbox
    with sandbox.lock:
        expected = {order_id: billit_view(order) for order_id, order in sandbox.company_orders(company).items()}
        deleted = set(sandbox.company_orders(company, deleted=True))
    loaded, flagged = warehouse_views(engine, company)
    missing = sorted(set(expected) - set(loaded))
    unexpected = sorted(set(loaded) - set(expected))
    assert not missing and not unexpected, f"missing {missing[:10]} ({len(missing)}), unexpected {unexpected[:10]}"
    different = [order_id for order_id in expected if expected[order_id] != loaded[order_id]]
    assert not different, f"{len(different)} orders differ, e.g. {expected[different[0]]} != {loaded[different[0]]}"
    assert flagged <= deleted


def kill_a_sales_sync_after_its_first_batch(server: SandboxServer, engine: sa.Engine, warehouse: Warehouse) -> int:
    """Run a sales sync in another process and SIGKILL it once a batch has moved the watermark (the first batch
    that completes a listing page); its return code."""
    root = Path(__file__).resolve().parents[2]
    script = (
        "import sys; from connectors.warehouse import create_warehouse_engine\n"
        "from tasks.inbound.sync import run_stream\n"
        "engine = create_warehouse_engine(sys.argv[1], schema=sys.argv[2] or None)\n"
        "run_stream('sales', engine=engine, landing_dir=None, base_url=sys.argv[3], "
        f"api_key={API_KEY!r}, party_id={PARTY_ID}, max_concurrency=4)\n"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", script, warehouse.url, warehouse.schema or "", server.base_url],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
    )
    try:
        deadline = time.monotonic() + 60
        while read_watermark(engine, "sales", company_id=PARTY_ID) is None:  # no batch has completed a page yet
            assert process.poll() is None, "the sync finished before it could be killed"
            assert time.monotonic() < deadline
            time.sleep(0.05)
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait(timeout=30)
    return process.returncode
