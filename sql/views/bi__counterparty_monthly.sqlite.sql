-- bi__counterparty_monthly (SQLite): documents per counterparty, calendar month of order_date and document
-- currency, for both directions (amounts are never converted or mixed across currencies). Invoices add,
-- credit notes subtract. A counterparty is its Billit PartyID; orders without one are grouped by name.
CREATE VIEW bi__counterparty_monthly AS
WITH documents AS (
    SELECT
        direction,
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
    WHERE order_type IN ('Invoice', 'CreditNote')
        AND NOT is_deleted
        AND order_date IS NOT NULL
)
SELECT
    direction,
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
GROUP BY direction, period_start, counterparty_party_id, unknown_party_name, currency;
