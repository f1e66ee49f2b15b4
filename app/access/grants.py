"""Break-glass grants: request, approve, deny, revoke, the sweep that tidies their states, and the
steward inbox and director queue around them."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlite_utils

from .. import audit, auth, numbers
from ..clock import iso, local, parse_iso
from ..db import row, rows, scalar, transaction
from ..records import (
    GRANT_SQL,
    STATUS_LABELS,
    Agreement,
    Grant,
    grant_from_row,
    insert_log_entry,
)
from .agreements import get_agreement, matching_agreements
from .policy import (
    DURATION_MAX_MIN,
    JUSTIFICATION_MIN,
    LIVE,
    PENDING_TTL,
    REASON_CODES,
    TOTP_LOCK,
    TOTP_MAX_FAILURES,
    AccessDenied,
    AccessError,
    NotFound,
    StepUpRequired,
    TooManyAttempts,
    _end,
    _event,
    _is_owner_steward,
    dataset,
)


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
    duration_min: Any = None,
    totp: str | None = None,
) -> Grant:
    """Break glass: ask for a dataset on an open event. Active at once or pending approval.

    ``duration_min`` is optional (None or ""): the agreement's maximum then, and the returned
    grant says so (``clamp_reason``). Given, it must be a whole number of minutes in range.

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
    asked: int | None = None
    if duration_min is not None and duration_min != "":
        try:
            asked = numbers.number(
                duration_min,
                "Durée demandée (minutes)",
                field="duration_min",
                integer=True,
                minimum=1,
                maximum=DURATION_MAX_MIN,
            )
        except numbers.NumberError as exc:
            raise AccessError(exc.message) from None

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
    if not candidates and matching_agreements(db, now, user, event, d.id, include_stopped=True):
        raise refuse(
            AccessDenied(
                "La convention qui vous permettrait d'ouvrir ce jeu de données est à renouveler :"
                " sa date de revue est passée et elle n'ouvre plus de nouvel accès. Le"
                f" gestionnaire de données de {d.owner_name} doit en signer une nouvelle version."
            ),
            "agreement_lapsed",
        )
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
    minutes = a.max_duration_min if asked is None else asked
    expires, clamped, clamp_reason = _expiry(now, minutes, a)
    if asked is None and not clamped:
        clamp_reason = f"durée non précisée : maximum de la convention ({minutes} min)"
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
            "duration_asked": asked,
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
    checkpoint_delivery_id: int | None = None,
) -> None:
    db.execute(
        "INSERT INTO notifications (org_id, created_at, kind, grant_id, event_id, text,"
        " checkpoint_delivery_id) VALUES (?,?,?,?,?,?,?)",
        [org_id, iso(now), kind, grant_id, event_id, text, checkpoint_delivery_id],
    )


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
        insert_log_entry(
            db,
            now,
            g.event_id,
            director.id,
            director.name,
            "décision",
            f"Accès aux données « {g.dataset_title} » de {g.user_name} approuvé par"
            f" {director.name} jusqu'à {local(expires, '%H:%M')} (demande n°{grant_id}).",
            is_system=True,
        )
    r = row(db, GRANT_SQL + " WHERE g.id = ?", [grant_id])
    assert r is not None
    return grant_from_row(r, clamped=clamped, clamp_reason=clamp_reason)


def check_reason(text: str | None) -> str:
    """A refusal says why: a few words, not an empty field or a lone "."."""
    cleaned = " ".join((text or "").split())
    if sum(c.isalnum() for c in cleaned) < 3:
        raise AccessError(
            "Motif du refus obligatoire : dites en quelques mots pourquoi la demande est refusée."
        )
    return cleaned[:500]


def deny_grant(
    db: sqlite_utils.Database, now: datetime, director: auth.User, grant_id: int, reason: str = ""
) -> Grant:
    """Another director denies a pending grant (final), saying why; the refusal is written in
    the event's main courante and the audit."""
    g = _pending_or_fail(db, now, director, grant_id)
    reason = check_reason(reason)
    with transaction(db):
        cur = db.execute(
            "UPDATE grants SET status = 'denied', decided_by = ?, decided_at = ?, ended_at = ?,"
            " ended_by = ?, end_reason = ? WHERE id = ? AND status = 'pending'",
            [
                director.id,
                iso(now),
                iso(now),
                director.id,
                reason,
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
                "reason": reason,
            },
        )
        if g.event_status == "open":
            insert_log_entry(
                db,
                now,
                g.event_id,
                director.id,
                director.name,
                "décision",
                f"Demande d'accès aux données « {g.dataset_title} » de {g.user_name} refusée par"
                f" {director.name} (demande n°{grant_id}). Motif : {reason}",
                is_system=True,
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


def pending_for(db: sqlite_utils.Database, now: datetime, director: auth.User) -> list[Grant]:
    """Pending requests this director may decide (not their own, not timed out)."""
    if not director.has("director") or director.has("admin"):
        return []
    return [
        g
        for g in list_grants(db, statuses=("pending",))
        if g.user_id != director.id and g.effective_status(now) == "pending"
    ]
