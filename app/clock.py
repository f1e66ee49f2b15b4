"""Clocks: domain code takes ``now`` as an argument; the web layer and the CLI get it from here."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

PARIS = ZoneInfo("Europe/Paris")


def utcnow() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


def iso(dt: datetime) -> str:
    """Format a datetime as stored in the database: ISO-8601 UTC with a Z, second precision."""
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(text: str) -> datetime:
    """Parse a stored timestamp back into an aware UTC datetime."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def local(dt: datetime | str | None, fmt: str = "%d/%m/%Y %H:%M") -> str:
    """Show a time in Paris local time, the way the crisis cell reads it."""
    if dt is None or dt == "":
        return ""
    if isinstance(dt, str):
        dt = parse_iso(dt)
    return dt.astimezone(PARIS).strftime(fmt)


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        return utcnow()


class FixedClock:
    """A clock that only moves when told to: tests and rehearsals use it."""

    def __init__(self, start: datetime | None = None):
        self._now = (start or utcnow()).astimezone(UTC).replace(microsecond=0)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, **kwargs: float) -> datetime:
        """Move the clock forward by a timedelta given as keyword arguments."""
        with self._lock:
            self._now = self._now + timedelta(**kwargs)
            return self._now

    def set(self, when: datetime) -> None:
        with self._lock:
            self._now = when.astimezone(UTC)
