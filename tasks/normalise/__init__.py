"""Pure normalisation functions for Billit data: party identifiers (VAT numbers, Peppol schemes) and VAT
classification (ventilation codes -> UBL category, VATEX, Belgian VAT-return grids).

No I/O, no Prefect: records in, small frozen dataclasses out. The facts behind every rule are in
/work/shared/identifiers-and-vat.md and billit-api.md §8-§9; the modules cite the section they follow.
"""
