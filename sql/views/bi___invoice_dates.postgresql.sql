-- bi___invoice_dates (PostgreSQL): the date arithmetic of the BI views, one row per invoice, so that every other
-- view is one file for both dialects (bi___invoice_dates.sqlite.sql computes the same columns; the views join it
-- on order_id).
--   order_month_start, order_month: the calendar month of order_date ('YYYY-MM');
--   order_quarter_start, order_quarter: its calendar quarter ('YYYY-Qn');
--   created_week_start, created_iso_week: the ISO week (Monday start, 'YYYY-Www') of created_at, else of
--     order_date;
--   as_of_date, days_overdue: today in Brussels, whatever the session time zone (Billit's expiry dates are
--     Brussels dates), and today - expiry_date in days (negative: not due yet).
CREATE VIEW bi___invoice_dates AS
WITH weeks AS (
    SELECT
        order_id,
        order_date,
        expiry_date,
        date_trunc('week', coalesce(created_at, order_date::timestamp))::date AS created_week_start
    FROM invoices
),
today AS (
    SELECT (CURRENT_TIMESTAMP AT TIME ZONE 'Europe/Brussels')::date AS as_of_date
)
SELECT
    w.order_id,
    date_trunc('month', w.order_date::timestamp)::date AS order_month_start,
    to_char(w.order_date, 'YYYY-MM') AS order_month,
    date_trunc('quarter', w.order_date::timestamp)::date AS order_quarter_start,
    to_char(w.order_date, 'YYYY-"Q"Q') AS order_quarter,
    w.created_week_start,
    to_char(w.created_week_start, 'IYYY-"W"IW') AS created_iso_week,
    t.as_of_date,
    t.as_of_date - w.expiry_date AS days_overdue
FROM weeks AS w
CROSS JOIN today AS t;
