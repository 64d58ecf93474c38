"""The replay of landed runs: load the Parquet a sync landed again, without calling Billit.

Each part (one batch of the sync) loads by the fast path when its normalised rows were landed beside it by this
normaliser (`tasks.inbound.landing_rows`: same fingerprint, same number of orders, orders of the folder's stream
and of the company the files name): the rows are written as they are (`tasks.inbound.replay_load`), the parts of
about `GROUP_ORDERS` orders merged into one write per table (a part holding an order already in the group starts
the next), while a thread reads the parts ahead. Otherwise, and when the database refuses the rows (then the
group is written again part by part), the part's raw orders are parsed,
normalised and loaded as a sync loads them, an order the database refuses becoming pending alone. Both paths write
the same rows (tests/tasks/test_replay_rows.py). On PostgreSQL the runs of different streams or companies load side
by side (tests/tasks/test_replay_lanes.py).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from connectors.warehouse import reflect_tables, write_transaction
from connectors.warehouse.sqlite_staging import SqliteStaging
from tasks.inbound.extract import STREAMS, Stream
from tasks.inbound.landing import LandingError, check_landed_run, landed_parts, landed_runs, read_part_orders
from tasks.inbound.landing_rows import LandedRows, normaliser_fingerprint, read_rows
from tasks.inbound.replay_load import merge_parts, orders_concerned, write_landed_rows
from tasks.inbound.state import RunRecord
from tasks.inbound.sync import error_text
from tasks.inbound.warehouse import finish_run, is_unavailable, load_orders_isolating_refusals, start_run
from tasks.runtime import warehouse_engine

#: Orders the fast path writes in one transaction, one statement per table: a commit per part was a tenth of a
#: replay's time, and on PostgreSQL a statement per part and table more than half (bench/README.md#replay).
GROUP_ORDERS = 2_000
#: Parts read ahead of the one being grouped: at the sync's batch size (100 orders), more than a group. Larger
#: groups and more parts ahead cost memory (5,000 orders and 64 parts: 185-195 MiB, against 147) for no gain.
READ_AHEAD_PARTS = 24
#: Runs replayed side by side on PostgreSQL (of different streams or companies): the server's foreign-key checks of
#: one run's writes overlap the other's work. SQLite takes one writer at a time, and gains nothing from a second
#: (bench/README.md#replay).
POSTGRESQL_LANES = 2
#: The tables whose plain inserts go through ADBC's staging files on SQLite: the many rows of a replay (invoices
#: into a new warehouse, every child, the status history). sqlite3 binding their values from Python was half of a
#: replay's time (bench/README.md#replay).
STAGED_TABLES = (
    "invoices",
    "invoice_lines",
    "invoice_vat_groups",
    "invoice_messages",
    "vat_return_entries",
    "vat_return_exceptions",
    "invoice_status_history",
)


def replay_landing(
    path: str | Path, *, warehouse_url: str | None = None, engine: sa.Engine | None = None
) -> list[dict[str, Any]]:
    """Load landed runs from disk again, without calling Billit; watermarks are not moved.

    Each run loads into the company its files name (their metadata), in a folder named after their stream; a run
    whose orders belong to another company than its files say is refused by name, and a corrupt file fails its
    own run with its path, not the whole replay. The runs of one stream and company load in turn, oldest first;
    on PostgreSQL those of different streams or companies side by side (`POSTGRESQL_LANES`). A run that fails
    otherwise stops the others before their next write, and its error is raised.
    """
    engine = engine or warehouse_engine(warehouse_url)
    fingerprint = normaliser_fingerprint()
    side_by_side = POSTGRESQL_LANES if engine.dialect.name == "postgresql" else 1
    checked = _checked_runs(path)
    lanes: dict[tuple[str, int], list[tuple[Path, int]]] = {}
    for run_directory, company, problem in checked:
        if problem is None and company is not None:  # one lane per stream and company, or one for every run
            key = (run_directory.parent.name, company) if side_by_side > 1 else ("", 0)
            lanes.setdefault(key, []).append((run_directory, company))
    replayed: dict[Path, dict[str, Any]] = {}
    stop = threading.Event()

    def replay_lane(runs: list[tuple[Path, int]]) -> None:
        for run_directory, company in runs:
            if stop.is_set():  # a run not started is not recorded: the replay raises, and can be run again
                return
            replayed[run_directory] = _replay_one(engine, run_directory, company, fingerprint, stop)

    with ThreadPoolExecutor(max_workers=side_by_side, thread_name_prefix="replay-lane") as pool:
        lanes_running = [pool.submit(replay_lane, runs) for runs in lanes.values()]
        try:
            wait(lanes_running, return_when=FIRST_EXCEPTION)
        finally:  # after a failure, or an interrupt, the other lanes stop before their next write
            stop.set()
    for running in lanes_running:
        if (failure := running.exception()) is not None and not isinstance(failure, Stopped):
            raise failure
    return [
        replayed.get(run_directory)
        or {"stream": run_directory.parent.name, "mode": "replay", "status": "refused", "source": str(run_directory)}
        | {"error": problem}
        for run_directory, _, problem in checked
    ]


class Stopped(Exception):
    """A run stopped because another failed, or the replay was interrupted."""


def _checked_runs(path: str | Path) -> list[tuple[Path, int | None, str | None]]:
    """Each landed run under `path` with the company its files name, or why it cannot be replayed."""
    checked: list[tuple[Path, int | None, str | None]] = []
    for run_directory in landed_runs(path):
        try:
            if run_directory.parent.name not in STREAMS:
                raise LandingError(f"{run_directory}: not under a stream folder ({' or '.join(STREAMS)})")
            checked.append((run_directory, check_landed_run(run_directory, stream=run_directory.parent.name), None))
        except LandingError as exc:
            checked.append((run_directory, None, str(exc)))
    return checked


def _replay_one(
    engine: sa.Engine, run_directory: Path, company: int, fingerprint: str, stop: threading.Event
) -> dict[str, Any]:
    """Replay one landed run as a run of its own in `sync_runs`; its summary."""
    stream_name = run_directory.parent.name
    run = start_run(engine, stream_name, "replay", company_id=company)
    orders, error, started = 0, None, time.perf_counter()
    try:
        for written in _replay_run(engine, run_directory, run, STREAMS[stream_name], fingerprint, stop):
            orders += written
    except LandingError as exc:
        error = str(exc)
    except BaseException as exc:
        finish_run(engine, run, requests=0, pages=0, orders_listed=orders, error=error_text(exc))
        raise
    return finish_run(engine, run, requests=0, pages=0, orders_listed=orders, error=error) | {
        "source": str(run_directory),
        "duration_s": round(time.perf_counter() - started, 3),
    }


def _replay_run(
    engine: sa.Engine, run_directory: Path, run: RunRecord, stream: Stream, fingerprint: str, stop: threading.Event
) -> Iterator[int]:
    """Load one landed run's parts into the run's company; yields how many orders each write held."""
    staging = SqliteStaging(engine, list(STAGED_TABLES)) if engine.dialect.name == "sqlite" else None
    try:
        group: list[LandedRows] = []
        group_orders: set[int] = set()
        for part, rows in _read_ahead(landed_parts(run_directory), fingerprint):
            if rows is None or _foreign(((c["OrderDirection"], c["CompanyID"]) for c in rows.checks), run, stream):
                yield _write_group(engine, group, run, stream, stop, staging)
                yield _replay_raw(engine, part, run, stream, stop)
                group, group_orders = [], set()
                continue
            orders = orders_concerned(rows)
            if not orders.isdisjoint(group_orders):  # an order landed twice: its parts are written in turn
                yield _write_group(engine, group, run, stream, stop, staging)
                group, group_orders = [], set()
            group.append(rows)
            group_orders |= orders
            if len(group_orders) >= GROUP_ORDERS:
                yield _write_group(engine, group, run, stream, stop, staging)
                group, group_orders = [], set()
        yield _write_group(engine, group, run, stream, stop, staging)
    finally:
        if staging is not None:
            staging.close()


def _read_ahead(parts: list[Path], fingerprint: str) -> Iterator[tuple[Path, LandedRows | None]]:
    """Each part with its landed rows (`read_rows`), read by a thread up to `READ_AHEAD_PARTS` parts ahead: a
    group's parts are read while the group before is written."""
    reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="replay-read")
    try:
        reading = deque(reader.submit(read_rows, part, fingerprint) for part in parts[:READ_AHEAD_PARTS])
        for index, part in enumerate(parts):
            if index + READ_AHEAD_PARTS < len(parts):
                reading.append(reader.submit(read_rows, parts[index + READ_AHEAD_PARTS], fingerprint))
            yield part, reading.popleft().result()
    finally:  # a run that fails does not wait for the parts read ahead
        reader.shutdown(cancel_futures=True)


