"""The partner directory: who receives which kinds of messages (COD, SDIS, SAMU, mayors…).

A partner flagged ``drill_only`` receives only drill messages, and drill messages go only to
such partners: a drill never reaches a real-operations mailbox. Every change is audited. Entries
are deactivated, never deleted (deliveries keep a copy of the address they used).
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import sqlite3
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Protocol

import sqlite_utils

from .. import audit
from ..clock import iso
from ..db import row, rows, transaction
from .records import KINDS, PARTNER_KINDS, PARTNER_MANAGE_ROLES, MessageError, Partner

EMAIL = re.compile(r"^[^@\s<>,;\"]+@[^@\s<>,;\"]+\.[^@\s<>,;\"]+$")
TEXT_MAX = 200


class Actor(Protocol):
    id: int
    login: str
    name: str
    roles: frozenset[str]


def _partner(r: dict[str, Any]) -> Partner:
    return Partner(
        id=r["id"],
        organisation=r["organisation"],
        role=r["role"],
        email=r["email"],
        kinds=tuple(json.loads(r["kinds"])),
        drill_only=bool(r["drill_only"]),
        active=bool(r["active"]),
        created_at=r["created_at"],
        updated_at=r["updated_at"],
        source=r.get("source") or "",
    )


def list_partners(db: sqlite_utils.Database, *, active_only: bool = False) -> list[Partner]:
    """The directory, by organisation then role."""
    sql = "SELECT * FROM partners" + (" WHERE active = 1" if active_only else "")
    return [_partner(r) for r in rows(db, sql + " ORDER BY organisation, role, email")]


def get_partner(db: sqlite_utils.Database, partner_id: int) -> Partner | None:
    r = row(db, "SELECT * FROM partners WHERE id = ?", [partner_id])
    return _partner(r) if r else None


def recipients_for(db: sqlite_utils.Database, kind: str, drill: bool) -> list[Partner]:
    """Active partners who receive this kind of message from a real event (or a drill)."""
    return [p for p in list_partners(db, active_only=True) if p.receives(kind, drill)]


def _text(value: Any, field: str, label: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise MessageError(f"{label} : valeur obligatoire.", field=field)
    text = " ".join(value.split())
    if len(text) > TEXT_MAX:
        raise MessageError(f"{label} : au plus {TEXT_MAX} caractères.", field=field)
    return text


def _email(value: Any) -> str:
    if not isinstance(value, str) or not EMAIL.match(value.strip()) or len(value) > 254:
        raise MessageError(f"Adresse électronique invalide : « {value} ».", field="email")
    return value.strip()


def _kinds(value: Any) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, Iterable) or isinstance(value, Mapping):
        raise MessageError("Types de messages : une liste attendue.", field="kinds")
    kinds = [k for k in PARTNER_KINDS if k in set(value)]
    unknown = [str(k) for k in value if k not in PARTNER_KINDS]
    if unknown or not kinds:
        raise MessageError(
            f"Types de messages : parmi {', '.join(PARTNER_KINDS)}, au moins un"
            + (f" (inconnu : {', '.join(unknown)})." if unknown else "."),
            field="kinds",
        )
    return kinds


def _check_manager(actor: Actor) -> None:
    if not actor.roles & set(PARTNER_MANAGE_ROLES):
        raise MessageError(
            "Seuls un directeur ou un administrateur tiennent l'annuaire des partenaires.",
            status=403,
        )


def add_partner(
    db: sqlite_utils.Database,
    now: datetime,
    *,
    organisation: Any,
    role: Any,
    email: Any,
    kinds: Any = KINDS,
    drill_only: Any = False,
    actor: Actor,
    source: str = "",
) -> Partner:
    """Add an entry to the directory (audited); ``source`` says where it comes from
    (``synthetic`` for the demo)."""
    _check_manager(actor)
    if not isinstance(drill_only, bool):
        raise MessageError("« drill_only » doit valoir true ou false.", field="drill_only")
    kinds_list = _kinds(kinds)
    values: dict[str, Any] = {
        "organisation": _text(organisation, "organisation", "Organisation"),
        "role": _text(role, "role", "Fonction"),
        "email": _email(email),
        "kinds": json.dumps(kinds_list),
        "drill_only": int(drill_only),
        "source": source,
    }
    with transaction(db):
        try:
            cur = db.execute(
                "INSERT INTO partners (organisation, role, email, kinds, drill_only, source,"
                " active, created_at, updated_at) VALUES (?,?,?,?,?,?,1,?,?)",
                [*values.values(), iso(now), iso(now)],
            )
        except sqlite3.IntegrityError:
            raise MessageError(
                f"{values['email']} est déjà dans l'annuaire"
                + (" des exercices." if drill_only else "."),
                status=409,
                field="email",
            ) from None
        partner_id = int(cur.lastrowid or 0)
        audit.append(
            db,
            now,
            "partner.added",
            actor=actor.login,
            object_type="partner",
            object_id=partner_id,
            details={**values, "kinds": kinds_list},
        )
    found = get_partner(db, partner_id)
    assert found is not None
    return found


def update_partner(
    db: sqlite_utils.Database,
    now: datetime,
    partner_id: int,
    changes: Mapping[str, Any],
    *,
    actor: Actor,
) -> Partner:
    """Change an entry: organisation, role, email, kinds, drill_only, active (audited)."""
    _check_manager(actor)
    allowed = ("organisation", "role", "email", "kinds", "drill_only", "active")
    unknown = [k for k in changes if k not in allowed]
    if unknown:
        raise MessageError(f"Champ inconnu : {', '.join(unknown)}.", field=unknown[0])
    clean: dict[str, Any] = {}
    for key, value in changes.items():
        if key == "organisation":
            clean[key] = _text(value, key, "Organisation")
        elif key == "role":
            clean[key] = _text(value, key, "Fonction")
        elif key == "email":
            clean[key] = _email(value)
        elif key == "kinds":
            clean[key] = json.dumps(_kinds(value))
        else:
            if not isinstance(value, bool):
                raise MessageError(f"« {key} » doit valoir true ou false.", field=key)
            clean[key] = int(value)
    with transaction(db):
        before = get_partner(db, partner_id)
        if before is None:
            raise MessageError("Partenaire introuvable.", status=404)
        if clean:
            sets = ", ".join(f"{k} = ?" for k in clean)
            try:
                db.execute(
                    f"UPDATE partners SET {sets}, updated_at = ? WHERE id = ?",
                    [*clean.values(), iso(now), partner_id],
                )
            except sqlite3.IntegrityError:
                raise MessageError(
                    "Cette adresse est déjà dans l'annuaire.", status=409, field="email"
                ) from None
            audit.append(
                db,
                now,
                "partner.updated",
                actor=actor.login,
                object_type="partner",
                object_id=partner_id,
                details={
                    "from": {k: before.to_dict()[k] for k in clean},
                    "to": {k: json.loads(v) if k == "kinds" else v for k, v in clean.items()},
                },
            )
    found = get_partner(db, partner_id)
    assert found is not None
    return found


# --- feed tokens: a partner's system reads the CAP feed -----------------------------------------

FEED_TOKEN_PREFIX = "cfeed_"


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def issue_feed_token(
    db: sqlite_utils.Database, now: datetime, partner_id: int, *, actor: Actor
) -> str:
    """A new feed token for the partner (shown once; its earlier token stops working)."""
    _check_manager(actor)
    token = FEED_TOKEN_PREFIX + secrets.token_urlsafe(32)
    with transaction(db):
        partner = get_partner(db, partner_id)
        if partner is None:
            raise MessageError("Partenaire introuvable.", status=404)
        if not partner.active:
            raise MessageError(
                "Ce partenaire est désactivé : réactivez-le avant de lui donner un jeton.",
                status=409,
            )
        revoked = db.execute(
            "UPDATE partner_feed_tokens SET revoked_at = ? WHERE partner_id = ?"
            " AND revoked_at IS NULL",
            [iso(now), partner_id],
        ).rowcount
        cur = db.execute(
            "INSERT INTO partner_feed_tokens (partner_id, token_hash, created_at, created_by)"
            " VALUES (?,?,?,?)",
            [partner_id, _token_hash(token), iso(now), actor.login],
        )
        audit.append(
            db,
            now,
            "partner.feed_token_issued",
            actor=actor.login,
            object_type="partner",
            object_id=partner_id,
            details={
                "token_id": cur.lastrowid,
                "replaced": revoked,
                "drill_only": partner.drill_only,
            },
        )
    return token


def revoke_feed_token(
    db: sqlite_utils.Database, now: datetime, partner_id: int, *, actor: Actor
) -> int:
    """End the partner's feed token at once; the number of tokens ended (0 or 1)."""
    _check_manager(actor)
    with transaction(db):
        if get_partner(db, partner_id) is None:
            raise MessageError("Partenaire introuvable.", status=404)
        ended = db.execute(
            "UPDATE partner_feed_tokens SET revoked_at = ? WHERE partner_id = ?"
            " AND revoked_at IS NULL",
            [iso(now), partner_id],
        ).rowcount
        if ended:
            audit.append(
                db,
                now,
                "partner.feed_token_revoked",
                actor=actor.login,
                object_type="partner",
                object_id=partner_id,
                details={"revoked": ended},
            )
    return int(ended)


def feed_token_holders(db: sqlite_utils.Database) -> set[int]:
    """Ids of the partners holding a live feed token."""
    return {
        r["partner_id"]
        for r in rows(db, "SELECT partner_id FROM partner_feed_tokens WHERE revoked_at IS NULL")
    }


def feed_partner(db: sqlite_utils.Database, now: datetime, token: str) -> Partner | None:
    """The active partner behind a live feed token, or None."""
    if not token.startswith(FEED_TOKEN_PREFIX):
        return None
    t = row(
        db,
        "SELECT id, partner_id, last_used_at FROM partner_feed_tokens WHERE token_hash = ?"
        " AND revoked_at IS NULL",
        [_token_hash(token)],
    )
    if t is None:
        return None
    partner = get_partner(db, t["partner_id"])
    if partner is None or not partner.active:
        return None
    if not t["last_used_at"] or t["last_used_at"] < iso(now)[:16]:
        with transaction(db):
            db.execute(
                "UPDATE partner_feed_tokens SET last_used_at = ? WHERE id = ?", [iso(now), t["id"]]
            )
    return partner
