"""The sandbox clock: wall time plus an offset, or frozen, shared by every process on one sandbox.

Lessons and tests advance it ("five minutes later") to watch retries and expiry without sleeping.
"""

from __future__ import annotations

import math
import time
from datetime import datetime, timezone

from .store import Store

#: One advance moves at most a century: beyond that, datetime cannot show sandbox time.
MAX_ADVANCE_SECONDS = 100 * 365.25 * 86400


class Clock:
    """Sandbox time, persisted in the store so that all processes on one sandbox agree."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def _state(self) -> tuple[float, float | None]:
        offset = float(self._store.get_meta("clock.offset", "0"))
        frozen = self._store.get_meta("clock.frozen_at")
        return offset, (float(frozen) if frozen is not None else None)

    def now(self) -> float:
        """Seconds since the epoch in sandbox time."""
        offset, frozen = self._state()
        return frozen if frozen is not None else time.time() + offset

    def utcnow(self) -> datetime:
        return datetime.fromtimestamp(self.now(), tz=timezone.utc)

    def isoformat(self) -> str:
        """Sandbox time as Azure writes it: ISO 8601 with a Z."""
        return self.utcnow().strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    @property
    def frozen(self) -> bool:
        return self._state()[1] is not None

    def freeze(self) -> None:
        """Stop following the wall clock; time then moves only by ``advance``."""
        if not self.frozen:
            self._store.set_meta("clock.frozen_at", repr(self.now()))

    def follow_wall_clock(self) -> None:
        """Follow the wall clock again, keeping any time advanced so far."""
        offset, frozen = self._state()
        if frozen is not None:
            self._store.set_meta("clock.offset", repr(frozen - time.time()))
            self._store.delete_meta("clock.frozen_at")

    def advance(self, seconds: float = 0, *, minutes: float = 0, hours: float = 0) -> float:
        """Move sandbox time forward and return the new time."""
        for name, value in (("seconds", seconds), ("minutes", minutes), ("hours", hours)):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TypeError(f"Clock.advance({name}={value!r}): expected a number of {name}.")
            if not math.isfinite(value):
                raise ValueError(f"Clock.advance({name}={value!r}): expected a finite number.")
        delta = seconds + 60 * minutes + 3600 * hours
        if delta < 0:
            raise ValueError(f"Clock.advance: the sandbox clock only moves forward, not by {delta:g} seconds.")
        if delta > MAX_ADVANCE_SECONDS:
            raise ValueError(f"Clock.advance: {delta:g} seconds is more than 100 years at once.")
        with self._store.transaction():
            offset, frozen = self._state()
            if frozen is not None:
                self._store.set_meta("clock.frozen_at", repr(frozen + delta))
            else:
                self._store.set_meta("clock.offset", repr(offset + delta))
        for listener in list(self._store.listeners("clock")):
            listener()
        return self.now()
