-- bi_vat_return_quarterly: bi_vat_return_monthly per calendar quarter of order_date (same rows, same rules).
CREATE VIEW bi_vat_return_quarterly AS
SELECT
    i.company_id,
    c.company_name,
    d.order_quarter_start AS period_start,
    d.order_quarter AS period,
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
    i.company_id, c.company_name, d.order_quarter_start, d.order_quarter,
    i.direction, e.grid, e.amount_type, e.is_self_assessed;
