-- 0005_vat_return: a VAT return an accountant can file. Portable SQL (SQLite and PostgreSQL); docs/warehouse.md
-- describes every column and docs/bi.md#vat-return the rules (tasks/normalise/vat_return.py applies them).
-- Orders loaded before this migration have no rows in the two new tables: `billit-etl replay` (or a backfill)
-- fills them, and `billit-etl vat-return` refuses a period where some are missing.

-- How each line's and VAT group's VAT treatment was decided: 'code' (ventilation code and rate) or 'inferred'
-- (a received Peppol invoice's code "1" says nothing; the supplier's VAT number and the exemption text do).
ALTER TABLE invoice_lines ADD COLUMN treatment TEXT;
ALTER TABLE invoice_lines ADD COLUMN treatment_source TEXT;
ALTER TABLE invoice_lines ADD COLUMN treatment_reason TEXT;
ALTER TABLE invoice_vat_groups ADD COLUMN treatment TEXT;
ALTER TABLE invoice_vat_groups ADD COLUMN treatment_source TEXT;
ALTER TABLE invoice_vat_groups ADD COLUMN treatment_reason TEXT;

-- One amount of an order in one grid of the Belgian periodic VAT return, in EUR. source: the VAT group (or the
-- line, where a group cannot say which grid) it comes from. is_self_assessed: VAT the buyer owes and deducts
-- under reverse charge, computed at the Belgian rate (the invoice shows 0 %).
CREATE TABLE vat_return_entries (
    order_id BIGINT NOT NULL,
    entry_number INTEGER NOT NULL,
    source TEXT NOT NULL,
    source_number INTEGER NOT NULL,
    treatment TEXT NOT NULL,
    treatment_source TEXT NOT NULL,
    grid TEXT NOT NULL,
    amount_type TEXT NOT NULL,
    is_self_assessed BOOLEAN NOT NULL,
    amount NUMERIC(18, 2) NOT NULL,
    currency TEXT NOT NULL,
    amount_in_currency NUMERIC(18, 2),
    note TEXT,
    CONSTRAINT pk_vat_return_entries PRIMARY KEY (order_id, entry_number),
    CONSTRAINT fk_vat_return_entries_invoices FOREIGN KEY (order_id) REFERENCES invoices (order_id)
        ON DELETE CASCADE,
    CONSTRAINT ck_vat_return_entries_amount_type CHECK (amount_type IN ('base', 'vat'))
);

CREATE INDEX ix_vat_return_entries_grid ON vat_return_entries (grid);

-- Amounts of an order that are not in the return (is_reported false: no Belgian grid, no exchange rate, ...) or
-- are in it but need a look (is_reported true: an import's VAT is on the customs document), with the reason.
-- base and vat in the document currency.
CREATE TABLE vat_return_exceptions (
    order_id BIGINT NOT NULL,
    exception_number INTEGER NOT NULL,
    source TEXT NOT NULL,
    source_number INTEGER NOT NULL,
    treatment TEXT,
    is_reported BOOLEAN NOT NULL,
    reason TEXT NOT NULL,
    currency TEXT,
    base NUMERIC(18, 2),
    vat NUMERIC(18, 2),
    CONSTRAINT pk_vat_return_exceptions PRIMARY KEY (order_id, exception_number),
    CONSTRAINT fk_vat_return_exceptions_invoices FOREIGN KEY (order_id) REFERENCES invoices (order_id)
        ON DELETE CASCADE
);
