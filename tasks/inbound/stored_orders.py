"""What a load compares incoming orders with: the invoices stored before it, and the rule for which it writes.

The sync (`tasks.inbound.warehouse.write_orders`, rows as dicts) and the replay (`tasks.inbound.replay_load`,
Arrow columns) hold their orders differently, and decide with these same functions.

What is read must still hold at the write. The `invoices` upsert keeps a newer stored row by itself, but the child
tables (lines, VAT groups, messages, VAT-return rows) are replaced as sets on what was read: on PostgreSQL (read
committed) a writer of a newer version committing between another's read and its write would keep its invoice row
and lose its children to the older version, and the next sync would see nothing to do. So the sync's and the
webhooks' writers take `lock_orders` first, in their transaction; on SQLite a write transaction already holds the
whole database (`BEGIN IMMEDIATE`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

import sqlalchemy as sa

from connectors.warehouse import in_chunks, is_among
from tasks.inbound.state import LoadCounts
from tasks.normalise.orders import order_state
from tasks.options import BILLIT_TIME_ZONE

# One transaction lock per order, held until the transaction ends, keyed on the schema and the order: a lock on the
# invoice rows (FOR UPDATE) would not hold back two writers of an order that is not stored yet. An id beyond int4
# wraps (a collision only makes two orders wait for each other). Taken in key order, before anything else the
# transaction locks, so two writers sharing orders wait for each other, never each for the other. The sorted
# subquery feeds the aggregate in its order.
_ORDER_LOCKS = sa.text(
    "SELECT count(pg_advisory_xact_lock(hashtext('orders ' || coalesce(current_schema(), '')), k)) FROM ("
    "SELECT DISTINCT CAST(id % 2147483647 AS integer) AS k FROM unnest(CAST(:ids AS bigint[])) AS id ORDER BY k"
    ") AS keys"
)


def lock_orders(connection: sa.Connection, order_ids: Iterable[int]) -> None:
    """Hold these orders against every other writer that locks them until the transaction ends (PostgreSQL; a
    SQLite write transaction holds the whole database). Call it first in the transaction, before reading what is
    stored. The replay's fast path (`tasks.inbound.replay_load`) does not take it: it is left as measured, so a
    replay of orders a sync or a webhook writes at the same moment is not covered by this lock."""
    ids = sorted(set(order_ids))
    if ids and connection.dialect.name == "postgresql":
        connection.execute(_ORDER_LOCKS, {"ids": ids})


def stored_invoices(connection: sa.Connection, invoices: sa.Table, order_ids: Sequence[int]) -> dict[int, sa.Row]:
    """The stored invoice rows of these orders, by order id."""
    stored: dict[int, sa.Row] = {}
    for chunk in in_chunks(order_ids):
        query = sa.select(invoices).where(is_among(connection, invoices.c.order_id, chunk))
        stored.update((row.order_id, row) for row in connection.execute(query))
    return stored


def orders_to_write(
    stored: dict[int, sa.Row],
    incoming: Iterable[tuple[int, datetime, str]],
    counts: LoadCounts,
    *,
    keep_deletions: bool = False,
) -> list[bool]:
    """For each incoming (order id, LastModified, LastModified as Billit wrote it): whether the load writes it,
    counted in `counts` as new, changed or unchanged. An order older than the stored version is left alone
    (replays and overlapping slices cannot go back in time); one at the stored version is written again but counts
    as unchanged.

    An order stored as deleted stays deleted, counted unchanged, unless the incoming version is later than the
    stored one and than the deletion: a snapshot at the stored version or before, or changed before the deletion,
    was taken before it (the sync buffered its GET while a webhook's D event was applied, say), and writing it would
    bring the order back until the next deletions list. With `keep_deletions` (a replay: landed snapshots are
    history) the test is the deletion time alone, as it was decided for replays: the version must be later than
    the deletion, since a sync lists the deletions it sees and a landing holds only the orders it fetched."""
    write = []
    for order_id, version, raw_version in incoming:
        before = stored.get(order_id)
        if before is None:
            counts.orders_new += 1
        elif _left_alone(before, version, keep_deletions):
            counts.orders_unchanged += 1
            write.append(False)
            continue
        elif before.last_modified_raw == raw_version and not before.is_deleted:
            counts.orders_unchanged += 1
        else:
            counts.orders_changed += 1
        write.append(True)
    return write


def rewound_orders(stored: dict[int, sa.Row], written: Iterable[tuple[int, datetime]]) -> set[int]:
    """Of the (order id, LastModified) a load writes, those whose wall time is earlier than the stored one: changes
    made in the second pass of the repeated hour (`surely_before`). The upsert's newer-row guard compares wall
    times and would keep the stored row, so these are written without it (and the guard against a concurrent
    writer with them: one hour a year)."""
    return {
        order_id
        for order_id, version in written
        if (before := stored.get(order_id)) is not None
        and before.last_modified is not None
        and version < before.last_modified
    }


def _left_alone(before: sa.Row, version: datetime, keep_deletions: bool) -> bool:
    if before.last_modified is not None and surely_before(version, before.last_modified):
        return True  # an older snapshot
    if not before.is_deleted:
        return False
    if keep_deletions:  # without a deletion time, nothing is known to be later than the deletion
        return not surely_before(before.deleted_at or version, version)
    # Written only when later than the stored version and than the deletion: a version changed before the
    # deletion (V2 of V1 -> V2 -> deleted, its GET held while the deletion was applied) is gone in Billit too.
    # Without a stored version nothing is known to be later than it.
    later = [moment for moment in (before.last_modified, before.deleted_at) if moment is not None]
    return not later or not all(surely_before(moment, version) for moment in later)


def surely_before(earlier: datetime, later: datetime) -> bool:
    """Whether Billit's naive local time `earlier` is before `later` however the hour Brussels repeats on the last
    Sunday of October is read: a change in its second pass shows an earlier wall time than one made in its first
    (docs/reference/billit-api.md#timestamps). Outside that hour, plainly `earlier < later`."""
    first = earlier.replace(tzinfo=BILLIT_TIME_ZONE, fold=1).timestamp()  # its latest reading
    second = later.replace(tzinfo=BILLIT_TIME_ZONE, fold=0).timestamp()  # and the earliest of the other
    return first < second


def state_changed(before: sa.Row | None, state: tuple[object, ...]) -> bool:
    """Whether an order written with this `order_state` is a new observation for its status history."""
    return before is None or order_state(dict(before._mapping)) != state
