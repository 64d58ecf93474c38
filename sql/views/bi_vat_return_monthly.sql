-- bi_vat_return_monthly: the Belgian periodic VAT return of each company per calendar month of order_date, one row per
-- (company, month, direction, grid, amount_type, is_self_assessed), in EUR: a return is one company's, so always filter
-- on company_id. Amounts come from vat_return_entries: VAT groups as Billit rounds them, lines only where a group
-- cannot say which grid, non-EUR orders converted, credit notes in their own grids as positive amounts
-- (docs/bi.md#vat-return). is_self_assessed marks VAT the buyer owes and deducts under reverse charge (55/56/57 and
-- their 59). Deleted orders are left out; what is not in the return is in bi_vat_return_exceptions. SQLite sums NUMERIC
-- as REAL: amounts are rounded to cents (a no-op on PostgreSQL's exact NUMERIC(18, 2)).
CREATE VIEW bi_vat_return_monthly AS
SELECT
    i.company_id,
    c.company_name,
    d.order_month_start AS period_start,
    d.order_month AS period,
    i.direction,
    e.grid,
    e.amount_type,
    e.is_self_assessed,
    round(sum(e.amount), 2) AS amount,
    count(*) AS entry_count,
    count(*) FILTER (WHERE e.currency <> 'EUR') AS converted_entry_count
FROM vat_return_entries AS e
JOIN invoices AS i ON i.order_id = e.order_id
JOIN bi___invoice_dates AS d ON d.order_id = i.order_id
LEFT JOIN bi___companies AS c ON c.company_id = i.company_id
WHERE NOT i.is_deleted AND i.order_date IS NOT NULL
GROUP BY
    i.company_id, c.company_name, d.order_month_start, d.order_month,
    i.direction, e.grid, e.amount_type, e.is_self_assessed;
