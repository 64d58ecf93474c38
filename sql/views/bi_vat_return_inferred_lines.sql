-- bi_vat_return_inferred_lines: every line whose VAT treatment was inferred, not read from its code (a received
-- Peppol invoice carries cost code "1" whatever its treatment; the supplier's VAT number and the exemption text
-- decided it), with the reason, for an accountant to review (docs/bi.md#vat-return).
CREATE VIEW bi_vat_return_inferred_lines AS
SELECT
    i.company_id,
    c.company_name,
    i.order_date,
    i.order_id,
    i.order_number,
    i.direction,
    i.order_type,
    i.external_provider,
    i.counterparty_name,
    i.counterparty_vat_number,
    l.line_number,
    l.description,
    l.vat_percentage,
    l.total_excl,
    i.currency,
    l.treatment,
    l.treatment_reason,
    l.base_grids,
    l.vat_grids
FROM invoice_lines AS l
JOIN invoices AS i ON i.order_id = l.order_id
LEFT JOIN bi___companies AS c ON c.company_id = i.company_id
WHERE NOT i.is_deleted AND l.treatment_source = 'inferred';
