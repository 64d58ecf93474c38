-- bi___companies: the company dimension every BI view carries, one row per company (docs/warehouse.md#companies).
-- company_name and company_vat_number are what accountInformation said (companies, filled by record_companies),
-- else what the company's own books say of it: it is a party of each of its orders (the supplier on sales, the
-- customer on purchases), keyed (company_id, party_id = company_id).
CREATE VIEW bi___companies AS
SELECT
    c.company_id,
    coalesce(c.name, p.name, p.display_name) AS company_name,
    coalesce(c.vat_number, p.vat_number_raw) AS company_vat_number
FROM companies AS c
LEFT JOIN parties AS p ON p.company_id = c.company_id AND p.party_id = c.company_id;
