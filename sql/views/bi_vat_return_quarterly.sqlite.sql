-- bi_vat_return_quarterly (SQLite): bi_vat_return_monthly per calendar quarter of order_date (same rows, same
-- rules). Quarter start: the first of the month, minus (month - 1) % 3 months.
CREATE VIEW bi_vat_return_quarterly AS
SELECT
    date(i.order_date, 'start of month',
         -((CAST(strftime('%m', i.order_date) AS INTEGER) - 1) % 3) || ' months') AS period_start,
    strftime('%Y', i.order_date) || '-Q' || ((CAST(strftime('%m', i.order_date) AS INTEGER) + 2) / 3) AS period,
    i.direction,
    e.grid,
    e.amount_type,
    e.is_self_assessed,
    round(sum(e.amount), 2) AS amount,
    count(*) AS entry_count,
    sum(CASE WHEN e.currency <> 'EUR' THEN 1 ELSE 0 END) AS converted_entry_count
FROM vat_return_entries AS e
JOIN invoices AS i ON i.order_id = e.order_id
WHERE NOT i.is_deleted AND i.order_date IS NOT NULL
GROUP BY 1, 2, i.direction, e.grid, e.amount_type, e.is_self_assessed;
