-- bi_delivery_funnel_weekly (PostgreSQL): the e-invoice delivery funnel of sales documents (Income invoices and
-- credit notes, not deleted) per ISO week (Monday start) of created_at, Billit's creation time in Brussels local
-- time; order_date when created_at is missing. Each column counts documents in their current state:
-- sent = is_sent; pending / delivered / error = delivery_status; refused = the latest invoice response is RE;
-- refused_or_error counts a document that is both once.
CREATE VIEW bi_delivery_funnel_weekly AS
WITH sales AS (
    SELECT
        date_trunc('week', coalesce(created_at, order_date::timestamp))::date AS week_start,
        coalesce(is_sent, false) AS is_sent,
        delivery_status,
        last_response_code
    FROM invoices
    WHERE direction = 'Income'
        AND order_type IN ('Invoice', 'CreditNote')
        AND NOT is_deleted
        AND coalesce(created_at, order_date::timestamp) IS NOT NULL
)
SELECT
    week_start,
    to_char(week_start, 'IYYY-"W"IW') AS iso_week,
    count(*) AS created,
    count(*) FILTER (WHERE is_sent) AS sent,
    count(*) FILTER (WHERE delivery_status = 'Pending') AS pending,
    count(*) FILTER (WHERE delivery_status = 'Delivered') AS delivered,
    count(*) FILTER (WHERE delivery_status = 'Error') AS error,
    count(*) FILTER (WHERE last_response_code = 'RE') AS refused,
    count(*) FILTER (WHERE delivery_status = 'Error' OR last_response_code = 'RE') AS refused_or_error
FROM sales
GROUP BY week_start;
