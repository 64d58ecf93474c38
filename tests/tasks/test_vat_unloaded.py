"""Orders Billit listed that are not loaded, counted by the period of their invoice date (tasks/vat/unloaded.py).

Found by an outside accountant: a sale dated 2027-01-07 that the sync quarantined ("VATPercentage": "21,00") was
missing from the 2027-01 return, and the only word was that some order of "any period" was not loaded yet. Its
date is in what the sync keeps: the quarantine row's payload, or the landing file it names.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from tasks.inbound.landing import LandingWriter
from tasks.inbound.state import NotLoaded
from tasks.inbound.warehouse import load_orders
from tasks.vat.unloaded import UnloadedOrders, unloaded_orders
from tests.tasks.test_vat_return import COMPANY, sale

JANUARY = (date(2027, 1, 1), date(2027, 1, 31))


def unreadable_sale(day: str) -> dict[str, Any]:
    """A sale the sync quarantines whole: its VAT % written with a decimal comma."""
    order = {**sale([("4", "21", "100.00", None)]), "OrderDate": f"{day}T00:00:00"}
    order["OrderLines"][0]["VATPercentage"] = "21,00"
    order["VatGroups"][0]["VATPercentage"] = "21,00"
    return order


def test_quarantined_orders_are_counted_by_their_date_and_the_others_as_of_unknown_date(
    engine: sa.Engine, tmp_path: Path
) -> None:
    january, december = unreadable_sale("2027-01-07"), unreadable_sale("2026-12-10")
    load_orders(engine, [january, december], stream="orders_income", run_id="r1", company_id=COMPANY)
    # A listed order whose detail answered 404: nothing of it was kept, it may be any period's.
    gone = NotLoaded(990_001, "2027-01-20T10:00:00", "the order's detail answered 404")
    load_orders(engine, [], stream="orders_income", run_id="r2", company_id=COMPANY, not_loaded=[gone])
    # A landed run keeps the raw answer in its Parquet file, not in the quarantine row.
    landed = unreadable_sale("2027-01-25")
    writer = LandingWriter(tmp_path / "landing", "orders_income", "r3", party_id=COMPANY)
    part = writer.write([landed], [json.dumps(landed)])
    load_orders(engine, [landed], stream="orders_income", run_id="r3", company_id=COMPANY, landing_file=str(part))
    with engine.connect() as connection:
        kept = connection.execute(
            sa.text("SELECT payload FROM quarantine WHERE order_id = :id"), {"id": landed["OrderID"]}
        )
        assert kept.scalar_one() is None  # the date is only in the file

    assert unloaded_orders(engine, *JANUARY, company_id=COMPANY) == UnloadedOrders(2, 1, 1)
    assert unloaded_orders(engine, date(2026, 10, 1), date(2026, 12, 31), company_id=COMPANY) == UnloadedOrders(1, 1, 2)
    assert unloaded_orders(engine, *JANUARY, company_id=COMPANY + 1) == UnloadedOrders()

    # A landing file moved away: that order's date cannot be read any more.
    Path(str(part)).unlink()
    assert unloaded_orders(engine, *JANUARY, company_id=COMPANY) == UnloadedOrders(1, 2, 1)


def test_a_payload_that_is_not_json_any_more_still_gives_its_order_date(engine: sa.Engine) -> None:
    load_orders(engine, [unreadable_sale("2027-01-07")], stream="orders_income", run_id="r1", company_id=COMPANY)
    with engine.begin() as connection:
        connection.execute(sa.text("""UPDATE quarantine SET payload = '{"OrderDate": "2027-01-07T00:00:00", "Order'"""))
    assert unloaded_orders(engine, *JANUARY, company_id=COMPANY) == UnloadedOrders(1, 0, 0)
