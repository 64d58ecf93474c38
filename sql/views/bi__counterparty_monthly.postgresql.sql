-- bi__counterparty_monthly (PostgreSQL): documents per counterparty, calendar month of order_date and document
-- currency, for both directions (amounts are never converted or mixed across currencies). Invoices add,
-- credit notes subtract. A counterparty is its Billit PartyID; orders without one are grouped by name.
CREATE VIEW bi__counterparty_monthly AS
WITH documents AS (
    SELECT
        direction,
        date_trunc('month', order_date::timestamp)::date AS period_start,
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
    to_char(period_start, 'YYYY-MM') AS period,
    counterparty_party_id,
    max(counterparty_name) AS counterparty_name,
    max(counterparty_enterprise_number) AS counterparty_enterprise_number,
    currency,
    count(*) FILTER (WHERE order_type = 'Invoice') AS invoice_count,
    count(*) FILTER (WHERE order_type = 'CreditNote') AS credit_note_count,
    coalesce(sum(sign * total_excl), 0.00) AS total_excl,
    coalesce(sum(sign * total_vat), 0.00) AS total_vat,
    coalesce(sum(sign * total_incl), 0.00) AS total_incl
FROM documents
GROUP BY direction, period_start, counterparty_party_id, unknown_party_name, currency;
