"""What the command-line tests check of a command's output, and count of the sandbox's requests."""

from __future__ import annotations

from click.testing import Result

from sandbox.server import SandboxServer


def one_line(result: Result, exit_code: int = 2) -> str:
    """The output is exactly one line (our red line), no traceback, and the exit code is `exit_code`."""
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == exit_code, result.output
    assert len(lines) == 1, result.output
    assert "Traceback" not in result.output
    return lines[0]


def requests_sent(server: SandboxServer) -> int:
    """Every `/v1` request the sandbox has answered, for any company."""
    return sum(sum(per_status.values()) for per_status in server.sandbox.requests_per_company.values())
