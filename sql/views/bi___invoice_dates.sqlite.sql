-- bi___invoice_dates (SQLite): the date arithmetic of the BI views, one row per invoice, so that every other view
-- is one file for both dialects (bi___invoice_dates.postgresql.sql computes the same columns; the views join it
-- on order_id). Dates are ISO text here, DATE on PostgreSQL.
--   order_month_start, order_month: the calendar month of order_date ('YYYY-MM');
--   order_quarter_start, order_quarter: its calendar quarter ('YYYY-Qn'): the first of the month, minus
--     (month - 1) % 3 months;
--   created_week_start, created_iso_week: the ISO week (Monday start, 'YYYY-Www') of created_at, else of
--     order_date. Without %V (SQLite < 3.46): the week starts on Monday (%w: 0 = Sunday) and belongs to the year
--     of its Thursday, whose day of the year gives the week number;
--   as_of_date, days_overdue: today in Brussels, and today - expiry_date in days (negative: not due yet).
--     Billit's expiry dates are Brussels dates and SQLite has no time-zone data, so the EU rule is spelled out
--     (UTC+2 from 01:00 UTC on the last Sunday of March to 01:00 UTC on the last Sunday of October, else UTC+1;
--     'weekday 0' moves forward to a Sunday, so the 1st of the next month minus 7 days is the last one).
CREATE VIEW bi___invoice_dates AS
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
days AS (
    SELECT
        order_id,
        order_date,
        expiry_date,
        date(coalesce(created_at, order_date)) AS created_day
    FROM invoices
),
weeks AS (
    SELECT
        order_id,
        order_date,
        expiry_date,
        date(created_day, -((CAST(strftime('%w', created_day) AS INTEGER) + 6) % 7) || ' days') AS created_week_start
    FROM days
)
SELECT
    w.order_id,
    date(w.order_date, 'start of month') AS order_month_start,
    strftime('%Y-%m', w.order_date) AS order_month,
    date(w.order_date, 'start of month',
         -((CAST(strftime('%m', w.order_date) AS INTEGER) - 1) % 3) || ' months') AS order_quarter_start,
    strftime('%Y', w.order_date) || '-Q' || ((CAST(strftime('%m', w.order_date) AS INTEGER) + 2) / 3) AS order_quarter,
    w.created_week_start,
    strftime('%Y', w.created_week_start, '+3 days') || '-W'
        || printf('%02d', (CAST(strftime('%j', w.created_week_start, '+3 days') AS INTEGER) - 1) / 7 + 1)
        AS created_iso_week,
    t.as_of_date,
    CAST(julianday(t.as_of_date) - julianday(w.expiry_date) AS INTEGER) AS days_overdue
FROM weeks AS w
CROSS JOIN today AS t;
