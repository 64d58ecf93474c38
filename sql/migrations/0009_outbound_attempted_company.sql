-- 0009_outbound_attempted_company: the company a row's create was attempted in, so a row attempted before is never
-- created in another one (docs/warehouse.md#pushing-invoices-outbound_invoices-and-outbound_invoice_lines). Portable SQL (SQLite and PostgreSQL).
-- Runner rule (connectors/warehouse/migrations.py): a ';' at the end of a line ends a statement.
--
-- Decisions:
-- * An attempt may create the order with its answer lost, and the push looks an order up in the row's company
--   only: a row whose company_id changed since (a reload is refused that: tasks/outbound/journal.py; an UPDATE of
--   the table was not) would be created a second time in the new company. The push records here the PartyID it
--   counts each attempt for, and rejects a row whose company differs from it (CompanyChangedAfterAttempt).
-- * Rows attempted before this migration: their company_id is taken as the attempt's (the push writes it on every
--   created row); an attempted row without one was attempted for the configured company of that time, which the
--   warehouse does not know, so it stays NULL and is pushed as before.
ALTER TABLE outbound_invoices ADD COLUMN attempted_company_id BIGINT;
UPDATE outbound_invoices SET attempted_company_id = company_id WHERE attempts > 0 AND company_id IS NOT NULL;
