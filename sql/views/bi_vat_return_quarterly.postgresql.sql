-- bi_vat_return_quarterly (PostgreSQL): the grid amounts of bi_vat_return_monthly added up per calendar quarter.
CREATE VIEW bi_vat_return_quarterly AS
SELECT
    date_trunc('quarter', period_start::timestamp)::date AS period_start,
    to_char(period_start, 'YYYY-"Q"Q') AS period,
    direction,
    grid,
    amount_type,
    sum(amount) AS amount,
    sum(line_count) AS line_count,
    sum(non_eur_line_count) AS non_eur_line_count
FROM bi_vat_return_monthly
GROUP BY date_trunc('quarter', period_start::timestamp)::date, to_char(period_start, 'YYYY-"Q"Q'), direction, grid,
    amount_type;
