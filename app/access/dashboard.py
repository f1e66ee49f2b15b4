"""The owner's own dashboard (a steward's home): every event where the organisation's data was
opened, with where its review stands; the agreements with their versions and review dates; the
signed checkpoints that cover the owner's records; unread notifications."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlite_utils

from ..clock import iso
from ..db import rows
from ..records import Agreement
from .agreements import list_agreements
from .notices import notifications_for
from .readable import readable_review
from .renewal import REMIND_BEFORE, Renewal, renewal
from .review import checkpoints_from, owner_review
from .verdicts import Verdict, latest_verdicts

REVIEW_STATES: dict[str, str] = {
    "en_cours": "événement en cours",
    "en_retard": "à signer — délai dépassé",
    "a_signer": "à signer",
    "a_revoir": "à revoir : la revue a changé depuis le verdict",
    "contestee": "contestée — en attente de réponse",
    "contestee_repondue": "contestée — réponse reçue",
    "conforme": "conforme",
}
PENDING = ("en_cours", "en_retard", "a_signer", "a_revoir")
CONTESTED = ("contestee", "contestee_repondue")


@dataclass(frozen=True)
class EventReview:
    """One event where the owner's data was asked for, and where its review stands."""

    event_id: int
    title: str
    is_drill: bool
    status: str
    declared_at: str
    closed_at: str | None
    grants: int
    reads: int
    verdict: Verdict | None
    state: str

    @property
    def label(self) -> str:
        return REVIEW_STATES[self.state]


@dataclass
class OwnerDashboard:
    """What a steward sees first."""

    org: dict[str, Any]
    events: list[EventReview]
    agreements: list[tuple[Agreement, Renewal, int]]  # (current version, state, versions)
    checkpoints: list[dict[str, Any]]
    notifications: list[dict[str, Any]] = field(default_factory=list)

    @property
    def pending(self) -> list[EventReview]:
        return [e for e in self.events if e.state in PENDING]

    @property
    def contested(self) -> list[EventReview]:
        return [e for e in self.events if e.state in CONTESTED]

    @property
    def signed(self) -> list[EventReview]:
        return [e for e in self.events if e.state == "conforme"]


def owner_dashboard(
    db: sqlite_utils.Database,
    now: datetime,
    org: dict[str, Any],
    user: Any,
    *,
    review_delay: timedelta = timedelta(days=14),
    remind_before: timedelta = REMIND_BEFORE,
) -> OwnerDashboard:
    """The dashboard of organisation ``org`` for ``user`` (one of its stewards)."""
    org_id = org["id"]
    slugs = [r["slug"] for r in rows(db, "SELECT slug FROM datasets WHERE owner_org_id = ?",
                                     [org_id])]  # fmt: skip
    reads: dict[int, int] = {}
    first_seq = 0
    if slugs:
        marks = ",".join("?" * len(slugs))
        for r in rows(
            db,
            "SELECT event_id, SUM(action = 'data.read') AS n, MIN(seq) AS first FROM audit_log"
            f" WHERE event_id IS NOT NULL AND json_extract(details, '$.dataset') IN ({marks})"
            " GROUP BY event_id",
            slugs,
        ):
            reads[r["event_id"]] = int(r["n"] or 0)
            first_seq = min(first_seq or r["first"], r["first"])
    verdicts = {v.event_id: v for v in latest_verdicts(db, org_id)}
    events: list[EventReview] = []
    for r in rows(
        db,
        "SELECT e.id, e.title, e.is_drill, e.status, e.declared_at, e.closed_at,"
        " COUNT(g.id) AS grants FROM grants g JOIN datasets d ON d.id = g.dataset_id"
        " JOIN events e ON e.id = g.event_id WHERE d.owner_org_id = ?"
        " GROUP BY e.id ORDER BY e.id DESC LIMIT 200",
        [org_id],
    ):
        v = verdicts.get(r["id"])
        if v is None:
            if r["status"] == "open":
                state = "en_cours"
            elif r["closed_at"] and r["closed_at"] <= iso(now - review_delay):
                state = "en_retard"
            else:
                state = "a_signer"
        else:
            current = readable_review(db, now, owner_review(db, now, org_id, r["id"]))
            if current.content_sha256 != v.content_sha256:
                state = "a_revoir"
            elif v.contested:
                state = "contestee" if v.answer is None else "contestee_repondue"
            else:
                state = "conforme"
        events.append(
            EventReview(
                event_id=r["id"],
                title=r["title"],
                is_drill=bool(r["is_drill"]),
                status=r["status"],
                declared_at=r["declared_at"],
                closed_at=r["closed_at"],
                grants=int(r["grants"]),
                reads=reads.get(r["id"], 0),
                verdict=v,
                state=state,
            )
        )
    agreements = []
    for a in list_agreements(db, org_id=org_id):
        if a.status != "active":
            continue
        count = int(
            rows(db, "SELECT COUNT(*) AS n FROM agreements WHERE agreement_key = ?", [a.key])[0][
                "n"
            ]
        )
        agreements.append((a, renewal(a, now, remind_before), count))
    unread = [n for n in notifications_for(db, user) if not n["read_at"]]
    return OwnerDashboard(
        org=org,
        events=events,
        agreements=agreements,
        checkpoints=checkpoints_from(db, first_seq)[-10:] if first_seq else [],
        notifications=unread,
    )
