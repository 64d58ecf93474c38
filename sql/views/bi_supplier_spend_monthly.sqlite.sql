-- bi_supplier_spend_monthly (SQLite): purchases per supplier per calendar month of order_date and per document
-- currency (amounts are never converted or mixed across currencies). Cost invoices add, credit notes subtract
-- (Billit stores both positive); other order types (offers, ...) and deleted orders are left out.
-- A supplier is its Billit PartyID; orders without one are grouped by counterparty name.
-- SQLite sums NUMERIC as REAL: amounts are rounded to cents.
CREATE VIEW bi_supplier_spend_monthly AS
WITH documents AS (
    SELECT
        date(order_date, 'start of month') AS period_start,
        counterparty_party_id,
        CASE WHEN counterparty_party_id IS NULL THEN counterparty_name END AS unknown_party_name,
        counterparty_name,
        counterparty_enterprise_number,
        coalesce(currency, 'EUR') AS currency,
        order_type,
        CASE WHEN order_type = 'CreditNote' THEN -1 ELSE 1 END AS sign,
        total_excl,
        total_vat,
        total_incl
    FROM invoices
    WHERE direction = 'Cost'
        AND order_type IN ('Invoice', 'CreditNote')
        AND NOT is_deleted
        AND order_date IS NOT NULL
)
SELECT
    period_start,
    strftime('%Y-%m', period_start) AS period,
    counterparty_party_id,
    max(counterparty_name) AS counterparty_name,
    max(counterparty_enterprise_number) AS counterparty_enterprise_number,
    currency,
    sum(CASE WHEN order_type = 'Invoice' THEN 1 ELSE 0 END) AS invoice_count,
    sum(CASE WHEN order_type = 'CreditNote' THEN 1 ELSE 0 END) AS credit_note_count,
    round(coalesce(sum(sign * total_excl), 0), 2) AS total_excl,
    round(coalesce(sum(sign * total_vat), 0), 2) AS total_vat,
    round(coalesce(sum(sign * total_incl), 0), 2) AS total_incl
FROM documents
GROUP BY period_start, counterparty_party_id, unknown_party_name, currency;
