"""`billit-etl webhooks register|list|delete|rotate` against the sandbox over real HTTP, with the secrets kept in an
env file: idempotent registration, the limit's refusal as one line, deletion and rotation (checked on a real
delivery), another company, and no secret ever on screen, in a log line or anywhere but the store."""

from __future__ import annotations

import asyncio
import logging
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from cli.main import app
from connectors.billit import BillitClient, load_settings
from connectors.billit.webhook_signature import SignatureRejected, verify
from sandbox.faults import Faults
from sandbox.identity import API_KEY, PARTY_ID, SECOND_PARTY_ID
from sandbox.quirks import Quirks
from sandbox.server import SandboxServer
from sandbox.store import Sandbox
from tasks import runtime
from tasks.webhook_secrets import EnvFileStore
from tests.sandbox.webhook_receiver import WebhookReceiver
from tests.tasks.sync_helpers import SEED_START

runner = CliRunner()
URL = "https://receiver.example.com/billit"


def registered(url: str, company: int = PARTY_ID) -> str:
    """The URL as Billit is given it: the company it was registered for says whose orders its calls name."""
    return f"{url}?company={company}"


DEFAULT_EVENTS = {("Message", "I"), ("Message", "U"), ("Order", "U"), ("Order", "D")}
OTHER_LINES = "# kept\nBILLIT_SOMETHING=1 # a comment\n\nWAREHOUSE_URL=sqlite:///x.sqlite\n"


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    with SandboxServer(Sandbox(seed=23, orders=30, seed_start=SEED_START)) as running:
        yield running


