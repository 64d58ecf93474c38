"""Orders Billit listed that are not loaded yet (`pending_orders`), by the period their invoice date falls in.

A pending order is in no return, whatever its date: an order the sync quarantined whole (a VAT % written
"21,00", say) or whose detail answered 404 or something unreadable. Its date is read where the sync kept its raw
answer: the open whole-order `quarantine` row's `payload`, else the landing Parquet file its `landing_file` names
(docs/warehouse.md#quarantine). An order whose answer was never kept (a 404), whose file is gone, or whose answer
has no readable `OrderDate` is of unknown date: it may be any period's.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import sqlalchemy as sa

from connectors.warehouse import reflect_tables

# The date in a raw answer that is not JSON any more (cut short, a stray byte): the first OrderDate it names.
_ORDER_DATE_TEXT = re.compile(r'"OrderDate"\s*:\s*"(\d{4}-\d{2}-\d{2})')


@dataclass(frozen=True)
class UnloadedOrders:
    """The company's pending orders: dated in the period, of unknown date, dated in another period."""

    in_period: int = 0
    undated: int = 0
    other_periods: int = 0

    @property
    def may_be_in_period(self) -> int:
        """Orders that may be missing from the period's figures: dated in it, or of unknown date."""
        return self.in_period + self.undated


def _date_of(raw: Any) -> date | None:
    """The `OrderDate` of a raw order (JSON text, or already parsed), None when it cannot be read."""
    order = raw
    if isinstance(raw, str):
        try:
            order = json.loads(raw)
        except ValueError:
            found = _ORDER_DATE_TEXT.search(raw)
            order = {"OrderDate": found.group(1)} if found else None
    value = order.get("OrderDate") if isinstance(order, dict) else None
    try:
        return date.fromisoformat(str(value)[:10]) if value else None
    except ValueError:
        return None


def _landed_dates(path: str, order_ids: Iterable[int]) -> dict[int, date]:
    """The OrderDate of each of `order_ids` in one landing file; {} when the file cannot be read (moved, damaged)."""
    wanted = set(order_ids)
    try:
        table = pq.read_table(path, columns=["order_id", "order_json"], filters=[("order_id", "in", sorted(wanted))])
    except (OSError, pa.ArrowException, ValueError):
        return {}
    dates = {}
    for order_id, text in zip(
        table.column("order_id").to_pylist(), table.column("order_json").to_pylist(), strict=True
    ):
        if order_id in wanted and (day := _date_of(text)) is not None:
            dates[order_id] = day
    return dates


def unloaded_orders(engine: sa.Engine, first_day: date, last_day: date, *, company_id: int) -> UnloadedOrders:
    """The company's pending orders counted by where their invoice date falls against [first_day, last_day]."""
    tables = reflect_tables(engine)
    pending, quarantine = tables["pending_orders"], tables["quarantine"]
    kept = (
        sa.select(pending.c.order_id, quarantine.c.payload, quarantine.c.landing_file)
        .select_from(pending)
        .join(
            quarantine,
            sa.and_(
                quarantine.c.company_id == pending.c.company_id,
                quarantine.c.order_id == pending.c.order_id,
                quarantine.c.entity == "order",
                quarantine.c.resolved_at.is_(None),
            ),
            isouter=True,
        )
        .where(pending.c.company_id == company_id)
        .order_by(pending.c.order_id, quarantine.c.quarantine_id.desc())  # the newest answer kept first
    )
    dates: dict[int, date | None] = {}
    in_files: dict[str, list[int]] = {}
    with engine.connect() as connection:
        for order_id, payload, landing_file in connection.execute(kept):
            if dates.get(order_id) is not None:
                continue
            dates[order_id] = _date_of(payload) if payload else None
            if dates[order_id] is None and landing_file:
                in_files.setdefault(landing_file, []).append(order_id)
    for path, order_ids in in_files.items():
        for order_id, day in _landed_dates(path, order_ids).items():
            dates[order_id] = dates[order_id] or day
    known = [day for day in dates.values() if day is not None]
    in_period = sum(first_day <= day <= last_day for day in known)
    return UnloadedOrders(in_period, len(dates) - len(known), len(known) - in_period)


def unloaded_notes(unloaded: UnloadedOrders, label: str) -> list[str]:
    """What a reader of `label`'s figures must know of the orders not loaded yet (`billit-etl status` lists them)."""
    notes = []
    if unloaded.may_be_in_period:
        notes.append(
            f"{unloaded.in_period} order(s) dated in {label} and {unloaded.undated} of unknown date are listed by "
            f"Billit but not loaded (quarantined or unreadable), so they are in no figure of {label}: the figures "
            "are incomplete until they load; see billit-etl status"
        )
    if unloaded.other_periods:
        notes.append(
            f"{unloaded.other_periods} order(s) dated in other periods than {label} are listed by Billit but not "
            "loaded yet: see billit-etl status"
        )
    return notes
