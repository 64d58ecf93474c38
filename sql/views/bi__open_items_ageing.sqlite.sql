-- bi__open_items_ageing (SQLite): open documents of both directions (invoices and credit notes: not deleted, not
-- paid, to_pay > 0) with their days overdue computed at query time, never stored. "Today" is the date in
-- Brussels, because Billit's expiry dates are Brussels dates: SQLite has no time-zone data, so the EU rule is
-- spelled out (UTC+2 from 01:00 UTC on the last Sunday of March to 01:00 UTC on the last Sunday of October,
-- else UTC+1; 'weekday 0' moves forward to a Sunday, so the 1st of the next month minus 7 days is the last one).
-- days_overdue = today - expiry_date (negative: not due yet, as Billit's DaysOverdue). open_amount is to_pay
-- with credit notes negative (money owed back), in the document currency.
CREATE VIEW bi__open_items_ageing AS
WITH clock AS (
    SELECT datetime('now') AS utc_now
),
today AS (
    SELECT date(
        utc_now,
        CASE
            WHEN utc_now >= date(strftime('%Y', utc_now) || '-04-01', 'weekday 0', '-7 days') || ' 01:00:00'
                AND utc_now < date(strftime('%Y', utc_now) || '-11-01', 'weekday 0', '-7 days') || ' 01:00:00'
            THEN '+2 hours'
            ELSE '+1 hours'
        END
    ) AS as_of_date
    FROM clock
),
open_documents AS (
    SELECT
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
        t.as_of_date,
        CAST(julianday(t.as_of_date) - julianday(i.expiry_date) AS INTEGER) AS days_overdue
    FROM invoices AS i
    CROSS JOIN today AS t
    WHERE i.order_type IN ('Invoice', 'CreditNote')
        AND NOT i.is_deleted
        AND NOT coalesce(i.paid, 0)
        AND i.to_pay > 0
)
SELECT
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