@pytest.fixture
def operator(
    server: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> Iterator[Path]:
    """Billit settings in the environment, the env file in the working directory, every log line captured; the
    sandbox is left with no webhooks, faults or quirks. Afterwards no secret the sandbox ever handed out is in a
    log line (the outputs are checked by `run`)."""
    monkeypatch.setenv("BILLIT_BASE_URL", server.base_url)
    monkeypatch.setenv("BILLIT_API_KEY", API_KEY)
    monkeypatch.setenv("BILLIT_PARTY_ID", str(PARTY_ID))
    monkeypatch.setenv("BILLIT_BACKOFF_BASE_S", "0.01")
    monkeypatch.setenv("COLUMNS", "250")
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    runtime._engine_for.cache_clear()
    caplog.set_level(logging.DEBUG)
    issued.clear()
    yield tmp_path
    assert not [secret for secret in issued if secret in caplog.text]
    server.sandbox.injector.update({**Faults().to_dict(), "script": []})
    server.sandbox.quirks = Quirks()
    for company in (PARTY_ID, SECOND_PARTY_ID):
        for hook in server.sandbox.webhooks.registry.listing(company):
            server.sandbox.webhooks.registry.delete(company, hook.webhook_id)


issued: set[str] = set()  # every secret the sandbox handed out in the current test


def sandbox_secrets(server: SandboxServer, company: int = PARTY_ID) -> dict[str, str]:
    secrets = {str(hook.webhook_id): hook.secret for hook in server.sandbox.webhooks.registry.listing(company)}
    issued.update(secrets.values())
    return secrets


def run(server: SandboxServer, *args: str) -> Result:
    """The command, in-process; its output never holds a secret the sandbox handed out."""
    result = runner.invoke(app, ["webhooks", *args])
    sandbox_secrets(server)
    sandbox_secrets(server, SECOND_PARTY_ID)
    assert not [secret for secret in issued if secret in result.output], result.output
    assert "Traceback" not in result.output, result.output
    return result


def one_line(result: Result, exit_code: int) -> str:
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == exit_code and len(lines) == 1, result.output
    return lines[0]


def stored() -> dict[str, str]:
    return EnvFileStore(Path(".env")).read()


def events(server: SandboxServer, company: int = PARTY_ID) -> set[tuple[str, str, str]]:
    return {
        (hook.entity_type, hook.update_type, hook.url) for hook in server.sandbox.webhooks.registry.listing(company)
    }


def test_register_makes_the_default_events_stores_their_secrets_and_a_second_run_keeps_them(
    server: SandboxServer, operator: Path
) -> None:
    (operator / ".env").write_text(OTHER_LINES)
    (operator / ".env").chmod(0o644)
    first = run(server, "register", "--url", URL)
    assert first.exit_code == 0, first.output
    assert events(server) == {(entity, update, registered(URL)) for entity, update in DEFAULT_EVENTS}
    secrets = sandbox_secrets(server)
    assert stored() == secrets and runtime.load_webhook_secrets() == secrets  # what the receiver reads
    assert first.output.count("new, stored in the env file .env") == 4
    assert stat.S_IMODE((operator / ".env").stat().st_mode) == 0o600
    assert (operator / ".env").read_text().startswith(OTHER_LINES)

    second = run(server, "register", "--url", URL + "/")  # the same URL, with a trailing slash
    assert second.exit_code == 0, second.output
    assert second.output.count("held in the env file .env") == 4
    assert sandbox_secrets(server) == secrets and stored() == secrets  # nothing made, nothing refreshed

    missing = sorted(secrets)[0]
    EnvFileStore(Path(".env")).write({k: v for k, v in secrets.items() if k != missing})
    third = run(server, "register", "--url", URL)
    assert third.exit_code == 0 and third.output.count("refreshed, stored in") == 1, third.output
    now = sandbox_secrets(server)
    assert now[missing] != secrets[missing] and stored() == now and set(now) == set(secrets)


@pytest.mark.parametrize("command", [["register", "--url", URL], ["rotate"]])
@pytest.mark.parametrize("where", ["missing/dir/.env", "a-directory", "a-loop"])
def test_an_env_file_that_cannot_be_written_is_refused_before_billit_hands_out_a_secret(
    server: SandboxServer, operator: Path, command: list[str], where: str
) -> None:
    """Found from the outside: register asked Billit for new secrets, could not write them, and lost them; Billit
    signed with secrets nobody held, so the receiver refused every call."""
    assert run(server, "register", "--url", URL).exit_code == 0
    before = sandbox_secrets(server)
    (operator / "a-directory").mkdir()
    (operator / "a-loop").symlink_to(operator / "a-loop")
    line = one_line(run(server, *command, "--env-file", where), exit_code=2)
    assert line.startswith(f"cannot write the webhook secrets to {where} (") and "nothing was asked of Billit" in line
    assert sandbox_secrets(server) == before and stored() == before


@pytest.mark.parametrize("command", [["list"], ["register", "--url", URL], ["rotate"], ["delete", "--all"]])
def test_without_a_company_the_line_names_the_option_these_commands_have(
    server: SandboxServer, operator: Path, monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    """Found from the outside: it said "pass --companies/--company", and these commands only take --company."""
    monkeypatch.delenv("BILLIT_PARTY_ID")
    line = one_line(run(server, *command), exit_code=2)
    assert "set BILLIT_PARTY_ID or pass --company" in line and "--companies" not in line, line


def test_register_warns_in_one_yellow_line_for_http_and_takes_other_events(
    server: SandboxServer, operator: Path
) -> None:
    local = "http://127.0.0.1:9/billit"
    result = run(server, "register", "--url", local, "--events", "order:u, Message/U")
    assert result.exit_code == 0, result.output
    assert [line for line in result.stderr.splitlines() if "https" in line] == [
        "Billit only calls https:// URLs (with a valid certificate); http:// suits a local simulator only"
    ]
    assert "https" not in result.stdout  # a warning, on stderr: stdout stays the table
    assert events(server) == {("Order", "U", registered(local)), ("Message", "U", registered(local))}


def test_billits_refusal_beyond_its_limit_is_one_line_saying_how_many_exist(
    server: SandboxServer, operator: Path
) -> None:
    assert run(server, "register", "--url", URL).exit_code == 0
    line = one_line(run(server, "register", "--url", "https://other.example.com/hook"), 1)
    assert line.startswith(f"Billit: registering Message I for company {PARTY_ID} was refused (GenericError: ")
    assert "The maximum number of 4 webhooks" in line
    assert "The company has 4 webhooks" in line and "webhooks list" in line and "webhooks delete" in line
    assert len(stored()) == 4


def test_a_create_whose_answer_is_lost_is_found_in_the_listing_and_its_secret_refreshed(
    server: SandboxServer, operator: Path
) -> None:
    server.sandbox.injector.update({"script": ["ok", "post-commit-drop"]})  # the listing, then the first create
    result = run(server, "register", "--url", URL)
    assert result.exit_code == 0, result.output
    assert result.output.count("refreshed, stored in") == 1 and result.output.count("new, stored in") == 3
    assert stored() == sandbox_secrets(server) and len(stored()) == 4


def test_list_shows_each_webhook_and_whether_its_secret_is_held(server: SandboxServer, operator: Path) -> None:
    run(server, "register", "--url", URL, "--events", "Order:U,Order:D")
    secrets = sandbox_secrets(server)
    kept = sorted(secrets)[0]
    EnvFileStore(Path(".env")).write({kept: secrets[kept]})
    result = run(server, "list")
    assert result.exit_code == 0, result.output
    rows = {line.split("│")[1].strip(): line for line in result.output.splitlines() if line.count("│") >= 5}
    assert set(rows) - {"id"} == set(secrets)
    for webhook_id, row in rows.items():
        if webhook_id != "id":
            assert ("│ yes" in row) == (webhook_id == kept) and URL in row
    assert "2 webhooks" in result.output


def test_delete_by_id_by_url_and_all_drops_the_secrets_too(server: SandboxServer, operator: Path) -> None:
    other = "https://other.example.com/hook"
    run(server, "register", "--url", URL, "--events", "Order:U,Order:D")
    run(server, "register", "--url", other, "--events", "Message:U")
    by_url = {hook.webhook_id: hook.url for hook in server.sandbox.webhooks.registry.listing(PARTY_ID)}
    first = next(str(webhook_id) for webhook_id, url in by_url.items() if url == registered(URL))

    assert run(server, "delete", first).exit_code == 0
    assert first not in sandbox_secrets(server) and first not in stored() and len(stored()) == 2
    assert run(server, "delete", "--url", other).exit_code == 0
    assert events(server) == {("Order", "D", registered(URL))} and len(stored()) == 1
    assert run(server, "delete", "--all").exit_code == 0
    assert events(server) == set() and stored() == {}
    assert one_line(run(server, "delete", "--all"), 0) == f"Webhooks deleted: none (company {PARTY_ID})"
    assert "BILLIT_WEBHOOK_SECRETS" not in (operator / ".env").read_text()

    line = one_line(run(server, "delete", "424242"), 2)  # neither Billit nor the store knows it
    assert "has no webhook 424242" in line and "webhooks list" in line
    assert "one of them" in one_line(run(server, "delete"), 2)
    assert "one of them" in one_line(run(server, "delete", "1", "--all"), 2)


def test_rotate_gives_new_secrets_and_only_the_new_one_verifies_a_delivery(
    server: SandboxServer, operator: Path
) -> None:
    with WebhookReceiver() as receiver:
        assert run(server, "register", "--url", receiver.url, "--events", "Order:U").exit_code == 0
        old = stored()
        result = run(server, "rotate")
        assert result.exit_code == 0 and result.output.count("new, stored in the env file .env") == 1, result.output
        new = stored()
        assert set(new) == set(old) and new == sandbox_secrets(server) and new != old

        order_id = next(iter(server.sandbox.company_orders(PARTY_ID)))
        _mark_paid(server, order_id)
        [call] = receiver.wait_for(1)
    header = call.headers["billit-signature"]
    signed_at = int(header.split(",")[0].removeprefix("t="))
    assert verify(header, call.body, new, now=signed_at).webhook_id == next(iter(new))
    with pytest.raises(SignatureRejected, match="matches no webhook secret"):
        verify(header, call.body, old, now=signed_at)


def test_rotate_by_id_and_an_unknown_id_is_one_line(server: SandboxServer, operator: Path) -> None:
    run(server, "register", "--url", URL, "--events", "Order:U,Order:D")
    before = stored()
    chosen = sorted(before)[1]
    assert run(server, "rotate", chosen).exit_code == 0
    after = stored()
    assert after[chosen] != before[chosen] and {k: v for k, v in after.items() if k != chosen} == {
        k: v for k, v in before.items() if k != chosen
    }
    assert "has no webhook 99" in one_line(run(server, "rotate", "99"), 2)


def test_another_company_the_key_reaches_has_its_own_webhooks(server: SandboxServer, operator: Path) -> None:
    result = run(server, "register", "--url", URL, "--events", "Order:U", "--company", str(SECOND_PARTY_ID))
    assert result.exit_code == 0 and f"company {SECOND_PARTY_ID}" in result.output, result.output
    assert (
        events(server, SECOND_PARTY_ID) == {("Order", "U", registered(URL, SECOND_PARTY_ID))}
        and events(server) == set()
    )
    assert stored() == sandbox_secrets(server, SECOND_PARTY_ID)
    line = one_line(run(server, "list", "--company", "999999"), 2)
    assert "does not reach Billit company 999999" in line


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["register", "--url", URL, "--events", "Order:X"], "--events: 'Order:X' is not an event"),
        (["register", "--url", URL, "--events", "Invoice:U"], "--events: 'Invoice:U' is not an event"),
        (["register", "--url", "ftp://example.com/x"], "--url: 'ftp://example.com/x' is not an http(s) URL"),
        (["register", "--url", "https://"], "is not an http(s) URL"),
        (["list", "--env-file", "a.env", "--secret-block", "b"], "give --env-file or --secret-block, not both"),
        (["rotate", "abc"], "'abc' is not a WebhookID"),
    ],
)
def test_operator_mistakes_are_one_red_line_and_exit_2(
    server: SandboxServer, operator: Path, args: list[str], expected: str
) -> None:
    assert expected in one_line(run(server, *args), 2)
    assert events(server) == set() and not (operator / ".env").exists()


