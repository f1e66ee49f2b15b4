"""The live state of an event: one version per event, bumped with every change a view shows.

Every open view of an event (desk dashboard, tablet view, map, figures, checklist, break-glass
panel) polls one tiny record, ``GET /api/v1/events/<id>/state`` (ETag, 304 when unchanged), and
re-fetches only the regions whose *part* changed (DESIGN §12). The version is bumped by
``audit.append`` in the transaction of the change itself, for every audit action registered in
:data:`PARTS`; reads (``data.read``…) and actions without an event never bump it, so a view
refreshing its restricted layer does not make every other view refresh.

A new feature that changes what a view shows writes its audit record with ``event_id`` (it must
anyway) and, when its action prefix is new, adds one line to :data:`PARTS`; its page registers
its region with ``data-live-part="<part>"`` (``static/js/live.js``).

The state is one row per event: ``version`` (+1 per change), ``changed_at`` and ``parts``, a JSON
object ``{part: {"v": version of its last change, "at": time, "by": who}}``. This module never
imports Flask; it sits under the audit log (storage-level SQL only).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlite_utils

from .clock import iso
from .db import row

# Audit action (or prefix) -> the part of an event's views it changes; None: it changes nothing
# a view shows (a refused attempt). The longest matching key wins.
PARTS: dict[str, str | None] = {
    "event.declared": "event",
    "event.level_changed": "event",
    "event.closed": "event",
    "event.synthesis_changed": "event",  # the director's synthesis (events/_synthesis.html)
    "event.params_changed": "zones",
    "event.cadence_changed": "reports",
    "log.": "log",
    "checklist.": "checklist",
    "grant.": "grants",
    "grant.refused": None,
    "drill.": "drill",
    "drill.inject": "injects",
    "report.": "reports",
    "message.": "messages",
    # The response boards (app.pcs); reading the directory's numbers (contact.read) is a read.
    "call.": "calls",
    "callout.": "callouts",
    "centre.": "centres",
    "means.": "means",
    "task.": "tasks",
}

# Parts a view may follow; "*" (in a page's data-live-part) means any of them.
ANY = "*"


def part_of(action: str) -> str | None:
    """The part an audit action changes (longest registered prefix), or None."""
    best: str | None = None
    for key in PARTS:
        if (action == key or action.startswith(key)) and (best is None or len(key) > len(best)):
            best = key
    return PARTS[best] if best is not None else None


_BUMP_SQL = """
INSERT INTO event_state (event_id, version, changed_at, parts)
SELECT id, 1, :at, json_object(:part, json_object('v', 1, 'at', :at, 'by', :by))
FROM events WHERE id = :event
ON CONFLICT (event_id) DO UPDATE SET
  version = version + 1,
  changed_at = excluded.changed_at,
  parts = json_set(parts, '$.' || :part,
                   json_object('v', version + 1, 'at', excluded.changed_at, 'by', :by))
"""


def bump(
    db: sqlite_utils.Database,
    now: datetime,
    event_id: int | None,
    action: str,
    actor: str | None = None,
) -> str | None:
    """Record that ``action`` changed the event's views (inside the caller's transaction).

    Returns the part bumped, or None when the action changes no view (or has no event).
    """
    if event_id is None:
        return None
    part = part_of(action)
    if part is None:
        return None
    if not db.conn.in_transaction:
        raise RuntimeError("live.bump must run inside the transaction of the change")
    name = None
    if actor:
        found = row(db, "SELECT name FROM users WHERE login = ?", [actor])
        name = found["name"] if found else actor
    db.execute(_BUMP_SQL, {"at": iso(now), "part": part, "by": name, "event": event_id})
    return part


@dataclass(frozen=True)
class PartChange:
    """The last change of one part: at which version, when, by whom (a display name)."""

    version: int
    at: str
    by: str | None


@dataclass(frozen=True)
class EventState:
    """What a view needs to know whether it is current: the event's version and its parts."""

    event_id: int
    version: int
    changed_at: str | None
    status: str
    level: int
    parts: dict[str, PartChange] = field(default_factory=dict)

    @property
    def etag(self) -> str:
        """The entity tag of this state (weak: the JSON around it may vary in form)."""
        return f'W/"e{self.event_id}.v{self.version}"'

    def versions(self) -> dict[str, int]:
        """``{part: version of its last change}``: what a page compares."""
        return {name: p.version for name, p in self.parts.items()}


def _parts(text: str | None) -> dict[str, PartChange]:
    out: dict[str, PartChange] = {}
    for name, value in json.loads(text or "{}").items():
        if isinstance(value, dict):
            out[name] = PartChange(int(value.get("v") or 0), value.get("at") or "", value.get("by"))
    return out


def state(db: sqlite_utils.Database, event_id: int) -> EventState | None:
    """The event's live state (one indexed read), or None when there is no such event."""
    r = row(
        db,
        "SELECT e.status, e.level, s.version, s.changed_at, s.parts FROM events e"
        " LEFT JOIN event_state s ON s.event_id = e.id WHERE e.id = ?",
        [event_id],
    )
    if r is None:
        return None
    return EventState(
        event_id=event_id,
        version=int(r["version"] or 0),
        changed_at=r["changed_at"],
        status=r["status"],
        level=int(r["level"]),
        parts=_parts(r["parts"]),
    )


def current_version(db: sqlite_utils.Database, event_id: int) -> int | None:
    """Only the version (the cheapest answer to "has anything changed?"); None: no event."""
    r = row(
        db,
        "SELECT COALESCE(s.version, 0) AS v FROM events e"
        " LEFT JOIN event_state s ON s.event_id = e.id WHERE e.id = ?",
        [event_id],
    )
    return None if r is None else int(r["v"])


@dataclass(frozen=True)
class GlobalState:
    """Every event at once (the home page's lists): the sum of the versions only grows."""

    version: int
    events: int
    changed_at: str | None

    @property
    def etag(self) -> str:
        return f'W/"all.v{self.version}.n{self.events}"'


def global_state(db: sqlite_utils.Database) -> GlobalState:
    """The state of all events together: one aggregate over the small state table."""
    r = row(
        db,
        "SELECT COALESCE(SUM(version), 0) AS v, COUNT(*) AS n, MAX(changed_at) AS at"
        " FROM event_state",
    )
    assert r is not None
    return GlobalState(version=int(r["v"]), events=int(r["n"]), changed_at=r["at"])


def to_json(found: EventState) -> dict[str, Any]:
    """The state as the API gives it (the caller adds what a notice needs)."""
    return {
        "event": found.event_id,
        "version": found.version,
        "changed_at": found.changed_at,
        "status": found.status,
        "level": found.level,
        "parts": found.versions(),
        "changes": {
            name: {"version": p.version, "at": p.at, "by": p.by} for name, p in found.parts.items()
        },
    }
