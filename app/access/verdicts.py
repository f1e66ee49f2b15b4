"""The owner's verdict on a review: ``conforme`` (signed off) or ``contestee`` (a comment naming
the grants or reads at issue), and a director's answer to a contest.

A verdict signs the review's content hash (``readable.ReadableReview.content_sha256``): if the
review changes afterwards (a read after the verdict), the verdict is shown as bearing on an
earlier version. Verdicts and answers are append-only (the latest verdict counts); each is
written with its audit record in one transaction, the record sealing the row
(``audit.seal``), so ``audit verify`` names a verdict changed on a copy of the database. A
contest notifies every director and stays on their home page until one answers; a review not
signed off within the delay after the event's close is flagged to the owner's stewards and the
directors, once (:func:`flag_overdue`, a scheduler sweep).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlite_utils

from .. import audit, auth
from ..clock import iso, local
from ..db import row, rows, transaction
from .notices import directors, notify_org, notify_users, remind_once
from .policy import AccessDenied, AccessError, NotFound
from .readable import ReadableReview

VERDICTS: dict[str, str] = {"conforme": "conforme", "contestee": "contestée"}
COMMENT_MIN = 20
COMMENT_MAX = 4000
_VERDICT_FIELDS = (
    "event_id", "org_id", "verdict", "comment", "content_sha256", "covered_seq", "signed_by",
    "signed_at",
)  # fmt: skip
_ANSWER_FIELDS = ("verdict_id", "answer", "answered_by", "answered_at")
# "accès n° 12", "n°12", "#12", "lecture 345", "audit n° 345": numbers a comment names.
_REFERENCE = re.compile(r"(?:n\s*°|#|no\.?|numéro)\s*(\d+)|\b(?:accès|lecture|audit)\s+(\d+)", re.I)


@dataclass(frozen=True)
class Answer:
    """A director's answer to a contested review."""

    id: int
    text: str
    by_login: str
    by_name: str
    at: str

    def as_json(self) -> dict[str, Any]:
        return {"text": self.text, "by": {"login": self.by_login, "name": self.by_name},
                "at": self.at}  # fmt: skip


@dataclass(frozen=True)
class Verdict:
    """A steward's verdict on the review of one event for their organisation."""

    id: int
    event_id: int
    event_title: str
    is_drill: bool
    org_id: int
    org_slug: str
    org_name: str
    verdict: str
    comment: str
    content_sha256: str
    covered_seq: int
    by_login: str
    by_name: str
    at: str
    answer: Answer | None = None

    @property
    def label(self) -> str:
        return VERDICTS[self.verdict]

    @property
    def contested(self) -> bool:
        return self.verdict == "contestee"

    @property
    def waiting(self) -> bool:
        """A contest no director has answered yet."""
        return self.contested and self.answer is None

    def as_json(self, current_sha256: str | None = None) -> dict[str, Any]:
        return {
            "id": self.id,
            "verdict": self.verdict,
            "label": self.label,
            "comment": self.comment,
            "content_sha256": self.content_sha256,
            "matches_content": (
                None if current_sha256 is None else current_sha256 == self.content_sha256
            ),
            "covered_seq": self.covered_seq,
            "signed_by": {"login": self.by_login, "name": self.by_name},
            "signed_at": self.at,
            "answer": self.answer.as_json() if self.answer else None,
        }


_VERDICT_SQL = (
    "SELECT v.*, e.title AS event_title, e.is_drill, o.slug AS org_slug, o.name AS org_name,"
    " u.login AS by_login, u.name AS by_name, a.id AS answer_id, a.answer,"
    " a.answered_at, au.login AS answer_login, au.name AS answer_name"
    " FROM review_verdicts v JOIN events e ON e.id = v.event_id"
    " JOIN organisations o ON o.id = v.org_id JOIN users u ON u.id = v.signed_by"
    " LEFT JOIN review_answers a ON a.verdict_id = v.id"
    " LEFT JOIN users au ON au.id = a.answered_by"
)


def _verdict(r: dict[str, Any]) -> Verdict:
    answer = None
    if r["answer_id"] is not None:
        answer = Answer(
            r["answer_id"], r["answer"], r["answer_login"], r["answer_name"], r["answered_at"]
        )
    return Verdict(
        id=r["id"],
        event_id=r["event_id"],
        event_title=r["event_title"],
        is_drill=bool(r["is_drill"]),
        org_id=r["org_id"],
        org_slug=r["org_slug"],
        org_name=r["org_name"],
        verdict=r["verdict"],
        comment=r["comment"],
        content_sha256=r["content_sha256"],
        covered_seq=r["covered_seq"],
        by_login=r["by_login"],
        by_name=r["by_name"],
        at=r["signed_at"],
        answer=answer,
    )


def get_verdict(db: sqlite_utils.Database, verdict_id: int) -> Verdict:
    """One verdict by id; NotFound if unknown."""
    found = row(db, _VERDICT_SQL + " WHERE v.id = ?", [verdict_id])
    if found is None:
        raise NotFound("Verdict inconnu.")
    return _verdict(found)


