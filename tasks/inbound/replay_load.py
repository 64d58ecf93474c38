"""The replay's fast path: write a landed part's normalised rows as `write_orders` writes the batch they came from.

`tasks.inbound.warehouse.write_orders` writes a batch of normalised dicts; this module writes the Arrow tables the
sync landed beside the part (`tasks.inbound.landing_rows`) the same way, in the caller's transaction: an order
older than the stored one is left alone (its children too), the status history gets a row per change, orders
quarantined whole become pending, the quarantine rows are inserted once, loaded orders leave pending, and every row
is the company's the files name. tests/tasks/test_replay_rows.py replays one landing both ways and compares every
table, so the two paths cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa

from connectors.warehouse import insert_ignoring_duplicates, replace_children
from connectors.warehouse.arrow_load import insert_arrow, upsert_arrow
from connectors.warehouse.sqlite_staging import SqliteStaging
from tasks.inbound.arrow_arrays import BOOL, I64, TEXT, TIMESTAMP, arrow_array
from tasks.inbound.landing_rows import TABLES, LandedRows
from tasks.inbound.parties import IDENTIFIER_KEY, forget_identifiers, parties_to_write
from tasks.inbound.state import LoadCounts, NotLoaded, add_to_run, forget_pending, remember_pending, utcnow
from tasks.inbound.stored_orders import orders_to_write, rewound_orders, state_changed, stored_invoices

_CHILDREN = ("invoice_lines", "invoice_vat_groups", "invoice_messages", "vat_return_entries", "vat_return_exceptions")
_STATE = ("order_status", "delivery_status", "document_delivery_info", "last_response_code", "paid", "is_deleted")
# A row keeps the run that first loaded it (as in tasks.inbound.warehouse).
_INVOICE_KEEP = {"order_id", "first_run_id"}


def orders_concerned(rows: LandedRows) -> set[int]:
    """Every order a landed part's rows concern: loaded, quarantined in part or left pending."""
    return {
        order_id
        for name in ("invoices", "unloaded", "quarantine")
        for order_id in rows.tables[name].column("order_id").to_pylist()
        if order_id is not None
    }


def merge_parts(parts: Sequence[LandedRows]) -> LandedRows:
    """Landed parts of which no two concern the same order (`orders_concerned`) as one, whose writing leaves what
    writing them in turn leaves: one write per table instead of one per part and table (bench/README.md#replay).

    Only the parties (and their identifiers) can repeat across such parts. A party keeps the row the upserts in
    turn would have left, with the identifiers of the part that row came from (`tasks.inbound.parties`).
    """
    if len(parts) == 1:
        return parts[0]
    merged = LandedRows(parts[0].part, sum(part.orders for part in parts), [c for part in parts for c in part.checks])
    for name in TABLES:
        merged.tables[name] = pa.concat_tables([part.tables[name] for part in parts])
    kept_rows: list[list[int]] = [[] for _ in parts]  # per part: its rows kept, and their parties
    kept_parties: list[list[int]] = [[] for _ in parts]
    for party_id, (number, index) in _upserted_in_turn([part.tables["parties"] for part in parts]).items():
        kept_rows[number].append(index)
        kept_parties[number].append(party_id)
    merged.tables["parties"] = pa.concat_tables(
        part.tables["parties"].take(arrow_array(sorted(rows), I64)) for part, rows in zip(parts, kept_rows, strict=True)
    )
    merged.tables["party_identifiers"] = pa.concat_tables(
        identifiers.filter(pc.is_in(identifiers.column("party_id"), arrow_array(party_ids, I64)))
        for identifiers, party_ids in zip(
            (part.tables["party_identifiers"] for part in parts), kept_parties, strict=True
        )
    )
    return merged


def _upserted_in_turn(parties: list[pa.Table]) -> dict[int, tuple[int, int]]:
    """For each party, the (part, row) that upserting the parts' `parties` in turn leaves: an incoming row replaces
    the held one unless the held one is newer, or the incoming one has no version and the held one has
    (`load._on_conflict`)."""
    held: dict[int, tuple[int, int]] = {}
    versions: dict[int, Any] = {}
    for number, table in enumerate(parties):
        ids, stamps = table.column("party_id").to_pylist(), table.column("last_modified").to_pylist()
        for index, (party_id, version) in enumerate(zip(ids, stamps, strict=True)):
            current = versions.get(party_id)
            if party_id not in held or current is None or (version is not None and current <= version):
                held[party_id], versions[party_id] = (number, index), version
    return held


