"""Prefect's temporary test server, given time to start on a loaded CI machine."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any

from prefect.testing.utilities import prefect_test_harness

#: ~13 s on an idle machine; a CI machine running the rest of the suite on both cores has needed more than
#: Prefect's default 30 s ("Timed out while attempting to connect to ephemeral Prefect API server").
STARTUP_TIMEOUT_S = 120


def prefect_harness() -> AbstractContextManager[Any]:
    return prefect_test_harness(server_startup_timeout=STARTUP_TIMEOUT_S)
