"""Reminders that keep the agreement alive, each sent once (``reminders`` table), by one
idempotent sweep ``(db, now, policy)`` the scheduler runs:

- an agreement nearing its review date reminds its owner's stewards; past it, the agreement is
  « à renouveler » (stewards told; directors too when it stops opening new grants);
- a grant holder is warned before their access ends;
- the directors are told of each request waiting for a second director;
- a review not signed off within the delay after its event's close is flagged
  (``verdicts.flag_overdue``).

The inbox and the pages show the same things from the state itself; these are the messages
that reach someone who is not looking.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlite_utils

from .. import audit
from ..clock import local, parse_iso
from ..db import rows, transaction
from ..records import AGREEMENT_SQL, agreement_from_row
from .grants import list_grants
from .notices import directors, notify_org, notify_users, remind_once
from .policy import REASON_CODES
from .verdicts import flag_overdue


@dataclass(frozen=True)
class ReminderPolicy:
    """The delays of the reminders (settings ``CRISIS_REVIEW_DELAY_DAYS``,
    ``CRISIS_AGREEMENT_NOTICE_DAYS``, ``CRISIS_GRANT_WARNING_MIN``)."""

    review_delay: timedelta = timedelta(days=14)
    agreement_notice: timedelta = timedelta(days=30)
    grant_warning: timedelta = timedelta(minutes=15)

    @classmethod
    def from_settings(cls, settings: dict[str, object]) -> ReminderPolicy:
        def number(name: str, default: int) -> int:
            value = settings.get(name, default)
            return int(value) if isinstance(value, int | str) else default

        return cls(
            review_delay=timedelta(days=number("REVIEW_DELAY_DAYS", 14)),
            agreement_notice=timedelta(days=number("AGREEMENT_NOTICE_DAYS", 30)),
            grant_warning=timedelta(minutes=number("GRANT_WARNING_MIN", 15)),
        )


def remind_agreements(db: sqlite_utils.Database, now: datetime, notice: timedelta) -> int:
    """Remind the owner before an agreement's review date, and say when it is past (once each)."""
    sent = 0
    found = rows(
        db, AGREEMENT_SQL + " WHERE a.status = 'active' AND a.review_at IS NOT NULL ORDER BY a.id"
    )
    for a in (agreement_from_row(r) for r in found):
        assert a.review_at is not None
        when = parse_iso(a.review_at)
        name = f"La convention {a.key} v{a.version} (« {a.dataset_title} »)"
        with transaction(db):
            if when <= now:
                if not remind_once(db, now, "agreement_lapsed", str(a.id)):
                    continue
                rule = (
                    "elle n'ouvre plus de nouvel accès tant qu'une nouvelle version n'est pas"
                    " signée"
                    if a.on_lapse == "stop"
                    else "elle reste utilisable, signalée « à renouveler »"
                )
                text = (
                    f"{name} est à renouveler depuis le {local(a.review_at, '%d/%m/%Y')} : {rule}."
                )
                notify_org(db, now, a.owner_org_id, "agreement_review", text,
                           ref=f"agreement:{a.id}")  # fmt: skip
                if a.on_lapse == "stop":
                    notify_users(db, now, directors(db), "agreement_review", text,
                                 ref=f"agreement:{a.id}")  # fmt: skip
                action = "agreement.lapsed"
            elif when - now <= notice:
                if not remind_once(db, now, "agreement_review_soon", str(a.id)):
                    continue
                text = (
                    f"{name} arrive à sa date de revue le {local(a.review_at, '%d/%m/%Y')} :"
                    " relisez-la et signez une nouvelle version (même inchangée)."
                )
                notify_org(db, now, a.owner_org_id, "agreement_review", text,
                           ref=f"agreement:{a.id}")  # fmt: skip
                action = "agreement.review_reminder"
            else:
                continue
            audit.append(
                db,
                now,
                action,
                actor="system",
                object_type="agreement",
                object_id=a.id,
                details={"key": a.key, "version": a.version, "review_at": a.review_at,
                         "on_lapse": a.on_lapse, "agreement_dataset": a.dataset_slug},
            )  # fmt: skip
            sent += 1
    return sent


def warn_holders(db: sqlite_utils.Database, now: datetime, warning: timedelta) -> int:
    """Warn each holder once when their grant ends within ``warning``."""
    sent = 0
    for g in list_grants(db, statuses=("active",)):
        if not g.valid_at(now) or g.expires_at is None:
            continue
        if parse_iso(g.expires_at) - now > warning:
            continue
        with transaction(db):
            if not remind_once(db, now, "grant_expiring", str(g.id)):
                continue
            notify_users(
                db,
                now,
                [g.user_id],
                "grant_expiring",
                f"Votre accès à « {g.dataset_title} » sur « {g.event_title} » se termine à"
                f" {local(g.expires_at, '%H:%M')}. Demandez un nouvel accès s'il reste nécessaire.",
                event_id=g.event_id,
                grant_id=g.id,
            )
            sent += 1
    return sent


def tell_approvers(db: sqlite_utils.Database, now: datetime) -> int:
    """Tell every director but the requester, once, of each request waiting for approval."""
    sent = 0
    for g in list_grants(db, statuses=("pending",)):
        if g.effective_status(now) != "pending":
            continue
        with transaction(db):
            if not remind_once(db, now, "request_waiting", str(g.id)):
                continue
            reason = REASON_CODES.get(g.reason_code, g.reason_code)
            notify_users(
                db,
                now,
                directors(db, except_id=g.user_id),
                "request_waiting",
                f"{g.user_name} demande « {g.dataset_title} » sur « {g.event_title} » ({reason})."
                f" Décision attendue avant {local(g.pending_until, '%H:%M')}.",
                event_id=g.event_id,
                grant_id=g.id,
            )
            sent += 1
    return sent


def remind(
    db: sqlite_utils.Database, now: datetime, policy: ReminderPolicy | None = None
) -> dict[str, int]:
    """Every reminder that is due and not sent yet (idempotent); counts per kind."""
    policy = policy or ReminderPolicy()
    return {
        "agreements": remind_agreements(db, now, policy.agreement_notice),
        "grants_expiring": warn_holders(db, now, policy.grant_warning),
        "requests_waiting": tell_approvers(db, now),
        "reviews_overdue": flag_overdue(db, now, policy.review_delay),
    }