def write_landed_rows(
    connection: sa.Connection,
    tables: dict[str, sa.Table],
    rows: LandedRows,
    *,
    stream: str,
    run_id: str,
    company_id: int,
    staging: SqliteStaging | None = None,
) -> LoadCounts:
    """Write a landed part's rows (or a group's, `merge_parts`) for the company with run `run_id`, in the caller's
    transaction on the warehouse's `tables` (`reflect_tables`); the counts `write_orders` gives. On SQLite the
    plain inserts go through `staging` when the transaction is its (`SqliteStaging.transaction`)."""
    invoices = tables["invoices"]
    landed = _with_columns(rows.tables["invoices"].drop_columns(["company_id"]), company_id=company_id)
    order_ids: list[int] = landed.column("order_id").to_pylist()
    versions = landed.column("last_modified").to_pylist()
    raw_versions = landed.column("last_modified_raw").to_pylist()
    counts = LoadCounts()
    stored = stored_invoices(connection, invoices, order_ids)
    # A landed snapshot is history: it never brings back an order deleted since (`orders_to_write`).
    fresh = orders_to_write(stored, zip(order_ids, versions, raw_versions, strict=True), counts, keep_deletions=True)
    fresh_ids = sorted(order_id for order_id, keep in zip(order_ids, fresh, strict=True) if keep)
    everything_fresh = len(fresh_ids) == len(order_ids)

    with_run = _with_columns(
        landed if everything_fresh else landed.filter(arrow_array(fresh, BOOL)),
        first_run_id=run_id,
        last_run_id=run_id,
    )
    # None of the orders stored (a replay into a new warehouse): plain inserts, on PostgreSQL a COPY straight into
    # the table instead of one through a staging table. A writer that stores one of them meanwhile makes the insert
    # fail, and the group is written again part by part, each part asking anew what is stored (tasks.inbound.replay).
    if stored:
        batches: list[tuple[pa.Table, str | None]] = [(with_run, "last_modified")]
        written_versions = (
            (order, version) for order, version, keep in zip(order_ids, versions, fresh, strict=True) if keep
        )
        if rewound := rewound_orders(stored, written_versions):  # the repeated October hour
            second_pass = pc.is_in(with_run.column("order_id"), arrow_array(sorted(rewound), I64))
            batches = [(with_run.filter(pc.invert(second_pass)), "last_modified"), (with_run.filter(second_pass), None)]
        for written, newer_guard in batches:
            upsert_arrow(
                connection,
                invoices,
                written,
                ["order_id"],
                update_columns=[name for name in with_run.column_names if name not in _INVOICE_KEEP],
                unless_newer=newer_guard,
            )
    else:  # in key order, as the upserts write: a writer of the same orders waits, never deadlocks
        insert_arrow(connection, invoices, with_run.sort_by("order_id"), staging=staging)
    for name in _CHILDREN:
        children = rows.tables[name]
        if not everything_fresh:
            children = children.filter(pc.is_in(children.column("order_id"), arrow_array(fresh_ids, I64)))
        # The children of orders not stored before: none (their foreign key), nothing to delete.
        replace_children(connection, tables[name], "order_id", [i for i in fresh_ids if i in stored], [])
        loaded = insert_arrow(connection, tables[name], _with_columns(children, company_id=company_id), staging=staging)
        if name == "invoice_lines":
            counts.lines_loaded = loaded

    parties = rows.tables["parties"]
    versions = dict(
        zip(parties.column("party_id").to_pylist(), parties.column("last_modified").to_pylist(), strict=True)
    )
    written = parties_to_write(connection, tables["parties"], company_id, versions)
    upsert_arrow(
        connection,
        tables["parties"],
        _with_columns(parties, company_id=company_id, last_run_id=run_id),
        ["company_id", "party_id"],
        unless_newer="last_modified",
    )
    forget_identifiers(connection, tables["party_identifiers"], company_id, written)
    identifiers = rows.tables["party_identifiers"]
    insert_arrow(
        connection,
        tables["party_identifiers"],
        _with_columns(
            identifiers.filter(pc.is_in(identifiers.column("party_id"), arrow_array(written, I64))),
            company_id=company_id,
        ),
        ignoring_duplicates_of=IDENTIFIER_KEY,
    )

    changed = [
        keep and state_changed(stored.get(order_id), state)
        for order_id, keep, state in zip(order_ids, fresh, _states(landed), strict=True)
    ]
    history = landed.filter(arrow_array(changed, BOOL)).select(["company_id", "order_id", "last_modified", *_STATE])
    history = history.rename_columns(["company_id", "order_id", "observed_last_modified", *_STATE])
    history = history.set_column(
        history.column_names.index("is_deleted"),
        "is_deleted",
        pc.fill_null(history.column("is_deleted"), False),
    )
    insert_arrow(
        connection,
        tables["invoice_status_history"],
        _with_columns(history, run_id=run_id, recorded_at=utcnow()),
        # An order not stored has no history yet (its foreign key).
        ignoring_duplicates_of=["order_id", "observed_last_modified"] if stored else (),
        staging=staging,
    )

    loaded_versions = dict(zip(order_ids, raw_versions, strict=True))
    counts.orders_recovered = forget_pending(connection, tables, loaded_versions, run_id, company_id=company_id)
    failures = [
        NotLoaded(row["order_id"], row["listed_last_modified"], row["reason"])
        for row in rows.tables["unloaded"].to_pylist()
    ]
    remember_pending(connection, tables, stream, run_id, failures, company_id=company_id)
    quarantine = [
        {"run_id": run_id, "stream": stream, **row, "company_id": company_id, "landing_file": None}
        for row in rows.tables["quarantine"].to_pylist()
    ]
    counts.quarantined = insert_ignoring_duplicates(
        connection,
        tables["quarantine"],
        quarantine,
        ["company_id", "stream", "entity", "entity_key", "source_version", "reason"],
    )
    add_to_run(connection, tables, run_id, counts)
    return counts


def _states(invoices: pa.Table) -> list[tuple[object, ...]]:
    """`order_state` of each landed invoice."""
    columns = [invoices.column(name).to_pylist() for name in _STATE]
    return [(*state[:-1], bool(state[-1])) for state in zip(*columns, strict=True)]


_KINDS = {str: TEXT, int: I64}


def _with_columns(data: pa.Table, **constants: Any) -> pa.Table:
    """`data` with a column of one repeated value for each of `constants` (a run id, a company, a time)."""
    for name, value in constants.items():
        kind = _KINDS.get(type(value), TIMESTAMP)
        data = data.append_column(name, arrow_array([value] * data.num_rows, kind))
    return data
