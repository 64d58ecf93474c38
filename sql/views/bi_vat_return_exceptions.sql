-- bi_vat_return_exceptions: what each company's VAT return leaves out (is_reported false) or holds but needs a look
-- (is_reported true), one row per VAT group or line, with the reason (docs/bi.md#vat-return). base and vat are
-- in the document currency. order_date may be empty (an order without OrderDate is an exception itself).
CREATE VIEW bi_vat_return_exceptions AS
SELECT
    i.company_id,
    c.company_name,
    i.order_date,
    i.order_id,
    i.order_number,
    i.direction,
    i.order_type,
    i.counterparty_name,
    i.counterparty_vat_number,
    x.source,
    x.source_number,
    x.treatment,
    x.is_reported,
    x.reason,
    x.currency,
    x.base,
    x.vat
FROM vat_return_exceptions AS x
JOIN invoices AS i ON i.order_id = x.order_id
LEFT JOIN bi___companies AS c ON c.company_id = i.company_id
WHERE NOT i.is_deleted;
