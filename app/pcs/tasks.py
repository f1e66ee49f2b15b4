"""Tasks of an event: something to do, given to a role or a person, due at a time, possibly
coming from a checklist item. Late tasks are flagged like late checklist items.

``tasks`` holds a task's identity (event, checklist item, creation); ``task_changes`` is the
append-only history of its state (title, assignee, due time, status, note), each row the whole
state after a change. Each change writes a main-courante entry and an audit record.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlite_utils

from .. import audit, auth
from ..clock import iso, local, parse_iso
from ..db import row, rows, transaction
from .common import (
    Actor,
    PcsError,
    clean_note,
    clean_text,
    holds,
    open_event,
    parse_local_time,
    write_log,
)

STATUSES: dict[str, str] = {
    "a_faire": "à faire",
    "en_cours": "en cours",
    "fait": "fait",
    "annule": "annulé",
}
WRITE_ROLES: tuple[str, ...] = ("director", "cell")  # create, assign, change anything
UPDATE_ROLES: tuple[str, ...] = ("director", "cell", "liaison")  # liaison: their own tasks
ASSIGNABLE_ROLES: tuple[str, ...] = ("director", "cell", "liaison")
OPEN_STATUSES = ("a_faire", "en_cours")


@dataclass(frozen=True)
class Task:
    """A task's current state (or its state at a given time)."""

    id: int
    event_id: int
    title: str
    assignee_role: str | None
    assignee_id: int | None
    assignee_name: str | None
    due_at: str
    status: str
    note: str
    at: str
    by: str
    checklist_item_id: int | None = None
    checklist_title: str | None = None

    @property
    def label(self) -> str:
        return STATUSES[self.status]

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    def late(self, now: datetime) -> bool:
        """Not done (nor cancelled) and past its due time."""
        return self.is_open and parse_iso(self.due_at) < now

    @property
    def assignee(self) -> str:
        if self.assignee_name:
            return self.assignee_name
        if self.assignee_role:
            return auth.ROLES.get(self.assignee_role, self.assignee_role)
        return "—"

    def for_user(self, user: Actor) -> bool:
        """Given to this user, or to one of their roles."""
        return self.assignee_id == user.id or (
            self.assignee_role is not None and self.assignee_role in user.roles
        )

    def to_json(self, now: datetime) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "assignee_role": self.assignee_role,
            "assignee": self.assignee_name,
            "due_at": self.due_at,
            "status": self.status,
            "note": self.note,
            "late": self.late(now),
            "checklist_item": self.checklist_item_id,
            "updated_at": self.at,
            "updated_by": self.by,
        }


_SQL = """
SELECT c.*, t.checklist_item_id, i.title AS checklist_title, u.name AS assignee_name
FROM task_changes c JOIN tasks t ON t.id = c.task_id
LEFT JOIN checklist_items i ON i.id = t.checklist_item_id
LEFT JOIN users u ON u.id = c.assignee_id
WHERE c.id IN (SELECT MAX(id) FROM task_changes WHERE event_id = ? {extra} GROUP BY task_id)
"""


def _task(r: dict[str, Any]) -> Task:
    return Task(
        id=r["task_id"],
        event_id=r["event_id"],
        title=r["title"],
        assignee_role=r["assignee_role"],
        assignee_id=r["assignee_id"],
        assignee_name=r["assignee_name"],
        due_at=r["due_at"],
        status=r["status"],
        note=r["note"],
        at=r["at"],
        by=r["actor_name"],
        checklist_item_id=r["checklist_item_id"],
        checklist_title=r["checklist_title"],
    )


def list_tasks(db: sqlite_utils.Database, event_id: int, at: str | None = None) -> list[Task]:
    """The event's tasks: open ones by due time, then done and cancelled ones."""
    extra = "AND at <= ?" if at else ""
    params: list[Any] = [event_id] + ([at] if at else [])
    found = [_task(r) for r in rows(db, _SQL.format(extra=extra), params)]
    return sorted(found, key=lambda t: (not t.is_open, t.due_at, t.id))


