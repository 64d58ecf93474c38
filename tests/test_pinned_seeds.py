"""Every sandbox a test builds has pinned books: a seed start (or a pinned clock), so its data does not change
with the day the suite runs."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def test_every_sandbox_in_the_tests_pins_its_seed_start_or_its_clock() -> None:
    unpinned = []
    for path in TESTS.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Sandbox":
                keywords = {keyword.arg for keyword in node.keywords}
                if not keywords & {"seed_start", "clock"}:
                    unpinned.append(f"{path.relative_to(TESTS)}:{node.lineno}")
    assert not unpinned, f"Sandbox(...) without seed_start= or clock=: {unpinned}"
