"""The state a sync keeps beside the rows, per company: watermarks, pending orders, run records, the companies.

Plain functions over a SQLAlchemy Engine, or over the caller's connection inside a batch's write transaction
(`tasks.inbound.warehouse` loads a batch and moves its watermark, pending orders and run counts in one transaction).

Every function takes the company (`company_id`, the Billit PartyID a sync reads with) it works for: two companies
synced into one warehouse, one after the other or at the same time, never see each other's watermarks, pending
orders or runs (docs/warehouse.md#companies).
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from connectors.billit.odata import BillitTimestamp
from connectors.warehouse import (
    in_chunks,
    insert_ignoring_duplicates,
    is_among,
    reflect_tables,
    upsert_rows,
    write_transaction,
)
from tasks.inbound.companies import see_companies
from tasks.warehouse_common import process_alive


@dataclass(frozen=True)
class Watermark:
    """The key of the last order a stream has loaded: Billit's LastModified text and the OrderID.

    Keys order by (LastModified to Billit's 100 ns, OrderID), as `BillitTimestamp.sort_key` compares them: so
    `10:00:00.5` sorts after `10:00:00.4999999` and before `10:00:00.5000001`.
    """

    last_modified_raw: str
    order_id: int

    @property
    def last_modified(self) -> datetime:
        return datetime.fromisoformat(self.last_modified_raw)

    def __lt__(self, other: Watermark) -> bool:
        return (BillitTimestamp(self.last_modified_raw).sort_key, self.order_id) < (
            BillitTimestamp(other.last_modified_raw).sort_key,
            other.order_id,
        )

    def __str__(self) -> str:
        return f"{self.last_modified_raw}#{self.order_id}"


@dataclass(frozen=True)
class NotLoaded:
    """A listed order the run could not load: why, and the version the listing showed."""

    order_id: int | None
    listed_last_modified: str
    reason: str
    raw_landed: bool = False  # the answer itself went to the landing file


@dataclass
class LoadCounts:
    orders_new: int = 0
    orders_changed: int = 0
    orders_unchanged: int = 0
    orders_deleted: int = 0
    lines_loaded: int = 0
    quarantined: int = 0
    orders_recovered: int = 0  # pending orders that loaded in this run

    def add(self, other: LoadCounts) -> None:
        for name, value in asdict(other).items():
            setattr(self, name, getattr(self, name) + value)


@dataclass
class RunRecord:
    run_id: str
    stream: str
    mode: str
    company_id: int
    window_since: datetime | None = None
    window_until: datetime | None = None
    watermark_before: Watermark | None = None
    counts: LoadCounts = field(default_factory=LoadCounts)


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def read_watermark(engine: sa.Engine, stream: str, *, company_id: int) -> Watermark | None:
    state = reflect_tables(engine)["sync_state"]
    with engine.connect() as connection:
        row = connection.execute(
            sa.select(state.c.watermark_raw, state.c.watermark_order_id).where(
                state.c.company_id == company_id, state.c.stream == stream
            )
        ).first()
    if row is None or row.watermark_raw is None:
        return None
    return Watermark(row.watermark_raw, int(row.watermark_order_id or 0))


def save_watermark(
    connection: sa.Connection,
    tables: Mapping[str, sa.Table],
    stream: str,
    watermark: Watermark,
    run_id: str,
    *,
    company_id: int,
) -> None:
    """Move the company's stream watermark forward, never back: of two overlapping runs (a CLI run beside a
    scheduled one), the one that commits last may hold the older key."""
    state = tables["sync_state"]
    this = sa.and_(state.c.company_id == company_id, state.c.stream == stream)
    row = {
        "company_id": company_id,
        "stream": stream,
        "watermark_last_modified": watermark.last_modified,
        "watermark_raw": watermark.last_modified_raw,
        "watermark_order_id": watermark.order_id,
        "updated_at": utcnow(),
        "last_run_id": run_id,
    }
    if insert_ignoring_duplicates(connection, state, [row], ["company_id", "stream"]):
        return
    # The row exists: lock it (PostgreSQL; SQLite's write transaction already holds the database) and compare.
    stored = connection.execute(
        sa.select(state.c.watermark_raw, state.c.watermark_order_id).where(this).with_for_update()
    ).one()
    if stored.watermark_raw is None or Watermark(stored.watermark_raw, int(stored.watermark_order_id or 0)) < watermark:
        connection.execute(state.update().where(this).values(**row))


def remember_pending(
    connection: sa.Connection,
    tables: Mapping[str, sa.Table],
    stream: str,
    run_id: str,
    failures: Sequence[NotLoaded],
    *,
    company_id: int,
) -> None:
    """Record (or count another attempt at) each listed order of the company that did not load."""
    failures = [failure for failure in failures if failure.order_id is not None]
    if not failures:
        return
    pending = tables["pending_orders"]
    ids = [failure.order_id for failure in failures]
    known = {
        row.order_id: row
        for row in connection.execute(
            sa.select(pending).where(
                pending.c.company_id == company_id,
                pending.c.stream == stream,
                is_among(connection, pending.c.order_id, ids),
            )
        )
    }
    now = utcnow()
    upsert_rows(
        connection,
        pending,
        [
            {
                "company_id": company_id,
                "stream": stream,
                "order_id": failure.order_id,
                "listed_last_modified": failure.listed_last_modified or None,
                "reason": failure.reason,
                "attempts": known[failure.order_id].attempts + 1 if failure.order_id in known else 1,
                "first_run_id": known[failure.order_id].first_run_id if failure.order_id in known else run_id,
                "last_run_id": run_id,
                "first_seen_at": known[failure.order_id].first_seen_at if failure.order_id in known else now,
                "last_attempt_at": now,
            }
            for failure in failures
        ],
        ["company_id", "stream", "order_id"],
    )


def forget_pending(
    connection: sa.Connection,
    tables: Mapping[str, sa.Table],
    loaded: Mapping[int, str],
    run_id: str,
    *,
    company_id: int,
) -> int:
    """The company's orders that loaded leave pending; their quarantine rows of other versions (and whole-order
    ones) resolve.

    Returns how many pending orders this recovered.
    """
    if not loaded:
        return 0
    pending, quarantine = tables["pending_orders"], tables["quarantine"]
    ids = list(loaded)
    recovered = 0  # mostly nothing to forget: a cheap look spares naming every order loaded (bench/README.md#replay)
    if _any(connection, pending.c.company_id == company_id):
        recovered = connection.execute(
            sa.delete(pending).where(pending.c.company_id == company_id, is_among(connection, pending.c.order_id, ids))
        ).rowcount
    still_open = sa.and_(quarantine.c.company_id == company_id, quarantine.c.resolved_at.is_(None))
    open_rows = connection.execute(
        sa.select(quarantine.c.quarantine_id, quarantine.c.order_id, quarantine.c.entity, quarantine.c.source_version)
        .where(still_open, is_among(connection, quarantine.c.order_id, ids))
    ).all() if _any(connection, still_open) else []  # fmt: skip
    resolved = [
        row.quarantine_id for row in open_rows if row.entity == "order" or row.source_version != loaded[row.order_id]
    ]
    now = utcnow()
    # In chunks: a replay's group of orders can resolve more rows than SQLite binds in one statement (32,766).
    for chunk in in_chunks(resolved):
        connection.execute(
            quarantine.update().where(is_among(connection, quarantine.c.quarantine_id, chunk)).values(resolved_at=now)
        )
    return int(recovered or 0)


def _any(connection: sa.Connection, where: sa.ColumnElement[bool]) -> bool:
    return connection.execute(sa.select(sa.literal(1)).where(where).limit(1)).first() is not None


def pending_orders(engine: sa.Engine, stream: str, *, company_id: int, limit: int | None = None) -> list[NotLoaded]:
    """The company's pending orders of the stream, oldest first."""
    pending = reflect_tables(engine)["pending_orders"]
    query = (
        sa.select(pending.c.order_id, pending.c.listed_last_modified, pending.c.reason)
        .where(pending.c.company_id == company_id, pending.c.stream == stream)
        .order_by(pending.c.first_seen_at, pending.c.order_id)
    )
    with engine.connect() as connection:
        rows = connection.execute(query.limit(limit) if limit else query).all()
    return [NotLoaded(row.order_id, row.listed_last_modified or "", row.reason) for row in rows]


