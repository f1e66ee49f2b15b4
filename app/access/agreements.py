"""Data-sharing agreements: a steward signs, edits (a new version) or withdraws one; which
agreements in force let a user open a dataset for an event."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import sqlite_utils

from .. import audit, auth, numbers
from ..clock import iso, parse_iso
from ..db import dumps, row, rows, scalar, transaction
from ..records import (
    AGREEMENT_SQL,
    EVENT_SQL,
    Agreement,
    Dataset,
    Event,
    agreement_from_row,
    event_from_row,
)
from .policy import (
    APPROVALS,
    DURATION_MAX_MIN,
    GRANTABLE_ROLES,
    LAPSE_RULES,
    MARGIN_MAX_M,
    REVIEW_EVERY,
    SCOPES,
    AccessDenied,
    AccessError,
    NotFound,
    _end,
    _is_owner_steward,
    dataset,
)


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
    review_at: str | None = None,
    on_lapse: str = "continue",
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
        max_min = numbers.number(
            max_duration_min, "Durée maximale (minutes)", integer=True, minimum=5,
            maximum=DURATION_MAX_MIN,
        )  # fmt: skip
        margin = numbers.number(
            margin_m if margin_m not in (None, "") else 0, "Marge (m)", minimum=0,
            maximum=MARGIN_MAX_M,
        )  # fmt: skip
    except numbers.NumberError as exc:
        raise AccessError(exc.message) from None
    if approval not in APPROVALS:
        raise AccessError("Règle d'approbation invalide.")
    if scope not in SCOPES:
        raise AccessError("Périmètre invalide.")
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
    review = review_date(review_at, vf, vt, now)
    if on_lapse not in LAPSE_RULES:
        raise AccessError("Règle à la date de revue invalide.")
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
        "review_at": iso(review),
        "on_lapse": on_lapse,
    }


def review_date(
    text: str | None, valid_from: datetime, valid_to: datetime | None, now: datetime
) -> datetime:
    """The agreement's review date: the one given, else a year after it takes effect (never
    after its end); it must be in the future, after its start and not after its end."""
    if text:
        review = _date(text)
    else:
        review = max(valid_from, now) + REVIEW_EVERY
        if valid_to is not None and review > valid_to:
            review = valid_to
    if review <= now or review <= valid_from:
        raise AccessError("La date de revue doit être à venir et suivre le début de validité.")
    if valid_to is not None and review > valid_to:
        raise AccessError("La date de revue ne peut pas suivre la fin de validité.")
    return review


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
    review_at: str | None = None,
    on_lapse: str = "continue",
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
        review_at=review_at,
        on_lapse=on_lapse,
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
        " valid_to, signed_by, signed_at, status, review_at, on_lapse)"
        " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,'active',?,?)",
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
            terms["review_at"],
            terms["on_lapse"],
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
        # A new version is a renewal: a review date already past moves a year on.
        "review_at": old.review_at if old.review_at and not old.lapsed(now) else None,
        "on_lapse": old.on_lapse,
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


def unopened_datasets(
    db: sqlite_utils.Database, now: datetime, wanted: Iterable[tuple[str, Iterable[str]]]
) -> list[tuple[str, str]]:
    """(event kind, dataset) pairs where a playbook names a restricted or personal dataset that
    no agreement in force opens for that event kind (for any role, drills or not).

    ``wanted`` gives each event kind (a playbook id) with the datasets it lists to open; public
    datasets and datasets the database does not know are not this check's business.
    """
    guarded = {
        r["slug"]: r["id"]
        for r in rows(db, "SELECT id, slug FROM datasets WHERE sensitivity != 'public'")
    }
    in_force: dict[int, list[Agreement]] = {}
    for r in rows(db, AGREEMENT_SQL + " WHERE a.status = 'active'"):
        a = agreement_from_row(r)
        if a.in_force(now):
            in_force.setdefault(a.dataset_id, []).append(a)
    out = []
    for kind, slugs in wanted:
        for slug in slugs:
            if slug not in guarded:
                continue
            if not any(a.covers_kind(kind) for a in in_force.get(guarded[slug], [])):
                out.append((kind, slug))
    return out


def matching_agreements(
    db: sqlite_utils.Database,
    now: datetime,
    user: auth.User,
    event: Event,
    d_id: int,
    *,
    include_stopped: bool = False,
) -> list[Agreement]:
    """Agreements in force for this dataset that allow this user's role, event kind and drill.

    An agreement past its review date that was signed to stop there is left out, unless
    ``include_stopped`` (to tell the user why nothing matches).
    """
    out = []
    for r in rows(
        db,
        AGREEMENT_SQL + " WHERE a.dataset_id = ? AND a.status = 'active' ORDER BY a.id",
        [d_id],
    ):
        a = agreement_from_row(r)
        if not a.in_force(now):
            continue
        if a.lapsed(now) and a.on_lapse == "stop" and not include_stopped:
            continue  # past its review date and signed to stop there: « à renouveler »
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


def request_options(
    db: sqlite_utils.Database, now: datetime, user: auth.User, d_id: int
) -> list[tuple[Event, Agreement | None]]:
    """The open events, real ones first, each with the agreement that would let ``user`` ask
    for the dataset on it (None when no agreement in force does): where "demander l'accès"
    leads when a read was refused. The admin gets none (no grant, ever)."""
    if user.has("admin"):
        return []
    found = rows(db, EVENT_SQL + " WHERE e.status = 'open' ORDER BY e.is_drill, e.id DESC")
    out: list[tuple[Event, Agreement | None]] = []
    for r in found:
        event = event_from_row(r)
        candidates = matching_agreements(db, now, user, event, d_id)
        out.append((event, candidates[0] if candidates else None))
    return out
