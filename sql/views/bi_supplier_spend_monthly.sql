-- bi_supplier_spend_monthly: purchases per supplier per month and currency, from bi__counterparty_monthly.
CREATE VIEW bi_supplier_spend_monthly AS
SELECT * FROM bi__counterparty_monthly WHERE direction = 'Cost';