def get_task(db: sqlite_utils.Database, event_id: int, task_id: int) -> Task | None:
    return next((t for t in list_tasks(db, event_id) if t.id == task_id), None)


def late_tasks(db: sqlite_utils.Database, event_id: int, now: datetime) -> list[Task]:
    return [t for t in list_tasks(db, event_id) if t.late(now)]


def _assignee(
    db: sqlite_utils.Database, role: Any, user_id: Any
) -> tuple[str | None, int | None, str]:
    role = (role or None) if isinstance(role, str | type(None)) else None
    uid: int | None = None
    if user_id not in (None, ""):
        try:
            uid = int(user_id)
        except (TypeError, ValueError):
            raise PcsError("Personne désignée inconnue.", field="assignee") from None
    if role is not None and role not in ASSIGNABLE_ROLES:
        raise PcsError(f"Rôle inconnu « {role} ».", field="assignee")
    if uid is not None:
        user = auth.get_user(db, uid)
        if user is None or user.disabled or not user.roles & set(ASSIGNABLE_ROLES):
            raise PcsError("Cette personne ne peut pas recevoir de tâche.", field="assignee")
        return None, uid, user.name
    if role is None:
        raise PcsError("Confiez la tâche à un rôle ou à une personne.", field="assignee")
    return role, None, auth.ROLES[role]


def _insert(
    db: sqlite_utils.Database,
    now: datetime,
    task_id: int,
    event_id: int,
    state: dict[str, Any],
    actor: Actor,
    entry: int,
) -> int:
    cur = db.execute(
        "INSERT INTO task_changes (task_id, event_id, title, assignee_role, assignee_id, due_at,"
        " status, note, at, actor_id, actor_name, log_entry_id) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
        [
            task_id,
            event_id,
            state["title"],
            state["assignee_role"],
            state["assignee_id"],
            state["due_at"],
            state["status"],
            state["note"],
            iso(now),
            actor.id,
            actor.name,
            entry,
        ],
    )
    return int(cur.lastrowid or 0)


def create_task(
    db: sqlite_utils.Database,
    now: datetime,
    event_id: int,
    *,
    actor: Actor,
    title: Any,
    due: Any,
    assignee_role: Any = None,
    assignee_id: Any = None,
    checklist_item_id: Any = None,
    note: Any = "",
) -> Task:
    """Create a task (from a checklist item when ``checklist_item_id`` is given)."""
    text = clean_note(note)
    item_id: int | None = None
    if checklist_item_id not in (None, ""):
        try:
            item_id = int(checklist_item_id)
        except (TypeError, ValueError):
            raise PcsError("Action de la liste inconnue.", field="checklist_item") from None
    with transaction(db):
        open_event(db, event_id)
        item = None
        if item_id is not None:
            item = row(
                db,
                "SELECT * FROM checklist_items WHERE id = ? AND event_id = ?",
                [item_id, event_id],
            )
            if item is None:
                raise PcsError("Action introuvable dans la liste de cet événement.", status=404)
        clean_title = (
            clean_text(title, "Intitulé", "title")
            if title not in (None, "") or item is None
            else str(item["title"])[:200]
        )
        due_at = parse_local_time(due, now, "Échéance", "due")
        role, uid, who = _assignee(db, assignee_role, assignee_id)
        cur = db.execute(
            "INSERT INTO tasks (event_id, checklist_item_id, created_at, created_by)"
            " VALUES (?,?,?,?)",
            [event_id, item_id, iso(now), actor.id],
        )
        task_id = int(cur.lastrowid or 0)
        entry = write_log(
            db,
            now,
            event_id,
            actor,
            f"Tâche n°{task_id} confiée à {who} pour {local(due_at, '%H:%M')} : {clean_title}"
            + (f" (action de la liste : {item['title']})" if item else "")
            + (f". {text}" if text else "."),
        )
        state: dict[str, Any] = {
            "title": clean_title,
            "assignee_role": role,
            "assignee_id": uid,
            "due_at": iso(due_at),
            "status": "a_faire",
            "note": text,
        }
        change = _insert(db, now, task_id, event_id, state, actor, entry)
        audit.append(
            db,
            now,
            "task.created",
            actor=actor.login,
            object_type="task",
            object_id=task_id,
            event_id=event_id,
            details={
                "change": change,
                "assignee_role": role,
                "assignee_id": uid,
                "due_at": iso(due_at),
                "checklist_item": item_id,
                "log_entry": entry,
            },
        )
    found = get_task(db, event_id, task_id)
    assert found is not None
    return found


