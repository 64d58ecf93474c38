-- bi_delivery_refusals (PostgreSQL): why sales documents failed, per ISO week of created_at (as in
-- bi_delivery_funnel_weekly): documents whose delivery ended in Error or whose latest invoice response is RE,
-- counted per delivery status and reason. reason_code is Billit's DocumentRefusedReasonTC, else the response
-- code RE; reason_info is DocumentRefusedInfo, else DocumentDeliveryInfo (the receiver's last response text).
CREATE VIEW bi_delivery_refusals AS
WITH refused AS (
    SELECT
        date_trunc('week', coalesce(created_at, order_date::timestamp))::date AS week_start,
        delivery_status,
        coalesce(nullif(document_refused_reason_code, ''), CASE WHEN last_response_code = 'RE' THEN 'RE' END)
            AS reason_code,
        coalesce(nullif(document_refused_info, ''), nullif(document_delivery_info, '')) AS reason_info
    FROM invoices
    WHERE direction = 'Income'
        AND order_type IN ('Invoice', 'CreditNote')
        AND NOT is_deleted
        AND coalesce(created_at, order_date::timestamp) IS NOT NULL
        AND (delivery_status = 'Error' OR last_response_code = 'RE')
)
SELECT
    week_start,
    to_char(week_start, 'IYYY-"W"IW') AS iso_week,
    delivery_status,
    reason_code,
    reason_info,
    count(*) AS document_count
FROM refused
GROUP BY week_start, delivery_status, reason_code, reason_info;
