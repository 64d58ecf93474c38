"""Server-side OData v3 subset of the sandbox: ``$filter`` parser/compiler, ``$orderby`` and ``NextPageLink``.

Billit runs ASP.NET Web API 2 with OData v3 query options (billit-api.md §0.2, §3). The sandbox reproduces:

* ``$filter`` with ``eq ne gt ge lt le and or not``, parentheses, ``'string'``/``"string"`` literals with
  doubled-quote escaping, ``true``/``false``, ``null``, integers/decimals (optional ``L M D F`` suffixes),
  ``DateTime'...'``/``datetime'...'`` (date, or datetime with up to 7 fraction digits) and
  ``datetimeoffset'...'``; property paths such as ``CounterParty/PartyID``. Only the 28 "performance safe"
  properties of §3.2 may be filtered on, anything else fails like Billit does. Operand types are checked
  like ODataLib does (``LastModified ge '2024-01-01'`` is an error, not an empty result).
* ``$orderby`` on any order property (sub-properties ``a/b`` included), multi-key, ``asc``/``desc``, with
  Web API's ``EnsureStableOrdering``: ``OrderID asc`` is appended unless the key is already ordered on.
* ``GetNextPageLink``: the absolute next-page URL built exactly like System.Web.Http.OData does.

Two quirks (``quirks.py``) narrow the grammar to what Billit documents: ``refuse_or`` answers ``or`` and
parentheses, ``refuse_gt`` answers ``gt`` and ``lt``, with 400 ``InvalidFilter``
(``docs/reference/billit-api.md#filters``).

DateTime values compare at .NET tick precision (100 ns): a literal with 7 fraction digits becomes a
:class:`~connectors.billit.sandbox.clock.TickDateTime`, and so are stored timestamps when the sandbox writes 7
digits, so a cursor built from Billit's text matches the stored value exactly.

A filter is compiled once into nested closures; evaluating it is a plain Python call per order.
Null semantics follow C# (LINQ to Entities with C# null semantics): ``null eq null`` is true, ``x ne 'a'`` is
true when ``x`` is absent, and ordering comparisons against null are false.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from connectors.billit.sandbox.clock import with_tick

__all__ = [
    "FILTERABLE",
    "ODataError",
    "OrderKey",
    "compile_filter",
    "compile_orderby",
    "escape_data_string",
    "next_page_link",
    "sort_orders",
]

Order = dict[str, Any]
Predicate = Callable[[Order], bool]
Getter = Callable[[Order], Any]

BRUSSELS = ZoneInfo("Europe/Brussels")

# The 28 properties Billit accepts in $filter since 2026-03-17 (§3.2), with their EDM types.
FILTERABLE: dict[str, str] = {
    "OrderID": "Edm.Int32",
    "CounterParty/PartyID": "Edm.Int32",
    "CompanyID": "Edm.Int32",
    "OrderDirection": "Edm.String",
    "OrderType": "Edm.String",
    "OrderDate": "Edm.DateTime",
    "OrderNumber": "Edm.String",
    "ExpiryDate": "Edm.DateTime",
    "ExportedToConnector": "Edm.Boolean",
    "AccountantVerificationNeeded": "Edm.Boolean",
    "TotalExcl": "Edm.Decimal",
    "TotalVAT": "Edm.Decimal",
    "TotalIncl": "Edm.Decimal",
    "FXRateToForeign": "Edm.Decimal",
    "Paid": "Edm.Boolean",
    "OrderStatus": "Edm.String",
    "ExternalProviderID": "Edm.String",
    "Currency": "Edm.String",
    "PaymentReference": "Edm.String",
    "LastModified": "Edm.DateTime",
    "Created": "Edm.DateTime",
    "ApprovalStatus": "Edm.String",
    "PaidDate": "Edm.DateTime",
    "PaymentMethod": "Edm.String",
    "Reference": "Edm.String",
    "RemindersSent": "Edm.Int32",
    "ExternalProvider": "Edm.String",
    "IsSent": "Edm.Boolean",
}
SAFE_TYPE = "Domain.Order.OrderPartyPerformanceSafeColumns"

# Properties of the full Order type (§4.2) usable in $orderby. Complex members map to their own properties;
# collections cannot be ordered on.
_PARTY_PROPERTIES = frozenset(
    [
        "PartyID", "Nr", "Name", "CommercialName", "DisplayName", "Street", "StreetNumber", "Box", "Zipcode", "City",
        "CountryCode", "IBAN", "BIC", "Mobile", "Phone", "Fax", "Email", "Website", "Contact", "ContactFirstName",
        "ContactLastName", "VATNumber", "PeppolIdentifier", "RPR", "LastModified", "Created", "PartyType",
        "VATLiable", "VATDeductable", "AccountantCode", "GLAccountCode", "Language", "VentilationCode",
        "ExternalProviderID", "ExternalProviderTC", "DefaultPaymentMethodTC", "DomiciliationMandateID",
        "DomiciliationMandateSigningDate", "DefaultPaid", "DefaultTransportTypeTC",
        "FinancialReductionPercentageDefault", "FinancialReductionDaysDefault", "DefaultExpiryOffset",
        "GLDefaultExpiryOffset", "Role", "InternalInfo", "DefaultReductionPercentage", "BookCategoryTC",
        "SmallEnterprise", "AutoSendInvoiceReminders", "DefaultCurrencyTC", "Regime", "SubRegime", "IsHighRisk",
        "SendUBL", "SendPDF", "CostCategoryCode", "AccountingCostTypeName",
    ]
)  # fmt: skip
_COMPLEX_PROPERTIES: dict[str, frozenset[str]] = {
    "CounterParty": _PARTY_PROPERTIES,
    "Customer": _PARTY_PROPERTIES,
    "Supplier": _PARTY_PROPERTIES,
    "OrderPDF": frozenset({"FileID", "FileName"}),
    "CurrentDocumentDeliveryDetails": frozenset(
        {
            "DocumentRefusedDate",
            "DocumentDeliveryDate",
            "DocumentDeliveryInfo",
            "DocumentRefusedReasonTC",
            "DocumentRefusedInfo",
            "IsDocumentDelivered",
            "DocumentDeliveryStatus",
        }
    ),
    "Signature": frozenset(),
}
_COLLECTION_PROPERTIES = frozenset(
    [
        "Attachments", "OrderLines", "BookingEntries", "VatGroups", "Tags", "ExternalProviderReferences",
        "PaymentLinks", "Messages", "AdditionalDocumentReference", "ContractDocumentReference", "CategoryFieldItems",
        "CustomFields", "OCRMetaPages",
    ]
)  # fmt: skip
_SCALAR_PROPERTIES = frozenset(
    [
        "OrderID", "CompanyID", "OrderNumber", "CustomerID", "SupplierID", "CounterPartyID", "OrderDate",
        "ExpiryDate", "OrderType", "OrderSubType", "OrderDirection", "LastModified", "Created", "Journal",
        "OrderTitle", "PaymentDiscountPercentage", "PaymentReductionDays", "PaymentDiscountAmount",
        "PaymentDiscountDate", "VentilationCode", "TotalExcl", "TotalVAT", "TotalIncl", "Reference", "DepartmentID",
        "PaymentReference", "AboutInvoiceNumber", "OCRRawText", "Paid", "PaidDate", "ExternalProviderID",
        "ExternalProvider", "ProjectID", "ProjectName", "Comments", "Currency", "VatDeduction",
        "MixedUseProfessionalPercentage", "InternalInfo", "IsSent", "Invoiced", "PeriodFrom", "PeriodTill",
        "CostCategoryCode", "AccountCode", "AccountingCostTypeTC", "LastReminder", "RemindersSent", "ToPay",
        "OrderStatus", "ApprovalStatus", "Overdue", "DaysOverdue", "FXRateToForeign", "PaymentMethod", "DeliveryDate",
        "ExportedToConnector", "TemplateID", "MessageTemplateID", "AnalyticCostBearer", "AnalyticCostCenter",
        "AccountantVerificationNeeded", "PaymentTerms", "TaxPointDate", "IBAN", "BIC", "TaxReportingStatusTC",
    ]
)  # fmt: skip


class ODataError(ValueError):
    """A query option Billit would reject with 400; ``str(err)`` is the Description, ``code`` the error Code."""

    def __init__(self, message: str, code: str = "GenericError") -> None:
        super().__init__(message)
        self.code = code


def _refused(message: str) -> ODataError:
    return ODataError(message, "InvalidFilter")


# --------------------------------------------------------------------------------------------------------
# Lexer
# --------------------------------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<typed>(?i:datetimeoffset|datetime|guid|time))'(?P<typedval>(?:[^']|'')*)'
  | (?P<str>'(?:[^']|'')*'|"(?:[^"]|"")*")
  | (?P<num>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?[mMdDfFlL]?)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*(?:/[A-Za-z_][A-Za-z0-9_]*)*)
  | (?P<punct>[(),])
    """,
    re.VERBOSE,
)

