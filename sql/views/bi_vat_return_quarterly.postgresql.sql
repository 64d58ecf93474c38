-- bi_vat_return_quarterly (PostgreSQL): bi_vat_return_monthly per calendar quarter of order_date (same rows,
-- same rules).
CREATE VIEW bi_vat_return_quarterly AS
SELECT
    date_trunc('quarter', i.order_date::timestamp)::date AS period_start,
    to_char(i.order_date, 'YYYY-"Q"Q') AS period,
    i.direction,
    e.grid,
    e.amount_type,
    e.is_self_assessed,
    sum(e.amount) AS amount,
    count(*) AS entry_count,
    count(*) FILTER (WHERE e.currency <> 'EUR') AS converted_entry_count
FROM vat_return_entries AS e
JOIN invoices AS i ON i.order_id = e.order_id
WHERE NOT i.is_deleted AND i.order_date IS NOT NULL
GROUP BY 1, 2, i.direction, e.grid, e.amount_type, e.is_self_assessed;
