"""Typed settings of the webhook secrets: `BILLIT_WEBHOOK_SECRETS` and `BILLIT_WEBHOOK_SECRETS_BLOCK`, from the
environment or `.env` (the environment wins), listed in `.env.example`.

Billit gives each webhook its own signing secret (docs/reference/billit-api.md#webhooks), so the receiver holds
several: `BILLIT_WEBHOOK_SECRETS` is one JSON object, `{"<WebhookID>": "<secret>", ...}`, which
`billit-etl webhooks register` and `rotate` write. On a Prefect server the same JSON may live in a Secret block
instead (`tasks.runtime.load_webhook_secrets` reads it there; this module knows nothing of Prefect).

A malformed value is one `SettingsError` naming the variable, and never quotes it: the secrets are in it.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from connectors.billit.settings import ENV_PREFIX, SettingsError

SECRETS_VARIABLE = f"{ENV_PREFIX}WEBHOOK_SECRETS"
BLOCK_VARIABLE = f"{ENV_PREFIX}WEBHOOK_SECRETS_BLOCK"
#: The Prefect Secret block holding the secrets' JSON when the environment has none.
DEFAULT_SECRETS_BLOCK = "billit-webhook-secrets"

_SHAPE = 'a JSON object of WebhookID to secret, e.g. {"123": "<secret>"}'


class WebhookSecretsError(SettingsError):
    """The webhook secrets are malformed; the message names where they are (a variable, a block), never them."""


class WebhookSettings(BaseSettings):
    """Where the webhooks' signing secrets are."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        env_ignore_empty=True,
        hide_input_in_errors=True,
    )

    webhook_secrets: SecretStr | None = Field(None, description="JSON object: WebhookID -> secret.")
    webhook_secrets_block: str = Field(
        DEFAULT_SECRETS_BLOCK, min_length=1, description="Prefect Secret block holding the same JSON."
    )

    @field_validator("webhook_secrets", mode="before")
    @classmethod
    def _valid_secrets(cls, value: Any) -> Any:
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        if isinstance(value, dict):
            value = json.dumps(value)
        if value is None:
            return None
        if not isinstance(value, str):
            raise ValueError(f"must be {_SHAPE}")
        if not value.strip():
            return None
        parse_webhook_secrets(value, source=SECRETS_VARIABLE)  # ValueError (a SettingsError) names the problem
        return value.strip()

    @field_validator("webhook_secrets_block", mode="before")
    @classmethod
    def _clean_block(cls, value: Any) -> Any:
        return value.strip() if isinstance(value, str) else value

    def secrets(self) -> dict[str, str]:
        """WebhookID -> secret; empty when the variable is not set."""
        if self.webhook_secrets is None:
            return {}
        return parse_webhook_secrets(self.webhook_secrets.get_secret_value(), source=SECRETS_VARIABLE)


def parse_webhook_secrets(text: str | dict[str, Any], *, source: str) -> dict[str, str]:
    """WebhookID -> secret from the JSON text of `source` (a variable, a block, a file): an object whose keys are
    WebhookIDs and whose values are non-empty secrets (surrounding whitespace dropped). `WebhookSecretsError`
    names `source` and what is wrong, never a secret."""
    if isinstance(text, str):
        if not text.strip():
            return {}
        try:
            value = json.loads(text)
        except ValueError as exc:
            where = f" (line {exc.lineno} column {exc.colno})" if isinstance(exc, json.JSONDecodeError) else ""
            raise WebhookSecretsError(f"{source}: is not valid JSON{where}; it must be {_SHAPE}") from None
    else:
        value = text
    if not isinstance(value, dict):
        raise WebhookSecretsError(f"{source}: must be {_SHAPE}, not a JSON {type(value).__name__}")
    secrets: dict[str, str] = {}
    for position, (key, secret) in enumerate(value.items(), start=1):
        webhook_id = key.strip()
        if not webhook_id or not webhook_id.isprintable():
            raise WebhookSecretsError(f"{source}: entry {position} has no WebhookID; it must be {_SHAPE}")
        if not isinstance(secret, str) or not secret.strip() or not secret.strip().isprintable():
            raise WebhookSecretsError(
                f"{source}: the secret of webhook {webhook_id!r} must be a non-empty printable text"
            )
        secrets[webhook_id] = secret.strip()
    return secrets


def dump_webhook_secrets(secrets: dict[str, str]) -> str:
    """The JSON text of `secrets`, compact, keys sorted, ASCII only (what a .env line or a block holds)."""
    return json.dumps(dict(sorted(secrets.items())), separators=(",", ":"), ensure_ascii=True)


def load_webhook_settings(**overrides: object) -> WebhookSettings:
    """The settings from the environment and `.env`; one SettingsError naming each bad variable otherwise."""
    problems = []
    try:
        return WebhookSettings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        for error in exc.errors(include_input=False, include_url=False):
            location = [str(part) for part in error["loc"]]
            variable = ENV_PREFIX + location[0].upper() if location else "settings"
            message = " ".join(error["msg"].removeprefix("Value error, ").split())
            problems.append(message if message.startswith(variable) else f"{variable}: {message}")
    # Raised outside the except block: not even the ValidationError is kept as the error's __context__.
    raise WebhookSecretsError("invalid webhook settings: " + "; ".join(problems))
