-- bi_delivery_funnel_weekly (SQLite): the e-invoice delivery funnel of sales documents (Income invoices and
-- credit notes, not deleted) per ISO week (Monday start) of created_at, Billit's creation time in Brussels local
-- time; order_date when created_at is missing. Each column counts documents in their current state:
-- sent = is_sent; pending / delivered / error = delivery_status; refused = the latest invoice response is RE;
-- refused_or_error counts a document that is both once.
-- ISO week without %V (SQLite < 3.46): the week starts on Monday (%w: 0 = Sunday) and belongs to the year of
-- its Thursday, whose day of the year gives the week number.
CREATE VIEW bi_delivery_funnel_weekly AS
WITH days AS (
    SELECT
        date(coalesce(created_at, order_date)) AS day,
        coalesce(is_sent, 0) AS is_sent,
        delivery_status,
        last_response_code
    FROM invoices
    WHERE direction = 'Income'
        AND order_type IN ('Invoice', 'CreditNote')
        AND NOT is_deleted
        AND coalesce(created_at, order_date) IS NOT NULL
),
sales AS (
    SELECT
        date(day, -((CAST(strftime('%w', day) AS INTEGER) + 6) % 7) || ' days') AS week_start,
        is_sent,
        delivery_status,
        last_response_code
    FROM days
)
SELECT
    week_start,
    strftime('%Y', week_start, '+3 days') || '-W'
        || printf('%02d', (CAST(strftime('%j', week_start, '+3 days') AS INTEGER) - 1) / 7 + 1) AS iso_week,
    count(*) AS created,
    sum(CASE WHEN is_sent THEN 1 ELSE 0 END) AS sent,
    sum(CASE WHEN delivery_status = 'Pending' THEN 1 ELSE 0 END) AS pending,
    sum(CASE WHEN delivery_status = 'Delivered' THEN 1 ELSE 0 END) AS delivered,
    sum(CASE WHEN delivery_status = 'Error' THEN 1 ELSE 0 END) AS error,
    sum(CASE WHEN last_response_code = 'RE' THEN 1 ELSE 0 END) AS refused,
    sum(CASE WHEN delivery_status = 'Error' OR last_response_code = 'RE' THEN 1 ELSE 0 END) AS refused_or_error
FROM sales
GROUP BY week_start;
