"""Agreements, break-glass grants and access records: the owners' trust, made executable.

Deny by default. A grant is valid only while, at the moment of the read, it is ``active``, its
``expires_at`` is in the future, its event is open and its agreement has not been withdrawn: every
read checks this against ``now`` (the scheduler's :func:`sweep` only tidies states). Every read
writes an access record (``data.read``) into the audit log in the same transaction as the read,
so no record means no data.

Zone scope: features intersecting the event's outer zone (latest ``event_zones`` version, the
union of its features) buffered by the agreement's margin. When an event has no stored zones yet,
the scope is a circle of :data:`FALLBACK_RADIUS_M` around the event's point, plus the margin.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import shapely
import sqlite_utils
from shapely.geometry import Point, box, shape
from shapely.geometry.base import BaseGeometry

from . import audit, auth
from .clock import iso, local, parse_iso
from .db import dumps, row, rows, scalar, transaction
from .errors import DomainError
from .records import (
    AGREEMENT_SQL,
    DATASET_SQL,
    EVENT_SQL,
    GRANT_SQL,
    STATUS_LABELS,
    Agreement,
    Dataset,
    Event,
    Grant,
    agreement_from_row,
    dataset_from_row,
    event_from_row,
    get_dataset,
    get_event,
    grant_from_row,
    latest_zones,
)

# --- vocabulary ----------------------------------------------------------------------------

REASON_CODES: dict[str, str] = {
    "mise_a_l_abri": "Mise à l'abri de la population",
    "evacuation": "Évacuation",
    "intervention_reseau": "Intervention sur un réseau",
    "secours_personnes": "Secours aux personnes",
    "information_cod": "Information du COD / de la préfecture",
    "autre": "Autre (préciser dans la justification)",
}
PURPOSES = ("view", "map", "popup", "export", "report", "api")
# Roles an agreement may name. Never admin: separation of duties.
GRANTABLE_ROLES = ("director", "cell", "liaison", "exercise")
APPROVALS = ("none", "second_person")
SCOPES = ("zone", "territory")
LIVE = ("pending", "active")
FINAL = ("expired", "revoked", "denied")

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


# --- records -------------------------------------------------------------------------------


# --- helpers -------------------------------------------------------------------------------


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


def get_agreement(db: sqlite_utils.Database, agreement_id: int) -> Agreement:
    """One agreement version by id; NotFound if unknown."""
    r = row(db, AGREEMENT_SQL + " WHERE a.id = ?", [agreement_id])
    if r is None:
        raise NotFound(f"Convention inconnue : {agreement_id}.")
    return agreement_from_row(r)


def list_agreements(
    db: sqlite_utils.Database,
    *,
    org_id: int | None = None,
    dataset_slug: str | None = None,
    include_history: bool = False,
) -> list[Agreement]:
    """Agreements (current versions unless ``include_history``), by dataset then key."""
    where: list[str] = []
    params: list[Any] = []
    if org_id is not None:
        where.append("d.owner_org_id = ?")
        params.append(org_id)
    if dataset_slug is not None:
        where.append("d.slug = ?")
        params.append(dataset_slug)
    if not include_history:
        where.append("a.status != 'superseded'")
    sql = AGREEMENT_SQL + (" WHERE " + " AND ".join(where) if where else "")
    sql += " ORDER BY d.slug, a.agreement_key, a.version DESC"
    return [agreement_from_row(r) for r in rows(db, sql, params)]


def get_grant(db: sqlite_utils.Database, grant_id: int) -> Grant:
    """One grant by id; NotFound if unknown."""
    r = row(db, GRANT_SQL + " WHERE g.id = ?", [grant_id])
    if r is None:
        raise NotFound(f"Accès inconnu : {grant_id}.")
    return grant_from_row(r)


def list_grants(
    db: sqlite_utils.Database,
    *,
    user_id: int | None = None,
    event_id: int | None = None,
    org_id: int | None = None,
    dataset_slug: str | None = None,
    statuses: Sequence[str] | None = None,
) -> list[Grant]:
    """Grants matching every given filter, most recent first."""
    where: list[str] = []
    params: list[Any] = []
    for column, value in (
        ("g.user_id", user_id),
        ("g.event_id", event_id),
        ("d.owner_org_id", org_id),
        ("d.slug", dataset_slug),
    ):
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    if statuses:
        where.append("g.status IN (" + ",".join("?" * len(statuses)) + ")")
        params.extend(statuses)
    sql = GRANT_SQL + (" WHERE " + " AND ".join(where) if where else "")
    return [grant_from_row(r) for r in rows(db, sql + " ORDER BY g.id DESC", params)]


def _is_owner_steward(user: auth.User, owner_org_id: int) -> bool:
    return user.has("steward") and user.org_id == owner_org_id


# --- agreements ----------------------------------------------------------------------------


def _clean_terms(
    d: Dataset,
    *,
    roles: Iterable[str],
    event_kinds: Iterable[str],
    drills_allowed: bool,
    max_duration_min: int,
    approval: str,
    scope: str,
    margin_m: float,
    fields: Iterable[str],
    valid_from: str | None,
    valid_to: str | None,
    now: datetime,
) -> dict[str, Any]:
    roles_l = sorted({r.strip() for r in roles if r and r.strip()})
    if not roles_l:
        raise AccessError("Indiquez au moins un rôle autorisé.")
    bad = [r for r in roles_l if r not in GRANTABLE_ROLES]
    if bad:
        raise AccessError(
            "Rôles non autorisables : "
            + ", ".join(bad)
            + " (l'administrateur ne peut jamais lire de données restreintes)."
        )
    kinds = sorted({k.strip() for k in event_kinds if k and k.strip()})
    if not kinds:
        raise AccessError("Indiquez au moins un type d'événement (ou * pour tous).")
    if "*" in kinds:
        kinds = ["*"]
    if any(not re.fullmatch(r"[a-z0-9][a-z0-9_-]*|\*", k) for k in kinds):
        raise AccessError("Types d'événement invalides : identifiants de fiches réflexes attendus.")
    try:
        max_min = int(max_duration_min)
    except (TypeError, ValueError) as exc:
        raise AccessError("Durée maximale invalide.") from exc
    if not 5 <= max_min <= DURATION_MAX_MIN:
        raise AccessError(f"Durée maximale entre 5 et {DURATION_MAX_MIN} minutes.")
    if approval not in APPROVALS:
        raise AccessError("Règle d'approbation invalide.")
    if scope not in SCOPES:
        raise AccessError("Périmètre invalide.")
    try:
        margin = float(margin_m or 0)
    except (TypeError, ValueError) as exc:
        raise AccessError("Marge invalide.") from exc
    if not 0 <= margin <= MARGIN_MAX_M:
        raise AccessError(f"Marge entre 0 et {int(MARGIN_MAX_M)} m.")
    if d.sensitivity == "personal" and (approval != "second_person" or scope != "zone"):
        raise AccessError(
            "Données personnelles : la convention exige l'approbation d'un second directeur"
            " et le périmètre limité à la zone."
        )
    if d.sensitivity == "public":
        raise AccessError("Ce jeu de données est public : aucune convention n'est nécessaire.")
    field_l = [f.strip() for f in fields if f and f.strip()]
    field_l = list(dict.fromkeys(field_l))
    known = d.field_names
    unknown = [f for f in field_l if known and f not in known]
    if unknown:
        raise AccessError("Champs inconnus : " + ", ".join(unknown) + ".")
    vf = _date(valid_from) if valid_from else now
    vt = _date(valid_to) if valid_to else None
    if vt is not None and vt <= vf:
        raise AccessError("La fin de validité doit suivre son début.")
    return {
        "roles": roles_l,
        "event_kinds": kinds,
        "drills_allowed": bool(drills_allowed),
        "max_duration_min": max_min,
        "approval": approval,
        "scope": scope,
        "margin_m": margin if scope == "zone" else 0.0,
        "fields": field_l,
        "valid_from": iso(vf),
        "valid_to": iso(vt) if vt else None,
    }


def _date(text: str) -> datetime:
    try:
        if len(text) == 10:
            text += "T00:00:00Z"
        return parse_iso(text)
    except ValueError as exc:
        raise AccessError(f"Date invalide : {text}.") from exc


def sign_agreement(
    db: sqlite_utils.Database,
    now: datetime,
    steward: auth.User,
    dataset_slug: str,
    *,
    roles: Iterable[str],
    event_kinds: Iterable[str],
    drills_allowed: bool = False,
    max_duration_min: int = 120,
    approval: str = "none",
    scope: str = "zone",
    margin_m: float = 0.0,
    fields: Iterable[str] = (),
    valid_from: str | None = None,
    valid_to: str | None = None,
) -> Agreement:
    """A steward of the dataset's owner signs a new agreement (version 1 of a new key)."""
    d = dataset(db, dataset_slug)
    if not _is_owner_steward(steward, d.owner_org_id):
        raise AccessDenied(
            f"Seul un gestionnaire de données de {d.owner_name} peut signer cette convention."
        )
    terms = _clean_terms(
        d,
        roles=roles,
        event_kinds=event_kinds,
        drills_allowed=drills_allowed,
        max_duration_min=max_duration_min,
        approval=approval,
        scope=scope,
        margin_m=margin_m,
        fields=fields,
        valid_from=valid_from,
        valid_to=valid_to,
        now=now,
    )
    with transaction(db):
        n = scalar(
            db,
            "SELECT count(DISTINCT agreement_key) FROM agreements WHERE dataset_id = ?",
            [d.id],
        )
        key = f"{dataset_slug}-{int(n or 0) + 1}"
        while scalar(db, "SELECT 1 FROM agreements WHERE agreement_key = ?", [key]):
            key += "b"
        agreement_id = _insert_agreement(db, now, steward, d, key, 1, terms)
    return get_agreement(db, agreement_id)