def count_pending(engine: sa.Engine, stream: str, *, company_id: int) -> int:
    pending = reflect_tables(engine)["pending_orders"]
    with engine.connect() as connection:
        return int(
            connection.execute(
                sa.select(sa.func.count())
                .select_from(pending)
                .where(pending.c.company_id == company_id, pending.c.stream == stream)
            ).scalar_one()
        )


def add_to_run(connection: sa.Connection, tables: Mapping[str, sa.Table], run_id: str, counts: LoadCounts) -> None:
    """Add a batch's counts to its run and beat its heart, in the batch's transaction: a run that dies keeps
    the count of what it committed, and a live one is not taken for dead."""
    runs = tables["sync_runs"]
    connection.execute(
        runs.update()
        .where(runs.c.run_id == run_id)
        .values(
            heartbeat_at=utcnow(),
            **{name: runs.c[name] + value for name, value in asdict(counts).items() if value},
        )
    )


#: A run whose last commit is older than this is taken for dead even if its process id is in use again.
STALE_RUN_AFTER = timedelta(hours=2)


def start_run(
    engine: sa.Engine,
    stream: str,
    mode: str,
    *,
    window_since: datetime | None = None,
    window_until: datetime | None = None,
    flow_run_id: str | None = None,
    company_id: int,
) -> RunRecord:
    """Record a new run of the company in `sync_runs` (first closing the runs that died without closing
    themselves) and the company in `companies`."""
    close_abandoned_runs(engine)
    run = RunRecord(
        run_id=uuid.uuid4().hex,
        stream=stream,
        mode=mode,
        company_id=company_id,
        window_since=window_since,
        window_until=window_until,
        watermark_before=read_watermark(engine, stream, company_id=company_id),
    )
    now, tables = utcnow(), reflect_tables(engine)
    with write_transaction(engine) as connection:
        see_companies(connection, tables["companies"], [{"company_id": company_id}], now)
        connection.execute(
            tables["sync_runs"]
            .insert()
            .values(
                run_id=run.run_id,
                stream=stream,
                mode=mode,
                flow_run_id=flow_run_id,
                status="running",
                started_at=now,
                heartbeat_at=now,
                window_since=window_since,
                window_until=window_until,
                watermark_before=str(run.watermark_before) if run.watermark_before else None,
                company_id=company_id,
                host=socket.gethostname(),
                pid=os.getpid(),
            )
        )
    return run