def _write_group(
    engine: sa.Engine,
    group: list[LandedRows],
    run: RunRecord,
    stream: Stream,
    stop: threading.Event,
    staging: SqliteStaging | None,
) -> int:
    """Write parts' landed rows in one transaction; return how many orders they hold. A group the database refuses
    is written again part by part, and a part it refuses by the raw path."""
    if not group:
        return 0
    _stop_if_asked(stop)
    tables = reflect_tables(engine)  # not inside the transaction: reflecting takes a connection of its own
    merged = merge_parts(group)
    try:
        with write_transaction(engine) if staging is None else staging.transaction() as connection:
            counts = write_landed_rows(
                connection,
                tables,
                merged,
                stream=stream.name,
                run_id=run.run_id,
                company_id=run.company_id,
                staging=staging,
            )
    except sa.exc.StatementError as exc:
        if is_unavailable(exc):
            raise
        if len(group) > 1:
            return sum(_write_group(engine, [part], run, stream, stop, staging) for part in group)
        # A refused row: the raw path loads the others and keeps the refused order pending with the reason.
        return _replay_raw(engine, group[0].part, run, stream, stop)
    run.counts.add(counts)
    return sum(rows.orders for rows in group)


def _replay_raw(engine: sa.Engine, part: Path, run: RunRecord, stream: Stream, stop: threading.Event) -> int:
    """Parse, normalise and load one part's raw orders, as a sync loads them; return how many it holds."""
    _stop_if_asked(stop)
    orders = read_part_orders(part)
    objects = [order for order in orders if isinstance(order, dict)]
    problem = _foreign(((order.get("OrderDirection"), order.get("CompanyID")) for order in objects), run, stream)
    if problem:
        raise LandingError(f"{part.parent}: {problem}")
    run.counts.add(
        load_orders_isolating_refusals(
            engine, orders, stream=stream.name, run_id=run.run_id, company_id=run.company_id, keep_deletions=True
        )
    )
    return len(orders)


def _stop_if_asked(stop: threading.Event) -> None:
    if stop.is_set():
        raise Stopped("another run of the replay failed, or it was interrupted")


def _foreign(checks: Iterable[tuple[Any, Any]], run: RunRecord, stream: Stream) -> str | None:
    """Why orders of these (OrderDirection, CompanyID) do not belong in the run (a file's metadata can be edited:
    the orders must be of the folder's stream and of the company the files name), or None."""
    pairs = list(checks)
    directions = {direction for direction, _ in pairs} - {stream.direction, None}
    if directions:
        return f"holds {sorted(map(str, directions))} orders, not the {stream.name} stream's {stream.direction}"
    foreign = {company for _, company in pairs} - {run.company_id, None}
    if foreign:
        return (
            f"holds orders of CompanyID {sorted(map(str, foreign))[:3]}, but its files name "
            f"Billit company {run.company_id}"
        )
    return None
