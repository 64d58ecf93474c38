"""Where `billit-etl webhooks register` and `rotate` keep the webhooks' signing secrets: the `BILLIT_WEBHOOK_SECRETS`
line of an env file, or a Prefect Secret block, both holding one JSON object `{"<WebhookID>": "<secret>"}`
(`connectors.billit.webhook_settings`); the receiver reads them back with `tasks.runtime.load_webhook_secrets`.

The env file is rewritten atomically (a temporary file beside it, then a rename): only the `BILLIT_WEBHOOK_SECRETS`
line changes, every other line and comment stays, and the file ends with mode 0600 whatever it had. A secret is
never printed, logged or put in an exception; a store says where it is (`where`), never what it holds.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import httpx
from dotenv import dotenv_values
from pydantic import SecretStr

from connectors.billit.webhook_settings import (
    SECRETS_VARIABLE,
    dump_webhook_secrets,
    load_webhook_settings,
    parse_webhook_secrets,
)
from tasks.runtime import prefect_by_default

DEFAULT_ENV_FILE = ".env"
FILE_MODE = 0o600

# The variable's line, `export` or not; its value may be quoted and then span lines up to the closing quote.
_SECRETS_LINE = re.compile(rf"^\s*(?:export\s+)?{SECRETS_VARIABLE}\s*=\s*(?P<value>.*)$")


class SecretStoreUnreachable(ConnectionError):
    """The Prefect server holding the secrets' block cannot be reached; the message says which and what to do."""


class SecretStoreUnwritable(OSError):
    """The env file for the webhook secrets cannot be written; the message says which and what to do."""


class SecretStore(Protocol):
    """A place holding the JSON of the webhook secrets."""

    @property
    def where(self) -> str:
        """Where the secrets are, for the operator ("the env file .env", "the Prefect Secret block 'x'")."""
        ...

    def read(self) -> dict[str, str]: ...

    def write(self, secrets: Mapping[str, str]) -> None: ...

    def check_writable(self) -> None:
        """Raise, with what to do, when `write` could not write: asked before Billit hands out a secret, which
        would otherwise be lost while Billit signs with it."""
        ...


def update_secrets(
    store: SecretStore, *, put: Mapping[str, str] | None = None, drop: Iterable[str] = ()
) -> dict[str, str]:
    """Add or replace the secrets `put`, remove those of the WebhookIDs `drop`, and write the store once. The
    secrets it holds afterwards."""
    secrets = store.read()
    for webhook_id in drop:
        secrets.pop(str(webhook_id), None)
    secrets.update(put or {})
    store.write(secrets)
    return secrets


@dataclass(frozen=True)
class EnvFileStore:
    """The `BILLIT_WEBHOOK_SECRETS=` line of an env file (written single-quoted, so no shell or dotenv reader
    expands what is inside)."""

    path: Path

    @property
    def where(self) -> str:
        return f"the env file {self.path}"

    def read(self) -> dict[str, str]:
        if not self.path.exists():
            return {}
        value = dotenv_values(self.path, encoding="utf-8").get(SECRETS_VARIABLE)
        return parse_webhook_secrets(value or "", source=f"{SECRETS_VARIABLE} in {self.path}")

    def check_writable(self) -> None:
        try:
            target = self.path.resolve()  # RuntimeError: a symlink loop
            if target.is_dir():
                raise IsADirectoryError(errno.EISDIR, "a directory")
            descriptor, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
            os.close(descriptor)
            os.unlink(temporary)
        except (OSError, RuntimeError) as exc:
            cause = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise SecretStoreUnwritable(
                f"cannot write the webhook secrets to {self.path} ({cause}): nothing was asked of "
                "Billit; choose a file whose directory exists and is writable with --env-file"
            ) from None

    def write(self, secrets: Mapping[str, str]) -> None:
        target = self.path.resolve()  # a symlinked .env: write the file it points to, keep the link
        lines = target.read_text(encoding="utf-8").splitlines(keepends=True) if target.exists() else []
        write_private_file(target, "".join(replace_secrets_line(lines, env_file_line(secrets))))


def env_file_line(secrets: Mapping[str, str]) -> str | None:
    """The env file's line for `secrets`, None when there are none. A `'` inside becomes JSON's `\\u0027`, so the
    single quotes around the value always hold."""
    if not secrets:
        return None
    value = dump_webhook_secrets(dict(secrets)).replace("'", "\\u0027")
    return f"{SECRETS_VARIABLE}='{value}'\n"