def verdicts_of(db: sqlite_utils.Database, event_id: int, org_id: int) -> list[Verdict]:
    """Every verdict on the review of this event for this organisation, newest first."""
    found = rows(
        db, _VERDICT_SQL + " WHERE v.event_id = ? AND v.org_id = ? ORDER BY v.id DESC",
        [event_id, org_id],
    )  # fmt: skip
    return [_verdict(r) for r in found]


def latest_verdicts(db: sqlite_utils.Database, org_id: int | None = None) -> list[Verdict]:
    """The latest verdict of each (event, organisation) review, newest first."""
    sql = _VERDICT_SQL + (
        " WHERE v.id IN (SELECT MAX(id) FROM review_verdicts GROUP BY event_id, org_id)"
    )
    params: list[Any] = []
    if org_id is not None:
        sql += " AND v.org_id = ?"
        params.append(org_id)
    return [_verdict(r) for r in rows(db, sql + " ORDER BY v.id DESC", params)]


def contested_waiting(db: sqlite_utils.Database) -> list[Verdict]:
    """Reviews whose latest verdict is a contest no director has answered: the directors'
    home page lists them until one answers."""
    return [v for v in latest_verdicts(db) if v.waiting]


def _references(text: str) -> set[int]:
    return {int(a or b) for a, b in _REFERENCE.findall(text)}


def _clean(text: str, minimum: int, what: str) -> str:
    cleaned = " ".join((text or "").split())
    letters = [c for c in cleaned if c.isalpha()]
    if len(cleaned) < minimum or len(set(c.lower() for c in letters)) < 4:
        raise AccessError(f"{what} : au moins {minimum} caractères qui disent pourquoi.")
    if len(cleaned) > COMMENT_MAX:
        raise AccessError(f"{what} : {COMMENT_MAX} caractères au plus.")
    return cleaned


def record_verdict(
    db: sqlite_utils.Database,
    now: datetime,
    steward: auth.User,
    doc: ReadableReview,
    verdict: str,
    comment: str,
    *,
    grants: list[int] | None = None,
    reads: list[int] | None = None,
) -> Verdict:
    """The steward of the reviewed organisation signs ``conforme`` or ``contestee``.

    A contest needs a comment that says why and names at least one grant (its number) or read
    (its audit number) of the review, in ``grants`` / ``reads`` or in the text. Raises
    AccessDenied (not a steward of this organisation), AccessError (bad verdict or comment).
    """
    org = doc.org
    if not steward.has("steward") or steward.org_id != org["id"]:
        raise AccessDenied(
            f"Seul un gestionnaire de données de {org['name']} peut signer cette revue."
        )
    if verdict not in VERDICTS:
        raise AccessError("Verdict attendu : « conforme » ou « contestee ».")
    if not doc.grants and not doc.other_reads:
        raise AccessError("Aucun accès à vos données pour cet événement : rien à signer.")
    grant_ids = {g.grant.id for g in doc.grants}
    read_seqs = {r["seq"] for r in doc.reads}
    named_grants = sorted(set(grants or ()))
    named_reads = sorted(set(reads or ()))
    unknown = [g for g in named_grants if g not in grant_ids]
    unknown += [s for s in named_reads if s not in read_seqs]
    if unknown:
        raise AccessError(
            "Ces numéros ne sont pas dans la revue : " + ", ".join(map(str, unknown)) + "."
        )
    comment = comment or ""
    if verdict == "contestee":
        text = _clean(comment, COMMENT_MIN, "Le commentaire d'une contestation")
        mentioned = _references(text)
        named_grants = sorted(set(named_grants) | (mentioned & grant_ids))
        named_reads = sorted(set(named_reads) | (mentioned & read_seqs))
        if not named_grants and not named_reads:
            raise AccessError(
                "Une contestation doit désigner au moins un accès (n° "
                + ", ".join(str(g) for g in sorted(grant_ids)[:10])
                + ") ou une lecture (son n° d'audit) de la revue."
            )
    else:
        text = " ".join(comment.split())[:COMMENT_MAX]
    ev = doc.event
    covered = doc.review.audit_seqs[-1] if doc.review.audit_seqs else 0
    label = f"verdict de la revue {org['name']} sur l'événement {ev.id}"
    with transaction(db):
        cur = db.execute(
            "INSERT INTO review_verdicts (event_id, org_id, verdict, comment, content_sha256,"
            " covered_seq, signed_by, signed_at) VALUES (?,?,?,?,?,?,?,?)",
            [ev.id, org["id"], verdict, text, doc.content_sha256, covered, steward.id, iso(now)],
        )
        vid = int(cur.lastrowid or 0)
        audit.append(
            db,
            now,
            "review.verdict",
            actor=steward.login,
            object_type="review_verdict",
            object_id=vid,
            event_id=ev.id,
            details={
                "org": org["slug"],
                "verdict": verdict,
                "comment": text,
                "content_sha256": doc.content_sha256,
                "covered_seq": covered,
                "grants": named_grants,
                "reads": named_reads,
                "seals": [audit.seal(db, "review_verdicts", vid, _VERDICT_FIELDS, label)],
            },
        )
        if verdict == "contestee":
            notify_users(
                db,
                now,
                directors(db),
                "review_contested",
                f"{org['name']} conteste la revue des accès de « {ev.title} » : {text}",
                event_id=ev.id,
                ref=f"review:{ev.id}:{org['slug']}",
            )
    return get_verdict(db, vid)


