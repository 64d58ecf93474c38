"""Limits of the sync options, checked by `run_stream` and, without importing the pipeline, by the CLI's edge."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from pydantic_settings import BaseSettings, SettingsConfigDict

#: Billit's timestamps are naive local time, very likely Brussels (docs/reference/billit-api.md#timestamps).
BILLIT_TIME_ZONE = ZoneInfo("Europe/Brussels")

#: The longest look-back accepted: ten years (the nightly run uses a week; a longer one re-lists everything).
MAX_LOOKBACK_MINUTES = 3653 * 24 * 60


class InvalidSyncOption(ValueError):
    """A sync option out of its range; the message names the option and the range."""


def billit_local(moment: datetime | None) -> datetime | None:
    """A window bound as Billit's naive local time: one with an offset (`...+02:00`, `...Z`) is converted."""
    if moment is None or moment.tzinfo is None:
        return moment
    return moment.astimezone(BILLIT_TIME_ZONE).replace(tzinfo=None)


def check_window(*, since: datetime | None, until: datetime | None, lookback_minutes: float) -> None:
    """Refuse options that would skip changes for good or overflow: a negative or absurd look-back, an empty
    or reversed window."""
    if not 0 <= lookback_minutes <= MAX_LOOKBACK_MINUTES:  # also refuses NaN
        raise InvalidSyncOption(
            f"lookback_minutes must be between 0 and {MAX_LOOKBACK_MINUTES} (ten years), not {lookback_minutes}: a "
            "negative look-back skips changes for good"
        )
    if since is not None and until is not None and until <= since:
        raise InvalidSyncOption(f"until ({until:%Y-%m-%d %H:%M}) must be after since ({since:%Y-%m-%d %H:%M})")


class VatReturnSettings(BaseSettings):
    """How the company's VAT return is made, where the invoices cannot say."""

    model_config = SettingsConfigDict(
        env_prefix="BILLIT_VAT_", env_file=".env", env_file_encoding="utf-8", extra="ignore", env_ignore_empty=True
    )

    # The company imports under a deferral licence (ET 14.000): imports (Cost code 70) go to 87, 57 and 59.
    # Read when orders are loaded; replay the landing after changing it.
    import_deferral_licence: bool = False