def _insert_agreement(
    db: sqlite_utils.Database,
    now: datetime,
    steward: auth.User,
    d: Dataset,
    key: str,
    version: int,
    terms: dict[str, Any],
) -> int:
    cur = db.execute(
        "INSERT INTO agreements (agreement_key, version, dataset_id, roles, event_kinds,"
        " drills_allowed, max_duration_min, approval, scope, margin_m, fields, valid_from,"
        " valid_to, signed_by, signed_at, status) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,'active')",
        [
            key,
            version,
            d.id,
            dumps(terms["roles"]),
            dumps(terms["event_kinds"]),
            1 if terms["drills_allowed"] else 0,
            terms["max_duration_min"],
            terms["approval"],
            terms["scope"],
            terms["margin_m"],
            dumps(terms["fields"]),
            terms["valid_from"],
            terms["valid_to"],
            steward.id,
            iso(now),
        ],
    )
    agreement_id = int(cur.lastrowid or 0)
    audit.append(
        db,
        now,
        "agreement.signed",
        actor=steward.login,
        object_type="agreement",
        object_id=agreement_id,
        details={"key": key, "version": version, "dataset": d.slug, **terms},
    )
    return agreement_id


def edit_agreement(
    db: sqlite_utils.Database,
    now: datetime,
    steward: auth.User,
    agreement_id: int,
    **changes: Any,
) -> Agreement:
    """Editing creates a new version; the old one is superseded (its live grants keep it)."""
    old = get_agreement(db, agreement_id)
    if not _is_owner_steward(steward, old.owner_org_id):
        raise AccessDenied("Seul un gestionnaire de données du propriétaire peut modifier.")
    if old.status != "active":
        raise AccessError("Seule la version en vigueur d'une convention peut être modifiée.")
    d = dataset(db, old.dataset_slug)
    current: dict[str, Any] = {
        "roles": old.roles,
        "event_kinds": old.event_kinds,
        "drills_allowed": old.drills_allowed,
        "max_duration_min": old.max_duration_min,
        "approval": old.approval,
        "scope": old.scope,
        "margin_m": old.margin_m,
        "fields": old.fields,
        "valid_from": old.valid_from,
        "valid_to": old.valid_to,
    }
    unknown = set(changes) - set(current)
    if unknown:
        raise TypeError(f"unknown agreement terms: {sorted(unknown)}")
    current.update(changes)
    terms = _clean_terms(d, now=now, **current)
    with transaction(db):
        cur = db.execute(
            "UPDATE agreements SET status = 'superseded' WHERE id = ? AND status = 'active'",
            [old.id],
        )
        if cur.rowcount != 1:
            raise AccessError("Cette convention a changé entre-temps : rechargez la page.")
        new_id = _insert_agreement(db, now, steward, d, old.key, old.version + 1, terms)
        audit.append(
            db,
            now,
            "agreement.superseded",
            actor=steward.login,
            object_type="agreement",
            object_id=old.id,
            details={"key": old.key, "version": old.version, "by": new_id},
        )
    return get_agreement(db, new_id)


