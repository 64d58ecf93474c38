"""`billit-etl webhooks serve` and `webhooks apply`: operator mistakes are one red line; the installed command
receives, stores and applies a signed call, and stops gracefully on SIGTERM; `apply` applies what is stored once."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

import cli.webhooks_serve  # noqa: F401 - registers the commands on the webhooks group
from cli.main import app
from connectors.billit.webhook_signature import Signed
from connectors.warehouse import create_warehouse_engine, upgrade
from sandbox.identity import API_KEY, PARTY_ID
from sandbox.server import SandboxServer
from sandbox.store import Sandbox
from tasks import runtime
from tasks.inbound.webhook_events import store_event
from tests.tasks.sync_helpers import SEED_START
from tests.tasks.webhook_helpers import SECRET, SECRETS, events, invoice, order_event, signed_headers, wait_for

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def server() -> Iterator[SandboxServer]:
    with SandboxServer(Sandbox(seed=8, orders=200, seed_start=SEED_START, hold_deliveries=True)) as running:
        yield running


@pytest.fixture
def operator(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, server: SandboxServer) -> Iterator[Path]:
    monkeypatch.setenv("BILLIT_BASE_URL", server.base_url)
    monkeypatch.setenv("BILLIT_API_KEY", API_KEY)
    monkeypatch.setenv("BILLIT_PARTY_ID", str(PARTY_ID))
    monkeypatch.setenv("BILLIT_BACKOFF_BASE_S", "0.01")
    monkeypatch.setenv("WAREHOUSE_URL", f"sqlite:///{tmp_path / 'warehouse.sqlite'}")
    warehouse = create_warehouse_engine(os.environ["WAREHOUSE_URL"])
    upgrade(warehouse)  # the receiver keeps an existing warehouse up to date
    warehouse.dispose()
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    runtime._engine_for.cache_clear()
    yield tmp_path
    runtime._engine_for.cache_clear()


def red_line(arguments: list[str]) -> str:
    result = runner.invoke(app, arguments)
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 2, result.output
    assert len(lines) == 1 and "Traceback" not in result.output, result.output
    return lines[0]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_serve_without_any_webhook_secret_is_one_red_line(operator: Path) -> None:
    line = red_line(["webhooks", "serve", "--port", str(free_port())])
    assert "no webhook secret is configured" in line and "webhooks register" in line


def test_serve_on_a_port_in_use_is_one_red_line(operator: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BILLIT_WEBHOOK_SECRETS", json.dumps(SECRETS))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        line = red_line(["webhooks", "serve", "--port", str(port)])
    assert line == f"cannot listen on 127.0.0.1:{port}: the port is in use (choose another with --port)"
    assert SECRET not in line


@pytest.mark.parametrize("command", [["webhooks", "serve"], ["webhooks", "apply"]], ids=lambda c: c[1])
def test_a_bad_warehouse_url_is_one_red_line(
    operator: Path, monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    monkeypatch.setenv("BILLIT_WEBHOOK_SECRETS", json.dumps(SECRETS))
    assert red_line([*command, "--warehouse-url", "foo"]).startswith("--warehouse-url is not a database URL")


@pytest.mark.parametrize("command", [["webhooks", "serve"], ["webhooks", "apply"]], ids=lambda c: c[1])
def test_a_warehouse_that_does_not_exist_is_refused_not_created(
    operator: Path, monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    """Found from the outside: a mistyped path made a new warehouse, and the receiver stored and applied the events
    there, while the one the dashboards read stayed behind."""
    monkeypatch.setenv("BILLIT_WEBHOOK_SECRETS", json.dumps(SECRETS))
    mistyped = operator / "warehouse.sqlite3"
    with socket.socket() as taken:  # were the warehouse not checked first, the receiver would stop here, not serve
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = ["--port", str(taken.getsockname()[1])] if command[1] == "serve" else []
        line = red_line([*command, *port, "--warehouse-url", f"sqlite:///{mistyped}"])
    assert line == (
        f"no warehouse at {mistyped}: check --warehouse-url (the receiver keeps an existing warehouse up to date: a "
        "sync or billit-etl db upgrade makes it)"
    )
    assert not mistyped.exists()


def test_apply_applies_what_is_stored_once(operator: Path, server: SandboxServer) -> None:
    engine = create_warehouse_engine(os.environ["WAREHOUSE_URL"])
    order_id = next(i for i, o in server.sandbox.company_orders(PARTY_ID).items() if o["OrderDirection"] == "Income")
    store_event(engine, Signed("wh-123", 1_800_000_000, "cd" * 32), json.loads(order_event(order_id)))
    first = runner.invoke(app, ["webhooks", "apply"])
    again = runner.invoke(app, ["webhooks", "apply"])
    assert first.exit_code == again.exit_code == 0, first.output + again.output
    assert "1 applied (1 orders fetched); 0 wait for a retry" in first.output
    assert "nothing due" in again.output
    assert invoice(engine, order_id) is not None and [e["status"] for e in events(engine)] == ["applied"]


def test_apply_without_billit_party_id_applies_the_events_that_name_their_company(
    operator: Path, server: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Found from the outside: one event without a company made every event of the claim wait, for ever.
    monkeypatch.delenv("BILLIT_PARTY_ID")
    engine = create_warehouse_engine(os.environ["WAREHOUSE_URL"])
    nameless, named = sorted(
        i for i, o in server.sandbox.company_orders(PARTY_ID).items() if o["OrderDirection"] == "Income"
    )[:2]
    store_event(engine, Signed("wh-123", 1_800_000_001, "ab" * 32), json.loads(order_event(nameless)))
    store_event(engine, Signed("wh-123", 1_800_000_002, "cd" * 32), json.loads(order_event(named)), company_id=PARTY_ID)
    result = runner.invoke(app, ["webhooks", "apply"])
    assert result.exit_code == 0, result.output
    assert "1 applied, 1 failed (1 orders fetched)" in result.output
    assert [event["status"] for event in events(engine)] == ["failed", "applied"]
    assert "BILLIT_PARTY_ID is not set" in events(engine)[0]["last_error"]


def test_serve_without_billit_party_id_receives_for_the_company_each_url_names(
    operator: Path, server: SandboxServer
) -> None:
    # Found from the outside: serve refused to start without BILLIT_PARTY_ID, though every URL `webhooks register`
    # gives Billit carries ?company= and one receiver serves every company of the key.
    engine = create_warehouse_engine(os.environ["WAREHOUSE_URL"])
    order_id = next(i for i, o in server.sandbox.company_orders(PARTY_ID).items() if o["OrderDirection"] == "Income")
    port = free_port()
    environment = {key: value for key, value in os.environ.items() if key != "BILLIT_PARTY_ID"}
    process = _started_receiver(port, environment)
    try:
        body = order_event(order_id)
        url = f"http://127.0.0.1:{port}/webhooks/billit?company={PARTY_ID}"
        assert httpx.post(url, content=body, headers=signed_headers(body)).status_code == 200
        wait_for(lambda: invoice(engine, order_id) is not None, 15, "the order loaded")
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=30)
    assert "Traceback" not in err, err
    assert [(event["status"], event["company_id"]) for event in events(engine)] == [("applied", PARTY_ID)]


def test_the_installed_command_receives_applies_and_stops_gracefully(operator: Path, server: SandboxServer) -> None:
    engine = create_warehouse_engine(os.environ["WAREHOUSE_URL"])
    order_id = next(i for i, o in server.sandbox.company_orders(PARTY_ID).items() if o["OrderDirection"] == "Income")
    server.sandbox.touch_order(order_id, Paid=True, OrderStatus="Paid")
    port = free_port()
    process = _started_receiver(port, os.environ)
    try:
        body = order_event(order_id)
        answer = httpx.post(f"http://127.0.0.1:{port}/webhooks/billit", content=body, headers=signed_headers(body))
        assert answer.status_code == 200 and answer.json()["stored"] is True
        forged = httpx.post(f"http://127.0.0.1:{port}/", content=body, headers=signed_headers(body, secret="guess"))
        assert forged.status_code == 401
        wait_for(lambda: (row := invoice(engine, order_id)) is not None and row["paid"], 15, "the payment loaded")
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)
    # uvicorn shuts down gracefully, then ends by the signal it caught (as a process stopped by SIGTERM does).
    assert process.returncode in (0, -signal.SIGTERM), err
    assert err.rstrip().endswith("the webhook receiver stopped"), err
    assert "Traceback" not in err and SECRET not in out + err
    assert "refused a webhook call from 127.0.0.1: the signature matches no webhook secret" in err
    assert [event["status"] for event in events(engine)] == ["applied"]


def _answers(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        time.sleep(0.1)
        return False


def _started_receiver(port: int, environment: Mapping[str, str]) -> subprocess.Popen[str]:
    """The installed `billit-etl webhooks serve` in its own process, once it listens (stopped if it does not)."""
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "billit-etl"), "webhooks", "serve", "--port", str(port)],
        env={**environment, "BILLIT_WEBHOOK_SECRETS": json.dumps(SECRETS), "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: _answers(port) or process.poll() is not None, 30, "the receiver to listen")
        assert process.poll() is None, process.communicate()
    except BaseException:
        process.kill()
        raise
    return process
