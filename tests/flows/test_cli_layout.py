"""What an operator reads is whole: help names every option in full, piped or at 80 columns, and tables fold
or wrap a long cell instead of cutting it (`incom…`) or dropping the right-hand columns.

Help is laid out when the CLI is imported, from COLUMNS and whether stdout is a terminal, so each layout is read
from a fresh interpreter (`HELP_OF_EVERY_COMMAND`); its stdout is a pipe, as in `billit-etl ... --help | cat`.
"""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import click
import pytest
import typer.core
import typer.main
from rich.console import Console

import cli.sync as cli_sync
import cli.tables as cli_tables
from cli.app import RICH_HELP_MIN_WIDTH, rich_help
from cli.main import app
from cli.tables import cell, data_table

REPO_ROOT = Path(__file__).resolve().parents[2]
# The help of every command and group, each after a line `=== <its path>`.
HELP_OF_EVERY_COMMAND = """
import sys
import typer.core
import typer.main
from cli.main import app

root = typer.main.get_command(app)

def walk(command, path):
    yield path
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        yield from walk(sub, [*path, name])

for path in walk(root, []):
    print("=== " + " ".join(path), flush=True)
    try:
        root.main([*path, "--help"], prog_name="billit-etl", standalone_mode=False)
    except SystemExit:
        pass
    sys.stdout.flush()
"""


def _commands(command: click.Command, path: tuple[str, ...] = ()) -> dict[str, click.Command]:
    found = {" ".join(path): command}
    for name, sub in getattr(command, "commands", {}).items():
        found |= _commands(sub, (*path, name))
    return found


