"""The tables of party identifier schemes (data): which Peppol scheme a VAT prefix or a Billit IdentifierType
maps to, the removed schemes and their successors, and the schemes Peppol knows
(docs/reference/identifiers.md#schemes). Used by tasks/normalise/identifiers.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import ModuleType

from stdnum.br import cnpj as br_cnpj
from stdnum.es import cif as es_cif
from stdnum.es import dni as es_dni
from stdnum.es import nie as es_nie
from stdnum.es import nif as es_nif

# Marks a type whose scheme follows the VAT number's country prefix.
VAT_BY_COUNTRY = "VAT"

# VAT number country prefix -> current Peppol scheme (docs/reference/identifiers.md#vat-numbers): Billit's table
# with the schemes it lists that Peppol has removed mapped to their successor: IT 9906 -> 0211, SE 9955 -> 0007,
# FI 0213 -> 0216 [U whether Billit still emits the old ones]. NO is 0192 in Billit's own table. DK VAT has no
# scheme in Billit's table; the digits are the CVR number and Peppol rule R042 accepts `DK` + 8 digits for 0184, so
# DK VAT maps to 0184 [U]. JP and SG VAT numbers are left without a scheme: whether Billit's JP/SG `VAT` value is
# the 0221 / 0195 value is not documented [U]. Greece uses the VAT prefix EL (BR-CO-09).
VAT_COUNTRY_SCHEMES: Mapping[str, str] = {
    "AD": "9922", "AL": "9923", "AT": "9914", "BA": "9924", "BE": "9925", "BG": "9926", "CH": "9927",
    "CY": "9928", "CZ": "9929", "DE": "9930", "DK": "0184", "EE": "9931", "EL": "9933", "ES": "9920",
    "FI": "0216", "FR": "9957", "GB": "9932", "HR": "9934", "HU": "9910", "IE": "9935", "IT": "0211",
    "LI": "9936", "LT": "9937", "LU": "9938", "LV": "9939", "MC": "9940", "ME": "9941", "MK": "9942",
    "MT": "9943", "NL": "9944", "NO": "0192", "PL": "9945", "PT": "9946", "RO": "9947", "RS": "9948",
    "SE": "0007", "SI": "9949", "SK": "9950", "SM": "9951", "TR": "9952", "VA": "9953",
}  # fmt: skip

# Countries whose VAT number is converted to a non-VAT scheme (the value loses its VAT form).
DERIVED_VAT_SCHEMES = frozenset({"0184", "0192", "0007", "0216", "0211"})

# 99xx schemes whose value is a country-prefixed VAT number -> that country.
VAT_SCHEME_COUNTRIES: Mapping[str, str] = {
    scheme: country for country, scheme in VAT_COUNTRY_SCHEMES.items() if scheme not in DERIVED_VAT_SCHEMES
}

# VAT prefixes with no stdnum module and no Peppol scheme that Billit still accepts
# (docs/reference/identifiers.md#billit-identifier-types); checked for format only.
FORMAT_ONLY_VAT_COUNTRIES = frozenset({"AE", "BA", "CV", "LI", "VA"})

# Removed or deprecated Peppol schemes -> current scheme (docs/reference/identifiers.md#legacy-schemes).
# 9912 (generic EU VAT, deprecated) is re-dispatched on the number's own country prefix.
LEGACY_SCHEMES: Mapping[str, str] = {
    "9956": "0208",  # BE:CBE, removed 2023-12-31
    "9902": "0184",  # DK:CVR, removed; Billit still lists it for CVR
    "0037": "0216",  # FI:OVT, removed 2024-12-31
    "0212": "0216",  # FI:ORG, removed [U: value assumed to be the Y-tunnus]
    "0213": "0216",  # FI:VAT, removed; Billit still lists it for FI VAT
    "9906": "0211",  # IT:VAT, removed 2023-05-24
    "9907": "0210",  # IT:CF, removed 2023-05-24
    "9908": "0192",  # NO:ORGNR, removed 2023-05-24
    "9909": "0192",  # NO:VAT, deprecated; Billit maps NO VAT to 0192
    "9954": "0190",  # NL:OIN, removed 2026-03-31
    "9955": "0007",  # SE:VAT, removed 2023-07-31
    "9958": "0204",  # DE:LID, removed
    "9912": VAT_BY_COUNTRY,  # EU:VAT, deprecated
}

# Billit IdentifierType -> Peppol scheme (docs/reference/identifiers.md#billit-identifier-types), already mapped
# to current schemes. RPM (LU) is listed by Billit as 9938, which is the LU VAT scheme; we follow Billit, so an
# RCS number given as RPM fails the LU VAT check [U].
BILLIT_IDENTIFIER_SCHEMES: Mapping[str, str] = {
    "VAT": VAT_BY_COUNTRY,
    "VATNUMBER": VAT_BY_COUNTRY,
    "CBE": "0208",
    "GLN": "0088",
    "KVK": "0106",
    "OIN": "0190",
    "SIRET": "0009",
    "SIRENE": "0002",
    "DUNS": "0060",
    "LEI": "0199",
    "CVR": "0184",
    "DIGST": "0184",
    "ERST": "0198",
    "NOVT": "0216",
    "ORGNR": "0007",
    "ORG": "0192",
    "LEITWEGID": "0204",
    "FRCTC": "0225",
    "CTC": "0225",
    "OIB": "9934",
    "SDICODFIS": "0210",
    "SST": "0188",
    "LEC": "0200",
    "RPM": "9938",
    "EIF": "0230",
    "ABN": "0151",
    "EIN": "9959",
    "NAL": "0130",
}

# Billit identifier types that are not Peppol participant ids (SDI routing, Chorus service codes, national tax ids
# without a scheme; docs/reference/identifiers.md#billit-identifier-types). They keep scheme None; a stdnum check
# runs where one exists.
NON_PEPPOL_CHECKS: Mapping[str, tuple[ModuleType, str] | None] = {
    "NIE": (es_nie, "ES NIE"),
    "DNI": (es_dni, "ES DNI"),
    "NIF": (es_nif, "ES NIF"),
    "CIF": (es_cif, "ES CIF"),
    "CNPJ": (br_cnpj, "BR CNPJ"),
    "SDICODDEST": None,
    "SDIPEC": None,
    "SDIB2G": None,
    "SERVICE CODE": None,
    "TIN": None,
    "MBR": None,
}

# EAS codes allowed on EndpointID in BIS v3.0.19 plus the newer PIS v9.7 codes
# (docs/reference/identifiers.md#schemes). The list changes with each Peppol release; an unlisted code is flagged,
# not dropped.
KNOWN_SCHEMES = frozenset({
    "0002", "0007", "0009", "0037", "0060", "0088", "0096", "0097", "0106", "0130", "0135", "0142", "0147",
    "0151", "0154", "0158", "0170", "0177", "0183", "0184", "0188", "0190", "0191", "0192", "0193", "0194",
    "0195", "0196", "0198", "0199", "0200", "0201", "0202", "0203", "0204", "0205", "0208", "0209", "0210",
    "0211", "0212", "0213", "0215", "0216", "0217", "0218", "0221", "0225", "0230", "0235", "0240", "0244",
    "0245", "0246", "0248", "9910", "9913", "9914", "9915", "9918", "9919", "9920", "9957", "9959",
}) | {str(code) for code in range(9922, 9954)}  # fmt: skip

# A participant id value is at most 130 characters (docs/reference/identifiers.md#participant-id-values).
MAX_VALUE_LENGTH = 130
