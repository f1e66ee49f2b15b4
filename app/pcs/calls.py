"""The vulnerable-persons call campaign: the cell phones the persons of the register inside the
event's zones and records what became of each.

The list is read through ``access.read_features`` (purpose ``calls``): only under a valid grant
on ``vulnerable-persons`` (second director, TOTP, zone scope, field whitelist: the agreement's
rules), with an access record per read. Each such read adds the persons new to the list (status
``a_appeler``): from then on the list, the statuses, who called when, the assignments and the
notes are the cell's own data and outlive the grant. The personal fields do not: without a
valid grant the board shows person ids and statuses only (and no note, which may name someone).

History: ``call_changes`` is append-only; each row is the person's whole state after a change
(``listed``, ``status``, ``assigned``). Every change writes an audit record naming the dataset,
so the owner's review lists it with the reads. "Pas de réponse" comes back to the top of the
list :data:`RETRY_AFTER` after the call.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlite_utils

from .. import access, audit, auth, events, idempotency
from ..clock import iso, parse_iso
from ..db import rows, transaction
from ..records import Event, Grant, Zones
from .common import Actor, PcsError, clean_note, note_digest, open_event

DATASET = "vulnerable-persons"
PURPOSE = "calls"
STATUSES: dict[str, str] = {
    "a_appeler": "à appeler",
    "joint": "appelé — joint",
    "pas_de_reponse": "pas de réponse",
    "a_evacuer": "à évacuer",
    "evacue": "évacué",
    "pris_en_charge": "pris en charge",
}
READ_ROLES: tuple[str, ...] = events.READ_ROLES
WRITE_ROLES: tuple[str, ...] = ("director", "cell", "liaison")
ASSIGN_ROLES: tuple[str, ...] = ("director", "cell")
RETRY_AFTER = timedelta(minutes=15)
# Order of the board: what needs doing first.
_URGENCY = {"a_evacuer": 0, "a_appeler": 2, "pas_de_reponse": 3, "joint": 4, "evacue": 5}


class CallsClosed(PcsError):
    """No valid grant on the register and no call list yet (HTTP 403)."""

    status = 403


@dataclass(frozen=True)
class CallItem:
    """One person of the call list: the cell's data, and the personal fields when opened."""

    person_id: str
    status: str
    listed_at: str
    status_at: str | None = None  # the last status change: who called, when
    status_by: str | None = None
    note: str = ""
    assignee_id: int | None = None
    assignee_name: str | None = None
    personal: dict[str, Any] | None = None  # whitelisted fields of a grant's read, else None
    in_scope: bool = True  # in the latest read's zone (False: the zone moved away)

    @property
    def label(self) -> str:
        return STATUSES[self.status]

    @property
    def retry_at(self) -> str | None:
        """When a "pas de réponse" comes back to the top of the list."""
        if self.status != "pas_de_reponse" or not self.status_at:
            return None
        return iso(parse_iso(self.status_at) + RETRY_AFTER)

    def due_again(self, now: datetime) -> bool:
        return self.retry_at is not None and self.retry_at <= iso(now)

    def to_json(self, now: datetime) -> dict[str, Any]:
        """The API item: ``person_id`` and ``status``, plus the cell's data and the whitelisted
        personal fields only when a grant opened them (:attr:`personal`)."""
        out: dict[str, Any] = {"person_id": self.person_id, "status": self.status}
        if self.personal is not None:
            out.update({k: v for k, v in self.personal.items() if k != "id"})
            out.update(
                {
                    "status_label": self.label,
                    "called_at": self.status_at,
                    "called_by": self.status_by,
                    "assignee": self.assignee_name,
                    "note": self.note,
                    "retry_at": self.retry_at,
                    "due_again": self.due_again(now),
                }
            )
        return out


@dataclass(frozen=True)
class CallBoard:
    """The call list as one reader sees it at one moment."""

    event_id: int
    items: list[CallItem]
    personal: bool  # personal fields shown (a valid grant, read recorded)
    grant: Grant | None = None
    fields: tuple[str, ...] = ()
    counts: dict[str, int] = field(default_factory=dict)


# --- history -----------------------------------------------------------------------------


def _fold(db: sqlite_utils.Database, event_id: int, at: str | None = None) -> dict[str, CallItem]:
    """The current item of each person from the append-only history (``at``: as at then)."""
    sql = (
        "SELECT c.*, u.name AS assignee_name FROM call_changes c"
        " LEFT JOIN users u ON u.id = c.assignee_id WHERE c.event_id = ?"
    )
    params: list[Any] = [event_id]
    if at:
        sql += " AND c.at <= ?"
        params.append(at)
    items: dict[str, CallItem] = {}
    for r in rows(db, sql + " ORDER BY c.id", params):
        before = items.get(r["person_id"])
        status_at = r["at"] if r["change"] == "status" else (before.status_at if before else None)
        status_by = (
            r["actor_name"] if r["change"] == "status" else (before.status_by if before else None)
        )
        items[r["person_id"]] = CallItem(
            person_id=r["person_id"],
            status=r["status"],
            listed_at=before.listed_at if before else r["at"],
            status_at=status_at,
            status_by=status_by,
            note=r["note"],
            assignee_id=r["assignee_id"],
            assignee_name=r["assignee_name"],
        )
    return items


