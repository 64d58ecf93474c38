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
_ORDER_DATE_TEXT = re.compile(r'"OrderDate"\s*:\s*"(\d{4}-\d{2}-\d{2})', re.IGNORECASE)


@dataclass(frozen=True)
class UnloadedOrders:
    """The company's pending orders: dated in the period, of unknown date, dated in another period."""

    in_period: int = 0
    undated: int = 0
    other_periods: int = 0


#: The order types a VAT return covers (`returns.vat_documents`): an offer, say, is in no figure anyway.
VAT_DOCUMENTS = ("Invoice", "CreditNote")


def _read(raw: Any) -> tuple[bool, date | None]:
    """Whether a raw order (JSON text, or already parsed) may be a VAT document (its `OrderType` unreadable counts
    as may), and its `OrderDate`, None when it cannot be read."""
    order = raw
    if isinstance(raw, str):
        try:
            # Here, not above: the Billit connector's package brings httpx, which the VAT commands never need.
            from connectors.billit.members import canonical_members

            order = canonical_members(json.loads(raw))
        except ValueError:
            found = _ORDER_DATE_TEXT.search(raw)
            order = {"OrderDate": found.group(1)} if found else None
    if not isinstance(order, dict):
        return True, None
    kind = order.get("OrderType")
    value = order.get("OrderDate")
    try:
        day = date.fromisoformat(str(value)[:10]) if value else None
    except ValueError:
        day = None
    return not isinstance(kind, str) or kind in VAT_DOCUMENTS, day


def _landed(path: str, order_ids: Iterable[int]) -> dict[int, tuple[bool, date | None]]:
    """`_read` of each of `order_ids` in one landing file; {} when the file cannot be read (moved, damaged)."""
    wanted = set(order_ids)
    try:
        table = pq.read_table(path, columns=["order_id", "order_json"], filters=[("order_id", "in", sorted(wanted))])
    except (OSError, pa.ArrowException, ValueError):
        return {}
    found = {}
    for order_id, text in zip(
        table.column("order_id").to_pylist(), table.column("order_json").to_pylist(), strict=True
    ):
        if order_id in wanted:
            found[order_id] = _read(text)
    return found


def unloaded_orders(engine: sa.Engine, first_day: date, last_day: date, *, company_id: int) -> UnloadedOrders:
    """The company's pending orders that may be VAT documents, counted by where their invoice date falls against
    [first_day, last_day]."""
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
    read: dict[int, tuple[bool, date | None]] = {}
    in_files: dict[str, list[int]] = {}
    with engine.connect() as connection:
        for order_id, payload, landing_file in connection.execute(kept):
            if order_id in read and read[order_id][1] is not None:
                continue
            read[order_id] = _read(payload) if payload else (True, None)
            if read[order_id][1] is None and landing_file:
                in_files.setdefault(landing_file, []).append(order_id)
    for path, order_ids in in_files.items():
        read.update(_landed(path, order_ids))
    dates = [day for vat_document, day in read.values() if vat_document]
    known = [day for day in dates if day is not None]
    in_period = sum(first_day <= day <= last_day for day in known)
    return UnloadedOrders(in_period, len(dates) - len(known), len(known) - in_period)


def unloaded_notes(unloaded: UnloadedOrders, label: str) -> list[str]:
    """What a reader of `label`'s figures must know of the orders not loaded yet (`billit-etl status` lists them)."""
    notes = []
    if unloaded.in_period:
        notes.append(
            f"{unloaded.in_period} invoice(s) or credit note(s) dated in {label} are listed by Billit but not loaded "
            f"(quarantined or unreadable), so they are in no figure of {label}: see billit-etl status"
        )
    if unloaded.undated:
        notes.append(
            f"{unloaded.undated} order(s) listed by Billit are not loaded and their date is unknown (nothing of them "
            f"was kept: a detail that answered 404, say): they may be {label}'s; see billit-etl status"
        )
    if unloaded.other_periods:
        notes.append(
            f"{unloaded.other_periods} order(s) dated in other periods than {label} are listed by Billit but not "
            "loaded yet: see billit-etl status"
        )
    return notes
