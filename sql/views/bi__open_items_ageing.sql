-- bi__open_items_ageing: open documents of both directions, per company (invoices and credit notes: not deleted, not
-- drafts, not paid, to_pay > 0) with their days overdue computed at query time, never stored. as_of_date ("today")
-- is the date in Brussels, because Billit's expiry dates are Brussels dates (bi___invoice_dates computes it on each
-- dialect). days_overdue = today - expiry_date (negative: not due yet, as Billit's DaysOverdue). open_amount is
-- to_pay with credit notes negative (money owed back), in the document currency.
CREATE VIEW bi__open_items_ageing AS
WITH open_documents AS (
    SELECT
        i.company_id,
        c.company_name,
        i.direction,
        i.order_id,
        i.order_number,
        i.order_type,
        i.order_date,
        i.expiry_date,
        i.counterparty_party_id,
        i.counterparty_name,
        i.counterparty_enterprise_number,
        i.currency,
        i.total_incl,
        i.to_pay,
        i.reminders_sent,
        d.as_of_date,
        d.days_overdue
    FROM invoices AS i
    JOIN bi___invoice_dates AS d ON d.order_id = i.order_id
    LEFT JOIN bi___companies AS c ON c.company_id = i.company_id
    WHERE i.order_type IN ('Invoice', 'CreditNote')
        AND NOT i.is_deleted
        AND lower(coalesce(i.order_status, '')) <> 'draft'
        AND NOT coalesce(i.paid, false)
        AND i.to_pay > 0
)
SELECT
    company_id,
    company_name,
    direction,
    as_of_date,
    order_id,
    order_number,
    order_type,
    order_date,
    expiry_date,
    days_overdue,
    CASE
        WHEN days_overdue IS NULL THEN 'no due date'
        WHEN days_overdue <= 0 THEN 'not due'
        WHEN days_overdue <= 30 THEN '1-30'
        WHEN days_overdue <= 60 THEN '31-60'
        WHEN days_overdue <= 90 THEN '61-90'
        ELSE '> 90'
    END AS bucket,
    CASE
        WHEN days_overdue IS NULL THEN 5
        WHEN days_overdue <= 0 THEN 0
        WHEN days_overdue <= 30 THEN 1
        WHEN days_overdue <= 60 THEN 2
        WHEN days_overdue <= 90 THEN 3
        ELSE 4
    END AS bucket_order,
    counterparty_party_id,
    counterparty_name,
    counterparty_enterprise_number,
    coalesce(currency, 'EUR') AS currency,
    total_incl,
    to_pay,
    CASE WHEN order_type = 'CreditNote' THEN -to_pay ELSE to_pay END AS open_amount,
    reminders_sent
FROM open_documents;
