"""Users, organisations, roles, passwords, server-side sessions, API tokens and TOTP."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from importlib import resources
from typing import Any

import pyotp
import segno
import sqlite_utils
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from . import audit
from .clock import iso, parse_iso
from .db import row, rows, scalar, transaction
from .errors import DomainError

ROLES: dict[str, str] = {
    "director": "Directeur des opérations",
    "cell": "Membre de la cellule de crise",
    "liaison": "Officier de liaison préfecture",
    "steward": "Gestionnaire de données",
    "exercise": "Directeur d'exercice",
    "admin": "Administrateur",
}

# Roles that can hold a break-glass grant. Given from the console, they wait for a director's
# confirmation before they take effect (four eyes: an administrator cannot give themselves, or an
# account they hold the password of, the glass). The server operator's CLI gives them at once.
GRANT_HOLDING_ROLES: tuple[str, ...] = ("director", "cell", "liaison", "exercise")
REQUEST_STATUS_LABELS: dict[str, str] = {
    "pending": "en attente de confirmation",
    "confirmed": "confirmée",
    "refused": "refusée",
    "cancelled": "annulée",
}

PASSWORD_MIN = 8
PASSWORD_MAX = 128

_hasher = PasswordHasher()  # argon2id with the library's recommended parameters


class AuthError(DomainError):
    """A refused user operation, with a French message for the person at the keyboard."""


class UnknownUser(AuthError):
    """No user with this login (HTTP 404)."""

    status = 404


@dataclass(frozen=True)
class User:
    """A signed-in or looked-up user."""

    id: int
    login: str
    name: str
    org_id: int
    org_slug: str
    org_name: str
    roles: frozenset[str]
    disabled: bool
    session_version: int
    totp_enrolled: bool

    def has(self, *roles: str) -> bool:
        """True when the user holds at least one of the roles."""
        return bool(self.roles.intersection(roles))


def set_hasher(hasher: PasswordHasher) -> None:
    """Swap the password hasher (tests use cheaper parameters)."""
    global _hasher
    _hasher = hasher


def _common_passwords() -> frozenset[str]:
    text = resources.files("app").joinpath("data/common-passwords.txt").read_text("utf-8")
    return frozenset(
        line.strip().lower() for line in text.splitlines() if line.strip() and line[0] != "#"
    )


COMMON_PASSWORDS = _common_passwords()


def check_password_policy(password: str, login: str = "") -> None:
    """Length 8..128, no composition rules, not a common password, not the login (NIST 800-63B)."""
    if len(password) < PASSWORD_MIN:
        raise AuthError(f"Le mot de passe doit contenir au moins {PASSWORD_MIN} caractères.")
    if len(password) > PASSWORD_MAX:
        raise AuthError(f"Le mot de passe ne peut dépasser {PASSWORD_MAX} caractères.")
    lowered = password.lower()
    if lowered in COMMON_PASSWORDS or (login and lowered == login.lower()):
        raise AuthError(
            "Ce mot de passe est trop courant ou trop facile à deviner : choisissez-en un autre."
        )


def hash_password(password: str) -> str:
    """An argon2id hash."""
    return _hasher.hash(password)


def sha256_hex(text: str) -> str:
    """Hex SHA-256 of a token: tokens are stored hashed, never in clear."""
    return hashlib.sha256(text.encode()).hexdigest()


# --- organisations and users ---------------------------------------------------------------


def ensure_org(
    db: sqlite_utils.Database, now: datetime, slug: str, name: str, kind: str = "other"
) -> int:
    """Create the organisation if missing; return its id."""
    found = scalar(db, "SELECT id FROM organisations WHERE slug = ?", [slug])
    if found:
        return int(found)
    with transaction(db):
        cur = db.execute(
            "INSERT INTO organisations (slug, name, kind, created_at) VALUES (?,?,?,?)",
            [slug, name, kind, iso(now)],
        )
        audit.append(
            db,
            now,
            "org.created",
            object_type="organisation",
            object_id=slug,
            details={"name": name, "kind": kind},
        )
    return int(cur.lastrowid or 0)


def list_organisations(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    """Every organisation (slug, name, kind), by name."""
    return rows(db, "SELECT slug, name, kind FROM organisations ORDER BY name")


def _user_from_row(db: sqlite_utils.Database, r: dict[str, Any]) -> User:
    roles = frozenset(
        x["role"] for x in rows(db, "SELECT role FROM user_roles WHERE user_id = ?", [r["id"]])
    )
    return User(
        id=r["id"],
        login=r["login"],
        name=r["name"],
        org_id=r["org_id"],
        org_slug=r["org_slug"],
        org_name=r["org_name"],
        roles=roles,
        disabled=bool(r["disabled"]),
        session_version=r["session_version"],
        totp_enrolled=bool(r["totp_secret"]),
    )


_USER_SQL = (
    "SELECT u.*, o.slug AS org_slug, o.name AS org_name FROM users u"
    " JOIN organisations o ON o.id = u.org_id"
)


def get_user(db: sqlite_utils.Database, user_id: int) -> User | None:
    """A user by id."""
    r = row(db, _USER_SQL + " WHERE u.id = ?", [user_id])
    return _user_from_row(db, r) if r else None


def get_user_by_login(db: sqlite_utils.Database, login: str) -> User | None:
    """A user by login (case-insensitive)."""
    r = row(db, _USER_SQL + " WHERE lower(u.login) = lower(?)", [login])
    return _user_from_row(db, r) if r else None


def list_users(db: sqlite_utils.Database) -> list[User]:
    """Every user, by login."""
    return [_user_from_row(db, r) for r in rows(db, _USER_SQL + " ORDER BY u.login")]


def _check_login(login: str) -> str:
    login = login.strip()
    if not (2 <= len(login) <= 64) or not all(c.isalnum() or c in "._-" for c in login):
        raise AuthError(
            "Identifiant invalide : 2 à 64 caractères, lettres, chiffres, point, tiret ou souligné."
        )
    return login


def add_user(
    db: sqlite_utils.Database,
    now: datetime,
    login: str,
    *,
    name: str,
    org_slug: str,
    roles: list[str] | tuple[str, ...],
    password: str,
    actor: str | None = None,
    four_eyes: bool = False,
) -> User:
    """Create a user after checking login, roles, organisation and password policy.

    With ``four_eyes`` (the console's administration page), the roles that can hold grants are
    not given: each waits for a director's confirmation (:func:`confirm_request`). The CLI
    (whoever runs it holds the machine) gives every role at once; both are audited.
    """
    login = _check_login(login)
    if not name.strip():
        raise AuthError("Le nom est obligatoire.")
    if not org_slug.strip():
        raise AuthError("Choisissez l'organisation du compte.")
    if not roles:
        raise AuthError("Au moins un rôle est obligatoire.")
    unknown = [r for r in roles if r not in ROLES]
    if unknown:
        raise AuthError(f"Rôle inconnu : {', '.join(unknown)} (rôles : {', '.join(ROLES)}).")
    org_id = scalar(db, "SELECT id FROM organisations WHERE slug = ?", [org_slug])
    if not org_id:
        raise AuthError(f"Organisation inconnue : {org_slug}.")
    if get_user_by_login(db, login):
        raise AuthError(f"L'identifiant {login} existe déjà.")
    check_password_policy(password, login)
    pw_hash = hash_password(password)
    wanted = sorted(set(roles))
    pending = [r for r in wanted if four_eyes and r in GRANT_HOLDING_ROLES]
    given = [r for r in wanted if r not in pending]
    with transaction(db):
        cur = db.execute(
            "INSERT INTO users (login, name, org_id, password_hash, created_at,"
            " password_changed_at) VALUES (?,?,?,?,?,?)",
            [login, name.strip(), org_id, pw_hash, iso(now), iso(now)],
        )
        uid = int(cur.lastrowid or 0)
        for role in given:
            db.execute("INSERT INTO user_roles (user_id, role) VALUES (?,?)", [uid, role])
        details: dict[str, Any] = {"org": org_slug, "roles": given}
        if pending:
            details["pending_roles"] = pending
        if actor == "cli":
            details["via"] = "cli"
        audit.append(
            db,
            now,
            "user.created",
            actor=actor,
            object_type="user",
            object_id=login,
            details=details,
        )
        for role in pending:
            _request(db, now, uid, login, "role", actor or "?", role=role)
    user = get_user(db, uid)
    assert user is not None
    return user


def set_password(
    db: sqlite_utils.Database,
    now: datetime,
    login: str,
    password: str,
    actor: str | None = None,
    four_eyes: bool = False,
) -> AccountRequest | None:
    """Change a password; every existing session of the user dies with the old one.

    With ``four_eyes`` (the console's administration page), a director's password is not
    changed: the new one waits, hashed, for another director's confirmation, and the request is
    returned (None when the password was changed at once).
    """
    user = get_user_by_login(db, login)
    if not user:
        raise UnknownUser(f"Utilisateur inconnu : {login}.")
    check_password_policy(password, user.login)
    pw_hash = hash_password(password)
    with transaction(db):
        if four_eyes and user.has("director") and actor != user.login:
            return _request(
                db, now, user.id, user.login, "password", actor or "?", password_hash=pw_hash
            )
        _store_password(db, now, user.id, pw_hash)
        audit.append(
            db, now, "user.password_changed", actor=actor, object_type="user", object_id=user.login
        )
    return None


def _store_password(db: sqlite_utils.Database, now: datetime, user_id: int, pw_hash: str) -> None:
    db.execute(
        "UPDATE users SET password_hash = ?, password_changed_at = ?,"
        " session_version = session_version + 1, failed_logins = 0, locked_until = NULL"
        " WHERE id = ?",
        [pw_hash, iso(now), user_id],
    )
    db.execute(
        "UPDATE api_tokens SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL",
        [iso(now), user_id],
    )


def set_disabled(
    db: sqlite_utils.Database, now: datetime, login: str, disabled: bool, actor: str | None = None
) -> None:
    """Disable (or re-enable) a user; disabling kills every session and token at once."""
    user = get_user_by_login(db, login)
    if not user:
        raise UnknownUser(f"Utilisateur inconnu : {login}.")
    with transaction(db):
        db.execute(
            "UPDATE users SET disabled = ?, session_version = session_version + 1 WHERE id = ?",
            [1 if disabled else 0, user.id],
        )
        if disabled:
            db.execute(
                "UPDATE api_tokens SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL",
                [iso(now), user.id],
            )
        audit.append(
            db,
            now,
            "user.disabled" if disabled else "user.enabled",
            actor=actor,
            object_type="user",
            object_id=user.login,
        )


# --- roles and four eyes --------------------------------------------------------------------


@dataclass(frozen=True)
class AccountRequest:
    """A role or a director's password reset asked from the console, waiting for a director."""

    id: int
    user_id: int
    login: str
    user_name: str
    org_name: str
    kind: str  # role | password
    role: str | None
    requested_by: str
    requested_at: str
    status: str
    decided_by: str | None
    decided_at: str | None
    reason: str

    @property
    def label(self) -> str:
        """What is asked, in French."""
        if self.kind == "role":
            return f"Rôle « {ROLES.get(self.role or '', self.role)} » pour {self.user_name}"
        return f"Nouveau mot de passe de {self.user_name} (directeur)"

    @property
    def status_label(self) -> str:
        return REQUEST_STATUS_LABELS.get(self.status, self.status)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "user": self.login,
            "kind": self.kind,
            "role": self.role,
            "label": self.label,
            "requested_by": self.requested_by,
            "requested_at": self.requested_at,
            "status": self.status,
        }


_REQUEST_SQL = (
    "SELECT r.*, u.login, u.name AS user_name, o.name AS org_name FROM account_requests r"
    " JOIN users u ON u.id = r.user_id JOIN organisations o ON o.id = u.org_id"
)


def _account_request(r: dict[str, Any]) -> AccountRequest:
    return AccountRequest(
        id=r["id"],
        user_id=r["user_id"],
        login=r["login"],
        user_name=r["user_name"],
        org_name=r["org_name"],
        kind=r["kind"],
        role=r["role"],
        requested_by=r["requested_by"],
        requested_at=r["requested_at"],
        status=r["status"],
        decided_by=r["decided_by"],
        decided_at=r["decided_at"],
        reason=r["reason"],
    )


def get_request(db: sqlite_utils.Database, request_id: int) -> AccountRequest:
    """One account request; UnknownUser (404) if there is none."""
    r = row(db, _REQUEST_SQL + " WHERE r.id = ?", [request_id])
    if r is None:
        raise UnknownUser(f"Demande inconnue : {request_id}.")
    return _account_request(r)


def list_requests(
    db: sqlite_utils.Database, *, status: str | None = "pending", user_id: int | None = None
) -> list[AccountRequest]:
    """Account requests (the pending ones by default), oldest first."""
    where: list[str] = []
    params: list[Any] = []
    if status is not None:
        where.append("r.status = ?")
        params.append(status)
    if user_id is not None:
        where.append("r.user_id = ?")
        params.append(user_id)
    sql = _REQUEST_SQL + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY r.id"
    return [_account_request(r) for r in rows(db, sql, params)]


def pending_roles(db: sqlite_utils.Database, user_id: int) -> list[str]:
    """Roles of a user waiting for a director's confirmation (they grant nothing yet)."""
    return [r.role for r in list_requests(db, user_id=user_id) if r.kind == "role" and r.role]


def may_confirm(user: User, request: AccountRequest) -> bool:
    """A director, holding no admin role, who neither asked nor is the account concerned."""
    return (
        user.has("director")
        and not user.has("admin")
        and user.login != request.requested_by
        and user.id != request.user_id
    )


def requests_to_confirm(db: sqlite_utils.Database, user: User) -> list[AccountRequest]:
    """The pending requests this user may confirm or refuse."""
    if not user.has("director") or user.has("admin"):
        return []
    return [r for r in list_requests(db) if may_confirm(user, r)]


def _request(
    db: sqlite_utils.Database,
    now: datetime,
    user_id: int,
    login: str,
    kind: str,
    actor: str,
    *,
    role: str | None = None,
    password_hash: str | None = None,
) -> AccountRequest:
    """Record a pending request and its audit (inside the caller's transaction)."""
    if kind == "password":
        # A new reset replaces one still pending: only the latest password may be confirmed.
        for old in rows(
            db,
            "SELECT id FROM account_requests WHERE user_id = ? AND kind = 'password'"
            " AND status = 'pending'",
            [user_id],
        ):
            _decide(db, now, old["id"], "cancelled", actor, "remplacée par une nouvelle demande")
    cur = db.execute(
        "INSERT INTO account_requests (user_id, kind, role, password_hash, requested_by,"
        " requested_at) VALUES (?,?,?,?,?,?)",
        [user_id, kind, role, password_hash, actor, iso(now)],
    )
    request_id = int(cur.lastrowid or 0)
    audit.append(
        db,
        now,
        "user.role_requested" if kind == "role" else "user.password_reset_requested",
        actor=actor,
        object_type="user",
        object_id=login,
        details={"request": request_id, **({"role": role} if role else {})},
    )
    return get_request(db, request_id)


_DECISION_ACTIONS = {
    ("role", "confirmed"): "user.role_confirmed",
    ("role", "refused"): "user.role_refused",
    ("role", "cancelled"): "user.role_request_cancelled",
    ("password", "confirmed"): "user.password_reset_confirmed",
    ("password", "refused"): "user.password_reset_refused",
    ("password", "cancelled"): "user.password_reset_cancelled",
}


def _decide(
    db: sqlite_utils.Database,
    now: datetime,
    request_id: int,
    status: str,
    actor: str,
    reason: str = "",
) -> AccountRequest:
    """Close a pending request (compare-and-set) and audit it; the pending hash is cleared."""
    found = get_request(db, request_id)
    cur = db.execute(
        "UPDATE account_requests SET status = ?, decided_by = ?, decided_at = ?, reason = ?,"
        " password_hash = NULL WHERE id = ? AND status = 'pending'",
        [status, actor, iso(now), reason, request_id],
    )
    if cur.rowcount != 1:
        raise AuthError(f"Cette demande n'est plus en attente ({found.status_label}).", status=409)
    audit.append(
        db,
        now,
        _DECISION_ACTIONS[(found.kind, status)],
        actor=actor,
        object_type="user",
        object_id=found.login,
        details={
            "request": request_id,
            "requested_by": found.requested_by,
            **({"role": found.role} if found.role else {}),
            **({"reason": reason} if reason else {}),
        },
    )
    return get_request(db, request_id)


def _confirmable(db: sqlite_utils.Database, director: User, request_id: int) -> AccountRequest:
    found = get_request(db, request_id)
    if not director.has("director") or director.has("admin"):
        raise AuthError("Seul un directeur des opérations confirme un compte.", status=403)
    if director.login == found.requested_by:
        raise AuthError("Vous ne pouvez pas confirmer votre propre demande.", status=403)
    if director.id == found.user_id:
        raise AuthError("Vous ne pouvez pas confirmer une demande qui vous concerne.", status=403)
    if found.status != "pending":
        raise AuthError(f"Cette demande n'est plus en attente ({found.status_label}).", status=409)
    return found


def confirm_request(
    db: sqlite_utils.Database, now: datetime, director: User, request_id: int
) -> AccountRequest:
    """A director (not the requester, not the account) confirms: the role or password takes
    effect now. A disabled account gets nothing."""
    with transaction(db):
        found = _confirmable(db, director, request_id)
        hashed = scalar(db, "SELECT password_hash FROM account_requests WHERE id = ?", [found.id])
        target = get_user(db, found.user_id)
        assert target is not None
        if target.disabled:
            raise AuthError(f"Le compte {target.login} est désactivé : rien à confirmer.")
        decided = _decide(db, now, found.id, "confirmed", director.login)
        if found.kind == "role":
            db.execute(
                "INSERT OR IGNORE INTO user_roles (user_id, role) VALUES (?,?)",
                [found.user_id, found.role],
            )
        else:
            _store_password(db, now, found.user_id, str(hashed))
    return decided


def refuse_request(
    db: sqlite_utils.Database, now: datetime, director: User, request_id: int, reason: str
) -> AccountRequest:
    """A director refuses a request (with a reason): nothing changes for the account."""
    text = " ".join((reason or "").split())
    if sum(c.isalnum() for c in text) < 3:
        raise AuthError("Motif du refus obligatoire : dites en quelques mots pourquoi.")
    with transaction(db):
        found = _confirmable(db, director, request_id)
        return _decide(db, now, found.id, "refused", director.login, text[:500])


def cancel_request(
    db: sqlite_utils.Database, now: datetime, actor: str, request_id: int
) -> AccountRequest:
    """The administration withdraws a pending request."""
    with transaction(db):
        return _decide(db, now, request_id, "cancelled", actor, "retirée par l'administration")


def add_role(
    db: sqlite_utils.Database,
    now: datetime,
    login: str,
    role: str,
    *,
    actor: str | None,
    four_eyes: bool = False,
) -> AccountRequest | None:
    """Give a user a role; with ``four_eyes`` a role that can hold grants waits for a director
    (the request is returned), any other is given at once (None)."""
    if role not in ROLES:
        raise AuthError(f"Rôle inconnu : {role} (rôles : {', '.join(ROLES)}).")
    user = get_user_by_login(db, login)
    if not user:
        raise UnknownUser(f"Utilisateur inconnu : {login}.")
    if role in user.roles:
        raise AuthError(f"{user.name} a déjà le rôle « {ROLES[role]} ».")
    if role in pending_roles(db, user.id):
        raise AuthError(f"Le rôle « {ROLES[role]} » de {user.name} attend déjà un directeur.")
    with transaction(db):
        if four_eyes and role in GRANT_HOLDING_ROLES:
            return _request(db, now, user.id, user.login, "role", actor or "?", role=role)
        db.execute("INSERT INTO user_roles (user_id, role) VALUES (?,?)", [user.id, role])
        audit.append(
            db,
            now,
            "user.role_added",
            actor=actor,
            object_type="user",
            object_id=user.login,
            details={"role": role},
        )
    return None


def remove_role(
    db: sqlite_utils.Database, now: datetime, login: str, role: str, *, actor: str | None
) -> None:
    """Take a role away at once (or withdraw it while it waits); the user's sessions end."""
    user = get_user_by_login(db, login)
    if not user:
        raise UnknownUser(f"Utilisateur inconnu : {login}.")
    if role == "admin" and actor == user.login:
        raise AuthError("Vous ne pouvez pas retirer votre propre rôle d'administrateur.")
    with transaction(db):
        waiting = [r for r in list_requests(db, user_id=user.id) if r.role == role]
        for r in waiting:
            _decide(db, now, r.id, "cancelled", actor or "?", "rôle retiré")
        if role not in user.roles:
            if not waiting:
                raise AuthError(f"{user.name} n'a pas le rôle « {ROLES.get(role, role)} ».")
            return
        db.execute("DELETE FROM user_roles WHERE user_id = ? AND role = ?", [user.id, role])
        db.execute("UPDATE users SET session_version = session_version + 1 WHERE id = ?", [user.id])
        audit.append(
            db,
            now,
            "user.role_removed",
            actor=actor,
            object_type="user",
            object_id=user.login,
            details={"role": role},
        )


# --- sign-in, lock-out ---------------------------------------------------------------------


@dataclass(frozen=True)
class LockoutPolicy:
    """Failed sign-ins allowed in a window.

    Counted per account *and* address (``pair_failures``: someone mistyping locks only their own
    account on their own address, never a whole shift signing in behind one NAT), per account
    from any address (``account_failures``: guessing spread over many addresses) and per address
    whatever the account (``client_failures``: a high ceiling against password spraying).
    """

    account_failures: int = 20
    client_failures: int = 200
    window: timedelta = timedelta(minutes=15)
    lock: timedelta = timedelta(minutes=15)
    pair_failures: int = 5


class LockedOut(AuthError):
    """Too many failures: the caller answers 429 with ``until``."""

    status = 429

    def __init__(self, message: str, until: datetime):
        super().__init__(message)
        self.until = until


def authenticate(
    db: sqlite_utils.Database,
    now: datetime,
    login: str,
    password: str,
    client: str,
    policy: LockoutPolicy = LockoutPolicy(),
) -> User:
    """Check a password with lock-outs per account and address, per account, and per address
    (:class:`LockoutPolicy`); raise AuthError or LockedOut."""
    since = iso(now - policy.window)
    key = login.strip().lower()[:64]
    pair = db.execute(
        "SELECT count(*), max(at) FROM login_failures WHERE login = ? AND client = ? AND at > ?",
        [key, client, since],
    ).fetchone()
    if pair[0] >= policy.pair_failures:
        until = parse_iso(pair[1]) + policy.lock
        if until > now:
            raise LockedOut(
                "Compte verrouillé depuis ce poste après plusieurs échecs : réessayez après "
                + _hhmm(until)
                + ".",
                until,
            )
    client_failures = scalar(
        db, "SELECT count(*) FROM login_failures WHERE client = ? AND at > ?", [client, since]
    )
    if client_failures >= policy.client_failures:
        last = scalar(db, "SELECT max(at) FROM login_failures WHERE client = ?", [client])
        until = parse_iso(last) + policy.lock
        if until > now:
            raise LockedOut(
                "Trop de tentatives depuis ce poste : réessayez après " + _hhmm(until) + ".",
                until,
            )
    r = row(db, "SELECT * FROM users WHERE lower(login) = lower(?)", [login.strip()])
    if r and r["locked_until"] and parse_iso(r["locked_until"]) > now:
        until = parse_iso(r["locked_until"])
        raise LockedOut(
            "Compte temporairement verrouillé après plusieurs échecs : réessayez après "
            + _hhmm(until)
            + ".",
            until,
        )
    ok = False
    if r is not None and not r["disabled"]:
        try:
            ok = _hasher.verify(r["password_hash"], password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            ok = False
    else:
        # Spend the same time on unknown logins so they cannot be told apart.
        try:
            _hasher.verify(_dummy_hash(), password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            pass
    if not ok:
        with transaction(db):
            db.execute(
                "INSERT INTO login_failures (login, client, at) VALUES (?,?,?)",
                [key, client, iso(now)],
            )
            if r is not None and pair[0] + 1 == policy.pair_failures:
                audit.append(
                    db,
                    now,
                    "user.locked",
                    object_type="user",
                    object_id=r["login"],
                    details={"client": client, "scope": "address"},
                )
            if r is not None:
                failures = r["failed_logins"] + 1
                locked = None
                if failures >= policy.account_failures:
                    locked = iso(now + policy.lock)
                    failures = 0
                    audit.append(
                        db,
                        now,
                        "user.locked",
                        object_type="user",
                        object_id=r["login"],
                        details={"client": client},
                    )
                db.execute(
                    "UPDATE users SET failed_logins = ?, locked_until = ? WHERE id = ?",
                    [failures, locked, r["id"]],
                )
        raise AuthError("Identifiant ou mot de passe incorrect.")
    assert r is not None
    with transaction(db):
        db.execute(
            "UPDATE users SET failed_logins = 0, locked_until = NULL WHERE id = ?", [r["id"]]
        )
        if _hasher.check_needs_rehash(r["password_hash"]):
            db.execute(
                "UPDATE users SET password_hash = ? WHERE id = ?",
                [hash_password(password), r["id"]],
            )
    user = get_user(db, r["id"])
    assert user is not None
    return user


_dummy: tuple[PasswordHasher, str] | None = None


def _dummy_hash() -> str:
    """A hash made with the current hasher, on first use (not at import: the CLI starts fast)."""
    global _dummy
    if _dummy is None or _dummy[0] is not _hasher:
        _dummy = (_hasher, _hasher.hash("dummy password for timing"))
    return _dummy[1]


def _hhmm(dt: datetime) -> str:
    from .clock import local

    return local(dt, "%H:%M")


# --- server-side sessions ------------------------------------------------------------------


@dataclass(frozen=True)
class SessionPolicy:
    """Idle and absolute session lifetimes."""

    idle: timedelta = timedelta(hours=2)
    absolute: timedelta = timedelta(hours=12)


def start_session(db: sqlite_utils.Database, now: datetime, user: User, client: str = "") -> str:
    """Create a new session (a fresh token at every sign-in) and return the cookie token."""
    token = secrets.token_urlsafe(32)
    with transaction(db):
        db.execute(
            "INSERT INTO sessions (token_hash, user_id, session_version, created_at, last_seen_at,"
            " client) VALUES (?,?,?,?,?,?)",
            [sha256_hex(token), user.id, user.session_version, iso(now), iso(now), client],
        )
        audit.append(
            db,
            now,
            "session.started",
            actor=user.login,
            object_type="user",
            object_id=user.login,
            details={"client": client},
        )
    return token


def session_user(
    db: sqlite_utils.Database,
    now: datetime,
    token: str,
    policy: SessionPolicy = SessionPolicy(),
    touch: bool = True,
) -> User | None:
    """The user behind a session token, if the session is still valid right now.

    ``touch`` False: the request is a background poll, not activity (the idle clock runs on)."""
    if not token:
        return None
    s = row(db, "SELECT * FROM sessions WHERE token_hash = ?", [sha256_hex(token)])
    if not s or s["revoked_at"]:
        return None
    if now - parse_iso(s["created_at"]) > policy.absolute:
        return None
    if now - parse_iso(s["last_seen_at"]) > policy.idle:
        return None
    user = get_user(db, s["user_id"])
    if not user or user.disabled or user.session_version != s["session_version"]:
        return None
    # Touch at most once a minute: fewer writes for pollers, same idle behaviour.
    if touch and (now - parse_iso(s["last_seen_at"])).total_seconds() >= 60:
        with transaction(db):
            db.execute("UPDATE sessions SET last_seen_at = ? WHERE id = ?", [iso(now), s["id"]])
    return user


def end_session(db: sqlite_utils.Database, now: datetime, token: str) -> None:
    """Sign out: the session row is revoked, so any copy of the cookie dies too."""
    s = row(db, "SELECT * FROM sessions WHERE token_hash = ?", [sha256_hex(token)])
    if not s or s["revoked_at"]:
        return
    user = get_user(db, s["user_id"])
    with transaction(db):
        db.execute("UPDATE sessions SET revoked_at = ? WHERE id = ?", [iso(now), s["id"]])
        audit.append(
            db,
            now,
            "session.ended",
            actor=user.login if user else None,
            object_type="user",
            object_id=user.login if user else None,
        )


@dataclass(frozen=True)
class Ended:
    """What ``end_all_sessions`` ended: browser sessions and API tokens."""

    sessions: int
    tokens: int


def end_all_sessions(
    db: sqlite_utils.Database, now: datetime, login: str | None = None, actor: str | None = None
) -> Ended:
    """End every session and every API token of one user, or of everyone (after a compromise):
    a token is a session that does not expire, so it ends with them."""
    if login is not None and get_user_by_login(db, login) is None:
        raise UnknownUser(f"Utilisateur inconnu : {login}.")
    where, params = ("WHERE lower(login) = lower(?)", [login]) if login else ("", [])
    with transaction(db):
        ids = [r["id"] for r in rows(db, f"SELECT id FROM users {where}", params)]
        ended = tokens = 0
        for uid in ids:
            db.execute("UPDATE users SET session_version = session_version + 1 WHERE id = ?", [uid])
            ended += db.execute(
                "UPDATE sessions SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL",
                [iso(now), uid],
            ).rowcount
            tokens += db.execute(
                "UPDATE api_tokens SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL",
                [iso(now), uid],
            ).rowcount
        audit.append(
            db,
            now,
            "sessions.ended",
            actor=actor,
            object_type="user",
            object_id=login or "*",
            details={"sessions": ended, "tokens": tokens},
        )
    return Ended(ended, tokens)


# --- API tokens ----------------------------------------------------------------------------


def create_token(
    db: sqlite_utils.Database,
    now: datetime,
    login: str,
    name: str = "api",
    actor: str | None = None,
) -> str:
    """Issue a revocable bearer token; only its hash is stored."""
    user = get_user_by_login(db, login)
    if not user:
        raise UnknownUser(f"Utilisateur inconnu : {login}.")
    if user.disabled:
        raise AuthError(f"L'utilisateur {login} est désactivé.")
    token = "cc_" + secrets.token_urlsafe(32)
    with transaction(db):
        cur = db.execute(
            "INSERT INTO api_tokens (user_id, name, token_hash, created_at) VALUES (?,?,?,?)",
            [user.id, name, sha256_hex(token), iso(now)],
        )
        audit.append(
            db,
            now,
            "token.created",
            actor=actor,
            object_type="api_token",
            object_id=cur.lastrowid,
            details={"user": user.login, "name": name},
        )
    return token


@dataclass(frozen=True)
class Token:
    """An API token as listed (never its secret: only its hash is stored)."""

    id: int
    login: str
    name: str
    created_at: str
    last_used_at: str | None
    revoked_at: str | None

    @property
    def live(self) -> bool:
        return self.revoked_at is None


class UnknownToken(AuthError):
    """No API token with that number."""

    status = 404


def list_tokens(db: sqlite_utils.Database, login: str) -> list[Token]:
    """The API tokens of a user, newest first (live and revoked)."""
    user = get_user_by_login(db, login)
    if not user:
        raise UnknownUser(f"Utilisateur inconnu : {login}.")
    return [
        Token(r["id"], user.login, r["name"], r["created_at"], r["last_used_at"], r["revoked_at"])
        for r in rows(db, "SELECT * FROM api_tokens WHERE user_id = ? ORDER BY id DESC", [user.id])
    ]


def revoke_token(
    db: sqlite_utils.Database, now: datetime, token_id: int, actor: str | None
) -> bool:
    """Revoke an API token; False when it was already revoked (nothing written)."""
    with transaction(db):
        t = row(db, "SELECT id, revoked_at FROM api_tokens WHERE id = ?", [token_id])
        if t is None:
            raise UnknownToken(f"Jeton d'API inconnu : n° {token_id}.")
        if t["revoked_at"]:
            return False
        db.execute("UPDATE api_tokens SET revoked_at = ? WHERE id = ?", [iso(now), token_id])
        audit.append(
            db, now, "token.revoked", actor=actor, object_type="api_token", object_id=token_id
        )
    return True


def token_user(db: sqlite_utils.Database, now: datetime, token: str) -> User | None:
    """The user behind a bearer token, if the token is live and the user enabled."""
    t = row(db, "SELECT * FROM api_tokens WHERE token_hash = ?", [sha256_hex(token)])
    if not t or t["revoked_at"]:
        return None
    user = get_user(db, t["user_id"])
    if not user or user.disabled:
        return None
    if not t["last_used_at"] or (now - parse_iso(t["last_used_at"])).total_seconds() >= 60:
        with transaction(db):
            db.execute("UPDATE api_tokens SET last_used_at = ? WHERE id = ?", [iso(now), t["id"]])
    return user


# --- TOTP (step-up) ------------------------------------------------------------------------


def enrol_totp(db: sqlite_utils.Database, now: datetime, login: str) -> str:
    """Give a user a new TOTP secret at once and return it (administration scripts and tests;
    the web enrolment confirms a first code first: :func:`start_totp_enrolment`)."""
    user = get_user_by_login(db, login)
    if not user:
        raise UnknownUser(f"Utilisateur inconnu : {login}.")
    secret = pyotp.random_base32()
    with transaction(db):
        db.execute(
            "UPDATE users SET totp_secret = ?, totp_last_step = NULL WHERE id = ?",
            [secret, user.id],
        )
        audit.append(
            db, now, "user.totp_enrolled", actor=login, object_type="user", object_id=login
        )
    return secret


def provisioning_uri(secret: str, login: str) -> str:
    """The otpauth:// URI an authenticator app reads."""
    return pyotp.TOTP(secret).provisioning_uri(name=login, issuer_name="Console de crise")


TOTP_PENDING_TTL = timedelta(minutes=10)


def provisioning_qr(uri: str) -> str:
    """The URI as a QR code: an SVG ``data:`` URI drawn here (segno), nothing fetched."""
    return str(segno.make(uri, error="m").svg_data_uri(scale=5, border=2))


def start_totp_enrolment(db: sqlite_utils.Database, now: datetime, login: str) -> str:
    """A new TOTP secret for the user, kept aside until a first code confirms it
    (:func:`confirm_totp_enrolment`); a secret in force stays in force meanwhile."""
    user = get_user_by_login(db, login)
    if not user:
        raise UnknownUser(f"Utilisateur inconnu : {login}.")
    secret = pyotp.random_base32()
    with transaction(db):
        db.execute(
            "UPDATE users SET totp_pending = ?, totp_pending_at = ? WHERE id = ?",
            [secret, iso(now), user.id],
        )
        audit.append(
            db, now, "user.totp_enrolment_started", actor=login, object_type="user",
            object_id=login,
        )  # fmt: skip
    return secret


def pending_totp(db: sqlite_utils.Database, now: datetime, login: str) -> str | None:
    """The secret waiting for its first code, if still valid."""
    r = row(db, "SELECT totp_pending, totp_pending_at FROM users WHERE login = ?", [login])
    if not r or not r["totp_pending"] or not r["totp_pending_at"]:
        return None
    if parse_iso(r["totp_pending_at"]) + TOTP_PENDING_TTL < now:
        return None
    return str(r["totp_pending"])


def confirm_totp_enrolment(db: sqlite_utils.Database, now: datetime, login: str, code: str) -> None:
    """Save the waiting secret once ``code`` (from the app just configured) matches it; the
    code is consumed like any other (it cannot be replayed at the next step-up)."""
    secret = pending_totp(db, now, login)
    if secret is None:
        raise AuthError("Aucun secret en attente (ou plus de 10 minutes) : générez-en un nouveau.")
    code = (code or "").strip().replace(" ", "")
    totp = pyotp.TOTP(secret)
    step_now = totp.timecode(now)
    good = code.isdigit() and len(code) == 6 and any(
        secrets.compare_digest(totp.generate_otp(step), code)
        for step in (step_now - 1, step_now, step_now + 1)
    )  # fmt: skip
    if not good:
        raise AuthError(
            "Code incorrect : vérifiez l'heure du téléphone et saisissez le code affiché."
        )
    step = next(
        s for s in (step_now - 1, step_now, step_now + 1)
        if secrets.compare_digest(totp.generate_otp(s), code)
    )  # fmt: skip
    with transaction(db):
        db.execute(
            "UPDATE users SET totp_secret = totp_pending, totp_last_step = ?, totp_pending = NULL,"
            " totp_pending_at = NULL WHERE login = ?",
            [step, login],
        )
        audit.append(
            db, now, "user.totp_enrolled", actor=login, object_type="user", object_id=login,
            details={"confirmed": True},
        )  # fmt: skip


def verify_totp(db: sqlite_utils.Database, now: datetime, user_id: int, code: str) -> bool:
    """Check a TOTP code once: a code at or below the last accepted time-step is refused."""
    r = row(db, "SELECT totp_secret, totp_last_step FROM users WHERE id = ?", [user_id])
    if not r or not r["totp_secret"]:
        return False
    code = (code or "").strip().replace(" ", "")
    if not code.isdigit() or len(code) != 6:
        return False
    totp = pyotp.TOTP(r["totp_secret"])
    step_now = totp.timecode(now)
    for step in (step_now - 1, step_now, step_now + 1):  # one step of clock drift either way
        if secrets.compare_digest(totp.generate_otp(step), code):
            # Atomic compare-and-set: only one request can consume this step.
            with transaction(db):
                cur = db.execute(
                    "UPDATE users SET totp_last_step = ? WHERE id = ?"
                    " AND (totp_last_step IS NULL OR totp_last_step < ?)",
                    [step, user_id, step],
                )
            return cur.rowcount == 1
    return False
