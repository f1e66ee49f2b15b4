"""The access policy's vocabulary (reasons, purposes, roles, states), its limits, its refusals,
and the lookups every part of :mod:`app.access` shares (a dataset, an event, ending a grant)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlite_utils

from .. import audit, auth
from ..clock import iso
from ..db import row
from ..errors import DomainError
from ..records import Dataset, Event, get_dataset, get_event

REASON_CODES: dict[str, str] = {
    "mise_a_l_abri": "Mise à l'abri de la population",
    "evacuation": "Évacuation",
    "intervention_reseau": "Intervention sur un réseau",
    "secours_personnes": "Secours aux personnes",
    "information_cod": "Information du COD / de la préfecture",
    "autre": "Autre (préciser dans la justification)",
}
PURPOSE_LABELS: dict[str, str] = {
    "view": "consultation de la liste",
    "map": "carte",
    "popup": "fiche sur la carte",
    "export": "export",
    "report": "rapport (point de situation)",
    "api": "lecture par l'API",
    "calls": "campagne d'appels",
    "annex": "annexe restreinte d'un rapport téléchargée",
}
PURPOSES = tuple(PURPOSE_LABELS)
# Roles an agreement may name. Never admin: separation of duties. The same roles wait for a
# director's confirmation when the console's administration gives them (auth, four eyes).
GRANTABLE_ROLES = auth.GRANT_HOLDING_ROLES
APPROVALS = ("none", "second_person")
SCOPES = ("zone", "territory")
LIVE = ("pending", "active")
FINAL = ("expired", "revoked", "denied")

# Past its review date an agreement is « à renouveler »; what it does then is a term the owner
# signs: keep opening grants (and say so) or stop opening new ones.
LAPSE_RULES: dict[str, str] = {
    "continue": "reste utilisable (signalée « à renouveler »)",
    "stop": "n'ouvre plus de nouvel accès",
}
REVIEW_EVERY = timedelta(days=365)

JUSTIFICATION_MIN = 20
DURATION_MAX_MIN = 24 * 60
PENDING_TTL = timedelta(minutes=30)
FALLBACK_RADIUS_M = 2000.0
MARGIN_MAX_M = 10_000.0
# Wrong TOTP codes of one user before the step-up is refused for a while (no brute force of
# the 10^6 codes from a stolen session).
TOTP_MAX_FAILURES = 5
TOTP_LOCK = timedelta(minutes=15)


class AccessError(DomainError):
    """A refused request, with a French message for the person at the keyboard (HTTP 422)."""


class AccessDenied(AccessError):
    """No valid grant or agreement, or not allowed to act on this object (HTTP 403)."""

    status = 403


class TooManyAttempts(AccessDenied):
    """Too many wrong TOTP codes lately: the step-up is refused for a while (HTTP 429)."""

    status = 429


class NotFound(AccessError):
    """Unknown agreement, grant, event or dataset (HTTP 404)."""

    status = 404


class StepUpRequired(AccessError):
    """A TOTP code is required (and, for personal data, enrolment first) (HTTP 422)."""

    def __init__(self, message: str, enrol: bool = False):
        super().__init__(message)
        self.enrol = enrol

    def api_fields(self) -> dict[str, Any]:
        return {"totp_required": True, "enrol_required": self.enrol}


def dataset(db: sqlite_utils.Database, slug: str) -> Dataset:
    """The dataset ``slug`` (with its owner); NotFound if unknown."""
    found = get_dataset(db, slug)
    if found is None:
        raise NotFound(f"Jeu de données inconnu : {slug}.")
    return found


def _event(db: sqlite_utils.Database, event_id: int) -> Event:
    found = get_event(db, event_id)
    if found is None:
        raise NotFound(f"Événement inconnu : {event_id}.")
    return found


def _is_owner_steward(user: auth.User, owner_org_id: int) -> bool:
    return user.has("steward") and user.org_id == owner_org_id


def _end(
    db: sqlite_utils.Database,
    now: datetime,
    grant_id: int,
    status: str,
    actor: auth.User | None,
    reason: str,
    *,
    ended_at: datetime | None = None,
) -> bool:
    """Move a live grant to a final state (compare-and-set); audit it. False if already final."""
    at = ended_at or now
    cur = db.execute(
        "UPDATE grants SET status = ?, ended_at = ?, ended_by = ?, end_reason = ?"
        " WHERE id = ? AND status IN ('pending','active')",
        [status, iso(at), actor.id if actor else None, reason, grant_id],
    )
    if cur.rowcount != 1:
        return False
    g = row(
        db,
        "SELECT g.event_id, d.slug FROM grants g JOIN datasets d ON d.id = g.dataset_id"
        " WHERE g.id = ?",
        [grant_id],
    )
    assert g is not None
    audit.append(
        db,
        now,
        f"grant.{status}",
        actor=actor.login if actor else "system",
        object_type="grant",
        object_id=grant_id,
        event_id=g["event_id"],
        details={"dataset": g["slug"], "reason": reason, "ended_at": iso(at)},
    )
    return True
