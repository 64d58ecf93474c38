"""Billit's member names as this project reads them, whatever their case in an answer.

Billit documents PascalCase member names, but not their exact spelling: its docs write `VatNumber` where Swagger
writes `VATNumber`, and the framework behind it reads names in any case (docs/reference/billit-api.md#serialization).
An answer that spelt a member another way would have been read as without it: an order's lines without their VAT
rate are quarantined, a party without its VAT number is loaded without it. So every answer is read with its member
names in the case written here (`canonical_members`, called by `wire.parse_json` on every answer and landed
order); tests/connectors/billit/test_members.py checks that every name the code reads is listed.
"""

from __future__ import annotations

from typing import Any

__all__ = ["MEMBER_NAMES", "canonical_members"]

MEMBER_NAMES = frozenset(
    [
        "APIAllowed",
        "AboutInvoiceNumber",
        "AccountCode",
        "AccountingCostTypeTC",
        "Addresses",
        "ApprovalStatus",
        "Box",
        "City",
        "Comments",
        "CommercialName",
        "Companies",
        "CompanyID",
        "ContextPartyID",
        "Count",
        "CounterParty",
        "CountryCode",
        "Created",
        "CreationDate",
        "Currency",
        "CurrentDocumentDeliveryDetails",
        "CustomFields",
        "Customer",
        "DeliveryDate",
        "Description",
        "DescriptionExtended",
        "Destination",
        "DisplayName",
        "DocumentDeliveryDate",
        "DocumentDeliveryInfo",
        "DocumentDeliveryStatus",
        "DocumentRefusedDate",
        "DocumentRefusedInfo",
        "DocumentRefusedReasonTC",
        "DocumentTypes",
        "Email",
        "ExpiryDate",
        "ExternalProvider",
        "ExternalProviderID",
        "FXRateToForeign",
        "FileContent",
        "FileID",
        "FileName",
        "FinancialReductionAmount",
        "Identifier",
        "IdentifierType",
        "Identifiers",
        "IsDocumentDelivered",
        "IsSent",
        "Items",
        "Key",
        "Language",
        "LastModified",
        "MessageDirection",
        "Messages",
        "MimeType",
        "MixedUseProfessionalPercentage",
        "Mtvh",
        "Name",
        "NextPageLink",
        "Order",
        "OrderDate",
        "OrderDirection",
        "OrderID",
        "OrderLineID",
        "OrderLines",
        "OrderNumber",
        "OrderStatus",
        "OrderTitle",
        "OrderType",
        "Paid",
        "PaidDate",
        "PartyID",
        "PartyType",
        "PaymentMethod",
        "PaymentReference",
        "PeppolIdentifier",
        "PeriodFrom",
        "PeriodTill",
        "Quantity",
        "ReductionPercentage",
        "Reference",
        "Registered",
        "RemindersSent",
        "SchemeID",
        "Street",
        "StreetNumber",
        "Success",
        "Supplier",
        "TabNameAlias",
        "ToPay",
        "TotalExcl",
        "TotalIncl",
        "TotalVAT",
        "TransportType",
        "Trials",
        "Unit",
        "UnitPriceExcl",
        "VATLiable",
        "VATNumber",
        "VATPercentage",
        "Value",
        "VatDeduction",
        "VatGroups",
        "VentilationCode",
        "Zipcode",
    ]
)
_BY_FOLDED = {name.casefold(): name for name in MEMBER_NAMES}
# Each name seen that is not listed: the listed name it spells otherwise, or None. Names are few (Billit's members),
# but answers are not ours: the memo stops growing at _MEMO_AT_MOST.
_SPELT: dict[str, str | None] = {}
_MEMO_AT_MOST = 10_000
# Members whose keys are the user's own (an order's and a line's custom fields): left as written.
_USERS_KEYS = frozenset({"CustomFields"})


def canonical_members(value: Any) -> Any:
    """`value` (parsed JSON) with every member name that differs from one of MEMBER_NAMES only in case renamed to
    it, in place and in the answer's order: of two spellings of one member, the listed one, else the first, is
    kept. Returns `value`."""
    if type(value) is dict:
        if not MEMBER_NAMES.issuperset(value):  # else nothing to rename, and nothing allocated to find out
            for name in [name for name in value if name not in MEMBER_NAMES]:
                listed = _listed(name)
                if listed is not None and listed not in value:
                    value[listed] = value.pop(name)
        for name, item in value.items():
            if (type(item) is dict or type(item) is list) and name not in _USERS_KEYS:
                canonical_members(item)
    elif type(value) is list:
        for item in value:
            if type(item) is dict or type(item) is list:
                canonical_members(item)
    return value


def _listed(name: Any) -> str | None:
    """The listed name `name` spells in another case, or None."""
    try:
        return _SPELT[name]
    except KeyError:
        listed = _BY_FOLDED.get(name.casefold()) if isinstance(name, str) else None
        if len(_SPELT) < _MEMO_AT_MOST and isinstance(name, str):
            _SPELT[name] = listed
        return listed
    except TypeError:  # not hashable as a key of JSON can be: not a member name
        return None