def withdraw_agreement(
    db: sqlite_utils.Database, now: datetime, steward: auth.User, agreement_id: int
) -> int:
    """Withdraw an agreement; every live grant under any version of it is revoked at once.

    Returns the number of grants revoked.
    """
    a = get_agreement(db, agreement_id)
    if not _is_owner_steward(steward, a.owner_org_id):
        raise AccessDenied("Seul un gestionnaire de données du propriétaire peut retirer.")
    with transaction(db):
        cur = db.execute(
            "UPDATE agreements SET status = 'withdrawn', withdrawn_at = ?, withdrawn_by = ?"
            " WHERE agreement_key = ? AND status = 'active'",
            [iso(now), steward.id, a.key],
        )
        if cur.rowcount == 0:
            raise AccessError("Cette convention n'est plus en vigueur.")
        audit.append(
            db,
            now,
            "agreement.withdrawn",
            actor=steward.login,
            object_type="agreement",
            object_id=a.id,
            details={"key": a.key, "dataset": a.dataset_slug},
        )
        live = rows(
            db,
            "SELECT g.id FROM grants g JOIN agreements a ON a.id = g.agreement_id"
            " WHERE a.agreement_key = ? AND g.status IN ('pending','active')",
            [a.key],
        )
        for g in live:
            _end(db, now, g["id"], "revoked", steward, "agreement_withdrawn")
    return len(live)


# --- policy --------------------------------------------------------------------------------

_REPEATED = re.compile(r"^(.)\1*$", re.S)


def check_justification(text: str) -> str:
    """A real sentence: a minimum length, letters, not one repeated character."""
    cleaned = " ".join((text or "").split())
    letters = [c for c in cleaned if c.isalnum()]
    if len(cleaned) < JUSTIFICATION_MIN or len(letters) < JUSTIFICATION_MIN // 2:
        raise AccessError(
            f"La justification est obligatoire : au moins {JUSTIFICATION_MIN} caractères"
            " qui disent pourquoi l'accès est nécessaire."
        )
    squeezed = "".join(letters).lower()
    if _REPEATED.match(squeezed) or len(set(squeezed)) < 4:
        raise AccessError("La justification doit être une vraie phrase.")
    return cleaned


def matching_agreements(
    db: sqlite_utils.Database, now: datetime, user: auth.User, event: Event, d_id: int
) -> list[Agreement]:
    """Agreements in force for this dataset that allow this user's role, event kind and drill."""
    out = []
    for r in rows(
        db,
        AGREEMENT_SQL + " WHERE a.dataset_id = ? AND a.status = 'active' ORDER BY a.id",
        [d_id],
    ):
        a = agreement_from_row(r)
        if not a.in_force(now):
            continue
        if not user.roles.intersection(a.roles):
            continue
        if not a.covers_kind(event.kind):
            continue
        if event.is_drill and not a.drills_allowed:
            continue
        out.append(a)
    # Least friction first (no approval), then the longest duration, then the newest.
    out.sort(key=lambda a: (a.approval != "none", -a.max_duration_min, -a.id))
    return out


