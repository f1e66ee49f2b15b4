"""Means (moyens): buses, barriers, teams, generators… and where they stand for an event.

The register of means (``means``) lists what the agglomeration and its communes can commit
(synthetic in the demo); the board of an event shows each one ``disponible``, ``en_route`` or
``engage`` (a means committed to another open event says so). Each change is an append-only
``means_changes`` row, a main-courante entry and an audit record, in one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlite_utils

from .. import audit
from ..clock import iso
from ..db import row, rows, transaction
from .common import Actor, PcsError, clean_note, clean_text, open_event, write_log

STATUSES: dict[str, str] = {"disponible": "disponible", "en_route": "en route", "engage": "engagé"}
WRITE_ROLES: tuple[str, ...] = ("director", "cell")


@dataclass(frozen=True)
class MeansLine:
    """One means of the register and its state for an event."""

    id: int
    name: str
    kind: str
    organisation: str
    capacity: str
    commune: str
    source: str
    status: str = "disponible"
    place: str = ""
    note: str = ""
    at: str | None = None
    by: str | None = None
    elsewhere: str | None = None  # title of another open event it is committed to

    @property
    def label(self) -> str:
        return STATUSES[self.status]

    @property
    def committed(self) -> bool:
        return self.status != "disponible"

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "kind": self.kind,
            "organisation": self.organisation,
            "capacity": self.capacity,
            "commune": self.commune,
            "status": self.status,
            "place": self.place,
            "note": self.note,
            "updated_at": self.at,
            "updated_by": self.by,
            "elsewhere": self.elsewhere,
        }


def _latest(db: sqlite_utils.Database, event_id: int | None, at: str | None = None) -> list[dict]:
    sql = (
        "SELECT m.*, e.title AS event_title, e.status AS event_status FROM means_changes m"
        " JOIN events e ON e.id = m.event_id WHERE m.id IN (SELECT MAX(id) FROM means_changes"
    )
    params: list[Any] = []
    where = []
    if event_id is not None:
        where.append("event_id = ?")
        params.append(event_id)
    if at:
        where.append("at <= ?")
        params.append(at)
    if where:
        sql += " WHERE " + " AND ".join(where)
    return rows(db, sql + " GROUP BY means_id, event_id)", params)


def board(db: sqlite_utils.Database, event_id: int, at: str | None = None) -> list[MeansLine]:
    """Every means of the register with its state for the event: committed ones first."""
    mine = {r["means_id"]: r for r in _latest(db, event_id, at)}
    busy = {
        r["means_id"]: r["event_title"]
        for r in _latest(db, None, at)
        if r["event_id"] != event_id and r["event_status"] == "open" and r["status"] != "disponible"
    }
    out = []
    for m in rows(db, "SELECT * FROM means WHERE archived_at IS NULL ORDER BY kind, name"):
        r = mine.get(m["id"])
        out.append(
            MeansLine(
                id=m["id"],
                name=m["name"],
                kind=m["kind"],
                organisation=m["organisation"],
                capacity=m["capacity"],
                commune=m["commune"],
                source=m["source"],
                status=r["status"] if r else "disponible",
                place=r["place"] if r else "",
                note=r["note"] if r else "",
                at=r["at"] if r else None,
                by=r["actor_name"] if r else None,
                elsewhere=busy.get(m["id"]),
            )
        )
    order = {"engage": 0, "en_route": 1, "disponible": 2}
    return sorted(out, key=lambda m: (order[m.status], m.kind, m.name))


def counts(db: sqlite_utils.Database, event_id: int, at: str | None = None) -> dict[str, int]:
    """Means per status for the event (committed ones only: the rest is the register)."""
    out = {k: 0 for k in STATUSES}
    for r in _latest(db, event_id, at):
        out[r["status"]] += 1
    return out


def add_means(
    db: sqlite_utils.Database,
    now: datetime,
    actor: Actor | None,
    *,
    name: Any,
    kind: Any,
    organisation: Any = "",
    capacity: Any = "",
    commune: Any = "",
    source: str = "console",
) -> int:
    """Add a means to the register (idempotent on name and organisation); its id."""
    clean = clean_text(name, "Nom du moyen", "name")
    org = " ".join(str(organisation or "").split())[:200]
    with transaction(db):
        found = row(db, "SELECT id FROM means WHERE name = ? AND organisation = ?", [clean, org])
        if found:
            return int(found["id"])
        cur = db.execute(
            "INSERT INTO means (name, kind, organisation, capacity, commune, source, created_at)"
            " VALUES (?,?,?,?,?,?,?)",
            [
                clean,
                clean_text(kind, "Type de moyen", "kind", 80),
                org,
                str(capacity or "")[:120],
                str(commune or "")[:120],
                source,
                iso(now),
            ],
        )
        means_id = int(cur.lastrowid or 0)
        audit.append(
            db,
            now,
            "means.registered",
            actor=actor.login if actor else "demo",
            object_type="means",
            object_id=means_id,
            details={"name": clean, "organisation": org, "source": source},
        )
    return means_id


def set_status(
    db: sqlite_utils.Database,
    now: datetime,
    event_id: int,
    means_id: int,
    status: Any,
    *,
    actor: Actor,
    place: Any = "",
    note: Any = "",
) -> MeansLine:
    """Commit a means, send it, or release it: history row, main courante, audit."""
    if status not in STATUSES:
        raise PcsError(
            f"État inconnu « {status} » (attendu : {', '.join(STATUSES)}).", field="status"
        )
    where = clean_note(place, "Lieu", 200)
    text = clean_note(note)
    with transaction(db):
        open_event(db, event_id)
        m = row(db, "SELECT * FROM means WHERE id = ? AND archived_at IS NULL", [means_id])
        if m is None:
            raise PcsError("Moyen introuvable.", status=404)
        line = next(x for x in board(db, event_id) if x.id == means_id)
        if line.status == status and line.place == where:
            raise PcsError(f"« {m['name']} » est déjà {STATUSES[str(status)]}.", status=409)
        entry = write_log(
            db,
            now,
            event_id,
            actor,
            f"Moyen {m['name']}"
            + (f" ({m['organisation']})" if m["organisation"] else "")
            + f" : {STATUSES[str(status)]}"
            + (f" — {where}" if where else "")
            + (f". {text}" if text else "."),
        )
        cur = db.execute(
            "INSERT INTO means_changes (means_id, event_id, status, place, note, at, actor_id,"
            " actor_name, log_entry_id) VALUES (?,?,?,?,?,?,?,?,?)",
            [means_id, event_id, status, where, text, iso(now), actor.id, actor.name, entry],
        )
        audit.append(
            db,
            now,
            "means.status",
            actor=actor.login,
            object_type="means_change",
            object_id=cur.lastrowid,
            event_id=event_id,
            details={
                "means": means_id,
                "from": line.status,
                "to": status,
                "place": where,
                "log_entry": entry,
            },
        )
    return next(x for x in board(db, event_id) if x.id == means_id)
