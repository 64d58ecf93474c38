-- bi_customer_revenue_monthly: sales per customer per month and currency, from bi__counterparty_monthly.
CREATE VIEW bi_customer_revenue_monthly AS
SELECT * FROM bi__counterparty_monthly WHERE direction = 'Income';