def close_abandoned_runs(engine: sa.Engine) -> int:
    """Close as failed the `running` runs whose process is gone (same host, no such pid) or that have not
    committed for `STALE_RUN_AFTER` (killed with -9, out of memory, a lost machine). Returns how many."""
    runs = reflect_tables(engine)["sync_runs"]
    host, now = socket.gethostname(), utcnow()
    with engine.connect() as connection:
        running = connection.execute(
            sa.select(runs.c.run_id, runs.c.host, runs.c.pid, runs.c.heartbeat_at, runs.c.started_at).where(
                runs.c.status == "running"
            )
        ).all()
    dead = [
        row.run_id
        for row in running
        if (row.host == host and row.pid is not None and not process_alive(row.pid))
        or (row.heartbeat_at or row.started_at) < now - STALE_RUN_AFTER
    ]
    if dead:
        with write_transaction(engine) as connection:
            connection.execute(
                runs.update()
                .where(runs.c.run_id.in_(dead), runs.c.status == "running")
                .values(
                    status="failed",
                    finished_at=now,
                    error="abandoned: the process ended without closing the run (killed?); closed by a later run",
                )
            )
    return len(dead)


def finish_run(
    engine: sa.Engine, run: RunRecord, *, requests: int, pages: int, orders_listed: int, error: str | None = None
) -> dict[str, Any]:
    """Close the run's `sync_runs` row and return its summary."""
    after = read_watermark(engine, run.stream, company_id=run.company_id)
    summary = {
        "run_id": run.run_id,
        "company_id": run.company_id,
        "stream": run.stream,
        "mode": run.mode,
        "status": "failed" if error else "succeeded",
        "finished_at": utcnow(),
        "watermark_after": str(after) if after else None,
        "requests": requests,
        "pages": pages,
        "orders_listed": orders_listed,
        **asdict(run.counts),
        "orders_pending": count_pending(engine, run.stream, company_id=run.company_id),
        "error": error,
    }
    tables = reflect_tables(engine)
    runs = tables["sync_runs"]
    with write_transaction(engine) as connection:
        connection.execute(
            runs.update()
            .where(runs.c.run_id == run.run_id)
            .values(**{k: v for k, v in summary.items() if k not in ("run_id", "company_id", "stream", "mode")})
        )
        if error is None:
            companies = tables["companies"]
            connection.execute(
                companies.update()
                .where(companies.c.company_id == run.company_id)
                .values(last_synced_at=summary["finished_at"])
            )
    return summary | {
        "company_id": run.company_id,
        "watermark_before": str(run.watermark_before) if run.watermark_before else None,
        "window_since": run.window_since,
        "window_until": run.window_until,
    }