def replace_secrets_line(lines: list[str], line: str | None) -> list[str]:
    """`lines` with the first `BILLIT_WEBHOOK_SECRETS` assignment replaced by `line` (appended when there is none,
    removed when `line` is None) and any later one removed; every other line kept as it was."""
    kept: list[str] = []
    placed = False
    closing: str | None = None  # the quote a multi-line value of the old assignment waits for
    for text in lines:
        if closing is not None:
            if closing in text:
                closing = None
            continue
        match = _SECRETS_LINE.match(text.rstrip("\r\n"))
        if match is None:
            kept.append(text)
            continue
        value = match["value"]
        if value[:1] in ("'", '"') and value[1:].find(value[0]) < 0:
            closing = value[0]
        if not placed and line is not None:
            kept.append(line)
        placed = True
    if not placed and line is not None:
        if kept and not kept[-1].endswith("\n"):
            kept[-1] += "\n"
        kept.append(line)
    return kept


def write_private_file(path: Path, text: str) -> None:
    """Write `path` atomically with mode 0600: a temporary file in its directory, flushed, then renamed over it."""
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(descriptor, FILE_MODE)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


@dataclass(frozen=True)
class PrefectBlockStore:
    """A Prefect Secret block holding the secrets' JSON (on the configured Prefect server)."""

    name: str

    @property
    def where(self) -> str:
        return f"the Prefect Secret block {self.name!r}"

    def read(self) -> dict[str, str]:
        from prefect.blocks.system import Secret  # only when secrets go to a Prefect server

        try:
            block = Secret.load(self.name)
        except ValueError:  # no such block yet
            return {}
        except (httpx.HTTPError, OSError) as exc:
            raise self._unreachable("read", exc) from None
        return parse_webhook_secrets(block.get(), source=self.where)  # type: ignore[union-attr]  # sync context

    def write(self, secrets: Mapping[str, str]) -> None:
        from prefect.blocks.system import Secret

        try:
            Secret(value=SecretStr(dump_webhook_secrets(dict(secrets)))).save(self.name, overwrite=True)
        except (httpx.HTTPError, OSError) as exc:
            raise self._unreachable("write", exc) from None

    def check_writable(self) -> None:
        """Nothing more to ask: every command reads the block first, which proves the server answers (a block
        cannot be tried without writing it)."""

    def _unreachable(self, action: str, exc: Exception) -> SecretStoreUnreachable:
        cause = " ".join(f"{type(exc).__name__}: {exc}".split())[:200]
        return SecretStoreUnreachable(
            f"cannot {action} {self.where} on the Prefect server ({cause}): check PREFECT_API_URL, or keep the "
            "secrets in an env file with --env-file"
        )


def choose_store(*, env_file: str | None = None, secret_block: str | None = None) -> SecretStore:
    """The store `--env-file` or `--secret-block` names; without either, the Secret block
    (`BILLIT_WEBHOOK_SECRETS_BLOCK`, default `billit-webhook-secrets`) when a Prefect server is configured
    (PREFECT_API_URL), else `.env` in the current directory."""
    if secret_block is not None:
        return PrefectBlockStore(secret_block.strip())
    if env_file is None and prefect_by_default():
        return PrefectBlockStore(load_webhook_settings().webhook_secrets_block)
    return EnvFileStore(Path(env_file or DEFAULT_ENV_FILE))


def shadowing_note(store: SecretStore) -> str | None:
    """Why a receiver would not read what `store` holds, when it would not: the environment's
    `BILLIT_WEBHOOK_SECRETS` wins over any file, and the environment or `.env` win over a block."""
    if isinstance(store, EnvFileStore):
        if os.environ.get(SECRETS_VARIABLE, "").strip():
            return (
                f"{SECRETS_VARIABLE} is set in this environment, and wins over {store.path}: "
                "the receiver reads the environment's secrets, update them there too"
            )
        return None
    if load_webhook_settings().secrets():
        return (
            f"{SECRETS_VARIABLE} is set in the environment or .env, and wins over {store.where}: "
            "remove it there for the receiver to read the block"
        )
    return None