def _expiry(start: datetime, duration_min: int, a: Agreement) -> tuple[datetime, bool, str]:
    asked = start + timedelta(minutes=duration_min)
    candidates = [
        (asked, ""),
        (
            start + timedelta(minutes=a.max_duration_min),
            f"durée maximale de la convention ({a.max_duration_min} min)",
        ),
    ]
    if a.valid_to:
        candidates.append((parse_iso(a.valid_to), "fin de validité de la convention"))
    expires, reason = min(candidates, key=lambda c: c[0])
    return expires, expires < asked, reason


def request_grant(
    db: sqlite_utils.Database,
    now: datetime,
    user: auth.User,
    event_id: int,
    dataset_slug: str,
    *,
    reason_code: str,
    justification: str,
    duration_min: int,
    totp: str | None = None,
) -> Grant:
    """Break glass: ask for a dataset on an open event. Active at once or pending approval.

    Raises AccessDenied (no agreement allows it), StepUpRequired (TOTP needed or enrolment
    needed), AccessError (bad input) or NotFound. Refusals of policy are recorded in the audit.
    """
    event = _event(db, event_id)
    d = dataset(db, dataset_slug)
    if d.sensitivity == "public":
        raise AccessError("Ce jeu de données est public : aucun accès à ouvrir.")
    if reason_code not in REASON_CODES:
        raise AccessError("Motif invalide : choisissez un motif dans la liste.")
    text = check_justification(justification)
    try:
        minutes = int(duration_min)
    except (TypeError, ValueError) as exc:
        raise AccessError("Durée demandée invalide.") from exc
    if not 1 <= minutes <= DURATION_MAX_MIN:
        raise AccessError(f"Durée demandée entre 1 et {DURATION_MAX_MIN} minutes.")

    def refuse(exc: AccessError, why: str) -> AccessError:
        with transaction(db):
            audit.append(
                db,
                now,
                "grant.refused",
                actor=user.login,
                object_type="dataset",
                object_id=dataset_slug,
                event_id=event_id,
                details={"dataset": dataset_slug, "why": why, "reason_code": reason_code},
            )
        return exc

    if user.has("admin"):
        raise refuse(
            AccessDenied(
                "Le rôle administrateur ne peut détenir aucun accès aux données restreintes."
            ),
            "admin",
        )
    if not event.is_open:
        raise refuse(
            AccessDenied("L'événement est clos : aucun accès ne peut être ouvert."), "closed"
        )
    candidates = matching_agreements(db, now, user, event, d.id)
    if not candidates:
        raise refuse(
            AccessDenied(
                "Aucune convention en vigueur ne permet à vos rôles d'ouvrir ce jeu de données"
                + (" pendant un exercice." if event.is_drill else " pour ce type d'événement.")
            ),
            "no_agreement",
        )
    a = candidates[0]
    existing = scalar(
        db,
        "SELECT id FROM grants WHERE user_id = ? AND event_id = ? AND dataset_id = ?"
        " AND ((status = 'active' AND expires_at > ?)"
        " OR (status = 'pending' AND pending_until > ?))",
        [user.id, event_id, d.id, iso(now), iso(now)],
    )
    if existing:
        raise AccessError("Vous avez déjà un accès en cours ou en attente pour ces données.")
    if d.sensitivity == "personal" and not user.totp_enrolled:
        raise StepUpRequired(
            "Données personnelles : enrôlez d'abord un code à usage unique (TOTP).", enrol=True
        )
    if user.totp_enrolled or d.sensitivity == "personal":
        if not totp:
            raise StepUpRequired("Saisissez un code TOTP à 6 chiffres (confirmation renforcée).")
        failures = scalar(
            db,
            "SELECT count(*) FROM audit_log WHERE action = 'grant.refused' AND actor = ?"
            " AND at > ? AND json_extract(details, '$.why') = 'totp_invalid_or_replayed'",
            [user.login, iso(now - TOTP_LOCK)],
        )
        if failures >= TOTP_MAX_FAILURES:
            raise refuse(
                TooManyAttempts(
                    "Trop de codes TOTP erronés : confirmation renforcée bloquée"
                    f" {TOTP_LOCK.seconds // 60} minutes."
                ),
                "totp_locked",
            )
        if not auth.verify_totp(db, now, user.id, totp):
            raise refuse(
                AccessDenied("Code TOTP invalide ou déjà utilisé."), "totp_invalid_or_replayed"
            )

    flagged = a.approval == "none"
    active = a.approval == "none"
    expires, clamped, clamp_reason = _expiry(now, minutes, a)
    with transaction(db):
        cur = db.execute(
            "INSERT INTO grants (event_id, user_id, dataset_id, agreement_id, reason_code,"
            " justification, duration_min, requested_at, status, activated_at, expires_at,"
            " pending_until, flagged_for_review) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            [
                event_id,
                user.id,
                d.id,
                a.id,
                reason_code,
                text,
                minutes,
                iso(now),
                "active" if active else "pending",
                iso(now) if active else None,
                iso(expires) if active else None,
                None if active else iso(now + PENDING_TTL),
                1 if flagged else 0,
            ],
        )
        gid = int(cur.lastrowid or 0)
        details = {
            "dataset": dataset_slug,
            "agreement": a.id,
            "agreement_key": a.key,
            "agreement_version": a.version,
            "reason_code": reason_code,
            "justification": text,
            "duration_min": minutes,
            "approval": a.approval,
            "totp": bool(user.totp_enrolled or d.sensitivity == "personal"),
        }
        if a.approval == "none":
            details.update(expires_at=iso(expires), clamped=clamped, flagged_for_review=flagged)
            audit.append(
                db,
                now,
                "grant.activated",
                actor=user.login,
                object_type="grant",
                object_id=gid,
                event_id=event_id,
                details=details,
            )
            _notify(
                db,
                now,
                d.owner_org_id,
                "break_glass",
                gid,
                event_id,
                f"Bris de glace sans approbation préalable : {user.name} a ouvert"
                f" « {d.title} » sur « {event.title} » jusqu'à {local(expires)}"
                f" (motif : {REASON_CODES[reason_code]}). À revoir.",
            )
        else:
            details.update(pending_until=iso(now + PENDING_TTL))
            audit.append(
                db,
                now,
                "grant.requested",
                actor=user.login,
                object_type="grant",
                object_id=gid,
                event_id=event_id,
                details=details,
            )
            _notify(
                db,
                now,
                d.owner_org_id,
                "grant_requested",
                gid,
                event_id,
                f"Demande d'accès en attente d'un second directeur : {user.name} demande"
                f" « {d.title} » sur « {event.title} »"
                f" (motif : {REASON_CODES[reason_code]}).",
            )
    r = row(db, GRANT_SQL + " WHERE g.id = ?", [gid])
    assert r is not None
    return grant_from_row(r, clamped=clamped, clamp_reason=clamp_reason)


