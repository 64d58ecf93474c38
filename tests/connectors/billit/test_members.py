"""Member names read in any case (connectors/billit/members.py): Billit's docs and Swagger spell some differently."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from connectors.billit.members import MEMBER_NAMES, canonical_members
from connectors.billit.wire import parse_json
from sandbox.render import render_order
from sandbox.store import Sandbox
from tasks.normalise.fields import Fields
from tasks.normalise.orders import normalise_orders
from tests.tasks.sync_helpers import SEED_START
from tests.tasks.test_landing_rows import documented_orders

ROOT = Path(__file__).resolve().parents[3]
# Where Billit's answers are read, and how a member is read there: `.get("X"`, `["X"]`, or a `Fields` getter.
READERS = [ROOT / "connectors" / "billit", ROOT / "tasks" / "normalise", ROOT / "tasks" / "inbound"]
READERS += [ROOT / "tasks" / "outbound" / name for name in ("existing.py", "send.py", "push.py")]
READ = re.compile(
    r"""(?:\.get\(|\.(?:text|number|integer|flag|timestamp|date|object|objects)\()"([A-Z][A-Za-z]+)"|\["([A-Z][A-Za-z]+)"\]"""
)
# Names so read that are not members of an answer: headers, and what a request sends (`Transporttype`, as the docs
# spell it in the send command).
NOT_MEMBERS = {
    "ApiKey",
    "Authorization",
    "Location",
    "GET",
    "POST",
    "Cost",
    "Income",
    "StrictTransportType",
    "Transporttype",
}


def test_members_spelt_another_way_are_read_as_listed() -> None:
    body = parse_json(
        '{"orderID": 7, "vatGroups": [], "OrderLines": [{"VatPercentage": 21.00, "unitpriceexcl": 1.5}],'
        ' "customer": {"VatNumber": "BE0477472701", "Identifiers": [{"identifiertype": "GLN"}]}, "Unknown": 1}'
    )
    assert body == {
        "OrderID": 7,
        "VatGroups": [],
        "OrderLines": [{"VATPercentage": Decimal("21.00"), "UnitPriceExcl": Decimal("1.5")}],
        "Customer": {"VATNumber": "BE0477472701", "Identifiers": [{"IdentifierType": "GLN"}]},
        "Unknown": 1,
    }


def test_a_member_spelt_as_listed_wins_over_another_spelling_of_it() -> None:
    assert canonical_members({"VATNumber": "listed", "VatNumber": "other"}) == {
        "VATNumber": "listed",
        "VatNumber": "other",
    }
    assert canonical_members([{"vatnumber": 1}, 2, None]) == [{"VATNumber": 1}, 2, None]


def test_every_member_the_code_reads_is_listed() -> None:
    files = [path for reader in READERS for path in ([reader] if reader.is_file() else sorted(reader.rglob("*.py")))]
    read = {name for path in files for match in READ.finditer(path.read_text()) for name in match.groups() if name}
    assert len(files) > 20 and len(read) > 80
    assert sorted(read - MEMBER_NAMES - NOT_MEMBERS) == []


def test_every_member_the_normaliser_asks_for_is_listed(monkeypatch: pytest.MonkeyPatch) -> None:
    # A review found two names read through a tuple (VatDeduction, MixedUseProfessionalPercentage), which the scan
    # above cannot see: every name the normaliser's typed reads ask for, on documented and generated orders.
    asked: set[str] = set()
    for method in ("text", "number", "integer", "flag", "timestamp", "object", "objects"):
        original = getattr(Fields, method)

        def recording(self: Fields, name: str, *rest: Any, _original: Any = original) -> Any:
            asked.add(name)
            return _original(self, name, *rest)

        monkeypatch.setattr(Fields, method, recording)
    sandbox = Sandbox(seed=3, orders=150, seed_start=SEED_START)
    generated = [parse_json(render_order(order, date(2026, 12, 7)).decode()) for order in sandbox.orders.values()]
    for stream, orders in (("sales", documented_orders()), ("sales", generated), ("incoming", generated)):
        normalise_orders(orders, stream=stream, run_id="r")
    assert len(asked) > 60 and sorted(asked - MEMBER_NAMES) == []


def test_of_two_spellings_the_first_is_kept_and_custom_fields_are_left_as_written() -> None:
    body = parse_json('{"vatNumber": "first", "VatNumber": "second", "CustomFields": {"reference": "mine"}}')
    assert body == {"VATNumber": "first", "VatNumber": "second", "CustomFields": {"reference": "mine"}}
