"""What waits for one person: the per-user inbox behind the menu badge and the home page block.

Nothing waits unseen (issue 12): requests waiting for my approval (with their deadline), my own
requests waiting, my grants about to expire, drill injects addressed to my roles and not yet
acknowledged, my organisation's unread owner notifications (stewards), and accounts waiting for
a director's confirmation. One call reads it all with a few indexed queries; its
:attr:`Inbox.fingerprint` changes only when what is shown changes (deadlines are absolute times,
the time left is computed by whoever shows it), so a poll can be answered 304.

This module never imports Flask: functions take the database and ``now``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlite_utils

from . import access, auth
from .clock import parse_iso
from .db import rows

EXPIRING_SOON = timedelta(minutes=10)
LIMIT = 50  # items per kind: more would be a list page, not an inbox

# Kinds, in the order they are shown (the most urgent first), with their French headings.
KINDS: dict[str, str] = {
    "approval": "Demandes d'accès à approuver",
    "contested": "Revues contestées par un propriétaire",
    "inject": "Injects d'exercice à traiter",
    "account": "Comptes à confirmer",
    "expiring": "Mes accès qui se terminent",
    "my_request": "Mes demandes en attente",
    "notification": "Notifications de bris de glace non lues",
    "personal": "Mes notifications",
}
# Personal notifications whose subject the inbox already shows from the state itself (the
# request to approve, my grant ending, the contest to answer): not listed twice.
SHOWN_FROM_STATE = ("request_waiting", "grant_expiring", "review_contested")


@dataclass(frozen=True)
class InboxItem:
    """One thing waiting for the user (``ref`` is the id of the grant, inject row, account
    request or notification; the web layer makes the link)."""

    kind: str
    ref: int
    title: str
    detail: str = ""
    event_id: int | None = None
    event_title: str = ""
    is_drill: bool = False
    until: str | None = None  # the deadline (ISO UTC): a request's expiry, a grant's end
    key: str = ""  # the dataset slug of a grant, the inject's id in its scenario

    @property
    def id(self) -> str:
        return f"{self.kind}:{self.ref}"


@dataclass(frozen=True)
class Inbox:
    """Everything waiting for one user, most urgent first; real events before drills."""

    items: tuple[InboxItem, ...] = ()
    pending_roles: tuple[str, ...] = ()  # the user's own roles waiting for a director
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def count(self) -> int:
        return len(self.items)

    def of(self, kind: str) -> list[InboxItem]:
        return [i for i in self.items if i.kind == kind]

    @property
    def real(self) -> list[InboxItem]:
        return [i for i in self.items if not i.is_drill]

    @property
    def drills(self) -> list[InboxItem]:
        return [i for i in self.items if i.is_drill]

    @property
    def fingerprint(self) -> str:
        """A digest of what is shown: the same inbox, the same fingerprint (the poll's ETag)."""
        shown = {"items": [asdict(i) for i in self.items], "roles": list(self.pending_roles)}
        text = json.dumps(shown, sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(text.encode()).hexdigest()[:24]

    def to_json(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "counts": self.counts,
            "fingerprint": self.fingerprint,
            "pending_roles": list(self.pending_roles),
            "items": [
                {
                    "id": i.id,
                    "kind": i.kind,
                    "title": i.title,
                    "detail": i.detail,
                    "event": i.event_id,
                    "event_title": i.event_title,
                    "drill": i.is_drill,
                    "until": i.until,
                }
                for i in self.items
            ],
        }


def _grant_items(db: sqlite_utils.Database, now: datetime, user: auth.User) -> list[InboxItem]:
    out: list[InboxItem] = []
    for g in access.pending_for(db, now, user)[:LIMIT]:
        reason = access.REASON_CODES.get(g.reason_code, g.reason_code)
        out.append(
            InboxItem(
                "approval",
                g.id,
                f"{g.user_name} demande « {g.dataset_title} »",
                f"{reason} — {g.justification}",
                g.event_id,
                g.event_title,
                g.is_drill,
                g.pending_until,
                g.dataset_slug,
            )
        )
    if not user.has(*access.GRANTABLE_ROLES):
        return out
    mine = access.list_grants(db, user_id=user.id, statuses=access.LIVE)
    for g in mine[:LIMIT]:
        state = g.effective_status(now)
        if state == "pending":
            out.append(
                InboxItem(
                    "my_request",
                    g.id,
                    f"Votre demande « {g.dataset_title} » attend un second directeur",
                    access.REASON_CODES.get(g.reason_code, g.reason_code),
                    g.event_id,
                    g.event_title,
                    g.is_drill,
                    g.pending_until,
                    g.dataset_slug,
                )
            )
        elif state == "active" and g.expires_at and parse_iso(g.expires_at) - now <= EXPIRING_SOON:
            out.append(
                InboxItem(
                    "expiring",
                    g.id,
                    f"Votre accès à « {g.dataset_title} » se termine",
                    "Demandez un nouvel accès s'il reste nécessaire.",
                    g.event_id,
                    g.event_title,
                    g.is_drill,
                    g.expires_at,
                    g.dataset_slug,
                )
            )
    return out


def _inject_items(db: sqlite_utils.Database, user: auth.User) -> list[InboxItem]:
    """Fired, unacknowledged injects of live drills addressed to one of the user's roles."""
    roles = sorted(user.roles)
    if not roles:
        return []
    found = rows(
        db,
        "SELECT i.id, i.inject_id, i.event_id, i.title, i.to_role, i.fired_at, e.title AS event,"
        " COALESCE(l.text, '') AS text FROM drill_injects i"
        " JOIN drills d ON d.event_id = i.event_id JOIN events e ON e.id = i.event_id"
        " LEFT JOIN log_entries l ON l.id = i.log_entry_id"
        " WHERE i.acknowledged_at IS NULL AND i.outcome = 'fired'"
        " AND d.state IN ('running', 'paused') AND e.status = 'open'"
        f" AND i.to_role IN ({','.join('?' * len(roles))}) ORDER BY i.fired_at, i.id LIMIT ?",
        [*roles, LIMIT],
    )
    return [
        InboxItem(
            "inject",
            r["id"],
            r["title"] or r["inject_id"],
            r["text"],
            r["event_id"],
            r["event"],
            True,
            None,
            r["inject_id"],
        )
        for r in found
    ]


def _account_items(db: sqlite_utils.Database, user: auth.User) -> list[InboxItem]:
    return [
        InboxItem(
            "account",
            r.id,
            r.label,
            f"{r.org_name} — demandé par {r.requested_by}",
            until=None,
        )
        for r in auth.requests_to_confirm(db, user)[:LIMIT]
    ]


def _notification_items(db: sqlite_utils.Database, user: auth.User) -> list[InboxItem]:
    if not user.has("steward"):
        return []
    found = rows(
        db,
        "SELECT n.id, n.text, n.event_id, COALESCE(e.title, '') AS event,"
        " COALESCE(e.is_drill, 0) AS is_drill FROM notifications n"
        " LEFT JOIN events e ON e.id = n.event_id"
        " WHERE n.org_id = ? AND n.user_id IS NULL AND n.read_at IS NULL"
        " ORDER BY n.id DESC LIMIT ?",
        [user.org_id, LIMIT],
    )
    return [
        InboxItem(
            "notification",
            r["id"],
            r["text"],
            "",
            r["event_id"],
            r["event"],
            bool(r["is_drill"]),
        )
        for r in found
    ]


def _review_items(db: sqlite_utils.Database, user: auth.User) -> list[InboxItem]:
    """Contested owner reviews no director has answered (directors), until one answers."""
    if not user.has("director") or user.has("admin"):
        return []
    return [
        InboxItem(
            "contested",
            v.id,
            f"{v.org_name} conteste la revue des accès",
            f"{v.by_name} : « {v.comment} »",
            v.event_id,
            v.event_title,
            v.is_drill,
            None,
            v.org_slug,
        )
        for v in access.contested_waiting(db)[:LIMIT]
    ]


def _personal_items(db: sqlite_utils.Database, user: auth.User) -> list[InboxItem]:
    """My unread notifications (a review not signed in time, an agreement that stops…)."""
    found = rows(
        db,
        "SELECT n.id, n.kind, n.text, n.event_id, n.ref, COALESCE(e.title, '') AS event,"
        " COALESCE(e.is_drill, 0) AS is_drill FROM notifications n"
        " LEFT JOIN events e ON e.id = n.event_id WHERE n.user_id = ? AND n.read_at IS NULL"
        f" AND n.kind NOT IN ({','.join('?' * len(SHOWN_FROM_STATE))})"
        " ORDER BY n.id DESC LIMIT ?",
        [user.id, *SHOWN_FROM_STATE, LIMIT],
    )
    return [
        InboxItem(
            "personal",
            r["id"],
            access.PERSONAL_KINDS.get(r["kind"], r["kind"]),
            r["text"],
            r["event_id"],
            r["event"],
            bool(r["is_drill"]),
            None,
            r["ref"] or "",
        )
        for r in found
    ]


def _urgency(item: InboxItem) -> tuple[int, int, str, int]:
    order = list(KINDS)
    return (item.is_drill, order.index(item.kind), item.until or "~", item.ref)


def inbox_for(db: sqlite_utils.Database, now: datetime, user: auth.User) -> Inbox:
    """Everything waiting for ``user`` at ``now``."""
    items = (
        _grant_items(db, now, user)
        + _inject_items(db, user)
        + _account_items(db, user)
        + _notification_items(db, user)
        + _review_items(db, user)
        + _personal_items(db, user)
    )
    items.sort(key=_urgency)
    counts = {kind: 0 for kind in KINDS}
    for item in items:
        counts[item.kind] += 1
    return Inbox(
        items=tuple(items),
        pending_roles=tuple(auth.pending_roles(db, user.id)),
        counts=counts,
    )


__all__ = ["EXPIRING_SOON", "KINDS", "Inbox", "InboxItem", "inbox_for"]