def _help_of_every_command(columns: str | None) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if name not in ("COLUMNS", "LINES", "TERMINAL_WIDTH")}
    if columns is not None:
        env["COLUMNS"] = columns
    done = subprocess.run(
        [sys.executable, "-c", HELP_OF_EVERY_COMMAND], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120,
        env={**env, "NO_COLOR": "1"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    sections = done.stdout.split("=== ")[1:]
    return {section.partition("\n")[0]: section.partition("\n")[2] for section in sections}


@pytest.mark.parametrize(("columns", "width"), [(None, 80), ("80", 80), ("100", 100)])
def test_help_names_every_option_and_default_whole_when_piped_and_at_80_or_100_columns(
    columns: str | None, width: int
) -> None:
    helps = _help_of_every_command(columns)
    commands = _commands(typer.main.get_command(app))
    assert set(helps) == set(commands)
    for path, command in commands.items():
        text = helps[path]
        assert "…" not in text, f"{path}:\n{text}"
        assert max(map(len, text.splitlines())) <= width, f"{path}:\n{text}"
        for param in command.params:
            for name in (*param.opts, *param.secondary_opts):
                if name.startswith("-"):
                    assert name in text, f"{path}: {name} cut or missing:\n{text}"
    assert "sqlite:///data/demo.sqlite" in helps["demo"]
    assert "sqlite:///data/warehouse.sqlite" in helps["sync"]
    for option in (
        "--orders-per-company",
        "--api-off-companies",
        "--webhook-duplicate-rate",
        "--fault-post-commit-drop",
    ):
        assert any(line.lstrip().startswith(option) for line in helps["sandbox serve"].splitlines()), option


@pytest.mark.parametrize("columns", [None, "80"])
def test_plain_help_lists_each_command_with_the_whole_first_paragraph_of_its_help(columns: str | None) -> None:
    # Found from the outside: `billit-etl --help | cat` showed `List the companies the API key reaches: PartyID,
    # name,...` and `Load invoices to push from two CSV or XLSX files (e.g.`.
    helps = _help_of_every_command(columns)
    for path, command in _commands(typer.main.get_command(app)).items():
        if not isinstance(command, click.Group | typer.core.TyperGroup):
            continue
        listing = " ".join(helps[path].partition("Commands:")[2].split())
        assert "..." not in listing, f"{path}:\n{helps[path]}"
        for sub in command.commands.values():
            summary = " ".join((sub.help or "").split("\n\n")[0].split())
            assert summary and summary in listing, f"{path} {sub.name}: {summary!r} not whole in\n{helps[path]}"


def test_a_long_message_piped_is_one_line_not_wrapped_at_the_log_width() -> None:
    # Found from the outside: `sandbox serve > log` wrapped its banner mid-URL at 160 columns, `vat-return | cat`
    # its notes mid-sentence.
    message = "word " * 60 + "http://127.0.0.1:8765/_sandbox/webhooks/deliveries"
    for columns in (None, "80"):
        env = {name: value for name, value in os.environ.items() if name not in ("COLUMNS", "LINES")}
        done = subprocess.run(
            [sys.executable, "-c", f"from cli.app import console; console.print({message!r})"], cwd=REPO_ROOT,
            capture_output=True, text=True, timeout=60, env=env | ({"COLUMNS": columns} if columns else {}),
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert done.stdout.splitlines() == [message.strip()], (columns, done.stdout)


def test_rich_help_is_kept_for_terminals_wide_enough_to_cut_nothing() -> None:
    assert not rich_help(None) and not rich_help(RICH_HELP_MIN_WIDTH - 1) and rich_help(RICH_HELP_MIN_WIDTH)
    helps = _help_of_every_command(str(RICH_HELP_MIN_WIDTH))
    assert "╭─ Options" in helps["sandbox serve"]
    for path, text in helps.items():
        assert "…" not in text, f"{path}:\n{text}"


SUMMARY_COLUMNS = ["stream", "mode", "status", "requests", "new", "changed", "unchanged", "deleted", "pending", "lines",
                   "quarantined", "seconds"]  # fmt: skip
SUMMARY_ROWS = [
    ["incoming", "incremental", "succeeded", 79, 77, 0, 0, 0, 0, 349, 0, 0.4],
    ["sales", "incremental", "succeeded", 105, 103, 0, 0, 0, 0, 12558, 0, 10.3],
]
RUNS_COLUMNS = ["company", "stream", "status", "started (UTC)", "requests", "new", "changed", "deleted", "lines",
                "quarantined", "pending", "error"]  # fmt: skip
RUNS_ROWS = [
    [574991, "incoming", "failed", datetime(2026, 12, 6, 3, 48, 8), 105, 103, 0, 0, 558, 0, 0,
     "Billit: 401 Unauthorized on GET https://api.sandbox.billit.be/v1/orders?$filter=LastModified"],
    [574991, "sales", "succeeded", datetime(2026, 12, 6, 3, 48, 7), 6, 4, 0, 0, 7, 0, 0, None],
]  # fmt: skip
WATERMARK_COLUMNS = ["company", "stream", "last_modified", "order_id", "updated (UTC)"]
WATERMARK_ROWS = [[574991, "incoming", "2026-12-04T17:10:26.265714", 2600179, datetime(2026, 12, 6, 3, 48, 7)]]


def _render(columns: list[str], rows: list[list[object]], width: int, **options: object) -> list[str]:
    """The table laid out for `width`, printed on a much wider console: what a console of `width` would crop
    (the right-hand columns of a table too wide for it) shows as lines longer than `width`."""
    out = io.StringIO()
    Console(file=out, width=400, color_system=None).print(data_table("t", columns, rows, width=width, **options))
    return [line.rstrip() for line in out.getvalue().splitlines()]


@pytest.mark.parametrize("width", [160, 100, 80])
@pytest.mark.parametrize(
    ("columns", "rows", "prose"),
    [
        (SUMMARY_COLUMNS, SUMMARY_ROWS, ()),
        (RUNS_COLUMNS, RUNS_ROWS, ("error",)),
        (WATERMARK_COLUMNS, WATERMARK_ROWS, ()),
    ],
    ids=["sync summary", "last runs", "watermarks"],
)
def test_a_table_keeps_every_value_whole_and_every_column_at_100_and_80_columns(
    columns: list[str], rows: list[list[object]], prose: tuple[str, ...], width: int
) -> None:
    lines = _render(columns, rows, width, prose=prose, right=columns[4:])
    text = "\n".join(lines)
    assert "…" not in text and max(map(len, lines)) <= width, text
    for row in rows:
        for label, value in zip(columns, row, strict=True):
            if value is None or label in prose:
                continue
            # A value is never cut or folded: each of its words (a timestamp's date and time) on one line.
            for word in (f"{value:%Y-%m-%d %H:%M:%S}" if isinstance(value, datetime) else str(value)).split():
                assert any(word in line for line in lines), f"{word!r} cut:\n{text}"
    if prose:
        assert "LastModified" in "".join(line.strip() for line in lines).replace(" ", "")


def test_a_table_that_fits_keeps_its_box_and_one_line_per_row() -> None:
    lines = _render(WATERMARK_COLUMNS, WATERMARK_ROWS, 100)
    assert lines[1].lstrip().startswith("┏") and len(lines) == 6


def _summaries(width: int, summaries: list[dict[str, object]], monkeypatch: pytest.MonkeyPatch) -> str:
    out = io.StringIO()
    monkeypatch.setattr(cli_sync, "console", Console(file=out, width=width, color_system=None))
    monkeypatch.setattr(cli_tables, "console", Console(file=io.StringIO(), width=width, color_system=None))
    cli_sync.print_summaries(summaries)
    return out.getvalue()


def _summary(company: int, stream: str) -> dict[str, object]:
    counts = dict(zip(SUMMARY_COLUMNS[3:], SUMMARY_ROWS[0][3:], strict=True))
    return {"company_id": company, "stream": stream, "mode": "replay", "status": "succeeded", **counts} | {
        "requests": 0,
        "orders_new": 77,
        "lines_loaded": 349,
        "duration_s": 0.4,
        "watermark_before": None,
        "watermark_after": "2026-12-04T17:10:26.265714",
    }


def test_the_sync_summary_keeps_its_values_whole_at_80_columns(monkeypatch: pytest.MonkeyPatch) -> None:
    text = _summaries(80, [_summary(574991, "incoming"), _summary(574991, "sales")], monkeypatch)
    assert "…" not in text and "company" not in text
    for word in ("incoming", "sales", "replay", "succeeded", "349"):
        assert word in text, text


def test_a_summary_of_several_companies_names_the_company_of_each_run(monkeypatch: pytest.MonkeyPatch) -> None:
    text = _summaries(160, [_summary(574991, "incoming"), _summary(574992, "incoming")], monkeypatch)
    rows = [line for line in text.splitlines() if "incoming" in line and "replay" in line]
    assert len(rows) == 2 and "574991" in rows[0] and "574992" in rows[1], text
    assert "  574992 incoming: watermark (none) -> 2026-12-04T17:10:26.265714" in text.splitlines()


@pytest.mark.parametrize("width", [100, 80])
def test_a_table_whose_headers_do_not_fit_whole_shows_its_rows_as_records(width: int) -> None:
    """Found by a newcomer on an 80-column terminal: `compan/y`, `requ/ests`, `pe/nd/in/g`, split mid-word."""
    lines = _render(RUNS_COLUMNS, RUNS_ROWS, width, prose=("error",), right=RUNS_COLUMNS[4:])
    assert max(map(len, lines)) <= width
    for row in RUNS_ROWS:
        for label, value in zip(RUNS_COLUMNS[:-1], row[:-1], strict=True):  # the error wraps at its spaces
            assert re.search(rf"^{re.escape(label)} +{re.escape(cell(value))}$", "\n".join(lines), re.M), lines


def test_an_empty_table_keeps_its_title_on_one_line() -> None:
    out = io.StringIO()
    Console(file=out, width=80, color_system=None).print(data_table("Pending orders", ["(none)"], [], width=80))
    assert out.getvalue().splitlines()[0].strip() == "Pending orders"
