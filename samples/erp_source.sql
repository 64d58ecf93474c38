-- Outbound invoices straight from an ERP's own tables: `billit-etl push --source samples/erp_source.sql`.
-- docs/warehouse.md ("Pushing invoices from your own tables") explains the format and what the push does with it.
--
-- The ERP tables this example reads (in the warehouse's database or search_path):
--   erp_customers      (customer_id, company_name, vat_no, kbo_no, invoice_email, street, house_no, postcode,
--                       town, country, lang)
--   erp_sales_invoices (invoice_id, doc_kind 'F' invoice / 'C' credit note, doc_no, doc_date, due_date,
--                       customer_id, cur, customer_po, memo, ogm, credits_doc_no, state 'draft' / 'booked')
--   erp_invoice_lines  (invoice_id, seq, article, label, qty, unit_price, vat_pct)
-- Each query runs as it is (SQLite and PostgreSQL alike); its column names must be outbound columns, so the
-- ERP's names are mapped with AS. Only booked documents go to Billit: both queries filter alike.

-- name: invoices
SELECT
    'SI-' || i.invoice_id                                       AS external_id,
    CASE i.doc_kind WHEN 'C' THEN 'CreditNote' ELSE 'Invoice' END AS order_type,
    i.doc_no                                                    AS order_number,
    i.doc_date                                                  AS order_date,
    i.due_date                                                  AS expiry_date,
    i.cur                                                       AS currency,
    i.customer_po                                               AS reference,
    i.memo                                                      AS comments,
    i.ogm                                                       AS payment_reference,
    'Wired'                                                     AS payment_method,
    i.credits_doc_no                                            AS about_invoice_number,
    c.company_name                                              AS customer_name,
    c.vat_no                                                    AS customer_vat_number,
    c.kbo_no                                                    AS customer_enterprise_number,
    c.invoice_email                                             AS customer_email,
    CAST(c.customer_id AS TEXT)                                 AS customer_nr,
    c.lang                                                      AS customer_language,
    c.street                                                    AS customer_street,
    c.house_no                                                  AS customer_street_number,
    c.postcode                                                  AS customer_zipcode,
    c.town                                                      AS customer_city,
    COALESCE(c.country, 'BE')                                   AS customer_country_code
FROM erp_sales_invoices i
JOIN erp_customers c ON c.customer_id = i.customer_id
WHERE i.state = 'booked' AND i.doc_date >= '2026-01-01';

-- name: lines
SELECT
    'SI-' || l.invoice_id                                       AS external_id,
    l.seq                                                       AS line_number,
    l.label                                                     AS description,
    l.qty                                                       AS quantity,
    l.unit_price                                                AS unit_price_excl,
    l.vat_pct                                                   AS vat_percentage,
    l.article                                                   AS reference
FROM erp_invoice_lines l
JOIN erp_sales_invoices i ON i.invoice_id = l.invoice_id
WHERE i.state = 'booked' AND i.doc_date >= '2026-01-01';
