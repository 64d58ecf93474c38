"""Names in `.env` that no setting reads: a misspelt variable is otherwise ignored without a word (found by an
operator's test: `BILIT_TIMEOUT_S=5` left the timeout at its default)."""

from __future__ import annotations

import difflib
from pathlib import Path

from dotenv import dotenv_values

from connectors.warehouse.engine import WarehouseSettings
from tasks.options import VatReturnSettings
from tasks.runtime import RuntimeSettings

_OURS = ("BILLIT_", "WAREHOUSE_")


def setting_names() -> set[str]:
    """Every variable the settings read."""
    # Here, not above: the Billit connector's package brings httpx, which the commands that only read never load.
    from connectors.billit.settings import BillitSettings
    from connectors.billit.webhook_settings import WebhookSettings

    names = set()
    for settings in (BillitSettings, WebhookSettings, VatReturnSettings, RuntimeSettings, WarehouseSettings):
        prefix = settings.model_config.get("env_prefix", "")
        for name, field in settings.model_fields.items():
            alias = field.validation_alias
            names.add(alias if isinstance(alias, str) else f"{prefix}{name}".upper())
    return names


def unknown_names(path: str | Path = ".env") -> list[str]:
    """One line for each name of the `.env` file at `path` that no setting reads and that looks meant to be one:
    ours by its prefix, or a near spelling of one. Nothing when there is no such file."""
    try:
        found = dotenv_values(path) if Path(path).is_file() else {}
    except (OSError, UnicodeDecodeError):  # the settings name an unreadable .env themselves
        return []
    if not found:
        return []
    known = setting_names()
    lines = []
    for name in found:
        if name.upper() in known:  # the settings read names in any case
            continue
        near = difflib.get_close_matches(name.upper(), sorted(known), n=1, cutoff=0.85)
        if near or name.upper().startswith(_OURS):
            hint = f" (did you mean {near[0]}?)" if near else ""
            lines.append(f"{path}: {name} is not a setting, and is ignored{hint} (see .env.example)")
    return lines
