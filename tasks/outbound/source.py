"""Invoices to push from any warehouse query: a .sql file of two named queries, taken into the outbound tables.

The file (docs/warehouse.md#pushing-invoices-from-your-own-tables; `samples/erp_source.sql` is an example) holds
two SELECT statements, each after a marker line; text before the first marker may only be comments::

    -- name: invoices
    SELECT i.doc_id AS external_id, i.doc_date AS order_date, ... FROM erp_sales_invoices i ...;

    -- name: lines
    SELECT l.doc_id AS external_id, l.seq AS line_number, ... FROM erp_invoice_lines l ...;

Their columns are input columns of `outbound_invoices` / `outbound_invoice_lines` (alias yours with AS);
`external_id` is the key, lines also need `line_number`. Both run in one read-only transaction (one snapshot),
wrapped as a subquery (so each is one SELECT and nothing else), and every row is read and checked before anything
is written. Then, in one write transaction, `outbound_invoices` stays the journal of what was pushed:

- a new `external_id` is inserted `pending`, with its lines;
- a row Billit has no order for yet (`pending`, `failed`, `rejected`) takes the source's values and lines; a
  `rejected` row whose values changed goes back to `pending` (the fix is pushed); a row a push run holds right
  now is left for the next take-in;
- a row Billit already has (`created`, `sent`) is never updated: when the source differs from what was pushed it
  is flagged `changed_after_create` with what differs, and the flag clears when they match again;
- a row the source no longer returns is left alone.

A file or query that cannot be taken in raises `OutboundSourceError`: one line naming the file and the problem.

Here: `take_in_source`, the entry point. Reading the file and running the queries is tasks/outbound/query.py,
taking the rows into the tables tasks/outbound/journal.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa

from tasks.outbound.journal import TakeIn, take_in
from tasks.outbound.query import (
    DEFAULTS,
    OutboundSourceError,
    SourceQueries,
    SourceRows,
    query_source,
    read_source_file,
)

__all__ = [
    "DEFAULTS",
    "OutboundSourceError",
    "SourceQueries",
    "SourceRows",
    "TakeIn",
    "query_source",
    "read_source_file",
    "take_in",
    "take_in_source",
]


def take_in_source(engine: sa.Engine, path: str | Path, *, dry_run: bool = False) -> dict[str, Any]:
    """Read the file's two queries, check every row, and take them into the outbound tables; the counts."""
    rows = query_source(engine, read_source_file(path))
    return take_in(engine, rows, dry_run=dry_run).as_dict()
