"""What every part of :mod:`app.pcs` shares: its refusal, the actor, the open event, texts,
times typed by the cell, and the append-only history read as "latest row per object"."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Any, Protocol

import sqlite_utils

from .. import events
from ..clock import PARIS, local
from ..errors import DomainError
from ..records import Event, get_event

NOTE_MAX = 1000


class PcsError(DomainError):
    """A refused operation of the response board (HTTP 422 unless said), French message."""


class Actor(Protocol):
    """Who does it (an ``auth.User``)."""

    @property
    def id(self) -> int: ...

    @property
    def login(self) -> str: ...

    @property
    def name(self) -> str: ...

    @property
    def roles(self) -> frozenset[str]: ...


def holds(actor: Actor, roles: tuple[str, ...]) -> bool:
    """Whether the actor holds one of the roles."""
    return bool(set(actor.roles) & set(roles))


def open_event(db: sqlite_utils.Database, event_id: int) -> Event:
    """The event, read inside the write's transaction; refuse a missing or closed one."""
    event = get_event(db, event_id)
    if event is None:
        raise PcsError("Événement introuvable.", status=404)
    if not event.is_open:
        raise PcsError(
            f"L'événement « {event.title} » est clos depuis le {local(event.closed_at)} :"
            " il n'est plus modifiable.",
            status=409,
        )
    return event


def clean_note(value: Any, label: str = "Note", maximum: int = NOTE_MAX) -> str:
    """An optional free text, trimmed; refused when too long or not text."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise PcsError(f"{label} : un texte est attendu.", field="note")
    text = value.strip()
    if len(text) > maximum:
        raise PcsError(f"{label} : au plus {maximum} caractères.", field="note")
    return text


def clean_text(value: Any, label: str, field: str, maximum: int = 200) -> str:
    """A required one-line text, trimmed."""
    if not isinstance(value, str) or not value.strip():
        raise PcsError(f"{label} : valeur obligatoire.", field=field)
    text = " ".join(value.split())
    if len(text) > maximum:
        raise PcsError(f"{label} : au plus {maximum} caractères.", field=field)
    return text


def note_digest(note: str) -> str | None:
    """The SHA-256 of a note (the audit keeps the digest, not a text that may name someone)."""
    return hashlib.sha256(note.encode()).hexdigest() if note else None


def parse_local_time(value: Any, now: datetime, label: str, field: str) -> datetime:
    """A time the cell typed: ``HH:MM`` (today, Paris; tomorrow if already past by more than
    12 h), ``AAAA-MM-JJTHH:MM`` (Paris unless it says its offset) or a number of minutes from
    now."""
    if isinstance(value, bool):
        raise PcsError(f"{label} illisible.", field=field)
    if isinstance(value, int | float):
        return now + timedelta(minutes=float(value))
    if isinstance(value, datetime):
        when = value
    elif isinstance(value, str) and value.strip():
        text = value.strip()
        if text.isdigit():
            return now + timedelta(minutes=int(text))
        try:
            if len(text) <= 5 and ":" in text:
                hours, minutes = (int(x) for x in text.split(":"))
                local_now = now.astimezone(PARIS)
                when = local_now.replace(hour=hours, minute=minutes, second=0, microsecond=0)
                if when < local_now - timedelta(hours=12):
                    when += timedelta(days=1)
            else:
                when = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise PcsError(
                f"{label} « {value} » illisible (attendu : HH:MM ou AAAA-MM-JJTHH:MM).",
                field=field,
            ) from None
    else:
        raise PcsError(f"{label} : valeur obligatoire.", field=field)
    if when.tzinfo is None:
        when = when.replace(tzinfo=PARIS)
    return when


def write_log(
    db: sqlite_utils.Database,
    now: datetime,
    event_id: int,
    actor: Actor,
    text: str,
    *,
    category: str = "action",
    fact_at: datetime | None = None,
) -> int:
    """The main-courante entry of a change (in the caller's transaction)."""
    return events.append_log_entry(
        db, now, event_id, actor.id, actor.name, category, text, fact_at=fact_at, is_system=True
    )


LATEST_SQL = """
SELECT * FROM {table} WHERE id IN (
  SELECT MAX(id) FROM {table} WHERE event_id = ? {extra} GROUP BY {key}
)
"""


def latest_rows(
    db: sqlite_utils.Database,
    table: str,
    key: str,
    event_id: int,
    *,
    at: str | None = None,
) -> list[dict[str, Any]]:
    """The current state of each object of an append-only history: its latest row (``at``: the
    state as at that ISO time, for rebuilding the situation at a past moment)."""
    extra = "AND at <= ?" if at else ""
    params: list[Any] = [event_id] + ([at] if at else [])
    sql = LATEST_SQL.format(table=table, key=key, extra=extra)
    return list(db.query(sql + " ORDER BY id", params))
