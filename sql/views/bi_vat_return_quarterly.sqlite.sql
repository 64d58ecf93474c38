-- bi_vat_return_quarterly (SQLite): Belgian VAT-return grid amounts per calendar quarter of order_date.
-- One row per (quarter, direction, grid): a line's total_excl goes into each grid of its base_grids, its total_vat
-- into each grid of its vat_grids (tasks/normalise/vat.py; credit notes carry their own grids 48/49/64, 84/85/63,
-- amounts positive as Billit stores them). Deleted orders are left out. Grid amounts are EUR: lines of non-EUR
-- documents are not converted but counted in non_eur_line_count (docs/bi.md, "Currencies").
-- The comma-separated grid lists are split with a recursive CTE (json_each would need JSON1, which not every
-- SQLite a BI tool ships has). SQLite sums NUMERIC as REAL: amounts are rounded to cents.
-- Quarter start: the first of the month, minus (month - 1) % 3 months.
CREATE VIEW bi_vat_return_quarterly AS
WITH RECURSIVE line_grids (period_start, direction, amount_type, amount, is_eur, rest) AS (
    SELECT
        date(i.order_date, 'start of month', -((CAST(strftime('%m', i.order_date) AS INTEGER) - 1) % 3) || ' months'),
        i.direction,
        'base',
        l.total_excl,
        coalesce(i.currency, 'EUR') = 'EUR',
        l.base_grids || ','
    FROM invoice_lines AS l
    JOIN invoices AS i ON i.order_id = l.order_id
    WHERE NOT i.is_deleted AND i.order_date IS NOT NULL AND l.base_grids <> ''
    UNION ALL
    SELECT
        date(i.order_date, 'start of month', -((CAST(strftime('%m', i.order_date) AS INTEGER) - 1) % 3) || ' months'),
        i.direction,
        'vat',
        l.total_vat,
        coalesce(i.currency, 'EUR') = 'EUR',
        l.vat_grids || ','
    FROM invoice_lines AS l
    JOIN invoices AS i ON i.order_id = l.order_id
    WHERE NOT i.is_deleted AND i.order_date IS NOT NULL AND l.vat_grids <> ''
),
grid_amounts (period_start, direction, amount_type, amount, is_eur, grid, rest) AS (
    SELECT period_start, direction, amount_type, amount, is_eur, NULL, rest
    FROM line_grids
    UNION ALL
    SELECT
        period_start, direction, amount_type, amount, is_eur,
        trim(substr(rest, 1, instr(rest, ',') - 1)),
        substr(rest, instr(rest, ',') + 1)
    FROM grid_amounts
    WHERE rest <> ''
)
SELECT
    period_start,
    strftime('%Y', period_start) || '-Q' || ((CAST(strftime('%m', period_start) AS INTEGER) + 2) / 3) AS period,
    direction,
    grid,
    amount_type,
    round(coalesce(sum(CASE WHEN is_eur THEN amount END), 0), 2) AS amount,
    sum(CASE WHEN is_eur THEN 1 ELSE 0 END) AS line_count,
    sum(CASE WHEN is_eur THEN 0 ELSE 1 END) AS non_eur_line_count
FROM grid_amounts
WHERE grid <> ''
GROUP BY period_start, direction, grid, amount_type;