def _notify(
    db: sqlite_utils.Database,
    now: datetime,
    org_id: int,
    kind: str,
    grant_id: int | None,
    event_id: int | None,
    text: str,
) -> None:
    db.execute(
        "INSERT INTO notifications (org_id, created_at, kind, grant_id, event_id, text)"
        " VALUES (?,?,?,?,?,?)",
        [org_id, iso(now), kind, grant_id, event_id, text],
    )


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


def _pending_or_fail(
    db: sqlite_utils.Database, now: datetime, director: auth.User, gid: int
) -> Grant:
    g = get_grant(db, gid)
    if not director.has("director") or director.has("admin"):
        raise AccessDenied("Seul un directeur des opérations peut approuver ou refuser.")
    if director.id == g.user_id:
        raise AccessDenied("Vous ne pouvez pas approuver ou refuser votre propre demande.")
    if g.status != "pending":
        raise AccessError(f"Cette demande n'est plus en attente ({STATUS_LABELS[g.status]}).")
    if g.pending_until and parse_iso(g.pending_until) <= now:
        with transaction(db):
            _end(
                db,
                now,
                gid,
                "expired",
                None,
                "pending_timeout",
                ended_at=parse_iso(g.pending_until),
            )
        raise AccessError("Cette demande a expiré sans décision.")
    return g


def approve_grant(
    db: sqlite_utils.Database, now: datetime, director: auth.User, grant_id: int
) -> Grant:
    """Another director approves a pending grant; it becomes active from now."""
    g = _pending_or_fail(db, now, director, grant_id)
    a = get_agreement(db, g.agreement_id)
    if g.event_status != "open" or g.agreement_withdrawn:
        with transaction(db):
            _end(db, now, grant_id, "revoked", director, "no_longer_allowed")
        raise AccessError("L'événement est clos ou la convention retirée : demande annulée.")
    expires, clamped, clamp_reason = _expiry(now, g.duration_min, a)
    if expires <= now:
        raise AccessError("La convention n'est plus en vigueur.")
    with transaction(db):
        cur = db.execute(
            "UPDATE grants SET status = 'active', decided_by = ?, decided_at = ?,"
            " activated_at = ?, expires_at = ? WHERE id = ? AND status = 'pending'",
            [director.id, iso(now), iso(now), iso(expires), grant_id],
        )
        if cur.rowcount != 1:
            raise AccessError("Cette demande a déjà été traitée.")
        audit.append(
            db,
            now,
            "grant.approved",
            actor=director.login,
            object_type="grant",
            object_id=grant_id,
            event_id=g.event_id,
            details={
                "dataset": g.dataset_slug,
                "requester": g.user_login,
                "expires_at": iso(expires),
                "clamped": clamped,
            },
        )
        _notify(
            db,
            now,
            g.owner_org_id,
            "grant_approved",
            grant_id,
            g.event_id,
            f"Accès approuvé par {director.name} : {g.user_name} lit « {g.dataset_title} »"
            f" sur « {g.event_title} » jusqu'à {local(expires)}.",
        )
    r = row(db, GRANT_SQL + " WHERE g.id = ?", [grant_id])
    assert r is not None
    return grant_from_row(r, clamped=clamped, clamp_reason=clamp_reason)


def deny_grant(
    db: sqlite_utils.Database, now: datetime, director: auth.User, grant_id: int, reason: str = ""
) -> Grant:
    """Another director denies a pending grant (final)."""
    g = _pending_or_fail(db, now, director, grant_id)
    with transaction(db):
        cur = db.execute(
            "UPDATE grants SET status = 'denied', decided_by = ?, decided_at = ?, ended_at = ?,"
            " ended_by = ?, end_reason = ? WHERE id = ? AND status = 'pending'",
            [
                director.id,
                iso(now),
                iso(now),
                director.id,
                reason.strip()[:500] or "denied",
                grant_id,
            ],
        )
        if cur.rowcount != 1:
            raise AccessError("Cette demande a déjà été traitée.")
        audit.append(
            db,
            now,
            "grant.denied",
            actor=director.login,
            object_type="grant",
            object_id=grant_id,
            event_id=g.event_id,
            details={
                "dataset": g.dataset_slug,
                "requester": g.user_login,
                "reason": reason.strip()[:500],
            },
        )
    return get_grant(db, grant_id)