_COMPARISONS: dict[str, tuple[str, Callable[[Any, Any], bool]]] = {
    "eq": ("Equal", operator.eq),
    "ne": ("NotEqual", operator.ne),
    "gt": ("GreaterThan", operator.gt),
    "ge": ("GreaterThanOrEqual", operator.ge),
    "lt": ("LessThan", operator.lt),
    "le": ("LessThanOrEqual", operator.le),
}
_FLIPPED = {"eq": "eq", "ne": "ne", "gt": "lt", "ge": "le", "lt": "gt", "le": "ge"}
_UNSUPPORTED_OPERATORS = frozenset({"add", "sub", "mul", "div", "mod", "has", "any", "all", "isof", "cast"})


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # "str", "num", "typed", "ident", "punct", "end"
    text: str
    pos: int
    value: Any = None


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            raise ODataError(f"Syntax error: character '{text[pos]}' is not valid at position {pos} in '{text}'.")
        kind = match.lastgroup
        if kind == "typedval":
            kind = "typed"
        if kind != "ws":
            tokens.append(_Token(kind or "", match.group(0), pos))
        pos = match.end()
    tokens.append(_Token("end", "", len(text)))
    return tokens


# --------------------------------------------------------------------------------------------------------
# Literals
# --------------------------------------------------------------------------------------------------------

