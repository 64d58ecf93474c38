"""Taking the checked rows of an outbound source into the outbound tables, the journal of what was pushed.

In one write transaction (or only counted, in a dry run), per `external_id`:

- a new one is inserted `pending`, with its lines;
- a row Billit has no order for yet (`pending`, `failed`, `rejected`) takes the source's values and lines; a
  `rejected` row whose values changed goes back to `pending` (the fix is pushed); a row a push run holds right
  now is left for the next take-in; a row attempted before whose `company_id` changed is not: an attempt may have
  created its order in the old company (its answer lost), so it is `rejected` (`CompanyChangedAfterAttempt`) until
  a person checks that company;
- a row Billit already has (`created`, `sent`) is never updated: when the source differs from what was pushed it
  is flagged `changed_after_create` with what differs, and the flag clears when they match again;
- a row the source no longer returns is left alone.

The rows come from tasks/outbound/query.py or, for CSV and XLSX files, from tasks/outbound/files.py.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from connectors.warehouse import insert_ignoring_duplicates, reflect_tables, replace_children, write_transaction
from tasks.outbound.claims import COMPANY_CHANGED, ORDER_DIFFERS, attempts_hold_company
from tasks.outbound.query import SourceRows
from tasks.outbound.table_rows import in_column_types, select_as_stored

logger = logging.getLogger("billit_pipelines.outbound_source")

NOT_CREATED = ("pending", "failed", "rejected")
#: Rows newly flagged that the summary names (the others are counted).
FLAGGED_SHOWN = 200
_CHUNK = 500
_REASONS_SHOWN = 6


@dataclass
class TakeIn:
    """Counts of one take-in (of what it would do, in a dry run)."""

    source: str
    dry_run: bool = False
    invoices: int = 0
    lines: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    busy: int = 0
    still_changed_after_create: int = 0
    cleared: int = 0
    flagged: list[dict[str, str]] = field(default_factory=list)
    # Rows attempted before whose company_id the source changed: not taken in, rejected (COMPANY_CHANGED).
    company_changed: list[dict[str, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "dry_run": self.dry_run,
            "invoices": self.invoices,
            "lines": self.lines,
            "inserted": self.inserted,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "busy": self.busy,
            "changed_after_create": len(self.flagged),
            "still_changed_after_create": self.still_changed_after_create,
            "cleared": self.cleared,
            "changed_rows": self.flagged[:FLAGGED_SHOWN],
            "company_changed": len(self.company_changed),
            "company_changed_rows": self.company_changed[:FLAGGED_SHOWN],
        }


def take_in(engine: sa.Engine, rows: SourceRows, *, dry_run: bool = False) -> TakeIn:
    """Write the checked rows into the outbound tables (or only count what that would do, in a dry run)."""
    tables = reflect_tables(engine)
    invoices, lines = tables["outbound_invoices"], tables["outbound_invoice_lines"]
    outcome = TakeIn(str(rows.path), dry_run=dry_run, invoices=len(rows.invoices), lines=rows.line_count)
    now = datetime.now(UTC).replace(tzinfo=None)
    context: AbstractContextManager[sa.Connection] = engine.connect() if dry_run else write_transaction(engine)
    with context as connection:
        for chunk in _chunks(list(rows.invoices)):
            # A cell SQLite holds that its column's type cannot keeps what is stored: it differs from the file's.
            query = select_as_stored(invoices).where(invoices.c.external_id.in_(chunk))
            stored = {row["external_id"]: row for row in in_column_types(connection, invoices, query).rows}
            query = select_as_stored(lines).where(lines.c.external_id.in_(list(stored)))
            ordered = query.order_by(lines.c.external_id, lines.c.line_number)
            stored_lines = in_column_types(connection, lines, ordered).grouped()
            new, update, flag, clear, restore, moved = [], [], [], [], [], []
            for external_id in chunk:
                journal = stored.get(external_id)
                if journal is None:
                    new.append(external_id)
                    continue
                differences = _differences(rows, external_id, journal, stored_lines.get(external_id, []))
                if journal["billit_order_id"] is not None or journal["status"] not in NOT_CREATED:
                    if differences:
                        flag.append((journal, _reason(differences)))
                    elif journal["last_error_code"] == ORDER_DIFFERS and journal["changed_after_create"]:
                        # Billit holds other values than the row (until the operator clears the flag)
                        outcome.still_changed_after_create += 1
                        if journal["change_reason"] != journal["last_error"]:  # a reload's reason, now stale
                            restore.append(external_id)
                    elif journal["changed_after_create"]:
                        clear.append(external_id)
                    else:
                        outcome.unchanged += 1
                elif not differences and not _refused_company_move(journal):
                    outcome.unchanged += 1
                elif journal["claimed_by"] is not None:
                    outcome.busy += 1  # a push run holds it: its values change at the next take-in
                elif (move := _company_move(rows, external_id, journal)) is not None:
                    moved.append((external_id, move))
                else:
                    update.append(external_id)
            _flag(connection, invoices, flag, now, outcome, dry_run)
            _refuse_company_moves(connection, invoices, moved, now, outcome, dry_run)
            outcome.cleared += len(clear)
            if dry_run:
                outcome.inserted += len(new)
                outcome.updated += len(update)
                continue
            outcome.inserted += _insert(connection, invoices, lines, rows, new)
            outcome.updated += _update(connection, invoices, lines, rows, update, outcome)
            if clear:
                connection.execute(
                    invoices.update()
                    .where(invoices.c.external_id.in_(clear))
                    .values(changed_after_create=False, change_noticed_at=None, change_reason=None)
                )
            if restore:  # the files match the row again: what differs is the push's finding, Billit against the row
                statement = invoices.update().where(invoices.c.external_id.in_(restore))
                connection.execute(statement.values(change_reason=invoices.c.last_error))
    if outcome.flagged:
        logger.warning(
            "%s: %d row(s) already in Billit changed in the source since they were pushed (not pushed again): %s",
            rows.path,
            len(outcome.flagged),
            ", ".join(row["external_id"] for row in outcome.flagged[:10]),
        )
    logger.info(
        "%s: %d invoices, %d lines; %d new, %d updated, %d unchanged, %d held by a push run%s",
        rows.path,
        outcome.invoices,
        outcome.lines,
        outcome.inserted,
        outcome.updated,
        outcome.unchanged,
        outcome.busy,
        " (dry run: nothing written)" if dry_run else "",
    )
    return outcome


def _chunks(items: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


def _differences(
    rows: SourceRows, external_id: str, journal: dict[str, Any], journal_lines: list[dict[str, Any]]
) -> list[str]:
    """What differs between the source and the journal (what was or will be pushed), in words."""
    source = rows.invoices[external_id]
    found = [
        f"{column}: {_shown(journal[column])} -> {_shown(source[column])}"
        for column in rows.invoice_columns
        if not _same(source[column], journal[column])
        and not _created_in_the_configured_company(column, source, journal)
    ]
    stored = {line["line_number"]: line for line in journal_lines}
    given = {line["line_number"]: line for line in rows.lines.get(external_id, [])}
    for number in sorted(stored.keys() | given.keys()):
        if number not in given:
            found.append(f"line {number} removed")
        elif number not in stored:
            found.append(f"line {number} added")
        else:
            found += [
                f"line {number} {column}: {_shown(stored[number][column])} -> {_shown(given[number][column])}"
                for column in rows.line_columns
                if not _same(given[number][column], stored[number][column])
            ]
    return found


def _company_move(rows: SourceRows, external_id: str, journal: dict[str, Any]) -> str | None:
    """Why the source may not move a row attempted before to another company, or None. An attempt may have created
    the order in the old company with its answer lost; the push looks an order up in the row's company only, so it
    would create a second one in the new company. (An empty company_id and the configured company's id count as
    different here: the journal cannot tell which company was configured then.)"""
    if not attempts_hold_company(journal) or "company_id" not in rows.invoice_columns:
        return None
    # The company of the attempts (0009), whatever an UPDATE of company_id says since; empty stays empty (the
    # configured company of the time, which the journal cannot name).
    old = journal["company_id"]
    if old is not None and journal.get("attempted_company_id") is not None:
        old = journal["attempted_company_id"]
    new = rows.invoices[external_id]["company_id"]
    if _same(new, old):
        return None
    return (
        f"company_id: {_shown(old)} -> {_shown(new)} after {journal['attempts']} attempt(s) to create it: one may have "
        f"created the order in company {_shown(old)} (the configured one if empty) with its answer lost, so it is not "
        "moved; look for its ExternalProviderID there (delete or credit an order found), then set attempts to 0 and "
        "load again"
    )


def _refused_company_move(journal: dict[str, Any]) -> bool:
    """Rejected for a company change the source no longer asks for: taken in again, so it goes back to pending."""
    return bool(journal["status"] == "rejected" and journal["last_error_code"] == COMPANY_CHANGED)


def _refuse_company_moves(
    connection: sa.Connection,
    invoices: sa.Table,
    moved: list[tuple[str, str]],
    now: datetime,
    outcome: TakeIn,
    dry_run: bool,
) -> None:
    """Rows whose company may not change: rejected with the reason (not pushed), their other values kept too."""
    for external_id, reason in moved:
        outcome.company_changed.append({"external_id": external_id, "reason": reason})
        if dry_run:
            continue
        connection.execute(
            invoices.update()
            .where(invoices.c.external_id == external_id, invoices.c.claimed_by.is_(None))
            .values(status="rejected", last_error_code=COMPANY_CHANGED, last_error=reason, updated_at=now)
        )


def _created_in_the_configured_company(column: str, source: dict[str, Any], journal: dict[str, Any]) -> bool:
    """An empty company_id means the configured company, and the push writes the one it created the order in."""
    return column == "company_id" and source[column] is None and journal["billit_order_id"] is not None


def _same(source: Any, stored: Any) -> bool:
    if isinstance(stored, str):
        stored = stored.strip() or None
    return bool(source == stored)


def _shown(value: Any) -> str:
    if value is None:
        return "(empty)"
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    text = str(value)
    return repr(text if len(text) <= 40 else text[:37] + "...") if isinstance(value, str) else text


def _reason(differences: list[str]) -> str:
    shown = "; ".join(differences[:_REASONS_SHOWN])
    more = len(differences) - _REASONS_SHOWN
    return (shown + (f"; and {more} more" if more > 0 else ""))[:1000]


def _flag(
    connection: sa.Connection,
    invoices: sa.Table,
    flag: list[tuple[dict[str, Any], str]],
    now: datetime,
    outcome: TakeIn,
    dry_run: bool,
) -> None:
    """Flag rows already in Billit whose source changed; the first notice keeps its time."""
    for journal, reason in flag:
        if journal["changed_after_create"]:
            outcome.still_changed_after_create += 1
        else:
            outcome.flagged.append({"external_id": journal["external_id"], "reason": reason})
        if dry_run or (journal["changed_after_create"] and journal["change_reason"] == reason):
            continue
        connection.execute(
            invoices.update()
            .where(invoices.c.external_id == journal["external_id"])
            .values(
                changed_after_create=True,
                change_reason=reason,
                change_noticed_at=sa.func.coalesce(invoices.c.change_noticed_at, now),
            )
        )


def _insert(connection: sa.Connection, invoices: sa.Table, lines: sa.Table, rows: SourceRows, new: list[str]) -> int:
    if not new:
        return 0
    inserted = insert_ignoring_duplicates(connection, invoices, [rows.invoices[key] for key in new], ["external_id"])
    replace_children(connection, lines, "external_id", new, [line for key in new for line in rows.lines.get(key, [])])
    return inserted


def _update(
    connection: sa.Connection, invoices: sa.Table, lines: sa.Table, rows: SourceRows, update: list[str], outcome: TakeIn
) -> int:
    """The source's values on rows Billit has no order for; a rejected row goes back to pending."""
    rejected = invoices.c.status == "rejected"
    done = []
    for external_id in update:
        values = {column: value for column, value in rows.invoices[external_id].items() if column != "external_id"}
        statement = (
            invoices.update()
            .where(
                invoices.c.external_id == external_id,
                invoices.c.billit_order_id.is_(None),
                invoices.c.status.in_(NOT_CREATED),
                invoices.c.claimed_by.is_(None),
            )
            .values(
                **values,
                status=sa.case((rejected, "pending"), else_=invoices.c.status),
                last_error_code=sa.case((rejected, None), else_=invoices.c.last_error_code),
                last_error=sa.case((rejected, None), else_=invoices.c.last_error),
            )
        )
        if connection.execute(statement).rowcount == 1:
            done.append(external_id)
        else:
            outcome.busy += 1  # claimed or created since it was read: compared again at the next take-in
    replace_children(connection, lines, "external_id", done, [line for key in done for line in rows.lines.get(key, [])])
    return len(done)
