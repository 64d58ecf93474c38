"""The VAT return and listings read from the warehouse, and their Intervat XML drafts."""
