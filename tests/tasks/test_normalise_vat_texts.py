"""What an exemption text says about reverse charge (tasks/normalise/vat_texts.py): a mention that says the opposite
is not one, and a negation elsewhere in the clause leaves a mention standing. A review found the first rule, as
written at first, wiping out the most common wordings ("No VAT charged - reverse charge")."""

from __future__ import annotations

import pytest

from tasks.normalise.vat_texts import text_says


@pytest.mark.parametrize(
    "text",
    [
        "BTW verlegd",
        "Medecontractant art. 20 KB nr. 1",
        "No VAT charged - reverse charge",
        "Customer VAT No: NL123456789B01 - reverse charge",
        "Keine Umsatzsteuer, Steuerschuldnerschaft des Leistungsempfängers",
        "TVA non applicable, autoliquidation",
        "Not subject to Belgian VAT, reverse charge",
        "Geen btw aangerekend, btw verlegd",
    ],
)
def test_a_reverse_charge_mention_stands_beside_a_negation_of_something_else(text: str) -> None:
    assert text_says(text).reverse_charge


@pytest.mark.parametrize(
    "text",
    [
        "Geen BTW verlegd: vrijgesteld art. 44",
        "Werken - BTW niet verlegd",
        "no reverse charge",
        "Reverse charge not applicable",
        "Autoliquidation non applicable",
        "pas d\u2019autoliquidation",
        "Verlegging van heffing niet van toepassing",
        "keine Steuerschuldnerschaft",
    ],
)
def test_a_mention_that_says_the_opposite_is_no_reverse_charge(text: str) -> None:
    assert not text_says(text).reverse_charge