def can_revoke(user: auth.User, g: Grant) -> bool:
    """The holder, any director, or a steward of the owning organisation."""
    return (
        user.id == g.user_id
        or (user.has("director") and not user.has("admin"))
        or _is_owner_steward(user, g.owner_org_id)
    )


def revoke_grant(
    db: sqlite_utils.Database, now: datetime, actor: auth.User, grant_id: int, reason: str = ""
) -> Grant:
    """Revoke a live grant (final)."""
    g = get_grant(db, grant_id)
    if not can_revoke(actor, g):
        raise AccessDenied("Seuls le titulaire, un directeur ou le propriétaire peuvent révoquer.")
    with transaction(db):
        _sweep_one(db, now, g)
        if not _end(db, now, grant_id, "revoked", actor, reason.strip()[:500] or "revoked"):
            raise AccessError("Cet accès est déjà terminé.")
    return get_grant(db, grant_id)


def revoke_for_event(
    db: sqlite_utils.Database, now: datetime, event_id: int, actor: auth.User | None
) -> int:
    """Closing an event revokes every live grant on it; call inside the close transaction."""
    with transaction(db):
        live = rows(
            db,
            "SELECT id FROM grants WHERE event_id = ? AND status IN ('pending','active')",
            [event_id],
        )
        n = 0
        for g in live:
            n += _end(db, now, g["id"], "revoked", actor, "event_closed")
    return n


def _sweep_one(db: sqlite_utils.Database, now: datetime, g: Grant) -> bool:
    if g.status == "active" and g.expires_at and parse_iso(g.expires_at) <= now:
        return _end(db, now, g.id, "expired", None, "expired", ended_at=parse_iso(g.expires_at))
    if g.status == "pending" and g.pending_until and parse_iso(g.pending_until) <= now:
        return _end(
            db, now, g.id, "expired", None, "pending_timeout", ended_at=parse_iso(g.pending_until)
        )
    if g.status in LIVE and g.event_status != "open":
        return _end(db, now, g.id, "revoked", None, "event_closed")
    if g.status in LIVE and g.agreement_withdrawn:
        return _end(db, now, g.id, "revoked", None, "agreement_withdrawn")
    return False


def sweep(db: sqlite_utils.Database, now: datetime) -> int:
    """Tidy states (expired, pending timed out, closed events, withdrawn agreements). Idempotent.

    Never decides access: reads check validity themselves. Returns the number of grants changed.
    """
    changed = 0
    with transaction(db):
        for g in list_grants(db, statuses=LIVE):
            changed += _sweep_one(db, now, g)
    return changed


# --- reads ---------------------------------------------------------------------------------


def valid_grant(
    db: sqlite_utils.Database, now: datetime, user: auth.User, event_id: int, dataset_slug: str
) -> Grant | None:
    """The user's grant valid right now for this event and dataset, or None."""
    if user.has("admin"):
        return None
    for g in list_grants(
        db, user_id=user.id, event_id=event_id, dataset_slug=dataset_slug, statuses=("active",)
    ):
        if g.valid_at(now):
            return g
    return None


def scope_geometry(db: sqlite_utils.Database, event: Event, margin_m: float) -> BaseGeometry:
    """The event's outer zone (Lambert-93) buffered by the margin (fallback: a 2 km circle)."""
    from .geo import proj

    zones = latest_zones(db, event.id)
    geoms: list[BaseGeometry] = []
    for f in (zones["geojson"] if zones else {}).get("features", []):
        if f.get("geometry"):
            geoms.append(proj.to_l93(shape(f["geometry"])))
    if geoms:
        outer = shapely.union_all([shapely.make_valid(g) for g in geoms])
        return outer.buffer(margin_m) if margin_m > 0 else outer
    x, y = proj.lonlat_to_l93(event.lon, event.lat)
    return Point(float(x), float(y)).buffer(FALLBACK_RADIUS_M + margin_m, quad_segs=32)


def _select_features(
    db: sqlite_utils.Database,
    d: Dataset,
    scope: BaseGeometry | None,
    bbox: Sequence[float] | None,
) -> list[dict[str, Any]]:
    from .geo import proj

    where = ["dataset_id = ?"]
    params: list[Any] = [d.id]
    windows: list[tuple[float, float, float, float]] = []
    if scope is not None:
        windows.append(tuple(proj.to_wgs84(box(*scope.bounds)).bounds))  # type: ignore[arg-type]
    if bbox is not None:
        windows.append((float(bbox[0]), float(bbox[1]), float(bbox[2]), float(bbox[3])))
    for minx, miny, maxx, maxy in windows:
        where.append("maxx >= ? AND minx <= ? AND maxy >= ? AND miny <= ?")
        params.extend([minx, maxx, miny, maxy])
    candidates = rows(
        db,
        "SELECT fid, geometry, properties FROM features WHERE "
        + " AND ".join(where)
        + " ORDER BY fid",
        params,
    )
    if scope is None and bbox is None:
        return candidates
    out = []
    bbox_l93 = proj.to_l93(box(*bbox)) if bbox is not None else None
    for f in candidates:
        geom = proj.to_l93(shape(json.loads(f["geometry"])))
        if scope is not None and not scope.intersects(geom):
            continue
        if bbox_l93 is not None and not bbox_l93.intersects(geom):
            continue
        out.append(f)
    return out


