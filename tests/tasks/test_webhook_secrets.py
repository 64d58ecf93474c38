"""The webhook secrets: `BILLIT_WEBHOOK_SECRETS` parsed and refused by name without quoting it, the env file's line
rewritten atomically with mode 0600 and every other line kept, and the store chosen from the options."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from connectors.billit.webhook_settings import (
    DEFAULT_SECRETS_BLOCK,
    WebhookSecretsError,
    load_webhook_settings,
    parse_webhook_secrets,
)
from tasks import runtime
from tasks.webhook_secrets import (
    EnvFileStore,
    PrefectBlockStore,
    choose_store,
    replace_secrets_line,
    shadowing_note,
    update_secrets,
)

SECRET = "whsec-LEAKCHECK-3b7e"  # distinctive, so a leak is easy to find


@pytest.fixture(autouse=True)
def _here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PREFECT_API_URL", raising=False)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# ---- the settings ----------------------------------------------------------------------------------------


def test_the_secrets_are_read_from_the_environment_with_ids_as_text_and_whitespace_dropped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BILLIT_WEBHOOK_SECRETS", f'{{"81001": "{SECRET}\\n", " 81002 ": "other"}}')
    assert load_webhook_settings().secrets() == {"81001": SECRET, "81002": "other"}
    assert SECRET not in repr(load_webhook_settings())
    assert load_webhook_settings().webhook_secrets_block == DEFAULT_SECRETS_BLOCK


def test_the_secrets_are_read_from_dot_env_when_the_environment_has_none(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(f'OTHER=1\nBILLIT_WEBHOOK_SECRETS=\'{{"7":"{SECRET}"}}\'\n')
    assert load_webhook_settings().secrets() == {"7": SECRET}
    assert runtime.load_webhook_secrets() == {"7": SECRET}  # no Prefect server: the same


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (f'{{"1": "{SECRET}"', "is not valid JSON"),
        (f'["{SECRET}"]', "not a JSON list"),
        (f'"{SECRET}"', "not a JSON str"),
        ('{"1": 12345}', "the secret of webhook '1' must be a non-empty printable text"),
        ('{"1": "  "}', "the secret of webhook '1'"),
        (f'{{"": "{SECRET}"}}', "entry 1 has no WebhookID"),
        (f'{{"1": "{SECRET}\\u0007"}}', "the secret of webhook '1'"),
    ],
)
def test_malformed_secrets_are_one_error_naming_the_variable_that_never_quotes_them(
    value: str, problem: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BILLIT_WEBHOOK_SECRETS", value)
    with pytest.raises(WebhookSecretsError) as error:
        load_webhook_settings().secrets()
    message = str(error.value)
    assert message.count("BILLIT_WEBHOOK_SECRETS") == 1 and problem in message
    assert SECRET not in message and "LEAKCHECK" not in message and "\n" not in message
    assert error.value.__cause__ is None and error.value.__context__ is None


def test_an_empty_value_counts_as_no_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BILLIT_WEBHOOK_SECRETS", "  ")
    assert load_webhook_settings().secrets() == {}
    assert parse_webhook_secrets("{}", source="x") == {}


# ---- the env file ----------------------------------------------------------------------------------------

OTHER_LINES = (
    "# Billit\n",
    "BILLIT_API_KEY=key # a comment\n",
    "\n",
    'export BILLIT_WEBHOOK_SECRETS=\'{"1":"old"}\'\n',
    "WAREHOUSE_URL=sqlite:///data/warehouse.sqlite\n",
    'BILLIT_WEBHOOK_SECRETS="{\n',
    '  \\"2\\": \\"multi-line\\"}"\n',
    "LAST=1",
)


def test_the_secrets_line_replaces_the_first_assignment_and_removes_later_ones_keeping_every_other_line() -> None:
    new = "BILLIT_WEBHOOK_SECRETS='{}'\n"
    assert replace_secrets_line(list(OTHER_LINES), new) == [
        *OTHER_LINES[:3],
        new,
        OTHER_LINES[4],
        OTHER_LINES[7],
    ]
    assert replace_secrets_line(["A=1"], new) == ["A=1\n", new]  # appended after a last line without newline
    assert replace_secrets_line(["A=1\n", "BILLIT_WEBHOOK_SECRETS=x\n"], None) == ["A=1\n"]


def test_a_new_env_file_is_created_with_mode_0600_and_an_existing_one_is_tightened(tmp_path: Path) -> None:
    store = EnvFileStore(Path(".env"))
    update_secrets(store, put={"81001": SECRET})
    assert mode(tmp_path / ".env") == 0o600
    assert store.read() == {"81001": SECRET}

    existing = tmp_path / "shared.env"
    existing.write_text("".join(OTHER_LINES))
    existing.chmod(0o644)
    store = EnvFileStore(existing)
    assert store.read() == {"2": "multi-line"}  # the last assignment wins for a dotenv reader
    update_secrets(store, put={"3": "it's#a $secret"}, drop=["2"])
    assert mode(existing) == 0o600
    lines = existing.read_text().splitlines(keepends=True)
    assert [line for line in lines if "WEBHOOK" not in line] == [
        line for line in OTHER_LINES if "WEBHOOK" not in line and "multi" not in line
    ]
    assert store.read() == {"3": "it's#a $secret"}  # quotes, #, $ survive the dotenv reader
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []  # the temporary file is gone


def test_the_receiver_reads_what_the_env_file_store_wrote(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("BILLIT_PARTY_ID=1\n")
    update_secrets(EnvFileStore(Path(".env")), put={"5": SECRET, "6": "x'y"})
    assert runtime.load_webhook_secrets() == {"5": SECRET, "6": "x'y"}
    update_secrets(EnvFileStore(Path(".env")), drop=["5", "6"])
    assert (tmp_path / ".env").read_text() == "BILLIT_PARTY_ID=1\n"  # no secrets left: no line
    assert runtime.load_webhook_secrets() == {}


def test_a_symlinked_env_file_is_written_through_its_link(tmp_path: Path) -> None:
    target = tmp_path / "real.env"
    target.write_text("A=1\n")
    (tmp_path / ".env").symlink_to(target)
    update_secrets(EnvFileStore(Path(".env")), put={"9": SECRET})
    assert (tmp_path / ".env").is_symlink() and mode(target) == 0o600
    assert EnvFileStore(target).read() == {"9": SECRET}


def test_a_failed_write_leaves_the_file_as_it_was_and_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = tmp_path / ".env"
    env.write_text("A=1\n")

    def refuse(source: object, target: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(OSError, match="disk full"):
        update_secrets(EnvFileStore(env), put={"9": SECRET})
    assert env.read_text() == "A=1\n" and sorted(p.name for p in tmp_path.iterdir()) == [".env"]


# ---- which store -----------------------------------------------------------------------------------------


def test_the_store_is_the_env_file_without_a_prefect_server_else_the_block(monkeypatch: pytest.MonkeyPatch) -> None:
    assert choose_store() == EnvFileStore(Path(".env"))
    assert choose_store(env_file="ops/billit.env") == EnvFileStore(Path("ops/billit.env"))
    assert choose_store(secret_block=" mine ") == PrefectBlockStore("mine")
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:4200/api")
    assert choose_store() == PrefectBlockStore(DEFAULT_SECRETS_BLOCK)
    monkeypatch.setenv("BILLIT_WEBHOOK_SECRETS_BLOCK", "other-block")
    assert choose_store() == PrefectBlockStore("other-block")
    assert choose_store(env_file=".env") == EnvFileStore(Path(".env"))  # named: the file all the same


def test_a_store_the_receiver_would_not_read_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    assert shadowing_note(EnvFileStore(Path(".env"))) is None
    monkeypatch.setenv("BILLIT_WEBHOOK_SECRETS", f'{{"1": "{SECRET}"}}')
    note = shadowing_note(EnvFileStore(Path(".env")))
    assert note is not None and "wins over .env" in note and SECRET not in note
    block_note = shadowing_note(PrefectBlockStore("b"))
    assert block_note is not None and "'b'" in block_note and SECRET not in block_note