_DATETIME_LITERAL = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,7}))?)?)?(Z|[+-]\d{2}:\d{2})?"
)


def _parse_datetime_literal(token: _Token, *, offset_allowed: bool) -> datetime:
    """The literal's naive Brussels value at .NET tick precision (a ``TickDateTime`` for a 7th digit)."""
    raw = token.text[token.text.index("'") + 1 : -1]
    match = _DATETIME_LITERAL.fullmatch(raw)
    if match is None:
        raise ODataError(f"Unrecognized 'Edm.DateTime' literal '{token.text}' at '{token.pos}' in the $filter.")
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    digits = (fraction or "").ljust(7, "0")
    try:
        value = datetime(  # noqa: DTZ001 - Billit's DateTime is naive Brussels local time (§3.4)
            int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0), int(digits[:6])
        )
    except ValueError as exc:
        raise ODataError(f"Unrecognized 'Edm.DateTime' literal '{token.text}': {exc}.") from None
    if zone is not None:
        if not offset_allowed and zone != "Z":
            raise ODataError(f"Unrecognized 'Edm.DateTime' literal '{token.text}' at '{token.pos}' in the $filter.")
        offset = timedelta(0) if zone == "Z" else _offset(zone)
        value = value.replace(tzinfo=timezone(offset)).astimezone(BRUSSELS).replace(tzinfo=None)
    return with_tick(value, int(digits[6]))


def _offset(zone: str) -> timedelta:
    sign = -1 if zone[0] == "-" else 1
    return sign * timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6]))


def _parse_number(text: str) -> tuple[Any, str]:
    suffix = text[-1] if text[-1] in "mMdDfFlL" else ""
    body = text[:-1] if suffix else text
    if suffix in ("l", "L") or (not suffix and re.fullmatch(r"-?\d+", body)):
        value = int(body)
        return value, "Edm.Int32" if -(2**31) <= value < 2**31 and not suffix else "Edm.Int64"
    try:
        return Decimal(body), "Edm.Decimal"
    except InvalidOperation:
        raise ODataError(f"Unrecognized numeric literal '{text}'.") from None


# --------------------------------------------------------------------------------------------------------
# Parser / compiler
# --------------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Node:
    """A compiled sub-expression: ``fn(order)`` computes it; ``const`` holds its value when it is a literal."""

    fn: Callable[[Order], Any]
    edm: str  # EDM type name, or "null"
    is_const: bool = False
    const: Any = None


_NUMERIC = frozenset({"Edm.Int32", "Edm.Int64", "Edm.Decimal", "Edm.Double"})


def _compatible(left: str, right: str) -> bool:
    if left == "null" or right == "null" or left == right:
        return True
    return left in _NUMERIC and right in _NUMERIC


def _constant(value: Any, edm: str) -> _Node:
    return _Node(lambda _order: value, edm, True, value)


def _property_getter(path: str) -> Getter:
    if "/" not in path:
        return lambda order: order.get(path)
    head, tail = path.split("/", 1)
    inner = _property_getter(tail)

    def nested(order: Order) -> Any:
        value = order.get(head)
        return inner(value) if isinstance(value, dict) else None

    return nested


