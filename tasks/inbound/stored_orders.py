"""What a load compares incoming orders with: the invoices stored before it, and the rule for which it writes.

The sync (`tasks.inbound.warehouse.write_orders`, rows as dicts) and the replay (`tasks.inbound.replay_load`,
Arrow columns) hold their orders differently, and decide with these same functions.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

import sqlalchemy as sa

from connectors.warehouse import in_chunks, is_among
from tasks.inbound.state import LoadCounts
from tasks.normalise.orders import order_state


def stored_invoices(connection: sa.Connection, invoices: sa.Table, order_ids: Sequence[int]) -> dict[int, sa.Row]:
    """The stored invoice rows of these orders, by order id."""
    stored: dict[int, sa.Row] = {}
    for chunk in in_chunks(order_ids):
        query = sa.select(invoices).where(is_among(connection, invoices.c.order_id, chunk))
        stored.update((row.order_id, row) for row in connection.execute(query))
    return stored


def orders_to_write(
    stored: dict[int, sa.Row], incoming: Iterable[tuple[int, datetime, str]], counts: LoadCounts
) -> list[bool]:
    """For each incoming (order id, LastModified, LastModified as Billit wrote it): whether the load writes it,
    counted in `counts` as new, changed or unchanged. An order older than the stored version is left alone
    (replays and overlapping slices cannot go back in time); one at the stored version is written again but counts
    as unchanged, unless it was marked deleted."""
    write = []
    for order_id, version, raw_version in incoming:
        before = stored.get(order_id)
        if before is None:
            counts.orders_new += 1
        elif before.last_modified is not None and before.last_modified > version:
            counts.orders_unchanged += 1
            write.append(False)
            continue
        elif before.last_modified_raw == raw_version and not before.is_deleted:
            counts.orders_unchanged += 1
        else:
            counts.orders_changed += 1
        write.append(True)
    return write


def state_changed(before: sa.Row | None, state: tuple[object, ...]) -> bool:
    """Whether an order written with this `order_state` is a new observation for its status history."""
    return before is None or order_state(dict(before._mapping)) != state
