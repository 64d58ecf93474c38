"""What the exemption text of a received 0 % line says (pure; no I/O): reverse charge, an intra-community
supply, another exemption, goods or services. Used by `tasks.normalise.vat` to infer the treatment of a received
Peppol invoice, which Billit codes "1" whatever it is (docs/reference/billit-api.md#vat).

The patterns cover the languages Belgian invoices use (and English, German) and are matched without accents and
case. A mention that says the opposite ("BTW niet verlegd") is dropped before reverse charge is looked for.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

__all__ = ["TextSays", "text_says"]


@dataclass(frozen=True)
class TextSays:
    reverse_charge: bool
    intra_community: bool
    exempt: bool  # an exemption other than an intra-community one
    goods: bool
    services: bool


def text_says(text: str) -> TextSays:
    plain = _plain(text)
    return TextSays(
        reverse_charge=bool(_REVERSE_CHARGE_TEXT.search(_NEGATED_REVERSE_CHARGE.sub(" ", plain))),
        intra_community=bool(_INTRA_COMMUNITY_TEXT.search(plain)),
        exempt=bool(_NON_IC_EXEMPTION_TEXT.search(plain)),
        goods=bool(_GOODS_TEXT.search(plain)),
        services=bool(_SERVICES_TEXT.search(plain)),
    )


def _plain(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c)).lower()


# Art. 196 of the Directive is the reverse charge of B2B services, also when named beside art. 44 ("article 44
# and 196"), the place-of-supply rule.
_REVERSE_CHARGE_TEXT = re.compile(
    r"medecontract|co-?contract|autoliquidation|verlegging van (?:de )?heffing|verlegd|reverse[ -]?charge|"
    r"steuerschuldnerschaft|vatex-eu-ae|art(?:icle|ikel|\.)?\s*(?:\d+\s*(?:and|en|et|und|,|&)\s*)*196\b"
)
# A mention that says the opposite, dropped before the search: the negation right before the term ("BTW niet
# verlegd", "geen btw verlegd", "no reverse charge", "pas d'autoliquidation", "keine Steuerschuldnerschaft") or
# right after it ("reverse charge not applicable", "verlegging van heffing niet van toepassing"). Nothing looser: a
# "no" or "non" elsewhere in the clause ("VAT No: NL...; reverse charge", "TVA non applicable, autoliquidation")
# leaves the mention standing.
_NEGATED_REVERSE_CHARGE = re.compile(
    r"\b(?:niet|geen(?:\s+btw)?)\s+(?:verlegd|verlegging|medecontract)"
    r"|\b(?:no|not|non)\s+reverse[ -]?charge"
    r"|\b(?:pas\s+d['\u2019e]\s*|sans\s+)autoliquidation"
    r"|\bkeine\s+steuerschuldnerschaft"
    r"|(?:reverse[ -]?charge|autoliquidation|verlegging van (?:de )?heffing)\s+(?:is\s+)?(?:not|non|niet)\s+"
    r"(?:van\s+toepassing|applicable)"
)
_INTRA_COMMUNITY_TEXT = re.compile(
    r"intra-?communit|intracommunautai?re?|innergemeinschaftlich|vatex-eu-ic|art(?:icle|ikel|\.)?\s*(?:138|39\s*bis)\b"
)
# An exemption that is not an intra-community one (art. 44 of the Belgian VAT Code, art. 132/135 of the
# Directive: medical, education, financial services, ...): nothing to self-assess.
_NON_IC_EXEMPTION_TEXT = re.compile(
    r"vrijgesteld|vrijstelling|exoner|exempt|befreit|steuerfrei|art(?:icle|ikel|\.)?\s*"
    r"(?:44|132|135)\b"
)
# Goods (an exempt IC supply, art. 138 of the Directive) or services (reverse charge, art. 196). Billit's own K
# text says "goods and services": goods win only when services are not named too.
_GOODS_TEXT = re.compile(
    r"\bgoods\b|goederen|\bbiens\b|\bwaren\b|livraison|levering|lieferung|art(?:icle|ikel|\.)?\s*138\b"
)
_SERVICES_TEXT = re.compile(
    r"\bservices?\b|diensten|dienstverl|dienstverrichting|prestations?|dienstleistung|"
    r"art(?:icle|ikel|\.)?\s*196\b"
)
