"""Notifications: to an organisation's stewards (the owner's inbox, as before) or to one person
(a grant holder warned before the end of their access, a director told of a request waiting or
of a contested review). A person reads and marks only their own; a steward their organisation's.

``ref`` ties a notification to what it is about (``review:<event>:<org>``,
``agreement:<key>``…) so that the pages can link to it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import sqlite_utils

from .. import audit, auth
from ..clock import iso
from ..db import rows, transaction

# Kinds a person (not an organisation) receives, with their French heading.
PERSONAL_KINDS: dict[str, str] = {
    "grant_expiring": "Votre accès se termine bientôt",
    "request_waiting": "Demande d'accès en attente de votre approbation",
    "review_contested": "Revue contestée par un propriétaire",
    "review_answered": "Réponse du directeur à votre contestation",
    "review_overdue": "Revue propriétaire non signée",
    "agreement_review": "Convention à revoir",
}


def notify_org(
    db: sqlite_utils.Database,
    now: datetime,
    org_id: int,
    kind: str,
    text: str,
    *,
    event_id: int | None = None,
    grant_id: int | None = None,
    ref: str | None = None,
) -> None:
    """A notification to the organisation's stewards (their inbox); inside the caller's unit."""
    db.execute(
        "INSERT INTO notifications (org_id, created_at, kind, grant_id, event_id, text, ref)"
        " VALUES (?,?,?,?,?,?,?)",
        [org_id, iso(now), kind, grant_id, event_id, text, ref],
    )


def notify_users(
    db: sqlite_utils.Database,
    now: datetime,
    user_ids: Iterable[int],
    kind: str,
    text: str,
    *,
    event_id: int | None = None,
    grant_id: int | None = None,
    ref: str | None = None,
) -> int:
    """One notification to each person (in their organisation's name); returns how many."""
    n = 0
    for uid in sorted(set(user_ids)):
        db.execute(
            "INSERT INTO notifications (org_id, user_id, created_at, kind, grant_id, event_id,"
            " text, ref) VALUES ((SELECT org_id FROM users WHERE id = ?),?,?,?,?,?,?,?)",
            [uid, uid, iso(now), kind, grant_id, event_id, text, ref],
        )
        n += 1
    return n


def directors(db: sqlite_utils.Database, *, except_id: int | None = None) -> list[int]:
    """Enabled users holding the director role (never an administrator)."""
    found = rows(
        db,
        "SELECT u.id FROM users u JOIN user_roles r ON r.user_id = u.id AND r.role = 'director'"
        " WHERE u.disabled = 0 AND NOT EXISTS (SELECT 1 FROM user_roles a"
        "   WHERE a.user_id = u.id AND a.role = 'admin') ORDER BY u.id",
    )
    return [r["id"] for r in found if r["id"] != except_id]


def personal_notifications(
    db: sqlite_utils.Database, user: auth.User, *, unread_only: bool = False, limit: int = 100
) -> list[dict[str, Any]]:
    """The notifications addressed to ``user`` in person, newest first."""
    sql = "SELECT * FROM notifications WHERE user_id = ?"
    if unread_only:
        sql += " AND read_at IS NULL"
    return rows(db, sql + " ORDER BY id DESC LIMIT ?", [user.id, limit])


def notifications_for(
    db: sqlite_utils.Database, user: auth.User, unread_only: bool = False
) -> list[dict[str, Any]]:
    """The steward inbox: notifications to the user's organisation."""
    if not user.has("steward"):
        return []
    sql = "SELECT * FROM notifications WHERE org_id = ? AND user_id IS NULL"
    if unread_only:
        sql += " AND read_at IS NULL"
    return rows(db, sql + " ORDER BY id DESC LIMIT 200", [user.org_id])


def mark_read(
    db: sqlite_utils.Database, now: datetime, user: auth.User, notification_id: int
) -> None:
    """A steward marks an inbox notification (to their organisation) read."""
    _mark(db, now, user, notification_id, "org_id = ? AND user_id IS NULL", user.org_id)


def mark_personal_read(
    db: sqlite_utils.Database, now: datetime, user: auth.User, notification_id: int
) -> bool:
    """``user`` marks one of their own notifications read (someone else's: nothing happens)."""
    return _mark(db, now, user, notification_id, "user_id = ?", user.id)


def _mark(
    db: sqlite_utils.Database,
    now: datetime,
    user: auth.User,
    notification_id: int,
    addressee: str,
    value: Any,
) -> bool:
    """Mark one notification read if ``addressee`` (a fixed SQL clause) holds; audited."""
    with transaction(db):
        cur = db.execute(
            "UPDATE notifications SET read_at = ?, read_by = ? WHERE id = ? AND read_at IS NULL"
            f" AND {addressee}",
            [iso(now), user.id, notification_id, value],
        )
        if cur.rowcount:
            audit.append(
                db,
                now,
                "notification.read",
                actor=user.login,
                object_type="notification",
                object_id=notification_id,
            )
    return bool(cur.rowcount)


def remind_once(db: sqlite_utils.Database, now: datetime, kind: str, ref: str) -> bool:
    """True the first time (kind, ref) is asked, recording it: the reminder sweeps use it to
    send each reminder once, whatever how often they run (inside the caller's unit)."""
    cur = db.execute(
        "INSERT OR IGNORE INTO reminders (kind, ref, sent_at) VALUES (?,?,?)",
        [kind, ref, iso(now)],
    )
    return cur.rowcount == 1
