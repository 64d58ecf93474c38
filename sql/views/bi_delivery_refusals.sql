-- bi_delivery_refusals: why sales documents failed, per company and ISO week of created_at (as in
-- bi_delivery_funnel_weekly): documents whose delivery ended in Error or whose latest invoice response is RE, counted
-- per delivery status and reason. reason_code is Billit's DocumentRefusedReasonTC, else the response code RE;
-- reason_info is DocumentRefusedInfo, else DocumentDeliveryInfo (the receiver's last response text).
CREATE VIEW bi_delivery_refusals AS
WITH refused AS (
    SELECT
        i.company_id,
        c.company_name,
        d.created_week_start AS week_start,
        d.created_iso_week AS iso_week,
        i.delivery_status,
        coalesce(nullif(i.document_refused_reason_code, ''), CASE WHEN i.last_response_code = 'RE' THEN 'RE' END)
            AS reason_code,
        coalesce(nullif(i.document_refused_info, ''), nullif(i.document_delivery_info, '')) AS reason_info
    FROM invoices AS i
    JOIN bi___invoice_dates AS d ON d.order_id = i.order_id
    LEFT JOIN bi___companies AS c ON c.company_id = i.company_id
    WHERE i.direction = 'Income'
        AND i.order_type IN ('Invoice', 'CreditNote')
        AND NOT i.is_deleted
        AND (i.created_at IS NOT NULL OR i.order_date IS NOT NULL)
        AND (i.delivery_status = 'Error' OR i.last_response_code = 'RE')
)
SELECT
    company_id,
    company_name,
    week_start,
    iso_week,
    delivery_status,
    reason_code,
    reason_info,
    count(*) AS document_count
FROM refused
GROUP BY company_id, company_name, week_start, iso_week, delivery_status, reason_code, reason_info;
