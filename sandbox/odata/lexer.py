"""The ``$filter`` lexer and literal parsing: strings, numbers with their EDM suffixes, DateTime literals
with up to 7 fraction digits (a :class:`~sandbox.clock.TickDateTime`)."""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any

from sandbox.clock import with_tick
from sandbox.odata.schema import BRUSSELS, ODataError

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

COMPARISONS: dict[str, tuple[str, Callable[[Any, Any], bool]]] = {
    "eq": ("Equal", operator.eq),
    "ne": ("NotEqual", operator.ne),
    "gt": ("GreaterThan", operator.gt),
    "ge": ("GreaterThanOrEqual", operator.ge),
    "lt": ("LessThan", operator.lt),
    "le": ("LessThanOrEqual", operator.le),
}
FLIPPED = {"eq": "eq", "ne": "ne", "gt": "lt", "ge": "le", "lt": "gt", "le": "ge"}
UNSUPPORTED_OPERATORS = frozenset({"add", "sub", "mul", "div", "mod", "has", "any", "all", "isof", "cast"})


@dataclass(frozen=True, slots=True)
class Token:
    kind: str  # "str", "num", "typed", "ident", "punct", "end"
    text: str
    pos: int
    value: Any = None


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            raise ODataError(f"Syntax error: character '{text[pos]}' is not valid at position {pos} in '{text}'.")
        kind = match.lastgroup
        if kind == "typedval":
            kind = "typed"
        if kind != "ws":
            tokens.append(Token(kind or "", match.group(0), pos))
        pos = match.end()
    tokens.append(Token("end", "", len(text)))
    return tokens


# --------------------------------------------------------------------------------------------------------
# Literals
# --------------------------------------------------------------------------------------------------------

_DATETIME_LITERAL = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,7}))?)?)?(Z|[+-]\d{2}:\d{2})?"
)


def parse_datetime_literal(token: Token, *, offset_allowed: bool) -> datetime:
    """The literal's naive Brussels value at .NET tick precision (a ``TickDateTime`` for a 7th digit)."""
    raw = token.text[token.text.index("'") + 1 : -1]
    match = _DATETIME_LITERAL.fullmatch(raw)
    if match is None:
        raise ODataError(f"Unrecognized 'Edm.DateTime' literal '{token.text}' at '{token.pos}' in the $filter.")
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    digits = (fraction or "").ljust(7, "0")
    try:
        value = datetime(  # noqa: DTZ001 - Billit's DateTime is naive Brussels local time
            # (docs/reference/billit-api.md#timestamps)
            int(year),
            int(month),
            int(day),
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
            int(digits[:6]),
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


def parse_number(text: str) -> tuple[Any, str]:
    suffix = text[-1] if text[-1] in "mMdDfFlL" else ""
    body = text[:-1] if suffix else text
    if suffix in ("l", "L") or (not suffix and re.fullmatch(r"-?\d+", body)):
        value = int(body)
        return value, "Edm.Int32" if -(2**31) <= value < 2**31 and not suffix else "Edm.Int64"
    try:
        return Decimal(body), "Edm.Decimal"
    except InvalidOperation:
        raise ODataError(f"Unrecognized numeric literal '{text}'.") from None
