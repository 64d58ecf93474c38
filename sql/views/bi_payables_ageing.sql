-- bi_payables_ageing: open purchase documents (what we owe suppliers), from bi__open_items_ageing.
CREATE VIEW bi_payables_ageing AS
SELECT * FROM bi__open_items_ageing WHERE direction = 'Cost';
