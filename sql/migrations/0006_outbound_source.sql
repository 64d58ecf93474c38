-- 0006_outbound_source: outbound rows taken in from your own tables by two named queries (billit-etl push
-- --source FILE.sql; docs/warehouse.md, "Pushing invoices from your own tables"). Portable SQL (SQLite and
-- PostgreSQL). outbound_invoices stays the journal of what was pushed: a row Billit already has whose source
-- values no longer match what was pushed is flagged here, never created again and never updated from the source.

-- true while the source's values differ from the row's (what was pushed); cleared when they match again.
ALTER TABLE outbound_invoices ADD COLUMN changed_after_create BOOLEAN NOT NULL DEFAULT false;
-- when the difference was first noticed (naive UTC), and what differs (column: pushed -> source; lines).
ALTER TABLE outbound_invoices ADD COLUMN change_noticed_at TIMESTAMP;
ALTER TABLE outbound_invoices ADD COLUMN change_reason TEXT;
