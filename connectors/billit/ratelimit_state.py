"""What the rate limiters of one API key share (connectors/billit/ratelimit.py): a few numbers and a ring of counts,
held in the process, or in a small file under the temporary directory that processes on one machine read and write
under an exclusive lock, so that two `billit-etl sync` at once pace as one client and learn one rate.
"""

from __future__ import annotations

import math
import os
import struct
import tempfile
import threading
from array import array
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

try:  # POSIX: processes on one machine share the learnt rate through a locked file
    import fcntl
except ImportError:  # pragma: no cover - Windows: each process learns on its own
    fcntl = None  # type: ignore[assignment]

__all__ = ["FileStore", "ProcessStore", "SharedState", "Store", "store_for"]

SLICE_S = 0.025
_SLICES = 100


@dataclass
class SharedState:
    """What the limiters of one API key share; plain numbers, so it can live in a file."""

    rate: float | None = None  # requests a second; None: not paced
    ceiling: float | None = None  # learnt upper bound of the server's rate
    ceiling_at: float = 0.0  # when it was learnt
    provisional: bool = False  # the ceiling was counted in a burst shorter than a second
    floor_basis: float | None = None  # the lowest rate learnt before the ceiling was firm (see _learn)
    next_at: float = 0.0  # time.monotonic() of the next free slot
    resume_at: float = 0.0  # nobody sends before (Retry-After)
    pauses: float = 0.0  # pauses and lessons so far: a slot reserved before the last is void (see ratelimit._turn)
    active_since: float = 0.0  # start of the current stretch of sending (first request, end of a pause)
    episode_at: float = 0.0  # when the last episode began
    refused_ticket: float | None = None  # the first refused request of an episode not yet learnt from
    refused_active_since: float = 0.0
    probed_at: float = 0.0
    waited: bool = False  # a request waited for its slot since probed_at: the pace is what holds us back
    used_at: float = 0.0
    # Requests answered (not 429) by the 25 ms slice they were let through in, over the last 2.5 s: a ring of
    # counts, so the state stays small however fast requests go. Arrays: the file holds their bytes as they are.
    accepted: array[int] = field(default_factory=lambda: array("i", [0] * _SLICES))
    accepted_slices: array[int] = field(default_factory=lambda: array("q", [-1] * _SLICES))

    def count_accepted(self, ticket: float) -> None:
        slice_ = int(ticket / SLICE_S)
        index = slice_ % _SLICES
        if self.accepted_slices[index] != slice_:
            self.accepted_slices[index], self.accepted[index] = slice_, 0
        self.accepted[index] += 1

    def accepted_between(self, start: float, end: float) -> float:
        """Accepted requests let through in [start, end]; the slices cut by either end count pro rata."""
        total = 0.0
        for count, slice_ in zip(self.accepted, self.accepted_slices, strict=True):
            low, high = slice_ * SLICE_S, (slice_ + 1) * SLICE_S
            overlap = min(high, end) - max(low, start)
            if overlap > 0:
                total += count * min(1.0, overlap / SLICE_S)
        return total


class Store(Protocol):
    def transaction(self) -> Any: ...  # a context manager yielding the SharedState, saved at the end


class ProcessStore:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._state = SharedState()

    @contextmanager
    def transaction(self) -> Iterator[SharedState]:
        with self._lock:
            yield self._state


class FileStore:
    """The state in a file, read and written under an exclusive `flock` (processes on one machine)."""

    def __init__(self, path: Path) -> None:
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)  # open for the process's life, like a lock file
        self._lock = threading.Lock()  # flock is per open file description: threads of a process queue here

    @contextmanager
    def transaction(self) -> Iterator[SharedState]:
        with self._lock:
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            try:
                raw = os.pread(self._fd, _FILE_SIZE, 0)
                state = _unpack(raw) if len(raw) == _FILE_SIZE else SharedState()  # else: new, or another version's
                yield state
                os.pwrite(self._fd, _pack(state), 0)
            finally:
                fcntl.flock(self._fd, fcntl.LOCK_UN)


# The file: the numbers of SharedState in field order (None as NaN), then the ring of accepted counts and its slices
# in the machine's byte order (only processes of this machine share the file); packed, because it is read and
# written twice per request (~10 µs each way).
_NUMBERS = [name for name in SharedState.__dataclass_fields__ if name not in ("accepted", "accepted_slices")]
_FLAGS = ("waited", "provisional")
_HEADER = struct.Struct(f"={len(_NUMBERS)}d")
_COUNTS_END = _HEADER.size + _SLICES * array("i").itemsize
_FILE_SIZE = _COUNTS_END + _SLICES * array("q").itemsize


def _pack(state: SharedState) -> bytes:
    numbers = [math.nan if (value := getattr(state, name)) is None else float(value) for name in _NUMBERS]
    return b"".join((_HEADER.pack(*numbers), state.accepted.tobytes(), state.accepted_slices.tobytes()))


def _unpack(raw: bytes) -> SharedState:
    state = SharedState.__new__(SharedState)  # the fields are all set here: no default made only to be replaced
    state.__dict__.update(
        (name, None if value != value else value)  # NaN: None
        for name, value in zip(_NUMBERS, _HEADER.unpack_from(raw), strict=True)
    )
    for name in _FLAGS:
        setattr(state, name, bool(getattr(state, name)))
    state.accepted, state.accepted_slices = array("i"), array("q")
    state.accepted.frombytes(raw[_HEADER.size : _COUNTS_END])
    state.accepted_slices.frombytes(raw[_COUNTS_END:_FILE_SIZE])
    return state


def store_for(digest: str) -> Store:
    """The state of the key whose one-way `digest` is given: in a file where files can be locked, else in the
    process."""
    return ProcessStore() if fcntl is None else FileStore(_state_path(digest))


def _state_path(digest: str) -> Path:
    folder = Path(tempfile.gettempdir()) / f"billit-etl-{os.getuid() if hasattr(os, 'getuid') else 'user'}"
    folder.mkdir(mode=0o700, exist_ok=True)
    return folder / f"rate-{digest}.state"
