"""The ``$filter`` parser: a recursive-descent parser over the lexer's tokens that compiles the expression
into nested closures, checking operand types like ODataLib and following C# null semantics."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sandbox.odata.lexer import (
    COMPARISONS,
    FLIPPED,
    UNSUPPORTED_OPERATORS,
    Token,
    parse_datetime_literal,
    parse_number,
    tokenize,
)
from sandbox.odata.schema import FILTERABLE, SAFE_TYPE, Getter, ODataError, Order, Predicate, refused


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


def property_getter(path: str) -> Getter:
    if "/" not in path:
        return lambda order: order.get(path)
    head, tail = path.split("/", 1)
    inner = property_getter(tail)

    def nested(order: Order) -> Any:
        value = order.get(head)
        return inner(value) if isinstance(value, dict) else None

    return nested


class _Parser:
    """Recursive-descent parser for the OData v3 boolean expression grammar, emitting closures."""

    def __init__(self, text: str, *, refuse_or: bool = False, refuse_gt: bool = False) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.index = 0
        self.refuse_or = refuse_or
        self.refuse_gt = refuse_gt

    @property
    def current(self) -> Token:
        return self.tokens[self.index]

    def _advance(self) -> Token:
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
                raise refused(f"The operator 'or' is not supported in $filter (position {self.current.pos}).")
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
        if token.kind == "ident" and token.text in COMPARISONS:
            if self.refuse_gt and token.text in ("gt", "lt"):
                raise refused(f"The operator '{token.text}' is not supported in $filter; use ge or le.")
            self._advance()
            right = self._unary()
            return self._compare(token.text, left, right)
        if token.kind == "ident" and token.text in UNSUPPORTED_OPERATORS:
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
                raise refused(f"Parentheses are not supported in $filter (position {token.pos}).")
            node = self._or()
            closing = self._advance()
            if closing.kind != "punct" or closing.text != ")":
                raise ODataError(f"')' or operator expected at position {closing.pos} in '{self.text}'.")
            return node
        if token.kind == "str":
            quote_char = token.text[0]
            return _constant(token.text[1:-1].replace(quote_char * 2, quote_char), "Edm.String")
        if token.kind == "num":
            value, edm = parse_number(token.text)
            return _constant(value, edm)
        if token.kind == "typed":
            prefix = token.text[: token.text.index("'")].lower()
            if prefix in ("datetime", "datetimeoffset"):
                literal = parse_datetime_literal(token, offset_allowed=prefix == "datetimeoffset")
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

    def _property(self, token: Token) -> _Node:
        path = token.text
        edm = FILTERABLE.get(path)
        if edm is None:
            # Billit names the first unknown segment (docs/reference/billit-api.md#filters: "Could not find a property
            # named 'VATNumber' ...").
            head = path.split("/", 1)[0]
            missing = path.rsplit("/", 1)[-1] if head == "CounterParty" and "/" in path else head
            raise ODataError(f"Could not find a property named '{missing}' on type '{SAFE_TYPE}'.")
        return _Node(property_getter(path), edm)

    def _compare(self, op: str, left: _Node, right: _Node) -> _Node:
        kind, fn = COMPARISONS[op]
        if not _compatible(left.edm, right.edm):
            raise ODataError(
                f"A binary operator with incompatible types was detected. Found operand types "
                f"'{left.edm}' and '{right.edm}' for operator kind '{kind}'."
            )
        if left.is_const and not right.is_const:
            # Normalize to "property op literal".
            return self._compare(FLIPPED[op], right, left)
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
