"""What one push run carries: its options, its summary, its id, and the one-at-a-time door to the warehouse."""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
import weakref
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from tasks.options import InvalidSyncOption

T = TypeVar("T")


#: Rows that need a person (rejected, failed, changed after create) named in a run's artifact; the rest are counted.
PROBLEMS_SHOWN = 200


@dataclass
class PushSummary:
    considered: int = 0
    created: int = 0
    already_existed: int = 0
    # Of those, orders an earlier attempt made from values the row no longer has (not sent while flagged).
    differs_in_billit: int = 0
    sent: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    failed: int = 0
    not_sent: Counter[str] = field(default_factory=Counter)
    # Of those, rows Billit refused to send or could not be asked about (its error on the row; the next run retries),
    # and rows held back as changed since their create: each makes the run exit 1.
    send_failed: int = 0
    # Credit notes left pending because the invoice they credit is not created yet.
    waiting: int = 0
    # A dry run's first rejected rows (external_id, code, reason): it writes no outcome, so it keeps them to show.
    rejected_rows: list[dict[str, str]] = field(default_factory=list)
    # Pushable rows another live run holds, and until when (its claims expire without a heartbeat).
    held_elsewhere: int = 0
    held_until: datetime | None = None
    # Rows pending or failed with a billit_order_id: neither created nor sent by any run until a person decides.
    skipped_with_order_id: int = 0

    @property
    def ok(self) -> bool:
        return not (
            self.rejected or self.failed or self.differs_in_billit or self.skipped_with_order_id or self.send_failed
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "considered": self.considered,
            "created": self.created,
            "already_existed": self.already_existed,
            "differs_in_billit": self.differs_in_billit,
            "sent": self.sent,
            "rejected": sum(self.rejected.values()),
            "rejected_by_reason": dict(self.rejected),
            "failed": self.failed,
            "not_sent_by_reason": dict(self.not_sent),
            "waiting": self.waiting,
            "rejected_rows": self.rejected_rows,
            "held_elsewhere": self.held_elsewhere,
            "held_until": self.held_until.isoformat(sep=" ", timespec="seconds") if self.held_until else None,
            "skipped_with_order_id": self.skipped_with_order_id,
        }


#: Why a push needs a warehouse that exists (a mistyped SQLite path would be a new, empty one, and every run green).
PUSH_READS_THE_WAREHOUSE = "a push reads the invoices to create from it: load-outbound fills it"

#: The transport types `commands/send` takes (docs/reference/billit-api.md#sending); `Email` is not one (SMTP is).
TRANSPORT_TYPES = ("Peppol", "SMTP", "Letter", "SDI", "KSeF", "OSA", "ANAF", "SAT", "MyInvois", "Chorus", "PDP")


def transport_type(text: str) -> str:
    """A transport type as Billit spells it; InvalidSyncOption (one line) for one Billit does not document."""
    spelled = {name.lower(): name for name in TRANSPORT_TYPES}.get(text.strip().lower())
    if spelled is None:
        hint = " (e-mail is SMTP)" if text.strip().lower() in ("email", "e-mail", "mail") else ""
        raise InvalidSyncOption(
            f"--transport {text!r} is not one Billit sends by{hint}: one of {', '.join(TRANSPORT_TYPES)}"
        )
    return spelled


@dataclass(frozen=True)
class PushOptions:
    limit: int | None = None
    send: bool = False
    transport: str = "Peppol"
    check_participants: bool = True
    dry_run: bool = False
    # Rows claimed at a time: small enough that concurrent runs share the rows, large enough that a claim's one
    # write transaction (claim, rejections, attempts) is paid once for many creates (bench/README.md).
    batch_size: int = 50
    # Rows in flight at most (created or in backoff); the client bounds the HTTP requests themselves.
    window: int = 100

    def __post_init__(self) -> None:  # an unknown transport would be refused by every send, after the creates
        if self.send:
            object.__setattr__(self, "transport", transport_type(self.transport))


_warehouse_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = weakref.WeakKeyDictionary()


async def warehouse_call(function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a warehouse call in a thread, one at a time per run: concurrent writers would wait on SQLite's lock in
    its busy handler (sleeps of up to 100 ms), which cost more than the calls themselves."""
    lock = _warehouse_locks.setdefault(asyncio.get_running_loop(), asyncio.Lock())
    async with lock:
        return await asyncio.to_thread(function, *args, **kwargs)


def new_run_id() -> str:
    """`host/pid/uuid`: a claim names the process that holds it, so a dead one's claims can be freed at once."""
    return f"{socket.gethostname()}/{os.getpid()}/{uuid.uuid4().hex}"