class _Parser:
    """Recursive-descent parser for the OData v3 boolean expression grammar, emitting closures."""

    def __init__(self, text: str, *, refuse_or: bool = False, refuse_gt: bool = False) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.index = 0
        self.refuse_or = refuse_or
        self.refuse_gt = refuse_gt

    @property
    def current(self) -> _Token:
        return self.tokens[self.index]

    def _advance(self) -> _Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def _is_keyword(self, word: str) -> bool:
        # OData v3 keywords and operators are case-sensitive (ODataLib's ExpressionLexer).
        token = self.current
        return token.kind == "ident" and token.text == word

    def parse(self) -> Predicate:
        if self.current.kind == "end":
            raise ODataError("The $filter query option cannot be empty.")
        node = self._or()
        if self.current.kind != "end":
            token = self.current
            raise ODataError(f"Syntax error at position {token.pos} in '{self.text}'.")
        if node.edm not in ("Edm.Boolean", "null"):
            raise ODataError("The $filter expression must evaluate to a single boolean value.")
        fn = node.fn
        if node.is_const:
            result = bool(node.const)
            return lambda _order: result
        return lambda order: fn(order) is True

    def _or(self) -> _Node:
        left = self._and()
        while self._is_keyword("or"):
            if self.refuse_or:
                raise _refused(f"The operator 'or' is not supported in $filter (position {self.current.pos}).")
            self._advance()
            right = self._and()
            left = self._logical("Or", left, right)
        return left

    def _and(self) -> _Node:
        left = self._comparison()
        while self._is_keyword("and"):
            self._advance()
            right = self._comparison()
            left = self._logical("And", left, right)
        return left

    def _logical(self, kind: str, left: _Node, right: _Node) -> _Node:
        for side in (left, right):
            if side.edm not in ("Edm.Boolean", "null"):
                raise ODataError(
                    f"A binary operator with incompatible types was detected. Found operand types "
                    f"'{left.edm}' and '{right.edm}' for operator kind '{kind}'."
                )
        lf, rf = left.fn, right.fn
        if kind == "And":
            return _Node(lambda order: lf(order) is True and rf(order) is True, "Edm.Boolean")
        return _Node(lambda order: lf(order) is True or rf(order) is True, "Edm.Boolean")

    def _comparison(self) -> _Node:
        left = self._unary()
        token = self.current
        if token.kind == "ident" and token.text in _COMPARISONS:
            if self.refuse_gt and token.text in ("gt", "lt"):
                raise _refused(f"The operator '{token.text}' is not supported in $filter; use ge or le.")
            self._advance()
            right = self._unary()
            return self._compare(token.text, left, right)
        if token.kind == "ident" and token.text in _UNSUPPORTED_OPERATORS:
            raise ODataError(f"The operator '{token.text}' is not supported by this service.")
        return left

    def _unary(self) -> _Node:
        if self._is_keyword("not"):
            self._advance()
            operand = self._unary()
            if operand.edm not in ("Edm.Boolean", "null"):
                raise ODataError(f"Unary operator 'Not' is not compatible with operand type '{operand.edm}'.")
            fn = operand.fn
            return _Node(lambda order: (lambda v: None if v is None else not v)(fn(order)), "Edm.Boolean")
        return self._primary()

    def _primary(self) -> _Node:
        token = self._advance()
        if token.kind == "punct" and token.text == "(":
            if self.refuse_or:
                raise _refused(f"Parentheses are not supported in $filter (position {token.pos}).")
            node = self._or()
            closing = self._advance()
            if closing.kind != "punct" or closing.text != ")":
                raise ODataError(f"')' or operator expected at position {closing.pos} in '{self.text}'.")
            return node
        if token.kind == "str":
            quote_char = token.text[0]
            return _constant(token.text[1:-1].replace(quote_char * 2, quote_char), "Edm.String")
        if token.kind == "num":
            value, edm = _parse_number(token.text)
            return _constant(value, edm)
        if token.kind == "typed":
            prefix = token.text[: token.text.index("'")].lower()
            if prefix in ("datetime", "datetimeoffset"):
                literal = _parse_datetime_literal(token, offset_allowed=prefix == "datetimeoffset")
                return _constant(literal, "Edm.DateTime")
            raise ODataError(f"Literals of type '{prefix}' are not supported in this $filter.")
        if token.kind == "ident":
            if token.text in ("true", "false"):
                return _constant(token.text == "true", "Edm.Boolean")
            if token.text == "null":
                return _constant(None, "null")
            if self.current.kind == "punct" and self.current.text == "(":
                raise ODataError(f"An unknown function with name '{token.text}' was found.")
            return self._property(token)
        if token.kind == "end":
            raise ODataError(f"Expression expected at position {token.pos} in '{self.text}'.")
        raise ODataError(f"Syntax error at position {token.pos} in '{self.text}'.")

    def _property(self, token: _Token) -> _Node:
        path = token.text
        edm = FILTERABLE.get(path)
        if edm is None:
            # Billit names the first unknown segment (§3.2: "Could not find a property named 'VATNumber' ...").
            head = path.split("/", 1)[0]
            missing = path.rsplit("/", 1)[-1] if head == "CounterParty" and "/" in path else head
            raise ODataError(f"Could not find a property named '{missing}' on type '{SAFE_TYPE}'.")
        return _Node(_property_getter(path), edm)

    def _compare(self, op: str, left: _Node, right: _Node) -> _Node:
        kind, fn = _COMPARISONS[op]
        if not _compatible(left.edm, right.edm):
            raise ODataError(
                f"A binary operator with incompatible types was detected. Found operand types "
                f"'{left.edm}' and '{right.edm}' for operator kind '{kind}'."
            )
        if left.is_const and not right.is_const:
            # Normalize to "property op literal".
            return self._compare(_FLIPPED[op], right, left)
        if left.is_const and right.is_const:
            return _constant(_null_compare(op, fn, left.const, right.const), "Edm.Boolean")
        getter = left.fn
        if right.is_const:
            # A DateTime literal or stored value with a 7th digit is a TickDateTime, which compares at 100 ns
            # with plain datetimes (tick 0) in either operand position.
            literal = right.const
            if literal is None:
                if op == "eq":
                    return _Node(lambda order: getter(order) is None, "Edm.Boolean")
                if op == "ne":
                    return _Node(lambda order: getter(order) is not None, "Edm.Boolean")
                return _constant(False, "Edm.Boolean")
            if op == "eq":
                return _Node(lambda order: getter(order) == literal, "Edm.Boolean")
            if op == "ne":
                return _Node(lambda order: getter(order) != literal, "Edm.Boolean")

            def compare_literal(order: Order) -> bool:
                value = getter(order)
                return value is not None and fn(value, literal)

            return _Node(compare_literal, "Edm.Boolean")
        right_getter = right.fn

        def compare_both(order: Order) -> bool:
            return _null_compare(op, fn, getter(order), right_getter(order))

        return _Node(compare_both, "Edm.Boolean")


