-- bi_vat_return_quarterly (SQLite): the grid amounts of bi_vat_return_monthly added up per calendar quarter.
-- Quarter start: the first of the month, minus (month - 1) % 3 months.
CREATE VIEW bi_vat_return_quarterly AS
SELECT
    date(period_start, -((CAST(strftime('%m', period_start) AS INTEGER) - 1) % 3) || ' months') AS period_start,
    strftime('%Y', period_start) || '-Q' || ((CAST(strftime('%m', period_start) AS INTEGER) + 2) / 3) AS period,
    direction,
    grid,
    amount_type,
    round(sum(amount), 2) AS amount,
    sum(line_count) AS line_count,
    sum(non_eur_line_count) AS non_eur_line_count
FROM bi_vat_return_monthly
GROUP BY 1, 2, direction, grid, amount_type;
