"""The PostgreSQL gate in conftest.py: under CI an unreachable database fails the run, whatever truthy CI says."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import running_in_ci

ROOT = Path(__file__).resolve().parents[1]
UNREACHABLE = "postgresql+psycopg://postgres@127.0.0.1:9/test"  # the discard port: nothing listens there


@pytest.mark.parametrize("value", ["1", "true", "TRUE", "True", "yes", "Yes", "on", "ON", " true "])
def test_ci_set_to_any_usual_truthy_value_counts_as_ci(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("CI", value)
    assert running_in_ci()


@pytest.mark.parametrize("value", [None, "", "0", "false", "no", "off"])
def test_ci_unset_or_falsy_does_not_count_as_ci(monkeypatch: pytest.MonkeyPatch, value: str | None) -> None:
    if value is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", value)
    assert not running_in_ci()


@pytest.mark.postgres
def test_the_postgres_fixture_reaches_the_database(postgres_url: str) -> None:
    assert postgres_url


@pytest.mark.parametrize(("ci", "outcome"), [("1", "1 error"), ("yes", "1 error"), ("", "1 skipped")])
def test_an_unreachable_postgres_errors_under_ci_1_or_yes_and_is_skipped_without_ci(ci: str, outcome: str) -> None:
    env = {**os.environ, "CI": ci, "BILLIT_TEST_POSTGRES_URL": UNREACHABLE, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-o",
            "addopts=",
            f"{Path(__file__).relative_to(ROOT)}::test_the_postgres_fixture_reaches_the_database",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert outcome in result.stdout, result.stdout[-2000:]
