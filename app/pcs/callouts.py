"""The call-out board (rappel des personnels) of an event: who must be called, who was reached,
who is on their way.

Per playbook, the call-out lists are functions of the PCS (the playbook's ``callout`` key:
"astreinte élus", "services techniques", "exploitant", "GRDF urgence"…); the board shows, for
each function, the contacts of the directory that hold it, on call first. Each change of a
contact's state is an append-only ``callout_changes`` row, a main-courante entry and an audit
record, in one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlite_utils

from .. import audit
from ..clock import iso
from ..db import transaction
from ..playbooks import Playbook
from ..records import Event
from .common import Actor, PcsError, clean_note, latest_rows, note_digest, open_event, write_log
from .contacts import Contact, all_contacts, directory, get_contact, on_call_sort_key, same_function

STATUSES: dict[str, str] = {
    "a_appeler": "à appeler",
    "pas_de_reponse": "pas de réponse",
    "joint": "joint",
    "en_route": "en route",
    "sur_place": "sur place",
    "indisponible": "indisponible",
}
WRITE_ROLES: tuple[str, ...] = ("director", "cell")


@dataclass(frozen=True)
class CalloutLine:
    """One contact on the board and its state for the event."""

    contact: Contact
    status: str = "a_appeler"
    at: str | None = None
    by: str | None = None
    note: str = ""

    @property
    def label(self) -> str:
        return STATUSES[self.status]


@dataclass(frozen=True)
class CalloutGroup:
    """The contacts of one function of the playbook's call-out lists."""

    function: str
    lines: list[CalloutLine] = field(default_factory=list)


def states(db: sqlite_utils.Database, event_id: int, at: str | None = None) -> dict[int, dict]:
    """Latest change per contact of the event: contact id -> row."""
    return {
        r["contact_id"]: r
        for r in latest_rows(db, "callout_changes", "contact_id", event_id, at=at)
    }


def counts(
    db: sqlite_utils.Database, event: Event, playbook: Playbook | None, at: str | None = None
) -> dict[str, int]:
    """How many contacts of the board are in each state (unchanged ones: à appeler); ``at``:
    as at then (the directory itself is today's)."""
    found = {k: 0 for k in STATUSES}
    current = states(db, event.id, at)
    wanted = list(playbook.callout) if playbook else []
    ids = {c.id for c in all_contacts(db) if any(same_function(c.function, f) for f in wanted)}
    ids |= set(current)
    for contact_id in ids:
        r = current.get(contact_id)
        found[r["status"] if r else "a_appeler"] += 1
    return found


def board(
    db: sqlite_utils.Database,
    now: datetime,
    event: Event,
    playbook: Playbook | None,
    reader: Actor,
    *,
    request_id: str,
) -> list[CalloutGroup]:
    """The call-out board as ``reader`` may see it (numbers for the roles that call, a
    ``contact.read`` record for each such view)."""
    wanted = list(playbook.callout) if playbook else []
    current = states(db, event.id)
    everyone = directory(
        db, now, reader, purpose="callout", request_id=request_id, event_id=event.id
    )
    groups: list[CalloutGroup] = []
    placed: set[int] = set()
    for function in wanted:
        members = [c for c in everyone if same_function(c.function, function)]
        members.sort(key=lambda c: on_call_sort_key(c, now))
        groups.append(CalloutGroup(function, [_line(c, current.get(c.id)) for c in members]))
        placed.update(c.id for c in members)
    extra = [c for c in everyone if c.id in current and c.id not in placed]
    if extra:
        groups.append(
            CalloutGroup("Autres contacts appelés", [_line(c, current[c.id]) for c in extra])
        )
    return groups


def _line(contact: Contact, r: dict[str, Any] | None) -> CalloutLine:
    if r is None:
        return CalloutLine(contact)
    return CalloutLine(contact, r["status"], r["at"], r["actor_name"], r["note"])


def set_status(
    db: sqlite_utils.Database,
    now: datetime,
    event_id: int,
    contact_id: int,
    status: Any,
    *,
    actor: Actor,
    note: Any = "",
) -> CalloutLine:
    """Record a contact's new state (called, reached, on the way…): history row, main
    courante, audit."""
    if status not in STATUSES:
        raise PcsError(
            f"État inconnu « {status} » (attendu : {', '.join(STATUSES)}).", field="status"
        )
    text = clean_note(note)
    with transaction(db):
        open_event(db, event_id)
        contact = get_contact(db, contact_id)
        if contact is None:
            raise PcsError("Contact introuvable dans l'annuaire.", status=404)
        before = states(db, event_id).get(contact_id)
        previous = before["status"] if before else "a_appeler"
        entry = write_log(
            db,
            now,
            event_id,
            actor,
            f"Rappel : {contact.name} ({contact.function}"
            + (f", {contact.organisation}" if contact.organisation else "")
            + f") — {STATUSES[str(status)]}"
            + (f". Note : {text}" if text else "."),
        )
        cur = db.execute(
            "INSERT INTO callout_changes (event_id, contact_id, status, note, at, actor_id,"
            " actor_name, log_entry_id) VALUES (?,?,?,?,?,?,?,?)",
            [event_id, contact_id, status, text, iso(now), actor.id, actor.name, entry],
        )
        audit.append(
            db,
            now,
            "callout.status",
            actor=actor.login,
            object_type="callout_change",
            object_id=cur.lastrowid,
            event_id=event_id,
            details={
                "contact": contact_id,
                "function": contact.function,
                "from": previous,
                "to": status,
                "note_sha256": note_digest(text),
                "log_entry": entry,
            },
        )
    return CalloutLine(contact, str(status), iso(now), actor.name, text)