def test_no_api_key_and_an_unreachable_billit_are_one_line(
    server: SandboxServer, operator: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BILLIT_API_KEY")
    assert "BILLIT_API_KEY" in one_line(run(server, "register", "--url", URL), 2)
    monkeypatch.setenv("BILLIT_API_KEY", API_KEY)
    monkeypatch.setenv("BILLIT_BASE_URL", "http://127.0.0.1:1")
    monkeypatch.setenv("BILLIT_MAX_RETRIES", "0")
    assert one_line(run(server, "list"), 1).startswith("Billit: GET /v1/webhooks: ConnectError")


def test_malformed_secrets_in_the_env_file_are_one_line_naming_it_without_quoting_them(
    server: SandboxServer, operator: Path
) -> None:
    (operator / ".env").write_text('BILLIT_WEBHOOK_SECRETS={"1": "whsec-LEAK"\n')
    line = one_line(run(server, "list"), 2)
    assert "BILLIT_WEBHOOK_SECRETS" in line and "not valid JSON" in line and "LEAK" not in line


def _mark_paid(server: SandboxServer, order_id: int) -> None:
    async def patch() -> None:
        async with BillitClient(load_settings()) as billit:
            await billit.patch_order(order_id, {"Paid": True})

    asyncio.run(patch())


@pytest.mark.slow
@pytest.mark.xdist_group("prefect")
def test_on_a_prefect_server_the_secrets_go_to_a_secret_block_the_receiver_reads(
    server: SandboxServer, operator: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from prefect.blocks.system import Secret

    from tests.flows.prefect_harness import prefect_harness

    with prefect_harness():
        result = run(server, "register", "--url", URL, "--events", "Order:U,Order:D", "--secret-block", "hooks")
        assert result.exit_code == 0 and result.output.count("new, stored in the Prefect Secret block 'hooks'") == 2
        secrets = sandbox_secrets(server)
        assert not (operator / ".env").exists()
        assert runtime.load_webhook_secrets() == {}  # the default block holds nothing yet
        monkeypatch.setenv("BILLIT_WEBHOOK_SECRETS_BLOCK", "hooks")
        assert runtime.load_webhook_secrets() == secrets
        assert secrets[sorted(secrets)[0]] not in repr(Secret.load("hooks"))

        assert run(server, "rotate", "--secret-block", "hooks").exit_code == 0
        rotated = sandbox_secrets(server)
        assert runtime.load_webhook_secrets() == rotated and not set(rotated.values()) & set(secrets.values())
        listing = run(server, "list", "--secret-block", "hooks")
        assert listing.output.count("│ yes") == 2, listing.output

        monkeypatch.setenv("BILLIT_WEBHOOK_SECRETS", '{"1": "from-the-environment"}')
        assert runtime.load_webhook_secrets() == {"1": "from-the-environment"}  # the environment first
        shadowed = run(server, "rotate", "--secret-block", "hooks")
        assert "wins over the Prefect Secret block 'hooks'" in shadowed.output
        assert run(server, "delete", "--all", "--secret-block", "hooks").exit_code == 0
        monkeypatch.delenv("BILLIT_WEBHOOK_SECRETS")
        assert runtime.load_webhook_secrets() == {}


def test_a_delete_whose_answer_is_lost_is_repeated_and_its_404_means_deleted(
    server: SandboxServer, operator: Path
) -> None:
    run(server, "register", "--url", URL, "--events", "Order:U")
    [webhook_id] = stored()
    server.sandbox.injector.update({"script": ["ok", "post-commit-drop"]})  # the listing, then the delete
    result = run(server, "delete", webhook_id)
    assert result.exit_code == 0 and "deleted; dropped from the store" in result.output, result.output
    assert events(server) == set() and stored() == {}


def test_a_refresh_whose_answer_is_lost_is_one_line_saying_to_rotate_that_webhook_again(
    server: SandboxServer, operator: Path
) -> None:
    run(server, "register", "--url", URL, "--events", "Order:U")
    [webhook_id] = before = stored()
    server.sandbox.injector.update({"script": ["ok", "post-commit-drop"]})  # the listing, then the refresh
    line = one_line(run(server, "rotate"), 1)
    assert line.startswith("Billit: POST /v1/webhooks/refresh/") and f"webhooks rotate {webhook_id}`" in line
    assert stored() == before != sandbox_secrets(server)  # Billit changed it; we could not know the new one
    assert run(server, "rotate", webhook_id).exit_code == 0
    assert stored() == sandbox_secrets(server)


def test_an_unreachable_prefect_server_holding_the_secrets_is_one_line(operator: Path) -> None:
    """The installed command, in its own process: Prefect reads PREFECT_API_URL when it is imported."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("PREFECT_")}
    env |= {"PREFECT_API_URL": "http://127.0.0.1:1/api", "PREFECT_HOME": str(operator / "prefect")}
    done = subprocess.run(
        [str(Path(sys.executable).with_name("billit-etl")), "webhooks", "list"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2 and done.stdout == "", done.stdout + done.stderr
    [line] = done.stderr.splitlines()
    assert line.startswith("cannot read the Prefect Secret block 'billit-webhook-secrets' on the Prefect server")
    assert "check PREFECT_API_URL" in line
