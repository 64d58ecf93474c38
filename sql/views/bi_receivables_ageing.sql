-- bi_receivables_ageing: open sales documents (what customers owe), from bi__open_items_ageing.
CREATE VIEW bi_receivables_ageing AS
SELECT * FROM bi__open_items_ageing WHERE direction = 'Income';
