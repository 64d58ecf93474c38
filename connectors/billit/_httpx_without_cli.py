"""`import httpx` without httpx's own command-line client.

httpx's package imports its command-line client, which loads click, rich.syntax and pygments when they are
installed (Prefect installs them): 2.4 MiB of a sync's peak RSS for a command we never run
(bench/README.md#sync-all). httpx falls back to a stub when that import fails, so this module marks it as absent;
imported by `connectors.billit` before anything there imports httpx. Where httpx is already imported (a Prefect
process), it changes nothing.
"""

import sys

sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
