"""What `billit-etl sync` shows while it runs (cli/sync_progress.py): a total only when the listing says it, plain
lines when stdout is not a terminal, a bar with the total and the time left on one."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from cli.main import app
from cli.sync_progress import sync_progress
from connectors.billit.odata import PAGE_SIZE
from sandbox.identity import API_KEY, PARTY_ID
from sandbox.server import SandboxServer
from sandbox.store import Sandbox
from tasks import runtime
from tasks.inbound.state import LoadCounts
from tests.tasks.sync_helpers import SEED_START

runner = CliRunner()
DONE = re.compile(
    r"^(?P<stream>\w+): done in \d+:\d\d:\d\d, (?P<listed>[\d,]+)(?: of (?P<total>[\d,]+))? orders listed"
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    with SandboxServer(Sandbox(seed=8, orders=600, seed_start=SEED_START)) as running:
        yield running


@pytest.fixture
def billit_env(server: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BILLIT_BASE_URL", server.base_url)
    monkeypatch.setenv("BILLIT_API_KEY", API_KEY)
    monkeypatch.setenv("BILLIT_PARTY_ID", str(PARTY_ID))
    monkeypatch.setenv("WAREHOUSE_URL", f"sqlite:///{tmp_path / 'warehouse.sqlite'}")
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.chdir(tmp_path)
    runtime._engine_for.cache_clear()


def _orders_of(server: SandboxServer, direction: str) -> list[int]:
    orders = server.sandbox.company_orders(PARTY_ID).values()
    return [order["OrderID"] for order in orders if order["OrderDirection"] == direction]


def _done_lines(output: str) -> dict[str, re.Match[str]]:
    return {match["stream"]: match for line in output.splitlines() if (match := DONE.match(line))}


def _plain() -> tuple[io.StringIO, Console]:
    out = io.StringIO()
    return out, Console(file=out, width=200)


def test_plain_lines_with_a_total_say_how_far_the_rate_and_the_time_left_at_most_every_interval() -> None:
    clock = FakeClock()
    out, console = _plain()
    with sync_progress(console, clock=clock, every_s=10) as progress, progress.stream("sales") as shown:
        shown.listed(120, 300)  # the first line at once
        clock.now += 5
        shown.listed(240, 300)  # within the interval: no line
        clock.now += 7
        shown.loaded(LoadCounts(orders_new=200, orders_changed=3, lines_loaded=1_250))
        clock.now += 3
        shown.listed(300, 300)
    assert out.getvalue().splitlines() == [
        "sales: 120 of 300 orders listed (40%), 0 new, 0 changed, 0 lines loaded",
        "sales: 240 of 300 orders listed (80%), 200 new, 3 changed, 1,250 lines loaded, 20 orders/s, "
        "about 0:00:03 left",
        "sales: done in 0:00:15, 300 of 300 orders listed (100%), 200 new, 3 changed, 1,250 lines loaded, 20 orders/s",
    ]


def test_plain_lines_without_a_total_give_the_counts_and_never_a_share_or_a_time_left() -> None:
    clock = FakeClock()
    out, console = _plain()
    with sync_progress(console, clock=clock, every_s=10) as progress, progress.stream("incoming") as shown:
        shown.listed(120, None)
        clock.now += 12
        shown.listed(480, None)
    assert out.getvalue().splitlines() == [
        "incoming: 120 orders listed, 0 new, 0 changed, 0 lines loaded",
        "incoming: 480 orders listed, 0 new, 0 changed, 0 lines loaded, 40 orders/s",
        "incoming: done in 0:00:12, 480 orders listed, 0 new, 0 changed, 0 lines loaded, 40 orders/s",
    ]


def test_on_a_terminal_a_stream_with_a_total_gets_a_bar_and_one_without_keeps_the_counts() -> None:
    clock = FakeClock()
    console = Console(file=io.StringIO(), force_terminal=True, width=150)
    screens = []
    with sync_progress(console, clock=clock) as progress:
        with progress.stream("sales") as shown:
            shown.listed(120, 300)
            shown.loaded(LoadCounts(orders_new=5, lines_loaded=40))
            screens.append(_screen(progress))
        with progress.stream("incoming") as shown:
            shown.listed(120, None)
            screens.append(_screen(progress))
    with_total, without = screens
    assert "sales: 5 new, 0 changed, 40 lines loaded" in with_total and "120/300" in with_total
    assert "━" in with_total and "-:--:--" in with_total  # the bar, and the time left (unknown until a rate)
    assert "incoming: 120 listed, 0 new" in without and "/" not in without and "━" not in without


def _screen(progress: object) -> str:
    recorder = Console(file=io.StringIO(), width=150, record=True)
    recorder.print(progress.progress.get_renderable())  # type: ignore[attr-defined]
    return recorder.export_text()


def test_the_cli_not_on_a_terminal_prints_plain_lines_with_a_total_only_when_the_listing_gives_one(
    server: SandboxServer, billit_env: None
) -> None:
    sales, purchases = _orders_of(server, "Income"), _orders_of(server, "Cost")
    assert len(sales) > PAGE_SIZE  # the first run lists sales over several pages: no Count, so no total

    first = runner.invoke(app, ["sync", "all", "--no-prefect"])
    assert first.exit_code == 0, first.output
    assert "\x1b" not in first.output and "\r" not in first.output  # nothing redrawn
    done = _done_lines(first.output)
    assert done["sales"]["total"] is None and int(done["sales"]["listed"].replace(",", "")) == len(sales)
    assert not any(line.startswith("sales: ") and " of " in line for line in first.output.splitlines())
    if len(purchases) < PAGE_SIZE:  # the probe page is the whole window: its size is the total
        assert done["incoming"]["total"] == done["incoming"]["listed"] == f"{len(purchases):,}"

    for order_id in sales[:3]:
        server.sandbox.touch_order(order_id, Comments="changed")
    second = runner.invoke(app, ["sync", "sales", "--no-prefect"])
    assert second.exit_code == 0, second.output
    again = _done_lines(second.output)["sales"]
    assert again["total"] is not None and again["total"] == again["listed"]
    assert 3 <= int(again["total"]) < PAGE_SIZE
    assert f"{again['listed']} of {again['total']} orders listed (100%), 0 new, 3 changed," in again.string