def update_task(
    db: sqlite_utils.Database,
    now: datetime,
    event_id: int,
    task_id: int,
    *,
    actor: Actor,
    status: Any = None,
    note: Any = None,
    due: Any = None,
    assignee_role: Any = None,
    assignee_id: Any = None,
) -> Task:
    """Change a task's status, note, due time or assignee (each change logged and audited).
    The liaison changes only the status and note of the tasks given to them."""
    with transaction(db):
        open_event(db, event_id)
        task = get_task(db, event_id, task_id)
        if task is None:
            raise PcsError("Tâche introuvable.", status=404)
        manager = holds(actor, WRITE_ROLES)
        if not manager and not task.for_user(actor):
            raise PcsError(
                "Vous ne pouvez modifier que les tâches qui vous sont confiées.", status=403
            )
        state: dict[str, Any] = {
            "title": task.title,
            "assignee_role": task.assignee_role,
            "assignee_id": task.assignee_id,
            "due_at": task.due_at,
            "status": task.status,
            "note": task.note,
        }
        said: list[str] = []
        if status not in (None, ""):
            if status not in STATUSES:
                raise PcsError(
                    f"Statut inconnu « {status} » (attendu : {', '.join(STATUSES)}).",
                    field="status",
                )
            if status != task.status:
                state["status"] = status
                said.append(STATUSES[str(status)])
        if note is not None and clean_note(note) != task.note:
            state["note"] = clean_note(note)
            if state["note"]:
                said.append(f"note : {state['note']}")
        if manager and due not in (None, ""):
            due_at = iso(parse_local_time(due, now, "Échéance", "due"))
            if due_at != task.due_at:
                state["due_at"] = due_at
                said.append(f"échéance {local(due_at, '%H:%M')}")
        if manager and (assignee_role not in (None, "") or assignee_id not in (None, "")):
            role, uid, who = _assignee(db, assignee_role, assignee_id)
            if (role, uid) != (task.assignee_role, task.assignee_id):
                state["assignee_role"], state["assignee_id"] = role, uid
                said.append(f"confiée à {who}")
        if not said:
            raise PcsError("Rien n'a changé.", status=409)
        entry = write_log(
            db, now, event_id, actor, f"Tâche n°{task_id} ({task.title}) : " + ", ".join(said) + "."
        )
        change = _insert(db, now, task_id, event_id, state, actor, entry)
        late = state["status"] in ("fait",) and state["due_at"] < iso(now)
        audit.append(
            db,
            now,
            "task.updated",
            actor=actor.login,
            object_type="task",
            object_id=task_id,
            event_id=event_id,
            details={
                "change": change,
                "from": task.status,
                "to": state["status"],
                "due_at": state["due_at"],
                "assignee_role": state["assignee_role"],
                "assignee_id": state["assignee_id"],
                "done_late": late,
                "log_entry": entry,
            },
        )
    found = get_task(db, event_id, task_id)
    assert found is not None
    return found


def assignees(db: sqlite_utils.Database) -> list[auth.User]:
    """Who may be given a task (enabled users of the crisis roles)."""
    return [u for u in auth.list_users(db) if not u.disabled and u.roles & set(ASSIGNABLE_ROLES)]
