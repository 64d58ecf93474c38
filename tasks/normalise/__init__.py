"""Pure normalisation functions for Billit data: party identifiers (VAT numbers, Peppol schemes) and VAT
classification (ventilation codes -> UBL category, VATEX, Belgian VAT-return grids).

No I/O, no Prefect: records in, small frozen dataclasses out. The facts behind the identifier rules are in
docs/reference/identifiers.md (with how sure we are); vat.py cites the rules it follows.
"""
