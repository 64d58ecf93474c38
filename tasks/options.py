"""Limits of the sync options, checked by `run_stream` and, without importing the pipeline, by the CLI's edge."""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
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


def check_landing_dir(landing_dir: str | Path | None) -> None:
    """Refuse a landing directory that cannot be made or written, before any work (a flow's parameter too: found
    from the outside, `landing_dir=/proc/nope` failed a deployment's run with the driver's FileNotFoundError)."""
    if not landing_dir:
        return
    try:
        Path(landing_dir).mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=landing_dir):
            pass
    except OSError as exc:
        raise InvalidSyncOption(
            f"cannot write the landing directory {landing_dir}: {exc.strerror or exc} (make it writable, or choose "
            "another with --landing-dir, the flows' landing_dir; '' skips landing)"
        ) from None


def check_backfill(
    *, since: datetime, until: datetime, slices: int, streams: Sequence[str], known: Sequence[str]
) -> None:
    """Refuse a backfill's parameters before any slice is submitted (found from the outside: a bad stream failed
    every slice, and the parent said only that they did not complete)."""
    check_window(since=billit_local(since), until=billit_local(until), lookback_minutes=0)
    if slices < 1:
        raise InvalidSyncOption(f"slices must be at least 1, not {slices}")
    if unknown := [stream for stream in streams if stream not in known]:
        raise InvalidSyncOption(f"unknown stream {unknown[0]!r}: choose among {', '.join(known)}")


class VatReturnSettings(BaseSettings):
    """How the company's VAT return is made, where the invoices cannot say."""

    model_config = SettingsConfigDict(
        env_prefix="BILLIT_VAT_", env_file=".env", env_file_encoding="utf-8", extra="ignore", env_ignore_empty=True
    )

    # The company imports under a deferral licence (ET 14.000): imports (Cost code 70) go to 87, 57 and 59.
    # Read when orders are loaded; replay the landing after changing it.
    import_deferral_licence: bool = False
