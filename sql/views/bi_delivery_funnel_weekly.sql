-- bi_delivery_funnel_weekly: per company, the e-invoice delivery funnel of sales documents (Income invoices and
-- credit notes, not deleted, not drafts) per ISO week (Monday start) of created_at, Billit's creation time in
-- Brussels local time; order_date when created_at is missing (the week comes from bi___invoice_dates). Each column
-- counts documents in their current state: sent = is_sent; pending / delivered / error = delivery_status; refused =
-- the latest invoice response is RE; refused_or_error counts a document that is both once.
CREATE VIEW bi_delivery_funnel_weekly AS
WITH sales AS (
    SELECT
        i.company_id,
        c.company_name,
        d.created_week_start AS week_start,
        d.created_iso_week AS iso_week,
        coalesce(i.is_sent, false) AS is_sent,
        i.delivery_status,
        i.last_response_code
    FROM invoices AS i
    JOIN bi___invoice_dates AS d ON d.order_id = i.order_id
    LEFT JOIN bi___companies AS c ON c.company_id = i.company_id
    WHERE i.direction = 'Income'
        AND i.order_type IN ('Invoice', 'CreditNote')
        AND NOT i.is_deleted
        AND lower(coalesce(i.order_status, '')) <> 'draft'
        AND (i.created_at IS NOT NULL OR i.order_date IS NOT NULL)
)
SELECT
    company_id,
    company_name,
    week_start,
    iso_week,
    count(*) AS created,
    count(*) FILTER (WHERE is_sent) AS sent,
    count(*) FILTER (WHERE delivery_status = 'Pending') AS pending,
    count(*) FILTER (WHERE delivery_status = 'Delivered') AS delivered,
    count(*) FILTER (WHERE delivery_status = 'Error') AS error,
    count(*) FILTER (WHERE last_response_code = 'RE') AS refused,
    count(*) FILTER (WHERE delivery_status = 'Error' OR last_response_code = 'RE') AS refused_or_error
FROM sales
GROUP BY company_id, company_name, week_start, iso_week;