def read_features(
    db: sqlite_utils.Database,
    now: datetime,
    user: auth.User,
    event_id: int,
    dataset_slug: str,
    purpose: str,
    request_id: str,
    bbox: Sequence[float] | None = None,
) -> tuple[list[dict[str, Any]], Grant]:
    """Restricted or personal features the user's valid grant opens, as GeoJSON features.

    Scope and field whitelist are applied here. The access record (``data.read``) is written in
    the same transaction: if it cannot be written, nothing is returned. Raises AccessDenied.
    """
    if purpose not in PURPOSES:
        raise ValueError(f"unknown purpose {purpose!r}")
    d = dataset(db, dataset_slug)
    with transaction(db):
        g = valid_grant(db, now, user, event_id, dataset_slug)
        if g is not None and d.sensitivity != "public":
            a = get_agreement(db, g.agreement_id)
            scope = (
                scope_geometry(db, _event(db, event_id), a.margin_m) if a.scope == "zone" else None
            )
            selected = _select_features(db, d, scope, bbox)
            keep = set(a.fields) | {d.id_field, "id"}
            features = []
            for f in selected:
                props = json.loads(f["properties"])
                features.append(
                    {
                        "type": "Feature",
                        "id": f["fid"],
                        "geometry": json.loads(f["geometry"]),
                        "properties": {k: v for k, v in props.items() if k in keep},
                    }
                )
            ids = [f["fid"] for f in selected]
            audit.append(
                db,
                now,
                "data.read",
                actor=user.login,
                object_type="grant",
                object_id=g.id,
                event_id=event_id,
                details={
                    "grant": g.id,
                    "dataset": dataset_slug,
                    "purpose": purpose,
                    "count": len(ids),
                    "ids": ids,
                    "request_id": request_id,
                    "scope": a.scope,
                },
            )
            return features, g
        audit.append(
            db,
            now,
            "data.denied",
            actor=user.login,
            object_type="dataset",
            object_id=dataset_slug,
            event_id=event_id,
            details={"dataset": dataset_slug, "purpose": purpose, "request_id": request_id},
        )
    raise AccessDenied(
        "Aucun accès valide à ces données pour cet événement (bris de glace requis)."
    )


def has_valid_grant(
    db: sqlite_utils.Database, now: datetime, user: auth.User, event_id: int, dataset_slug: str
) -> bool:
    """Whether a read would be allowed right now (for showing links; the read re-checks)."""
    return valid_grant(db, now, user, event_id, dataset_slug) is not None


def holders(
    db: sqlite_utils.Database, now: datetime, event_id: int, dataset_slug: str | None = None
) -> list[Grant]:
    """Grants valid right now on an event (who holds access), optionally for one dataset."""
    return [
        g
        for g in list_grants(db, event_id=event_id, dataset_slug=dataset_slug, statuses=("active",))
        if g.valid_at(now)
    ]


# --- approvals and notifications ------------------------------------------------------------


def pending_for(db: sqlite_utils.Database, now: datetime, director: auth.User) -> list[Grant]:
    """Pending requests this director may decide (not their own, not timed out)."""
    if not director.has("director") or director.has("admin"):
        return []
    return [
        g
        for g in list_grants(db, statuses=("pending",))
        if g.user_id != director.id and g.effective_status(now) == "pending"
    ]


def notifications_for(
    db: sqlite_utils.Database, user: auth.User, unread_only: bool = False
) -> list[dict[str, Any]]:
    """The steward inbox: notifications to the user's organisation."""
    if not user.has("steward"):
        return []
    sql = "SELECT * FROM notifications WHERE org_id = ?"
    if unread_only:
        sql += " AND read_at IS NULL"
    return rows(db, sql + " ORDER BY id DESC LIMIT 200", [user.org_id])