def _null_compare(op: str, fn: Callable[[Any, Any], bool], left: Any, right: Any) -> bool:
    if left is None or right is None:
        if op == "eq":
            return left is right
        if op == "ne":
            return left is not right
        return False
    return fn(left, right)


def compile_filter(text: str, *, refuse_or: bool = False, refuse_gt: bool = False) -> Predicate:
    """Compile a ``$filter`` expression into a predicate over storage-form orders.

    Raises :class:`ODataError` with Billit's/ODataLib's message for unknown properties, type mismatches and
    syntax errors; with ``refuse_or`` (``or``, parentheses) or ``refuse_gt`` (``gt``, ``lt``) those answer code
    ``InvalidFilter``.
    """
    return _Parser(text, refuse_or=refuse_or, refuse_gt=refuse_gt).parse()


# --------------------------------------------------------------------------------------------------------
# $orderby
# --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OrderKey:
    """One ``$orderby`` item: a property path and its direction."""

    path: str
    descending: bool = False


def compile_orderby(text: str | None) -> list[OrderKey]:
    """Parse ``$orderby`` and apply Web API's ``EnsureStableOrdering`` (append ``OrderID asc``).

    Without ``$orderby`` the result is ``[OrderKey("OrderID")]``: stock Web API OData orders by the entity key
    when a page size is set (§3.3 [I]).
    """
    keys: list[OrderKey] = []
    if text is not None:
        if not text.strip():
            raise ODataError("The $orderby query option cannot be empty.")
        for item in text.split(","):
            parts = item.split()
            if not parts or len(parts) > 2:
                raise ODataError(f"Syntax error in $orderby at '{item.strip()}'.")
            path = parts[0]
            descending = False
            if len(parts) == 2:
                # ODataLib keywords are case-sensitive: 'asc' / 'desc' only.
                if parts[1] not in ("asc", "desc"):
                    raise ODataError(f"Syntax error in $orderby: '{parts[1]}' is not 'asc' or 'desc'.")
                descending = parts[1] == "desc"
            _check_orderable(path)
            keys.append(OrderKey(path, descending))
    if not any(key.path == "OrderID" for key in keys):
        keys.append(OrderKey("OrderID"))
    return keys


