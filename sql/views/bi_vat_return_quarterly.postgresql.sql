-- bi_vat_return_quarterly (PostgreSQL): Belgian VAT-return grid amounts per calendar quarter of order_date.
-- One row per (quarter, direction, grid): a line's total_excl goes into each grid of its base_grids, its total_vat
-- into each grid of its vat_grids (tasks/normalise/vat.py; credit notes carry their own grids 48/49/64, 84/85/63,
-- amounts positive as Billit stores them). Deleted orders are left out. Grid amounts are EUR: lines of non-EUR
-- documents are not converted but counted in non_eur_line_count (docs/bi.md, "Currencies").
CREATE VIEW bi_vat_return_quarterly AS
WITH line_grids AS (
    SELECT
        date_trunc('quarter', i.order_date::timestamp)::date AS period_start,
        i.direction,
        'base'::text AS amount_type,
        l.total_excl AS amount,
        coalesce(i.currency, 'EUR') = 'EUR' AS is_eur,
        l.base_grids AS grids
    FROM invoice_lines AS l
    JOIN invoices AS i ON i.order_id = l.order_id
    WHERE NOT i.is_deleted AND i.order_date IS NOT NULL AND l.base_grids <> ''
    UNION ALL
    SELECT
        date_trunc('quarter', i.order_date::timestamp)::date,
        i.direction,
        'vat'::text,
        l.total_vat,
        coalesce(i.currency, 'EUR') = 'EUR',
        l.vat_grids
    FROM invoice_lines AS l
    JOIN invoices AS i ON i.order_id = l.order_id
    WHERE NOT i.is_deleted AND i.order_date IS NOT NULL AND l.vat_grids <> ''
),
grid_amounts AS (
    SELECT lg.period_start, lg.direction, lg.amount_type, lg.amount, lg.is_eur, btrim(g.grid) AS grid
    FROM line_grids AS lg
    CROSS JOIN LATERAL unnest(string_to_array(lg.grids, ',')) AS g (grid)
)
SELECT
    period_start,
    to_char(period_start, 'YYYY-"Q"Q') AS period,
    direction,
    grid,
    amount_type,
    coalesce(sum(amount) FILTER (WHERE is_eur), 0.00) AS amount,
    count(*) FILTER (WHERE is_eur) AS line_count,
    count(*) FILTER (WHERE NOT is_eur) AS non_eur_line_count
FROM grid_amounts
WHERE grid <> ''
GROUP BY period_start, direction, grid, amount_type;