def mark_read(
    db: sqlite_utils.Database, now: datetime, user: auth.User, notification_id: int
) -> None:
    """A steward marks an inbox notification read."""
    with transaction(db):
        cur = db.execute(
            "UPDATE notifications SET read_at = ?, read_by = ? WHERE id = ? AND org_id = ?"
            " AND read_at IS NULL",
            [iso(now), user.id, notification_id, user.org_id],
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


# --- owner review --------------------------------------------------------------------------


@dataclass(frozen=True)
class Review:
    """Everything an owner needs to check an event against its agreements."""

    org: dict[str, Any]
    event: Event
    grants: list[Grant]
    reads: list[dict[str, Any]]
    refusals: list[dict[str, Any]]
    head_seq: int
    head_hash: str
    checkpoint: dict[str, Any] | None
    generated_at: str


def owner_review(db: sqlite_utils.Database, now: datetime, org_id: int, event_id: int) -> Review:
    """Every grant on the organisation's data for the event, and every read of it."""
    org = row(db, "SELECT * FROM organisations WHERE id = ?", [org_id])
    if org is None:
        raise NotFound("Organisation inconnue.")
    event = _event(db, event_id)
    slugs = [
        r["slug"] for r in rows(db, "SELECT slug FROM datasets WHERE owner_org_id = ?", [org_id])
    ]
    grants = list_grants(db, event_id=event_id, org_id=org_id)
    reads: list[dict[str, Any]] = []
    refusals: list[dict[str, Any]] = []
    if slugs:
        marks = ",".join("?" * len(slugs))
        for r in rows(
            db,
            "SELECT seq, at, actor, action, details FROM audit_log WHERE event_id = ?"
            " AND action IN ('data.read','data.denied','grant.refused')"
            f" AND json_extract(details, '$.dataset') IN ({marks}) ORDER BY seq",
            [event_id, *slugs],
        ):
            r["details"] = json.loads(r["details"])
            (reads if r["action"] == "data.read" else refusals).append(r)
    seq, digest = audit.head(db)
    return Review(
        org=org,
        event=event,
        grants=grants,
        reads=reads,
        refusals=refusals,
        head_seq=seq,
        head_hash=digest,
        checkpoint=audit.last_checkpoint(db),
        generated_at=iso(now),
    )


def review_events(db: sqlite_utils.Database, org_id: int | None) -> list[Event]:
    """Events with at least one grant on the organisation's data (all events if org is None)."""
    sql = EVENT_SQL
    params: list[Any] = []
    if org_id is not None:
        sql += (
            " WHERE e.id IN (SELECT g.event_id FROM grants g JOIN datasets d"
            " ON d.id = g.dataset_id WHERE d.owner_org_id = ?)"
        )
        params.append(org_id)
    return [event_from_row(r) for r in rows(db, sql + " ORDER BY e.id DESC", params)]


def organisations(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    """Every organisation (slug, name), by name."""
    return rows(db, "SELECT id, slug, name FROM organisations ORDER BY name")


def reviewable_org(db: sqlite_utils.Database, user: auth.User, org_slug: str) -> dict[str, Any]:
    """The organisation whose accesses ``user`` may review: their own, or any for a director."""
    org = row(db, "SELECT * FROM organisations WHERE slug = ?", [org_slug])
    if org is None:
        raise NotFound("Organisation inconnue.")
    if not user.has("director") and org["id"] != user.org_id:
        raise AccessDenied("Vous ne pouvez revoir que les accès aux données de votre organisation.")
    return org


def owned_restricted_datasets(db: sqlite_utils.Database, org_id: int) -> list[Dataset]:
    """The organisation's non-public datasets (a steward's agreements page), by title."""
    found = rows(
        db,
        DATASET_SQL + " WHERE d.owner_org_id = ? AND d.sensitivity != 'public' ORDER BY d.title",
        [org_id],
    )
    return [dataset_from_row(r) for r in found]


# --- demo ----------------------------------------------------------------------------------

DEMO_AGREEMENTS: tuple[dict[str, Any], ...] = (
    {
        "steward": "steward",
        "dataset": "gas-network",
        "roles": ["liaison", "cell", "director"],
        "event_kinds": ["toxic-release", "gas-pipeline-leak", "explosion"],
        "drills_allowed": True,
        "max_duration_min": 120,
        "approval": "none",
        "scope": "zone",
        "margin_m": 200.0,
        "fields": ["id", "pressure", "diameter_mm", "material"],
    },
    {
        "steward": "steward",
        "dataset": "gas-assets",
        "roles": ["liaison", "cell", "director"],
        "event_kinds": ["toxic-release", "gas-pipeline-leak", "explosion"],
        "drills_allowed": True,
        "max_duration_min": 120,
        "approval": "none",
        "scope": "zone",
        "margin_m": 200.0,
        "fields": ["id", "type", "name"],
    },
    {
        "steward": "steward-ccas",
        "dataset": "vulnerable-persons",
        "roles": ["cell", "director"],
        "event_kinds": ["*"],
        "drills_allowed": True,
        "max_duration_min": 240,
        "approval": "second_person",
        "scope": "zone",
        "margin_m": 0.0,
        "fields": ["id", "name", "address", "needs", "phone"],
    },
    {
        "steward": "steward-chimie",
        "dataset": "plant-inventory",
        "roles": ["cell", "director"],
        "event_kinds": ["toxic-release", "industrial-fire", "explosion"],
        "drills_allowed": True,
        "max_duration_min": 240,
        "approval": "none",
        "scope": "territory",
        "margin_m": 0.0,
        "fields": ["id", "site_id", "name", "substance", "quantity_t", "storage"],
    },
)


def demo_agreements(db: sqlite_utils.Database, now: datetime) -> list[Agreement]:
    """Sign the demo agreements where the dataset and steward exist and none is signed yet."""
    out = []
    for spec in DEMO_AGREEMENTS:
        steward = auth.get_user_by_login(db, spec["steward"])
        if steward is None or not scalar(
            db, "SELECT 1 FROM datasets WHERE slug = ?", [spec["dataset"]]
        ):
            continue
        if list_agreements(db, dataset_slug=spec["dataset"]):
            continue
        terms = {k: v for k, v in spec.items() if k not in ("steward", "dataset")}
        known = dataset(db, spec["dataset"]).field_names
        if known:
            terms["fields"] = [f for f in terms["fields"] if f in known]
        out.append(sign_agreement(db, now, steward, spec["dataset"], **terms))
    return out