def listed(db: sqlite_utils.Database, event_id: int) -> bool:
    """Whether the event has a call list (statuses exist)."""
    return bool(rows(db, "SELECT 1 FROM call_changes WHERE event_id = ? LIMIT 1", [event_id]))


def count_statuses(items: Iterable[CallItem], now: datetime) -> dict[str, int]:
    """Persons per status, and ``due_again`` (no answer, to call again now)."""
    out = {k: 0 for k in STATUSES}
    out["due_again"] = 0
    for item in items:
        out[item.status] += 1
        out["due_again"] += int(item.due_again(now))
    return out


def counts(
    db: sqlite_utils.Database, event_id: int, now: datetime, at: str | None = None
) -> dict[str, int]:
    """The campaign's counts per status (no personal data: the dashboard, the report)."""
    return count_statuses(_fold(db, event_id, at).values(), now)


def _order(item: CallItem, now: datetime) -> tuple[int, str]:
    rank = 1 if item.due_again(now) else _URGENCY.get(item.status, 6)
    return (rank, item.person_id)


# --- reading the list --------------------------------------------------------------------


def call_board(
    db: sqlite_utils.Database,
    now: datetime,
    reader: auth.User,
    event: Event,
    zones: Zones | None,
    *,
    request_id: str,
) -> CallBoard:
    """The call list as ``reader`` may see it.

    With a valid grant: the persons of the register in the zone (a recorded read, purpose
    ``calls``) with their whitelisted fields, the new ones added to the list. Without one:
    person ids and statuses only, or :class:`CallsClosed` while there is no list yet.
    """
    items = _fold(db, event.id)
    if access.has_valid_grant(db, now, reader, event.id, DATASET):
        try:
            features, grant = access.read_features(
                db, now, reader, event.id, DATASET, PURPOSE, request_id, event=event, zones=zones
            )
        except access.AccessDenied:  # expired between the check and the read
            features = None
        if features is not None:
            read = {str(f["id"]): f["properties"] for f in features}
            new = sorted(pid for pid in read if pid not in items)
            if new and event.is_open:
                _enrol(db, now, event.id, new, reader)
                items = _fold(db, event.id)
            shown = [
                CallItem(**{**_plain(item), "personal": read.get(pid), "in_scope": pid in read})
                for pid, item in items.items()
            ]
            shown.sort(key=lambda i: _order(i, now))
            return CallBoard(
                event.id,
                shown,
                True,
                grant,
                tuple(grant.fields),
                count_statuses(shown, now),
            )
    if not items:
        raise CallsClosed(
            "Liste d'appels indisponible : il faut un accès valide au registre des personnes"
            " vulnérables (bris de glace, second directeur) pour l'établir."
        )
    bare = [
        CallItem(person_id=i.person_id, status=i.status, listed_at=i.listed_at)
        for i in items.values()
    ]
    bare.sort(key=lambda i: _order(i, now))
    return CallBoard(event.id, bare, False, None, (), count_statuses(items.values(), now))


def _plain(item: CallItem) -> dict[str, Any]:
    return {k: getattr(item, k) for k in item.__dataclass_fields__}


def _enrol(
    db: sqlite_utils.Database, now: datetime, event_id: int, ids: Sequence[str], actor: Actor
) -> None:
    with transaction(db):
        for pid in ids:
            db.execute(
                "INSERT INTO call_changes (event_id, person_id, status, change, at, actor_id,"
                " actor_name) VALUES (?,?,?,?,?,?,?)",
                [event_id, pid, "a_appeler", "listed", iso(now), actor.id, actor.name],
            )
        audit.append(
            db,
            now,
            "call.listed",
            actor=actor.login,
            object_type="call_list",
            object_id=event_id,
            event_id=event_id,
            details={"dataset": DATASET, "count": len(ids), "ids": list(ids)},
        )


def ensure_listed(
    db: sqlite_utils.Database,
    now: datetime,
    reader: auth.User,
    event: Event,
    zones: Zones | None,
    person_id: str,
    *,
    request_id: str,
) -> None:
    """Before a status change on a person not yet listed: a grant holder's read lists the zone
    (recorded); without a grant nothing is read."""
    if person_id in _fold(db, event.id):
        return
    if access.has_valid_grant(db, now, reader, event.id, DATASET):
        call_board(db, now, reader, event, zones, request_id=request_id)


# --- writing -----------------------------------------------------------------------------