def _check_orderable(path: str) -> None:
    segments = path.split("/")
    head = segments[0]
    if head in _SCALAR_PROPERTIES and len(segments) == 1:
        return
    if head in _COMPLEX_PROPERTIES:
        if len(segments) == 2 and segments[1] in _COMPLEX_PROPERTIES[head]:
            return
        if len(segments) == 1:
            raise ODataError("The $orderby expression must evaluate to a single value of primitive type.")
        raise ODataError(f"Could not find a property named '{segments[1]}' on type 'Domain.Order.{head}'.")
    if head in _COLLECTION_PROPERTIES:
        raise ODataError("The $orderby expression must evaluate to a single value of primitive type.")
    raise ODataError(f"Could not find a property named '{head}' on type 'Domain.Order.Order'.")


def _sort_getter(path: str, today: date) -> Getter:
    if path == "DaysOverdue":
        return lambda order: _days_overdue(order, today)
    if path == "Overdue":

        def overdue(order: Order) -> bool | None:
            days = _days_overdue(order, today)
            return None if days is None else days > 0 and not order.get("Paid", False)

        return overdue
    return _property_getter(path)


def _days_overdue(order: Order, today: date) -> int | None:
    expiry = order.get("ExpiryDate")
    return None if expiry is None else (today - expiry.date()).days


def sort_orders(orders: list[Order], keys: Sequence[OrderKey], today: date) -> list[Order]:
    """Sort in place by ``keys`` (SQL Server order: nulls first ascending, last descending) and return."""
    getters = [(_sort_getter(key.path, today), key.descending) for key in keys]
    if len(getters) == 1 or all(desc == getters[0][1] for _, desc in getters):
        descending = getters[0][1]
        funcs = [getter for getter, _ in getters]
        if len(funcs) == 1:
            only = funcs[0]
            orders.sort(key=lambda order: _null_key(only(order)), reverse=descending)
        else:
            orders.sort(key=lambda order: tuple(_null_key(f(order)) for f in funcs), reverse=descending)
        return orders
    # Mixed directions: stable passes from the least to the most significant key.
    for getter, descending in reversed(getters):
        orders.sort(key=lambda order, g=getter: _null_key(g(order)), reverse=descending)  # type: ignore[misc]
    return orders


def _null_key(value: Any) -> tuple[int, Any]:
    return (0, 0) if value is None else (1, value)


# --------------------------------------------------------------------------------------------------------
# NextPageLink
# --------------------------------------------------------------------------------------------------------


def escape_data_string(text: str) -> str:
    """.NET ``Uri.EscapeDataString``: percent-encode UTF-8 except the RFC 3986 unreserved characters."""
    return quote(text, safe="")


def next_page_link(base_url: str, params: Sequence[tuple[str, str]], page_size: int, *, reduce_top: bool = True) -> str:
    """Build the next-page URL like System.Web.Http.OData's ``GetNextPageLink(requestUri, query, pageSize)``.

    Every query parameter except ``$skip`` is re-emitted as ``key=value&`` (EscapeDataString-encoded, a
    leading ``$`` kept), ``$top`` reduced by the page size, and ``$skip={skip + page_size}`` appended last.
    ``base_url`` is scheme://host[:port]/path as the request was addressed.
    """
    next_skip = page_size
    query: list[str] = []
    for key, value in params:
        if key == "$top" and reduce_top:
            top = _try_parse_int32(value)
            if top is not None:
                value = str(top - page_size)
        elif key == "$skip":
            skip = _try_parse_int32(value)
            if skip is not None:
                next_skip += skip
            continue
        escaped_key = "$" + escape_data_string(key[1:]) if key.startswith("$") else escape_data_string(key)
        query.append(f"{escaped_key}={escape_data_string(value)}&")
    query.append(f"$skip={next_skip}")
    return f"{base_url}?{''.join(query)}"


def _try_parse_int32(text: str) -> int | None:
    """C# ``Int32.TryParse`` with the default NumberStyles.Integer (surrounding whitespace, leading sign)."""
    stripped = text.strip()
    if not re.fullmatch(r"[+-]?\d+", stripped):
        return None
    value = int(stripped)
    return value if -(2**31) <= value < 2**31 else None
