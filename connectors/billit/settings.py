"""Typed configuration of the Billit connector, read from `BILLIT_*` environment variables (or `.env`).

Every knob is listed in `.env.example`. `load_settings()` turns pydantic's validation errors into one
`SettingsError` that names the environment variable to fix and never echoes a secret back.
"""

from __future__ import annotations

from pydantic import Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "BILLIT_"
SANDBOX_BASE_URL = "https://api.sandbox.billit.be"
PRODUCTION_BASE_URL = "https://api.billit.be"


class SettingsError(ValueError):
    """A setting is missing or invalid; the message names the environment variable."""


class BillitSettings(BaseSettings):
    """How to reach Billit and how hard to push it."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    base_url: str = Field(SANDBOX_BASE_URL, description="API root, without /v1.")
    api_key: SecretStr | None = Field(None, description="Personal API key (header ApiKey).")
    bearer_token: SecretStr | None = Field(None, description="OAuth access token, instead of an API key.")
    party_id: int = Field(..., gt=0, description="Company the calls act on (header PartyID).")
    context_party_id: int | None = Field(None, gt=0, description="Accountant's own company (ContextPartyID).")
    timeout_s: float = Field(30.0, gt=0, description="Read/write/pool timeout per request attempt.")
    connect_timeout_s: float = Field(10.0, gt=0, description="TCP/TLS connect timeout.")
    max_concurrency: int = Field(8, ge=1, le=64, description="Requests in flight at once, per client.")
    max_retries: int = Field(6, ge=0, le=20, description="Retries of one request on 429, 5xx and I/O errors.")
    backoff_base_s: float = Field(0.5, gt=0, description="First backoff step; doubles each retry, full jitter.")
    backoff_max_s: float = Field(30.0, gt=0, description="Upper bound of one backoff step.")
    max_retry_after_s: float = Field(
        300.0, gt=0, description="Longest Retry-After honoured; a longer one fails the request instead."
    )

    @model_validator(mode="after")
    def _exactly_one_credential(self) -> BillitSettings:
        if (self.api_key is None) == (self.bearer_token is None):
            raise ValueError(
                f"set exactly one of {ENV_PREFIX}API_KEY or {ENV_PREFIX}BEARER_TOKEN (an OAuth access token)"
            )
        if not self.base_url.startswith(("http://", "https://")):
            raise ValueError(f"{ENV_PREFIX}BASE_URL must start with http:// or https://")
        return self


def load_settings(**overrides: object) -> BillitSettings:
    """Read the settings from the environment, failing with a message that names each bad variable."""
    try:
        return BillitSettings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_input=False, include_url=False):
            location = [str(part) for part in error["loc"] if part != "__root__"]
            variable = ENV_PREFIX + location[0].upper() if location else "settings"
            message = error["msg"].removeprefix("Value error, ")
            problems.append(f"{variable}: {message}" if location else message)
        raise SettingsError("invalid Billit settings: " + "; ".join(problems)) from None