def _key_digest(key: str | None, arguments: dict[str, Any]) -> str:
    if key is None:
        return ""
    if not idempotency.valid_key(key):
        raise PcsError(
            f"En-tête {idempotency.HEADER} invalide : 1 à {idempotency.KEY_MAX} caractères "
            "(lettres, chiffres, - _ . :).",
            status=400,
            field=idempotency.HEADER,
        )
    return idempotency.fingerprint("call.status", arguments)


def set_status(
    db: sqlite_utils.Database,
    now: datetime,
    event_id: int,
    person_id: str,
    status: Any,
    *,
    actor: Actor,
    note: Any = "",
    idempotency_key: str | None = None,
) -> CallItem:
    """Record a person's new status (who called, when, a note): history row and audit record
    in one transaction. The person must be on the list. With an ``idempotency_key`` a resend
    answers the change already made."""
    digest = _key_digest(
        idempotency_key, {"event": event_id, "person": person_id, "status": status, "note": note}
    )
    if status not in STATUSES:
        raise PcsError(
            f"Statut inconnu « {status} » (attendu : {', '.join(STATUSES)}).", field="status"
        )
    text = clean_note(note)
    with transaction(db):
        if idempotency_key is not None:
            done = idempotency.recall(db, actor.id, idempotency_key)
            if done is not None:
                if done.fingerprint != digest or done.object_type != "call_change":
                    raise PcsError(
                        f"Cette clé ({idempotency.HEADER}) a déjà servi pour une autre demande :"
                        " rien n'a été enregistré.",
                        field=idempotency.HEADER,
                    )
                return _fold(db, event_id)[person_id]
        open_event(db, event_id)
        current = _fold(db, event_id).get(person_id)
        if current is None:
            raise PcsError(
                f"« {person_id} » n'est pas sur la liste d'appels de cet événement.", status=404
            )
        cur = db.execute(
            "INSERT INTO call_changes (event_id, person_id, status, assignee_id, note, change,"
            " at, actor_id, actor_name) VALUES (?,?,?,?,?,?,?,?,?)",
            [
                event_id,
                person_id,
                status,
                current.assignee_id,
                text,
                "status",
                iso(now),
                actor.id,
                actor.name,
            ],
        )
        change_id = int(cur.lastrowid or 0)
        details: dict[str, Any] = {
            "dataset": DATASET,
            "person": person_id,
            "from": current.status,
            "to": status,
            "note_sha256": note_digest(text),
        }
        if idempotency_key is not None:
            idempotency.remember(
                db, now, actor.id, idempotency_key, digest, "call_change", change_id
            )
            details["idempotency_key"] = idempotency_key
        audit.append(
            db,
            now,
            "call.status",
            actor=actor.login,
            object_type="call_change",
            object_id=change_id,
            event_id=event_id,
            details=details,
        )
    return _fold(db, event_id)[person_id]


def callers(db: sqlite_utils.Database) -> list[auth.User]:
    """Who may be given calls: enabled users of the roles that may record a status."""
    return [u for u in auth.list_users(db) if not u.disabled and u.roles & set(WRITE_ROLES)]


def assign(
    db: sqlite_utils.Database,
    now: datetime,
    event_id: int,
    person_ids: Sequence[str],
    assignee_id: int | None,
    *,
    actor: Actor,
) -> int:
    """Give persons of the list to a caller (``None``: to nobody); returns how many changed."""
    if not person_ids:
        raise PcsError("Choisissez au moins une personne de la liste.", field="persons")
    with transaction(db):
        open_event(db, event_id)
        assignee = None
        if assignee_id is not None:
            assignee = auth.get_user(db, assignee_id)
            if assignee is None or assignee.disabled or not assignee.roles & set(WRITE_ROLES):
                raise PcsError("Cet appelant ne peut pas recevoir d'appels.", field="assignee")
        items = _fold(db, event_id)
        unknown = [p for p in person_ids if p not in items]
        if unknown:
            raise PcsError(
                f"« {unknown[0]} » n'est pas sur la liste d'appels de cet événement.", status=404
            )
        changed = [p for p in dict.fromkeys(person_ids) if items[p].assignee_id != assignee_id]
        for pid in changed:
            item = items[pid]
            db.execute(
                "INSERT INTO call_changes (event_id, person_id, status, assignee_id, note,"
                " change, at, actor_id, actor_name) VALUES (?,?,?,?,?,?,?,?,?)",
                [
                    event_id,
                    pid,
                    item.status,
                    assignee_id,
                    item.note,
                    "assigned",
                    iso(now),
                    actor.id,
                    actor.name,
                ],
            )
        if changed:
            audit.append(
                db,
                now,
                "call.assigned",
                actor=actor.login,
                object_type="call_list",
                object_id=event_id,
                event_id=event_id,
                details={
                    "dataset": DATASET,
                    "ids": changed,
                    "assignee": assignee.login if assignee else None,
                },
            )
    return len(changed)
