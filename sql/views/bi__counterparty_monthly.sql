-- bi__counterparty_monthly: documents per company, counterparty, calendar month of order_date and document currency,
-- for both directions (amounts are never converted or mixed across currencies). Invoices add, credit notes subtract;
-- drafts are not issued and are left out. A counterparty is its Billit PartyID in the company's books; orders
-- without one are grouped by name. SQLite sums NUMERIC as REAL: amounts are rounded to cents (a no-op on
-- PostgreSQL's exact NUMERIC(18, 2)).
CREATE VIEW bi__counterparty_monthly AS
WITH documents AS (
    SELECT
        i.company_id,
        c.company_name,
        i.direction,
        d.order_month_start AS period_start,
        d.order_month AS period,
        i.counterparty_party_id,
        CASE WHEN i.counterparty_party_id IS NULL THEN i.counterparty_name END AS unknown_party_name,
        i.counterparty_name,
        i.counterparty_enterprise_number,
        coalesce(i.currency, 'EUR') AS currency,
        i.order_type,
        CASE WHEN i.order_type = 'CreditNote' THEN -1 ELSE 1 END AS sign,
        i.total_excl,
        i.total_vat,
        i.total_incl
    FROM invoices AS i
    JOIN bi___invoice_dates AS d ON d.order_id = i.order_id
    LEFT JOIN bi___companies AS c ON c.company_id = i.company_id
    WHERE i.order_type IN ('Invoice', 'CreditNote')
        AND NOT i.is_deleted
        AND lower(coalesce(i.order_status, '')) <> 'draft'
        AND i.order_date IS NOT NULL
)
SELECT
    company_id,
    company_name,
    direction,
    period_start,
    period,
    counterparty_party_id,
    max(counterparty_name) AS counterparty_name,
    max(counterparty_enterprise_number) AS counterparty_enterprise_number,
    currency,
    count(*) FILTER (WHERE order_type = 'Invoice') AS invoice_count,
    count(*) FILTER (WHERE order_type = 'CreditNote') AS credit_note_count,
    round(coalesce(sum(sign * total_excl), 0), 2) AS total_excl,
    round(coalesce(sum(sign * total_vat), 0), 2) AS total_vat,
    round(coalesce(sum(sign * total_incl), 0), 2) AS total_incl
FROM documents
GROUP BY company_id, company_name, direction, period_start, period, counterparty_party_id, unknown_party_name, currency;