def answer_verdict(
    db: sqlite_utils.Database, now: datetime, director: auth.User, verdict_id: int, text: str
) -> Verdict:
    """A director answers a contested review (once); the owner's stewards are told."""
    if not director.has("director") or director.has("admin"):
        raise AccessDenied("Seul un directeur des opérations répond à une contestation.")
    v = get_verdict(db, verdict_id)
    if not v.contested:
        raise AccessError("Ce verdict n'est pas une contestation : rien à répondre.")
    if v.answer is not None:
        raise AccessError("Cette contestation a déjà reçu une réponse.", status=409)
    answer = _clean(text, COMMENT_MIN, "La réponse")
    label = f"réponse à la contestation de {v.org_name} sur l'événement {v.event_id}"
    with transaction(db):
        cur = db.execute(
            "INSERT OR IGNORE INTO review_answers (verdict_id, answer, answered_by, answered_at)"
            " VALUES (?,?,?,?)",
            [verdict_id, answer, director.id, iso(now)],
        )
        if cur.rowcount != 1:
            raise AccessError("Cette contestation a déjà reçu une réponse.", status=409)
        aid = int(cur.lastrowid or 0)
        audit.append(
            db,
            now,
            "review.answered",
            actor=director.login,
            object_type="review_verdict",
            object_id=verdict_id,
            event_id=v.event_id,
            details={
                "org": v.org_slug,
                "verdict_id": verdict_id,
                "answer": answer,
                "seals": [audit.seal(db, "review_answers", aid, _ANSWER_FIELDS, label)],
            },
        )
        # Answered: the contest leaves every director's home page (their notices of it too).
        db.execute(
            "UPDATE notifications SET read_at = ?, read_by = ? WHERE kind = 'review_contested'"
            " AND ref = ? AND read_at IS NULL",
            [iso(now), director.id, f"review:{v.event_id}:{v.org_slug}"],
        )
        notify_org(
            db,
            now,
            v.org_id,
            "review_answered",
            f"{director.name} a répondu à votre contestation de « {v.event_title} » : {answer}",
            event_id=v.event_id,
            ref=f"review:{v.event_id}:{v.org_slug}",
        )
    return get_verdict(db, verdict_id)


def reviews_due(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    """Every (event, owner organisation) with at least one grant on the owner's data, with the
    event's state and the latest verdict's id (None: never signed)."""
    return rows(
        db,
        "SELECT e.id AS event_id, e.title, e.is_drill, e.status, e.closed_at,"
        " o.id AS org_id, o.slug AS org_slug, o.name AS org_name,"
        " (SELECT MAX(v.id) FROM review_verdicts v WHERE v.event_id = e.id AND v.org_id = o.id)"
        "   AS verdict_id"
        " FROM grants g JOIN datasets d ON d.id = g.dataset_id"
        " JOIN organisations o ON o.id = d.owner_org_id JOIN events e ON e.id = g.event_id"
        " GROUP BY e.id, o.id ORDER BY e.id DESC, o.name",
    )


def overdue(db: sqlite_utils.Database, now: datetime, delay: timedelta) -> list[dict[str, Any]]:
    """Reviews never signed off although the event closed more than ``delay`` ago."""
    limit = iso(now - delay)
    return [
        r
        for r in reviews_due(db)
        if r["verdict_id"] is None and r["status"] == "closed" and r["closed_at"]
        and r["closed_at"] <= limit
    ]  # fmt: skip


def flag_overdue(db: sqlite_utils.Database, now: datetime, delay: timedelta) -> int:
    """Flag each overdue review once to the owner's stewards and the directors (idempotent)."""
    flagged = 0
    for r in overdue(db, now, delay):
        ref = f"review:{r['event_id']}:{r['org_slug']}"
        with transaction(db):
            if not remind_once(db, now, "review_overdue", ref):
                continue
            days = delay.days
            text = (
                f"La revue des accès de {r['org_name']} sur « {r['title']} » (close le"
                f" {local(r['closed_at'], '%d/%m/%Y')}) n'est pas signée après {days} jours."
            )
            notify_org(db, now, r["org_id"], "review_overdue", text, event_id=r["event_id"],
                       ref=ref)  # fmt: skip
            notify_users(db, now, directors(db), "review_overdue", text,
                         event_id=r["event_id"], ref=ref)  # fmt: skip
            audit.append(
                db,
                now,
                "review.overdue",
                actor="system",
                object_type="organisation",
                object_id=r["org_slug"],
                event_id=r["event_id"],
                details={"org": r["org_slug"], "closed_at": r["closed_at"], "delay_days": days},
            )
            flagged += 1
    return flagged
